"""storage.open_engine, its named errors and storage.lock on SQLite and PostgreSQL (issue #24 increment 2)."""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import sqlalchemy as sa

from storage import (
    BEGIN_OPTION,
    ConstraintError,
    DatabaseBusyError,
    DatabaseUnavailableError,
    DatabaseURLError,
    FileModeError,
    QueryError,
    StorageError,
    lock,
    lock_key,
    open_engine,
)
from storage.testing import free_port

SECRET = "s3cr3t-Pa55word"


def _pragmas(conn) -> dict[str, object]:
    return {p: conn.exec_driver_sql(f"PRAGMA {p}").scalar()
            for p in ("journal_mode", "foreign_keys", "secure_delete", "synchronous", "busy_timeout")}


def _everything_said(exc: BaseException) -> str:
    """The exception as a logged traceback shows it: the whole chain of causes with their messages."""
    return "".join(traceback.format_exception(exc))


def _messages(exc: BaseException | None) -> str:
    """Every message and repr along the chain of causes (what a log line of the error would carry)."""
    out = []
    while exc is not None:
        out += [str(exc), repr(exc)]
        exc = exc.__cause__ or exc.__context__
    return "\n".join(out)


@pytest.fixture()
def private_dir(tmp_path):
    os.chmod(tmp_path, 0o700)
    return tmp_path


# --- SQLite ---

def test_every_sqlite_connection_gets_the_settings_of_open_database(private_dir):
    path = private_dir / "data" / "bo.db"
    engine = open_engine(path)
    deferred = {BEGIN_OPTION: "DEFERRED"}  # two readers at once (two IMMEDIATE transactions would wait)
    with engine.connect().execution_options(**deferred) as a, engine.connect().execution_options(**deferred) as b:
        # two pooled connections, each configured
        for conn in (a, b):
            assert _pragmas(conn) == {"journal_mode": "wal", "foreign_keys": 1, "secure_delete": 1,
                                      "synchronous": 1, "busy_timeout": 5000}
    engine.dispose()
    assert oct(path.stat().st_mode & 0o777) == "0o600" and oct(path.parent.stat().st_mode & 0o777) == "0o700"
    rollback = open_engine(f"sqlite:///{private_dir / 'nowal.db'}", wal=False, busy_timeout_ms=250)
    with rollback.connect() as conn:
        assert _pragmas(conn) == {"journal_mode": "delete", "foreign_keys": 1, "secure_delete": 1,
                                  "synchronous": 2, "busy_timeout": 250}


def test_an_existing_database_open_to_others_is_tightened(private_dir):
    path = private_dir / "loose.db"
    path.touch()
    os.chmod(path, 0o644)
    open_engine(path).dispose()
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_key_store_open_to_others_is_refused_also_on_a_later_connection(private_dir):
    loose = private_dir / "loose.db"
    loose.touch()
    os.chmod(loose, 0o640)
    with pytest.raises(FileModeError, match="mode 0640"):
        open_engine(loose, key_material=True)
    assert loose.stat().st_mode & 0o777 == 0o640  # refused, not repaired

    path = private_dir / "keys.db"
    engine = open_engine(path, key_material=True)
    engine.dispose()  # the pool is empty: the next use opens a new connection
    os.chmod(path, 0o644)
    with pytest.raises(FileModeError, match="key material must be private"), engine.connect():
        pass


def test_a_sqlite_transaction_begins_immediate_unless_it_says_deferred(private_dir):
    path = private_dir / "bo.db"
    writer = open_engine(path)
    other = open_engine(path, busy_timeout_ms=100)
    with other.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (k TEXT PRIMARY KEY)")
    with writer.begin() as conn:
        conn.exec_driver_sql("SELECT 1")  # BEGIN IMMEDIATE: the write lock is held from here, before any write
        started = time.monotonic()
        with pytest.raises(DatabaseBusyError, match="database is locked"), other.begin() as blocked:
            blocked.exec_driver_sql("SELECT 1")
        assert time.monotonic() - started >= 0.09  # it waited its busy_timeout first
        with other.connect().execution_options(**{BEGIN_OPTION: "DEFERRED"}) as reader, reader.begin():
            assert reader.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
    with pytest.raises(StorageError, match="expected one of IMMEDIATE"), \
            other.connect().execution_options(**{BEGIN_OPTION: "LATER"}) as conn, conn.begin():
        pass


