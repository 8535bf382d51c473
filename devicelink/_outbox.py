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

The same database keeps the device's *witnesses*: a bounded history of the back office's signed ledger
heads (``devicelink_ledger_heads``; :meth:`Outbox.keep_ledger_head`, :meth:`Outbox.ledger_heads`,
:func:`stored_ledger_heads` for a CLI reading them without a key). A head is never overwritten: the
history keeps the newest, every head received in the last 10 minutes, one per minute for a day and one
per hour before (thinning: the last received in each), and every head that *conflicts* with what was
seen: one whose seq is lower than the one received before it (the ledger went back: a restored backup)
with that one, and any at an already kept seq with another hash, both sides. Conflicts are never thinned;
past :data:`MAX_LEDGER_HEADS` rows the oldest thinned heads go first, and past
:data:`MAX_LEDGER_CONFLICTS` a new conflict is kept as an ordinary head (an error is logged). An auditor
verifies the back office's ledger against all of them (``smartborder gate witness`` exports them): a
ledger rolled back to an old copy and written past the seq a device saw fails at that seq (rewritten).
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

__all__ = ["Outbox", "OutboxItem", "ParkedItem", "DeliveryReport", "Deliverer", "KeptHead", "MIGRATIONS", "KINDS",
           "MAX_LEDGER_HEADS", "MAX_LEDGER_CONFLICTS", "stored_ledger_head", "stored_ledger_heads"]

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
    # a history of heads instead of the newest one: one kept head overwritten by a later one lets a ledger
    # rolled back to an old copy launder itself once it passes the seq the device saw. The head kept so far
    # is carried over.
    Migration(
        "devicelink_003_ledger_heads",
        """
        CREATE TABLE devicelink_ledger_heads (
            id INTEGER PRIMARY KEY AUTOINCREMENT, seq INTEGER NOT NULL, entry_hash TEXT NOT NULL,
            at TEXT NOT NULL, key_id TEXT NOT NULL, signature TEXT NOT NULL, received_at TEXT NOT NULL,
            conflict TEXT);
        CREATE INDEX devicelink_ledger_heads_seq ON devicelink_ledger_heads(seq);
        INSERT INTO devicelink_ledger_heads (seq, entry_hash, at, key_id, signature, received_at)
            SELECT seq, entry_hash, at, key_id, signature, received_at FROM devicelink_ledger_head;
        DROP TABLE devicelink_ledger_head;
        """,
    ),
]
_HEAD_COLS = "seq, entry_hash, at, key_id, signature"
_HEADS = "devicelink_ledger_heads"

#: the most ledger heads a device keeps (the oldest thinned ones go first)
MAX_LEDGER_HEADS = 5000
#: the most conflicting heads kept as such; past it a new conflict is kept as an ordinary head (logged)
MAX_LEDGER_CONFLICTS = 4000
_KEEP_ALL = dt.timedelta(minutes=10)  # every head received this recently
_PER_MINUTE = dt.timedelta(days=1)  # then one per minute for a day, one per hour before


