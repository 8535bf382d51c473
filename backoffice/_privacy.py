"""The back office's port to the privacy layer: sealed storage of personal data, the access
ledger, retention and data-subject requests.

:class:`PrivacyGateway` is what routes and services call. ``PrivacyGateway.from_config`` adapts
the project's ``privacy`` package when it provides its public API; until then (or if it is
absent) it falls back to :class:`EmbeddedPrivacy`, a minimal implementation in the back-office
database: AES-256-GCM envelope encryption with one data key per data subject wrapped by the KEK,
associated data binding each ciphertext to (subject, category, reference), crypto-shredding by
deleting the subject's data key, a SHA-256 hash-chained access ledger, and per-category
retention with a purge that records each run.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backoffice._config import BackofficeConfig, ConfigError
from backoffice._store import Store

__all__ = ["PURPOSES", "RETENTION", "EmbeddedPrivacy", "PrivacyGateway", "load_kek"]

log = logging.getLogger("backoffice")

#: category -> (days after the anchor, anchor). "resolution": the exception was resolved;
#: "creation": the record was created. Modelled on EES Art. 34 and 46 (see privacy/ for the full set).
RETENTION: dict[str, tuple[int, str]] = {
    "live_image": (30, "resolution"),
    "chip_image": (30, "resolution"),
    "exception_record": (30, "resolution"),
    "enrolment_record": (5 * 365, "creation"),
    "face_template": (5 * 365, "creation"),
    "finger_template": (5 * 365, "creation"),
}

PURPOSES = [
    {"name": "border_exception_review", "legal_basis": "Law on Exit and Entry of Vietnamese Citizens 2019; "
     "Law on Entry, Exit, Transit and Residence of Foreigners 2014 (border control)",
     "categories": "document data, live image, chip photo, scores", "retention": "30 days after resolution"},
    {"name": "enrolment", "legal_basis": "consent of the data subject (Decree 13/2023 art. 11)",
     "categories": "document data, face and fingerprint templates, consent", "retention": "5 years"},
    {"name": "enrolment_duplicate_check", "legal_basis": "consent (fraud prevention at enrolment)",
     "categories": "face and fingerprint templates", "retention": "as enrolment"},
    {"name": "watchlist_screening", "legal_basis": "border control law; Interpol SLTD",
     "categories": "names, date of birth, nationality, document numbers", "retention": "while listed"},
    {"name": "subject_access_request", "legal_basis": "Decree 13/2023 art. 9 (rights of the data subject)",
     "categories": "all of the subject's data", "retention": "ledger entry only"},
    {"name": "audit", "legal_basis": "accountability (Decree 13/2023 art. 27)", "categories": "access ledger",
     "retention": "1 year after the record's period"},
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS privacy_keys (subject TEXT PRIMARY KEY, wrapped TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS privacy_items (
    ref TEXT PRIMARY KEY, subject TEXT NOT NULL, category TEXT NOT NULL, record TEXT NOT NULL,
    blob BLOB NOT NULL, created_at TEXT NOT NULL, expires_at TEXT);
CREATE INDEX IF NOT EXISTS privacy_items_subject ON privacy_items(subject);
CREATE INDEX IF NOT EXISTS privacy_items_expiry ON privacy_items(expires_at);
CREATE TABLE IF NOT EXISTS privacy_ledger (
    seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, role TEXT NOT NULL, action TEXT NOT NULL,
    record TEXT NOT NULL, purpose TEXT NOT NULL, subject TEXT, prev TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS privacy_purges (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, dry_run INTEGER NOT NULL, summary TEXT NOT NULL);
"""


def load_kek(config: BackofficeConfig) -> bytes:
    """The 32-byte key-encryption key from ``config.kek`` (bytes, base64 or hex) or ``config.kek_file``."""
    raw: bytes | str | None = config.kek
    if config.kek_file is not None:
        try:
            raw = Path(config.kek_file).read_bytes().strip()
        except OSError as e:
            raise ConfigError(f"cannot read kek_file {config.kek_file}: {e}") from e
    if raw is None:
        if not config.dev:
            raise ConfigError("a KEK is required outside dev (kek or kek_file)")
        return secrets.token_bytes(32)
    if isinstance(raw, bytes) and len(raw) == 32:
        return raw
    text = raw.decode() if isinstance(raw, bytes) else raw
    for decode in (bytes.fromhex, lambda t: base64.b64decode(t, validate=True),
                   lambda t: base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))):
        try:
            key = decode(text.strip())
        except (ValueError, binascii.Error):
            continue
        if len(key) == 32:
            return key
    raise ConfigError("the KEK must be 32 bytes (raw, hex or base64)")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(t: dt.datetime) -> str:
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")


