"""The enrolment workflow behind the kiosk (independent of Kivy; devices are handed in).

``EnrolmentWorkflow(engines, outbox, submitter, reader=..., mrz_source=...)`` drives one traveller
through document (the printed MRZ only) -> consent -> chip -> face -> fingerprints -> review -> submit:
nothing is read from the chip before the traveller consents. The record goes through
the sealed device outbox (:class:`devicelink.Outbox`) to the back office
(:class:`devicelink.BackofficeClient`); nothing biometric stays on the kiosk once the back office has it.
The document's MRZ is an :class:`emrtd.Mrz`.
"""

from enrollment._document import DocumentRead, check_printed_mrz, chip_face_image, read_chip, read_document
from enrollment._engines import (
    Engines,
    FaceCheck,
    FingerCheck,
    Liveness,
    face_check_from_report,
    finger_check_from_report,
)
from enrollment._errors import (
    CaptureKindMismatch,
    DocumentError,
    DocumentRejected,
    EnrolmentError,
    InvalidTransition,
    MrzError,
)
from enrollment._headless import HeadlessResult, enrol_headless
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
from enrollment._workflow import (
    DocumentFeedback,
    EnrolmentWorkflow,
    FaceFeedback,
    FingerFeedback,
    OfficerCall,
)

__all__ = [
    "CaptureKindMismatch",
    "FLAT_PLAN",
    "SLAP_PLAN",
    "CapturedFinger",
    "DocumentError",
    "DocumentFeedback",
    "DocumentRead",
    "DocumentRejected",
    "Engines",
    "EnrolmentError",
    "EnrolmentWorkflow",
    "FaceCheck",
    "FaceFeedback",
    "FingerCheck",
    "FingerFeedback",
    "FingerTask",
    "HeadlessResult",
    "InvalidTransition",
    "Liveness",
    "MrzError",
    "OfficerCall",
    "Outcome",
    "Policy",
    "Session",
    "Step",
    "check_printed_mrz",
    "chip_face_image",
    "enrol_headless",
    "face_check_from_report",
    "finger_check_from_report",
    "read_chip",
    "read_document",
]
