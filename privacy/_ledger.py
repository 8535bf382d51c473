"""The append-only audit ledger: who, in which role, did what to which record, for which purpose
and on which legal basis, when. Hash-chained (SHA-256) with Ed25519-signed checkpoints.

Every entry's hash covers its sequence number and its predecessor's hash, so an edit, a deletion,
an insertion or a reordering made directly in SQLite breaks the chain at a named entry; a
rewrite of the whole chain from some point on (possible without any secret) no longer matches
the next signature. Every write also signs the new head (``ledger_head``, one row, same form as a
checkpoint, in the entry's transaction), and verification requires the newest entry to be covered by
a valid signature, so an unsigned tail (entries appended or rewritten after the head, or a deleted
head) fails. A truncation is caught by any signature beyond the end: the stored head, a checkpoint,
or a *witness head*, a head a gate or kiosk received from the back office (``X-Ledger-Head``) and
keeps, which an attacker holding the database cannot reach. The verification rules are in
:mod:`privacy._verify_export`, which auditors run on an :meth:`Ledger.export`.

A ledger opened with its signing key on an empty database starts with a signed creation entry
(``ledger_created``, the key id in its details), so a chain with no entry at all fails verification
(wiped). Before signing a new head, a write compares the stored head with the chain's end: a head
ahead of the chain (truncated), at another hash (rewritten), behind it (entries added without the
key), missing while the chain was written under signed heads (deleted) or over an emptied chain is
never signed over silently: a ``ledger_head_mismatch`` entry recording what was found goes into the
chain first (an error is logged, the write goes on), and verification fails while it is there.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import text

from privacy._checkpoint import Checkpoint, raw_public
from privacy._db import Db, open_db
from privacy._errors import LedgerError
from privacy._util import Clock, iso, system_clock
from privacy._verify_export import (
    CREATED_ACTION,
    EXPORT_FORMAT,
    GENESIS,
    HEAD_STARTED_ACTION,
    MAX_SEQ,
    MISMATCH_ACTION,
    PRUNE_ACTION,
    LedgerVerification,
    checkpoint_message,
    entry_hash,
    key_id_of,
    mismatch_reason,
    prune_anchor,
    verify_chain,
)
from storage import DatabaseConnection, lock, open_private

__all__ = ["Checkpoint", "Ledger", "LedgerEntry"]

log = logging.getLogger("privacy.ledger")

_COLS = "seq, at, actor, role, action, record, purpose, legal_basis, subject_id, details, prev_hash, entry_hash"
_PARAMS = ", ".join(":" + c for c in _COLS.split(", "))
#: the advisory lock every transaction that appends, signs the head or a checkpoint takes first (PostgreSQL:
#: writers in other sessions wait, so the chain stays linear and the head is always its end)
LEDGER_LOCK = "privacy.ledger"
_END = text("SELECT seq, entry_hash FROM ledger_entries ORDER BY seq DESC LIMIT 1")


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


_HEAD_COLS = "seq, entry_hash, at, key_id, signature"
_HEAD_PARAMS = ", ".join(":" + c for c in _HEAD_COLS.split(", "))
# the ledger's own entries (its creation, the start of signed heads, a mismatch it found)
_SYSTEM_ACTOR = "system:ledger"
_SYSTEM_PURPOSE = "audit_trail_integrity"
_SYSTEM_BASIS = "records of processing operations: Reg. (EU) 2017/2226 Art. 46; GDPR Art. 5(2)"


class Ledger:
    """``Ledger(db, signing_key)``; without a signing key the ledger can be read and verified
    (against the public keys it recorded) but not appended to.

    ``checkpoint_every``: sign a checkpoint automatically after that many appends (None: never).
    ``trusted_keys``: earlier signing keys (after a key rotation) whose checkpoints stay valid.
    """

    def __init__(self, db: Db,
                 signing_key: Ed25519PrivateKey | None = None, *, clock: Clock | None = None,
                 lock: threading.RLock | None = None, checkpoint_every: int | None = 1000,
                 trusted_keys: tuple[Ed25519PublicKey, ...] = ()) -> None:
        self.db = open_db(db, lock=lock)
        self._trusted = tuple(trusted_keys)
        self.clock = clock or system_clock
        self.lock = self.db.lock
        self.checkpoint_every = checkpoint_every
        self._key = signing_key
        self._batching = 0  # open batch() blocks: the head is signed once, at the end of the outermost
        if signing_key is not None:
            raw = raw_public(signing_key.public_key())
            self.key_id = key_id_of(raw)
            with self._writing() as d:
                known = d.scalar(text("SELECT COUNT(*) FROM ledger_keys"))
                d.execute(text("INSERT INTO ledger_keys (key_id, public_key, added_at) VALUES (:k, :p, :at) "
                               "ON CONFLICT (key_id) DO NOTHING"),
                          {"k": self.key_id, "p": base64.b64encode(raw).decode(), "at": iso(self.clock())})
                if not known and self._untouched(d):
                    # a new ledger starts with its signed creation entry: a chain with no entry is a wiped one.
                    # Not when a key was already on record (a ledger was opened here: its entries were
                    # deleted, and the next write records that) nor when a head or checkpoint is left
                    e = self._insert(d, _SYSTEM_ACTOR, "system", CREATED_ACTION, self.key_id, _SYSTEM_PURPOSE,
                                     _SYSTEM_BASIS, iso(self.clock()),
                                     details={"key_id": self.key_id, "public_key": base64.b64encode(raw).decode()})
                    self._sign_head(d, e.seq, e.entry_hash)
        else:
            self.key_id = None

    @contextmanager
    def _writing(self) -> Iterator[DatabaseConnection]:
        """A write transaction (or the caller's, joined) holding the ledger's lock from here to its end."""
        with self.db.tx() as conn:
            lock(conn.connection, LEDGER_LOCK)
            yield conn

    @staticmethod
    def _untouched(db: DatabaseConnection) -> bool:
        """No entry, no stored head, no checkpoint: a ledger never written."""
        return not any(db.first(text(f"SELECT 1 FROM {t} LIMIT 1"))  # noqa: S608
                       for t in ("ledger_entries", "ledger_head", "ledger_checkpoints"))

    # -- keys ------------------------------------------------------------------------------------
    @property
    def public_key_b64(self) -> str | None:
        """The current signer's Ed25519 public key (base64), to pin when verifying an export."""
        if self._key is None:
            return None
        return base64.b64encode(raw_public(self._key.public_key())).decode()

    def _public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Trusted: the signing key in hand and ``trusted_keys``; a key someone added to the table proves
        nothing. With neither, the recorded keys are used (the result says ``key_pinned=False``)."""
        keys = {key_id_of(raw_public(k)): k for k in self._trusted}
        if self._key is not None:
            keys[self.key_id] = self._key.public_key()
        if keys:
            return keys
        for kid, b64 in self._fetch("SELECT key_id, public_key FROM ledger_keys"):
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
        with self._writing() as db:
            if not self._batching:
                self._guard(db)
            entry = self._insert(db, actor, role, action, record, purpose, legal_basis, at, subject_id=subject_id,
                                 details=details)
            if not self._batching:
                self._sign_head(db, entry.seq, entry.entry_hash)
        return entry

    def _insert(self, db: DatabaseConnection, actor: str, role: str, action: str, record: str, purpose: str,
                legal_basis: str, at: str, *, subject_id: str | None = None, details: dict | None = None) -> LedgerEntry:
        """Chain one entry onto the end (and sign a periodic checkpoint when one is due); no head."""
        head = db.execute(_END).first()
        seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
        if seq > MAX_SEQ:
            raise LedgerError(f"the ledger is full (seq {MAX_SEQ})")
        fields = {"seq": seq, "at": at, "actor": actor, "role": role, "action": action, "record": record,
                  "purpose": purpose, "legal_basis": legal_basis, "subject_id": subject_id,
                  "details": None if details is None else json.dumps(details, sort_keys=True, separators=(",", ":"))}
        h = entry_hash(prev, fields)
        db.execute(text(f"INSERT INTO ledger_entries ({_COLS}) VALUES ({_PARAMS})"),  # noqa: S608
                   {**fields, "prev_hash": prev, "entry_hash": h})
        if self.checkpoint_every and seq % self.checkpoint_every == 0:
            self._sign(db, seq, h)
        return LedgerEntry(**fields, prev_hash=prev, entry_hash=h)

    def _guard(self, db: DatabaseConnection) -> None:
        """Before a write signs a new head: the stored head must be the chain's end. When it is not, the
        finding goes into the chain (a ``ledger_head_mismatch`` entry, before the caller's entry, in its
        transaction) and an error is logged; the write goes on, and verification fails on that entry. A
        chain written before heads were signed (no head, and no entry of the signed-head era) gets a
        ``ledger_head_started`` entry instead."""
        end = db.execute(_END).first()
        stored = db.execute(text("SELECT seq, entry_hash FROM ledger_head WHERE id = 1")).first()
        if stored is not None and end is not None and tuple(stored) == tuple(end):
            return  # the common case: one indexed read more per write
        at = iso(self.clock())
        if stored is None and end is not None and not self._signed_head_era(db):
            self._insert(db, _SYSTEM_ACTOR, "system", HEAD_STARTED_ACTION, self.key_id, _SYSTEM_PURPOSE, _SYSTEM_BASIS,
                         at, details={"unsigned_through": end[0], "key_id": self.key_id})
            log.warning("ledger: no signed head over entries 1..%d (written before heads were signed); signed "
                        "heads start now", end[0])
            return
        if stored is None:
            found = "missing" if end is not None else "empty"
        elif end is None:
            found = "empty"
        elif stored[0] > end[0]:
            found = "ahead"
        elif stored[0] < end[0]:
            found = "behind"
        else:
            found = "rewritten"
        details = {"found": found, "head_seq": None if stored is None else stored[0],
                   "head_hash": None if stored is None else stored[1],
                   "chain_end_seq": 0 if end is None else end[0], "chain_end_hash": GENESIS if end is None else end[1]}
        e = self._insert(db, _SYSTEM_ACTOR, "system", MISMATCH_ACTION, "ledger_head", _SYSTEM_PURPOSE, _SYSTEM_BASIS, at,
                         details=details)
        log.error("ledger: %s (recorded as entry %d; verification fails on it)", mismatch_reason(e.seq, details),
                  e.seq)

    @staticmethod
    def _signed_head_era(db: DatabaseConnection) -> bool:
        """Whether the chain holds an entry written under signed heads (its creation entry, the start of
        signed heads, a mismatch record, or a prune record of this version): then a missing head was deleted."""
        marks = (CREATED_ACTION, HEAD_STARTED_ACTION, MISMATCH_ACTION)
        if db.first(text("SELECT 1 FROM ledger_entries WHERE action IN (:a, :b, :c) LIMIT 1"),
                    dict(zip("abc", marks, strict=True))):
            return True
        for (details,) in db.execute(text("SELECT details FROM ledger_entries WHERE action = :a"), {"a": PRUNE_ACTION}):
            try:
                if json.loads(details or "{}").get("signed_head") is True:
                    return True
            except (ValueError, AttributeError):
                continue
        return False

    @contextmanager
    def batch(self) -> Iterator[Ledger]:
        """Append many entries in one transaction, signing the head once at its end instead of after
        every entry (bulk writes; the lock is held throughout, so no other writer sees an unsigned head)."""
        if self._key is None:
            raise LedgerError("this ledger was opened without a signing key (read and verify only)")
        with self._writing() as db:
            if not self._batching:
                self._guard(db)
            self._batching += 1
            try:
                yield self
            finally:
                self._batching -= 1
            if not self._batching:
                head = db.execute(_END).first()
                if head is not None:
                    self._sign_head(db, head[0], head[1])

    def _signed(self, seq: int, h: str) -> Checkpoint:
        at = iso(self.clock())
        sig = base64.b64encode(self._key.sign(checkpoint_message(seq, h, at))).decode()
        return Checkpoint(seq, h, at, self.key_id, sig)

    def _sign(self, db: DatabaseConnection, seq: int, h: str) -> Checkpoint:
        cp = self._signed(seq, h)
        db.execute(text(f"INSERT INTO ledger_checkpoints ({_HEAD_COLS}) VALUES ({_HEAD_PARAMS})"),  # noqa: S608
                   cp.to_dict())
        return cp

    def _sign_head(self, db: DatabaseConnection, seq: int, h: str) -> Checkpoint:
        """Sign the newest entry and keep it as the one ``ledger_head`` row (in the caller's transaction)."""
        cp = self._signed(seq, h)
        db.execute(text(f"INSERT INTO ledger_head (id, {_HEAD_COLS}) VALUES (1, {_HEAD_PARAMS}) "  # noqa: S608
                        "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, entry_hash = excluded.entry_hash, "
                        "at = excluded.at, key_id = excluded.key_id, signature = excluded.signature"), cp.to_dict())
        return cp

    def checkpoint(self) -> Checkpoint:
        """Sign the current head (seq, hash) with the Ed25519 key."""
        if self._key is None:
            raise LedgerError("this ledger was opened without a signing key")
        with self._writing() as db:
            head = db.execute(_END).first()
            seq, h = tuple(head) if head else (0, GENESIS)
            return self._sign(db, seq, h)

    # -- reading ---------------------------------------------------------------------------------
    def _fetch(self, sql: str, params: Mapping | None = None) -> list[tuple]:
        with self.db.read() as db:
            return [tuple(r) for r in db.execute(text(sql), params)]

    def _rows(self, sql: str, params: Mapping | None = None) -> Iterator[LedgerEntry]:
        for r in self._fetch(sql, params):
            yield LedgerEntry(*r)

    def entries(self, after_seq: int = 0, limit: int | None = None) -> list[LedgerEntry]:
        bound = "" if limit is None else " LIMIT :limit"
        return list(self._rows(f"SELECT {_COLS} FROM ledger_entries WHERE seq > :after ORDER BY seq{bound}",  # noqa: S608
                               {"after": after_seq, "limit": limit}))

    def tail(self, limit: int = 100) -> list[LedgerEntry]:
        rows = list(self._rows(f"SELECT {_COLS} FROM ledger_entries ORDER BY seq DESC LIMIT :limit",  # noqa: S608
                               {"limit": limit}))
        return rows[::-1]

    def for_subject(self, subject_id: str) -> list[LedgerEntry]:
        return list(self._rows(f"SELECT {_COLS} FROM ledger_entries WHERE subject_id = :s ORDER BY seq",  # noqa: S608
                               {"s": subject_id}))

    def find(self, action: str, record: str) -> LedgerEntry | None:
        rows = list(self._rows(f"SELECT {_COLS} FROM ledger_entries WHERE action = :a AND record = :r "  # noqa: S608
                               "ORDER BY seq LIMIT 1", {"a": action, "r": record}))
        return rows[0] if rows else None

    def __len__(self) -> int:
        return self._fetch("SELECT COUNT(*) FROM ledger_entries")[0][0]

    def checkpoints(self) -> list[Checkpoint]:
        """The periodic (and explicit) checkpoints, oldest first; the signed head is :meth:`head`."""
        return [Checkpoint(*r) for r in self._fetch(f"SELECT {_HEAD_COLS} FROM ledger_checkpoints ORDER BY seq, id")]  # noqa: S608

    def head(self) -> Checkpoint | None:
        """The stored signed head (signed after every write), None before the first write under it.
        What the back office hands to gates and kiosks (``X-Ledger-Head``) to keep as witnesses."""
        rows = self._fetch(f"SELECT {_HEAD_COLS} FROM ledger_head WHERE id = 1")  # noqa: S608
        return Checkpoint(*rows[0]) if rows else None

    # -- verification and export ----------------------------------------------------------------
    def _iter_dicts(self, chunk: int = 20_000) -> Iterator[dict]:
        names = _COLS.split(", ")
        last = -1
        while True:
            rows = self._fetch(f"SELECT {_COLS} FROM ledger_entries WHERE seq > :last ORDER BY seq LIMIT :n",  # noqa: S608
                               {"last": last, "n": chunk})
            if not rows:
                return
            for r in rows:
                yield dict(zip(names, r, strict=True))
            last = rows[-1][0]

    def verify(self, witnesses: Iterable[Checkpoint | Mapping] = ()) -> LedgerVerification:
        """Check every link and hash, the checkpoints, the stored signed head and the ``witnesses``
        (heads kept by gates and kiosks: one beyond the end is a truncation, one that differs from the
        entry at its seq a rewrite); the newest entry must be covered by a valid signature (an unsigned
        tail fails). Names the first bad entry and the reason."""
        wit = [w.to_dict() if isinstance(w, Checkpoint) else w for w in witnesses]
        with self.db.snapshot():  # one state: writers appending meanwhile leave no unsigned tail in it, and go on
            keys = self._public_keys()
            cps = self._signatures()
            prunes = self._prunes()
            return verify_chain(self._iter_dicts(), cps, keys,
                                key_pinned=self._key is not None or bool(self._trusted), prunes=prunes, witnesses=wit)

    def _signatures(self) -> list[dict]:
        """The checkpoints, then the stored head marked ``"head": true`` (as an export carries them)."""
        cps = [c.to_dict() for c in self.checkpoints()]
        head = self.head()
        return cps if head is None else [*cps, {**head.to_dict(), "head": True}]

    def _prunes(self) -> list[tuple[int, str]]:
        rows = self._fetch("SELECT action, details FROM ledger_entries WHERE action = :a", {"a": PRUNE_ACTION})
        return [a for a in (prune_anchor({"action": r[0], "details": r[1]}) for r in rows) if a is not None]

    # -- retention of the ledger itself ------------------------------------------------------------
    def prunable(self, before: dt.datetime) -> int:
        """How many entries written before ``before`` :meth:`prune` would remove."""
        return self._fetch("SELECT COUNT(*) FROM ledger_entries WHERE at < :before AND seq < "
                           "(SELECT MAX(seq) FROM ledger_entries)", {"before": iso(before)})[0][0]

    def prune(self, before: dt.datetime, *, actor: str = "system:retention", role: str = "system",
              legal_basis: str = "storage limitation of logs: Reg. (EU) 2017/2226 Art. 46(2)",
              batch: int = 10_000) -> int:
        """Remove the oldest entries written before ``before`` (a prefix of the chain), keeping the
        chain verifiable: a ``ledger_prune`` entry records the last removed entry's seq and hash and
        a checkpoint signs it. Batched and resumable (a crash leaves a shorter prefix, still valid);
        returns the number of entries removed."""
        with self._writing() as db:
            through = db.scalar(text("SELECT MAX(seq) FROM ledger_entries WHERE at < :before AND seq < "
                                     "(SELECT MAX(seq) FROM ledger_entries)"), {"before": iso(before)})
            done = max((a[0] for a in self._prunes()), default=0)
            if through is not None and through > done:
                h = db.scalar(text("SELECT entry_hash FROM ledger_entries WHERE seq = :s"), {"s": through})
                self.append(actor, role, PRUNE_ACTION, f"1..{through}", "retention", legal_basis,
                            details={"through_seq": through, "through_hash": h, "signed_head": True})
                self.checkpoint()
            target = max(done, through or 0)
        removed = 0
        while True:
            with self._writing() as db:
                n = db.execute(text("DELETE FROM ledger_entries WHERE seq IN (SELECT seq FROM ledger_entries WHERE "
                                    "seq <= :t ORDER BY seq LIMIT :n)"), {"t": target, "n": batch}).rowcount
                db.execute(text("DELETE FROM ledger_checkpoints WHERE seq <= :t"), {"t": target})
            removed += n
            if n < batch:
                return removed

    def export(self, path: str | Path) -> Path:
        """Write the ledger for an auditor: JSON lines (header with the public keys, entries, the
        checkpoints and the stored signed head, a checkpoint line with ``"head": true``). Nothing is
        signed for the export: a tail the head does not cover stays unsigned, and fails verification."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with self.db.snapshot():  # one state for the whole export
            public = [r[0] for r in self._fetch("SELECT public_key FROM ledger_keys ORDER BY added_at")]
            tmp = path.with_name(path.name + ".tmp")
            with open_private(tmp, encoding="utf-8") as f:
                header = {"type": "header", "format": EXPORT_FORMAT, "hash": "SHA-256", "signature": "Ed25519",
                          "exported_at": iso(self.clock()), "public_keys": public}
                f.write(json.dumps(header) + "\n")
                for e in self._iter_dicts():
                    f.write(json.dumps({"type": "entry", **e}, ensure_ascii=False) + "\n")
                for c in self._signatures():
                    f.write(json.dumps({"type": "checkpoint", **c}) + "\n")
            tmp.replace(path)
        return path
