"""Every referral path and the happy path through the real reader code: virtual documents issued by
the project's test PKI, read by emrtd over the simulated reader, decided by the gate's policy.
The face engine here is mostly a stand-in with fixed scores and no liveness check, so these lanes relax
liveness explicitly (``STANDIN``); the real engine is tested below where the photos are available, in
tests/biometrics and end to end through the composition (tests/smartborder). Everything on the document
side is real: every adversarial chip is referred with its named reason."""

from __future__ import annotations

import datetime as dt
import io
import math
from dataclasses import dataclass

import numpy as np
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

import emrtd
from devices.sim import FixedMrzSource, LoggingDoor, SimulatedReader
from emrtd.sim import IssuerPki, issue_document, trust_for_issued_document
from gate import (
    ChipStep,
    DocumentStep,
    FaceEngine,
    FaceStep,
    FingerOutcome,
    GateSteps,
    GateStore,
    GateWorkflow,
    LocalWatchlist,
    PolicyConfig,
    StepTimeouts,
)

TODAY = dt.date.today()


cd = emrtd.check_digit


def td3(number: str, dob: str, expiry: str, surname="NGUYEN", given="VAN AN", state="VNM") -> str:
    name = (surname + "<<" + given.replace(" ", "<")).ljust(39, "<")
    l1 = f"P<{state}{name}"
    num = number.ljust(9, "<")
    opt = "<" * 14
    l2 = num + cd(num) + state + dob + cd(dob) + "M" + expiry + cd(expiry) + opt + cd(opt)
    comp = l2[0:10] + l2[13:20] + l2[21:43]
    return l1 + l2 + cd(comp)


