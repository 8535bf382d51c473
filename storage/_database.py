"""A transactional handle over an :class:`~sqlalchemy.engine.Engine` for SQLite and PostgreSQL alike.

:class:`Database` is what the back office's ``Store`` and the privacy package's vault, ledger and retention
registry run on: :meth:`Database.tx` for writes, :meth:`Database.read` for reads (both yield a
:class:`DatabaseConnection`), :meth:`Database.query` and :meth:`Database.one` for dict rows. Statements are
``sqlalchemy.text()`` with ``:named`` parameters, which both dialects run.

SQLite: one connection, shared by the threads of a process behind a re-entrant lock (:attr:`Database.lock`:
SQLite serialises writers anyway, and the lock makes read-check-write sequences atomic within the process); a
write transaction begins with ``BEGIN IMMEDIATE``, a read with ``BEGIN DEFERRED``.

PostgreSQL: a pool; each outermost :meth:`Database.tx`/:meth:`Database.read` takes a connection of its own for
one transaction (READ COMMITTED), and a nested one in the same thread joins it. Read-check-write sequences take
an advisory lock (:func:`storage.lock`) there.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, CursorResult, Engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.elements import ClauseElement

from storage._db import StorageError, checkpoint_truncate
from storage._engine import (
    BEGIN_OPTION,
    CommitUnconfirmedError,
    commit_unconfirmed,
    sqlite_connection_engine,
)

__all__ = ["Database", "DatabaseConnection"]

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


class DatabaseConnection:
    """What :meth:`Database.tx` and :meth:`Database.read` yield: statements run in the database's transaction.

    ``execute(text(...), {...})`` runs a SQLAlchemy statement (a :class:`CursorResult`: ``.mappings()``,
    ``.scalar()``, ``.rowcount``); :meth:`all`, :meth:`first` and :meth:`scalar` are the usual shapes of it.
    :attr:`connection` is the SQLAlchemy connection (for :func:`storage.lock`)."""

    def __init__(self, database: Database, conn: Connection) -> None:
        self._database = database
        self._conn = conn

    @property
    def connection(self) -> Connection:
        return self._conn

    @property
    def dialect(self) -> str:
        return self._database.dialect

    def execute(self, statement: Any, params: Mapping[str, Any] | list[Mapping[str, Any]] | None = None) -> Any:
        if not isinstance(statement, ClauseElement):
            raise StorageError(f"expected a SQLAlchemy statement (text() with :named parameters), not "
                               f"{type(statement).__name__}")
        if isinstance(params, list) and params and all(isinstance(p, Mapping) for p in params):
            return self._conn.execute(statement, [dict(p) for p in params])  # one statement, many rows
        if params is not None and not isinstance(params, Mapping):
            raise StorageError("a SQLAlchemy statement takes named parameters (a mapping, or a list of mappings for "
                               "many rows), not a sequence of values")
        return self._conn.execute(statement, dict(params or {}))

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
    def atomic(self) -> Iterator[DatabaseConnection]:
        """A savepoint inside the transaction: an exception rolls back what ran in the block alone."""
        with self._conn.begin_nested():
            yield self


class Database:
    """Transactions on ``engine`` (see the module's text); ``lock`` serialises the threads sharing the SQLite
    connection (pass one to share it with other objects of the process; a new one otherwise)."""

    connection_class: type[DatabaseConnection] = DatabaseConnection

    def __init__(self, engine: Engine, *, lock: threading.RLock | None = None) -> None:
        self.engine = engine
        self.dialect: str = engine.dialect.name
        self.lock = lock or threading.RLock()
        self._local = threading.local()  # PostgreSQL: the connection of this thread's open transaction
        self._conn: Connection | None = engine.connect() if self.dialect == "sqlite" else None

    @classmethod
    def for_sqlite_connection(cls, conn: sqlite3.Connection, *, lock: threading.RLock | None = None) -> Database:
        """A Database on an open sqlite3 connection (an in-memory one a caller made, e.g. an ephemeral vault)."""
        return cls(sqlite_connection_engine(conn), lock=lock)

    @property
    def url(self) -> Any:
        return self.engine.url

    def _join(self, write: bool) -> None:
        """A nested transaction joins the open one, but a write never joins a read: on SQLite a read transaction
        took no write lock, and taking it later can fail at once when another connection wrote meanwhile."""
        if write and getattr(self._local, "reading", False):
            raise StorageError("a write transaction (tx) inside a read transaction (read): open the write "
                               "transaction first")

    def _handle(self, conn: Connection) -> DatabaseConnection:
        return self.connection_class(self, conn)

    @contextmanager
    def _outermost(self, conn: Connection, write: bool) -> Iterator[DatabaseConnection]:
        commit_unconfirmed(conn)  # a mark left by a commit outside this class is not this transaction's
        self._local.reading = not write
        try:
            with conn.begin():
                yield self._handle(conn)
        finally:
            self._local.reading = False
        if commit_unconfirmed(conn):
            raise CommitUnconfirmedError(
                "the commit was not confirmed by the synchronous standby (its wait was cancelled): the transaction "
                "is on the primary only and would be lost by a failover; not acknowledged")

    @contextmanager
    def _sqlite(self, write: bool) -> Iterator[DatabaseConnection]:
        own = getattr(self._local, "conn", None)
        if own is not None:  # inside this thread's snapshot() on a connection of its own: join it (reads only)
            self._join(write)
            yield self._handle(own)
            return
        with self.lock:
            conn = self._conn
            if conn.in_transaction():  # nested: join the outer transaction
                self._join(write)
                yield self._handle(conn)
                return
            conn.execution_options(**{BEGIN_OPTION: "IMMEDIATE" if write else "DEFERRED"})
            try:
                with self._outermost(conn, write) as handle:
                    yield handle
            finally:
                conn.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})

    @contextmanager
    def _pooled(self, write: bool, snapshot: bool = False) -> Iterator[DatabaseConnection]:
        current = getattr(self._local, "conn", None)
        if current is not None:  # nested in this thread: join
            self._join(write)
            yield self._handle(current)
            return
        with self.engine.connect() as conn:
            if snapshot:  # every statement of the transaction sees the same committed state (reset on return)
                conn.execution_options(isolation_level="REPEATABLE READ")
            self._local.conn = conn
            try:
                with self._outermost(conn, write) as handle:
                    yield handle
            finally:
                self._local.conn = None

    @contextmanager
    def snapshot(self) -> Iterator[DatabaseConnection]:
        """A read of one consistent state that does not hold up this process's writers meanwhile (a long read: a
        ledger's verification or export). PostgreSQL: :meth:`read` with ``snapshot=True``. SQLite file: a
        connection of its own in ``BEGIN DEFERRED`` (WAL: one snapshot, writers go on), which the reads of this
        thread join until the block ends. SQLite in memory (one connection): :meth:`read`."""
        if self._conn is None:
            with self.read(snapshot=True) as handle:
                yield handle
            return
        if isinstance(self.engine.pool, StaticPool) or getattr(self._local, "conn", None) is not None \
                or self._conn.in_transaction():
            with self.read() as handle:  # one connection only, or already inside a transaction: join
                yield handle
            return
        with self.engine.connect() as conn:
            conn.execution_options(**{BEGIN_OPTION: "DEFERRED"})
            self._local.conn = conn
            try:
                with self._outermost(conn, False) as handle:
                    yield handle
            finally:
                self._local.conn = None

    def in_transaction(self) -> bool:
        """Whether this thread (PostgreSQL) or the shared connection (SQLite) has a transaction open."""
        if self._conn is not None:
            return self._conn.in_transaction()
        return getattr(self._local, "conn", None) is not None

    @contextmanager
    def tx(self) -> Iterator[DatabaseConnection]:
        """A write transaction (SQLite: ``BEGIN IMMEDIATE``), committed at the end, rolled back on an exception;
        nested calls join the outer one (inside a :meth:`read`: :class:`StorageError`)."""
        with self._sqlite(True) if self._conn is not None else self._pooled(True) as handle:
            yield handle

    @contextmanager
    def read(self, *, snapshot: bool = False) -> Iterator[DatabaseConnection]:
        """A read transaction (SQLite: ``BEGIN DEFERRED``: one snapshot, no write lock); joins an open one.
        ``snapshot``: PostgreSQL too reads one snapshot throughout (REPEATABLE READ instead of READ COMMITTED, where
        each statement sees what committed before it), for reads whose parts must agree (a ledger's verification)."""
        with self._sqlite(False) if self._conn is not None else self._pooled(False, snapshot) as handle:
            yield handle

    def query(self, sql: Any, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """The rows of a ``text()`` statement as dicts."""
        with self.read() as conn:
            return conn.all(sql, params)

    def one(self, sql: Any, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def checkpoint_truncate(self, *, attempts: int = 3, wait_ms: int = 1000) -> bool:
        """SQLite: :func:`storage.checkpoint_truncate` on the shared connection (the WAL copied into the file and
        truncated to zero bytes; False when a reader kept it or a transaction is open). PostgreSQL has no such file
        of its own: :class:`StorageError` (its write-ahead log is the server's, see the vault's KEK rotation)."""
        if self._conn is None:
            raise StorageError("checkpoint_truncate is SQLite's (a -wal file per database); PostgreSQL's WAL is the "
                               "server's")
        with self.lock:  # the connection's attribute, as every use of the shared connection, under the lock
            raw = self._conn.connection.driver_connection
        return checkpoint_truncate(raw, self.lock, attempts=attempts, wait_ms=wait_ms)

    def close(self) -> None:
        with self.lock:
            if self._conn is not None:
                self._conn.close()
            self.engine.dispose()
