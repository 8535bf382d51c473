"""A gate with Extended Access Control matches a live finger against the chip's DG3 on the device, offline.

Built through the deployment's composition (``gate_config`` from settings naming the inspection system's key
and CV certificate chain, ``build_gate``); the chip is a virtual passport issued with a test CVCA/DV/IS
hierarchy and two FVC fingers in DG3 (impression 1 of fingers 101 and 102, WSQ in ISO/IEC 19794-4); the live
finger comes from the scanner port (images, or libfprint's virtual sensor). Impression 2 of the same finger
opens; another finger refers with ``fingerprint_mismatch``. Without EAC, or with a terminal the chip refuses,
DG3 stays closed and the offline gate refers as before (the back-office path kept for enrolled travellers)."""

from __future__ import annotations

import pytest

from devices import ImageFingerprintScanner, load_gray
from devices.sim import FixedMrzSource, LoggingDoor, SimulatedReader
from emrtd.sim import EacPki, IssuerPki, issue_document
from gate import StepTimeouts
from smartborder.compose.gate import GateConfigError, GateDevices, build_gate, gate_config
from smartborder.settings import load_settings
from tests.conftest import shared_path
from tests.emrtd.test_vpcd import pcscd  # noqa: F401 - the fixture: a running pcscd, or a skip with the reason
from tests.gate.test_gate_emrtd import ENGINE, EXPIRY, Cam, photo_png, td3


@pytest.fixture(scope="module")
def fvc():
    return shared_path("fingerprints", "fvc2002_DB1")


@pytest.fixture(scope="module")
def eac():
    return EacPki.make("VN")


@pytest.fixture(scope="module")
def passport(fvc, eac):
    from biometrics.finger import finger_image_record

    dg3 = finger_image_record([(2, load_gray(fvc / "101_1.tif")), (7, load_gray(fvc / "102_1.tif"))],
                              compression="wsq")
    return issue_document(td3("C7654321", "900315", EXPIRY), photo_png(), eac=eac, dg3=[dg3], pki=IssuerPki.make("VN"))


def lane(tmp_path, doc, scanner, terminal=None, client=None, **settings_over):
    """A gate from settings (offline: no back-office credential) on simulated reader, camera and door."""
    doc.save(tmp_path / "doc")  # its trust/ holds the issuer's CSCA and CRL, as a gate's trust store would
    if terminal is not None:
        terminal.save(tmp_path / "is.pem", tmp_path / "chain.cvcert")
        settings_over.update(gate_eac_key=tmp_path / "is.pem", gate_eac_chain=tmp_path / "chain.cvcert")
    settings = load_settings(environ={}, data_dir=tmp_path / "data", key_dir=tmp_path / "keys",
                             gate_trust=tmp_path / "doc" / "trust", gate_liveness="off", **settings_over)
    config = gate_config(settings, db_path=None)
    reader, mrz = SimulatedReader(), FixedMrzSource()
    devices = GateDevices(reader=reader, camera=Cam(True), door=LoggingDoor(), mrz_source=mrz, scanner=scanner)
    gate = build_gate(config, devices, face_engine=ENGINE, client=client)  # the face engine is the stand-in
    gate.workflow.timeouts = StepTimeouts(chip=30, face=20, finger=60)
    gate.store.apply_watchlist_changes([], 1)
    reader.present(doc)
    mrz.place(doc.mrz)
    return gate


def serve(tmp_path, doc, scanner, terminal=None, **kw):
    gate = lane(tmp_path, doc, scanner, terminal, **kw)
    try:
        return gate.workflow.process()
    finally:
        gate.close()


def test_a_matching_live_finger_opens_offline(tmp_path, fvc, eac, passport):
    scanner = ImageFingerprintScanner(fvc / "101_2.tif")
    r = serve(tmp_path, passport, scanner, eac.terminal())
    assert r.opened, r.decision.explain()
    assert r.decision.status("fingerprint_match") == "passed" and scanner.captures == 1