def photo_png() -> bytes:
    from PIL import Image

    rng = np.random.default_rng(1)
    img = (rng.random((300, 240, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def pki():
    return IssuerPki.make("VN")


@dataclass
class Q:
    passed: bool = True
    score: float = 80.0
    guidance: tuple = ()


@dataclass
class V:
    score: float
    threshold: float = 0.5


class Cam:
    def __init__(self, bright: bool) -> None:
        self.value = 200 if bright else 20

    def frames(self):
        while True:
            yield np.full((120, 100, 3), self.value, np.uint8)


ENGINE = FaceEngine(quality=lambda f: Q(), verify=lambda ref, frames: V(0.9 if frames[0].mean() > 100 else 0.1))
STANDIN = PolicyConfig(require_liveness=False)  # the stand-in engine has no liveness check: an explicit relaxation
EXPIRY = (TODAY + dt.timedelta(days=900)).strftime("%y%m%d")


def make_gate(store=None, *, live_matches=True, policy=None):
    store = store or GateStore()
    if store.watchlist_version() == 0:
        store.apply_watchlist_changes([], 1)
    reader, mrz = SimulatedReader(), FixedMrzSource()
    steps = GateSteps(document=DocumentStep(mrz_source=mrz), chip=None, face=FaceStep(Cam(live_matches), ENGINE),
                      finger=lambda p: FingerOutcome(enrolled=False), watchlist=LocalWatchlist(store))
    return store, reader, mrz, steps


def serve(pki, *, number="C1234567", expiry=EXPIRY, faults=(), live_matches=True, store=None, policy=STANDIN,
          present_card=True, trust="issuer", photo=None, printed=None, **issue_kw):
    mrz_text = td3(number, "900315", expiry)
    doc = issue_document(mrz_text, photo or photo_png(), faults=faults, pki=pki, **issue_kw)
    if trust == "issuer":  # the issuer's CSCA and its current CRL
        trust = trust_for_issued_document(doc)
    store, reader, mrz, steps = make_gate(store, live_matches=live_matches)
    steps.chip = ChipStep(reader, trust, card_wait_s=0.2)
    if present_card:
        reader.present(doc)
    mrz.place(printed(doc.mrz) if printed else doc.mrz)  # ``printed``: how a forger altered the data page
    wf = GateWorkflow(steps, LoggingDoor(), store, gate_id="g1", policy=policy,
                      timeouts=StepTimeouts(chip=20, face=20))
    try:
        return wf.process(), store
    finally:
        wf.close()


def serve_with_face(pki, number, face_step, *, photo=None, timeouts=None, policy=STANDIN, faults=()):
    """One traveller through the real reader code with the given face step."""
    doc = issue_document(td3(number, "900315", EXPIRY), photo or photo_png(), pki=pki, faults=faults)
    store, reader, mrz, steps = make_gate()
    steps.chip = ChipStep(reader, trust_for_issued_document(doc), card_wait_s=0.2)
    steps.face = face_step
    reader.present(doc)
    mrz.place(doc.mrz)
    wf = GateWorkflow(steps, LoggingDoor(), store, gate_id="g1", timeouts=timeouts, policy=policy)
    try:
        return wf.process()
    finally:
        wf.close()


def test_genuine_traveller_passes_through_the_real_reader(pki):
    r, store = serve(pki)
    assert r.opened, r.decision.explain()
    assert r.states[:6] == ("document", "chip", "face", "finger", "watchlist", "decide")


@pytest.mark.parametrize(("faults", "reason"), [
    (("tampered_dg",), "chip_pa_failed"),
    (("bad_sod_signature",), "chip_pa_failed"),
    (("expired_dsc",), "chip_pa_failed"),
    (("unknown_csca",), "chip_pa_failed"),
    (("clone_aa",), "chip_cloned"),
    (("clone_ca",), "chip_cloned"),
    (("mrz_mismatch",), "mrz_mismatch"),
    (("revoked_dsc",), "chip_pa_failed"),
    # chips derived from a genuine one by deleting what the attacker cannot forge
    (("no_sod",), "chip_pa_failed"),
    (("no_dg2",), "evidence_missing"),
    (("no_sod", "no_dg2"), "chip_pa_failed"),
    (("hidden_dg14_dg15",), "chip_cloned"),
])
def test_forged_and_cloned_chips_are_referred(pki, faults, reason):
    kw = {"aa": "ec", "ca": True} if "hidden_dg14_dg15" in faults else {}
    r, store = serve(pki, faults=faults, **kw)
    assert not r.opened and reason in r.decision.reasons, r.decision.explain()
    exc = [i for i in store.outbox.pending() if i.kind == "exception"][0].payload
    assert reason in exc["reason_codes"]


def test_a_chip_without_dg2_names_the_missing_photo_and_skips_the_biometrics(pki):
    r, _ = serve(pki, faults=("no_dg2",))
    assert "face" not in r.states and "finger" not in r.states and "watchlist" in r.states
    assert r.decision.status("data_groups") == "missing" and r.decision.status("face_match") == "missing"
    assert "DG2 not served by the chip" in r.decision.explain()


def test_a_genuine_chip_with_its_dg14_and_dg15_opens(pki):
    r, _ = serve(pki, aa="ec", ca=True)
    assert r.opened, r.decision.explain()
    assert r.decision.status("chip_authenticity") == "passed"


@pytest.mark.parametrize("form", ["explicit", "explicit_compressed"])
def test_chip_keys_with_explicit_named_curve_parameters_open(pki, form):
    r, _ = serve(pki, aa="ec", ca=True, chip_key_parameters=form)
    assert r.opened, r.decision.explain()
    assert r.decision.status("chip_authenticity") == "passed"


def test_chip_keys_of_no_named_curve_refer_by_name_not_as_a_clone(pki):
    r, store = serve(pki, aa="ec", ca=True, chip_key_parameters="explicit_unnamed")
    assert not r.opened and r.decision.reasons == ("chip_key_unusable",), r.decision.explain()
    assert "chip_cloned" not in r.decision.reasons and "ec_parameters_unknown_curve" in r.decision.explain()
    assert r.decision.status("passive_authentication") == "passed"  # a genuine document: PA verifies
    exc = [i for i in store.outbox.pending() if i.kind == "exception"][0].payload
    assert exc["reason_codes"] == ["chip_key_unusable"]


@pytest.mark.parametrize(("trust", "reason", "check"), [
    (None, "evidence_missing", "passive_authentication"),  # no trust store: the chain was never verified
    ("csca only", "evidence_missing", "passive_authentication"),  # no CRL: revocation status unknown
    ("other csca", "chip_pa_failed", "passive_authentication"),  # the store lacks the issuer's CSCA
])
def test_a_chain_that_was_not_verified_refers(pki, trust, reason, check):
    if trust == "csca only":
        trust = emrtd.TrustStore([pki.csca_cert.public_bytes(Encoding.DER)])
    elif trust == "other csca":
        trust = emrtd.TrustStore([IssuerPki.make("CN").csca_cert.public_bytes(Encoding.DER)])
    r, _ = serve(pki, trust=trust)
    assert not r.opened and reason in r.decision.reasons, r.decision.explain()
    assert r.decision.status(check) in ("missing", "failed")


def test_revocation_status_unknown_is_accepted_only_by_explicit_lane_configuration(pki):
    trust = emrtd.TrustStore([pki.csca_cert.public_bytes(Encoding.DER)])
    relaxed = PolicyConfig(require_liveness=False, require_revocation_status=False)
    r, _ = serve(pki, trust=trust, policy=relaxed)
    assert r.opened, r.decision.explain()


def test_impostor_is_referred_with_both_images(pki):
    r, store = serve(pki, live_matches=False)
    assert r.decision.reasons == ("face_mismatch",) or list(r.decision.reasons) == ["face_mismatch"]
    exc = [i for i in store.outbox.pending() if i.kind == "exception"][0].payload
    assert exc["live_image"] and exc["chip_image"] and exc["scores"]["face"] == pytest.approx(0.1)


def test_an_unknown_face_score_is_left_out_of_the_exception_record(pki):
    """A NaN score decided nothing (the gate refers, evidence missing); sending it would make the back office
    refuse the whole record (422: scores are finite), parking the images an officer needs."""
    nan_engine = FaceEngine(quality=lambda f: Q(), verify=lambda ref, frames: V(float("nan")))
    store, reader, mrz, steps = make_gate()
    steps.face = FaceStep(Cam(True), nan_engine)
    doc = issue_document(td3("C1234567", "900315", EXPIRY), photo_png(), pki=pki)
    steps.chip = ChipStep(reader, trust_for_issued_document(doc), card_wait_s=0.2)
    reader.present(doc)
    mrz.place(doc.mrz)
    r = GateWorkflow(steps, LoggingDoor(), store, gate_id="g1", policy=STANDIN).process()
    assert not r.opened
    exc = [i for i in store.outbox.pending() if i.kind == "exception"][0].payload
    assert "face" not in exc["scores"] and all(math.isfinite(v) for v in exc["scores"].values())


def test_expired_document(pki):
    r, _ = serve(pki, expiry=(TODAY - dt.timedelta(days=2)).strftime("%y%m%d"))
    assert "document_expired" in r.decision.reasons


def test_watchlisted_document(pki):
    store = GateStore()
    store.apply_watchlist_changes([{"version": 1, "op": "upsert", "id": "d-1", "kind": "document",
                                    "data": {"document_number": "C7654321", "issuing_state": "VNM"}}], 1)
    r, _ = serve(pki, number="C7654321", store=store)
    assert r.decision.reasons == ("watchlist_hit",) or list(r.decision.reasons) == ["watchlist_hit"]


def test_no_chip_answers(pki):
    r, _ = serve(pki, present_card=False)
    assert "chip_read_failed" in r.decision.reasons


def test_stale_watchlist_refers_everyone(pki):
    r, _ = serve(pki, policy=PolicyConfig(max_watchlist_age_s=0.0))
    assert "watchlist_stale" in r.decision.reasons


def test_unreadable_mrz_is_referred_not_crashed(pki):
    store, reader, mrz, steps = make_gate()
    mrz.place("P<VNMNGUYEN<<VAN<AN" + "<" * 25 + "C1234567<9VNM9003150M2901010<<<<<<<<<<<<<<00")
    steps.chip = ChipStep(reader, None, card_wait_s=0.1)
    wf = GateWorkflow(steps, LoggingDoor(), store, gate_id="g1")
    r = wf.process()
    wf.close()
    assert not r.opened and "document_unreadable" in r.decision.reasons


def test_real_face_engine_genuine_and_impostor_through_the_gate(pki):
    """The real face engine (biometrics.face) on development faces: the holder passes, another
    person presenting the same passport is referred for face mismatch."""
    from tests.conftest import shared_path

    root = shared_path("faces", "lfw-dev")
    people = [sorted(d.glob("*.jpg")) for d in sorted(root.iterdir()) if d.is_dir()]
    people = [p for p in people if len(p) >= 3][:2]
    from PIL import Image

    def frames_of(paths):
        imgs = [np.asarray(Image.open(p).convert("RGB")) for p in paths]

        class Camera:
            def frames(self):
                while True:
                    yield from imgs

        return Camera()

    holder, other = people
    outcomes = {}
    for label, live in (("genuine", holder[1:3]), ("impostor", other[0:2])):
        outcomes[label] = serve_with_face(pki, "C5550001", FaceStep(frames_of(live), FaceEngine.default()),
                                          photo=holder[0].read_bytes(), timeouts=StepTimeouts(chip=30, face=60))
    assert outcomes["genuine"].opened, outcomes["genuine"].decision.explain()
    assert list(outcomes["impostor"].decision.reasons) == ["face_mismatch"]


def test_two_people_in_front_of_the_camera_is_tailgating(pki):
    from gate import FaceNotAcquired

    def verify(ref, frames):
        raise FaceNotAcquired("two faces", faces=2)

    engine = FaceEngine(quality=lambda f: Q(), verify=verify)
    r = serve_with_face(pki, "C5550002", FaceStep(Cam(True), engine))
    assert not r.opened and "tailgating" in r.decision.reasons


def test_document_step_falls_back_to_ocr_then_qr():
    from emrtd import VnIdQr, encode_vn_id_qr, render_mrz_image

    text = td3("C1234567", "900315", EXPIRY)

    class Page:
        def __init__(self, image=None, qr=None):
            self.image, self.qr = image, qr

        def capture_page(self):
            if self.image is None:
                raise OSError("no page")
            return np.asarray(self.image)

        def read_qr(self):
            if self.qr is None:
                raise OSError("no qr")
            return self.qr

    empty = FixedMrzSource(None)
    ocr = DocumentStep(mrz_source=empty, page_camera=Page(render_mrz_image([text[:44], text[44:]])))()
    assert ocr.source == "ocr" and ocr.document_number == "C1234567" and ocr.access_key.date_of_birth == "900315"
    assert ocr.mrz == emrtd.parse_mrz(text) and ocr.qr is None  # the parsed MRZ itself, nothing re-declared
    card = VnIdQr("001090012345", "", "Trần Thị Bích", dt.date(1990, 3, 15), "Nữ", "Móng Cái", dt.date(2021, 4, 20))
    qr = DocumentStep(mrz_source=empty, page_camera=Page(), qr_source=Page(qr=encode_vn_id_qr(card)))()
    assert (qr.source, qr.document_number, qr.access_key.date_of_expiry) == ("qr", "090012345", "300315")
    assert qr.qr == card and qr.mrz is None and qr.names == "Trần Thị Bích"
    # the exception record's document: only what the QR says (no MRZ name, no sex), the type letter "I"
    assert qr.document_record() == {"document_number": "090012345", "issuing_state": "VNM", "document_type": "I",
                                    "nationality": "VNM", "date_of_birth": "1990-03-15",
                                    "date_of_expiry": "2030-03-15"}
    from gate import StepError

    with pytest.raises(StepError, match="document_unreadable"):
        DocumentStep(mrz_source=empty, page_camera=Page(), qr_source=Page(qr="not|a|card"))()


class _Session:
    """An active challenge that needs the traveller to react to the instruction it shows."""

    def __init__(self):
        self.shown = []
        self.n = 0

    def feed(self, frame, t):
        self.n += 1
        reacted = frame.mean() > 100  # the live traveller's frames: bright; a held-up photo: dark
        done = self.n >= 5
        from types import SimpleNamespace

        return SimpleNamespace(instruction_key=None if done else "liveness.blink", done=done,
                               passed=done and reacted, reason=None if reacted else "no blink")


@pytest.mark.parametrize(("live", "expected"), [(True, []), (False, ["liveness_failed"])])
def test_active_liveness_instructions_reach_the_lane_display(pki, live, expected):
    shown = []
    engine = FaceEngine(quality=lambda f: Q(), verify=lambda ref, frames: V(0.9), session=_Session)
    r = serve_with_face(pki, "C5550003", FaceStep(Cam(live), engine, display=shown.append))
    assert list(r.decision.reasons) == expected and "liveness.blink" in shown


def test_a_missed_challenge_gets_one_more_try(pki):
    attempts = []

    class Flaky(_Session):
        def __init__(self):
            super().__init__()
            attempts.append(self)

        def feed(self, frame, t):
            state = super().feed(frame, t)
            if len(attempts) == 1 and state.done:  # the traveller missed the first challenge
                state.passed = False
            return state

    engine = FaceEngine(quality=lambda f: Q(), verify=lambda ref, frames: V(0.9), session=Flaky)
    r = serve_with_face(pki, "C5550004", FaceStep(Cam(True), engine))
    assert r.opened and len(attempts) == 2


def test_capture_stops_once_enough_frames_are_good_and_the_matcher_reuses_their_faces(pki):
    seen: dict = {"frames": 0, "detections": None}

    class Counting(Cam):
        def frames(self):
            for f in super().frames():
                seen["frames"] += 1
                yield f

    @dataclass
    class QF(Q):
        face: object = "face-of-this-frame"
        faces: int = 1

    def verify(ref, frames, detections=None):
        seen["detections"] = detections
        return V(0.9)

    engine = FaceEngine(quality=lambda f: QF(), verify=verify)
    r = serve_with_face(pki, "C5550003", FaceStep(Counting(True), engine, max_frames=8, match_frames=3))
    assert r.opened, r.decision.explain()
    assert seen["frames"] == 3  # not the 8 allowed: three good frames are enough
    assert seen["detections"] == ["face-of-this-frame"] * 3


def test_several_people_keeping_the_traveller_from_being_captured_is_tailgating(pki):
    @dataclass
    class Crowd(Q):
        passed: bool = False
        faces: int = 2
        guidance: tuple = ("only one person in front of the camera",)

    engine = FaceEngine(quality=lambda f: Crowd(), verify=lambda ref, frames: V(0.9))
    r = serve_with_face(pki, "C5550004", FaceStep(Cam(True), engine))
    assert not r.opened and "tailgating" in r.decision.reasons


def test_finger_step_says_when_the_back_office_cannot_be_asked():
    from devicelink import BackofficeAuthError, BackofficeUnavailable
    from gate import FingerEngine, FingerStep
    from gate.testing import passport

    for error in (BackofficeUnavailable("connection refused"), BackofficeAuthError("HTTP 401")):
        def remote(number, state, probes, error=error):
            raise error

        step = FingerStep(scanner=None, engine=FingerEngine(None, 0.0), remote=remote)
        out = step(passport(date_of_birth=dt.date(1990, 3, 15), date_of_expiry=dt.date(2031, 1, 1)))
        assert out.unavailable and not out.enrolled


def test_a_chip_photo_without_a_face_refers_as_missing_evidence_never_as_the_travellers_failure(pki):
    """dg2_no_face: a genuinely signed DG2 whose portrait holds no face. The chip photo's template is
    made on a worker thread during capture; its failure leaves the face evidence missing (named), never
    a failure to acquire the traveller nor a chip read failure."""
    from PIL import Image

    from tests.conftest import shared_path

    root = shared_path("faces", "lfw-dev")
    person = next(sorted(d.glob("*.jpg")) for d in sorted(root.iterdir()) if d.is_dir() and len(list(d.glob("*.jpg"))) >= 3)
    live = [np.asarray(Image.open(p).convert("RGB")) for p in person[1:3]]

    class Camera:
        def frames(self):
            while True:
                yield from live

    r = serve_with_face(pki, "C5550005", FaceStep(Camera(), FaceEngine.default()), faults=("dg2_no_face",),
                        photo=person[0].read_bytes(), timeouts=StepTimeouts(chip=30, face=60))
    assert not r.opened
    assert list(r.decision.reasons) == ["evidence_missing"], r.decision.explain()
    assert "unusable for matching" in r.decision.explain()
    assert r.decision.status("data_groups") == "passed" and r.decision.status("face_match") == "missing"


def test_someone_beside_the_traveller_is_tailgating_with_the_real_engine(pki):
    """The matcher reuses the quality check's face, and still looks for a second person (MTCNN)."""
    import cv2
    from PIL import Image

    from tests.conftest import shared_path

    def photo(name, n):
        return np.asarray(Image.open(shared_path("faces", "lfw-dev", name, f"{name}_{n:04d}.jpg")).convert("RGB"))

    frame = np.full((480, 640, 3), 120, np.uint8)
    frame[40:440, 120:520] = cv2.resize(photo("Hugo_Chavez", 2), (400, 400))
    frame[300:470, 460:630] = cv2.resize(photo("Jacques_Chirac", 1), (170, 170))

    class Camera:
        def frames(self):
            while True:
                yield frame

    chip = shared_path("faces", "lfw-dev", "Hugo_Chavez", "Hugo_Chavez_0001.jpg").read_bytes()
    r = serve_with_face(pki, "C5550006", FaceStep(Camera(), FaceEngine.default()), photo=chip,
                        timeouts=StepTimeouts(chip=30, face=60))
    assert not r.opened and "tailgating" in r.decision.reasons, r.decision.explain()


@pytest.mark.parametrize(("alter", "field"), [
    (lambda m: m.replace("P<VNM", "P<THA", 1), "issuing_state"),  # line 1: no check digit covers it
    (lambda m: m.replace("NGUYEN<<VAN<AN", "NGUYET<<VAN<AN", 1), "primary_identifier"),
])
def test_a_printed_mrz_altered_where_no_check_digit_covers_it_is_referred(pki, alter, field):
    """The access key's fields are proved by BAC/PACE; the rest of the printed MRZ (state, names,
    nationality) is compared with DG1, or a forger steers the watchlist and enrolment lookups."""
    r, _ = serve(pki, printed=alter)
    assert not r.opened and "mrz_mismatch" in r.decision.reasons, r.decision.explain()
    assert field in r.decision.explain()


def test_the_watchlist_hears_what_the_chip_says_when_the_page_says_otherwise(pki):
    store = GateStore()
    store.apply_watchlist_changes([{"version": 1, "op": "upsert", "id": "d-9", "kind": "document",
                                    "data": {"document_number": "C7654399", "issuing_state": "VNM"}}], 1)
    r, _ = serve(pki, number="C7654399", store=store, printed=lambda m: m.replace("P<VNM", "P<THA", 1))
    assert {"watchlist_hit", "mrz_mismatch"} <= set(r.decision.reasons), r.decision.explain()


@pytest.mark.parametrize(("answer", "enrolled", "opens"), [
    ({"fingerprint_check": "done", "score": 0.02, "threshold": 0.001}, True, False),  # a lowered bar is not heeded
    ({"fingerprint_check": "done", "score": 0.9, "threshold": 0.032}, True, True),
    ({"fingerprint_check": "done", "score": "NaN", "threshold": 0.032}, True, False),
    ({"fingerprint_check": "templates_unreadable"}, None, False),
    ({"fingerprint_check": "not_configured"}, None, False),
    ({"fingerprint_check": "no_templates"}, False, True),
])
def test_the_gate_decides_fingerprints_on_its_own_threshold_and_definite_answers(answer, enrolled, opens):
    from gate import FingerEngine, FingerStep, Presentation, decide
    from tests.gate.test_policy import good

    class Scanner:
        def capture(self):
            from devices.ports import FingerCapture

            return FingerCapture(np.zeros((8, 8), np.uint8), 500, "flat")

    calls = []

    def remote(number, state, probes):
        calls.append(probes)
        return {"fingerprint_check": "no_probe"} if not probes and answer["fingerprint_check"] == "done" else answer

    engine = FingerEngine(lambda img, dpi: b"probe", 0.032)
    step = FingerStep(Scanner(), engine, remote=remote)
    out = step(Presentation.from_mrz(emrtd.parse_mrz(td3("C1234567", "900315", EXPIRY))))
    assert out.enrolled is enrolled
    if out.score is not None:
        assert out.threshold >= 0.032
    ev = good(finger_enrolled=out.enrolled, finger_score=out.score, finger_threshold=out.threshold,
              finger_error=out.error)
    assert (decide(ev).outcome == "open") is opens, decide(ev).explain()
