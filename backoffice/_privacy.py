"""The back office's port to the privacy layer: sealed storage of personal data, the access
ledger, retention and data-subject requests.

:class:`PrivacyGateway` is what routes and services call. ``PrivacyGateway.from_config`` adapts
the project's :mod:`privacy` package:

- the **vault** (AES-256-GCM envelopes, one data key per sealed item wrapped by the KEK,
  associated data binding each envelope to subject, category and record) keeps its key store in
  its own file in the key directory, outside the data directory (``var/backoffice.db`` ->
  ``var-keys/backoffice-keys.db``; ``keys_db_path``), so a purge or an erasure (crypto-shredding)
  also leaves the copies of the database in backups undecryptable (``410 shredded``);
- the **retention registry** (the envelopes and their retention anchors), the **ledger**
  (hash-chained, Ed25519-signed checkpoints; the signing key is kept wrapped in the vault) and
  the consents live in the back-office database itself (``privacy.MIGRATIONS`` are part of its
  migrations) and run on the :class:`Store`, so sealing joins the transaction of the record it
  belongs to, on SQLite and on PostgreSQL alike;
- on PostgreSQL the key store is a database of its own, reached by a role of its own
  (``keys_db_url``), and the shredding rule of docs/DEPLOYMENT.md applies (KEK rotation after
  each erasure or purge).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import text

import privacy
from backoffice._config import BackofficeConfig, ConfigError
from backoffice._enrolments import bump_generation
from backoffice._errors import Conflict, KeyStoreRotated, SealedItemUnreadable, Shredded
from backoffice._store import Store
from storage import Database, LockBusyError, StorageError, open_engine, safe_url

__all__ = ["CATEGORIES", "PURPOSES", "PrivacyGateway", "load_kek"]

log = logging.getLogger("backoffice")

_D = privacy.DEFAULT_POLICIES
#: the back office's data categories and the privacy package's policy each one follows
CATEGORIES: dict[str, privacy.RetentionPolicy] = {
    "live_image": _D["live_image"],
    "chip_image": _D["chip_image"],
    "exception_record": _D["exception"].renamed("exception_record"),
    "enrolment_record": _D["enrolment_record"],
    "face_template": _D["template"].renamed("face_template"),
    "finger_template": _D["template"].renamed("finger_template"),
    # the access ledger's own entries: pruned as a prefix of the chain by the purge
    "audit_entry": _D["audit_entry"],
}
#: categories that arrive with an exception and are held by it until it is resolved
_HELD_BY_RECORD = ("live_image", "chip_image")
#: purged categories that take templates out of the enrolment galleries
_GALLERY_CATEGORIES = ("enrolment_record", "face_template", "finger_template")

PURPOSES = [
    {"name": "border_exception_review", "legal_basis": "Law on Exit and Entry of Vietnamese Citizens 2019; "
     "Law on Entry, Exit, Transit and Residence of Foreigners 2014 (border control)",
     "categories": "document data, live image, chip photo, scores",
     "retention": "30 days after resolution (images and record)"},
    {"name": "enrolment", "legal_basis": "consent of the data subject (Decree 13/2023 art. 11)",
     "categories": "document data, face and fingerprint templates, consent",
     "retention": "3 years after the last exit, 5 years without an exit record"},
    {"name": "enrolment_duplicate_check", "legal_basis": "consent (fraud prevention at enrolment)",
     "categories": "face and fingerprint templates", "retention": "as enrolment"},
    {"name": "gate_fingerprint_verification", "legal_basis": "consent given at enrolment (Decree 13/2023 art. 11); "
     "border control law", "categories": "fingerprint templates (compared in the back office, never sent to the gate)",
     "retention": "as enrolment; the gate's probe is not stored"},
    {"name": "watchlist_screening", "legal_basis": "border control law; Interpol SLTD",
     "categories": "names, date of birth, nationality, document numbers", "retention": "while listed"},
    {"name": "subject_access_request", "legal_basis": "Decree 13/2023 art. 9 (rights of the data subject)",
     "categories": "all of the subject's data", "retention": "ledger entry only"},
    {"name": "audit", "legal_basis": "accountability (Decree 13/2023 art. 27)", "categories": "access ledger",
     "retention": "1 year after the record's period"},
]
_BASIS = {p["name"]: p["legal_basis"] for p in PURPOSES}
_BASIS["retention"] = "storage limitation (Decree 13/2023 art. 16; GDPR art. 5(1)(e))"


def _basis(purpose: str, default: str = "see the register of processing purposes") -> str:
    return _BASIS.get(purpose, default)


def load_kek(config: BackofficeConfig) -> privacy.KeyEncryptionKeyProvider:
    """The key-encryption key from ``config.kek_file`` or ``config.kek`` (32 bytes, hex or base64);
    a random one only in dev."""
    try:
        if config.kek_file is not None:
            if config.db_path is not None:  # never in the data: a backup carrying it defeats the shredding
                privacy.check_key_location(config.kek_file, Path(config.db_path).resolve().parent)
            return privacy.FileKek(config.kek_file)
        if config.kek is None:
            if not config.dev:
                raise ConfigError("a KEK is required outside dev (kek or kek_file)")
            return privacy.RawKek(secrets.token_bytes(32))
        return privacy.RawKek(config.kek)
    except privacy.KekError as e:
        raise ConfigError(str(e)) from e


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.isoformat(timespec="seconds").replace("+00:00", "Z")


def keys_path(db_path: Path) -> Path:
    """The default key store of a back-office database: ``<data dir>-keys/<stem>-keys.db``
    (``var/backoffice.db`` -> ``var-keys/backoffice-keys.db``), outside the data directory."""
    data_dir = db_path.resolve().parent
    return data_dir.with_name(data_dir.name + "-keys") / f"{db_path.stem}-keys{db_path.suffix or '.db'}"


def legacy_keys_path(db_path: Path) -> Path:
    """Where earlier versions kept the key store: beside the database (``bo.db`` -> ``bo-keys.db``)."""
    return db_path.with_name(f"{db_path.stem}-keys{db_path.suffix or '.db'}")


def _key_store(config: BackofficeConfig, store: Store) -> Path:
    """The key store's path, checked to lie outside the data directory. A key store left beside the
    database by an earlier version is moved in dev and refused otherwise (a new, empty one would make
    every sealed item unreadable and sign the ledger with a new key)."""
    db = Path(config.db_path)
    keys = Path(config.keys_db_path) if config.keys_db_path else keys_path(db)
    try:
        privacy.check_key_location(keys, db.resolve().parent)
    except privacy.KeyFileError as e:
        raise ConfigError(f"keys_db_path: {e}") from e
    old = legacy_keys_path(db)
    if old.exists() and not keys.exists():
        if not config.dev:
            raise ConfigError(f"the vault's key store is at {old}, inside the data directory; move it (with any "
                              f"-wal/-shm file, service stopped) to {keys}, outside the data backups")
        from storage import move_database

        move_database(old, keys)  # dev: out of the data directory
    if not keys.exists() and _holds_sealed_data(store):
        raise ConfigError(f"the vault's key store {keys} does not exist, but {db} holds data it sealed and a ledger "
                          "it signed: restore the key store from its own backup or set keys_db_path to it (a new, "
                          "empty key store would open none of it)")
    return keys


def forget_subject(store: Store, subject: str) -> dict:
    """After the vault erased a subject: drop the records' references to its (now unreadable) data, and take
    its enrolments out of the duplicate check (galleries reload when another process changed the database)."""
    with store.tx() as db:
        n_exc = db.execute(text("UPDATE exceptions SET personal_ref = NULL, live_image_ref = NULL, "
                                "chip_image_ref = NULL, subject_id = 'erased' WHERE subject_id = :subject"),
                           {"subject": subject}).rowcount
        n_enr = db.execute(text("UPDATE enrolments SET personal_ref = NULL, face_ref = NULL, finger_ref = NULL, "
                                "status = CASE WHEN status = 'accepted' THEN 'rejected' ELSE status END, "
                                "subject_id = 'erased' WHERE subject_id = :subject"), {"subject": subject}).rowcount
        if n_enr:  # out of every process's duplicate check
            bump_generation(db)
    return {"exceptions": n_exc, "enrolments": n_enr}


def _holds_sealed_data(store: Store) -> bool:
    """Whether the back office's database holds a ledger a vault signed (so items a key store sealed)."""
    return store.one(text("SELECT 1 AS x FROM ledger_keys LIMIT 1")) is not None


