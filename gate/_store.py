"""The gate's local database: offline watchlist copy, transactions, and the outbox.

Offline first: the gate decides from its own SQLite file and queues what the back office must
know (events and exception records) in the device outbox (:class:`devicelink.Outbox`, on this
database's connection) that a sync loop drains whenever the back office is reachable. Every outbox
item has an idempotency key, so redelivery after a crash or a lost response never creates a
duplicate at the back office.

A transaction is written once, at its end, together with its outbox items, in one SQLite
transaction: a gate killed mid-transaction leaves no partial record and loses no queued item.
Outbox payloads pass through a :class:`devicelink.Sealer` (the privacy vault) so exception images are
encrypted at rest; a store on disk refuses to open without one, and an in-memory store seals under an
ephemeral key. Transaction rows hold no biometric data.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import devicelink
from storage import Migration, migrate, open_database, transaction

__all__ = ["GateStore", "StoreError"]


class StoreError(RuntimeError):
    """The local database refused an operation (e.g. a watchlist delta out of order)."""


def _drop_gate_outbox(db) -> None:
    """The outbox moved to ``devicelink_outbox`` (sealed per item under another vault category). Items of
    the old table are not carried over: a database still holding one is refused, never emptied."""
    waiting = db.execute("SELECT COUNT(*) FROM gate_outbox WHERE delivered_at IS NULL").fetchone()[0]
    if waiting:
        raise StoreError(f"{waiting} outbox item(s) of the previous format are not delivered: deliver them with "
                         "the previous version before upgrading")
    db.execute("DROP TABLE gate_outbox")


_DEVICELINK = {m.name: m for m in devicelink.MIGRATIONS}
MIGRATIONS = [
    Migration(
        "gate_001_initial",
        """
        CREATE TABLE gate_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE gate_watchlist (
            entry_id TEXT PRIMARY KEY, kind TEXT NOT NULL, data TEXT NOT NULL, version INTEGER NOT NULL);
        CREATE TABLE gate_transactions (
            id TEXT PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT NOT NULL,
            outcome TEXT NOT NULL, reasons TEXT NOT NULL, decision TEXT NOT NULL, timings TEXT NOT NULL);
        CREATE TABLE gate_outbox (
            id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, kind TEXT NOT NULL,
            transaction_id TEXT, payload BLOB NOT NULL, created_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, delivered_at TEXT, parked_at TEXT);
        CREATE INDEX gate_outbox_pending ON gate_outbox(delivered_at, seq);
        """,
    ),
    _DEVICELINK["devicelink_001_outbox"],
    Migration("gate_002_outbox_moved_to_devicelink", _drop_gate_outbox),
    # devicelink's later migrations, by name, each after the gate's own that a deployed gate.db already
    # recorded (storage.migrate wants the recorded history as a prefix); the outbox refuses to open on a
    # database that lacks one of devicelink.MIGRATIONS
    _DEVICELINK["devicelink_002_ledger_head"],
    _DEVICELINK["devicelink_003_ledger_heads"],
]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class GateStore:
    """``GateStore(path, sealer=VaultSealer(vault))`` on disk, ``GateStore()`` in memory (sealed under an
    ephemeral key). ``outbox`` is the device outbox (:class:`devicelink.Outbox`) on this connection."""

    def __init__(self, path: str | Path | None = None, *, sealer: devicelink.Sealer | None = None,
                 clock: Callable[[], dt.datetime] = _now) -> None:
        if sealer is None and path is not None:
            raise StoreError("a gate database on disk needs a sealer (the privacy vault) for its outbox")
        self.db = open_database(path, memory=path is None)
        migrate(self.db, MIGRATIONS)
        self.clock = clock
        self._lock = threading.RLock()  # one connection, shared by the workflow and the sync thread
        self.outbox = devicelink.Outbox(db=self.db, lock=self._lock, sealer=sealer, clock=clock)

    def ledger_head(self):
        """The gate's witness with the highest seq the back office handed it (a :class:`privacy.Checkpoint`,
        None before the first answer), kept by its outbox."""
        return self.outbox.ledger_head()

    def ledger_heads(self):
        """The gate's witness history (:class:`devicelink.KeptHead`, in the order received)."""
        return self.outbox.ledger_heads()

    def _transaction(self):
        return transaction(self.db, self._lock)

    def _all(self, sql: str, args: tuple = ()) -> list[Any]:
        with self._lock:
            return self.db.execute(sql, args).fetchall()

    def _one(self, sql: str, args: tuple = ()) -> Any:
        with self._lock:
            return self.db.execute(sql, args).fetchone()

    # --- watchlist copy -------------------------------------------------------------------------
    def watchlist_version(self) -> int:
        row = self._one("SELECT value FROM gate_meta WHERE key='watchlist_version'")
        return int(row[0]) if row else 0

    def watchlist_synced_at(self) -> dt.datetime | None:
        row = self._one("SELECT value FROM gate_meta WHERE key='watchlist_synced_at'")
        return dt.datetime.fromisoformat(row[0]) if row else None

    def watchlist_age_s(self) -> float | None:
        synced = self.watchlist_synced_at()
        return None if synced is None else (self.clock() - synced).total_seconds()

    def apply_watchlist_changes(self, changes: Iterable[dict[str, Any]], new_version: int) -> int:
        """Apply a delta feed atomically. Each change: {version, op: upsert|delete, id, kind, data}."""
        current = self.watchlist_version()
        if new_version < current:
            raise StoreError(f"watchlist delta to version {new_version} is older than local {current}")
        applied = 0
        try:
            with self._transaction() as conn:
                for ch in changes:
                    if int(ch["version"]) <= current:
                        continue
                    if ch["op"] == "delete":
                        conn.execute("DELETE FROM gate_watchlist WHERE entry_id = ?", (str(ch["id"]),))
                    elif ch["op"] == "upsert":
                        conn.execute(
                            "INSERT INTO gate_watchlist (entry_id, kind, data, version) VALUES (?, ?, ?, ?) "
                            "ON CONFLICT(entry_id) DO UPDATE SET kind=excluded.kind, data=excluded.data, "
                            "version=excluded.version",
                            (str(ch["id"]), str(ch["kind"]), json.dumps(ch["data"], ensure_ascii=False),
                             int(ch["version"])),
                        )
                    else:
                        raise StoreError(f"unknown watchlist change op {ch['op']!r}")
                    applied += 1
                self._set_meta(conn, "watchlist_version", str(new_version))
                self._set_meta(conn, "watchlist_synced_at", self.clock().isoformat())
        except (KeyError, TypeError, ValueError) as e:
            raise StoreError(f"malformed watchlist change: {e}") from e
        return applied

    def reset_watchlist(self) -> None:
        """Drop the local copy (the back office said ``reset``: we are ahead of it, e.g. after a
        restore); the next sync starts again from version 0. Until then the copy counts as stale."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM gate_watchlist")
            conn.execute("DELETE FROM gate_meta WHERE key IN ('watchlist_version', 'watchlist_synced_at', "
                         "'watchlist_etag')")

    def watchlist_etag(self) -> str | None:
        row = self._one("SELECT value FROM gate_meta WHERE key='watchlist_etag'")
        return row[0] if row else None

    def set_watchlist_etag(self, etag: str | None) -> None:
        with self._transaction() as conn:
            if etag is None:
                conn.execute("DELETE FROM gate_meta WHERE key='watchlist_etag'")
            else:
                self._set_meta(conn, "watchlist_etag", etag)

    def mark_watchlist_fresh(self) -> None:
        """The back office confirmed the copy is current (e.g. 304 Not Modified)."""
        with self._transaction() as conn:
            self._set_meta(conn, "watchlist_synced_at", self.clock().isoformat())

    # --- the trust store's rollback floor ------------------------------------------------------------
    def trust_floor(self) -> tuple[int, str | None]:
        """The highest trust store version this gate ever accepted and its digest ((0, None): none). Kept here,
        not in the trust store's directory: a damaged or deleted installed store must not lower it."""
        row = self._one("SELECT value FROM gate_meta WHERE key='trust_floor'")
        if not row:
            return 0, None
        v = json.loads(row[0])
        return int(v["version"]), v.get("digest")

    def raise_trust_floor(self, version: int, digest: str | None) -> None:
        """Keep ``version`` (and its digest) as the floor when it is above the one held; never lowers it."""
        with self._transaction() as conn:
            row = conn.execute("SELECT value FROM gate_meta WHERE key='trust_floor'").fetchone()
            if row is None or int(json.loads(row[0])["version"]) < int(version):
                self._set_meta(conn, "trust_floor", json.dumps({"version": int(version), "digest": digest}))

    def watchlist_entries(self, kind: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT entry_id, kind, data FROM gate_watchlist"
        with self._lock:
            rows = self.db.execute(sql + (" WHERE kind = ?" if kind else ""), (kind,) if kind else ()).fetchall()
        return [{"id": r[0], "kind": r[1], **json.loads(r[2])} for r in rows]

    @staticmethod
    def _set_meta(conn, key: str, value: str) -> None:
        conn.execute("INSERT INTO gate_meta (key, value) VALUES (?, ?) "
                     "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, value))

    # --- transactions and their outbox items ----------------------------------------------------
    def record_transaction(self, transaction_id: str, *, started_at: dt.datetime, outcome: str,
                           decision: dict[str, Any], timings: dict[str, float],
                           outbox: Iterable[tuple[str, dict[str, Any]]]) -> list[str]:
        """Write a finished transaction and its outbox items (kind, payload) in one SQLite transaction;
        return the items' ids."""
        now = self.clock().isoformat()
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO gate_transactions (id, started_at, finished_at, outcome, reasons, decision, timings) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (transaction_id, started_at.isoformat(), now, outcome, json.dumps(decision.get("reasons", [])),
                 json.dumps(decision, ensure_ascii=False), json.dumps(timings)),
            )
            return [self.outbox.put(kind, payload, ref=transaction_id) for kind, payload in outbox]

    def database_path(self) -> Path | None:
        """The resolved path of this store's database file (None: in memory): two stores on one file share a
        watchlist copy, records and outbox (the joint lane refuses it)."""
        rows = self._all("PRAGMA database_list")
        file = next((r[2] for r in rows if r[1] == "main"), "")
        return Path(file).resolve() if file else None

    def amend_transaction(self, transaction_id: str, *, outcome: str, note: dict[str, Any],
                          outbox: Iterable[tuple[str, dict[str, Any]]]) -> list[str]:
        """A follow-up to a transaction already written (the joint lane: recorded ``open``, but the partner's
        record failed and the door stayed shut): its outcome becomes ``outcome``, its decision keeps what was
        decided with ``note`` under ``amended``, and the outbox items (the follow-up event) are queued, in one
        SQLite transaction; returns the items' ids. An unknown transaction is a StoreError."""
        with self._transaction() as conn:
            row = conn.execute("SELECT decision FROM gate_transactions WHERE id = ?", (transaction_id,)).fetchone()
            if row is None:
                raise StoreError(f"no transaction {transaction_id!r} to amend")
            decision = json.loads(row[0]) | {"amended": note}
            conn.execute("UPDATE gate_transactions SET outcome = ?, decision = ? WHERE id = ?",
                         (outcome, json.dumps(decision, ensure_ascii=False), transaction_id))
            return [self.outbox.put(kind, payload, ref=transaction_id) for kind, payload in outbox]

    def transactions(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self.db.execute("SELECT id, outcome, decision FROM gate_transactions ORDER BY finished_at").fetchall()
        return [{"id": r[0], "outcome": r[1], "decision": json.loads(r[2])} for r in rows]
