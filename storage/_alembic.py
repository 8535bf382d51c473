"""The bridge from the frozen, checksummed :func:`storage.migrate` history to Alembic.

On SQLite the legacy history runs first, exactly as it always has (so a database of any earlier release
reaches the last legacy schema step by step), then Alembic's baseline revision is *stamped* (it describes
that same schema) and the revisions after it run. On PostgreSQL there is no legacy history: the baseline
revision creates the whole schema, then the same later revisions run. The legacy ``Migration`` strings are
never edited again (their checksums are recorded in every database): a schema change is a new Alembic
revision, written for both dialects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
import sqlite_utils
from sqlalchemy.engine import Connection, Engine

from storage._db import Migration, MigrationError, StorageError, applied_migrations, migrate
from storage._engine import lock

__all__ = ["Upgrade", "alembic_heads", "run_alembic_env", "upgrade"]

#: the table in which Alembic records the revision a database is at
VERSION_TABLE = "alembic_version"


@dataclass(frozen=True)
class Upgrade:
    """What :func:`upgrade` did: the legacy migrations applied now (SQLite only), whether the baseline was
    stamped, and the Alembic heads before and after."""

    legacy: tuple[str, ...]
    stamped: bool
    before: tuple[str, ...]
    after: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.legacy) or self.stamped or self.before != self.after


def _config(location: str | Path, connection: Connection | None = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(location))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def alembic_heads(conn: Connection) -> tuple[str, ...]:
    """The revisions the database of ``conn`` is at (empty before Alembic ever ran on it)."""
    from alembic.runtime.migration import MigrationContext

    return tuple(sorted(MigrationContext.configure(conn).get_current_heads()))


def _has_table(conn: Connection, name: str) -> bool:
    return sa.inspect(conn).has_table(name)


def _run_legacy(engine: Engine, legacy: Sequence[Migration]) -> tuple[str, ...]:
    """The frozen history on a raw sqlite3 connection of the engine (autocommit: migrate issues its own BEGIN)."""
    names = [m.name for m in legacy]
    raw = engine.raw_connection()
    try:
        db = sqlite_utils.Database(raw.driver_connection)
        (has_alembic,) = raw.driver_connection.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", (VERSION_TABLE,)).fetchone()
        recorded = applied_migrations(db)
        if has_alembic and len(recorded) < len(names) and recorded == names[:len(recorded)]:
            raise MigrationError(f"the database has an Alembic history ({VERSION_TABLE}) but its legacy history "
                                 f"is not complete ({len(recorded)} of {len(names)} migrations): refusing to "
                                 f"upgrade it")
        return tuple(migrate(db, legacy))
    finally:
        raw.close()


def upgrade(engine: Engine, *, legacy: Sequence[Migration], alembic_location: str | Path,
            baseline: str) -> Upgrade:
    """Bring the database of ``engine`` up to date: on SQLite the legacy history ``legacy`` first (refused
    with :class:`MigrationError` when the recorded one differs, as :func:`storage.migrate` does), then the
    Alembic revisions under ``alembic_location`` from ``baseline`` on (stamped on SQLite, run on PostgreSQL).
    Everything Alembic does runs in one transaction under the lock ``storage.upgrade:<baseline>`` (two
    workers starting at once: the second finds the work done). Running it again changes nothing."""
    from alembic import command
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        script = ScriptDirectory.from_config(_config(alembic_location))
        script.get_revision(baseline)
        bases = script.get_bases()
    except CommandError as e:
        raise MigrationError(f"the Alembic history under {alembic_location} has no baseline {baseline!r}: {e}") from e
    if list(bases) != [baseline]:
        raise MigrationError(f"the Alembic history under {alembic_location} must start at {baseline!r} alone, "
                             f"not {sorted(bases)}")
    sqlite = engine.dialect.name == "sqlite"
    done = _run_legacy(engine, legacy) if sqlite else ()
    stamped = False
    try:
        with engine.begin() as conn:
            lock(conn, f"storage.upgrade:{baseline}")
            before = alembic_heads(conn) if _has_table(conn, VERSION_TABLE) else ()
            if sqlite and not before:
                command.stamp(_config(alembic_location, conn), baseline)
                stamped = True
            command.upgrade(_config(alembic_location, conn), "heads")
            after = alembic_heads(conn)
    except CommandError as e:
        raise MigrationError(f"Alembic upgrade under {alembic_location} refused: {e}") from e
    except MigrationError:
        raise
    except StorageError as e:
        raise MigrationError(f"Alembic upgrade under {alembic_location} failed: {e}") from e
    return Upgrade(legacy=done, stamped=stamped, before=before, after=after)


def run_alembic_env() -> None:
    """The body of an ``env.py``: run the revisions on the connection :func:`upgrade` passed in (no
    ``alembic.ini``, no URL: the engine is opened by :func:`storage.open_engine`)."""
    from alembic import context

    conn = context.config.attributes.get("connection")
    if conn is None:
        raise MigrationError("this Alembic environment runs only through storage.upgrade(engine, ...), which "
                             "passes it a connection (there is no alembic.ini or URL)")
    context.configure(connection=conn, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()