def test_another_finger_refers_with_fingerprint_mismatch(tmp_path, fvc, eac, passport):
    r = serve(tmp_path, passport, ImageFingerprintScanner(fvc / "103_2.tif"), eac.terminal())
    assert not r.opened and r.decision.reasons == ("fingerprint_mismatch",), r.decision.explain()
    assert "below threshold" in r.decision.explain()


@pytest.mark.parametrize("kind", ["no_eac", "forged", "expired", "no_dg3_right"])
def test_without_dg3_the_offline_gate_refers_as_before(tmp_path, fvc, eac, passport, kind):
    scanner = ImageFingerprintScanner(fvc / "101_2.tif")
    terminal = {"no_eac": None, "forged": eac.terminal(forged=True), "expired": eac.terminal(expired=True),
                "no_dg3_right": eac.terminal(rights=0x02)}[kind]
    r = serve(tmp_path, passport, scanner, terminal)
    assert not r.opened and scanner.captures == 0  # no DG3: nothing to match on the device
    assert r.decision.status("fingerprint_match") == "missing", r.decision.explain()
    if kind == "no_eac":  # the gate holds no chain at all: the back-office path (none configured here)
        assert "no fingerprint enrolment service configured" in r.decision.explain()
    else:  # a chain for the chip's CVCA: the fingers in the chip were not obtained, named
        assert "the chip's fingerprints (DG3, EAC) were not obtained" in r.decision.explain()


class NotEnrolled:
    """A back office that knows no fingerprint enrolment for anyone (its answer would waive the check)."""

    def __init__(self):
        self.asked = []

    def verify_fingers(self, document_number, issuing_state, probes):
        self.asked.append(document_number)
        return {"fingerprint_check": "not_enrolled"}


def test_a_chip_refusing_ta_refers_even_when_the_back_office_knows_no_enrolment(tmp_path, fvc, eac, passport):
    """The SOD lists DG3 (the holder's fingers are in the document) and the gate holds a chain for the chip's CVCA:
    TA refused is the fingerprint check MISSING with its reason, never the back office's not_enrolled."""
    back_office, scanner = NotEnrolled(), ImageFingerprintScanner(fvc / "101_2.tif")
    gate = lane(tmp_path, passport, scanner, eac.terminal(forged=True), client=back_office)
    try:
        r = gate.workflow.process()
        [event] = [i.payload for i in gate.store.outbox.pending() if i.kind == "event"]
    finally:
        gate.close()
    assert not r.opened and r.decision.status("fingerprint_match") == "missing", r.decision.explain()
    assert "Terminal Authentication failed" in r.decision.explain() and "VNISGATE00001" in r.decision.explain()
    assert back_office.asked == [] and scanner.captures == 0
    # the transaction event says how EAC went (no personal data), in the back office's schema
    from backoffice.schemas import EventCreate

    assert (event["terminal_authentication"], event["eac_code"], event["fingerprint_source"]) == (
        "failed", "chip_refused", "chip")
    assert "Terminal Authentication failed" in event["dg3_error"] and EventCreate.model_validate(event)


def test_a_foreign_document_goes_to_the_back_office_with_the_reason_recorded(tmp_path, fvc, passport):
    """No chain for the chip's CVCA (EF.CVCA names VN's, the gate holds XX's): TA not performed, the back-office
    path decides (not enrolled: not required), and why DG3 was not read stays in the decision."""
    back_office = NotEnrolled()
    gate = lane(tmp_path, passport, ImageFingerprintScanner(fvc / "101_2.tif"), EacPki.make("XX").terminal(),
                client=back_office)
    try:
        chip = gate.workflow.steps.chip(gate.workflow.steps.document())
        r = gate.workflow.process()
        [event] = [i.payload for i in gate.store.outbox.pending() if i.kind == "event"]
    finally:
        gate.close()
    assert chip.ta_passed is None and chip.ta_code == "no_terminal_chain_for_cvca" and chip.pa_passed is True
    assert back_office.asked == ["C7654321"]
    assert (event["terminal_authentication"], event["eac_code"], event["fingerprint_source"]) == (
        "not_performed", "no_terminal_chain_for_cvca", "backoffice")
    assert "no terminal certificate chain for the chip's CVCA VNCVCA00001" in event["dg3_error"]
    assert r.decision.status("fingerprint_match") == "not_required", r.decision.explain()
    assert "no terminal certificate chain for the chip's CVCA VNCVCA00001" in chip.dg3_error


