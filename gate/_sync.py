"""Synchronisation with the back office: drain the outbox, refresh the watchlist copy.

Runs whenever the back office is reachable; nothing in the gate's decision path waits for it.
Delivery is the device outbox's (:meth:`devicelink.Outbox.deliver`): at least once from the gate and
exactly once at the back office, because every item carries its outbox id as the ``Idempotency-Key``;
an item is marked delivered only after the back office acknowledged it, a refused one is parked, and
an unreachable back office (or a refused credential) stops the round, leaving the rest for the next
one, in order. The watchlist feed is fetched only when the outbox round completed.

The trust store (:class:`TrustSync`) comes the same way, as a signed list the gate verifies before it uses
it: the back office's pinned signed-list key, the list's name, a version not below the one installed, the
payload's digest, and every Master List and CRL of it. A refused store leaves the installed one in use and
names why (:attr:`TrustSyncResult.reason`). The rollback floor (the highest version accepted, and its digest) is
kept in the gate's database (:meth:`GateStore.trust_floor`), so a damaged installed store does not lower it. Every poll tells the back office the version in use.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devicelink import BackofficeClient, BackofficeUnavailable
from gate._store import GateStore

__all__ = ["SyncReport", "sync_once", "TrustSync", "TrustSyncResult", "TRUST_REFUSALS", "TRUST_LIST_STALE"]

log = logging.getLogger("gate.sync")


@dataclass(frozen=True)
class SyncReport:
    delivered: int
    rejected: int  # parked: refused for good by the back office (or unreadable)
    pending: int
    watchlist_version: int
    watchlist_changes: int
    reachable: bool
    trust_version: int | None = None  # the trust store version in use after the round (None: no TrustSync)
    trust_status: str | None = None  # TrustSyncResult.status of the round
    trust_warning: str | None = None  # TrustSyncResult.warning (TRUST_LIST_STALE)


def sync_once(store: GateStore, client: BackofficeClient, *, batch: int = 100,
              trust: TrustSync | None = None) -> SyncReport:
    """One round: the outbox in order, then the watchlist change feed (``reset`` drops the copy and
    starts again from 0; ``304`` keeps it fresh), then the trust store when ``trust`` is given. ``client`` is
    a :class:`devicelink.BackofficeClient` or anything with its ``deliver`` and ``watchlist_changes`` (and
    ``trust_store``)."""
    report = store.outbox.deliver(client, batch=batch)
    changes = 0
    reachable = not report.error
    if reachable:
        try:
            delta = client.watchlist_changes(store.watchlist_version(), store.watchlist_etag())
            if delta.reset:
                store.reset_watchlist()
                delta = client.watchlist_changes(0, None)
            if delta.not_modified:
                store.mark_watchlist_fresh()
            else:
                changes = store.apply_watchlist_changes(delta.changes, delta.version)
                store.set_watchlist_etag(delta.etag)
        except BackofficeUnavailable:
            reachable = False
    trust_result = trust.sync(client) if trust is not None and reachable else None
    return SyncReport(len(report.delivered), len(report.parked), report.pending, store.watchlist_version(),
                      changes, reachable, trust.version if trust is not None else None,
                      trust_result.status if trust_result is not None else None,
                      trust.warning() if trust is not None else None)


#: why a received trust store was refused (the installed one stays in use)
TRUST_REFUSALS = ("trust_malformed", "trust_wrong_list", "trust_unknown_key", "trust_bad_signature", "trust_rollback",
                  "trust_equivocation", "trust_corrupt", "trust_unverifiable", "trust_write_failed")
#: the store in use is not confirmed by a signed list issued within ``max_age`` (or never was since the start):
#: a man in the middle replaying 304 or an old list freezes the gate's store. Reported, not a refusal: the gate
#: keeps deciding with its store (revocation freshness is bounded per CSCA by crl_stale, which refers)
TRUST_LIST_STALE = "trust_list_stale"


@dataclass(frozen=True)
class TrustSyncResult:
    """``status``: installed, unchanged (same version and digest), not_modified (304), refused (``reason`` one
    of :data:`TRUST_REFUSALS`, ``detail`` the error), not_configured (the back office distributes none),
    no_key (no signed-list key pinned: nothing is fetched), unavailable."""

    status: str
    version: int
    reason: str | None = None
    detail: str = ""
    warning: str | None = None  # TRUST_LIST_STALE after the round


class TrustSync:
    """The gate's copy of the back office's trust store: verified, then saved in ``directory`` (the versioned
    layout, :meth:`emrtd.VersionedTrustStore.save`) and handed to ``on_install`` (the chip step's trust store).
    ``trusted_keys``: the pinned signed-list public keys (``[gate] trust_list_key``); none, nothing is fetched.
    ``version`` / ``digest``: what is in use now (the store the gate started with). ``max_age``: how old the newest
    signed list confirming the store in use may be before the gate reports :data:`TRUST_LIST_STALE`; past half of
    it a poll sends no ETag, so the back office's freshly signed list (it re-signs hourly) comes, not a 304."""

    def __init__(self, directory: Path | str, trusted_keys=(), *, on_install: Callable[[Any], None] | None = None,
                 version: int = 0, digest: str | None = None, max_age: dt.timedelta = dt.timedelta(hours=72),
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.directory = Path(directory)
        self.trusted_keys = list(trusted_keys)
        self.on_install = on_install
        self.version = int(version or 0)
        self.digest = digest
        self.etag: str | None = None
        self.last: TrustSyncResult | None = None
        self._lock = threading.Lock()
        self.floor: GateStore | None = None  # where the rollback floor is kept (keep_floor)
        self.max_age, self.clock = max_age, clock
        #: when the newest signed list confirming the store in use was issued (None: not since the start)
        self.issued_at: dt.datetime | None = None
        self._refused: tuple[str, TrustSyncResult, dt.datetime] | None = None  # (ETag, result, when)

    def keep_floor(self, store: GateStore) -> None:
        """Keep the highest accepted version and digest in the gate's database (:meth:`GateStore.trust_floor`)
        and refuse anything below it: after a restart with a damaged or deleted installed store the gate falls
        back to its configured store, but an older signed list (a replay) stays refused."""
        self.floor = store
        if self.version:
            store.raise_trust_floor(self.version, self.digest)

    def _floor(self) -> tuple[int, str | None]:
        held = self.floor.trust_floor() if self.floor is not None else (0, None)
        return max(held, (self.version, self.digest), key=lambda f: f[0])

    def installed(self):
        """The store saved in ``directory`` by an earlier install (an emrtd.TrustStore with its version and
        digest), or None when there is none or it does not verify (logged: the configured store is used)."""
        from emrtd import TrustError, VersionedTrustStore

        if not (self.directory / "manifest.json").exists():
            return None
        try:
            return VersionedTrustStore.load(self.directory).trust_store()
        except (TrustError, ValueError) as e:
            log.error("the installed trust store in %s does not verify (%s); using the configured one", self.directory, e)
            return None

    def age(self) -> dt.timedelta | None:
        """How old the newest signed list confirming the store in use is (None: none since the start)."""
        return None if self.issued_at is None else self.clock() - self.issued_at

    def warning(self) -> str | None:
        """:data:`TRUST_LIST_STALE` when a key is pinned and no signed list issued within ``max_age`` confirms the
        store in use; None otherwise."""
        age = self.age()
        return TRUST_LIST_STALE if self.trusted_keys and (age is None or age > self.max_age) else None

    def _confirmed(self, issued_at: str) -> None:
        try:
            when = dt.datetime.fromisoformat(issued_at.replace("Z", "+00:00"))
        except ValueError:
            return
        if when.tzinfo is None:
            return
        when = min(when, self.clock())  # a back office clock ahead does not buy freshness
        if self.issued_at is None or when > self.issued_at:
            self.issued_at = when

    def _refuse(self, reason: str, detail: str, etag: str | None = None) -> TrustSyncResult:
        log.error("trust store refused (%s): %s; version %d stays in use", reason, detail, self.version)
        result = TrustSyncResult("refused", self.version, reason, detail[:300])
        if etag:  # asked again with If-None-Match: a 304 for it repeats the refusal without the download
            self._refused = (etag, result, self.clock())
        return result

    def sync(self, client) -> TrustSyncResult:
        with self._lock:
            result = self._sync(client)
            warning = self.warning()
            if warning is not None:
                log.warning("trust store version %d: no signed list issued within %s confirms it (%s)", self.version,
                            self.max_age, warning)
            self.last = TrustSyncResult(result.status, result.version, result.reason, result.detail, warning)
            return self.last

    def _if_none_match(self) -> str | None:
        """The ETags to send: none when the store in use needs a freshly signed confirmation (older than half of
        ``max_age``); the refused one too, for an hour, so a refused store is not downloaded at every poll."""
        age = self.age()
        if age is None or age > self.max_age / 2:
            return None
        tags = [self.etag] if self.etag else []
        if self._refused is not None and self.clock() - self._refused[2] < min(dt.timedelta(hours=1), self.max_age / 2):
            tags.append(self._refused[0])
        return ", ".join(tags) or None

    def _sync(self, client) -> TrustSyncResult:
        import privacy
        from emrtd import TrustError, VersionedTrustStore

        if not self.trusted_keys:
            return TrustSyncResult("no_key", self.version)
        try:
            answer = client.trust_store(self._if_none_match(), version=self.version, digest=self.digest)
        except BackofficeUnavailable as e:
            return TrustSyncResult("unavailable", self.version, detail=str(e)[:300])
        if answer.not_configured:
            return TrustSyncResult("not_configured", self.version)
        if answer.not_modified:
            if self._refused is not None and answer.etag == self._refused[0] and answer.etag != self.etag:
                return self._refused[1]
            return TrustSyncResult("not_modified", self.version)
        floor, floor_digest = self._floor()
        try:
            signed = privacy.verify_list(answer.blob or b"", self.trusted_keys, list_name="trust-store",
                                         min_version=floor)
        except privacy.SignedListError as e:
            return self._refuse(f"trust_{e.reason}", str(e), answer.etag)
        try:
            received = VersionedTrustStore.from_payload(signed.payload)
        except TrustError as e:
            return self._refuse("trust_corrupt", str(e), answer.etag)
        if received.version != signed.version:
            return self._refuse("trust_corrupt", f"signed as version {signed.version}, the content says "
                                f"{received.version}", answer.etag)
        if received.version == floor and floor_digest is not None and received.digest != floor_digest:
            return self._refuse("trust_equivocation", f"version {floor} with another content ({received.digest}, "
                                f"{floor_digest} accepted before)", answer.etag)
        if received.version == self.version:
            if received.digest != self.digest:
                return self._refuse("trust_equivocation", f"version {received.version} with another content "
                                    f"({received.digest}, {self.digest} held)", answer.etag)
            self.etag = answer.etag
            self._confirmed(signed.issued_at)
            return TrustSyncResult("unchanged", self.version)
        try:
            trust = received.trust_store()
            if not trust.cscas:
                raise TrustError("no CSCA")
        except (TrustError, ValueError) as e:
            return self._refuse("trust_unverifiable", f"version {received.version}: {e}", answer.etag)
        try:
            received.save(self.directory)
        except OSError as e:
            return self._refuse("trust_write_failed", f"{self.directory}: {e}")
        if self.floor is not None:
            self.floor.raise_trust_floor(received.version, received.digest)
        if self.on_install is not None:
            self.on_install(trust)
        log.info("trust store version %d installed (%s), was %d", received.version, received.digest, self.version)
        self.version, self.digest, self.etag = received.version, received.digest, answer.etag
        self.issued_at, self._refused = None, None
        self._confirmed(signed.issued_at)
        return TrustSyncResult("installed", self.version)