@dataclass(frozen=True)
class KeptHead:
    """A ledger head in a device's witness history: when the device received it, and why it is evidence
    beyond thinning (``conflict``, None for an ordinary head)."""

    head: Checkpoint
    received_at: str
    conflict: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The head's five fields (what ``verify-ledger --witness`` reads) with ``received_at`` and, for a
        conflict, ``conflict``."""
        out: dict[str, Any] = {**self.head.to_dict(), "received_at": self.received_at}
        if self.conflict:
            out["conflict"] = self.conflict
        return out


class Deliverer(Protocol):
    """What the outbox delivers through (:class:`devicelink.BackofficeClient`, or a test double). A
    ``ledger_head`` attribute (a :class:`privacy.Checkpoint`), when it has one, joins the witness history."""

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

    # -- the witnesses: a history of the signed ledger heads seen -----------------------------------------
    def keep_ledger_head(self, head: Checkpoint) -> bool:
        """Add ``head`` to the witness history (True when a row was added; a head already kept is not added
        twice). Nothing is overwritten; a head conflicting with what was seen is kept with the head it
        conflicts with (see the module's docstring), then the history is thinned. The device does not check
        the signature here (the client does when a key is pinned; the auditor always does). Raises
        :class:`OutboxError` for a head that is not well formed."""
        problem = head.head_problem() if isinstance(head, Checkpoint) else "not a privacy.Checkpoint"
        if problem is not None:
            raise OutboxError(f"not a ledger head: {problem}")
        now = self.clock()
        received = _iso(now)
        fields = (head.seq, head.entry_hash, head.at, head.key_id, head.signature)
        with self._transaction() as conn:
            if conn.execute(f"SELECT 1 FROM {_HEADS} WHERE seq = ? AND entry_hash = ? AND at = ? AND key_id = ? "  # noqa: S608
                            "AND signature = ?", fields).fetchone():
                return False
            last = conn.execute(f"SELECT id, seq, received_at FROM {_HEADS} ORDER BY id DESC LIMIT 1").fetchone()  # noqa: S608
            forks = [r[0] for r in conn.execute(f"SELECT id FROM {_HEADS} WHERE seq = ? AND entry_hash != ?",  # noqa: S608
                                                (head.seq, head.entry_hash))]
            reasons, pin = [], list(forks)
            if forks:
                reasons.append(f"another entry hash at seq {head.seq} than a head kept before: the ledger was rewritten")
            if last is not None and head.seq < last[1]:
                reasons.append(f"seq {head.seq} received after seq {last[1]}: the ledger went back (restored from an "
                               "old copy, or two answers crossed)")
                pin.append(last[0])
            conflict = "; ".join(reasons) or None
            if conflict is not None:
                held = conn.execute(f"SELECT COUNT(*) FROM {_HEADS} WHERE conflict IS NOT NULL").fetchone()[0]  # noqa: S608
                if held + len(pin) + 1 > MAX_LEDGER_CONFLICTS:
                    log.error("ledger head at seq %d conflicts (%s) but %d conflicting heads are kept already (the "
                              "most): it is kept as an ordinary head, and may be thinned", head.seq, conflict, held)
                    conflict = None
                else:
                    (log.error if forks else log.warning)("ledger head at seq %d kept as evidence: %s", head.seq,
                                                          conflict)
                    for row in pin:
                        conn.execute(f"UPDATE {_HEADS} SET conflict = COALESCE(conflict, ?) WHERE id = ?",  # noqa: S608
                                     (conflict, row))
            conn.execute(f"INSERT INTO {_HEADS} ({_HEAD_COLS}, received_at, conflict) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                         (*fields, received, conflict))
            if last is None or last[2][:16] != received[:16]:  # thinned once a minute at most
                self._thin(conn, now)
        return True

    def _thin(self, conn: sqlite_utils.Database, now: dt.datetime) -> None:
        """Drop ordinary heads the history no longer needs: of those received more than 10 minutes ago keep
        the last received in each minute (the last day) or hour (before); then, past MAX_LEDGER_HEADS rows,
        the oldest ordinary ones. Never a conflict, never the newest."""
        recent, day = _iso(now - _KEEP_ALL), _iso(now - _PER_MINUTE)
        newest = conn.execute(f"SELECT MAX(id) FROM {_HEADS}").fetchone()[0]  # noqa: S608
        conn.execute(
            f"DELETE FROM {_HEADS} WHERE conflict IS NULL AND id != ?1 AND received_at < ?2 AND id NOT IN ("  # noqa: S608
            f"SELECT MAX(id) FROM {_HEADS} WHERE conflict IS NULL AND received_at < ?2 GROUP BY "
            "CASE WHEN received_at >= ?3 THEN substr(received_at, 1, 16) ELSE substr(received_at, 1, 13) END)",
            (newest, recent, day))
        excess = conn.execute(f"SELECT COUNT(*) FROM {_HEADS}").fetchone()[0] - MAX_LEDGER_HEADS  # noqa: S608
        if excess > 0:
            conn.execute(f"DELETE FROM {_HEADS} WHERE id IN (SELECT id FROM {_HEADS} WHERE conflict IS NULL AND "  # noqa: S608
                         "id != ? ORDER BY id LIMIT ?)", (newest, excess))

    def ledger_heads(self) -> list[KeptHead]:
        """Every head in the witness history, in the order received."""
        with self.lock:
            rows = self.db.execute(f"SELECT {_HEAD_COLS}, received_at, conflict FROM {_HEADS} ORDER BY id").fetchall()  # noqa: S608
        return [KeptHead(Checkpoint(*r[:5]), r[5], r[6]) for r in rows]

    def ledger_head(self) -> Checkpoint | None:
        """The kept head with the highest seq (None: the back office has not been reached since)."""
        with self.lock:
            row = self.db.execute(f"SELECT {_HEAD_COLS} FROM {_HEADS} ORDER BY seq DESC, id DESC LIMIT 1").fetchone()  # noqa: S608
        return None if row is None else Checkpoint(*row)

    def _keep_client_head(self, client: Deliverer) -> None:
        """Keep the last head the client received (so a device keeps it without wiring the client's
        ``on_ledger_head``); any failure is logged, never the end of a delivery round."""
        try:
            head = getattr(client, "ledger_head", None)
            if isinstance(head, Checkpoint):
                self.keep_ledger_head(head)
        except Exception as e:  # noqa: BLE001 - a witness must never fail a delivery round (or the gate's sync)
            log.warning("the back office's ledger head was not kept: %s: %s", type(e).__name__, e)

    # -- delivery ----------------------------------------------------------------------------------
    def deliver(self, client: Deliverer, *, only: str | None = None, batch: int = 100) -> DeliveryReport:
        """Send the waiting items in order (``only``: that one item). Delivered -> shredded; refused for
        good or unreadable -> parked; back office unavailable or credential refused -> the round stops
        and everything else waits. The network is used without holding the connection's lock. The
        last signed ledger head the client received (``client.ledger_head``) joins the witness history at
        the end (a client wired with ``on_ledger_head`` has kept every one already)."""
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


def _iso(t: dt.datetime) -> str:
    """UTC, always with microseconds: the history's times sort and bucket as strings."""
    return t.astimezone(dt.UTC).isoformat(timespec="microseconds")


def stored_ledger_heads(path: str | Path) -> list[KeptHead]:
    """The witness history kept in a device's database (the gate's ``gate.db``, the kiosk's outbox), in the
    order received, read only: no key, no migration, nothing written. A database the device has not opened
    since ``devicelink_003_ledger_heads`` gives its one kept head. Raises :class:`OutboxError` when the file
    is missing, not a database, or keeps no witness table."""
    path = Path(path)
    if not path.is_file():
        raise OutboxError(f"no device database at {path}")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as e:
        raise OutboxError(f"cannot open {path}: {e}") from e
    try:
        try:
            rows = conn.execute(f"SELECT {_HEAD_COLS}, received_at, conflict FROM {_HEADS} ORDER BY id").fetchall()  # noqa: S608
        except sqlite3.Error:
            rows = [(*r, None) for r in conn.execute(f"SELECT {_HEAD_COLS}, received_at FROM devicelink_ledger_head "  # noqa: S608
                                                     "WHERE id = 1")]
    except sqlite3.Error as e:
        raise OutboxError(f"{path} keeps no ledger head ({e}): not a device database, or not opened by this "
                          "version yet") from e
    finally:
        conn.close()
    return [KeptHead(Checkpoint(*r[:5]), r[5], r[6]) for r in rows]


def stored_ledger_head(path: str | Path) -> Checkpoint | None:
    """The kept head with the highest seq in a device's database (:func:`stored_ledger_heads`)."""
    heads = [k.head for k in stored_ledger_heads(path)]
    return max(reversed(heads), key=lambda h: h.seq, default=None)  # the last received of the highest seq
