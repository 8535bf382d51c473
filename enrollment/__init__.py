"""The enrolment workflow behind the kiosk (independent of Kivy; devices are handed in).

``EnrolmentWorkflow(engines, outbox, submitter, reader=..., mrz_source=...)`` drives one traveller
through document -> consent -> face -> fingerprints -> review -> submit. The record goes through
an encrypted :class:`Outbox` to the back office (:class:`BackofficeHttpClient`); nothing biometric
stays on the kiosk once the back office has it.
"""

from enrollment._client import BackofficeHttpClient
from enrollment._document import DocumentRead, MrzData, check_digit, chip_face_image, parse_mrz, read_document
from enrollment._engines import (
    Engines,
    FaceCheck,
    FingerCheck,
    Liveness,
    face_check_from_report,
    finger_check_from_report,
)
from enrollment._errors import (
    BackofficeAuthError,
    BackofficeUnavailable,
    DocumentError,
    DocumentRejected,
    EnrolmentError,
    InvalidTransition,
    MrzError,
    OutboxCorrupted,
    OutboxError,
    RecordRejected,
)
from enrollment._headless import HeadlessResult, enrol_headless
from enrollment._outbox import DeliveryReport, EnrolmentAnswer, EnrolmentSubmitter, Outbox
from enrollment._session import (
    FLAT_PLAN,
    SLAP_PLAN,
    CapturedFinger,
    FingerTask,
    Outcome,
    Policy,
    Session,
    Step,
)
from enrollment._workflow import DocumentFeedback, EnrolmentWorkflow, FaceFeedback, FingerFeedback

__all__ = [
    "FLAT_PLAN",
    "SLAP_PLAN",
    "BackofficeAuthError",
    "BackofficeHttpClient",
    "BackofficeUnavailable",
    "CapturedFinger",
    "DeliveryReport",
    "DocumentError",
    "DocumentFeedback",
    "DocumentRead",
    "DocumentRejected",
    "Engines",
    "EnrolmentAnswer",
    "EnrolmentError",
    "EnrolmentSubmitter",
    "EnrolmentWorkflow",
    "FaceCheck",
    "FaceFeedback",
    "FingerCheck",
    "FingerFeedback",
    "FingerTask",
    "HeadlessResult",
    "InvalidTransition",
    "Liveness",
    "MrzData",
    "MrzError",
    "Outbox",
    "OutboxCorrupted",
    "OutboxError",
    "Outcome",
    "Policy",
    "RecordRejected",
    "Session",
    "Step",
    "check_digit",
    "chip_face_image",
    "enrol_headless",
    "face_check_from_report",
    "finger_check_from_report",
    "parse_mrz",
    "read_document",
]