def test_an_in_memory_engine_is_one_private_database(private_dir):
    engine = open_engine(":memory:")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (k TEXT PRIMARY KEY)")
        assert _pragmas(conn)["foreign_keys"] == 1 and _pragmas(conn)["secure_delete"] == 1
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
    with open_engine("sqlite://").connect() as conn:
        assert not sa.inspect(conn).has_table("t")


def test_sqlite_driver_errors_are_named_storage_errors(private_dir):
    engine = open_engine(private_dir / "bo.db")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE p (k TEXT PRIMARY KEY)")
        conn.exec_driver_sql("CREATE TABLE c (k TEXT REFERENCES p(k))")
    with pytest.raises(ConstraintError, match="FOREIGN KEY constraint failed") as caught, engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO c VALUES (:k)"), {"k": "personal-data-4711"})
    assert isinstance(caught.value.__cause__, Exception)
    assert "personal-data-4711" not in _messages(caught.value)  # parameters are not in messages
    with pytest.raises(QueryError, match="no such table: missing"), engine.connect() as conn:
        conn.exec_driver_sql("SELECT * FROM missing")
    (private_dir / "garbage.db").write_bytes(b"not a database, " * 256)
    with pytest.raises(DatabaseUnavailableError, match="file is not a database"):
        open_engine(private_dir / "garbage.db")
    (private_dir / "dir.db").mkdir()
    with pytest.raises(DatabaseUnavailableError, match="cannot use the database"):
        open_engine(private_dir / "dir.db")


def test_lock_needs_a_transaction_and_is_a_no_op_on_sqlite(private_dir):
    engine = open_engine(private_dir / "bo.db")
    with engine.connect() as conn:
        with pytest.raises(StorageError, match="needs an open transaction"):
            lock(conn, "ledger")
        with conn.begin():
            lock(conn, "ledger")
            lock(conn, "ledger")  # re-entrant within the transaction, like the advisory lock
    assert lock_key("ledger") == -138484540444757245  # stable across processes and releases (sha-256)
    assert lock_key("ledger") != lock_key("watchlist")


# --- URLs and passwords ---

@pytest.mark.parametrize("url, message", [
    (f"postgresql://border:{SECRET}@db.example:notaport/smartborder", "cannot parse the database URL"),
    (f"mysql://border:{SECRET}@db.example/smartborder", "unsupported database backend 'mysql'"),
    (f"postgresql+psycopg2://border:{SECRET}@db.example/smartborder", "unsupported PostgreSQL driver 'psycopg2'"),
    (f"sqlite:///x.db?password={SECRET}", "unsupported SQLite URL"),
])
def test_a_bad_url_is_a_named_error_without_the_password(url, message, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DatabaseURLError, match=message) as caught:
        open_engine(url)
    assert SECRET not in _everything_said(caught.value)
    assert SECRET not in caplog.text


def test_an_unreachable_server_is_named_without_the_password(caplog):
    caplog.set_level(logging.DEBUG)
    port = free_port()
    with pytest.raises(DatabaseUnavailableError, match=f"cannot use the database postgresql.*:{port}") as caught:
        open_engine(f"postgresql://border:{SECRET}@127.0.0.1:{port}/smartborder", connect_timeout=5)
    assert "border:***@" in str(caught.value)
    assert SECRET not in _everything_said(caught.value) and SECRET not in caplog.text


# --- PostgreSQL (the session's throwaway cluster) ---

def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    user = parts.netloc.split("@", 1)[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.netloc.split('@', 1)[1]}"))


def test_a_wrong_postgresql_password_is_named_and_no_password_is_shown(postgres_db, caplog):
    caplog.set_level(logging.DEBUG)
    right = urlsplit(postgres_db).password
    with pytest.raises(DatabaseUnavailableError, match="password authentication failed") as caught:
        open_engine(_with_password(postgres_db, SECRET))
    said = _everything_said(caught.value)
    assert SECRET not in said and right not in said
    assert SECRET not in caplog.text and right not in caplog.text


