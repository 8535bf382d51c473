import pytest

from storage import Migration, MigrationError, applied_migrations, migrate, open_database

M1 = Migration("001_people", "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT);"
                             "CREATE INDEX people_name ON people(name);")
M2 = Migration("002_events", "CREATE TABLE events (id INTEGER PRIMARY KEY, body TEXT DEFAULT 'a;b');")


def test_migrations_apply_once_in_order(tmp_path):
    db = open_database(tmp_path / "x.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert migrate(db, [M1]) == ["001_people"]
    assert migrate(db, [M1, M2]) == ["002_events"]
    assert migrate(db, [M1, M2]) == []
    assert applied_migrations(db) == ["001_people", "002_events"]
    assert {"people", "events"} <= set(db.table_names())


def test_changed_or_unknown_history_is_refused():
    db = open_database(memory=True)
    migrate(db, [M1])
    with pytest.raises(MigrationError, match="changed"):
        migrate(db, [Migration("001_people", "CREATE TABLE other (x);")])
    with pytest.raises(MigrationError, match="does not know"):
        migrate(db, [M2])


def test_failed_migration_rolls_back_and_is_not_recorded():
    db = open_database(memory=True)
    bad = Migration("002_bad", "CREATE TABLE t2 (x); INSERT INTO nowhere VALUES (1);")
    with pytest.raises(MigrationError, match="002_bad"):
        migrate(db, [M1, bad])
    assert applied_migrations(db) == ["001_people"]
    assert "t2" not in db.table_names()


def test_python_migrations():
    db = open_database(memory=True)

    def seed(d):
        d["people"].insert({"id": 1, "name": "Nguyễn Văn A"})

    migrate(db, [M1, Migration("002_seed", seed)])
    assert db["people"].get(1)["name"] == "Nguyễn Văn A"
