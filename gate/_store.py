"""The gate's local database: offline watchlist copy, transactions, and the outbox.

Offline first: the gate decides from its own SQLite file and queues what the back office must
know (events and exception records) in an outbox that a sync loop drains whenever the back
office is reachable. Every outbox item has an idempotency key, so redelivery after a crash or a
lost response never creates a duplicate at the back office.

A transaction is written once, at its end, together with its outbox items, in one SQLite
transaction: a gate killed mid-transaction leaves no partial record and loses no queued item.
Outbox payloads pass through a :class:`Sealer` (the privacy vault) so exception images are encrypted
at rest; a store on disk refuses to open without one, and an in-memory store seals under an
ephemeral key. Transaction rows hold no biometric data.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from storage import Migration, migrate, open_database

__all__ = ["GateStore", "OutboxItem", "Sealer", "ephemeral_sealer", "VaultSealer", "StoreError"]


class StoreError(RuntimeError):
    """The local database refused an operation (e.g. a watchlist delta out of order)."""


class Sealer(Protocol):
    """Encrypts outbox payloads at rest, bound to the item's id (associated data)."""

    def seal(self, record_id: str, plaintext: bytes) -> bytes: ...

    def open(self, record_id: str, sealed: bytes) -> bytes: ...


class VaultSealer:
    """Outbox payloads sealed by the privacy vault (AES-256-GCM under a data key of their own,
    wrapped by the gate's KEK). Each item is its own data subject, so :meth:`forget` after delivery
    crypto-shreds it: no copy of the payload, backups included, can be read again."""

    CATEGORY = "exception"
    TOMBSTONE_DAYS = 7  # a shredded item's record is kept this long, then pruned (every 500 shreds)

    def __init__(self, vault) -> None:
        self.vault = vault
        self._forgotten = 0

    def seal(self, record_id: str, plaintext: bytes) -> bytes:
        return self.vault.seal(f"outbox:{record_id}", self.CATEGORY, record_id, plaintext)

    def open(self, record_id: str, sealed: bytes) -> bytes:
        return self.vault.open(f"outbox:{record_id}", self.CATEGORY, record_id, sealed)

    def forget(self, record_id: str) -> None:
        self.vault.shred(f"outbox:{record_id}")
        self._forgotten += 1
        if self._forgotten % 500 == 0:
            self.vault.prune_tombstones(dt.datetime.now(dt.UTC) - dt.timedelta(days=self.TOMBSTONE_DAYS))


def ephemeral_sealer() -> VaultSealer:
    """A vault in memory under a random key that dies with the process: for an in-memory gate store
    (tests, simulations); nothing it seals outlives the process."""
    import os
    import sqlite3

    from privacy import RawKek, Vault

    conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    return VaultSealer(Vault(conn, RawKek(os.urandom(32), label="ephemeral")))


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
    )
]