def test_postgresql_connections_are_named_pinged_and_errors_named(postgres_db, postgres, caplog):
    caplog.set_level(logging.DEBUG)  # SQLAlchemy's engine and pool log everything at this level
    engine = open_engine(postgres_db, application_name="backoffice-test")
    try:
        assert engine.dialect.driver == "psycopg"
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT application_name FROM pg_stat_activity "
                                        "WHERE pid = pg_backend_pid()").scalar() == "backoffice-test"
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with psycopg.connect(postgres.superuser_url, autocommit=True) as su:  # the server drops the pooled one
            su.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with engine.connect() as conn:  # pre-ping noticed and reconnected
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (k TEXT PRIMARY KEY)")
            conn.exec_driver_sql("INSERT INTO t VALUES ('a')")
        with pytest.raises(ConstraintError, match="duplicate key value violates unique constraint"), \
                engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO t VALUES (:k)"), {"k": "a"})
        with pytest.raises(QueryError, match='relation "missing" does not exist'), engine.connect() as conn:
            conn.exec_driver_sql("SELECT * FROM missing")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn, conn.begin(), \
                pytest.raises(StorageError, match="autocommit mode"):
            lock(conn, "ledger")
    finally:
        engine.dispose()
    assert "opened the database postgresql+psycopg://" in caplog.text and ":***@127.0.0.1" in caplog.text
    assert urlsplit(postgres_db).password not in caplog.text