def _postgres_key_store(config: BackofficeConfig, store: Store) -> Database:
    """PostgreSQL: the key store is another database, reached by another role (``keys_db_url``); the same
    database, or the same role as the data's, is refused (a dump or a grant of one would carry the other)."""
    if not config.keys_db_url:
        raise ConfigError("keys_db_url is required with a PostgreSQL database: the vault's key store is a database "
                          "and role of its own (see docs/DEPLOYMENT.md)")
    try:
        engine = open_engine(config.keys_db_url, application_name="smartborder-keys")
    except StorageError as e:
        raise ConfigError(f"keys_db_url: {e}") from e
    data, keys = store.engine.url, engine.url
    if keys.get_backend_name() != "postgresql" or (keys.host, keys.port, keys.database) == (
            data.host, data.port, data.database) or keys.username == data.username:
        engine.dispose()
        raise ConfigError(f"keys_db_url {safe_url(keys)}: the key store must be a PostgreSQL database other than the "
                          f"data's ({safe_url(data)}), reached by a role other than the data's")
    from privacy.migrations import upgrade

    try:
        upgrade(engine)  # its own history (privacy_0007_baseline and after)
    except StorageError as e:
        engine.dispose()
        raise ConfigError(f"keys_db_url {safe_url(keys)}: cannot bring the key store's schema up to date: {e}") from e
    return Database(engine)