class EmbeddedPrivacy:
    """Minimal privacy layer inside the back-office database (see the module docstring)."""

    def __init__(self, store: Store, kek: bytes, clock=_now) -> None:
        self.store = store
        self._kek = AESGCM(kek)
        self.clock = clock
        with store.lock:
            store.db.conn.executescript(_SCHEMA)

    # -- keys -------------------------------------------------------------------------------
    def _data_key(self, db, subject: str, create: bool) -> AESGCM | None:
        row = db.execute("SELECT wrapped FROM privacy_keys WHERE subject = ?", [subject]).fetchone()
        if row is None:
            if not create:
                return None
            key = AESGCM.generate_key(256)
            nonce = os.urandom(12)
            wrapped = nonce + self._kek.encrypt(nonce, key, f"dek:{subject}".encode())
            db.execute("INSERT INTO privacy_keys (subject, wrapped, created_at) VALUES (?, ?, ?)",
                       [subject, base64.b64encode(wrapped).decode(), _iso(self.clock())])
            return AESGCM(key)
        wrapped = base64.b64decode(row[0])
        return AESGCM(self._kek.decrypt(wrapped[:12], wrapped[12:], f"dek:{subject}".encode()))

    # -- the port ---------------------------------------------------------------------------
    def seal(self, subject_id: str, category: str, data: bytes, *, actor: str, role: str, purpose: str,
             record: str) -> str:
        ref = f"v_{secrets.token_hex(12)}"
        days, anchor = RETENTION.get(category, (30, "creation"))
        now = self.clock()
        expires = _iso(now + dt.timedelta(days=days)) if anchor == "creation" else None
        with self.store.tx() as db:
            key = self._data_key(db, subject_id, create=True)
            nonce = os.urandom(12)
            blob = nonce + key.encrypt(nonce, bytes(data), f"{subject_id}|{category}|{ref}".encode())
            db.execute("INSERT INTO privacy_items (ref, subject, category, record, blob, created_at, expires_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)", [ref, subject_id, category, record, blob, _iso(now), expires])
            self._append(db, actor, role, f"write:{category}", record, purpose, subject_id)
        return ref

    def open(self, ref: str, *, actor: str, role: str, purpose: str, record: str) -> bytes | None:
        """Decrypt one item (ledgered). None when it was purged or its subject erased."""
        with self.store.tx() as db:
            row = db.execute("SELECT subject, category, blob FROM privacy_items WHERE ref = ?", [ref]).fetchone()
            subject = row[0] if row else None
            self._append(db, actor, role, f"read:{row[1]}" if row else "read:missing", record, purpose, subject)
            if row is None:
                return None
            key = self._data_key(db, subject, create=False)
            if key is None:
                return None
            try:
                return key.decrypt(row[2][:12], row[2][12:], f"{subject}|{row[1]}|{ref}".encode())
            except InvalidTag:
                log.error("ciphertext failed authentication", extra={"event": "vault_tamper"})
                return None

    def access(self, *, actor: str, role: str, action: str, record: str, purpose: str,
               subject_id: str | None = None) -> None:
        with self.store.tx() as db:
            self._append(db, actor, role, action, record, purpose, subject_id)

    def resolved(self, subject_id: str, record: str) -> None:
        """An exception was resolved: its items now expire after their category's period."""
        now = self.clock()
        with self.store.tx() as db:
            for category, (days, anchor) in RETENTION.items():
                if anchor == "resolution":
                    db.execute("UPDATE privacy_items SET expires_at = ? WHERE record = ? AND category = ? "
                               "AND expires_at IS NULL", [_iso(now + dt.timedelta(days=days)), record, category])

    def export_subject(self, subject_id: str, *, actor: str, role: str, purpose: str) -> dict:
        items = []
        with self.store.tx() as db:
            key = self._data_key(db, subject_id, create=False)
            rows = db.execute("SELECT ref, category, record, blob, created_at, expires_at FROM privacy_items "
                              "WHERE subject = ? ORDER BY created_at, ref", [subject_id]).fetchall()
            for ref, category, record, blob, created, expires in rows:
                item: dict[str, Any] = {"ref": ref, "category": category, "record": record, "created_at": created,
                                        "expires_at": expires}
                if key is not None:
                    plain = key.decrypt(blob[:12], blob[12:], f"{subject_id}|{category}|{ref}".encode())
                    if category.endswith("_record"):
                        item["data"] = json.loads(plain)
                    else:
                        item["data_base64"] = base64.b64encode(plain).decode()
                items.append(item)
            self._append(db, actor, role, "export_subject", subject_id, purpose, subject_id)
        return {"subject_id": subject_id, "exported_at": _iso(self.clock()), "items": items}

    def erase_subject(self, subject_id: str, *, actor: str, role: str, purpose: str) -> dict:
        with self.store.tx() as db:
            shredded = db.execute("DELETE FROM privacy_keys WHERE subject = ?", [subject_id]).rowcount
            removed = db.execute("DELETE FROM privacy_items WHERE subject = ?", [subject_id]).rowcount
            self._append(db, actor, role, "erase_subject", subject_id, purpose, subject_id)
        return {"subject_id": subject_id, "key_shredded": bool(shredded), "items_removed": removed}

    def retention_report(self) -> list[dict]:
        now = _iso(self.clock())
        rows = self.store.query(
            "SELECT category, COUNT(*) AS records, SUM(expires_at IS NOT NULL AND expires_at <= ?) AS due, "
            "MIN(created_at) AS oldest FROM privacy_items GROUP BY category", (now,))
        by = {r["category"]: r for r in rows}
        return [{"category": c, "records": by.get(c, {}).get("records", 0), "due": by.get(c, {}).get("due") or 0,
                 "oldest": by.get(c, {}).get("oldest"),
                 "policy": f"{days} days after {anchor}"} for c, (days, anchor) in RETENTION.items()]

    def purge(self, *, dry_run: bool, actor: str, role: str, batch: int = 1000) -> dict:
        now = _iso(self.clock())
        counts: dict[str, int] = {}
        digest = hashlib.sha256()
        while True:
            with self.store.tx() as db:
                rows = db.execute("SELECT ref, category FROM privacy_items WHERE expires_at IS NOT NULL AND "
                                  "expires_at <= ? ORDER BY ref LIMIT ? OFFSET ?",
                                  [now, batch, sum(counts.values()) if dry_run else 0]).fetchall()
                for ref, category in rows:
                    counts[category] = counts.get(category, 0) + 1
                    digest.update(ref.encode())
                if not dry_run and rows:
                    db.conn.executemany("DELETE FROM privacy_items WHERE ref = ?", [(r[0],) for r in rows])
            if len(rows) < batch:
                break
        summary = {"dry_run": dry_run, "at": now, "purged": sum(counts.values()), "by_category": counts,
                   "ids_sha256": digest.hexdigest()}
        with self.store.tx() as db:
            db.execute("INSERT INTO privacy_purges (at, actor, dry_run, summary) VALUES (?, ?, ?, ?)",
                       [now, actor, int(dry_run), json.dumps(summary)])
            self._append(db, actor, role, "purge_dry_run" if dry_run else "purge", f"purge:{now}", "audit", None)
        return summary

    def purge_history(self) -> list[dict]:
        rows = self.store.query("SELECT at, actor, dry_run, summary FROM privacy_purges ORDER BY id DESC LIMIT 100")
        out = []
        for r in rows:
            s = json.loads(r["summary"])
            out.append({"at": r["at"], "actor": r["actor"], "dry_run": bool(r["dry_run"]), "purged": s["purged"],
                        "by_category": s["by_category"],
                        "summary": f"{s['purged']} item(s) {json.dumps(s['by_category'])}"})
        return out

    # -- ledger -----------------------------------------------------------------------------
    @staticmethod
    def _entry_hash(prev: str, at: str, actor: str, role: str, action: str, record: str, purpose: str,
                    subject: str | None) -> str:
        body = json.dumps([prev, at, actor, role, action, record, purpose, subject], ensure_ascii=False)
        return hashlib.sha256(body.encode()).hexdigest()

    def _append(self, db, actor: str, role: str, action: str, record: str, purpose: str, subject: str | None) -> None:
        last = db.execute("SELECT hash FROM privacy_ledger ORDER BY seq DESC LIMIT 1").fetchone()
        prev = last[0] if last else "0" * 64
        at = _iso(self.clock())
        h = self._entry_hash(prev, at, actor, role, action, record, purpose, subject)
        db.execute("INSERT INTO privacy_ledger (at, actor, role, action, record, purpose, subject, prev, hash) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [at, actor, role, action, record, purpose, subject, prev, h])

    def verify_ledger(self) -> dict:
        prev, n, expected_seq = "0" * 64, 0, None
        for r in self.store.query("SELECT * FROM privacy_ledger ORDER BY seq"):
            n += 1
            if expected_seq is not None and r["seq"] != expected_seq:
                return {"ok": False, "entries": n, "first_bad": r["seq"], "detail": f"entry missing before {r['seq']}"}
            h = self._entry_hash(prev, r["at"], r["actor"], r["role"], r["action"], r["record"], r["purpose"],
                                 r["subject"])
            if r["prev"] != prev or r["hash"] != h:
                return {"ok": False, "entries": n, "first_bad": r["seq"], "detail": f"entry {r['seq']} altered"}
            prev, expected_seq = r["hash"], r["seq"] + 1
        return {"ok": True, "entries": n, "first_bad": None, "detail": ""}

    def ledger_tail(self, limit: int) -> list[dict]:
        rows = self.store.query("SELECT seq, at, actor, role, action, record, purpose FROM privacy_ledger "
                                "ORDER BY seq DESC LIMIT ?", (limit,))
        return list(reversed(rows))

    def purposes(self) -> list[dict]:
        return [dict(p) for p in PURPOSES]


class PrivacyGateway:
    """Factory for the privacy port of an app."""

    @staticmethod
    def from_config(config: BackofficeConfig, store: Store):
        kek = load_kek(config)
        return EmbeddedPrivacy(store, kek)
