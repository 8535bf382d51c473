"""SQLite storage helpers shared by the services (gate, kiosk outbox, back office, privacy).

Built on sqlite-utils >= 4. A service opens its database with :func:`open_database` (WAL mode,
foreign keys on, a busy timeout) and brings its schema up to date with :func:`migrate`, which
records every applied :class:`Migration` in ``_migrations`` so each runs exactly once, in order,
inside its own transaction.
"""

from storage._db import (
    Migration,
    MigrationError,
    StorageError,
    applied_migrations,
    migrate,
    open_database,
    transaction,
)

__all__ = [
    "Migration",
    "MigrationError",
    "StorageError",
    "applied_migrations",
    "migrate",
    "open_database",
    "transaction",
]
