"""One object wiring the four parts over a data database and a separate key store."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from privacy._db import Db
from privacy._kek import KeyEncryptionKeyProvider
from privacy._ledger import Ledger
from privacy._policy import RetentionPolicy
from privacy._retention import RetentionStore
from privacy._subjects import DataSubjectRequests
from privacy._util import Clock, system_clock
from privacy._vault import Vault

__all__ = ["Privacy", "open_privacy"]


@dataclass
class Privacy:
    vault: Vault
    retention: RetentionStore
    ledger: Ledger
    subjects: DataSubjectRequests

    def seal_item(self, subject_id: str, category: str, record_id: str, data: bytes, **anchors) -> str:
        """Seal ``data`` and register it for retention in one step; returns the item reference."""
        env = self.vault.seal(subject_id, category, record_id, data)
        return self.retention.register(category, record_id, subject_id, payload=env, **anchors)

    def open_item(self, ref: str) -> bytes | None:
        """Decrypt a registered item; None when it was purged (the vault's errors otherwise)."""
        item = self.retention.get(ref)
        if item is None or item.payload is None:
            return None
        return self.vault.open(item.subject_id, item.category, item.record_id, item.payload)


def open_privacy(data_db: Db, keys_db: Db, kek: KeyEncryptionKeyProvider, *, clock: Clock | None = None,
                 signing_key: Ed25519PrivateKey | None = None, policies: dict[str, RetentionPolicy] | None = None,
                 lock: threading.RLock | None = None, checkpoint_every: int | None = 1000,
                 next_kek: Callable[[], KeyEncryptionKeyProvider] | None = None) -> Privacy:
    """The vault on ``keys_db`` (keep it out of the data backups), the retention registry, ledger
    and subject requests on ``data_db``. The ledger signs with ``signing_key``, by default an
    Ed25519 key kept wrapped in the vault. ``next_kek``: where the KEK a PostgreSQL key store rotates to after a
    shred comes from (default: the provider's own ``successor()``, a :class:`FileKek`'s)."""
    clock = clock or system_clock
    lock = lock or threading.RLock()
    vault = Vault(keys_db, kek, clock=clock, next_kek=next_kek)
    key = signing_key if signing_key is not None else vault.signing_key()
    ledger = Ledger(data_db, key, clock=clock, lock=lock, checkpoint_every=checkpoint_every)
    retention = RetentionStore(ledger.db, policies=policies, ledger=ledger, clock=clock, lock=lock, vault=vault)
    subjects = DataSubjectRequests(vault, retention, ledger, clock=clock, lock=lock)
    return Privacy(vault, retention, ledger, subjects)