class PrivacyGateway:
    """The privacy port of the app, over :mod:`privacy`. ``clock`` may be replaced (tests travel in time)."""

    def __init__(self, store: Store, kek: privacy.KeyEncryptionKeyProvider, keys_db: Any, *,
                 next_kek: Any = None) -> None:
        self.store = store
        self.clock = _now
        clock = lambda: self.clock()  # noqa: E731 - late binding, so replacing self.clock works
        self.vault = privacy.Vault(keys_db, kek, clock=clock, next_kek=next_kek)
        self.ledger = privacy.Ledger(store, self.vault.signing_key(), clock=clock)
        self.retention = privacy.RetentionStore(store, policies=CATEGORIES, ledger=self.ledger, clock=clock,
                                                vault=self.vault)

    @staticmethod
    def from_config(config: BackofficeConfig, store: Store) -> PrivacyGateway:
        kek = load_kek(config)
        if store.dialect == "postgresql":
            if not callable(getattr(kek, "successor", None)):
                raise ConfigError("a PostgreSQL back office needs a kek_file: its key store rotates the KEK after "
                                  "every erasure and purge (the shredding rule of docs/DEPLOYMENT.md), which a KEK "
                                  "given inline cannot")
            keys: Any = _postgres_key_store(config, store)
        else:
            keys = ":memory:" if config.db_path is None else _key_store(config, store)
        try:
            return PrivacyGateway(store, kek, keys)
        except privacy.KeyFileError as e:
            raise ConfigError(f"the vault's key store {keys}: {e}") from e
        except privacy.KekError as e:
            raise ConfigError(f"the configured KEK does not open the vault's key store {keys}: {e}") from e

    # -- the port ---------------------------------------------------------------------------
    def seal(self, subject_id: str, category: str, data: bytes, *, actor: str, role: str, purpose: str,
             record: str) -> str:
        """Encrypt and register one item of personal data; returns its reference (ledgered)."""
        with self.store.tx():
            try:
                envelope = self.vault.seal(subject_id, category, record, data)
            except privacy.KekError as e:
                log.error("cannot seal: %s", e, extra={"event": "vault_kek_mismatch"})
                raise KeyStoreRotated(str(e)) from e
            held = {"held_by": record} if category in _HELD_BY_RECORD else {}
            ref = self.retention.register(category, record, subject_id, payload=envelope, **held)
            self.ledger.append(actor, role, f"write:{category}", record, purpose, _basis(purpose),
                               subject_id=subject_id)
        return ref

    def open(self, ref: str, *, actor: str, role: str, purpose: str, record: str) -> bytes | None:
        """Decrypt one item (ledgered). None when it was purged, its subject erased, or it cannot be opened
        (the callers treat every such item as unavailable: e.g. ``templates_unreadable``)."""
        try:
            return self.open_or_explain(ref, actor=actor, role=role, purpose=purpose, record=record)
        except (Shredded, SealedItemUnreadable, KeyStoreRotated):
            return None

    def open_or_explain(self, ref: str, *, actor: str, role: str, purpose: str, record: str) -> bytes | None:
        """Decrypt one item (ledgered). None when it is no longer registered (purged); :class:`Shredded`
        when it is but its data key was destroyed (a database restored from a backup taken before the
        purge or erasure: crypto-shredding reaches every copy); :class:`SealedItemUnreadable` when the
        envelope fails authentication (tampered) or its key is unknown to this key store (logged)."""
        with self.store.tx():
            item = self.retention.get(ref)
            self.ledger.append(actor, role, f"read:{item.category}" if item else "read:missing", record, purpose,
                               _basis(purpose), subject_id=item.subject_id if item else None)
        if item is None or item.payload is None:
            return None
        try:
            return self.vault.open(item.subject_id, item.category, item.record_id, item.payload)
        except privacy.SubjectShreddedError as e:
            raise Shredded("the item's data key was destroyed (retention purge or erasure): no copy of it can be "
                           "read, also not one restored from a backup") from e
        except privacy.KekError as e:
            log.error("cannot open a sealed item: %s", e, extra={"event": "vault_kek_mismatch", "ref": ref})
            raise KeyStoreRotated(str(e)) from e
        except privacy.KeyNotFoundError as e:
            log.error("sealed item's data key is unknown to the key store", extra={"event": "vault_key_missing",
                                                                                  "ref": ref})
            raise SealedItemUnreadable("the item's data key is not in this key store (a database restored beside "
                                       "another key store?)") from e
        except privacy.IntegrityError as e:
            log.error("sealed item failed authentication", extra={"event": "vault_tamper", "ref": ref})
            raise SealedItemUnreadable("the sealed item failed authentication (tampered, or not this record's)") from e

    def access(self, *, actor: str, role: str, action: str, record: str, purpose: str,
               subject_id: str | None = None) -> None:
        self.ledger.append(actor, role, action, record, purpose, _basis(purpose), subject_id=subject_id)

    def resolved(self, subject_id: str, record: str) -> None:
        """An exception was resolved: its items (and the images it held) now run out after their period."""
        self.retention.resolve(record, self.clock())

    def export_subject(self, subject_id: str, *, actor: str, role: str, purpose: str) -> dict:
        items = []
        with self.store.tx():
            for it in self.retention.items_of_subject(subject_id):
                item: dict[str, Any] = {"ref": it.ref, "category": it.category, "record": it.record_id,
                                        "created_at": _iso(it.created), "expires_at": _iso(it.due)}
                try:
                    plain = self.vault.open(subject_id, it.category, it.record_id, it.payload)
                except privacy.PrivacyError as e:
                    item["data"] = {"unreadable": type(e).__name__}
                else:
                    if it.category.endswith("_record"):
                        item["data"] = json.loads(plain)
                    else:
                        item["data_base64"] = base64.b64encode(plain).decode()
                items.append(item)
            self.ledger.append(actor, role, "export_subject", subject_id, purpose,
                               _basis(purpose, _basis("subject_access_request")), subject_id=subject_id,
                               details={"items": len(items)})
        return {"subject_id": subject_id, "exported_at": _iso(self.clock()), "items": items}

    def erasure_preview(self, subject_id: str) -> dict[str, int]:
        """What an erasure of the subject would remove: items held per category, counted without reading or
        decrypting any of them (the confirmation page of the web UI)."""
        rows = self.store.query(text("SELECT category, COUNT(*) AS n FROM retention_items WHERE subject_id = :subject "
                                     "GROUP BY category ORDER BY category"), {"subject": subject_id})
        return {r["category"]: r["n"] for r in rows}

    def erase_subject(self, subject_id: str, *, actor: str, role: str, purpose: str) -> dict:
        """Crypto-shred the subject's data key and drop its items (ledgered), then the records' references.

        The key store is a database of its own, so the shred commits apart from this transaction: the ledger
        entry and the galleries' generation commit right with the items, so every process drops the erased
        templates from its duplicate check (their keys no longer open) even if the records' step after it fails;
        a retry of the erasure finishes that step."""
        with self.store.tx() as db:
            removed = self.retention.remove_subject(subject_id)
            shredded = self.vault.shred(subject_id)
            self.ledger.append(actor, role, "erase_subject", subject_id, purpose,
                               _basis(purpose, "erasure on a lawful request (Decree 13/2023 art. 9, 16)"),
                               subject_id=subject_id, details={"items": removed, "key_shredded": shredded})
            bump_generation(db)
        records = forget_subject(self.store, subject_id)
        flushed = self.retention.flush()  # no page of the erased items or keys stays in a WAL file
        return {"subject_id": subject_id, "key_shredded": shredded, "items_removed": removed, "records": records,
                "wal_truncated": flushed}

    def retention_report(self, language: str = "en") -> list[dict]:
        """Per category: items held, due, the oldest, the rule (``policy``: compact; ``rule``: the policy's own
        sentence in ``language``, the one the kiosk shows) and its legal basis (EU model, Decree 13/2023)."""
        now = self.clock()
        rows = []
        for r in self.retention.retention_report(now):
            policy = self.retention.policies.get(r.category)
            rows.append({"category": r.category, "records": r.count, "due": r.overdue,
                         "oldest": r.oldest[:19] + "Z" if r.oldest else None, "policy": r.policy,
                         "rule": policy.rule_text(language) if policy else "no policy",
                         "basis": list(policy.legal_bases) if policy else []})
        for row in rows:
            if row["category"] == "audit_entry":  # the ledger entries themselves
                first = self.ledger.entries(limit=1)
                row.update(records=len(self.ledger), oldest=first[0].at[:19] + "Z" if first else None,
                           due=self.ledger.prunable(CATEGORIES["audit_entry"].fallback_keep.before(now)))
        return rows

    def purge_report(self, now: dt.datetime | None = None, *, dry_run: bool, actor: str, role: str,
                     batch: int = 1000) -> privacy.PurgeReport:
        """The retention purge (crypto-shredding each item's key), with the records that point at the purged
        items dropped in the same batch (:meth:`drop_records`)."""
        try:
            return self.retention.purge(now or self.clock(), dry_run=dry_run, batch=batch, actor=actor, role=role,
                                        on_purge=self.drop_records)
        except LockBusyError as e:  # PostgreSQL: another worker's (or the timer's) purge holds the purge lock
            raise Conflict(f"a retention purge is already running ({e})") from e

    def drop_records(self, items: list[privacy.PurgedItem]) -> None:
        """Inside a purge batch: an exception or enrolment whose record item goes is deleted with it (its row
        keeps the keyed subject id, scores and consent: "was this document here?" must not stay answerable);
        a purged image leaves its reference empty. A purged template keeps its (now dangling) reference: an
        enrolment still listed reads as ``templates_unreadable`` (the gate refers), never as "no fingerprints"."""
        with self.store.tx() as db:  # joins the purge batch's transaction (the registry runs on the Store)
            if any(it.category in _GALLERY_CATEGORIES for it in items):  # out of every process's duplicate check
                bump_generation(db)
            for it in items:
                if it.category == "exception_record":
                    db.execute(text("DELETE FROM exceptions WHERE id = :id"), {"id": it.record_id})
                elif it.category == "enrolment_record":
                    db.execute(text("DELETE FROM enrolments WHERE id = :id"), {"id": it.record_id})
                elif it.category in ("live_image", "chip_image"):
                    column = "live_image_ref" if it.category == "live_image" else "chip_image_ref"
                    db.execute(text(f"UPDATE exceptions SET {column} = NULL WHERE {column} = :ref"),  # noqa: S608
                               {"ref": it.ref})

    def purge(self, *, dry_run: bool, actor: str, role: str, batch: int = 1000) -> dict:
        r = self.purge_report(dry_run=dry_run, batch=batch, actor=actor, role=role)
        return {"dry_run": r.dry_run, "at": r.cutoff[:19] + "Z", "purged": r.purged, "by_category": r.by_category,
                "ids_sha256": r.ids_sha256, "keys_shredded": r.keys_shredded, "wal_truncated": r.wal_truncated}

    def purge_history(self) -> list[dict]:
        return [{"at": r["started_at"][:19] + "Z", "actor": r["actor"], "dry_run": r["dry_run"], "purged": r["purged"],
                 "by_category": r["by_category"],
                 "summary": f"{r['purged']} item(s) {json.dumps(r['by_category'])}"
                            + (" (interrupted, resumes on the next run)" if r["status"] == "running" else "")}
                for r in self.retention.runs(100)]

    def verify_ledger(self) -> dict:
        v = self.ledger.verify()
        return {"ok": v.ok, "entries": v.entries, "first_bad": v.first_bad_index, "detail": v.reason}

    def ledger_tail(self, limit: int) -> list[dict]:
        return [{"seq": e.seq, "at": e.at, "actor": e.actor, "role": e.role, "action": e.action, "record": e.record,
                 "purpose": e.purpose} for e in self.ledger.tail(limit)]

    def purposes(self) -> list[dict]:
        return [dict(p) for p in PURPOSES]