def test_the_chip_step_names_why_dg3_is_closed(tmp_path, fvc, eac, passport):
    gate = lane(tmp_path, passport, ImageFingerprintScanner(fvc / "101_2.tif"), eac.terminal(forged=True))
    try:
        p = gate.workflow.steps.document()
        chip = gate.workflow.steps.chip(p)
    finally:
        gate.close()
    assert chip.ta_passed is False and chip.dg3_records == ()
    assert "Terminal Authentication failed" in chip.dg3_error and "UTISGATE" not in chip.dg3_error
    assert "VNISGATE00001" in chip.dg3_error


def test_eac_settings_go_together_and_a_bad_chain_is_named(tmp_path, eac, passport):
    passport.save(tmp_path / "doc")
    base = dict(environ={}, data_dir=tmp_path / "data", key_dir=tmp_path / "keys", gate_trust=tmp_path / "doc" / "trust")
    eac.terminal().save(tmp_path / "is.pem", tmp_path / "chain.cvcert")
    with pytest.raises(GateConfigError, match="eac_key and eac_chain go together"):
        gate_config(load_settings(gate_eac_key=tmp_path / "is.pem", **base))
    (tmp_path / "cut.cvcert").write_bytes((tmp_path / "chain.cvcert").read_bytes()[:50])
    config = gate_config(load_settings(gate_eac_key=tmp_path / "is.pem", gate_eac_chain=tmp_path / "cut.cvcert",
                                       **base), db_path=None)
    devices = GateDevices(reader=SimulatedReader(), camera=Cam(True), door=LoggingDoor())
    with pytest.raises(GateConfigError, match="eac_chain.*truncated"):
        build_gate(config, devices, face_engine=ENGINE)
    (tmp_path / "is.pem").chmod(0o640)  # the IS private key readable by the group: refused, named, with the fix
    config = gate_config(load_settings(gate_eac_key=tmp_path / "is.pem", gate_eac_chain=tmp_path / "chain.cvcert",
                                       **base), db_path=None)
    with pytest.raises(GateConfigError, match=r"eac_key.*mode 0640: group or others.*chmod 600"):
        build_gate(config, devices, face_engine=ENGINE)


def test_the_live_finger_through_libfprint(tmp_path, fvc, eac, passport, sensor):
    from devices import LibfprintScanner

    scanner = LibfprintScanner(None, retries=2, on_finger_needed=sensor.finger_needed)
    sensor.queue_image(load_gray(fvc / "101_2.tif"))
    sensor.queue_image(load_gray(fvc / "103_2.tif"))
    try:
        opened = serve(tmp_path / "a", passport, scanner, eac.terminal())
        refused = serve(tmp_path / "b", passport, scanner, eac.terminal())
    finally:
        scanner.close()
    assert opened.opened, opened.decision.explain()
    assert refused.decision.reasons == ("fingerprint_mismatch",), refused.decision.explain()
    assert sensor.sent == ["image 388x374", "image 388x374"]


