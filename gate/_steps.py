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

import logging
from dataclasses import dataclass
from typing import Any

import emrtd
from gate._chip_pa import kept_for_pa, pa_fields
from gate._face import FaceEngine, FaceNotAcquired, FaceStep, decode_image, encode_jpeg
from gate._finger import FingerEngine, FingerStep, chip_fingers
from gate._policy import REQUIRED_DATA_GROUPS
from gate._workflow import ChipOutcome, Presentation, StepError

__all__ = ["DocumentStep", "ChipStep", "FaceEngine", "FaceNotAcquired", "FaceStep", "FingerEngine", "FingerStep",
           "presentation_from_mrz", "decode_image", "encode_jpeg"]

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
    #: extended-length READ BINARY (up to 65280 bytes an APDU: DG2 in a few APDUs instead of ~80 at 4 ms each): an
    #: explicit opt-in (``[gate] extended_length``) where the reader AND the chip support it; emrtd falls back to
    #: short APDUs only on a protected 6700, while real chips may answer 6700/6987/6988 and drop the SM session
    extended_length: bool = False
    #: keep EF.SOD and the data groups read in ``ChipOutcome.pa_files`` (memory only, for the transaction): only
    #: where PA is evaluated again against another trust store (the joint lane sets it); off, nothing is kept
    keep_pa_files: bool = False

    def __call__(self, p: Presentation) -> ChipOutcome:
        try:
            if hasattr(self.reader, "wait_for_card"):
                self.reader.wait_for_card(self.card_wait_s)
            res = emrtd.read_document(self.reader, p.access_key, trust=self.trust, terminal=self.terminal,
                                      extended_length=self.extended_length)
        except Exception as e:  # noqa: BLE001 - every failure to read is a referral reason, not a crash
            return ChipOutcome(read=False, error=f"{type(e).__name__}: {e}"[:300])
        pa = pa_fields(res.passive_authentication, res.check("passive_authentication"))
        groups = tuple((name, res.data_group_verified(name)) for name in REQUIRED_DATA_GROUPS)
        dg2, dg2_error = self._portrait(res)
        aa, ca, mrz = res.check("active_authentication"), res.check("chip_authentication"), res.check("mrz_consistency")
        differences = printed_vs_chip(p, res.mrz)
        matches = None if mrz is None or mrz.passed is None or differences is None else (
            bool(mrz.passed) and not differences)
        return ChipOutcome(
            read=True, **pa, pa_files=kept_for_pa(res.files) if self.keep_pa_files else (), data_groups=groups,
            aa_offered=res.active_authentication_offered, aa_passed=aa.passed if aa else None,
            ca_offered=res.chip_authentication_offered, ca_passed=ca.passed if ca else None,
            aa_code=aa.code if aa else "", ca_code=ca.code if ca else "",
            mrz_matches_dg1=matches, mrz_differences=differences or (), dg1_mrz=res.mrz, dg2_image=dg2,
            dg2_error=dg2_error, protocol=res.access_protocol, **chip_fingers(res))

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
