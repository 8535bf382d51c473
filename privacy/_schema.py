"""The privacy tables, as :class:`storage.Migration` steps.

A database used only by the privacy package is migrated with :func:`storage.migrate`. A host
database (the back office's, the gate's) must list :data:`MIGRATIONS` in its own migration
sequence, because ``storage.migrate`` requires one recorded history per database.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from privacy._errors import KeyFileError, PrivacySchemaError
from storage import FileModeError, Migration, MigrationError, applied_migrations, migrate, open_database

__all__ = ["MIGRATIONS", "connect", "ensure_schema"]

MIGRATIONS: list[Migration] = [
    Migration("privacy_0001_vault", """
        CREATE TABLE vault_keys (
            key_id TEXT PRIMARY KEY, subject_id TEXT UNIQUE NOT NULL, kek_id TEXT NOT NULL,
            wrapped BLOB NOT NULL, created_at TEXT NOT NULL);
        CREATE TABLE vault_secrets (
            name TEXT PRIMARY KEY, kek_id TEXT NOT NULL, wrapped BLOB NOT NULL, created_at TEXT NOT NULL);
        CREATE TABLE vault_tombstones (subject_digest TEXT PRIMARY KEY, shredded_at TEXT NOT NULL);
    """),
    Migration("privacy_0002_retention", """
        CREATE TABLE retention_items (
            id INTEGER PRIMARY KEY, ref TEXT UNIQUE NOT NULL, category TEXT NOT NULL, record_id TEXT NOT NULL,
            subject_id TEXT, created_at REAL NOT NULL, ended_at REAL, resolved_at REAL, last_exit_at REAL,
            period_end_at REAL, held_by TEXT, due_at REAL, payload BLOB);
        CREATE INDEX retention_items_due ON retention_items(due_at) WHERE due_at IS NOT NULL;
        CREATE INDEX retention_items_subject ON retention_items(subject_id);
        CREATE INDEX retention_items_record ON retention_items(record_id);
        CREATE INDEX retention_items_held ON retention_items(held_by) WHERE held_by IS NOT NULL;
        CREATE TABLE retention_runs (
            run_id TEXT PRIMARY KEY, started_at TEXT NOT NULL, cutoff REAL NOT NULL, dry_run INTEGER NOT NULL,
            actor TEXT NOT NULL, role TEXT NOT NULL, status TEXT NOT NULL, batches INTEGER NOT NULL DEFAULT 0,
            purged INTEGER NOT NULL DEFAULT 0, by_category TEXT, ids_sha256 TEXT, finished_at TEXT);
        CREATE TABLE retention_run_items (
            run_id TEXT NOT NULL, item_id INTEGER NOT NULL, category TEXT NOT NULL, ref TEXT NOT NULL,
            PRIMARY KEY (run_id, item_id));
    """),
    Migration("privacy_0003_ledger", """
        CREATE TABLE ledger_entries (
            seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, role TEXT NOT NULL,
            action TEXT NOT NULL, record TEXT NOT NULL, purpose TEXT NOT NULL, legal_basis TEXT NOT NULL,
            subject_id TEXT, details TEXT, prev_hash TEXT NOT NULL, entry_hash TEXT NOT NULL);
        CREATE INDEX ledger_entries_subject ON ledger_entries(subject_id) WHERE subject_id IS NOT NULL;
        CREATE INDEX ledger_entries_record ON ledger_entries(action, record);
        CREATE TABLE ledger_checkpoints (
            id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, entry_hash TEXT NOT NULL, at TEXT NOT NULL,
            key_id TEXT NOT NULL, signature TEXT NOT NULL);
        CREATE TABLE ledger_keys (key_id TEXT PRIMARY KEY, public_key TEXT NOT NULL, added_at TEXT NOT NULL);
    """),
    Migration("privacy_0004_consent", """
        CREATE TABLE consents (
            id INTEGER PRIMARY KEY, subject_id TEXT NOT NULL, purpose TEXT NOT NULL, granted INTEGER NOT NULL,
            at TEXT NOT NULL, text_version TEXT NOT NULL, actor TEXT NOT NULL);
        CREATE INDEX consents_subject ON consents(subject_id);
    """),
    # one data key per sealed item (a subject may hold many): purging an item destroys its key
    # without touching the subject's other items; erasure still destroys every key of the subject
    Migration("privacy_0005_vault_item_keys", """
        CREATE TABLE vault_keys_new (
            key_id TEXT PRIMARY KEY, subject_id TEXT NOT NULL, kek_id TEXT NOT NULL,
            wrapped BLOB NOT NULL, created_at TEXT NOT NULL);
        INSERT INTO vault_keys_new (key_id, subject_id, kek_id, wrapped, created_at)
            SELECT key_id, subject_id, kek_id, wrapped, created_at FROM vault_keys;
        DROP TABLE vault_keys;
        ALTER TABLE vault_keys_new RENAME TO vault_keys;
        CREATE INDEX vault_keys_subject ON vault_keys(subject_id);
    """),
    # the ledger's signed head: the newest entry's (seq, hash) signed after every write, one row
    Migration("privacy_0006_ledger_head", """
        CREATE TABLE ledger_head (
            id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, entry_hash TEXT NOT NULL,
            at TEXT NOT NULL, key_id TEXT NOT NULL, signature TEXT NOT NULL);
    """),
    # the data key of a sealed item, recorded when it is registered: the purge destroys it even when the
    # stored envelope no longer parses (a damaged row must not keep its key alive)
    Migration("privacy_0007_retention_key_id", """
        ALTER TABLE retention_items ADD COLUMN key_id TEXT;
    """),
]

_NAMES = [m.name for m in MIGRATIONS]


def connect(db: str | Path | sqlite_utils.Database | sqlite3.Connection, *,
            key_material: bool = False) -> sqlite_utils.Database:
    """A :class:`sqlite_utils.Database` for a path (opened with :func:`storage.open_database`: created
    0600 in a 0700 directory; ``key_material``: a key store, refused when open to others with
    :class:`KeyFileError`), an existing Database, or a raw connection; the privacy schema is brought
    up to date."""
    if isinstance(db, sqlite_utils.Database):
        out = db
    elif isinstance(db, sqlite3.Connection):
        out = sqlite_utils.Database(db)
    else:
        try:
            out = open_database(db, key_material=key_material)
        except FileModeError as e:
            raise KeyFileError(str(e)) from e
    # deleted rows (shredded keys, purged payloads) are overwritten, not left in free pages
    out.execute("PRAGMA secure_delete = ON")
    ensure_schema(out)
    return out


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Apply the privacy migrations, or check a host database already lists them."""
    try:
        applied = applied_migrations(db)
        if set(_NAMES) <= set(applied):
            return
        foreign = [n for n in applied if n not in _NAMES]
        if foreign:
            raise PrivacySchemaError(
                "this database has its own migrations; add privacy.MIGRATIONS to its migration list "
                f"(missing: {', '.join(n for n in _NAMES if n not in applied)})")
        migrate(db, MIGRATIONS)
    except MigrationError as e:
        raise PrivacySchemaError(f"cannot bring the privacy schema up to date: {e}") from e
