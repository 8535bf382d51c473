import datetime as dt
import multiprocessing as mp
import os
import signal
import time

import pytest

from gate import (
    ChipOutcome,
    FaceOutcome,
    FingerOutcome,
    GateSteps,
    GateStore,
    GateWorkflow,
    Presentation,
    ReasonCode,
    StepError,
    StepTimeouts,
    StoreError,
)
from gate.testing import verified_chip

NOW = dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self, t=NOW):
        self.t = t

    def __call__(self):
        return self.t


class LoggingDoor:
    def __init__(self):
        self.opened = 0

    def open(self):
        self.opened += 1


PRESENTATION = Presentation("P", "VNM", "C1234567", dt.date(1990, 1, 1), dt.date(2030, 1, 1), "VNM",
                            "NGUYEN VAN A")


def steps(**over) -> GateSteps:
    base = dict(
        document=lambda: PRESENTATION,
        chip=lambda p: verified_chip(dg2_image=b"chip-jpeg"),
        face=lambda c: FaceOutcome(acquired=True, liveness_passed=True, score=0.9, threshold=0.6,
                                   live_image=b"live-jpeg"),
        finger=lambda p: FingerOutcome(enrolled=False),
        watchlist=lambda p: (),
    )
    base.update(over)
    return GateSteps(**base)


TEST_KEK = bytes(range(32))


def sealer_for(path):
    """The vault beside a gate database on disk, under a fixed test KEK (reopened by another process)."""
    from gate import VaultSealer
    from privacy import RawKek, Vault

    return VaultSealer(Vault(f"{path}.vault", RawKek(TEST_KEK, label="test")))


def open_store(path, clock=None):
    return GateStore(path, sealer=sealer_for(path) if path is not None else None, clock=clock or Clock())


def fresh_store(path=None, clock=None):
    store = open_store(path, clock)
    store.apply_watchlist_changes([], new_version=1)
    return store


def test_genuine_traveller_opens_the_door_and_keeps_no_images():
    store, door = fresh_store(), LoggingDoor()
    wf = GateWorkflow(steps(), door, store, gate_id="g1", clock=Clock())
    r = wf.process()
    assert r.opened and door.opened == 1
    assert r.states == ("document", "chip", "face", "finger", "watchlist", "decide", "open", "done")
    kinds = [i.kind for i in store.pending()]
    assert kinds == ["event"]
    assert "live" not in str(store.pending()[0].payload)


def test_impostor_is_referred_with_images_in_the_exception():
    store, door = fresh_store(), LoggingDoor()
    wf = GateWorkflow(steps(face=lambda c: FaceOutcome(True, True, 0.2, 0.6, b"live-jpeg")), door, store,
                      gate_id="g1", clock=Clock())
    r = wf.process()
    assert not r.opened and door.opened == 0
    assert r.decision.reasons == (ReasonCode.FACE_MISMATCH,)
    exc = [i for i in store.pending() if i.kind == "exception"][0]
    assert exc.payload["reason_codes"] == ["face_mismatch"]
    assert exc.payload["live_image"] and exc.payload["chip_image"]


def test_step_timeout_refers_with_timeout():
    def slow_chip(p):
        time.sleep(1.0)
        return ChipOutcome(read=True)

    store = fresh_store()
    wf = GateWorkflow(steps(chip=slow_chip), LoggingDoor(), store, gate_id="g1", clock=Clock(),
                      timeouts=StepTimeouts(chip=0.05))
    r = wf.process()
    assert r.decision.reasons == (ReasonCode.TIMEOUT,)
    # the next traveller is served normally
    wf.steps = steps()
    assert wf.process().opened


def test_reader_error_and_unreadable_document():
    def bad_chip(p):
        raise StepError("secure messaging MAC failure")

    def no_document():
        raise StepError("no MRZ found")

    store = fresh_store()
    r = GateWorkflow(steps(chip=bad_chip), LoggingDoor(), store, gate_id="g1", clock=Clock()).process()
    assert ReasonCode.CHIP_READ_FAILED in r.decision.reasons
    r = GateWorkflow(steps(document=no_document), LoggingDoor(), store, gate_id="g1", clock=Clock()).process()
    assert r.decision.reasons == (ReasonCode.DOCUMENT_UNREADABLE,)


def test_stale_watchlist_refers_everyone():
    clock = Clock()
    store = fresh_store(clock=clock)
    clock.t = NOW + dt.timedelta(hours=7)
    r = GateWorkflow(steps(), LoggingDoor(), store, gate_id="g1", clock=clock).process()
    assert r.decision.reasons == (ReasonCode.WATCHLIST_STALE,)


