from __future__ import annotations

import datetime as _dt
import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils


class StorageError(RuntimeError):
    """The database could not be opened or used."""


class MigrationError(StorageError):
    """A migration failed, or the recorded history does not match the code's migrations."""


@dataclass(frozen=True)
class Migration:
    """One schema step. ``apply`` is SQL text (may hold several statements) or a callable(db)."""

    name: str
    apply: str | Callable[[sqlite_utils.Database], None]

    def checksum(self) -> str:
        body = self.apply if isinstance(self.apply, str) else getattr(self.apply, "__qualname__", "")
        return hashlib.sha256(f"{self.name}\n{body}".encode()).hexdigest()


def open_database(path: str | Path | None = None, *, memory: bool = False, wal: bool = True,
                  busy_timeout_ms: int = 5000) -> sqlite_utils.Database:
    """Open (creating if needed) a database. ``memory=True`` or ``path=None`` gives an in-memory one.

    The connection is in autocommit mode (``isolation_level=None``): each statement commits on its
    own unless the caller opens a transaction with ``BEGIN`` (as :func:`migrate` does).
    """
    try:
        if memory or path is None:
            # autocommit mode like file databases, so callers can use explicit BEGIN/COMMIT
            db = sqlite_utils.Database(sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None))
        else:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            db = sqlite_utils.Database(conn)
            if wal:
                db.enable_wal()
        db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        db.execute("PRAGMA foreign_keys = ON")
        if not memory and path is not None:
            db.execute("PRAGMA synchronous = NORMAL" if wal else "PRAGMA synchronous = FULL")
    except sqlite3.Error as e:
        raise StorageError(f"cannot open database {path}: {e}") from e
    return db


def _ensure_table(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, "
        "checksum TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )


def applied_migrations(db: sqlite_utils.Database) -> list[str]:
    _ensure_table(db)
    return [row[0] for row in db.execute("SELECT name FROM _migrations ORDER BY id").fetchall()]


def migrate(db: sqlite_utils.Database, migrations: Sequence[Migration]) -> list[str]:
    """Apply the migrations not yet recorded, in order; return the names applied now.

    The recorded history must be a prefix of ``migrations`` with matching checksums, so a
    database never runs against a schema it was not built with.
    """
    names = [m.name for m in migrations]
    if len(set(names)) != len(names):
        raise MigrationError("duplicate migration names")
    _ensure_table(db)
    recorded = db.execute("SELECT name, checksum FROM _migrations ORDER BY id").fetchall()
    for i, (name, checksum) in enumerate(recorded):
        if i >= len(migrations) or migrations[i].name != name:
            raise MigrationError(f"database has migration {name!r} that the code does not know at step {i}")
        if migrations[i].checksum() != checksum:
            raise MigrationError(f"migration {name!r} changed after it was applied")
    done: list[str] = []
    conn = db.conn
    for m in migrations[len(recorded):]:
        try:
            conn.execute("BEGIN")
            if isinstance(m.apply, str):
                for statement in _split_sql(m.apply):
                    conn.execute(statement)
            else:
                m.apply(db)
            conn.execute(
                "INSERT INTO _migrations (name, checksum, applied_at) VALUES (?, ?, ?)",
                (m.name, m.checksum(), _dt.datetime.now(_dt.UTC).isoformat()),
            )
            conn.execute("COMMIT")
        except Exception as e:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise MigrationError(f"migration {m.name!r} failed: {e}") from e
        done.append(m.name)
    return done


def _split_sql(script: str) -> list[str]:
    """Split a script into complete statements (sqlite3.complete_statement knows quotes and triggers)."""
    out, buf = [], ""
    for piece in script.split(";"):
        buf += piece + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \t\r\n;"):
                out.append(buf.strip())
            buf = ""
    if buf.strip(" \t\r\n;"):
        raise MigrationError(f"incomplete SQL statement: {buf.strip()[:60]!r}")
    return out


@contextmanager
def transaction(db: sqlite_utils.Database, lock: threading.RLock) -> Iterator[sqlite_utils.Database]:
    """BEGIN IMMEDIATE ... COMMIT under ``lock`` (a connection shared by threads), or join the transaction
    the caller already holds open (the caller commits); a failure rolls back."""
    with lock:
        conn = db.conn
        if conn.in_transaction:
            yield db
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
