"""The database the privacy package runs on: a :class:`storage.Database` (SQLite or PostgreSQL).

:func:`open_db` takes what callers hand the vault, the ledger and the retention registry: a
:class:`storage.Database` that already holds the privacy tables (the back office's Store, whose history lists
them), a SQLite path or URL, a ``postgresql://`` URL (a stand-alone privacy database: the vault's key store,
a ledger of its own; brought up to date with :func:`privacy.migrations.upgrade`), or an open sqlite3
connection (an in-memory vault).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import sqlite_utils
from sqlalchemy import text

from privacy._errors import KeyFileError, PrivacySchemaError
from privacy._schema import MIGRATIONS
from storage import Database, FileModeError, MigrationError, StorageError, open_engine

__all__ = ["Db", "open_db"]

#: what the privacy package's classes accept as their database
Db = Database | str | Path | sqlite3.Connection | sqlite_utils.Database

_NAMES = [m.name for m in MIGRATIONS]


def _host_history(engine) -> bool:
    """SQLite: the database records the privacy migrations among others of its own (a host database, e.g. the
    back office's opened by path): its own history keeps it up to date, not the privacy one."""
    with engine.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'")).first():
            return False
        names = [r[0] for r in conn.execute(text("SELECT name FROM _migrations ORDER BY id"))]
    foreign = [n for n in names if n not in _NAMES]
    if foreign and not set(_NAMES) <= set(names):
        raise PrivacySchemaError("this database has its own migrations; add privacy.MIGRATIONS to its migration list "
                                 f"(missing: {', '.join(n for n in _NAMES if n not in names)})")
    return bool(foreign)


def open_db(db: Db, *, key_material: bool = False, lock: threading.RLock | None = None) -> Database:
    """A :class:`storage.Database` for ``db`` with the privacy schema up to date. ``key_material``: a key store (a
    SQLite file open to others is refused with :class:`KeyFileError`). ``lock`` is used for a database opened
    here (a Database handed in keeps its own)."""
    from privacy.migrations import upgrade

    if isinstance(db, Database):
        return db
    if isinstance(db, sqlite_utils.Database):
        db = db.conn
    try:
        if isinstance(db, sqlite3.Connection):
            out = Database.for_sqlite_connection(db, lock=lock)
        elif isinstance(db, str | Path):
            out = Database(open_engine(db, key_material=key_material), lock=lock)
        else:
            raise PrivacySchemaError(f"a privacy database is a path, a URL or a storage.Database, not "
                                     f"{type(db).__name__}")
    except FileModeError as e:
        raise KeyFileError(str(e)) from e
    try:
        if out.dialect != "sqlite" or not _host_history(out.engine):
            upgrade(out.engine)
    except MigrationError as e:
        out.close()
        raise PrivacySchemaError(f"cannot bring the privacy schema up to date: {e}") from e
    except (PrivacySchemaError, StorageError):
        out.close()
        raise
    return out
