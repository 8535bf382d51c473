"""The device's outbox: records waiting for the back office, sealed at rest, delivered in order.

One SQLite table (``devicelink_outbox``) holds every item a gate or a kiosk owes the back office:
``event``, ``exception`` and ``enrolment`` records, each under its kind (which decides the endpoint,
:data:`devicelink.ENDPOINTS`). Payloads are sealed by a :class:`Sealer` (the privacy vault, each item its
own data subject) and the item id is the ``Idempotency-Key``, so delivery is at least once from the
device and exactly once at the back office.

- Delivered: the payload is blanked and its data key crypto-shredded (``Sealer.forget``); the row
  stays as a receipt (kind, times), with nothing personal.
- Refused for good (:class:`RecordRejected`), or unreadable (:class:`OutboxCorrupted`): parked, still
  sealed, for an operator; it never blocks the items behind it.
- Back office unavailable (or the credential refused): the round stops, the item and the rest wait.

The outbox owns its database (``Outbox(path, sealer=...)``, in memory with ``Outbox()``), or lives on
a connection its host owns (``Outbox(db=host_db, lock=host_lock, sealer=...)``, the host listing every
migration of :data:`MIGRATIONS` in its own list, by name, each after the host's migrations that were
already recorded when it appeared: :func:`storage.migrate` requires the recorded history to be a
prefix). An item put while the host holds a transaction open on that connection joins it: the gate
writes a transaction's row and its outbox items in one SQLite transaction, so a gate killed in between
leaves nothing partial.

The same database keeps the device's *witness*: the back office's signed ledger head with the highest
seq the device has seen (``devicelink_ledger_head``, one row; :meth:`Outbox.keep_ledger_head`,
:meth:`Outbox.ledger_head`, :func:`stored_ledger_head` for a CLI reading it without a key). An auditor
verifies the back office's ledger against it; a smaller seq never replaces a larger one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import sqlite_utils

from devicelink._client import ENDPOINTS
from devicelink._errors import (
    BackofficeAuthError,
    BackofficeUnavailable,
    OutboxCorrupted,
    OutboxError,
    RecordRejected,
)
from devicelink._sealer import Sealer, ephemeral_sealer
from privacy import Checkpoint, PrivacyError
from storage import Migration, applied_migrations, migrate, open_database, transaction

__all__ = ["Outbox", "OutboxItem", "ParkedItem", "DeliveryReport", "Deliverer", "MIGRATIONS", "KINDS",
           "stored_ledger_head"]

log = logging.getLogger("devicelink")

KINDS = tuple(ENDPOINTS)
_PREFIX = {"event": "evt", "exception": "exc", "enrolment": "enr"}

MIGRATIONS = [
    Migration(
        "devicelink_001_outbox",
        """
        CREATE TABLE devicelink_outbox (
            id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, kind TEXT NOT NULL, ref TEXT,
            payload BLOB NOT NULL, created_at TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT, delivered_at TEXT, parked_at TEXT);
        CREATE INDEX devicelink_outbox_waiting ON devicelink_outbox(delivered_at, parked_at, seq);
        """,
    ),
    # the newest signed ledger head the back office handed this device (X-Ledger-Head): a witness
    Migration(
        "devicelink_002_ledger_head",
        """
        CREATE TABLE devicelink_ledger_head (
            id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, entry_hash TEXT NOT NULL,
            at TEXT NOT NULL, key_id TEXT NOT NULL, signature TEXT NOT NULL, received_at TEXT NOT NULL);
        """,
    ),
]
_HEAD_COLS = "seq, entry_hash, at, key_id, signature"


class Deliverer(Protocol):
    """What the outbox delivers through (:class:`devicelink.BackofficeClient`, or a test double). A
    ``ledger_head`` attribute (a :class:`privacy.Checkpoint`), when it has one, is kept as the witness."""

    def deliver(self, kind: str, payload: dict[str, Any], idempotency_key: str) -> Any:
        """Deliver one item; raise BackofficeUnavailable (incl. BackofficeAuthError) or RecordRejected."""


@dataclass(frozen=True)
class OutboxItem:
    id: str  # also the Idempotency-Key
    kind: str  # "event" | "exception" | "enrolment"
    ref: str | None  # the host's reference (the gate's transaction id)
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class ParkedItem:
    id: str
    kind: str
    error: str  # why the back office refused it (or why it could not be opened)


@dataclass
class DeliveryReport:
    """One delivery round. ``reachable`` is False when the back office could not be reached;
    ``error`` names what stopped the round (``BackofficeUnavailable`` / ``BackofficeAuthError``), empty
    when every item was tried."""

    delivered: dict[str, Any] = field(default_factory=dict)  # item id -> the back office's answer
    parked: dict[str, str] = field(default_factory=dict)  # item id -> why
    kinds: dict[str, str] = field(default_factory=dict)  # item id -> kind, of every item delivered or parked
    pending: int = 0
    reachable: bool = True
    error: str = ""

    def count(self, kind: str) -> int:
        """Items of ``kind`` delivered in this round."""
        return sum(1 for i in self.delivered if self.kinds.get(i) == kind)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _in_memory(db: sqlite_utils.Database) -> bool:
    return all(not row[2] for row in db.execute("PRAGMA database_list").fetchall() if row[1] == "main")


class Outbox:
    """``Outbox(path, sealer=VaultSealer(vault))`` on its own database (refused on disk without a sealer),
    ``Outbox()`` in memory (sealed under an ephemeral key), or ``Outbox(db=host_db, lock=host_lock,
    sealer=...)`` on a connection its host owns and guards with ``lock``."""

    def __init__(self, path: str | Path | None = None, *, sealer: Sealer | None = None,
                 db: sqlite_utils.Database | None = None, lock: threading.RLock | None = None,
                 clock: Callable[[], dt.datetime] = _now) -> None:
        if path is not None and db is not None:
            raise OutboxError("give the outbox a database path or a host's connection, not both")
        if db is None:
            self.db = open_database(path, memory=path is None)
            migrate(self.db, MIGRATIONS)
            self._own = True
        else:
            missing = [m.name for m in MIGRATIONS if m.name not in applied_migrations(db)]
            if missing:
                raise OutboxError(f"the host database lacks devicelink.MIGRATIONS ({', '.join(missing)})")
            self.db, self._own = db, False
        if sealer is None:
            if not _in_memory(self.db):
                raise OutboxError("an outbox on disk needs a sealer (the privacy vault) for its payloads")
            sealer = ephemeral_sealer()
        self.sealer = sealer
        self.clock = clock
        self.lock = lock or threading.RLock()  # guards the connection (the host's lock when it is shared)
        self._delivering = threading.Lock()  # one delivery round at a time
        self.db.execute("PRAGMA secure_delete = ON")  # blanked payloads do not linger in free pages

    def close(self) -> None:
        if self._own:
            self.db.conn.close()

    def _transaction(self):
        """Its own transaction, or the one the host holds open (the host commits): storage.transaction."""
        return transaction(self.db, self.lock)

    # -- items -------------------------------------------------------------------------------------
    @staticmethod
    def new_id(kind: str) -> str:
        """Sortable by time, the prefix naming the kind (``evt-``, ``exc-``, ``enr-``); 1-200 visible ASCII
        characters, as an Idempotency-Key must be."""
        return f"{_PREFIX[kind]}-{time.time_ns():x}-{secrets.token_hex(8)}"

    def put(self, kind: str, payload: dict[str, Any], *, ref: str | None = None, item_id: str | None = None) -> str:
        """Seal and queue one record for the endpoint of ``kind``; returns its id (the Idempotency-Key)."""
        if kind not in _PREFIX:
            raise OutboxError(f"unknown outbox item kind {kind!r} (one of {', '.join(KINDS)})")
        item_id = self.new_id(kind) if item_id is None else item_id
        if not (0 < len(item_id) <= 200 and all("\x21" <= c <= "\x7e" for c in item_id)):
            raise OutboxError(f"bad outbox item id {item_id!r}: 1-200 visible ASCII characters")
        try:
            sealed = self.sealer.seal(item_id, json.dumps(payload, separators=(",", ":"),
                                                          ensure_ascii=False).encode())
        except (TypeError, ValueError, PrivacyError) as e:
            raise OutboxError(f"cannot seal outbox item {item_id}: {type(e).__name__}: {e}") from e
        with self._transaction() as conn:
            seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM devicelink_outbox").fetchone()[0]
            try:
                conn.execute("INSERT INTO devicelink_outbox (id, seq, kind, ref, payload, created_at) "
                             "VALUES (?, ?, ?, ?, ?, ?)", (item_id, seq, kind, ref, sealed, self.clock().isoformat()))
            except sqlite3.IntegrityError as e:  # the id is taken
                raise OutboxError(f"cannot store outbox item {item_id}: {e}") from e
        return item_id

    def _waiting(self, kind: str | None = None, limit: int | None = None, after: int = 0,
                 only: str | None = None) -> list[tuple[str, str, int]]:
        """(id, kind, seq) of the waiting items after ``seq``, in order."""
        with self.lock:
            return self.db.execute(
                "SELECT id, kind, seq FROM devicelink_outbox WHERE delivered_at IS NULL AND parked_at IS NULL "
                "AND seq > ?1 AND (?2 IS NULL OR kind = ?2) AND (?3 IS NULL OR id = ?3) ORDER BY seq LIMIT ?4",
                (after, kind, only, limit if limit else -1)).fetchall()

    def pending_ids(self, kind: str | None = None) -> list[str]:
        """Ids of the items waiting for delivery, in order (``kind`` filters)."""
        return [r[0] for r in self._waiting(kind)]

    def pending(self, kind: str | None = None, *, limit: int | None = None) -> list[OutboxItem]:
        """The waiting items with their payloads opened, in order."""
        out = []
        for item_id, _, _ in self._waiting(kind, limit):
            with self.lock:
                row = self.db.execute("SELECT kind, ref, attempts FROM devicelink_outbox WHERE id = ?",
                                      (item_id,)).fetchone()
            out.append(OutboxItem(item_id, row[0], row[1], self.load(item_id), row[2]))
        return out

    def pending_count(self, kind: str | None = None) -> int:
        with self.lock:
            return self.db.execute("SELECT COUNT(*) FROM devicelink_outbox WHERE delivered_at IS NULL "
                                   "AND parked_at IS NULL AND (?1 IS NULL OR kind = ?1)", (kind,)).fetchone()[0]

    def __len__(self) -> int:
        return self.pending_count()

    def parked(self) -> list[ParkedItem]:
        """Items refused for good or unreadable: kept (sealed) for an operator, never retried."""
        with self.lock:
            rows = self.db.execute("SELECT id, kind, last_error FROM devicelink_outbox WHERE parked_at IS NOT NULL "
                                   "ORDER BY seq").fetchall()
        return [ParkedItem(r[0], r[1], r[2] or "") for r in rows]

    def load(self, item_id: str) -> dict[str, Any]:
        """The payload of a waiting or parked item. Raises OutboxError (no such item, or delivered:
        nothing is left) or OutboxCorrupted (it cannot be opened)."""
        with self.lock:
            row = self.db.execute("SELECT payload, delivered_at FROM devicelink_outbox WHERE id = ?",
                                  (item_id,)).fetchone()
        if row is None:
            raise OutboxError(f"no outbox item {item_id}")
        if row[1] is not None:
            raise OutboxError(f"outbox item {item_id} was delivered: its payload is gone")
        try:
            return json.loads(self.sealer.open(item_id, bytes(row[0])))
        except (PrivacyError, ValueError) as e:  # IntegrityError, KeyNotFoundError, SubjectShreddedError, bad JSON
            raise OutboxCorrupted(f"outbox item {item_id} cannot be opened: {type(e).__name__}") from e

    def mark_delivered(self, item_id: str) -> None:
        """The back office has it: blank the payload and shred its key; nothing personal stays behind."""
        with self._transaction() as conn:
            conn.execute("UPDATE devicelink_outbox SET delivered_at = ?, payload = X'' WHERE id = ?",
                         (self.clock().isoformat(), item_id))
        forget = getattr(self.sealer, "forget", None)
        if forget is not None:
            forget(item_id)

    def park(self, item_id: str, error: str) -> None:
        with self._transaction() as conn:
            conn.execute("UPDATE devicelink_outbox SET parked_at = ?, last_error = ?, attempts = attempts + 1 "
                         "WHERE id = ?", (self.clock().isoformat(), error[:300], item_id))

    def mark_failed(self, item_id: str, error: str) -> None:
        with self._transaction() as conn:
            conn.execute("UPDATE devicelink_outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                         (error[:300], item_id))

    # -- the witness: the newest signed ledger head seen ------------------------------------------------
    def keep_ledger_head(self, head: Checkpoint) -> bool:
        """Keep ``head`` if its seq is higher than the kept one's (True when kept). The device cannot
        check the signature (the auditor does); two different heads at one seq are logged."""
        with self._transaction() as conn:
            row = conn.execute("SELECT seq, entry_hash FROM devicelink_ledger_head WHERE id = 1").fetchone()
            if row is not None and head.seq <= row[0]:
                if head.seq == row[0] and head.entry_hash != row[1]:
                    log.error("the back office signed two different ledger heads at seq %d (kept the first): "
                              "its ledger was rewritten", head.seq)
                return False
            conn.execute(f"INSERT INTO devicelink_ledger_head (id, {_HEAD_COLS}, received_at) "  # noqa: S608
                         "VALUES (1, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, "
                         "entry_hash = excluded.entry_hash, at = excluded.at, key_id = excluded.key_id, "
                         "signature = excluded.signature, received_at = excluded.received_at",
                         (head.seq, head.entry_hash, head.at, head.key_id, head.signature, self.clock().isoformat()))
        return True

    def ledger_head(self) -> Checkpoint | None:
        """The newest signed ledger head kept (None: the back office has not been reached since)."""
        with self.lock:
            row = self.db.execute(f"SELECT {_HEAD_COLS} FROM devicelink_ledger_head WHERE id = 1").fetchone()  # noqa: S608
        return None if row is None else Checkpoint(*row)

    def _keep_client_head(self, client: Deliverer) -> None:
        """Keep the newest head the client has seen (so a device keeps it without wiring the client's
        ``on_ledger_head``); a failure is logged, never the end of a delivery round."""
        head = getattr(client, "ledger_head", None)
        if isinstance(head, Checkpoint):
            try:
                self.keep_ledger_head(head)
            except sqlite3.Error as e:
                log.warning("the ledger head at seq %d was not kept: %s", head.seq, e)

    # -- delivery ----------------------------------------------------------------------------------
    def deliver(self, client: Deliverer, *, only: str | None = None, batch: int = 100) -> DeliveryReport:
        """Send the waiting items in order (``only``: that one item). Delivered -> shredded; refused for
        good or unreadable -> parked; back office unavailable or credential refused -> the round stops
        and everything else waits. The network is used without holding the connection's lock. The
        newest signed ledger head the client has seen (``client.ledger_head``) is kept at the end."""
        try:
            return self._deliver(client, only=only, batch=batch)
        finally:
            self._keep_client_head(client)

    def _deliver(self, client: Deliverer, *, only: str | None, batch: int) -> DeliveryReport:
        with self._delivering:
            report = DeliveryReport()
            if only is not None:
                for item_id, kind, _ in self._waiting(only=only):
                    self._deliver_one(client, item_id, kind, report)
            else:
                after = 0
                while rows := self._waiting(limit=batch, after=after):
                    if not all(self._deliver_one(client, item_id, kind, report) for item_id, kind, _ in rows):
                        break
                    after = rows[-1][2]
            report.pending = self.pending_count()
            return report

    def _deliver_one(self, client: Deliverer, item_id: str, kind: str, report: DeliveryReport) -> bool:
        """Deliver one item into ``report``; False when the round must stop (back office unavailable)."""
        try:
            payload = self.load(item_id)
        except OutboxCorrupted as e:
            self.park(item_id, str(e))
            report.parked[item_id], report.kinds[item_id] = str(e), kind
            return True
        try:
            answer = client.deliver(kind, payload, item_id)
        except BackofficeUnavailable as e:
            self.mark_failed(item_id, str(e))
            report.reachable = isinstance(e, BackofficeAuthError)
            report.error = type(e).__name__
            return False
        except RecordRejected as e:
            self.park(item_id, str(e))
            report.parked[item_id], report.kinds[item_id] = str(e), kind
            return True
        finally:
            payload = None  # noqa: F841 - drop the opened record at once
        self.mark_delivered(item_id)
        report.delivered[item_id], report.kinds[item_id] = answer, kind
        return True


def stored_ledger_head(path: str | Path) -> Checkpoint | None:
    """The witness head kept in a device's database (the gate's ``gate.db``, the kiosk's outbox), read
    only: no key, no migration, nothing written. Raises :class:`OutboxError` when the file is missing,
    not a database, or keeps no witness table (a database from before ``devicelink_002_ledger_head``
    that the device has not opened since)."""
    path = Path(path)
    if not path.is_file():
        raise OutboxError(f"no device database at {path}")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as e:
        raise OutboxError(f"cannot open {path}: {e}") from e
    try:
        row = conn.execute(f"SELECT {_HEAD_COLS} FROM devicelink_ledger_head WHERE id = 1").fetchone()  # noqa: S608
    except sqlite3.Error as e:
        raise OutboxError(f"{path} keeps no ledger head ({e}): not a device database, or not opened by this "
                          "version yet") from e
    finally:
        conn.close()
    return None if row is None else Checkpoint(*row)
