"""The trust store feed: the back office's versioned trust store, signed, for gates and kiosks.

The store is the directory ``smartborder trust import`` writes (:class:`emrtd.VersionedTrustStore`,
``BackofficeConfig.trust_store_dir``); the feed re-reads it when its manifest changes, so an import is served
without a restart. What is served is a signed list (:func:`privacy.sign_list`, list ``trust-store``, the store's
version) whose payload is the store's content (:meth:`emrtd.VersionedTrustStore.to_payload`), signed with the
back office's signed-list key: an Ed25519 key kept wrapped in the privacy vault (``ed25519:signed-list``),
whose public key devices pin (``smartborder trust signing-key``). The ETag names the version and digest. The
list is signed again (a new ``issued_at``) when the one served is an hour old, even if the store did not change:
a gate bounds the age of the signed list confirming its store (``[gate] trust_list_max_age_h``), so an unchanged
store stays fresh; the ETag stays the same (gates that need the fresh signature ask without one).

Each device's poll says which version it uses (``X-Trust-Store-Version`` / ``X-Trust-Store-Digest``); the
last one is kept per device (``device_trust_store``) and listed for supervisors.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

import privacy
from backoffice._store import Store, now_iso

__all__ = ["TrustFeed", "ServedTrustStore", "TrustFeedUnavailable", "TRUST_LIST", "SIGNING_KEY_NAME"]

TRUST_LIST = "trust-store"
SIGNING_KEY_NAME = "signed-list"


class TrustFeedUnavailable(Exception):
    """No trust store to serve: none configured or written yet (``missing``), or it does not verify."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


@dataclass(frozen=True)
class ServedTrustStore:
    version: int
    digest: str
    etag: str
    blob: bytes  # the signed list, as sent
    signed_at: dt.datetime | None = None


class TrustFeed:
    """``TrustFeed(store_dir, store, signing_key=callable)``; ``signing_key()`` gives the Ed25519 private key."""

    #: how long a signed list is served before it is signed again (a fresh ``issued_at``)
    RESIGN_AFTER = dt.timedelta(hours=1)

    def __init__(self, store_dir: Path | None, store: Store, signing_key,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.clock = clock
        self.store_dir = Path(store_dir) if store_dir else None
        self.store = store
        self._signing_key = signing_key
        self._served: ServedTrustStore | None = None
        self._lock = threading.Lock()

    def public_key(self):
        return self._signing_key().public_key()

    def current(self) -> ServedTrustStore:
        """The signed store (signed again when the store on disk changed or the one served is
        :attr:`RESIGN_AFTER` old). Raises TrustFeedUnavailable."""
        from emrtd import TrustError, VersionedTrustStore
        from emrtd._trust_store import read_manifest

        if self.store_dir is None:
            raise TrustFeedUnavailable("no trust store is configured ([backoffice] trust_store)", missing=True)
        try:
            manifest = read_manifest(self.store_dir)
        except TrustError as e:
            missing = not (self.store_dir / "manifest.json").exists()
            raise TrustFeedUnavailable(f"trust store {self.store_dir}: {e}", missing=missing) from e
        with self._lock:
            served = self._served
            now = self.clock()
            if (served is not None and (served.version, served.digest) == (manifest.get("version"), manifest.get("digest"))
                    and served.signed_at is not None and now - served.signed_at < self.RESIGN_AFTER):
                return served
            try:
                vstore = VersionedTrustStore.load(self.store_dir)
                vstore.trust_store()  # every Master List and CRL verifies before it is signed for the gates
            except (TrustError, ValueError) as e:
                raise TrustFeedUnavailable(f"the trust store {self.store_dir} does not verify: {e}") from e
            blob = privacy.sign_list(vstore.to_payload(), self._signing_key(), list_name=TRUST_LIST,
                                     version=vstore.version, issued_at=now)
            etag = f'"ts-{vstore.version}-{vstore.digest.removeprefix("sha256:")[:16]}"'
            self._served = ServedTrustStore(vstore.version, vstore.digest, etag, blob, now)
            return self._served

    # -- what devices use --------------------------------------------------------------------------------
    def report(self, device_id: str, version: int, digest: str = "") -> None:
        """Keep the version (and digest) a device says it uses."""
        with self.store.tx() as db:
            db.execute(text("INSERT INTO device_trust_store (device_id, version, digest, reported_at) "
                            "VALUES (:device, :version, :digest, :at) ON CONFLICT(device_id) DO UPDATE SET "
                            "version = excluded.version, digest = excluded.digest, reported_at = excluded.reported_at"),
                       {"device": device_id, "version": version, "digest": digest, "at": now_iso()})

    def devices(self) -> list[dict[str, Any]]:
        """Every device's last report, with whether it uses the version served now."""
        try:
            latest = self.current().version
        except TrustFeedUnavailable:
            latest = None
        rows = self.store.query(text("SELECT device_id, version, digest, reported_at FROM device_trust_store "
                                     "ORDER BY device_id"))
        return [{**r, "current": latest is not None and r["version"] == latest} for r in rows]
