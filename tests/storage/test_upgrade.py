"""The legacy -> Alembic bridge (storage.upgrade; issue #24 increment 2): the frozen storage.migrate history on
SQLite, then Alembic from a baseline that PostgreSQL builds in one step, equal to SQLite's schema by reflection."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

import backoffice.migrations as backoffice_migrations
import privacy
import privacy.migrations as privacy_migrations
import storage
from backoffice._store import MIGRATIONS
from storage import Migration, MigrationError, migrate, open_database, open_engine
from tests.storage.schema_snapshot import identity_columns, snapshot, sqlite_master

#: the columns PostgreSQL numbers itself (SQLite's INTEGER PRIMARY KEY the code never fills in)
BACKOFFICE_IDENTITY = {("users", "id"), ("watchlist_changes", "version"), ("login_attempts", "id"),
                       ("retention_items", "id"), ("ledger_checkpoints", "id"), ("consents", "id")}


def _fresh(path) -> sa.Engine:
    engine = open_engine(path)
    backoffice_migrations.upgrade(engine)
    return engine


def _legacy_rows(engine: sa.Engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql("SELECT id, name, checksum FROM _migrations ORDER BY id")]


@pytest.mark.parametrize("prefix", range(len(MIGRATIONS) + 1),
                         ids=["empty", *(m.name for m in MIGRATIONS)])
def test_a_database_of_each_earlier_release_upgrades_to_the_fresh_schema(tmp_path, prefix):
    fresh = _fresh(tmp_path / "fresh.db")
    old_path = tmp_path / "old.db"
    db = open_database(old_path)
    migrate(db, MIGRATIONS[:prefix])
    if prefix:  # a row written by that release survives (privacy_0005 rebuilds a table on the way)
        db.execute("INSERT INTO users (username, password_hash, role, created_at) VALUES ('u', 'h', 'admin', 't')")
    db.close()

    old = open_engine(old_path)
    done = backoffice_migrations.upgrade(old)

    assert done.legacy == tuple(m.name for m in MIGRATIONS[prefix:])
    assert done.stamped and done.after == (backoffice_migrations.HEAD,)
    assert sqlite_master(old) == sqlite_master(fresh)
    assert _legacy_rows(old) == _legacy_rows(fresh)
    if prefix:
        with old.connect() as conn:
            assert conn.exec_driver_sql("SELECT username FROM users").all() == [("u",)]


def test_upgrading_twice_changes_nothing_on_sqlite(tmp_path):
    engine = _fresh(tmp_path / "bo.db")
    before = sqlite_master(engine)
    again = backoffice_migrations.upgrade(engine)
    assert not again.changed and again.before == again.after == (backoffice_migrations.HEAD,)
    assert sqlite_master(engine) == before


def test_a_legacy_history_that_differs_is_refused(tmp_path):
    db = open_database(tmp_path / "changed.db")
    migrate(db, [Migration("0001_auth", "CREATE TABLE users (id INTEGER PRIMARY KEY)")])
    db.close()
    with pytest.raises(MigrationError, match="'0001_auth' changed after it was applied"):
        backoffice_migrations.upgrade(open_engine(tmp_path / "changed.db"))

    db = open_database(tmp_path / "foreign.db")
    migrate(db, [Migration("9999_elsewhere", "CREATE TABLE t (a)")])
    db.close()
    with pytest.raises(MigrationError, match="'9999_elsewhere' that the code does not know at step 0"):
        backoffice_migrations.upgrade(open_engine(tmp_path / "foreign.db"))


def test_a_privacy_key_store_is_not_a_back_office_database_and_back(tmp_path):
    keys = open_engine(tmp_path / "keys.db")
    privacy_migrations.upgrade(keys)
    with pytest.raises(MigrationError, match="'privacy_0001_vault' that the code does not know at step 0"):
        backoffice_migrations.upgrade(keys)
    with pytest.raises(MigrationError, match="'0001_auth' that the code does not know at step 0"):
        privacy_migrations.upgrade(_fresh(tmp_path / "bo.db"))


def test_an_alembic_stamp_over_an_incomplete_legacy_history_is_refused(tmp_path):
    engine = _fresh(tmp_path / "bo.db")
    with engine.begin() as conn:  # as if the last legacy step had been lost
        conn.exec_driver_sql("DELETE FROM _migrations WHERE name = '0010_liveness'")
    with pytest.raises(MigrationError, match=r"legacy history is not complete \(16 of 17 migrations\)"):
        backoffice_migrations.upgrade(engine)


def test_the_privacy_key_store_upgrades_from_its_own_legacy_history(tmp_path):
    db = open_database(tmp_path / "keys.db")
    migrate(db, privacy.MIGRATIONS[:4])
    db.close()
    old = open_engine(tmp_path / "keys.db")
    done = privacy_migrations.upgrade(old)
    assert done.legacy == tuple(m.name for m in privacy.MIGRATIONS[4:])
    assert done.after == (privacy_migrations.HEAD,)
    fresh = open_engine(tmp_path / "fresh.db")
    privacy_migrations.upgrade(fresh)
    assert sqlite_master(old) == sqlite_master(fresh)


def test_a_missing_baseline_is_a_named_error(tmp_path):
    with pytest.raises(MigrationError, match="has no baseline 'nope'"):
        storage.upgrade(open_engine(tmp_path / "x.db"), legacy=[], alembic_location=backoffice_migrations.LOCATION,
                        baseline="nope")


# --- PostgreSQL (the session's throwaway cluster, a fresh database per test) ---

def test_the_postgresql_baseline_equals_the_sqlite_schema(postgres_db, tmp_path):
    pg = open_engine(postgres_db)
    try:
        done = backoffice_migrations.upgrade(pg)
        assert done.legacy == () and not done.stamped and done.after == (backoffice_migrations.HEAD,)
        lite = _fresh(tmp_path / "bo.db")
        expected, got = snapshot(lite), snapshot(pg)
        assert sorted(got) == sorted(expected)
        for table in expected:
            assert got[table] == expected[table], table
        assert identity_columns(pg) == BACKOFFICE_IDENTITY
        with pg.connect() as conn:  # no legacy bookkeeping on PostgreSQL
            assert not sa.inspect(conn).has_table("_migrations")
    finally:
        pg.dispose()


def test_upgrading_twice_changes_nothing_on_postgresql(postgres_db):
    pg = open_engine(postgres_db)
    try:
        backoffice_migrations.upgrade(pg)
        before = snapshot(pg)
        again = backoffice_migrations.upgrade(pg)
        assert not again.changed and again.before == (backoffice_migrations.HEAD,)
        assert snapshot(pg) == before
        # a back office database is not a key store: its Alembic revision is unknown to the privacy history
        with pytest.raises(MigrationError, match="refused"):
            privacy_migrations.upgrade(pg)
    finally:
        pg.dispose()


def test_the_postgresql_key_store_baseline_equals_the_sqlite_key_store(postgres_db, tmp_path):
    pg = open_engine(postgres_db, key_material=True)
    try:
        privacy_migrations.upgrade(pg)
        lite = open_engine(tmp_path / "keys.db")
        privacy_migrations.upgrade(lite)
        assert snapshot(pg) == snapshot(lite)
        assert identity_columns(pg) == {i for i in BACKOFFICE_IDENTITY if i[0] in snapshot(lite)}
    finally:
        pg.dispose()


def test_two_workers_upgrading_one_postgresql_database_at_once_build_it_once(postgres_db):
    engines = [open_engine(postgres_db) for _ in range(2)]
    results, errors, start = [], [], threading.Barrier(2)

    def run(engine) -> None:
        start.wait(10)
        try:
            results.append(backoffice_migrations.upgrade(engine))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    try:
        threads = [threading.Thread(target=run, args=(e,)) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == []
        assert sorted(r.before for r in results) == [(), (backoffice_migrations.HEAD,)]  # the 2nd waited
        with engines[0].connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1
    finally:
        for e in engines:
            e.dispose()
