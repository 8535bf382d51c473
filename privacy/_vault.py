"""Envelope encryption with one data key per sealed item, and crypto-shredding.

Each envelope gets a random AES-256 data key (DEK) of its own, recorded as its subject's and stored
only wrapped by the key-encryption key (KEK, see :mod:`privacy._kek`). :meth:`Vault.seal` encrypts with AES-256-GCM (NIST SP 800-38D)
under the subject's DEK and returns a self-describing envelope::

    b"SBV" | version (1) | algorithm (1) | len(key_id) (1) | key_id (ASCII) | nonce (12) | ciphertext+tag

The associated data is the envelope header plus (subject, category, record), length-prefixed, so
an envelope moved to another record, category or subject fails authentication
(:class:`IntegrityError`). Envelopes hold no identifier of the subject.

Crypto-shredding deletes DEKs (with ``secure_delete`` so the page is overwritten, then a WAL
checkpoint that truncates the ``-wal`` file) and leaves tombstones: :meth:`Vault.shred` every key of
a subject (erasure), :meth:`Vault.shred_keys` the keys of single items (the retention purge). Every
copy of such an envelope, in any database or backup, becomes undecryptable. This holds for backups as long as the *key store* (the database
given to the vault) is not inside the data backups — keep it separate from the data it protects,
as a KMS/HSM would be. KEK rotation (:meth:`Vault.rotate_kek`) rewraps the DEKs only: envelopes
are untouched. On PostgreSQL (no secure_delete, no WAL file of its own) the rule is that a destroyed DEK
is unrecoverable once the KEK it was wrapped under is destroyed: :meth:`Vault.scrub` rotates the KEK
after an erasure or a purge and then rewrites the key tables and switches the WAL segment.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import text

from privacy._db import Db, open_db
from privacy._errors import IntegrityError, KekError, KeyNotFoundError, SubjectShreddedError
from privacy._kek import KeyEncryptionKeyProvider
from privacy._util import Clock, iso, system_clock
from storage import DatabaseConnection, StorageError, lock

__all__ = ["ENVELOPE_MAGIC", "Vault", "envelope_key_id"]

ENVELOPE_MAGIC = b"SBV"
_VERSION = 1
_ALG_AES256GCM = 1
_NONCE = 12
log = logging.getLogger("privacy.vault")
#: the advisory lock of a KEK rotation and of a secret's creation (PostgreSQL)
VAULT_LOCK = "privacy.vault"


def _lp(*parts: str) -> bytes:
    out = bytearray()
    for p in parts:
        b = p.encode("utf-8")
        out += len(b).to_bytes(4, "big") + b
    return bytes(out)


def _parse(envelope: bytes) -> tuple[bytes, str, bytes, bytes]:
    """(header, key_id, nonce, ciphertext) of an envelope, or IntegrityError."""
    if not isinstance(envelope, bytes | bytearray | memoryview):
        raise IntegrityError("an envelope is bytes")
    env = bytes(envelope)
    if len(env) < 6 or env[:3] != ENVELOPE_MAGIC:
        raise IntegrityError("not a vault envelope")
    if env[3] != _VERSION or env[4] != _ALG_AES256GCM:
        raise IntegrityError(f"unsupported envelope version {env[3]} / algorithm {env[4]}")
    n = env[5]
    end = 6 + n + _NONCE
    if len(env) < end + 16:
        raise IntegrityError("envelope truncated")
    try:
        key_id = env[6:6 + n].decode("ascii")
    except UnicodeDecodeError as e:
        raise IntegrityError("envelope key id is not ASCII") from e
    return env[:end], key_id, env[6 + n:end], env[end:]


def envelope_key_id(envelope: bytes) -> str:
    """The id of the data key that sealed ``envelope`` (no decryption)."""
    return _parse(envelope)[1]


def _digest(subject_id: str) -> str:
    return hashlib.sha256(b"smartborder-subject\x00" + subject_id.encode()).hexdigest()


class Vault:
    """Per-subject data keys wrapped by a KEK; seal/open envelopes; shred; rotate the KEK.

    ``db`` is the key store: a path (its own SQLite file, recommended: keep it out of the data
    backups) or an open database/connection. ``lock`` serialises use of a shared connection.
    """

    def __init__(self, db: Db, kek: KeyEncryptionKeyProvider, *, clock: Clock | None = None,
                 lock: threading.RLock | None = None, cache_size: int | None = None,
                 next_kek: Callable[[], KeyEncryptionKeyProvider] | None = None) -> None:
        if not isinstance(kek, KeyEncryptionKeyProvider):
            raise KekError("kek must provide key_id, wrap() and unwrap()")
        self.db = open_db(db, key_material=True, lock=lock)
        self.kek = kek
        self.clock = clock or system_clock
        self.lock = self.db.lock
        self._cache: OrderedDict[str, tuple[str, AESGCM]] = OrderedDict()
        # unwrapped data keys kept in memory (default: 4096 on SQLite; none on PostgreSQL, where other workers
        # shred keys: a shredded key must not stay in this process's memory until the cache evicts it)
        self._cache_size = cache_size if cache_size is not None else (4096 if self.db.dialect == "sqlite" else 0)
        #: PostgreSQL: where the KEK the key store rotates to after a shred comes from (see :meth:`scrub`)
        self.next_kek = next_kek

    # -- data keys ----------------------------------------------------------------------------
    def _dek_aad(self, key_id: str, subject_id: str) -> bytes:
        return b"smartborder-dek\x00" + _lp(key_id, subject_id)

    def _new_key(self, subject_id: str) -> tuple[str, AESGCM]:
        """A fresh data key for one envelope of ``subject_id``, stored wrapped (committed before use). Refused
        (:class:`KekError`) when the key store's secrets are wrapped by another KEK: another process rotated
        it, and a key wrapped by the old KEK now would be unreadable under the new one."""
        with self.db.tx() as db:
            lock(db.connection, VAULT_LOCK, shared=True)  # PostgreSQL: not while a rotation rewraps the keys
            self._check_current_kek(db)
            key_id = "dek_" + os.urandom(12).hex()
            dek = AESGCM.generate_key(256)
            wrapped = self.kek.wrap(dek, self._dek_aad(key_id, subject_id))
            db.execute(text("INSERT INTO vault_keys (key_id, subject_id, kek_id, wrapped, created_at) "
                            "VALUES (:k, :s, :kek, :w, :at)"),
                       {"k": key_id, "s": subject_id, "kek": self.kek.key_id, "w": wrapped, "at": iso(self.clock())})
            aead = AESGCM(dek)
            self._remember(key_id, subject_id, aead)
            return key_id, aead

    def _follow(self, kek_id: str) -> bool:
        """Another process rotated the key store to ``kek_id``: take that KEK when the provider can find it (a
        :class:`FileKek` re-reads its file, or the successor not yet promoted); False otherwise."""
        reloaded = getattr(self.kek, "reloaded", None)
        new = reloaded(kek_id) if reloaded is not None else None
        if new is None:
            return False
        log.warning("the key store was rotated to KEK %s by another process: following it", kek_id)
        self.kek = new
        return True

    def _check_current_kek(self, db: DatabaseConnection) -> None:
        row = db.execute(text("SELECT kek_id FROM vault_secrets WHERE kek_id != :k LIMIT 1"),
                         {"k": self.kek.key_id}).first()
        if row is not None and not self._follow(row[0]):
            raise KekError(f"the key store is wrapped by KEK {row[0]}, not this process's {self.kek.key_id}: it was "
                           "rotated by another process (privacy rotate-kek); restart with the new kek_file")

    def _unwrap_row(self, key_id: str, subject_id: str, kek_id: str, wrapped: bytes) -> AESGCM:
        cached = self._cache.get(key_id)
        if cached is not None and cached[0] == subject_id:
            self._cache.move_to_end(key_id)
            return cached[1]
        if kek_id != self.kek.key_id and not self._follow(kek_id):
            raise KekError(f"data key {key_id} is wrapped by KEK {kek_id}, not the configured {self.kek.key_id}")
        aead = AESGCM(self.kek.unwrap(bytes(wrapped), self._dek_aad(key_id, subject_id)))
        self._remember(key_id, subject_id, aead)
        return aead

    def _remember(self, key_id: str, subject_id: str, aead: AESGCM) -> None:
        self._cache[key_id] = (subject_id, aead)
        self._cache.move_to_end(key_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    # -- envelopes ----------------------------------------------------------------------------
    @staticmethod
    def _aad(header: bytes, subject_id: str, category: str, record_id: str) -> bytes:
        return header + _lp(subject_id, category, record_id)

    def seal(self, subject_id: str, category: str, record_id: str, data: bytes) -> bytes:
        """Encrypt ``data`` for (subject, category, record) under a data key of its own (one per
        envelope, recorded as the subject's, so :meth:`shred_keys` destroys one item and :meth:`shred`
        all of the subject's)."""
        key_id, aead = self._new_key(subject_id)
        kid = key_id.encode("ascii")
        nonce = os.urandom(_NONCE)
        header = ENVELOPE_MAGIC + bytes([_VERSION, _ALG_AES256GCM, len(kid)]) + kid + nonce
        return header + aead.encrypt(nonce, bytes(data), self._aad(header, subject_id, category, record_id))

    def open(self, subject_id: str, category: str, record_id: str, envelope: bytes) -> bytes:
        """Decrypt an envelope sealed for exactly (subject, category, record)."""
        header, key_id, nonce, ct = _parse(envelope)
        with self.db.read() as db:
            row = db.execute(text("SELECT subject_id, kek_id, wrapped FROM vault_keys WHERE key_id = :k"),
                             {"k": key_id}).first()
            if row is None:
                if self.is_shredded(subject_id) or self._tombstoned("key:" + key_id):
                    raise SubjectShreddedError("the data subject's key was destroyed (erased or purged)")
                raise KeyNotFoundError(f"no data key {key_id} in this vault")
            if row[0] != subject_id:
                raise IntegrityError("envelope belongs to another data subject")
            aead = self._unwrap_row(key_id, subject_id, row[1], row[2])
        try:
            return aead.decrypt(nonce, ct, self._aad(header, subject_id, category, record_id))
        except InvalidTag as e:
            raise IntegrityError("envelope failed authentication (tampered, or not this record's)") from e

    # -- shredding ----------------------------------------------------------------------------
    def shred(self, subject_id: str) -> bool:
        """Destroy every data key of the subject (erasure); True if there was one. Idempotent."""
        with self.db.tx() as db:
            keys = [r[0] for r in db.execute(text("SELECT key_id FROM vault_keys WHERE subject_id = :s"),
                                             {"s": subject_id})]
            n = db.execute(text("DELETE FROM vault_keys WHERE subject_id = :s"), {"s": subject_id}).rowcount
            self._tombstone(db, [_digest(subject_id), *(_digest("key:" + k) for k in keys)])
            for kid in [k for k, (s, _) in self._cache.items() if s == subject_id]:
                del self._cache[kid]
        self._flush_wal()
        return n > 0

    def shred_keys(self, key_ids: Iterable[str], *, flush: bool = True) -> int:
        """Destroy these data keys (one item each: the retention purge); returns how many existed.
        Each leaves a tombstone, so an envelope of one of them, from any copy or backup of the data,
        opens to :class:`SubjectShreddedError`. Idempotent. ``flush``: checkpoint the WAL afterwards."""
        key_ids = list(dict.fromkeys(key_ids))
        if not key_ids:
            return 0
        n = 0
        with self.db.tx() as db:
            for kid in key_ids:
                n += db.execute(text("DELETE FROM vault_keys WHERE key_id = :k"), {"k": kid}).rowcount
                self._cache.pop(kid, None)
            self._tombstone(db, [_digest("key:" + k) for k in key_ids])
        if flush:
            self._flush_wal()
        return n

    def key_exists(self, key_id: str) -> bool:
        return self.db.one(text("SELECT 1 AS x FROM vault_keys WHERE key_id = :k"), {"k": key_id}) is not None

    def _tombstone(self, db: DatabaseConnection, digests: list[str]) -> None:
        now = iso(self.clock())
        db.execute(text("INSERT INTO vault_tombstones (subject_digest, shredded_at) VALUES (:d, :at) "
                        "ON CONFLICT (subject_digest) DO NOTHING"), [{"d": d, "at": now} for d in digests])

    def is_shredded(self, subject_id: str) -> bool:
        """True if a data key of this subject was ever shredded."""
        return self._tombstoned(subject_id)

    def _tombstoned(self, name: str) -> bool:
        return self.db.one(text("SELECT 1 AS x FROM vault_tombstones WHERE subject_digest = :d"),
                           {"d": _digest(name)}) is not None

    def prune_tombstones(self, before: dt.datetime) -> int:
        """Forget shred records older than ``before`` (their envelopes then fail with
        :class:`KeyNotFoundError` instead of :class:`SubjectShreddedError`: still unreadable). For
        stores that shred a key per item (outboxes), where tombstones would otherwise pile up."""
        with self.db.tx() as db:
            return db.execute(text("DELETE FROM vault_tombstones WHERE shredded_at < :t"), {"t": iso(before)}).rowcount

    def has_key(self, subject_id: str) -> bool:
        return self.db.one(text("SELECT 1 AS x FROM vault_keys WHERE subject_id = :s"), {"s": subject_id}) is not None

    def _flush_wal(self) -> bool:
        """SQLite: checkpoint and truncate the WAL (after each shred). PostgreSQL: nothing here; :meth:`flush`."""
        return self.db.checkpoint_truncate() if self.db.dialect == "sqlite" else False

    def flush(self) -> bool:
        """Leave no destroyed key recoverable from the key store's files. SQLite: move the overwritten pages from
        the WAL into the file and truncate the WAL (``secure_delete`` is on); True when the WAL is empty.
        PostgreSQL: :meth:`scrub` (KEK rotation, VACUUM FULL, CHECKPOINT, WAL switch); True when it completed."""
        if self.db.dialect == "sqlite":
            return self.db.checkpoint_truncate()
        return self.scrub()

    def scrub(self) -> bool:
        """PostgreSQL's shredding rule: a destroyed data key is unrecoverable once the KEK it was wrapped under is
        destroyed. A deleted key row survives in dead tuples, in WAL segments until they are recycled, in standbys
        and base backups, still wrapped under the KEK; so after an erasure or a purge the key store rotates its KEK
        (:meth:`rotate_kek` to ``next_kek()``: every live key and secret rewrapped, no row left under the old KEK,
        whose provider the caller destroys), then ``VACUUM (FULL)`` rewrites the key tables (no dead tuple left),
        ``CHECKPOINT`` and ``pg_switch_wal()`` close the WAL segment that held the old rows. True only when every
        step ran; False (logged, named) otherwise: no ``next_kek``, or the role lacks ``pg_checkpoint`` / EXECUTE on
        ``pg_switch_wal`` (docs/DEPLOYMENT.md)."""
        if self.db.dialect != "postgresql":
            return self.flush()
        successor = self.next_kek or getattr(self.kek, "successor", None)
        if successor is None:
            log.error("key store not scrubbed: the KEK provider %r cannot rotate (use a kek_file, or pass next_kek); "
                      "shredded keys stay recoverable from the server's files with the current KEK", self.kek,
                      extra={"event": "vault_scrub_incomplete"})
            return False
        try:
            new = successor()
            self.rotate_kek(new)
            promote = getattr(new, "promote", None)
            if promote is not None:  # the old KEK's file goes (FileKek: the successor renamed over it)
                promote()
            with self.db.engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                for table in ("vault_keys", "vault_secrets"):
                    conn.execute(text(f"VACUUM (FULL) {table}"))
                conn.execute(text("CHECKPOINT"))
                conn.execute(text("SELECT pg_switch_wal()"))
        except (StorageError, KekError) as e:
            log.error("key store not scrubbed: %s", e, extra={"event": "vault_scrub_incomplete"})
            return False
        return True

    # -- KEK rotation -------------------------------------------------------------------------
    def rotate_kek(self, new_kek: KeyEncryptionKeyProvider) -> int:
        """Rewrap every data key and secret under ``new_kek`` (one transaction); returns the count.
        Envelopes are not touched: they stay byte for byte the same and keep opening."""
        if not isinstance(new_kek, KeyEncryptionKeyProvider):
            raise KekError("new_kek must provide key_id, wrap() and unwrap()")
        old = self.kek
        n = 0
        with self.db.tx() as db:
            lock(db.connection, VAULT_LOCK)
            for key_id, subject_id, kek_id, wrapped in db.execute(text(
                    "SELECT key_id, subject_id, kek_id, wrapped FROM vault_keys ORDER BY key_id")).all():
                aad = self._dek_aad(key_id, subject_id)
                dek = self._unwrap_with(old, kek_id, bytes(wrapped), aad, key_id)
                db.execute(text("UPDATE vault_keys SET kek_id = :kek, wrapped = :w WHERE key_id = :k"),
                           {"kek": new_kek.key_id, "w": new_kek.wrap(dek, aad), "k": key_id})
                n += 1
            for name, kek_id, wrapped in db.execute(text(
                    "SELECT name, kek_id, wrapped FROM vault_secrets ORDER BY name")).all():
                aad = self._secret_aad(name)
                secret = self._unwrap_with(old, kek_id, bytes(wrapped), aad, name)
                db.execute(text("UPDATE vault_secrets SET kek_id = :kek, wrapped = :w WHERE name = :n"),
                           {"kek": new_kek.key_id, "w": new_kek.wrap(secret, aad), "n": name})
                n += 1
        self.kek = new_kek
        self._cache.clear()
        self._flush_wal()
        return n

    @staticmethod
    def _unwrap_with(kek: KeyEncryptionKeyProvider, kek_id: str, wrapped: bytes, aad: bytes, what: str) -> bytes:
        if kek_id == kek.key_id:
            return kek.unwrap(wrapped, aad)
        raise KekError(f"{what} is wrapped by KEK {kek_id}, not the current {kek.key_id}")

    # -- long-lived secrets (pseudonymisation key, ledger signing key) --------------------------
    @staticmethod
    def _secret_aad(name: str) -> bytes:
        return b"smartborder-secret\x00" + _lp(name)

    def secret(self, name: str, size: int = 32) -> bytes:
        """A named random secret, created on first use and stored wrapped by the KEK."""
        select = text("SELECT kek_id, wrapped FROM vault_secrets WHERE name = :n")
        with self.db.read() as db:  # the common case (a pseudonym per request): no lock, no write
            row = db.execute(select, {"n": name}).first()
        if row is not None:
            if row[0] != self.kek.key_id:
                self._follow(row[0])
            return self._unwrap_with(self.kek, row[0], bytes(row[1]), self._secret_aad(name), name)
        with self.db.tx() as db:
            lock(db.connection, VAULT_LOCK)  # PostgreSQL: two workers creating the secret at once make one
            row = db.execute(select, {"n": name}).first()
            if row is not None:
                if row[0] != self.kek.key_id:
                    self._follow(row[0])
                return self._unwrap_with(self.kek, row[0], bytes(row[1]), self._secret_aad(name), name)
            self._check_current_kek(db)
            value = os.urandom(size)
            db.execute(text("INSERT INTO vault_secrets (name, kek_id, wrapped, created_at) VALUES (:n, :kek, :w, :at)"),
                       {"n": name, "kek": self.kek.key_id, "w": self.kek.wrap(value, self._secret_aad(name)),
                        "at": iso(self.clock())})
            return value

    def signing_key(self, name: str = "ledger") -> Ed25519PrivateKey:
        """An Ed25519 key for the ledger's checkpoints, kept wrapped in the vault."""
        return Ed25519PrivateKey.from_private_bytes(self.secret(f"ed25519:{name}"))

    def pseudonym(self, document_number: str, issuing_state: str = "") -> str:
        """A stable subject id for a document: HMAC-SHA256 under the vault's pseudonymisation key,
        so no document number is stored in clear."""
        doc = unicodedata.normalize("NFKC", document_number).upper().replace(" ", "").replace("<", "")
        msg = f"{issuing_state.strip().upper()}:{doc}".encode()
        return "subj_" + hmac.new(self.secret("pseudonym"), msg, hashlib.sha256).hexdigest()[:32]
