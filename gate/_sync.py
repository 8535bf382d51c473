"""Synchronisation with the back office: drain the outbox, refresh the watchlist copy.

Runs whenever the back office is reachable; nothing in the gate's decision path waits for it.
Delivery is the device outbox's (:meth:`devicelink.Outbox.deliver`): at least once from the gate and
exactly once at the back office, because every item carries its outbox id as the ``Idempotency-Key``;
an item is marked delivered only after the back office acknowledged it, a refused one is parked, and
an unreachable back office (or a refused credential) stops the round, leaving the rest for the next
one, in order. The watchlist feed is fetched only when the outbox round completed.
"""

from __future__ import annotations

from dataclasses import dataclass

from devicelink import BackofficeClient, BackofficeUnavailable
from gate._store import GateStore

__all__ = ["SyncReport", "sync_once"]


@dataclass(frozen=True)
class SyncReport:
    delivered: int
    rejected: int  # parked: refused for good by the back office (or unreadable)
    pending: int
    watchlist_version: int
    watchlist_changes: int
    reachable: bool


def sync_once(store: GateStore, client: BackofficeClient, *, batch: int = 100) -> SyncReport:
    """One round: the outbox in order, then the watchlist change feed (``reset`` drops the copy and
    starts again from 0; ``304`` keeps it fresh). ``client`` is a :class:`devicelink.BackofficeClient` or
    anything with its ``deliver`` and ``watchlist_changes``."""
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
    return SyncReport(len(report.delivered), len(report.parked), report.pending, store.watchlist_version(),
                      changes, reachable)
