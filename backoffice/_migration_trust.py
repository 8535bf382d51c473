"""Migration 0007_device_trust_store: the trust store version each gate or kiosk last reported using
(backoffice._trust_feed). Registered in ``backoffice._store.MIGRATIONS`` after 0006_watchlist_manage. No
personal data: a device id, a version, a content digest, when."""

from __future__ import annotations

from storage import Migration

__all__ = ["MIGRATION", "EVENTS_MIGRATION", "EVENTS_EAC_MIGRATION"]

MIGRATION = Migration("0007_device_trust_store", """
    CREATE TABLE device_trust_store (
        device_id TEXT PRIMARY KEY, version INTEGER NOT NULL, digest TEXT NOT NULL DEFAULT '',
        reported_at TEXT NOT NULL);
""")

#: 0008: a gate's transaction event names the trust store version that decided it (null: not said)
EVENTS_MIGRATION = Migration("0008_event_trust_store_version", """
    ALTER TABLE events ADD COLUMN trust_store_version INTEGER;
""")

#: 0009: a gate's transaction event says how EAC went (issue #22): Terminal Authentication, its named cause, why the
#: chip's fingers (DG3) were not obtained, and where the fingerprint was matched (null: not said)
EVENTS_EAC_MIGRATION = Migration("0009_event_eac", """
    ALTER TABLE events ADD COLUMN terminal_authentication TEXT;
    ALTER TABLE events ADD COLUMN eac_code TEXT;
    ALTER TABLE events ADD COLUMN dg3_error TEXT;
    ALTER TABLE events ADD COLUMN fingerprint_source TEXT;
""")
