"""Migration 0005_officer_calls: the officer calls raised by gates and kiosks (backoffice._calls).

Registered in ``backoffice._store.MIGRATIONS`` after 0004_login_attempts. No personal data: the device, its
kind and location, the screen or state it was in, a reason code, and who acknowledged and closed the call.
"""

from __future__ import annotations

from storage import Migration

__all__ = ["MIGRATION"]

MIGRATION = Migration("0005_officer_calls", """
    CREATE TABLE officer_calls (
        id TEXT PRIMARY KEY, device_id TEXT NOT NULL, device_kind TEXT NOT NULL, location TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL, reason TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'open', created_at TEXT NOT NULL,
        acknowledged_by TEXT, acknowledged_at TEXT, closed_by TEXT, closed_at TEXT);
    CREATE INDEX officer_calls_status ON officer_calls(status, created_at);
""")
