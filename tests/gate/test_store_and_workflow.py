import datetime as dt
import time

import pytest

from gate import (
    ChipOutcome,
    FaceOutcome,
    FingerOutcome,
    GateSteps,
    GateStore,
    GateWorkflow,
    ReasonCode,
    StepError,
    StepTimeouts,
    StoreError,
)
from gate.testing import passport, verified_chip

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


PRESENTATION = passport("C1234567", "NGUYEN", "VAN A")


def steps(**over) -> GateSteps:
    base = dict(
        document=lambda: PRESENTATION,
        chip=lambda p: verified_chip(dg2_image=b"chip-jpeg"),
        face=lambda c: FaceOutcome(acquired=True, liveness_passed=True, liveness_path="passive+challenge", score=0.9, threshold=0.6,
                                   live_image=b"live-jpeg"),
        finger=lambda p: FingerOutcome(enrolled=False),
        watchlist=lambda p: (),
    )
    base.update(over)
    return GateSteps(**base)


TEST_KEK = bytes(range(32))


def sealer_for(path):
    """The vault beside a gate database on disk, under a fixed test KEK (reopened by another process)."""
    from devicelink import VaultSealer
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
    kinds = [i.kind for i in store.outbox.pending()]
    assert kinds == ["event"]
    payload = str(store.outbox.pending()[0].payload)
    assert "live_image" not in payload and "live-jpeg" not in payload and "bGl2ZS1qcGVn" not in payload  # raw, base64


def test_impostor_is_referred_with_images_in_the_exception():
    store, door = fresh_store(), LoggingDoor()
    wf = GateWorkflow(steps(face=lambda c: FaceOutcome(True, True, 0.2, 0.6, b"live-jpeg", liveness_path="passive+challenge")), door, store,
                      gate_id="g1", clock=Clock())
    r = wf.process()
    assert not r.opened and door.opened == 0
    assert r.decision.reasons == (ReasonCode.FACE_MISMATCH,)
    exc = [i for i in store.outbox.pending() if i.kind == "exception"][0]
    assert exc.payload["reason_codes"] == ["face_mismatch"] and exc.ref == r.transaction_id
    assert exc.payload["live_image"] and exc.payload["chip_image"]
    # the document object of the back office's API, from the parsed MRZ (absent fields left out)
    assert exc.payload["document"] == {
        "document_number": "C1234567", "issuing_state": "VNM", "document_type": "P", "surname": "NGUYEN",
        "given_names": "VAN A", "nationality": "VNM", "date_of_birth": "1990-01-01", "date_of_expiry": "2030-01-01",
        "sex": "M"}


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


def test_a_device_fault_refers_the_traveller_and_the_gate_keeps_serving():
    store, door = fresh_store(), LoggingDoor()

    def broken_camera(chip):
        raise OSError("camera unplugged")

    wf = GateWorkflow(steps(face=broken_camera), door, store, gate_id="g1", clock=Clock())
    r = wf.process()
    assert not r.opened and list(r.decision.reasons) == ["hardware_fault"]
    wf.steps.face = lambda c: FaceOutcome(acquired=True, liveness_passed=True, liveness_path="passive+challenge", score=0.9, threshold=0.6)
    assert wf.process().opened
    wf.close()


def test_a_watchlist_copy_with_an_entry_that_cannot_be_indexed_checks_nobody_silently():
    from gate import LocalWatchlist
    from gate.testing import passport

    store = fresh_store()
    store.apply_watchlist_changes([{"version": 2, "op": "upsert", "id": "bad-1", "kind": "alien", "data": {}}], 2)
    wf = GateWorkflow(steps(watchlist=LocalWatchlist(store)), LoggingDoor(), store, gate_id="g1", clock=Clock())
    r = wf.process()
    assert not r.opened and r.decision.status("watchlist") == "missing"
    assert "watchlist copy incomplete" in r.decision.explain()
    assert LocalWatchlist(fresh_store())(passport()) == ()  # a sound, empty copy checks and finds nothing


@pytest.mark.parametrize("require_finger", [True, False])
def test_a_lane_without_a_fingerprint_step_fails_the_state_as_a_fault_and_refers(require_finger):
    """GateSteps.finger None is a missing device, a hardware fault of the fingerprint state, whatever the lane's
    fingerprint rule: it never skips the state (a lane not requiring fingerprints would then open). Only the joint
    lane leaves the state to its sides, by its own explicit flag."""
    from gate import PolicyConfig

    store, door = fresh_store(), LoggingDoor()
    wf = GateWorkflow(steps(finger=None), door, store, gate_id="g1", clock=Clock(),
                      policy=PolicyConfig(require_fingerprint_when_enrolled=require_finger))
    r = wf.process()
    wf.close()
    assert not r.opened and door.opened == 0
    assert list(r.decision.reasons) == ["hardware_fault"]
    assert "finger" in r.states
