"""The back office's database (SQLite by default, PostgreSQL by URL): schema migrations and a transactional handle.

:class:`Store` is a :class:`storage.Database` (SQLAlchemy, :func:`storage.open_engine`) with the back office's
schema: :meth:`Store.tx` for writes, :meth:`Store.read` for reads, :meth:`Store.query` and :meth:`Store.one` for
dict rows. Statements are ``sqlalchemy.text()`` with ``:named`` parameters, which both dialects run.

SQLite: one connection, shared by the worker threads of the server behind a re-entrant lock; a write transaction
begins with ``BEGIN IMMEDIATE``, a read with ``BEGIN DEFERRED``. PostgreSQL: a pool; each outermost
transaction takes a connection of its own (READ COMMITTED), and a nested one in the same thread joins it.
The privacy package's ledger and retention registry run on the Store (their transactions join its); the
vault's key store is a database of its own.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlalchemy import text
from sqlalchemy.engine import Engine

import privacy
from backoffice._migration_calls import MIGRATION as CALLS_MIGRATION
from backoffice._migration_liveness import MIGRATION as LIVENESS_MIGRATION
from backoffice._migration_trust import EVENTS_EAC_MIGRATION as EVENT_EAC_MIGRATION
from backoffice._migration_trust import EVENTS_MIGRATION as EVENT_TRUST_MIGRATION
from backoffice._migration_trust import MIGRATION as TRUST_MIGRATION
from backoffice._migration_watchlist import MIGRATION as WATCHLIST_MIGRATION
from storage import Database, DatabaseConnection, Migration, StorageError, open_engine

__all__ = ["MIGRATIONS", "Store", "StoreConnection", "new_id", "now_iso"]

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


def portable(sql: str, params: Mapping[str, Any] | tuple | list | None) -> tuple[Any, dict[str, Any]]:
    """A legacy statement (``?`` placeholders and a sequence, or ``:name`` and a mapping) as ``text()`` with named
    parameters, for a database that is not SQLite (tests written against the SQLite file run on PostgreSQL too).
    A ``?`` inside a quoted literal is left alone."""
    if isinstance(params, Mapping):
        return text(sql), dict(params)
    values, out, quoted, n = list(params or ()), [], False, 0
    for ch in sql:
        if ch == "'":
            quoted = not quoted
        if ch == "?" and not quoted:
            out.append(f":p{n}")
            n += 1
        else:
            out.append(ch)
    if n != len(values):
        raise StorageError(f"{n} placeholders and {len(values)} parameters")
    return text("".join(out)), {f"p{i}": v for i, v in enumerate(values)}


class StoreConnection(DatabaseConnection):
    """What :meth:`Store.tx` and :meth:`Store.read` yield (:class:`storage.DatabaseConnection`).

    Legacy SQL (a string with ``?`` and a list, ``query``, ``table``), which only tests still use, runs on SQLite
    on the same sqlite3 connection and so in the same transaction; on PostgreSQL a string runs as ``text()``
    (:func:`portable`) and ``table`` raises :class:`StorageError`."""

    def execute(self, statement: Any, params: Mapping[str, Any] | list | tuple | None = None) -> Any:
        if isinstance(statement, str):  # a sqlite3 statement with "?" placeholders
            if self._database.dialect != "sqlite":
                return super().execute(*portable(statement, params))
            return self._database.db.execute(statement, dict(params) if isinstance(params, Mapping) else
                                             list(params or ()))
        return super().execute(statement, params)

    def query(self, sql: str, params: tuple | list | dict = ()) -> Iterator[dict[str, Any]]:
        if self._database.dialect != "sqlite":
            return iter(self.all(*portable(sql, params)))
        return self._database.db.query(sql, params)

    def table(self, name: str) -> Any:
        return self._database.db.table(name)


class Store(Database):
    """A migrated database; use :meth:`tx` for writes and :meth:`read` for reads.

    ``path``: ``None`` (tests: a private in-memory SQLite database usable from the server's threads), a SQLite
    path or ``sqlite:///PATH``, or a ``postgresql://`` URL. The schema is brought up to date on opening
    (:func:`backoffice.migrations.upgrade`: on SQLite the frozen legacy history, then Alembic). The privacy
    package's ledger and retention registry run on the Store itself (their transactions join its)."""

    connection_class = StoreConnection

    def __init__(self, path: str | Path | None = None) -> None:
        from backoffice.migrations import upgrade

        self.path = path
        engine: Engine = open_engine(":memory:" if path is None else path)
        try:
            upgrade(engine)
            super().__init__(engine)
        except BaseException:
            engine.dispose()
            raise
        self._db: sqlite_utils.Database | None = (
            sqlite_utils.Database(self._conn.connection.driver_connection, recursive_triggers=False,
                                  execute_plugins=False) if self._conn is not None else None)

    @property
    def db(self) -> sqlite_utils.Database:
        """SQLite: the shared connection as a ``sqlite_utils.Database`` (tests inspect the schema and run legacy SQL
        on it). PostgreSQL: :class:`StorageError`."""
        if self._db is None:
            raise StorageError(f"no sqlite_utils database on {self.dialect}: legacy SQLite statements are not "
                               f"converted to SQLAlchemy text()")
        return self._db

    def query(self, sql: Any, params: Mapping[str, Any] | tuple | list | None = None) -> list[dict[str, Any]]:
        """The rows of a statement as dicts (``text()`` with named parameters; a legacy ``?`` string on SQLite)."""
        if isinstance(sql, str):
            if self.dialect != "sqlite":
                return super().query(*portable(sql, params))
            with self.lock:
                return list(self.db.query(sql, params or ()))
        return super().query(sql, params)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
