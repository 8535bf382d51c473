"""The gate against the real back office (in process): its outbox delivered over HTTP exactly once by
devicelink's client, the watchlist feed into the local copy."""

from __future__ import annotations

import datetime as dt

import pytest

pytest.importorskip("fastapi")

from devicelink import BackofficeClient  # noqa: E402
from gate import FaceOutcome, FingerOutcome, GateSteps, GateStore, GateWorkflow, LocalWatchlist, sync_once  # noqa: E402
from gate.testing import passport, verified_chip  # noqa: E402
from tests.backoffice.conftest import build_world, make_config  # noqa: E402

P = passport("C1234567", "NGUYEN", "VAN A")


def _jpeg(color):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (48, 60), color).save(buf, format="JPEG")
    return buf.getvalue()


CHIP_JPEG, LIVE_JPEG = _jpeg((180, 140, 120)), _jpeg((170, 130, 110))


class Door:
    def open(self):
        pass


@pytest.fixture()
def world(tmp_path):
    w = build_world(make_config(db_path=tmp_path / "bo.db"))
    yield w
    w.client.close()


def gate_client(world, token=None):
    return BackofficeClient(token=token or world.tokens["gate"], http=world.client)


def run_gate(store, face_score, watchlist=lambda p: ()):
    steps = GateSteps(
        document=lambda: P,
        chip=lambda p: verified_chip(dg2_image=CHIP_JPEG),
        face=lambda c: FaceOutcome(acquired=True, liveness_passed=True, liveness_path="passive+challenge", score=face_score, threshold=0.6,
                                   live_image=LIVE_JPEG),
        finger=lambda p: FingerOutcome(enrolled=False),
        watchlist=watchlist)
    wf = GateWorkflow(steps, Door(), store, gate_id="gate-01")
    try:
        return wf.process()
    finally:
        wf.close()


def test_outbox_reaches_the_back_office_once_even_when_redelivered(world):
    store = GateStore()
    store.apply_watchlist_changes([], 1)
    assert run_gate(store, 0.9).opened
    assert not run_gate(store, 0.1).opened  # impostor: event + exception with both images
    items = store.outbox.pending()
    client = gate_client(world)
    for it in items:  # a lost acknowledgement: the gate sends everything twice
        client.deliver(it.kind, it.payload, it.id)
    report = sync_once(store, client)
    assert report.delivered == 3 and report.pending == 0 and report.reachable
    n_ex = world.ctx.store.one("SELECT COUNT(*) AS n FROM exceptions")["n"]
    n_ev = world.ctx.store.one("SELECT COUNT(*) AS n FROM events")["n"]
    assert (n_ex, n_ev) == (1, 2)
    queue = world.client.get("/api/v1/exceptions", headers=world.h("border_guard")).json()
    assert queue["total"] == 1
    detail = world.client.get(f"/api/v1/exceptions/{queue['items'][0]['id']}", headers=world.h("border_guard")).json()
    assert "face_mismatch" in str(detail)


def test_back_office_down_then_back(world):
    store = GateStore()
    store.apply_watchlist_changes([], 1)
    run_gate(store, 0.1)
    dead = BackofficeClient("http://127.0.0.1:9", "sbd_x", timeout_s=0.2)
    report = sync_once(store, dead)
    assert not report.reachable and report.pending == 2
    assert sync_once(store, gate_client(world)).pending == 0


def test_watchlist_feed_fills_the_local_copy_and_reset_restarts(world):
    c, sup = world.client, world.h("supervisor")
    assert c.post("/api/v1/watchlist/documents", json={"document_number": "C1234567", "issuing_state": "VNM"},
                  headers=sup).status_code == 201
    assert c.post("/api/v1/watchlist/persons", json={"name": "Trần Thị Bích", "date_of_birth": "1985-03-02"},
                  headers=sup).status_code == 201
    store = GateStore()
    client = gate_client(world)
    client.page_limit = 1  # forces paging
    r = sync_once(store, client)
    assert r.watchlist_changes == 2 and store.watchlist_version() == 2
    assert store.watchlist_etag() is None
    sync_once(store, client)  # nothing new: keeps the ETag for a 304 next time
    etag = store.watchlist_etag()
    assert etag
    synced = store.watchlist_synced_at()
    assert sync_once(store, client).watchlist_changes == 0 and store.watchlist_synced_at() >= synced

    local = LocalWatchlist(store)
    hits = [m for m in local(P) if m.hit]
    assert [m.kind for m in hits] == ["document"]
    assert not run_gate(store, 0.9, watchlist=local).opened
    bich = passport("B7654321", "TRAN", "THI BICH", date_of_birth=dt.date(1985, 3, 2), sex="F")
    assert any(m.hit and m.kind == "person" for m in local(bich))

    # the gate is ahead of the server (e.g. the server was restored): drop the copy, start again
    store.apply_watchlist_changes([{"version": 7, "op": "upsert", "id": "x", "kind": "document",
                                    "data": {"document_number": "Z1"}}], 7)
    r = sync_once(store, gate_client(world))
    assert store.watchlist_version() == 2 and {e["id"] for e in store.watchlist_entries()} != {"x"}
    assert "x" not in {e["id"] for e in store.watchlist_entries()}


def test_back_office_down_for_the_whole_run_then_exactly_once(world):
    """Twenty travellers decided with the back office unreachable; when it returns, every event and
    exception arrives exactly once, even though the first delivery attempts were repeated."""
    store = GateStore()
    store.apply_watchlist_changes([], 1)
    dead = BackofficeClient("http://127.0.0.1:9", "sbd_x", timeout_s=0.2)
    outcomes = []
    for i in range(20):
        outcomes.append(run_gate(store, 0.9 if i % 4 else 0.1).opened)
        report = sync_once(store, dead)
        assert not report.reachable
    assert outcomes.count(False) == 5 and store.outbox.pending_count() == 25
    live = gate_client(world)
    for it in store.outbox.pending()[:7]:  # a partial round whose acknowledgements were lost
        live.deliver(it.kind, it.payload, it.id)
    assert sync_once(store, live).pending == 0
    assert sync_once(store, live).delivered == 0
    n_ex = world.ctx.store.one("SELECT COUNT(*) AS n FROM exceptions")["n"]
    n_ev = world.ctx.store.one("SELECT COUNT(*) AS n FROM events")["n"]
    assert (n_ev, n_ex) == (20, 5)
