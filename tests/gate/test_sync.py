"""The gate's sync round over its store: the outbox (devicelink's) in order, then the watchlist feed."""

import datetime as dt

from devicelink import BackofficeAuthError, BackofficeUnavailable, RecordRejected, WatchlistDelta
from gate import FaceOutcome, GateStore, GateWorkflow, sync_once
from gate.testing import verified_chip
from tests.gate.test_store_and_workflow import Clock, LoggingDoor, steps


class FakeBackoffice:
    """Dedupes by idempotency key like the real one; can be down or flaky."""

    def __init__(self):
        self.received: dict[str, tuple[str, dict]] = {}
        self.calls = 0
        self.down = False
        self.fail_after: int | None = None
        self.reject_kind: str | None = None
        self.auth_refused = False
        self.feed_calls = 0
        self.version = 2
        self.changes = [
            {"version": 2, "op": "upsert", "id": "doc-1", "kind": "document", "data": {"number": "B9999999"}},
        ]

    def deliver(self, kind, payload, key):
        self.calls += 1
        if self.auth_refused:
            raise BackofficeAuthError("HTTP 401")
        if self.down or (self.fail_after is not None and self.calls > self.fail_after):
            raise BackofficeUnavailable("connection refused")
        if kind == self.reject_kind:
            raise RecordRejected(422, "about:blank", "schema violation")
        self.received.setdefault(key, (kind, payload))

    def watchlist_changes(self, since, etag):
        self.feed_calls += 1
        if self.down:
            raise BackofficeUnavailable("connection refused")
        return WatchlistDelta([c for c in self.changes if c["version"] > since], self.version)


def run_travellers(store, n, clock):
    for i in range(n):
        face = FaceOutcome(True, True, 0.9 if i % 2 == 0 else 0.1, 0.6, b"live", liveness_path="passive+challenge")
        GateWorkflow(steps(face=lambda c, f=face: f, chip=lambda p: verified_chip(dg2_image=b"chip")), LoggingDoor(), store, gate_id="g1",
                     clock=clock).process()


def test_offline_gate_keeps_deciding_then_delivers_exactly_once():
    clock = Clock()
    store = GateStore(None, clock=clock)
    store.apply_watchlist_changes([], new_version=1)
    bo = FakeBackoffice()
    bo.down = True
    run_travellers(store, 6, clock)  # 6 events + 3 exceptions queued while offline
    report = sync_once(store, bo)
    assert not report.reachable and report.pending == 9 and bo.received == {}
    bo.down, bo.fail_after, bo.calls = False, 4, 0  # comes back, then drops mid-round
    report = sync_once(store, bo)
    assert not report.reachable and len(bo.received) == 4 and report.pending == 5
    bo.fail_after = None
    report = sync_once(store, bo)
    assert report.reachable and report.pending == 0 and report.delivered == 5
    assert len(bo.received) == 9
    assert sorted(k for k, _ in bo.received.values()).count("exception") == 3
    assert report.watchlist_version == 2 and store.watchlist_entries("document")[0]["number"] == "B9999999"


def test_rejected_items_are_parked_not_lost_and_do_not_block():
    clock = Clock()
    store = GateStore(None, clock=clock)
    store.apply_watchlist_changes([], new_version=1)
    run_travellers(store, 2, clock)
    bo = FakeBackoffice()
    bo.reject_kind = "exception"
    report = sync_once(store, bo)
    assert report.delivered == 2 and report.rejected == 1 and report.pending == 0
    assert [p.kind for p in store.outbox.parked()] == ["exception"]
    assert "schema violation" in store.outbox.parked()[0].error


def test_sync_refreshes_the_staleness_clock():
    clock = Clock()
    store = GateStore(None, clock=clock)
    store.apply_watchlist_changes([], new_version=2)
    clock.t += dt.timedelta(hours=5)
    bo = FakeBackoffice()
    bo.changes = []
    sync_once(store, bo)
    assert store.watchlist_age_s() == 0


def test_a_refused_credential_keeps_everything_waiting_and_skips_the_feed():
    clock = Clock()
    store = GateStore(None, clock=clock)
    store.apply_watchlist_changes([], new_version=1)
    run_travellers(store, 2, clock)
    bo = FakeBackoffice()
    bo.auth_refused = True
    report = sync_once(store, bo)
    assert not report.reachable and report.pending == 3 and report.delivered == 0 and bo.feed_calls == 0
    assert [i.attempts for i in store.outbox.pending()] == [1, 0, 0]  # the round stopped at the first
    bo.auth_refused = False
    assert sync_once(store, bo).pending == 0 and len(bo.received) == 3


def test_the_gate_keeps_the_expiry_of_a_feed_entry():
    """An entry the back office gave an expiry (``expires_on``) stops matching at the gate after that day, as
    on the server: the gate's copy is built from the change feed's data."""
    from gate._watch import entry_from_change

    today = dt.date(2026, 12, 6)
    person = entry_from_change("p1", "person", {"name": "NGUYEN VAN AN", "expires_on": "2026-12-05"})
    document = entry_from_change("d1", "document", {"document_number": "C1234567", "expires_on": "2026-12-06"})
    assert person.in_force(today) is False and document.in_force(today) is True
    assert entry_from_change("p2", "person", {"name": "NGUYEN VAN AN"}).in_force(today) is True
