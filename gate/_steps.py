"""The real gate steps: emrtd over the chip reader, the face engine over the camera, the
fingerprint engine over the scanner, the local watchlist. The entry point builds the devices and
hands them in; nothing here constructs one.

Ports (structural; ``devices`` provides real adapters and simulators):
- MRZ source: ``read_mrz() -> str`` (the reader's OCR line); page camera: ``capture_page() -> RGB``
  (OCR'd here); QR source: ``read_qr() -> str`` (the Vietnamese chip ID card's QR, the fallback key);
- chip reader: ``wait_for_card(timeout)``, ``transmit(apdu) -> bytes``;
- camera: ``frames()`` yielding RGB frames;
- fingerprint scanner: ``capture() -> FingerCapture(image, dpi)``.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

import emrtd
from gate._finger import FingerEngine, FingerStep
from gate._policy import REQUIRED_DATA_GROUPS
from gate._workflow import ChipOutcome, FaceOutcome, Presentation, StepError

__all__ = ["DocumentStep", "ChipStep", "FaceEngine", "FaceNotAcquired", "FaceStep", "FingerEngine", "FingerStep", "presentation_from_mrz"]

log = logging.getLogger("smartborder.gate")


def presentation_from_mrz(text: str, source: str = "mrz") -> Presentation:
    """Parse an MRZ (check digits verified) into what the gate needs, with the BAC/PACE key."""
    try:
        mrz = emrtd.parse_mrz(text)
    except emrtd.MrzError as e:
        raise StepError(f"document_unreadable: {e}") from e
    if mrz.date_of_birth is None or mrz.date_of_expiry is None:
        raise StepError("document_unreadable: the MRZ has no complete date of birth or expiry")
    return Presentation.from_mrz(mrz, source)


@dataclass
class DocumentStep:
    """The document on the page reader: its MRZ line, else OCR of the page image, else the QR code
    of a Vietnamese chip ID card (key derived from the QR; expiry by law)."""

    mrz_source: Any = None
    page_camera: Any = None
    qr_source: Any = None

    def __call__(self) -> Presentation:
        errors = []
        if self.mrz_source is not None:
            try:
                return presentation_from_mrz(self.mrz_source.read_mrz(), "mrz")
            except Exception as e:  # noqa: BLE001 - a device or parse failure: try the next source
                errors.append(f"mrz: {e}")
        if self.page_camera is not None:
            try:
                ocr = emrtd.read_mrz_image(self.page_camera.capture_page())
                return presentation_from_mrz("".join(ocr.lines), "ocr")
            except Exception as e:  # noqa: BLE001
                errors.append(f"ocr: {e}")
        if self.qr_source is not None:
            try:
                return Presentation.from_qr(emrtd.parse_vn_id_qr(self.qr_source.read_qr()))
            except Exception as e:  # noqa: BLE001
                errors.append(f"qr: {e}")
        raise StepError("document_unreadable: " + ("; ".join(errors) or "no document source"))


@dataclass
class ChipStep:
    """Read the chip with emrtd: PACE (else BAC), Passive Authentication against ``trust`` (the DSC ->
    CSCA chain included), Chip/Active Authentication against cloning, and the DG1 MRZ against the
    printed one. Every check's outcome goes into the :class:`ChipOutcome` as passed, failed or unknown;
    the policy decides (a chip hiding its SOD, DG2, DG14 or DG15 never reads as passing).
    With ``terminal`` (:class:`emrtd.TerminalCredentials`, an inspection system's key and CV certificate chain)
    Terminal Authentication follows Chip Authentication and DG3's finger images, where the chip grants them and
    the SOD hashes them, go to the fingerprint step (matched on the device)."""

    reader: Any
    trust: Any = None
    card_wait_s: float = 5.0
    terminal: Any = None

    def __call__(self, p: Presentation) -> ChipOutcome:
        try:
            if hasattr(self.reader, "wait_for_card"):
                self.reader.wait_for_card(self.card_wait_s)
            res = emrtd.read_document(self.reader, p.access_key, trust=self.trust, terminal=self.terminal)
        except Exception as e:  # noqa: BLE001 - every failure to read is a referral reason, not a crash
            return ChipOutcome(read=False, error=f"{type(e).__name__}: {e}"[:300])
        pa = res.passive_authentication
        pa_check = res.check("passive_authentication")
        pa_failures = tuple(c.name for c in getattr(pa, "failures", ()))
        if pa_check is not None and pa_check.passed is False and not pa_failures:
            pa_failures = (pa_check.reason or "passive_authentication",)

        def pa_step(name: str) -> bool | None:
            step = pa.check(name) if pa is not None and hasattr(pa, "check") else None
            return step.passed if step is not None else None

        revocation = pa.check("dsc_revocation") if pa is not None and hasattr(pa, "check") else None
        crl_stale = getattr(revocation, "code", "") == "stale_crl"
        groups = tuple((name, res.data_group_verified(name)) for name in REQUIRED_DATA_GROUPS)
        dg2, dg2_error = self._portrait(res)
        aa, ca, mrz = res.check("active_authentication"), res.check("chip_authentication"), res.check("mrz_consistency")
        differences = printed_vs_chip(p, res.mrz)
        matches = None if mrz is None or mrz.passed is None or differences is None else (
            bool(mrz.passed) and not differences)
        return ChipOutcome(
            read=True, pa_passed=pa_check.passed if pa_check else None, pa_failures=pa_failures,
            csca_chain=pa_step("dsc_chain"), dsc_revocation=pa_step("dsc_revocation"), crl_stale=crl_stale,
            data_groups=groups,
            aa_offered=res.active_authentication_offered, aa_passed=aa.passed if aa else None,
            ca_offered=res.chip_authentication_offered, ca_passed=ca.passed if ca else None,
            mrz_matches_dg1=matches, mrz_differences=differences or (), dg1_mrz=res.mrz, dg2_image=dg2,
            dg2_error=dg2_error, protocol=res.access_protocol, **self._fingers(res))

    @staticmethod
    def _fingers(res) -> dict[str, Any]:
        """DG3's finger records where Terminal Authentication opened DG3 and the SOD hashes it, or why not."""
        ta = res.check("terminal_authentication")
        out: dict[str, Any] = {"ta_passed": ta.passed if ta is not None else None}
        if "DG3" in res.files:
            if res.data_group_verified("DG3") is not True:
                out["dg3_error"] = "DG3 read but not verified against the SOD"
            elif "DG3" in res.parse_errors or not res.finger_records:
                out["dg3_error"] = f"DG3 unreadable: {res.parse_errors.get('DG3', 'no finger record')[:120]}"
            else:
                out["dg3_records"] = res.finger_records
        elif "DG3" in res.unreadable:
            out["dg3_error"] = f"DG3 not served: {res.unreadable['DG3'][:200]}"
        return out

    @staticmethod
    def _portrait(res) -> tuple[bytes | None, str | None]:
        """The first DG2 face image (the reader parsed it already), or why there is none."""
        if "DG2" not in res.files:
            return None, "DG2 not served by the chip" if "DG2" in res.unreadable else "DG2 not read"
        if "DG2" in res.parse_errors:
            return None, f"DG2 unreadable: {res.parse_errors['DG2'][:120]}"
        image = res.face_image
        return (image, None) if image else (None, "DG2 holds no face image")


_MRZ_FIELDS = ("document_code", "issuing_state", "document_number", "optional_data", "date_of_birth_mrz", "sex",
               "date_of_expiry_mrz", "nationality", "primary_identifier", "secondary_identifier")


def printed_vs_chip(p: Presentation, dg1) -> tuple[str, ...] | None:
    """The fields in which what the document shows differs from the chip's DG1 (Doc 9303 Part 11 §5.1: the
    whole MRZ, not only the access key's fields: state, names and nationality carry no check digit and
    decide the watchlist and enrolment lookups). None when there is no DG1 to compare with. A QR-read
    Vietnamese ID card is compared on what its QR holds: number, date of birth and expiry."""
    if dg1 is None:
        return None
    if p.mrz is not None:
        return tuple(f for f in _MRZ_FIELDS if getattr(p.mrz, f) != getattr(dg1, f))
    card = p.qr
    diffs = [n for n, a, b in (("document_number", card.document_number, dg1.document_number),
                               ("date_of_birth", card.date_of_birth, dg1.date_of_birth)) if a != b]
    if card.date_of_expiry is not None and card.date_of_expiry != dg1.date_of_expiry:
        diffs.append("date_of_expiry")
    return tuple(diffs)


def decode_image(data: bytes) -> np.ndarray:
    """JPEG / JPEG 2000 / PNG bytes -> RGB array."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def encode_jpeg(frame: np.ndarray, quality: int = 90) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


class FaceNotAcquired(Exception):
    """The engine found no usable face in the live frames; ``faces`` > 1 when several people were in
    front of the camera (a tailgating cue)."""

    def __init__(self, message: str, faces: int = 0) -> None:
        super().__init__(message)
        self.faces = faces


@dataclass
class FaceEngine:
    """The face functions the gate needs; :meth:`default` takes them from ``biometrics.face``.

    ``quality(frame) -> report`` with ``.passed``, ``.score`` and ``.guidance``;
    ``verify(reference_rgb, frames[, detections=...]) -> result`` with ``.score``, ``.threshold``,
    ``.matched``, raising :class:`FaceNotAcquired` when no live frame has exactly one usable face
    (``detections`` are passed when the quality reports carry the face they found, ``.face``);
    ``liveness(frames, timestamps) -> result`` with ``.passed`` and ``.reason`` (None: not checked);
    ``session()`` -> an active liveness session fed frame by frame (``feed(frame, t)`` -> state with
    ``instruction_key``, ``done``, ``passed``, ``reason``): the lane display shows each instruction.
    """

    quality: Callable[[np.ndarray], Any]
    verify: Callable[[np.ndarray, Sequence[np.ndarray]], Any]
    liveness: Callable[[Sequence[np.ndarray], Sequence[float]], Any] | None = None
    session: Callable[[], Any] | None = None
    #: the chip photo's template, made on a worker thread while the camera captures and passed to
    #: ``verify`` in place of the photo (raises StepError when the photo is unusable)
    reference: Callable[[np.ndarray], Any] | None = None
    #: with ``match``: ``probe(frame, face, check_others) -> template`` per good frame, made on a
    #: worker thread as frames arrive (the first also searched for a second person: FaceNotAcquired
    #: with ``faces`` > 1), and ``match(reference_template, templates) -> result`` (like ``verify``'s)
    probe: Callable[[np.ndarray, Any], Any] | None = None
    match: Callable[[Any, Sequence[Any]], Any] | None = None

    @classmethod
    def default(cls, *, threshold: str = "fmr_5e-4", challenges: tuple[str, ...] = (),
                active_liveness: bool = False) -> FaceEngine:
        from biometrics import face

        def quality(frame):
            return face.assess_quality(frame, purpose="verification")

        def reference(image):
            # the chip photo on its own: a problem there is the document's, never "tailgating"
            try:
                return face.reference_template(image)
            except face.FaceError as e:
                raise StepError(f"chip photo unusable for matching: {type(e).__name__}") from e

        def verify(ref, frames, detections=None):
            ref = reference(ref)  # a template passes through
            try:
                return face.verify(ref, list(frames), threshold=threshold, detections=detections)
            except face.MultipleFacesError as e:
                raise FaceNotAcquired(str(e), faces=e.count) from e
            except face.FaceError as e:
                raise FaceNotAcquired(type(e).__name__) from e

        def probe(frame, detection, check_others=True):
            try:
                return face.probe_template(frame, detection, check_others=check_others)
            except face.MultipleFacesError as e:
                raise FaceNotAcquired(str(e), faces=e.count) from e
            except face.FaceError as e:
                raise FaceNotAcquired(type(e).__name__) from e

        def match(ref, templates):
            return face.verify_templates(ref, templates, threshold=threshold)

        def liveness(frames, timestamps):
            return face.check_liveness(list(frames), list(timestamps), challenges)

        # an active challenge needs a lane display and a live camera; without one configured the
        # gate records liveness as "not checked" (never as passed)
        session = face.LivenessSession if active_liveness else None  # random blink + turn, secure RNG
        return cls(quality, verify, liveness if challenges and hasattr(face, "check_liveness") else None, session,
                   reference, probe, match)


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _workers() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gate-face")
        return _pool


@dataclass
class FaceStep:
    """Capture frames until ``match_frames`` are of verification quality (at most ``max_frames``),
    check liveness, match the best frames against the chip photo (multi-frame fusion in the engine)
    on the face the quality check found in each.
    The best live frame goes into the outcome (memory only; kept only if the traveller is referred)."""

    camera: Any
    engine: FaceEngine
    max_frames: int = 8
    min_good_frames: int = 2
    match_frames: int = 3  # the best frames by quality go to the matcher (fusion); the rest are skipped
    display: Callable[[str | None], None] | None = None  # the lane screen (instruction keys)
    max_liveness_frames: int = 240  # 16 s at 15 fps: the session's own challenge time-outs end it sooner
    settle_frames: int = 12  # extra frames allowed after a challenge while the traveller faces the camera again

    def _active_liveness(self) -> tuple[bool, str | None, Iterator[np.ndarray]]:
        """Run the challenge: each instruction goes to the lane display (and to a simulated traveller's
        camera). Returns the outcome and the camera's frame stream, positioned after the challenge:
        the frames matched are those that follow it, in the same stream."""
        session = self.engine.session()
        follow = getattr(self.camera, "follow", None)
        fps = float(getattr(self.camera, "fps", 0.0) or 0.0)
        t0, state = time.monotonic(), None
        frames_iter = iter(self.camera.frames())
        for i, frame in enumerate(frames_iter):
            state = session.feed(frame, self._frame_time(i, t0, fps))
            key = state.instruction_key
            if self.display is not None:
                self.display(key)
            if follow is not None:
                follow(key)
            if state.done or i + 1 >= self.max_liveness_frames:
                break
        if hasattr(session, "close"):
            session.close()
        passed = bool(state is not None and state.done and state.passed)
        reason = None if passed else (getattr(state, "reason", None) or "challenge not completed")
        return passed, reason, frames_iter

    attempts: int = 2  # a traveller who misses a challenge or is not captured well gets one more try

    def _frame_time(self, i: int, t0: float, fps: float) -> float:
        """The i-th frame's capture time: the camera's own clock (``frame_time``: the device's grab time,
        a video's stream position, a sequence's i / fps) where it has one; else wall time for a live
        camera, or i / 15 for frames served as fast as asked."""
        t = getattr(self.camera, "frame_time", None)
        if t is not None:
            return float(t)
        return time.monotonic() - t0 if fps > 0 else i / 15.0

    def __call__(self, chip: ChipOutcome) -> FaceOutcome:
        # the chip photo's template is made on a worker thread while the camera captures (the
        # networks release the GIL); its errors surface when the matcher needs it
        pending = _workers().submit(self._reference, chip) if self.engine.reference is not None else None
        try:
            outcome = self._attempt(chip, pending)
            for attempt in range(2, self.attempts + 1):
                if outcome.acquired and outcome.liveness_passed is not False or outcome.faces_seen > 1:
                    break
                if self.display is not None:
                    self.display("retry")
                outcome = replace(self._attempt(chip, pending), attempts=attempt)
            return outcome
        finally:
            if pending is not None:
                pending.cancel()

    def _match_templates(self, chip: ChipOutcome, pending: Future | None, probes: list[Future],
                         frames: list[np.ndarray], scores: list[float], live_passed: bool | None,
                         why: str | None) -> FaceOutcome:
        best = frames[int(np.argmax(scores))]
        reference = pending.result() if pending is not None else self._reference(chip)
        templates, faces_seen, error = [], 1, None
        for i, f in enumerate(probes):
            try:
                templates.append(f.result())
            except FaceNotAcquired as e:
                faces_seen, error = max(faces_seen, e.faces), e
                if i == 0 and e.faces > 1:  # someone beside the traveller when the capture began
                    for rest in probes[1:]:
                        rest.cancel()
                    return FaceOutcome(acquired=False, faces_seen=e.faces, live_image=encode_jpeg(best))
        if not templates:
            if faces_seen > 1:  # several people in front of the camera
                return FaceOutcome(acquired=False, faces_seen=faces_seen, live_image=encode_jpeg(best))
            return FaceOutcome(acquired=False, guidance=(str(error),), live_image=encode_jpeg(best))
        result = self.engine.match(reference, templates)
        return FaceOutcome(acquired=True, liveness_passed=live_passed, liveness_reason=why,
                           score=float(result.score), threshold=float(result.threshold),
                           live_image=encode_jpeg(best))

    def _reference(self, chip: ChipOutcome) -> Any:
        return self.engine.reference(self._chip_photo(chip))

    @staticmethod
    def _chip_photo(chip: ChipOutcome) -> np.ndarray:
        try:
            return decode_image(chip.dg2_image or b"")
        except (OSError, ValueError) as e:
            raise StepError(f"chip photo cannot be decoded: {type(e).__name__}") from e

    def _attempt(self, chip: ChipOutcome, pending: Future | None = None) -> FaceOutcome:
        active: bool | None = None
        why: str | None = None
        stream, limit = None, self.max_frames
        if self.engine.session is not None:
            # after the last movement the traveller turns back to the camera: frames mid-turn fail
            # the pose measures, so capture goes on until enough are good (or the limit)
            active, why, stream = self._active_liveness()
            limit = self.max_frames + self.settle_frames
        # frames are assessed as they arrive; capture stops once ``match_frames`` are good (a passive
        # liveness check, which needs the whole sequence, reads all ``max_frames``)
        enough = self.max_frames if self.engine.liveness is not None and active is None else self.match_frames
        frames, stamps, good, scores, faces, guidance = [], [], [], [], [], []
        # each good frame's template is made on a worker thread while the next frame is assessed
        pipeline = self.engine.probe is not None and self.engine.match is not None
        probes: list[Future] = []
        seen = 0
        t0 = time.monotonic()
        for frame in stream if stream is not None else self.camera.frames():
            frames.append(frame)
            stamps.append(self._frame_time(len(frames) - 1, t0, float(getattr(self.camera, "fps", 0.0) or 0.0)))
            q = self.engine.quality(frame)
            seen = max(seen, int(getattr(q, "faces", 1) or 1))
            if q.passed:
                good.append(frame)
                scores.append(float(getattr(q, "score", 0.0)))
                faces.append(getattr(q, "face", None))
                if pipeline and len(probes) < self.match_frames:
                    # the first good frame is also searched for a second person (a tailgating cue)
                    probes.append(_workers().submit(self.engine.probe, frame, faces[-1], not probes))
            else:
                guidance.extend(g for g in (getattr(q, "guidance", None) or []) if g not in guidance)
            if len(frames) >= limit or len(good) >= enough:
                break
        if len(good) < self.min_good_frames:
            for f in probes:  # work queued for this attempt's frames is not needed any more
                f.cancel()
            if seen > 1:  # several people in front of the camera kept the traveller from being captured
                return FaceOutcome(acquired=False, faces_seen=seen, liveness_passed=active, liveness_reason=why,
                                   live_image=encode_jpeg(frames[len(frames) // 2]) if frames else None)
            return FaceOutcome(acquired=False, guidance=tuple(str(g) for g in guidance[:3]), liveness_passed=active, liveness_reason=why,
                               live_image=encode_jpeg(frames[len(frames) // 2]) if frames else None)
        live_passed = active
        if self.engine.liveness is not None and active is None:
            live_passed = bool(self.engine.liveness(frames, stamps).passed)
        if pipeline:  # the templates made during capture: the first good frames
            return self._match_templates(chip, pending, probes, good[:len(probes)], scores[:len(probes)],
                                         live_passed, why)
        order = [int(i) for i in np.argsort(scores)[::-1][: self.match_frames]]
        best = good[order[0]]
        reference = pending.result() if pending is not None else self._chip_photo(chip)
        # the quality check already found the face in each frame: the matcher aligns on it
        detections = [faces[i] for i in order]
        extra = {"detections": detections} if all(d is not None for d in detections) else {}
        try:
            result = self.engine.verify(reference, [good[i] for i in order], **extra)
        except FaceNotAcquired as e:
            if e.faces > 1:  # several people in front of the camera
                return FaceOutcome(acquired=False, faces_seen=e.faces, live_image=encode_jpeg(best))
            return FaceOutcome(acquired=False, guidance=(str(e),), live_image=encode_jpeg(best))
        return FaceOutcome(acquired=True, liveness_passed=live_passed, liveness_reason=why,
                           score=float(result.score), threshold=float(result.threshold),
                           live_image=encode_jpeg(best))
