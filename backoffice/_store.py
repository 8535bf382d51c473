"""The back office's database (SQLite by default, PostgreSQL by URL): schema migrations and a transactional handle.

:class:`Store` sits on a SQLAlchemy :class:`~sqlalchemy.engine.Engine` (:func:`storage.open_engine`) and keeps
the surface it always had: :meth:`Store.tx` for writes, :meth:`Store.read` for reads, :meth:`Store.query` and
:meth:`Store.one` for dict rows. Statements are ``sqlalchemy.text()`` with ``:named`` parameters, which both
dialects run.

SQLite: one connection, shared by the worker threads of the server behind a re-entrant lock (SQLite serialises
writers anyway, and the lock makes read-check-write sequences atomic within the process); a write transaction
begins with ``BEGIN IMMEDIATE``, a read with ``BEGIN DEFERRED``. The same sqlite3 connection is also exposed as
a ``sqlite_utils.Database`` (:attr:`Store.db`) for the privacy package, which still runs on it (issue #24
increment 4 moves it to the engine): its transactions join the Store's, and the Store joins its.

PostgreSQL: a pool; each outermost :meth:`Store.tx`/:meth:`Store.read` takes a connection of its own for one
transaction (READ COMMITTED), and a nested one in the same thread joins it. The read-check-write rules that
the SQLite lock makes safe need locks of their own there (issue #24 increment 5).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlalchemy import text
from sqlalchemy.engine import Connection, CursorResult, Engine
from sqlalchemy.sql.elements import ClauseElement

import privacy
from backoffice._migration_calls import MIGRATION as CALLS_MIGRATION
from backoffice._migration_liveness import MIGRATION as LIVENESS_MIGRATION
from backoffice._migration_trust import EVENTS_EAC_MIGRATION as EVENT_EAC_MIGRATION
from backoffice._migration_trust import EVENTS_MIGRATION as EVENT_TRUST_MIGRATION
from backoffice._migration_trust import MIGRATION as TRUST_MIGRATION
from backoffice._migration_watchlist import MIGRATION as WATCHLIST_MIGRATION
from storage import BEGIN_OPTION, Migration, StorageError, open_engine

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


_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


class StoreConnection:
    """What :meth:`Store.tx` and :meth:`Store.read` yield: statements run in the Store's transaction.

    ``execute(text(...), {...})`` runs a SQLAlchemy statement (a :class:`CursorResult`: ``.mappings()``,
    ``.scalar()``, ``.rowcount``); :meth:`all`, :meth:`first` and :meth:`scalar` are the usual shapes of it.
    :attr:`connection` is the SQLAlchemy connection (for :func:`storage.lock`).

    Not yet converted code (a SQL string with ``?`` and a list, ``query``, ``table``) still runs, on SQLite
    only, on the same sqlite3 connection and so in the same transaction; on PostgreSQL it raises
    :class:`StorageError`. That bridge goes once every module speaks ``text()``."""

    def __init__(self, store: Store, conn: Connection | None) -> None:
        self._store = store
        self._conn = conn

    @property
    def connection(self) -> Connection:
        if self._conn is None:
            raise StorageError("no SQLAlchemy connection here: this runs inside a transaction the privacy package "
                               "began on the shared sqlite3 connection (only its legacy statements can join it)")
        return self._conn

    @property
    def dialect(self) -> str:
        return self._store.dialect

    def execute(self, statement: Any, params: Mapping[str, Any] | list | tuple | None = None) -> Any:
        if isinstance(statement, str):  # not converted yet: a sqlite3 statement with "?" placeholders
            return self._store.db.execute(statement, dict(params) if isinstance(params, Mapping) else
                                          list(params or ()))
        if not isinstance(statement, ClauseElement):
            raise StorageError(f"expected a SQL string or a SQLAlchemy statement, not {type(statement).__name__}")
        if params is not None and not isinstance(params, Mapping):
            raise StorageError("a SQLAlchemy statement takes named parameters (a mapping), not a sequence")
        return self.connection.execute(statement, dict(params or {}))

    def all(self, statement: ClauseElement, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        result: CursorResult = self.execute(statement, params)
        return [dict(row) for row in result.mappings()]

    def first(self, statement: ClauseElement, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        row = self.execute(statement, params).mappings().first()
        return None if row is None else dict(row)

    def scalar(self, statement: ClauseElement, params: Mapping[str, Any] | None = None) -> Any:
        return self.execute(statement, params).scalar()

    def insert(self, table: str, row: Mapping[str, Any]) -> Any:
        """``INSERT INTO table (the row's keys) VALUES (its values)``; the names come from code, never from input
        (checked: plain identifiers)."""
        names = [table, *row]
        bad = [n for n in names if not _IDENTIFIER.match(n)]
        if bad:
            raise StorageError(f"not a plain SQL identifier: {bad[0]!r}")
        columns = ", ".join(row)
        values = ", ".join(f":{c}" for c in row)
        return self.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({values})"), dict(row))  # noqa: S608

    @contextmanager
    def atomic(self) -> Iterator[StoreConnection]:
        """A savepoint inside the transaction: an exception rolls back what ran in the block alone."""
        if self._conn is None:
            with self._store.db.atomic():
                yield self
            return
        with self._conn.begin_nested():
            yield self

    # -- the sqlite_utils bridge (SQLite only; goes with the last unconverted module) --------------------------
    def query(self, sql: str, params: tuple | list | dict = ()) -> Iterator[dict[str, Any]]:
        return self._store.db.query(sql, params)

    def table(self, name: str) -> Any:
        return self._store.db.table(name)


class Store:
    """A migrated database; use :meth:`tx` for writes and :meth:`read` for reads.

    ``path``: ``None`` (tests: a private in-memory SQLite database usable from the server's threads), a SQLite
    path or ``sqlite:///PATH``, or a ``postgresql://`` URL. The schema is brought up to date on opening
    (:func:`backoffice.migrations.upgrade`: on SQLite the frozen legacy history, then Alembic)."""

    def __init__(self, path: str | Path | None = None) -> None:
        from backoffice.migrations import upgrade

        self.path = path
        self.lock = threading.RLock()
        self.engine: Engine = open_engine(":memory:" if path is None else path)
        self.dialect: str = self.engine.dialect.name
        self._local = threading.local()  # PostgreSQL: the connection of this thread's open transaction
        self._conn: Connection | None = None
        self._db: sqlite_utils.Database | None = None
        try:
            upgrade(self.engine)
            if self.dialect == "sqlite":
                self._conn = self.engine.connect()
                self._db = sqlite_utils.Database(self._conn.connection.driver_connection)
        except BaseException:
            self.engine.dispose()
            raise

    @property
    def db(self) -> sqlite_utils.Database:
        """SQLite: the shared connection as a ``sqlite_utils.Database`` (the privacy package and not yet converted
        code run on it). PostgreSQL: :class:`StorageError` (the privacy package moves to the engine in issue #24
        increment 4)."""
        if self._db is None:
            raise StorageError(f"no sqlite_utils database on {self.dialect}: this code is not converted to "
                               f"SQLAlchemy yet (issue #24)")
        return self._db

    def _sqlite_foreign_tx(self) -> bool:
        """SQLite: a transaction the privacy package began on the shared connection (not through the Store)."""
        return self._db is not None and self._db.conn.in_transaction and not self._conn.in_transaction()

    def _join(self, write: bool) -> None:
        """A nested transaction joins the open one, but a write never joins a read: on SQLite a read transaction
        took no write lock, and taking it later can fail at once when another connection wrote meanwhile."""
        if write and getattr(self._local, "reading", False):
            raise StorageError("a write transaction (Store.tx) inside a read transaction (Store.read): open the "
                               "write transaction first")

    @contextmanager
    def _outermost(self, conn: Connection, write: bool) -> Iterator[StoreConnection]:
        self._local.reading = not write
        try:
            with conn.begin():
                yield StoreConnection(self, conn)
        finally:
            self._local.reading = False

    @contextmanager
    def _sqlite(self, write: bool) -> Iterator[StoreConnection]:
        with self.lock:
            conn = self._conn
            if conn.in_transaction():  # nested: join the outer transaction
                self._join(write)
                yield StoreConnection(self, conn)
                return
            if self._sqlite_foreign_tx():  # joined: legacy statements only, the privacy package commits
                yield StoreConnection(self, None)
                return
            conn.execution_options(**{BEGIN_OPTION: "IMMEDIATE" if write else "DEFERRED"})
            try:
                with self._outermost(conn, write) as handle:
                    yield handle
            finally:
                conn.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})

    @contextmanager
    def _pooled(self, write: bool) -> Iterator[StoreConnection]:
        current = getattr(self._local, "conn", None)
        if current is not None:  # nested in this thread: join
            self._join(write)
            yield StoreConnection(self, current)
            return
        with self.engine.connect() as conn:
            self._local.conn = conn
            try:
                with self._outermost(conn, write) as handle:
                    yield handle
            finally:
                self._local.conn = None

    @contextmanager
    def tx(self) -> Iterator[StoreConnection]:
        """A write transaction (SQLite: ``BEGIN IMMEDIATE``), committed at the end, rolled back on an exception;
        nested calls join the outer one (inside a :meth:`read`: :class:`StorageError`)."""
        with self._sqlite(True) if self._conn is not None else self._pooled(True) as handle:
            yield handle

    @contextmanager
    def read(self) -> Iterator[StoreConnection]:
        """A read transaction (SQLite: ``BEGIN DEFERRED``: one snapshot, no write lock); joins an open one."""
        with self._sqlite(False) if self._conn is not None else self._pooled(False) as handle:
            yield handle

    def query(self, sql: Any, params: Mapping[str, Any] | tuple | list | None = None) -> list[dict[str, Any]]:
        """The rows of a statement as dicts (``text()`` with named parameters; a legacy ``?`` string on SQLite)."""
        if isinstance(sql, str):
            with self.lock:
                return list(self.db.query(sql, params or ()))
        with self.read() as conn:
            return conn.all(sql, params)

    def one(self, sql: Any, params: Mapping[str, Any] | tuple | list | None = None) -> dict[str, Any] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def close(self) -> None:
        with self.lock:
            if self._conn is not None:
                self._conn.close()
            self.engine.dispose()


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
