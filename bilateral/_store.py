"""The entry side's memory of attestations: ids accepted (replays refused) and the revocation list's floor.

SQLite through ``storage`` (``open_database`` + recorded migrations, as the gate's and the outbox's stores).
An id is kept until its attestation's expiry plus the clock skew, then purged: past that the attestation is
refused as expired anyway, so the table holds at most the attestations of one validity window and cannot
grow without bound. The revocation floor (the highest version installed and its payload's digest) is never
lowered: an older list is :class:`RevocationRollback`, another list at the same version
:class:`RevocationEquivocation`.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from bilateral._errors import Replayed, RevocationEquivocation
from bilateral._lists import Revocations, load_revocations
from storage import Migration, migrate, open_database, transaction

__all__ = ["ReplayStore", "MIGRATIONS"]

MIGRATIONS = [
    Migration("bilateral_001_seen", """
        CREATE TABLE bilateral_seen (
            attestation_id BLOB PRIMARY KEY,
            issuer TEXT NOT NULL,
            keep_until INTEGER NOT NULL
        );
        CREATE INDEX bilateral_seen_keep_until ON bilateral_seen (keep_until);
        CREATE TABLE bilateral_list_floor (
            list TEXT NOT NULL,
            administration TEXT NOT NULL,
            version INTEGER NOT NULL,
            digest TEXT NOT NULL,
            PRIMARY KEY (list, administration)
        );
    """),
]


class ReplayStore:
    """Attestation ids accepted and list floors, in a SQLite file (``path``) or in memory (``path=None``)."""

    def __init__(self, path: str | Path | None = None):
        self.db = open_database(path, memory=path is None)
        migrate(self.db, MIGRATIONS)
        self._lock = threading.RLock()

    def close(self) -> None:
        self.db.close()

    def accept_once(self, attestation_id: bytes, *, issuer: str, keep_until: int, now: int) -> None:
        """Record ``attestation_id`` as used, or raise :class:`Replayed` if it already was. Ids whose
        ``keep_until`` has passed are purged first."""
        with transaction(self.db, self._lock) as db:
            db.execute("DELETE FROM bilateral_seen WHERE keep_until < ?", [now])
            try:
                db.execute("INSERT INTO bilateral_seen (attestation_id, issuer, keep_until) VALUES (?, ?, ?)",
                           [attestation_id, issuer, keep_until])
            except sqlite3.IntegrityError as e:
                raise Replayed(f"attestation {attestation_id.hex()} was already accepted: a replay is refused") from e

    def seen_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM bilateral_seen").fetchone()[0]

    def revocation_floor(self, administration: str) -> tuple[int, str] | None:
        row = self.db.execute("SELECT version, digest FROM bilateral_list_floor WHERE list = ? AND administration = ?",
                              ["bilateral-revocations", administration]).fetchone()
        return (row[0], row[1]) if row else None

    def install_revocations(self, blob: bytes, list_keys, *, administration: str) -> Revocations:
        """Verify a revocation list against the floor held and raise the floor to it; return it."""
        with transaction(self.db, self._lock):
            floor = self.revocation_floor(administration)
            revocations = load_revocations(blob, list_keys, administration=administration,
                                           min_version=floor[0] if floor else 0)
            if floor and revocations.version == floor[0] and revocations.digest != floor[1]:
                raise RevocationEquivocation(f"another revocation list with version {floor[0]}, already held: refused")
            self.db.execute(
                "INSERT INTO bilateral_list_floor (list, administration, version, digest) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (list, administration) DO UPDATE SET version = excluded.version, digest = excluded.digest",
                ["bilateral-revocations", administration, revocations.version, revocations.digest])
        return revocations
