"""The entry side's memory of attestations: ids accepted (replays refused) and the revocation list's floor.

SQLite through ``storage`` (``open_database`` + recorded migrations, as the gate's and the outbox's stores).
An id is kept until its attestation's expiry plus the clock skew, then purged: past that the attestation is
refused as expired anyway, so the table holds at most the attestations of one validity window and cannot
grow without bound. The latest time ever purged with is kept too (the purge watermark): after the gate's clock
stepped forward and back, an attestation whose id may have been purged is refused, not taken as new. The floors of the partner's trust list and revocation list (the highest version installed
and its payload's digest) are never lowered: an older list is :class:`TrustListRollback` /
:class:`RevocationRollback`, another list at the same version :class:`TrustListEquivocation` /
:class:`RevocationEquivocation`; :func:`bilateral.verify_attestation` uses only the lists installed.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from bilateral._errors import BeforePurgeWatermark, Replayed, RevocationEquivocation, TrustListEquivocation
from bilateral._lists import (
    REVOCATION_LIST,
    TRUST_LIST,
    PartnerKeys,
    Revocations,
    load_revocations,
    load_trust_list,
)
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
    Migration("bilateral_002_purge_watermark", """
        CREATE TABLE bilateral_purge_watermark (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            purged_to INTEGER NOT NULL
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

    def purge_watermark(self) -> int | None:
        """The latest ``now`` the store has ever purged with (seconds since the epoch), or None."""
        row = self.db.execute("SELECT purged_to FROM bilateral_purge_watermark WHERE id = 1").fetchone()
        return row[0] if row else None

    def accept_once(self, attestation_id: bytes, *, issuer: str, keep_until: int, now: int) -> None:
        """Record ``attestation_id`` as used, or raise :class:`Replayed` if it already was. Ids whose
        ``keep_until`` has passed are purged first. The purge watermark (the latest ``now`` ever purged with,
        persisted, never lowered) guards a clock stepped forward then back: an attestation whose ``keep_until``
        is at or below it may have had its id purged, and is :class:`BeforePurgeWatermark`."""
        with transaction(self.db, self._lock) as db:
            watermark = self.purge_watermark()
            if watermark is not None and keep_until <= watermark:
                raise BeforePurgeWatermark(f"attestation {attestation_id.hex()} is kept until {keep_until}, at or "
                                           f"below the purge watermark {watermark}: its id may be forgotten")
            db.execute("DELETE FROM bilateral_seen WHERE keep_until < ?", [now])
            db.execute("INSERT INTO bilateral_purge_watermark (id, purged_to) VALUES (1, ?) "
                       "ON CONFLICT (id) DO UPDATE SET purged_to = max(purged_to, excluded.purged_to)", [now])
            try:
                db.execute("INSERT INTO bilateral_seen (attestation_id, issuer, keep_until) VALUES (?, ?, ?)",
                           [attestation_id, issuer, keep_until])
            except sqlite3.IntegrityError as e:
                raise Replayed(f"attestation {attestation_id.hex()} was already accepted: a replay is refused") from e

    def seen_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM bilateral_seen").fetchone()[0]

    def _floor(self, list_name: str, administration: str) -> tuple[int, str] | None:
        row = self.db.execute("SELECT version, digest FROM bilateral_list_floor WHERE list = ? AND administration = ?",
                              [list_name, administration]).fetchone()
        return (row[0], row[1]) if row else None

    def revocation_floor(self, administration: str) -> tuple[int, str] | None:
        """(version, payload digest) of the revocation list installed for ``administration``, or None."""
        return self._floor(REVOCATION_LIST, administration)

    def trust_floor(self, administration: str) -> tuple[int, str] | None:
        """(version, payload digest) of the trust list installed for ``administration``, or None."""
        return self._floor(TRUST_LIST, administration)

    def _install(self, list_name: str, load, equivocation, blob: bytes, list_keys, administration: str):
        with transaction(self.db, self._lock):
            floor = self._floor(list_name, administration)
            loaded = load(blob, list_keys, administration=administration, min_version=floor[0] if floor else 0)
            if floor and loaded.version == floor[0] and loaded.digest != floor[1]:
                raise equivocation(f"another {list_name} list with version {floor[0]}, already held: refused")
            self.db.execute(
                "INSERT INTO bilateral_list_floor (list, administration, version, digest) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (list, administration) DO UPDATE SET version = excluded.version, digest = excluded.digest",
                [list_name, administration, loaded.version, loaded.digest])
        return loaded

    def install_revocations(self, blob: bytes, list_keys, *, administration: str) -> Revocations:
        """Verify a revocation list against the floor held and raise the floor to it; return it."""
        return self._install(REVOCATION_LIST, load_revocations, RevocationEquivocation, blob, list_keys,
                             administration)

    def install_trust_list(self, blob: bytes, list_keys, *, administration: str) -> PartnerKeys:
        """Verify a trust list against the floor held and raise the floor to it; return it. A lower version
        is :class:`TrustListRollback` (a removed key brought back), another list at the version held
        :class:`TrustListEquivocation`; the floor survives a restart (it is in the database)."""
        return self._install(TRUST_LIST, load_trust_list, TrustListEquivocation, blob, list_keys, administration)
