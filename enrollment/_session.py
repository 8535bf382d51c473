"""The enrolment session: what one traveller's enrolment holds in memory, and how it is wiped."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

import emrtd
from enrollment._document import DocumentRead

__all__ = ["Step", "Outcome", "FingerTask", "CapturedFinger", "Policy", "Session", "SLAP_PLAN", "FLAT_PLAN"]


class Step(StrEnum):
    IDLE = "idle"
    DOCUMENT = "document"  # the printed MRZ only (the page scanner): no chip access before consent
    CONSENT = "consent"
    CHIP = "chip"  # after consent: the chip read and verified
    FACE = "face"
    FINGERPRINTS = "fingerprints"
    REVIEW = "review"
    SUBMITTING = "submitting"
    DONE = "done"
    ABANDONED = "abandoned"
    REFERRED = "referred"


#: steps where a traveller is in the middle of an enrolment
ACTIVE = (Step.DOCUMENT, Step.CONSENT, Step.CHIP, Step.FACE, Step.FINGERPRINTS, Step.REVIEW, Step.SUBMITTING)


class Outcome(StrEnum):
    ACCEPTED = "accepted"  # the back office enrolled the traveller
    DUPLICATE_SUSPECTED = "duplicate_suspected"  # enrolled, an officer checks a possible duplicate identity
    QUEUED = "queued"  # back office unreachable: the record waits in the encrypted outbox
    PARKED = "parked"  # refused by the back office for good: an officer must look
    ABANDONED = "abandoned"
    TIMED_OUT = "timed_out"
    REFERRED = "referred"  # the kiosk cannot go on: see ``reason_code``


@dataclass(frozen=True)
class FingerTask:
    """One capture: ``kind`` "slap" (four fingers at once) or "flat"; ISO/IEC 19794-2 positions
    (1 right thumb ... 5 right little, 6 left thumb ... 10 left little)."""

    kind: str
    positions: tuple[int, ...]


SLAP_PLAN = (FingerTask("slap", (2, 3, 4, 5)), FingerTask("slap", (7, 8, 9, 10)))
FLAT_PLAN = (FingerTask("flat", (2,)), FingerTask("flat", (3,)), FingerTask("flat", (7,)), FingerTask("flat", (8,)))


@dataclass
class CapturedFinger:
    position: int
    score: float
    format: str
    template: bytes

    def __repr__(self) -> str:
        return f"CapturedFinger(position={self.position}, score={self.score:.1f}, format={self.format!r})"


@dataclass(frozen=True)
class Policy:
    idle_timeout_s: float = 60.0
    step_timeout_s: dict[str, float] = field(default_factory=lambda: {
        "document": 120.0, "consent": 180.0, "chip": 120.0, "face": 40.0, "fingerprints": 60.0, "review": 180.0})
    #: attempts at reading the printed MRZ (document step) and, separately, at reading the chip (chip step)
    max_document_attempts: int = 3
    max_chip_attempts: int = 3
    max_face_attempts: int = 3
    max_finger_attempts: int = 3
    face_stable_frames: int = 3
    finger_plan: tuple[FingerTask, ...] = SLAP_PLAN
    min_fingers: int = 2
    #: how long one attempt waits for the document: on the page scanner (MRZ) and in the reader's field (chip)
    card_timeout_s: float = 30.0
    #: a record is accepted only for a chip whose SOD verified up to a trusted CSCA, with DG1 and DG2
    #: hashed as signed, and (unless relaxed) a DSC whose revocation status is known. Relaxing either is
    #: explicit configuration (a development kiosk without a trust store), never a default.
    require_passive_authentication: bool = True
    require_revocation_status: bool = True
    #: the live face must match the chip's photo 1:1 (a look-alike with a stolen passport is not enrolled)
    require_chip_face_match: bool = True
    consent_purposes: tuple[str, ...] = ("enrolment", "enrolment_duplicate_check")
    #: the version of the consent text recorded when the caller does not say which text it showed
    #: (``EnrolmentWorkflow.consent(True, text_version=...)``); the kiosk's composition derives it from the
    #: text itself (kiosk.consent_notice), so it changes whenever the text does
    consent_text_version: str = "2026-11"
    report_events: bool = True  # queue a no-personal-data event per session for the back office


def _new_id() -> str:
    return "ses-" + secrets.token_hex(8)


@dataclass
class Session:
    """In memory only. ``wipe()`` zeroes and drops every biometric and personal field."""

    language: str
    started_at: dt.datetime
    id: str = field(default_factory=_new_id)
    #: before consent: the printed MRZ only (parsed, check digits verified); dropped once the chip's DG1 is the record
    printed_mrz: emrtd.Mrz | None = field(default=None, repr=False)
    document: DocumentRead | None = None
    consent_at: dt.datetime | None = None
    consent_text_version: str | None = None
    face_image: np.ndarray | None = None
    face_template: bytearray | None = None  # the face engine's template bytes (FaceTemplate.to_bytes())
    liveness_passed: bool = False
    fingers: dict[int, CapturedFinger] = field(default_factory=dict)
    missing_fingers: list[int] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=lambda: {"document": 0, "chip": 0, "face": 0, "fingerprints": 0})
    officer_calls: int = 0

    def wipe_biometrics(self) -> None:
        if self.face_image is not None:
            self.face_image.fill(0)
        self.face_image = None
        if self.face_template is not None:
            self.face_template[:] = bytes(len(self.face_template))
        self.face_template = None
        self.fingers.clear()
        if self.document is not None:
            self.document.wipe()

    def wipe(self) -> None:
        self.wipe_biometrics()
        self.printed_mrz = None
        self.document = None
        self.consent_at = None
        self.consent_text_version = None

    @property
    def has_biometrics(self) -> bool:
        return bool(self.face_image is not None or self.face_template or self.fingers
                    or (self.document is not None and self.document.chip_face))
