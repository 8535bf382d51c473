"""The back office's SQLite database: schema migrations and a locked, transactional handle.

One connection, shared by the worker threads of the server behind a re-entrant lock: SQLite
serialises writers anyway, and one lock makes read-check-write sequences (idempotency keys,
version counters) atomic without relying on isolation levels.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

import privacy
from backoffice._migration_calls import MIGRATION as CALLS_MIGRATION
from backoffice._migration_liveness import MIGRATION as LIVENESS_MIGRATION
from backoffice._migration_trust import EVENTS_EAC_MIGRATION as EVENT_EAC_MIGRATION
from backoffice._migration_trust import EVENTS_MIGRATION as EVENT_TRUST_MIGRATION
from backoffice._migration_trust import MIGRATION as TRUST_MIGRATION
from backoffice._migration_watchlist import MIGRATION as WATCHLIST_MIGRATION
from storage import Migration, migrate, open_database

__all__ = ["MIGRATIONS", "Store", "new_id", "now_iso"]

MIGRATIONS = [
    Migration("0001_auth", """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY, username TEXT UNIQUE NOT NULL, password_hash TEXT NOT NULL,
            role TEXT NOT NULL, display_name TEXT NOT NULL DEFAULT '', active INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL);
        CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), kind TEXT NOT NULL,
            created_at TEXT NOT NULL, expires_at TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE login_failures (id INTEGER PRIMARY KEY, username TEXT NOT NULL, client TEXT NOT NULL,
            at REAL NOT NULL);
        CREATE INDEX login_failures_user ON login_failures(username, at);
        CREATE TABLE devices (
            id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL DEFAULT '', location TEXT NOT NULL DEFAULT '',
            token_hash TEXT UNIQUE, created_at TEXT NOT NULL, rotated_at TEXT, revoked_at TEXT, last_seen_at TEXT);
    """),
    Migration("0002_watchlist", """
        CREATE TABLE watchlist_entries (
            id TEXT PRIMARY KEY, kind TEXT NOT NULL, data TEXT NOT NULL, version INTEGER NOT NULL,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE watchlist_changes (
            version INTEGER PRIMARY KEY AUTOINCREMENT, entry_id TEXT NOT NULL, kind TEXT NOT NULL,
            op TEXT NOT NULL, data TEXT, at TEXT NOT NULL, actor TEXT NOT NULL);
        CREATE TABLE watchlist_imports (
            id TEXT PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, kind TEXT NOT NULL, rows INTEGER NOT NULL,
            accepted INTEGER NOT NULL, rejected INTEGER NOT NULL, report TEXT NOT NULL);
    """),
    Migration("0003_ingestion", """
        CREATE TABLE idempotency (
            principal TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL, status_code INTEGER NOT NULL,
            response TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (principal, key));
        CREATE TABLE exceptions (
            id TEXT PRIMARY KEY, device_id TEXT NOT NULL, occurred_at TEXT NOT NULL, received_at TEXT NOT NULL,
            direction TEXT NOT NULL, reason_codes TEXT NOT NULL, scores TEXT NOT NULL, subject_id TEXT NOT NULL,
            personal_ref TEXT, live_image_ref TEXT, chip_image_ref TEXT, status TEXT NOT NULL DEFAULT 'open',
            decision TEXT, notes TEXT, decided_by TEXT, decided_at TEXT);
        CREATE INDEX exceptions_status ON exceptions(status, received_at);
        CREATE INDEX exceptions_subject ON exceptions(subject_id);
        CREATE TABLE events (
            id TEXT PRIMARY KEY, device_id TEXT NOT NULL, occurred_at TEXT NOT NULL, received_at TEXT NOT NULL,
            kind TEXT NOT NULL, outcome TEXT NOT NULL, reason_codes TEXT NOT NULL, duration_ms REAL);
        CREATE INDEX events_device ON events(device_id, occurred_at);
        CREATE TABLE enrolments (
            id TEXT PRIMARY KEY, device_id TEXT NOT NULL, received_at TEXT NOT NULL, subject_id TEXT NOT NULL,
            status TEXT NOT NULL, checks TEXT NOT NULL, duplicates TEXT NOT NULL, consent TEXT NOT NULL,
            personal_ref TEXT, face_ref TEXT, finger_ref TEXT, face_dim INTEGER,
            decided_by TEXT, decided_at TEXT, notes TEXT);
        CREATE INDEX enrolments_subject ON enrolments(subject_id);
    """),
    # the privacy package's tables (retention registry with the sealed items, ledger, consents);
    # append new back-office migrations after these
    *privacy.MIGRATIONS,
    # login throttling (backoffice._auth): reservations and failures per (account, client), settled
    # atomically; the pairs that logged in recently; login_failures (unused since) is dropped
    Migration("0004_login_attempts", """
        CREATE TABLE login_attempts (id INTEGER PRIMARY KEY, account TEXT NOT NULL, client TEXT NOT NULL,
            at REAL NOT NULL, state TEXT NOT NULL DEFAULT 'pending');
        CREATE INDEX login_attempts_pair ON login_attempts(account, client, at);
        CREATE INDEX login_attempts_client ON login_attempts(client, at);
        CREATE INDEX login_attempts_at ON login_attempts(at);
        CREATE TABLE login_known (account TEXT NOT NULL, client TEXT NOT NULL, last_ok REAL NOT NULL,
            PRIMARY KEY (account, client));
        DROP TABLE login_failures;
    """),
    CALLS_MIGRATION,  # 0005_officer_calls (backoffice/_migration_calls.py)
    WATCHLIST_MIGRATION,  # 0006_watchlist_manage (backoffice/_migration_watchlist.py)
    TRUST_MIGRATION,  # 0007_device_trust_store (backoffice/_migration_trust.py)
    EVENT_TRUST_MIGRATION,  # 0008_event_trust_store_version (backoffice/_migration_trust.py)
    EVENT_EAC_MIGRATION,  # 0009_event_eac (backoffice/_migration_trust.py)
    LIVENESS_MIGRATION,  # 0010_liveness (backoffice/_migration_liveness.py)
]


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


class Store:
    """A migrated database with a lock; use :meth:`tx` for writes and :meth:`read` for reads."""

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:  # tests: a private in-memory database usable from the server's threads
            self.db = sqlite_utils.Database(memory_name=f"backoffice_{uuid.uuid4().hex}")
            self.db.execute("PRAGMA foreign_keys = ON")
        else:
            self.db = open_database(path)
        self.path = path
        self.lock = threading.RLock()
        migrate(self.db, MIGRATIONS)

    @contextmanager
    def tx(self) -> Iterator[sqlite_utils.Database]:
        with self.lock:
            conn = self.db.conn
            if conn.in_transaction:  # nested: join the outer transaction
                yield self.db
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite_utils.Database]:
        with self.lock:
            yield self.db

    def query(self, sql: str, params: tuple | dict = ()) -> list[dict[str, Any]]:
        with self.read() as db:
            return list(db.query(sql, params))

    def one(self, sql: str, params: tuple | dict = ()) -> dict[str, Any] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def close(self) -> None:
        with self.lock:
            self.db.close()


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
