"""Migration 0006_watchlist_manage: single-entry watchlist management (backoffice._watchlist).

Registered in ``backoffice._store.MIGRATIONS`` after 0005_officer_calls. Why each change was made
(``watchlist_changes.reason``), a deactivated entry's ``{at, by, reason}`` (``watchlist_entries.deactivated``;
the entry is then ``deleted = 1`` for matching and the feed, but still readable), and the changes that wait
for a second supervisor when four-eyes is configured (``watchlist_pending``).
"""

from __future__ import annotations

from storage import Migration

__all__ = ["MIGRATION"]

MIGRATION = Migration("0006_watchlist_manage", """
    ALTER TABLE watchlist_changes ADD COLUMN reason TEXT;
    ALTER TABLE watchlist_entries ADD COLUMN deactivated TEXT;
    CREATE TABLE watchlist_pending (
        id TEXT PRIMARY KEY, op TEXT NOT NULL, entry_id TEXT, kind TEXT NOT NULL, data TEXT,
        reason TEXT NOT NULL DEFAULT '', requested_by TEXT NOT NULL, requested_at TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending', decided_by TEXT, decided_at TEXT);
    CREATE INDEX watchlist_pending_status ON watchlist_pending(status, requested_at);
""")
