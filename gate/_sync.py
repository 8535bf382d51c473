"""Synchronisation with the back office: drain the outbox, refresh the watchlist copy.

Runs whenever the back office is reachable; nothing in the gate's decision path waits for it.
Delivery is at-least-once from the gate and exactly-once at the back office, because every item
carries its outbox id as the ``Idempotency-Key``. An item is marked delivered only after the back
office acknowledged it (2xx, or 409 "already have it"); a transport error stops the round and
leaves the rest for the next one, in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from gate._store import GateStore

__all__ = ["BackofficeClient", "BackofficeUnavailable", "RejectedByBackoffice", "WatchlistDelta",
           "SyncReport", "sync_once"]


class BackofficeUnavailable(ConnectionError):
    """The back office could not be reached or answered 5xx: retry later."""


class RejectedByBackoffice(ValueError):
    """The back office refused an item for good (4xx other than 409): it is parked, not retried."""


@dataclass(frozen=True)
class WatchlistDelta:
    changes: list[dict[str, Any]]
    version: int
    etag: str | None = None
    not_modified: bool = False
    #: the back office's history is behind our version (e.g. restored from a backup): drop the
    #: local copy and start again from version 0
    reset: bool = False


class BackofficeClient(Protocol):
    def deliver(self, kind: str, payload: dict[str, Any], idempotency_key: str) -> None:
        """Deliver one outbox item; raise BackofficeUnavailable or RejectedByBackoffice."""

    def watchlist_changes(self, since: int, etag: str | None) -> WatchlistDelta:
        """Changes after version ``since``; raise BackofficeUnavailable."""


@dataclass(frozen=True)
class SyncReport:
    delivered: int
    rejected: int
    pending: int
    watchlist_version: int
    watchlist_changes: int
    reachable: bool


def sync_once(store: GateStore, client: BackofficeClient, *, batch: int = 100) -> SyncReport:
    delivered = rejected = changes = 0
    reachable = True
    try:
        while True:
            items = store.pending(batch)
            if not items:
                break
            for item in items:
                try:
                    client.deliver(item.kind, item.payload, item.id)
                except RejectedByBackoffice as e:
                    store.park(item.id, f"rejected: {e}")  # kept for an operator; never blocks the queue
                    rejected += 1
                    continue
                except BackofficeUnavailable as e:
                    store.mark_failed(item.id, str(e))
                    raise
                store.mark_delivered(item.id)
                delivered += 1
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
    return SyncReport(delivered, rejected, store.pending_count(), store.watchlist_version(), changes, reachable)