def test_watchlist_deltas_apply_in_order_and_atomically():
    store = GateStore(None, clock=Clock())
    store.apply_watchlist_changes([
        {"version": 1, "op": "upsert", "id": "d1", "kind": "document", "data": {"number": "X1"}},
        {"version": 2, "op": "upsert", "id": "d2", "kind": "document", "data": {"number": "X2"}},
        {"version": 3, "op": "delete", "id": "d1"},
    ], new_version=3)
    assert [e["number"] for e in store.watchlist_entries("document")] == ["X2"]
    with pytest.raises(StoreError, match="older"):
        store.apply_watchlist_changes([], new_version=2)
    with pytest.raises(StoreError, match="malformed"):
        store.apply_watchlist_changes([{"version": 4, "op": "upsert", "id": "d3"}], new_version=4)
    assert store.watchlist_version() == 3 and len(store.watchlist_entries()) == 1


def test_delivered_items_lose_their_payload():
    store = fresh_store()
    GateWorkflow(steps(face=lambda c: FaceOutcome(True, False, 0.9, 0.6, b"live")), LoggingDoor(), store,
                 gate_id="g1", clock=Clock()).process()
    for item in store.pending():
        store.mark_delivered(item.id)
    assert store.pending_count() == 0
    count, longest = store.db.execute("SELECT COUNT(*), MAX(length(payload)) FROM gate_outbox").fetchone()
    assert count == 2 and longest == 0


def _run_and_hang(path):
    store = open_store(path)
    store.apply_watchlist_changes([], new_version=1)

    def hang(p):
        os.kill(os.getpid(), signal.SIGKILL)

    GateWorkflow(steps(chip=hang), LoggingDoor(), store, gate_id="g1").process()


def test_killed_mid_transaction_leaves_nothing_partial(tmp_path):
    path = tmp_path / "gate.db"
    store = fresh_store(path)
    GateWorkflow(steps(), LoggingDoor(), store, gate_id="g1").process()
    before = store.pending_count()
    proc = mp.get_context("spawn").Process(target=_run_and_hang, args=(str(path),))
    proc.start()
    proc.join(60)
    assert proc.exitcode == -signal.SIGKILL
    reopened = open_store(path)
    assert reopened.pending_count() == before == 1
    assert len(reopened.transactions()) == 1


def test_outbox_is_sealed_by_the_vault_and_shredded_after_delivery(tmp_path):
    import sqlite3

    from gate import VaultSealer
    from privacy import RawKek, SubjectShreddedError, Vault

    vault = Vault(tmp_path / "vault.db", RawKek(bytes(range(32))))
    store = GateStore(tmp_path / "gate.db", sealer=VaultSealer(vault), clock=Clock())
    store.apply_watchlist_changes([], 1)
    wf = GateWorkflow(steps(face=lambda c: FaceOutcome(acquired=True, liveness_passed=True, score=0.1,
                                                       threshold=0.6, live_image=b"LIVE-JPEG-BYTES")),
                      LoggingDoor(), store, gate_id="g1", clock=Clock())
    wf.process()
    wf.close()
    raw = sqlite3.connect(tmp_path / "gate.db").execute("SELECT id, payload FROM gate_outbox").fetchall()
    assert raw and all(b"LIVE" not in bytes(p) and b"C1234567" not in bytes(p) for _, p in raw)
    backup = {i: bytes(p) for i, p in raw}  # a copy of the database taken before delivery
    exc = [i for i in store.pending() if i.kind == "exception"][0]
    assert exc.payload["reason_codes"] == ["face_mismatch"]
    store.mark_delivered(exc.id)
    with pytest.raises(SubjectShreddedError):
        VaultSealer(vault).open(exc.id, backup[exc.id])


def test_a_device_fault_refers_the_traveller_and_the_gate_keeps_serving():
    store, door = fresh_store(), LoggingDoor()

    def broken_camera(chip):
        raise OSError("camera unplugged")

    wf = GateWorkflow(steps(face=broken_camera), door, store, gate_id="g1", clock=Clock())
    r = wf.process()
    assert not r.opened and list(r.decision.reasons) == ["hardware_fault"]
    wf.steps.face = lambda c: FaceOutcome(acquired=True, liveness_passed=True, score=0.9, threshold=0.6)
    assert wf.process().opened
    wf.close()


def test_a_gate_database_on_disk_refuses_to_open_without_a_sealer(tmp_path):
    from gate import StoreError

    with pytest.raises(StoreError, match="sealer"):
        GateStore(tmp_path / "gate.db")


def test_in_memory_store_seals_outbox_payloads_by_default():
    store = fresh_store()
    GateWorkflow(steps(face=lambda c: FaceOutcome(True, True, 0.2, 0.6, b"LIVE-IMAGE-BYTES")), LoggingDoor(),
                 store, gate_id="g1", clock=Clock()).process()
    raw = b"".join(bytes(r[0]) for r in store.db.execute("SELECT payload FROM gate_outbox"))
    assert raw and b"face_mismatch" not in raw and b"TElWRS1JTUFHRS1CWVRFUw" not in raw
    assert any(i.payload["reason_codes"] == ["face_mismatch"] for i in store.pending())
