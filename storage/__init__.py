"""SQLite storage helpers shared by the services (gate, kiosk outbox, back office, privacy).

Built on sqlite-utils >= 4. A service opens its database with :func:`open_database` (WAL mode,
foreign keys on, a busy timeout) and brings its schema up to date with :func:`migrate`, which
records every applied :class:`Migration` in ``_migrations`` so each runs exactly once, in order,
inside its own transaction.
"""

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

__all__ = [
    "SIDE_FILES",
    "FileModeError",
    "Migration",
    "MigrationError",
    "StorageError",
    "applied_migrations",
    "check_private",
    "checkpoint_truncate",
    "migrate",
    "move_database",
    "open_database",
    "open_private",
    "private_dir",
    "transaction",
]