def test_the_advisory_lock_makes_a_second_transaction_wait_for_the_first_commit(postgres_db):
    engine = open_engine(postgres_db, pool_size=3)
    held, events = threading.Event(), {}

    def first() -> None:
        with engine.begin() as conn:
            lock(conn, "ledger")
            held.set()
            time.sleep(0.4)
            events["first_commit"] = time.monotonic()

    def second(name: str) -> None:
        held.wait(10)
        with engine.begin() as conn:
            lock(conn, name)
            events[name] = time.monotonic()

    try:
        threads = [threading.Thread(target=first), threading.Thread(target=second, args=("ledger",)),
                   threading.Thread(target=second, args=("watchlist",))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert events["ledger"] >= events["first_commit"]  # waited for the COMMIT (time taken after the sleep)
        assert events["watchlist"] < events["first_commit"]  # another name does not wait
        with engine.connect() as conn, pytest.raises(StorageError, match="needs an open transaction"):
            lock(conn, "ledger")
    finally:
        engine.dispose()


def test_a_sqlite_too_old_for_returning_is_refused_by_name(tmp_path, monkeypatch):
    import sqlite3

    import storage._engine as engine_module
    from storage import StorageError, open_engine

    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")
    with pytest.raises(StorageError, match=r"SQLite 3\.34\.1 is too old.*3\.35\.0"):
        open_engine(tmp_path / "old.db")
    assert not (tmp_path / "old.db").exists()
    assert engine_module.MIN_SQLITE == (3, 35, 0)


def test_a_wal_checkpoint_never_touches_another_threads_transaction(private_dir):
    """The purge's and the erasure's WAL truncation runs on the SQLite connection the server's threads share:
    it must wait for the lock, not run a statement (or a COMMIT) in the middle of another thread's transaction.
    (It wrapped the connection in a new sqlite_utils.Database, whose constructor ran a PRAGMA and a COMMIT
    unlocked: 'cannot commit - no transaction is active', a 500 on a concurrent purge and erasure.)"""
    from storage import Database

    db = Database(open_engine(private_dir / "bo.db"))
    with db.tx() as conn:
        conn.execute(sa.text("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"))
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            for k in range(400):
                with db.tx() as conn:
                    conn.execute(sa.text("INSERT INTO t (k, v) VALUES (:k, 'a')"), {"k": k})
                    conn.execute(sa.text("UPDATE t SET v = 'b' WHERE k = :k"), {"k": k})
        except BaseException as e:  # noqa: BLE001 - the test reports it
            errors.append(e)
        finally:
            done.set()

    def checkpointer() -> None:
        try:
            while not done.is_set():
                db.checkpoint_truncate(attempts=1, wait_ms=10)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=writer), threading.Thread(target=checkpointer),
               threading.Thread(target=checkpointer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, _everything_said(errors[0])
    assert db.query(sa.text("SELECT count(*) AS n, sum(v = 'b') AS b FROM t")) == [{"n": 400, "b": 400}]
    assert db.checkpoint_truncate() and (private_dir / "bo.db-wal").stat().st_size == 0
    assert db.query(sa.text("PRAGMA recursive_triggers"))[0]["recursive_triggers"] == 0  # the connection as opened
    db.close()



def test_a_commit_the_synchronous_standby_did_not_confirm_is_not_acknowledged():
    """With synchronous replication, cancelling a COMMIT's wait for the standby (pg_cancel_backend, a client's
    cancel) makes PostgreSQL commit on the primary only and answer COMMIT as a success, with only a WARNING. The
    transaction must end in CommitUnconfirmedError (a DatabaseUnavailableError: the API's 503, the device retries),
    not as an acknowledgement a failover would break; the next transaction on the same pooled connection is
    unaffected."""
    from storage import CommitUnconfirmedError, Database, commit_unconfirmed
    from storage.testing import postgres_cluster
    from tests.conftest import postgres_bin_or_skip

    with postgres_cluster(bin_dir=postgres_bin_or_skip(), settings={"synchronous_commit": "on"}) as cluster:
        admin = sa.create_engine(sa.make_url(cluster.superuser_url).set(
            drivername="postgresql+psycopg", database=sa.make_url(cluster.url).database), isolation_level="AUTOCOMMIT")
        db = Database(open_engine(cluster.url, pool_size=1, max_overflow=0))
        with db.tx() as conn:
            conn.execute(sa.text("CREATE TABLE t (k INTEGER PRIMARY KEY)"))
        with admin.connect() as su:  # from now on a standby that never connects: every commit waits for it
            su.exec_driver_sql("ALTER SYSTEM SET synchronous_standby_names = 'ghost'")
            su.exec_driver_sql("SELECT pg_reload_conf()")
        outcome: list[BaseException | str] = []

        def write() -> None:
            try:
                with db.tx() as conn:
                    conn.execute(sa.text("INSERT INTO t (k) VALUES (1)"))
                outcome.append("acknowledged")
            except BaseException as e:  # noqa: BLE001 - the test looks at it
                outcome.append(e)

        writer = threading.Thread(target=write)
        writer.start()
        with admin.connect() as su:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                pids = [r[0] for r in su.exec_driver_sql(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event = 'SyncRep'")]
                if pids:
                    break
                time.sleep(0.05)
            assert pids, "the commit never waited for the standby"
            assert su.exec_driver_sql(f"SELECT pg_cancel_backend({int(pids[0])})").scalar()
            writer.join(30)
            assert len(outcome) == 1 and isinstance(outcome[0], CommitUnconfirmedError), outcome
            assert "not confirmed by the synchronous standby" in str(outcome[0])
            # the row is on the primary (that is the danger): the device's retry finds it by its key
            assert su.exec_driver_sql("SELECT count(*) FROM t").scalar() == 1
            su.exec_driver_sql("ALTER SYSTEM RESET synchronous_standby_names")
            su.exec_driver_sql("SELECT pg_reload_conf()")
        time.sleep(0.5)
        with db.tx() as conn:  # the same pooled connection: its mark was cleared, this commit is confirmed
            conn.execute(sa.text("INSERT INTO t (k) VALUES (2)"))
            assert not commit_unconfirmed(conn.connection, clear=False)
        assert db.query(sa.text("SELECT count(*) AS n FROM t")) == [{"n": 2}]
        db.close()
        admin.dispose()


@pytest.mark.parametrize("severity, function, message, unconfirmed", [
    ("WARNING", "SyncRepWaitForLSN", "Warten auf synchrone Replikation wird abgebrochen", True),  # lc_messages=de
    ("WARNING", None, "canceling wait for synchronous replication due to user request", True),
    ("WARNING", None, "canceling the wait for synchronous replication and terminating connection", True),
    ("NOTICE", "SyncRepWaitForLSN", "anything", False),
    ("WARNING", "ProcessInterrupts", "canceling statement due to user request", False),
])
def test_the_standby_warning_is_known_by_where_it_came_from_in_any_language(severity, function, message, unconfirmed):
    """The server translates its messages (``lc_messages``; an application role cannot change it): the warning is
    recognised by the server function that raised it, its English text only when that field is missing."""
    from types import SimpleNamespace

    from storage._engine import _is_syncrep_cancel

    diag = SimpleNamespace(severity_nonlocalized=severity, severity=severity, source_function=function,
                           message_primary=message)
    assert _is_syncrep_cancel(diag) is unconfirmed