@dataclass(frozen=True)
class OutboxItem:
    id: str  # also the idempotency key
    kind: str  # "event" | "exception"
    transaction_id: str | None
    payload: dict[str, Any]
    attempts: int


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class GateStore:
    def __init__(self, path: str | Path | None = None, *, sealer: Sealer | None = None,
                 clock: Callable[[], dt.datetime] = _now) -> None:
        if sealer is None and path is not None:
            raise StoreError("a gate database on disk needs a sealer (the privacy vault) for its outbox")
        self.db = open_database(path, memory=path is None)
        migrate(self.db, MIGRATIONS)
        self.sealer = sealer or ephemeral_sealer()
        self.clock = clock

    # --- watchlist copy -------------------------------------------------------------------------
    def watchlist_version(self) -> int:
        row = self.db.execute("SELECT value FROM gate_meta WHERE key='watchlist_version'").fetchone()
        return int(row[0]) if row else 0

    def watchlist_synced_at(self) -> dt.datetime | None:
        row = self.db.execute("SELECT value FROM gate_meta WHERE key='watchlist_synced_at'").fetchone()
        return dt.datetime.fromisoformat(row[0]) if row else None

    def watchlist_age_s(self) -> float | None:
        synced = self.watchlist_synced_at()
        return None if synced is None else (self.clock() - synced).total_seconds()

    def apply_watchlist_changes(self, changes: Iterable[dict[str, Any]], new_version: int) -> int:
        """Apply a delta feed atomically. Each change: {version, op: upsert|delete, id, kind, data}."""
        current = self.watchlist_version()
        if new_version < current:
            raise StoreError(f"watchlist delta to version {new_version} is older than local {current}")
        conn = self.db.conn
        applied = 0
        conn.execute("BEGIN IMMEDIATE")
        try:
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
            conn.execute("COMMIT")
        except (KeyError, TypeError, ValueError) as e:
            conn.execute("ROLLBACK")
            raise StoreError(f"malformed watchlist change: {e}") from e
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return applied

    def reset_watchlist(self) -> None:
        """Drop the local copy (the back office said ``reset``: we are ahead of it, e.g. after a
        restore); the next sync starts again from version 0. Until then the copy counts as stale."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM gate_watchlist")
            conn.execute("DELETE FROM gate_meta WHERE key IN ('watchlist_version', 'watchlist_synced_at', "
                         "'watchlist_etag')")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def watchlist_etag(self) -> str | None:
        row = self.db.execute("SELECT value FROM gate_meta WHERE key='watchlist_etag'").fetchone()
        return row[0] if row else None

    def set_watchlist_etag(self, etag: str | None) -> None:
        conn = self.db.conn
        if etag is None:
            conn.execute("DELETE FROM gate_meta WHERE key='watchlist_etag'")
        else:
            self._set_meta(conn, "watchlist_etag", etag)

    def mark_watchlist_fresh(self) -> None:
        """The back office confirmed the copy is current (e.g. 304 Not Modified)."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        self._set_meta(conn, "watchlist_synced_at", self.clock().isoformat())
        conn.execute("COMMIT")

    def watchlist_entries(self, kind: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT entry_id, kind, data FROM gate_watchlist"
        rows = self.db.execute(sql + (" WHERE kind = ?" if kind else ""), (kind,) if kind else ()).fetchall()
        return [{"id": r[0], "kind": r[1], **json.loads(r[2])} for r in rows]

    @staticmethod
    def _set_meta(conn, key: str, value: str) -> None:
        conn.execute("INSERT INTO gate_meta (key, value) VALUES (?, ?) "
                     "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, value))

    # --- transactions and outbox ----------------------------------------------------------------
    def record_transaction(self, transaction_id: str, *, started_at: dt.datetime, outcome: str,
                           decision: dict[str, Any], timings: dict[str, float],
                           outbox: Iterable[tuple[str, dict[str, Any]]]) -> list[str]:
        """Write a finished transaction and its outbox items atomically; return the items' ids."""
        conn = self.db.conn
        ids: list[str] = []
        now = self.clock().isoformat()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT INTO gate_transactions (id, started_at, finished_at, outcome, reasons, decision, timings) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (transaction_id, started_at.isoformat(), now, outcome, json.dumps(decision.get("reasons", [])),
                 json.dumps(decision, ensure_ascii=False), json.dumps(timings)),
            )
            seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM gate_outbox").fetchone()[0]
            for kind, payload in outbox:
                seq += 1
                item_id = str(uuid.uuid4())
                sealed = self.sealer.seal(item_id, json.dumps(payload, ensure_ascii=False).encode())
                conn.execute(
                    "INSERT INTO gate_outbox (id, seq, kind, transaction_id, payload, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)", (item_id, seq, kind, transaction_id, sealed, now))
                ids.append(item_id)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return ids

    def transactions(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT id, outcome, decision FROM gate_transactions ORDER BY finished_at").fetchall()
        return [{"id": r[0], "outcome": r[1], "decision": json.loads(r[2])} for r in rows]

    def pending(self, limit: int = 100) -> list[OutboxItem]:
        rows = self.db.execute(
            "SELECT id, kind, transaction_id, payload, attempts FROM gate_outbox "
            "WHERE delivered_at IS NULL AND parked_at IS NULL ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [OutboxItem(r[0], r[1], r[2], json.loads(self.sealer.open(r[0], r[3])), r[4]) for r in rows]

    def pending_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM gate_outbox WHERE delivered_at IS NULL "
                               "AND parked_at IS NULL").fetchone()[0]

    def parked(self) -> list[dict[str, Any]]:
        """Items the back office refused for good: kept (sealed) for an operator, never retried."""
        rows = self.db.execute("SELECT id, kind, last_error FROM gate_outbox WHERE parked_at IS NOT NULL "
                               "ORDER BY seq").fetchall()
        return [{"id": r[0], "kind": r[1], "error": r[2]} for r in rows]

    def park(self, item_id: str, error: str) -> None:
        self.db.conn.execute("UPDATE gate_outbox SET parked_at = ?, last_error = ?, attempts = attempts + 1 "
                             "WHERE id = ?", (self.clock().isoformat(), error[:200], item_id))

    def mark_delivered(self, item_id: str) -> None:
        """Delivered items lose their payload at once: nothing personal stays on the gate."""
        self.db.conn.execute("UPDATE gate_outbox SET delivered_at = ?, payload = X'' WHERE id = ?",
                             (self.clock().isoformat(), item_id))
        forget = getattr(self.sealer, "forget", None)
        if forget is not None:
            forget(item_id)

    def mark_failed(self, item_id: str, error: str) -> None:
        self.db.conn.execute("UPDATE gate_outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                             (error[:200], item_id))
