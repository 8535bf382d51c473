"""The append-only audit ledger: who, in which role, did what to which record, for which purpose
and on which legal basis, when. Hash-chained (SHA-256) with Ed25519-signed checkpoints.

Every entry's hash covers its sequence number and its predecessor's hash, so an edit, a deletion,
an insertion or a reordering made directly in SQLite breaks the chain at a named entry; a
rewrite of the whole chain from some point on (possible without any secret) no longer matches
the next signed checkpoint; a truncated tail is caught by a checkpoint beyond it. The verification
rules are in :mod:`privacy._verify_export`, which auditors run on an :meth:`Ledger.export`.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import sqlite_utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from privacy._errors import LedgerError
from privacy._schema import connect
from privacy._util import Clock, iso, system_clock, transaction
from privacy._verify_export import (
    EXPORT_FORMAT,
    GENESIS,
    PRUNE_ACTION,
    LedgerVerification,
    checkpoint_message,
    entry_hash,
    key_id_of,
    prune_anchor,
    verify_chain,
)

__all__ = ["Checkpoint", "Ledger", "LedgerEntry"]

_COLS = "seq, at, actor, role, action, record, purpose, legal_basis, subject_id, details, prev_hash, entry_hash"


@dataclass(frozen=True)
class LedgerEntry:
    seq: int
    at: str
    actor: str
    role: str
    action: str
    record: str
    purpose: str
    legal_basis: str
    subject_id: str | None
    details: str | None
    prev_hash: str
    entry_hash: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    entry_hash: str
    at: str
    key_id: str
    signature: str

    def to_dict(self) -> dict:
        return asdict(self)


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


class Ledger:
    """``Ledger(db, signing_key)``; without a signing key the ledger can be read and verified
    (against the public keys it recorded) but not appended to.

    ``checkpoint_every``: sign a checkpoint automatically after that many appends (None: never).
    ``trusted_keys``: earlier signing keys (after a key rotation) whose checkpoints stay valid.
    """

    def __init__(self, db: str | Path | sqlite_utils.Database | sqlite3.Connection,
                 signing_key: Ed25519PrivateKey | None = None, *, clock: Clock | None = None,
                 lock: threading.RLock | None = None, checkpoint_every: int | None = 1000,
                 trusted_keys: tuple[Ed25519PublicKey, ...] = ()) -> None:
        self.db = connect(db)
        self._trusted = tuple(trusted_keys)
        self.clock = clock or system_clock
        self.lock = lock or threading.RLock()
        self.checkpoint_every = checkpoint_every
        self._key = signing_key
        if signing_key is not None:
            raw = _raw_public(signing_key.public_key())
            self.key_id = key_id_of(raw)
            with transaction(self.db, self.lock) as d:
                d.execute("INSERT OR IGNORE INTO ledger_keys (key_id, public_key, added_at) VALUES (?, ?, ?)",
                          [self.key_id, base64.b64encode(raw).decode(), iso(self.clock())])
        else:
            self.key_id = None

    # -- keys ------------------------------------------------------------------------------------
    @property
    def public_key_b64(self) -> str | None:
        """The current signer's Ed25519 public key (base64), to pin when verifying an export."""
        if self._key is None:
            return None
        return base64.b64encode(_raw_public(self._key.public_key())).decode()

    def _public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Trusted: the signing key in hand and ``trusted_keys``; a key someone added to the table proves
        nothing. With neither, the recorded keys are used (the result says ``key_pinned=False``)."""
        keys = {key_id_of(_raw_public(k)): k for k in self._trusted}
        if self._key is not None:
            keys[self.key_id] = self._key.public_key()
        if keys:
            return keys
        for kid, b64 in self.db.execute("SELECT key_id, public_key FROM ledger_keys"):
            keys[kid] = Ed25519PublicKey.from_public_bytes(base64.b64decode(b64))
        return keys

    # -- writing ---------------------------------------------------------------------------------
    def append(self, actor: str, role: str, action: str, record: str, purpose: str, legal_basis: str,
               when: dt.datetime | None = None, *, subject_id: str | None = None,
               details: dict | None = None) -> LedgerEntry:
        """Add one entry (in the caller's transaction if one is open on the connection).

        ``subject_id`` (a pseudonymous id) lets a subject access request list who touched the
        subject's data; ``details`` (JSON-able, never personal data) is covered by the hash."""
        if self._key is None:
            raise LedgerError("this ledger was opened without a signing key (read and verify only)")
        for name, value in (("actor", actor), ("role", role), ("action", action), ("purpose", purpose),
                            ("legal_basis", legal_basis)):
            if not isinstance(value, str) or not value.strip():
                raise LedgerError(f"ledger entry needs a non-empty {name}")
        if not isinstance(record, str):
            raise LedgerError("ledger entry record must be a string")
        at = iso(when or self.clock())
        with transaction(self.db, self.lock) as db:
            head = db.execute("SELECT seq, entry_hash FROM ledger_entries ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
            fields = {"seq": seq, "at": at, "actor": actor, "role": role, "action": action, "record": record,
                      "purpose": purpose, "legal_basis": legal_basis, "subject_id": subject_id,
                      "details": None if details is None else json.dumps(details, sort_keys=True, separators=(",", ":"))}
            h = entry_hash(prev, fields)
            db.execute(f"INSERT INTO ledger_entries ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                       [*fields.values(), prev, h])
            entry = LedgerEntry(**fields, prev_hash=prev, entry_hash=h)
            if self.checkpoint_every and self._key is not None and seq % self.checkpoint_every == 0:
                self._sign(db, seq, h)
        return entry

    def _sign(self, db: sqlite_utils.Database, seq: int, h: str) -> Checkpoint:
        at = iso(self.clock())
        sig = base64.b64encode(self._key.sign(checkpoint_message(seq, h, at))).decode()
        db.execute("INSERT INTO ledger_checkpoints (seq, entry_hash, at, key_id, signature) VALUES (?, ?, ?, ?, ?)",
                   [seq, h, at, self.key_id, sig])
        return Checkpoint(seq, h, at, self.key_id, sig)

    def checkpoint(self) -> Checkpoint:
        """Sign the current head (seq, hash) with the Ed25519 key."""
        if self._key is None:
            raise LedgerError("this ledger was opened without a signing key")
        with transaction(self.db, self.lock) as db:
            head = db.execute("SELECT seq, entry_hash FROM ledger_entries ORDER BY seq DESC LIMIT 1").fetchone()
            seq, h = head if head else (0, GENESIS)
            return self._sign(db, seq, h)

    # -- reading ---------------------------------------------------------------------------------
    def _rows(self, sql: str, params: tuple = ()) -> Iterator[LedgerEntry]:
        with self.lock:
            rows = self.db.execute(sql, params).fetchall()
        for r in rows:
            yield LedgerEntry(*r)

    def entries(self, after_seq: int = 0, limit: int | None = None) -> list[LedgerEntry]:
        return list(self._rows(f"SELECT {_COLS} FROM ledger_entries WHERE seq > ? ORDER BY seq LIMIT ?",  # noqa: S608
                               (after_seq, -1 if limit is None else limit)))

    def tail(self, limit: int = 100) -> list[LedgerEntry]:
        rows = list(self._rows(f"SELECT {_COLS} FROM ledger_entries ORDER BY seq DESC LIMIT ?", (limit,)))  # noqa: S608
        return rows[::-1]

    def for_subject(self, subject_id: str) -> list[LedgerEntry]:
        return list(self._rows(f"SELECT {_COLS} FROM ledger_entries WHERE subject_id = ? ORDER BY seq",  # noqa: S608
                               (subject_id,)))

    def find(self, action: str, record: str) -> LedgerEntry | None:
        rows = list(self._rows(f"SELECT {_COLS} FROM ledger_entries WHERE action = ? AND record = ? "  # noqa: S608
                               "ORDER BY seq LIMIT 1", (action, record)))
        return rows[0] if rows else None

    def __len__(self) -> int:
        with self.lock:
            return self.db.execute("SELECT COUNT(*) FROM ledger_entries").fetchone()[0]

    def checkpoints(self) -> list[Checkpoint]:
        with self.lock:
            rows = self.db.execute("SELECT seq, entry_hash, at, key_id, signature FROM ledger_checkpoints "
                                   "ORDER BY seq, id").fetchall()
        return [Checkpoint(*r) for r in rows]

    # -- verification and export ----------------------------------------------------------------
    def _iter_dicts(self, chunk: int = 20_000) -> Iterator[dict]:
        names = _COLS.split(", ")
        last = -1
        while True:
            with self.lock:
                rows = self.db.execute(f"SELECT {_COLS} FROM ledger_entries WHERE seq > ? ORDER BY seq LIMIT ?",  # noqa: S608
                                       (last, chunk)).fetchall()
            if not rows:
                return
            for r in rows:
                yield dict(zip(names, r, strict=True))
            last = rows[-1][0]

    def verify(self) -> LedgerVerification:
        """Check every link, hash and checkpoint; name the first bad entry."""
        with self.lock:
            keys = self._public_keys()
            cps = [c.to_dict() for c in self.checkpoints()]
            prunes = self._prunes()
        return verify_chain(self._iter_dicts(), cps, keys, key_pinned=self._key is not None or bool(self._trusted),
                            prunes=prunes)

    def _prunes(self) -> list[tuple[int, str]]:
        rows = self.db.execute("SELECT action, details FROM ledger_entries WHERE action = ?", [PRUNE_ACTION])
        return [a for a in (prune_anchor({"action": r[0], "details": r[1]}) for r in rows) if a is not None]

    # -- retention of the ledger itself ------------------------------------------------------------
    def prunable(self, before: dt.datetime) -> int:
        """How many entries written before ``before`` :meth:`prune` would remove."""
        with self.lock:
            return self.db.execute("SELECT COUNT(*) FROM ledger_entries WHERE at < ? AND seq < "
                                   "(SELECT MAX(seq) FROM ledger_entries)", [iso(before)]).fetchone()[0]

    def prune(self, before: dt.datetime, *, actor: str = "system:retention", role: str = "system",
              legal_basis: str = "storage limitation of logs: Reg. (EU) 2017/2226 Art. 46(2)",
              batch: int = 10_000) -> int:
        """Remove the oldest entries written before ``before`` (a prefix of the chain), keeping the
        chain verifiable: a ``ledger_prune`` entry records the last removed entry's seq and hash and
        a checkpoint signs it. Batched and resumable (a crash leaves a shorter prefix, still valid);
        returns the number of entries removed."""
        with transaction(self.db, self.lock) as db:
            row = db.execute("SELECT MAX(seq) FROM ledger_entries WHERE at < ? AND seq < "
                             "(SELECT MAX(seq) FROM ledger_entries)", [iso(before)]).fetchone()
            through = row[0]
            done = max((a[0] for a in self._prunes()), default=0)
            if through is not None and through > done:
                h = db.execute("SELECT entry_hash FROM ledger_entries WHERE seq = ?", [through]).fetchone()[0]
                self.append(actor, role, PRUNE_ACTION, f"1..{through}", "retention", legal_basis,
                            details={"through_seq": through, "through_hash": h})
                self.checkpoint()
            target = max(done, through or 0)
        removed = 0
        while True:
            with transaction(self.db, self.lock) as db:
                n = db.execute("DELETE FROM ledger_entries WHERE seq IN (SELECT seq FROM ledger_entries WHERE seq <= ? "
                               "ORDER BY seq LIMIT ?)", [target, batch]).rowcount
                db.execute("DELETE FROM ledger_checkpoints WHERE seq <= ?", [target])
            removed += n
            if n < batch:
                return removed

    def export(self, path: str | Path) -> Path:
        """Write the ledger for an auditor: JSON lines (header with the public keys, entries,
        checkpoints). The head is checkpointed first so the whole export is signed."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with self.lock:
            cps = self.checkpoints()
            head = self.db.execute("SELECT seq FROM ledger_entries ORDER BY seq DESC LIMIT 1").fetchone()
            if self._key is not None and (not cps or cps[-1].seq != (head[0] if head else 0)):
                self.checkpoint()
            public = [r[0] for r in self.db.execute("SELECT public_key FROM ledger_keys ORDER BY added_at")]
            tmp = path.with_name(path.name + ".tmp")
            with tmp.open("w", encoding="utf-8") as f:
                header = {"type": "header", "format": EXPORT_FORMAT, "hash": "SHA-256", "signature": "Ed25519",
                          "exported_at": iso(self.clock()), "public_keys": public}
                f.write(json.dumps(header) + "\n")
                for e in self._iter_dicts():
                    f.write(json.dumps({"type": "entry", **e}, ensure_ascii=False) + "\n")
                for c in self.checkpoints():
                    f.write(json.dumps({"type": "checkpoint", **c.to_dict()}) + "\n")
            tmp.replace(path)
        return path
