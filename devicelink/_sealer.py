"""Sealing outbox payloads at rest: the privacy vault, one data subject per item.

A :class:`Sealer` encrypts a payload bound to its item id. :class:`VaultSealer` uses
:class:`privacy.Vault` (AES-256-GCM under a data key of the item's own, wrapped by the device's KEK);
:meth:`VaultSealer.forget` after delivery crypto-shreds that key, so no copy of the payload (an old
page of the database file, a backup) can be read again. The vault's key store is its own SQLite file,
kept apart from the outbox's database.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from typing import Any, Protocol

__all__ = ["Sealer", "VaultSealer", "ephemeral_sealer"]


class Sealer(Protocol):
    """Encrypts outbox payloads at rest, bound to the item's id (associated data). A sealer may also
    have ``forget(record_id)``, called once the item is delivered (crypto-shredding)."""

    def seal(self, record_id: str, plaintext: bytes) -> bytes: ...

    def open(self, record_id: str, sealed: bytes) -> bytes: ...


class VaultSealer:
    """Outbox payloads sealed by the privacy vault, each item its own data subject (``outbox:<id>``)."""

    CATEGORY = "outbox"
    TOMBSTONE_DAYS = 7  # a shredded item's record is kept this long, then pruned (every 500 shreds)

    def __init__(self, vault: Any) -> None:
        self.vault = vault
        self._forgotten = 0

    @staticmethod
    def subject(record_id: str) -> str:
        return f"outbox:{record_id}"

    def seal(self, record_id: str, plaintext: bytes) -> bytes:
        return self.vault.seal(self.subject(record_id), self.CATEGORY, record_id, plaintext)

    def open(self, record_id: str, sealed: bytes) -> bytes:
        return self.vault.open(self.subject(record_id), self.CATEGORY, record_id, sealed)

    def forget(self, record_id: str) -> None:
        self.vault.shred(self.subject(record_id))
        self._forgotten += 1
        if self._forgotten % 500 == 0:
            self.vault.prune_tombstones(dt.datetime.now(dt.UTC) - dt.timedelta(days=self.TOMBSTONE_DAYS))


def ephemeral_sealer() -> VaultSealer:
    """A vault in memory under a random key that dies with the process: for an in-memory outbox
    (tests, simulations); nothing it seals outlives the process."""
    from privacy import RawKek, Vault

    conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    return VaultSealer(Vault(conn, RawKek(os.urandom(32), label="ephemeral")))
