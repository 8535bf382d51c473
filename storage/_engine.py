"""SQLAlchemy engines for the two backends: SQLite (a file, the embedded default) and PostgreSQL (a server).

:func:`open_engine` gives an :class:`~sqlalchemy.engine.Engine` that behaves like :func:`storage.open_database`
on SQLite (the same file modes and PRAGMAs on every pooled connection; a transaction begins with
``BEGIN IMMEDIATE``) and, on PostgreSQL, a pool of psycopg 3 connections checked before use. Driver errors
surface as :class:`StorageError` subclasses whose messages never carry a password or a statement's parameters.
:func:`lock` serialises writers of one kind (a ledger, a feed) for the rest of a transaction.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

from storage._db import StorageError, check_private, prepare_file

#: the oldest SQLite the statements run on: INSERT ... RETURNING came in 3.35 (2021-03)
MIN_SQLITE = (3, 35, 0)

__all__ = [
    "BEGIN_OPTION",
    "UNCONFIRMED_COMMIT",
    "CommitUnconfirmedError",
    "ConstraintError",
    "DatabaseBusyError",
    "DatabaseURLError",
    "DatabaseUnavailableError",
    "LockBusyError",
    "QueryError",
    "commit_unconfirmed",
    "lock",
    "lock_key",
    "open_engine",
    "safe_url",
    "session_lock",
    "sqlite_connection_engine",
]

log = logging.getLogger("storage")

#: the execution option that chooses how a transaction begins on SQLite: "IMMEDIATE" (the default: the write
#: lock is taken at BEGIN, as ``storage.transaction`` does), "DEFERRED" (a read that never writes) or "EXCLUSIVE"
BEGIN_OPTION = "storage_begin"
_BEGIN_MODES = ("IMMEDIATE", "DEFERRED", "EXCLUSIVE")
#: PostgreSQL SQLSTATEs of a transaction that lost to another: serialization failure, deadlock, lock not available
_BUSY_SQLSTATES = {"40001", "40P01", "55P03"}


class DatabaseURLError(StorageError):
    """The database URL cannot be parsed or names a backend or driver this project does not use."""


class DatabaseUnavailableError(StorageError):
    """The database cannot be reached or opened (server down, refused, authentication failed, file unopenable)."""


class CommitUnconfirmedError(DatabaseUnavailableError):
    """PostgreSQL committed a transaction on the primary but the synchronous standby never confirmed it (the wait
    for it was cancelled): not an acknowledgement, since a failover to the standby would lose it."""


class ConstraintError(StorageError):
    """A statement broke a constraint (unique, primary key, foreign key, not null, check)."""


class DatabaseBusyError(StorageError):
    """Another transaction held the lock too long (SQLite busy/locked), or lost a serialization/deadlock race."""


class QueryError(StorageError):
    """Any other error the driver raised for a statement."""


def safe_url(url: URL) -> str:
    """``url`` for a message or a log: the password masked and the query (which may hold one) left out."""
    return url.set(query={}).render_as_string(hide_password=True)


def _parse(url_or_path: str | Path) -> URL:
    if isinstance(url_or_path, Path) or "://" not in str(url_or_path):
        text = str(url_or_path)
        return URL.create("sqlite", database=None if text in ("", ":memory:") else text)
    text = str(url_or_path)
    try:
        url = make_url(text)
    except (sa_exc.ArgumentError, ValueError):
        scheme = text.split("://", 1)[0][:40]
        # not chained: the parser's message quotes the whole URL, password included
        raise DatabaseURLError(f"cannot parse the database URL (scheme {scheme!r}; the rest is not shown, it may "
                               f"hold a password): expected sqlite:///PATH or "
                               f"postgresql://USER:PASSWORD@HOST:PORT/DATABASE") from None
    backend, driver = url.get_backend_name(), url.get_driver_name()
    if backend == "sqlite":
        if driver != "pysqlite" or url.query:
            raise DatabaseURLError(f"unsupported SQLite URL {safe_url(url)}: use sqlite:///PATH (the sqlite3 "
                                   f"driver, no query options)")
        return url
    if backend == "postgresql":
        if "+" in url.drivername and driver != "psycopg":
            raise DatabaseURLError(f"unsupported PostgreSQL driver {driver!r} in {safe_url(url)}: use "
                                   f"postgresql:// (psycopg 3)")
        return url.set(drivername="postgresql+psycopg")
    raise DatabaseURLError(f"unsupported database backend {backend!r} ({safe_url(url)}): use a SQLite path, "
                           f"sqlite:///PATH or postgresql://...")


def open_engine(url_or_path: str | Path, *, key_material: bool = False, wal: bool = True,
                busy_timeout_ms: int = 5000, application_name: str = "smartborder", pool_size: int = 5,
                max_overflow: int = 10, connect_timeout: int = 10, check: bool = True) -> Engine:
    """An Engine for a SQLite path (``sqlite:///PATH``; ``":memory:"`` or ``sqlite://`` for a private in-memory
    database on one connection) or a PostgreSQL URL (``postgresql://``, driven by psycopg 3).

    SQLite: as :func:`storage.open_database`: a new file is created 0600 in a 0700 directory, an existing one
    open to others is tightened, and ``key_material=True`` (a key store) refuses a file or directory open to
    others with :class:`FileModeError` (checked again on every new connection). Each connection gets
    ``busy_timeout``, ``foreign_keys = ON``, ``secure_delete = ON``, WAL with ``synchronous = NORMAL`` (or
    ``FULL`` without WAL); a transaction begins with ``BEGIN IMMEDIATE`` unless the connection's execution
    option :data:`BEGIN_OPTION` says ``"DEFERRED"``.

    PostgreSQL: a pool (``pool_size`` + ``max_overflow``) whose connections are pinged before use and name
    themselves ``application_name``. ``key_material`` has no file to check there: the key store is a database
    and role of its own.

    ``check`` connects once, so a wrong path, server or password fails here with a named error."""
    url = _parse(url_or_path)
    if url.get_backend_name() == "sqlite":
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise StorageError(f"SQLite {sqlite3.sqlite_version} is too old: the project's statements need "
                               f"{'.'.join(map(str, MIN_SQLITE))} or later (INSERT ... RETURNING)")
        engine = _sqlite_engine(url, key_material=key_material, wal=wal, busy_timeout_ms=busy_timeout_ms)
    else:
        connect_args: dict[str, object] = {"connect_timeout": int(connect_timeout)}
        if "application_name" not in url.query:
            connect_args["application_name"] = application_name
        # READ COMMITTED pinned, not left to the server's or the role's default: the rules several workers rely on
        # (a lock, then a read that sees what the lock's previous holder committed; UPDATE ... WHERE status = the
        # one read) hold under it, and under REPEATABLE READ a waiter would read its old snapshot (the throttle
        # counted attempts it could not see). A read that needs one state asks for more (Database.snapshot).
        engine = sa.create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow,
                                  hide_parameters=True, connect_args=connect_args, isolation_level="READ COMMITTED")
        _watch_synchronous_commit(engine)
    _translate_errors(engine, url)
    if check:
        try:
            with engine.connect():
                pass
        except BaseException:
            engine.dispose()
            raise
    log.info("opened the database %s", safe_url(url))
    return engine


def _sqlite_engine(url: URL, *, key_material: bool, wal: bool, busy_timeout_ms: int) -> Engine:
    memory = url.database in (None, "", ":memory:")
    if memory:
        # one connection for every thread (the caller serialises, as backoffice.Store does with its lock)
        engine = sa.create_engine("sqlite://", poolclass=StaticPool, hide_parameters=True,
                                  connect_args={"check_same_thread": False})
        path = None
    else:
        path = Path(url.database)
        prepare_file(path, key_material=key_material)
        engine = sa.create_engine(URL.create("sqlite", database=str(path)), hide_parameters=True,
                                  connect_args={"check_same_thread": False})

    _sqlite_hooks(engine, path, key_material=key_material, wal=wal, busy_timeout_ms=busy_timeout_ms)
    return engine


def sqlite_connection_engine(conn: sqlite3.Connection, *, busy_timeout_ms: int = 5000) -> Engine:
    """An Engine on one open sqlite3 connection (made by the caller, e.g. in memory; opened with
    ``check_same_thread=False`` when threads share it): the same PRAGMAs and ``BEGIN IMMEDIATE`` as
    :func:`open_engine` (no WAL change: the caller chose the journal)."""
    if not isinstance(conn, sqlite3.Connection):
        raise StorageError(f"expected a sqlite3.Connection, not {type(conn).__name__}")
    engine = sa.create_engine("sqlite://", poolclass=StaticPool, creator=lambda: conn, hide_parameters=True)
    _sqlite_hooks(engine, None, key_material=False, wal=False, busy_timeout_ms=busy_timeout_ms)
    _translate_errors(engine, URL.create("sqlite"))
    return engine


def _sqlite_hooks(engine: Engine, path: Path | None, *, key_material: bool, wal: bool, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        if key_material and path is not None:
            check_private(path)
        # SQLAlchemy, not the sqlite3 module, emits BEGIN (the pysqlite transaction-control recipe)
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            if path is not None and wal:
                (mode,) = cur.execute("PRAGMA journal_mode").fetchone()
                if mode != "wal":
                    cur.execute("PRAGMA journal_mode = wal")
            cur.execute("PRAGMA foreign_keys = ON")
            # deleted rows are overwritten with zeros, not left in free pages (a purged record, a shredded key)
            cur.execute("PRAGMA secure_delete = ON")
            if path is not None:
                cur.execute("PRAGMA synchronous = NORMAL" if wal else "PRAGMA synchronous = FULL")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = str(conn.get_execution_options().get(BEGIN_OPTION, "IMMEDIATE")).upper()
        if mode not in _BEGIN_MODES:
            raise StorageError(f"execution option {BEGIN_OPTION}={mode!r}: expected one of {', '.join(_BEGIN_MODES)}")
        conn.exec_driver_sql(f"BEGIN {mode}")


def _translate_errors(engine: Engine, url: URL) -> None:
    """Driver errors become StorageError subclasses (the driver's exception stays chained as the cause)."""
    where = safe_url(url)
    password = url.password

    def redact(text: str) -> str:
        if password:
            text = text.replace(str(password), "***")
        return text

    @event.listens_for(engine, "handle_error")
    def _on_error(ctx) -> StorageError | None:
        if ctx.is_pre_ping:
            return None  # the pool reconnects on its own
        original = ctx.original_exception
        detail = redact(" ".join(str(original).split()))[:500]
        sqlstate = getattr(original, "sqlstate", None)
        if ctx.connection is None or ctx.is_disconnect:
            return DatabaseUnavailableError(f"cannot use the database {where}: {detail}")
        if isinstance(ctx.sqlalchemy_exception, sa_exc.IntegrityError):
            return ConstraintError(f"constraint violated in {where}: {detail}")
        lowered = detail.lower()
        if sqlstate in _BUSY_SQLSTATES or "database is locked" in lowered or "database is busy" in lowered:
            return DatabaseBusyError(f"the database {where} is busy: {detail}")
        statement = " ".join((ctx.statement or "").split())[:200]
        return QueryError(f"{type(original).__name__} in {where}: {detail} (statement: {statement})")


#: set in a pooled PostgreSQL connection's ``info`` when the server said its commit was not confirmed by the
#: synchronous standby (:func:`commit_unconfirmed`)
UNCONFIRMED_COMMIT = "smartborder.unconfirmed_commit"
#: where PostgreSQL says (a WARNING, then COMMIT reported as a success) that the wait for the synchronous standby
#: was cancelled (a cancel request: pg_cancel_backend, a client's cancel; a statement_timeout does not end it)
_SYNCREP_FUNCTION = "SyncRepWaitForLSN"
#: the same warning's English text, in case a server does not report where a message came from
_SYNCREP_CANCELLED = ("canceling wait for synchronous replication", "canceling the wait for synchronous replication")


def _watch_synchronous_commit(engine: Engine) -> None:
    """With synchronous replication a COMMIT waits for the standby; when that wait is cancelled, PostgreSQL commits
    on the primary only, answers COMMIT as a success and says so in a WARNING alone. A back office that took that
    for an acknowledgement would tell a gate its record is safe when a failover to the standby would lose it. So
    each connection listens for that warning and marks itself (:func:`commit_unconfirmed`); storage.Database turns
    the mark into :class:`CommitUnconfirmedError` (the API's 503: the device keeps the record and retries). The
    warning is recognised by the server function that raises it (``SyncRepWaitForLSN``, not translated), or by its
    English text when the server leaves that field out."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, record) -> None:
        info = record.info

        def notice(diag) -> None:
            if _is_syncrep_cancel(diag):
                info[UNCONFIRMED_COMMIT] = True
                log.error("a commit was not confirmed by the synchronous standby (its wait was cancelled): the "
                          "transaction is on the primary only", extra={"event": "commit_unconfirmed"})

        dbapi_conn.add_notice_handler(notice)


def _is_syncrep_cancel(diag) -> bool:
    """Whether a notice (psycopg's ``Diagnostic``) is PostgreSQL's warning that a commit's wait for the synchronous
    standby was cancelled: by the server function that raises it, else (no such field) by its English text."""
    severity = getattr(diag, "severity_nonlocalized", None) or diag.severity
    if severity != "WARNING":
        return False
    if diag.source_function:
        return diag.source_function == _SYNCREP_FUNCTION
    return (diag.message_primary or "").startswith(_SYNCREP_CANCELLED)


def commit_unconfirmed(conn: Connection, *, clear: bool = True) -> bool:
    """Whether PostgreSQL said, since the mark was last cleared, that a commit on ``conn`` was not confirmed by
    the synchronous standby (always False on SQLite)."""
    if conn.dialect.name != "postgresql":
        return False
    info = conn.connection.info
    return bool(info.pop(UNCONFIRMED_COMMIT, False) if clear else info.get(UNCONFIRMED_COMMIT, False))


def lock_key(name: str) -> int:
    """The advisory lock key of ``name``: the first 8 bytes of its SHA-256, a signed 64-bit integer (stable
    across processes, releases and machines, unlike Python's ``hash``)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def lock(conn: Connection, name: str, *, shared: bool = False) -> None:
    """Hold the lock ``name`` until the transaction of ``conn`` ends: on PostgreSQL a transaction-scoped
    advisory lock (``pg_advisory_xact_lock``; another transaction taking the same name waits for this one's
    COMMIT or ROLLBACK); on SQLite nothing more is needed, ``BEGIN IMMEDIATE`` already serialises writers.
    ``shared``: many holders at once, but none while an exclusive holder has it (PostgreSQL).
    Outside a transaction it raises :class:`StorageError` on both (the lock would end at once)."""
    if not conn.in_transaction():
        raise StorageError(f"storage.lock({name!r}) needs an open transaction: a lock outside one ends at once")
    if conn.dialect.name == "postgresql":
        if getattr(conn.connection.driver_connection, "autocommit", False):
            raise StorageError(f"storage.lock({name!r}) on a connection in autocommit mode: the server has no "
                               f"transaction to hold the lock in")
        function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        conn.execute(sa.text(f"SELECT {function}(:key)"), {"key": lock_key(name)})


class LockBusyError(StorageError):
    """Another session holds the named lock (:func:`session_lock` does not wait for it)."""


@contextmanager
def session_lock(engine: Engine, name: str) -> Iterator[None]:
    """Hold the lock ``name`` for the block, across the many transactions in it, or refuse at once with
    :class:`LockBusyError` naming it when another session holds it: on PostgreSQL a session-level advisory lock
    (``pg_try_advisory_lock``) on a pooled connection of its own, released at the end (or when that session
    dies); on SQLite nothing (one process runs such a job; its transactions serialise with ``BEGIN IMMEDIATE``)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    key = lock_key(name)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        if not conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar():
            raise LockBusyError(f"the lock {name!r} is held by another session: {name} is already running")
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
