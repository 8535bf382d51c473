"""The adversarial chips through a real PC/SC stack: pcscd, vsmartcard's virtual reader (vpcd) and
pyscard, read by the gate's ChipStep (emrtd) and decided by its policy: each is referred with its
named reason; the genuine chip opens. The same chips on the simulated reader: tests/gate/test_gate_emrtd.py."""

from __future__ import annotations

import pytest

from devices import PcscReader
from devices.sim import LoggingDoor
from emrtd.sim import VPCD_PORT, IssuerPki, VpcdCard, VpcdError, issue_document, trust_for_issued_document
from gate import ChipStep, DocumentStep, FaceStep, GateStore, GateWorkflow, LocalWatchlist, StepTimeouts
from tests.emrtd.test_vpcd import pcscd  # noqa: F401 - the fixture: a running pcscd, or a skip with the reason
from tests.gate.test_gate_emrtd import ENGINE, EXPIRY, STANDIN, Cam, photo_png, td3

VPCD_READER, PORT = "Virtual PCD 00 01", VPCD_PORT + 1  # vpcd's second slot


@pytest.fixture(scope="module")
def pki():
    return IssuerPki.make("VN")


def serve_over_pcsc(pki, faults=(), **issue_kw):
    from devices.sim import FixedMrzSource
    from gate import FingerOutcome, GateSteps

    doc = issue_document(td3("C9990001", "900315", EXPIRY), photo_png(), faults=faults, pki=pki, **issue_kw)
    store = GateStore()
    store.apply_watchlist_changes([], 1)
    mrz = FixedMrzSource(doc.mrz)
    steps = GateSteps(document=DocumentStep(mrz_source=mrz),
                      chip=ChipStep(PcscReader(VPCD_READER), trust_for_issued_document(doc), card_wait_s=10),
                      face=FaceStep(Cam(True), ENGINE), finger=lambda p: FingerOutcome(enrolled=False),
                      watchlist=LocalWatchlist(store))
    try:
        card = VpcdCard(doc.chip(), port=PORT).start()
    except VpcdError as e:
        pytest.skip(f"vpcd not reachable: {e}")
    wf = GateWorkflow(steps, LoggingDoor(), store, gate_id="g-pcsc", policy=STANDIN,
                      timeouts=StepTimeouts(chip=60, face=20))
    try:
        return wf.process()
    finally:
        wf.close()
        steps.chip.reader.close()
        card.stop()
        assert card.error is None


@pytest.mark.parametrize(("faults", "issue_kw", "reason"), [
    ((), {"aa": "ec", "ca": True}, None),
    (("no_sod",), {}, "chip_pa_failed"),
    (("no_dg2",), {}, "evidence_missing"),
    (("no_sod", "no_dg2"), {}, "chip_pa_failed"),
    (("hidden_dg14_dg15",), {"aa": "ec", "ca": True}, "chip_cloned"),
    (("unknown_csca",), {}, "chip_pa_failed"),
    (("mrz_mismatch",), {}, "mrz_mismatch"),
], ids=["genuine", "no_sod", "no_dg2", "no_sod+no_dg2", "hidden_dg14_dg15", "unknown_csca", "mrz_mismatch"])
def test_adversarial_chips_through_pcscd_are_referred_with_their_reason(pcscd, pki, faults, issue_kw, reason):  # noqa: F811
    r = serve_over_pcsc(pki, faults, **issue_kw)
    if reason is None:
        assert r.opened, r.decision.explain()
    else:
        assert not r.opened and reason in r.decision.reasons, r.decision.explain()