@pytest.mark.parametrize(("live", "opens"), [("101_2.tif", True), ("103_2.tif", False)], ids=["same_finger", "other"])
def test_through_pcscd_and_vpcd(pcscd, tmp_path, fvc, eac, passport, live, opens):  # noqa: F811
    """The same lane with the chip behind pcscd (vsmartcard's vpcd, pyscard): TA, DG3 read over PC/SC, the
    live finger matched on the device."""
    from devices import PcscReader
    from emrtd.sim import VPCD_PORT, VpcdCard, VpcdError

    reader_name, port = "Virtual PCD 00 01", VPCD_PORT + 1  # vpcd's second slot, as tests/gate/test_gate_pcsc.py
    try:
        card = VpcdCard(passport.chip(), port=port).start()
    except VpcdError as e:
        pytest.skip(f"vpcd not reachable: {e}")
    reader = PcscReader(reader_name)
    try:
        gate = lane(tmp_path, passport, ImageFingerprintScanner(fvc / live), eac.terminal())
        gate.workflow.steps.chip.reader = reader
        gate.workflow.steps.chip.card_wait_s = 10
        seen, step = [], gate.workflow.steps.chip
        gate.workflow.steps.chip = lambda p: seen.append(step(p)) or seen[-1]  # keep the chip's outcome
        try:
            result = gate.workflow.process()
        finally:
            gate.close()
    finally:
        reader.close()
        card.stop()
    assert card.error is None
    (chip,) = seen
    assert chip.read and chip.ta_passed is True and chip.dg3_error is None and len(chip.dg3_records) == 1
    assert result.opened is opens, result.decision.explain()
    if not opens:
        assert result.decision.reasons == ("fingerprint_mismatch",)


def test_ta_refused_with_a_back_office_answering_not_enrolled_is_missing_by_name():
    """The review's reproduction: ChipOutcome(ta_passed=False, dg3_error=...) with the back office answering
    not_enrolled gave (not_required, 'no fingerprints enrolled'); now missing, with the reason."""
    import datetime as dt
    from types import SimpleNamespace

    from gate import RULES, ChipOutcome, Evidence, FingerEngine, FingerStep, PolicyConfig
    from gate._workflow import _with_chip, _with_finger

    step = FingerStep(None, FingerEngine.default(), remote=lambda *a: {"fingerprint_check": "not_enrolled"})
    chip = ChipOutcome(read=True, ta_passed=False, ta_code="chip_refused",
                       dg3_error="DG3 not served: 6982; Terminal Authentication failed: chip refused ...")
    out = step(None, chip)
    assert out.enrolled is True and out.source == "chip" and "Terminal Authentication failed" in out.error
    ev = _with_finger(_with_chip(Evidence(today=dt.date.today()), chip, None), out, None)
    assert ev.ta_passed is False and ev.finger_source == "chip" and ev.dg3_error == chip.dg3_error
    rule = next(r for r in RULES if r.name == "fingerprint_match")
    status, detail, _ = rule.check(ev, PolicyConfig())
    assert status == "missing" and "Terminal Authentication failed" in detail
    # a document whose CVCA the gate holds no chain for: the back office decides, the reason kept
    foreign = ChipOutcome(read=True, ta_code="no_terminal_chain_for_cvca", dg3_error="DG3 not served: no chain")
    out = step(SimpleNamespace(document_number="C7654321", issuing_state="XXA"), foreign)
    assert out.enrolled is False and out.source == "backoffice"
    ev = _with_finger(_with_chip(Evidence(today=dt.date.today()), foreign, None), out, None)
    assert rule.check(ev, PolicyConfig())[0] == "not_required"
    assert ev.dg3_error == "DG3 not served: no chain" and ev.finger_source == "backoffice"


def test_an_unusable_dg3_or_capture_leaves_the_fingerprint_missing_by_name():
    from gate import RULES, ChipOutcome, Evidence, FingerEngine, FingerStep, PolicyConfig, decide
    from gate._workflow import _with_finger

    class Broken:
        def capture(self):
            raise OSError("sensor unplugged")

    import datetime as dt

    step = FingerStep(ImageFingerprintScanner(__file__), FingerEngine.default())  # never captured: DG3 is refused
    out = step(None, ChipOutcome(read=True, dg3_records=(b"FIR\x00010\x00" + bytes(30),)))
    assert out.source == "chip" and out.score is None and "DG3 finger images unusable" in out.error
    ev = _with_finger(Evidence(today=dt.date.today()), out, None)
    assert decide(ev).status("fingerprint_match") == "missing"
    rule = next(r for r in RULES if r.name == "fingerprint_match")
    status, detail, _ = rule.check(ev, PolicyConfig())
    assert status == "missing" and "DG3 finger images unusable" in detail
    engine = FingerEngine(lambda image, dpi: "template", 0.032, lambda record: [(2, None, 500)], lambda a, b: 1.0)
    out = FingerStep(Broken(), engine)(None, ChipOutcome(read=True, dg3_records=(b"any",)))
    assert out.score is None and out.error == "fingerprint capture failed: OSError"


