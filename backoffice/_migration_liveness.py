"""Migration 0010_liveness (issue #23): a gate's liveness check as data. An exception keeps the path the gate ran,
the passive PAD's verdict and score and why liveness failed; a transaction event keeps the path (the share of
travellers challenged per gate). Registered in ``backoffice._store.MIGRATIONS`` after 0009_event_eac. No personal
data, no biometric data: nullable columns (null: not said, as by a kiosk or a gate of an earlier release)."""

from __future__ import annotations

from storage import Migration

__all__ = ["EXCEPTION_LIVENESS_FIELDS", "MIGRATION"]

#: the exception's liveness fields, each a column of ``exceptions`` (backoffice.schemas.ExceptionCreate)
EXCEPTION_LIVENESS_FIELDS = ("liveness_path", "passive_decision", "passive_score", "liveness_reason")

MIGRATION = Migration("0010_liveness", """
    ALTER TABLE exceptions ADD COLUMN liveness_path TEXT;
    ALTER TABLE exceptions ADD COLUMN passive_decision TEXT;
    ALTER TABLE exceptions ADD COLUMN passive_score REAL;
    ALTER TABLE exceptions ADD COLUMN liveness_reason TEXT;
    ALTER TABLE events ADD COLUMN liveness_path TEXT;
""")
