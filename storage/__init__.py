"""Storage helpers shared by the services (gate, kiosk outbox, back office, privacy).

SQLite through sqlite-utils >= 4: a service opens its database with :func:`open_database` (WAL mode,
foreign keys on, a busy timeout) and brings its schema up to date with :func:`migrate`, which
records every applied :class:`Migration` in ``_migrations`` so each runs exactly once, in order,
inside its own transaction. That legacy history is frozen.

SQLite or PostgreSQL through SQLAlchemy Core: :func:`open_engine` (a path or a URL), :func:`lock` (a
transaction-scoped advisory lock on PostgreSQL), :func:`session_lock` (a try-lock held across transactions),
:class:`Database` (transactions on an engine, shared by the back office and the privacy package), and :func:`upgrade`, which runs the frozen legacy history
on SQLite and then Alembic's revisions from a baseline that PostgreSQL builds in one step.
"""

from storage._alembic import Upgrade, alembic_heads, run_alembic_env, upgrade
from storage._database import Database, DatabaseConnection
from storage._db import (
    SIDE_FILES,
    FileModeError,
    Migration,
    MigrationError,
    StorageError,
    applied_migrations,
    check_private,
    checkpoint_truncate,
    migrate,
    move_database,
    open_database,
    open_private,
    private_dir,
    transaction,
)
from storage._engine import (
    BEGIN_OPTION,
    CommitUnconfirmedError,
    ConstraintError,
    DatabaseBusyError,
    DatabaseUnavailableError,
    DatabaseURLError,
    LockBusyError,
    QueryError,
    commit_unconfirmed,
    lock,
    lock_key,
    open_engine,
    safe_url,
    session_lock,
    sqlite_connection_engine,
)

__all__ = [
    "BEGIN_OPTION",
    "SIDE_FILES",
    "CommitUnconfirmedError",
    "ConstraintError",
    "Database",
    "DatabaseBusyError",
    "DatabaseConnection",
    "DatabaseURLError",
    "DatabaseUnavailableError",
    "FileModeError",
    "LockBusyError",
    "Migration",
    "MigrationError",
    "QueryError",
    "StorageError",
    "Upgrade",
    "alembic_heads",
    "applied_migrations",
    "check_private",
    "checkpoint_truncate",
    "commit_unconfirmed",
    "lock",
    "lock_key",
    "migrate",
    "move_database",
    "open_database",
    "open_engine",
    "open_private",
    "private_dir",
    "run_alembic_env",
    "safe_url",
    "session_lock",
    "sqlite_connection_engine",
    "transaction",
    "upgrade",
]
