"""A referral at the gate calls an officer (``call_officer(state, reason)``, the back office's ``POST
/api/v1/calls``) off the decision's path: a failed or slow call never changes the decision or delays it."""

from __future__ import annotations

import threading
import time

from gate import FaceOutcome, GateWorkflow, ReasonCode, StepError
from tests.gate.test_store_and_workflow import Clock, LoggingDoor, fresh_store, steps

IMPOSTOR = {"face": lambda c: FaceOutcome(True, True, 0.2, 0.6, b"live-jpeg", liveness_path="passive+challenge")}


class Calls:
    def __init__(self, answer="call_1", delay_s: float = 0.0) -> None:
        self.answer, self.delay_s = answer, delay_s
        self.seen: list[tuple[str, str]] = []
        self.done = threading.Event()

    def __call__(self, state: str, reason: str) -> str:
        self.seen.append((state, reason))
        try:
            time.sleep(self.delay_s)
            if isinstance(self.answer, BaseException):
                raise self.answer
            return self.answer
        finally:
            self.done.set()


def test_a_referral_calls_an_officer():
    calls = Calls()
    wf = GateWorkflow(steps(**IMPOSTOR), LoggingDoor(), fresh_store(), gate_id="g1", clock=Clock(), call_officer=calls)
    r = wf.process()
    assert not r.opened and r.decision.reasons == (ReasonCode.FACE_MISMATCH,)
    assert wf.last_call.result(timeout=5) == "call_1"
    assert calls.seen == [("refer", "referral")]
    wf.close()


def test_an_open_door_calls_nobody():
    calls = Calls()
    wf = GateWorkflow(steps(), LoggingDoor(), fresh_store(), gate_id="g1", clock=Clock(), call_officer=calls)
    assert wf.process().opened
    assert wf.last_call is None and calls.seen == []
    wf.close()


def test_a_device_fault_calls_with_the_step_that_failed():
    def broken_camera(chip):
        raise OSError("camera unplugged")

    calls = Calls()
    wf = GateWorkflow(steps(face=broken_camera), LoggingDoor(), fresh_store(), gate_id="g1", clock=Clock(),
                      call_officer=calls)
    assert not wf.process().opened
    wf.last_call.result(timeout=5)
    assert calls.seen == [("face", "device_fault")]
    wf.close()


def test_a_failed_call_changes_nothing():
    for error in (RuntimeError("back office down"), StepError("no")):
        store, door = fresh_store(), LoggingDoor()
        wf = GateWorkflow(steps(**IMPOSTOR), door, store, gate_id="g1", clock=Clock(), call_officer=Calls(error))
        r = wf.process()
        assert wf.last_call.result(timeout=5) is None  # logged, never raised
        assert not r.opened and door.opened == 0 and r.decision.reasons == (ReasonCode.FACE_MISMATCH,)
        assert sorted(i.kind for i in store.outbox.pending()) == ["event", "exception"]  # the referral stands
        wf.close()


def test_a_slow_call_does_not_delay_the_decision():
    calls = Calls(delay_s=2.0)
    wf = GateWorkflow(steps(**IMPOSTOR), LoggingDoor(), fresh_store(), gate_id="g1", clock=Clock(), call_officer=calls)
    t0 = time.perf_counter()
    r = wf.process()
    assert time.perf_counter() - t0 < 1.0 and not r.opened
    assert calls.done.wait(5)
    wf.close()


def test_without_a_back_office_there_is_no_call():
    wf = GateWorkflow(steps(**IMPOSTOR), LoggingDoor(), fresh_store(), gate_id="g1", clock=Clock())
    assert not wf.process().opened and wf.last_call is None
    wf.close()