@pytest.mark.parametrize("kind", ["forged", "none"])
def test_dg3_served_without_a_successful_ta_is_never_used(eac, passport, kind):
    """A chip that serves DG3 though TA failed (or was not performed): the records are not matched against."""
    from emrtd import read_document
    from emrtd.sim import InProcessTransport, trust_for_issued_document
    from gate._finger import chip_fingers

    chip = passport.chip()
    chip._readable = lambda name: True  # a chip that does not enforce EAC
    terminal = eac.terminal(forged=True) if kind == "forged" else None
    res = read_document(InProcessTransport(chip), passport.access_key, trust=trust_for_issued_document(passport),
                        terminal=terminal)
    assert "DG3" in res.files and res.data_group_verified("DG3") is True
    out = chip_fingers(res)
    assert "dg3_records" not in out and out["dg3_error"].startswith("DG3 served without a successful Terminal")
    assert out["ta_code"] == ("chip_refused" if kind == "forged" else "no_terminal_credentials")


def test_only_the_dg3_view_of_the_scanned_finger_is_compared():
    """The best score over several DG3 views raises the false match rate by their number: the live finger is
    compared with the view of its own position only; a DG3 without it leaves the check missing, named."""
    from gate import ChipOutcome, FingerEngine, FingerStep

    class Scanner:
        def capture(self):
            return type("Cap", (), {"image": "live", "dpi": 500})()

    class Tmpl(str):
        def to_bytes(self):
            return self.encode()

    compared = []
    views = {b"2+7": [(7, "left index", 500), (2, "right index", 500)], b"7+8": [(7, "a", 500), (8, "b", 500)]}
    engine = FingerEngine(lambda image, dpi: Tmpl(image), 0.03, lambda record: views[record],
                          lambda probe, ref: compared.append(ref) or (0.9 if ref == "left index" else 0.01))
    out = FingerStep(Scanner(), engine)(None, ChipOutcome(read=True, dg3_records=(b"2+7",)))
    assert compared == ["right index"] and out.score == 0.01 and out.source == "chip"  # never the best of both
    compared.clear()
    out = FingerStep(Scanner(), engine)(None, ChipOutcome(read=True, dg3_records=(b"7+8",)))
    assert compared == [] and out.score is None and out.enrolled is True
    assert out.error == "DG3 holds no view of finger position 2 (the one the scanner asks for); its positions: 7, 8"


def test_the_on_device_threshold_is_the_stricter_of_the_lanes_and_the_back_offices(tmp_path, eac, passport,
                                                                                     monkeypatch):
    from biometrics import finger
    from gate import FingerEngine

    assert FingerEngine.default(threshold="fmr_1e-2", at_least="fmr_5e-4").threshold == finger.THRESHOLDS["fmr_5e-4"]
    assert FingerEngine.default(at_least="fmr_1e-2").threshold == finger.THRESHOLDS["fmr_5e-4"]  # never laxer
    monkeypatch.setitem(finger.THRESHOLDS, "fmr_1e-5", 0.05)  # a stricter operating point, calibrated one day
    gate = lane(tmp_path / "a", passport, None, eac.terminal(), backoffice_fingerprint_threshold="fmr_1e-5")
    try:
        assert gate.workflow.steps.finger.engine.threshold == 0.05
    finally:
        gate.close()
    with pytest.raises(GateConfigError, match=r"fingerprint_threshold: unknown fingerprint threshold 'fmr_7'"):
        lane(tmp_path / "b", passport, None, eac.terminal(), backoffice_fingerprint_threshold="fmr_7")
