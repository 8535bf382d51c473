"""The e-gate controller: a workflow over emrtd, biometrics and the watchlist, behind device ports.

Public API:
- :func:`decide`, :class:`Evidence`, :class:`PolicyConfig`, :class:`Decision`, :class:`ReasonCode`,
  :data:`RULES`: the decision policy (named, configurable rules with reason codes).
- :class:`GateWorkflow`, :class:`GateSteps`, :class:`StepTimeouts` and the step outcome types: one
  transaction as a state machine with a time-out per state.
- :class:`GateStore`: the local SQLite database (watchlist copy, transactions, and the device outbox,
  :class:`devicelink.Outbox`, on its connection); :func:`sync_once` drains the outbox and refreshes the
  watchlist copy through a :class:`devicelink.BackofficeClient`.
"""

from gate._policy import (
    ATTESTABLE_CHECKS,
    REQUIRED_DATA_GROUPS,
    RULES,
    CheckStatus,
    Decision,
    Evidence,
    Finding,
    Outcome,
    PolicyConfig,
    ReasonCode,
    Rule,
    decide,
)
from gate._store import GateStore, StoreError
from gate._workflow import (
    ChipOutcome,
    Door,
    FaceOutcome,
    FingerOutcome,
    GateState,
    GateSteps,
    GateWorkflow,
    Presentation,
    StepError,
    StepTimeouts,
    TransactionResult,
)

__all__ = [
    "REQUIRED_DATA_GROUPS",
    "ATTESTABLE_CHECKS",
    "RULES",
    "CheckStatus",
    "ChipOutcome",
    "Decision",
    "Door",
    "Evidence",
    "FaceOutcome",
    "Finding",
    "FingerOutcome",
    "GateState",
    "GateSteps",
    "GateStore",
    "GateWorkflow",
    "Outcome",
    "PolicyConfig",
    "Presentation",
    "ReasonCode",
    "Rule",
    "StepError",
    "StepTimeouts",
    "StoreError",
    "TransactionResult",
    "decide",
]

from gate._sync import (  # noqa: E402
    TRUST_LIST_STALE,
    TRUST_REFUSALS,
    SyncReport,
    TrustSync,
    TrustSyncResult,
    sync_once,
)

__all__ += ["SyncReport", "sync_once", "TrustSync", "TrustSyncResult", "TRUST_REFUSALS", "TRUST_LIST_STALE"]

from gate._watch import LocalWatchlist, entry_from_change  # noqa: E402

__all__ += ["LocalWatchlist", "entry_from_change"]

from gate._steps import (  # noqa: E402
    ChipStep,
    DocumentStep,
    FaceEngine,
    FaceNotAcquired,
    FaceStep,
    FingerEngine,
    FingerStep,
    presentation_from_mrz,
)

__all__ += ["ChipStep", "DocumentStep", "FaceEngine", "FaceNotAcquired", "FaceStep", "FingerEngine", "FingerStep",
            "presentation_from_mrz"]

from gate._face import LIVENESS_PATHS, LIVENESS_POLICIES, MATCH_DOUBT_MARGIN, FaceCapture  # noqa: E402

__all__ += ["FaceCapture", "LIVENESS_PATHS", "LIVENESS_POLICIES", "MATCH_DOUBT_MARGIN"]

# the joint Vietnam-China lane: two administrations' decisions over one evidence record (issue #26 item 1)
from gate._joint import (  # noqa: E402
    Administration,
    JointDecision,
    JointLaneError,
    SideChain,
    SideFinger,
    SideWatchlist,
    decide_joint,
)

__all__ += ["Administration", "JointDecision", "JointLaneError", "SideChain", "SideFinger", "SideWatchlist",
            "decide_joint"]

# ... and its workflow: one gate, the document read and the face captured once, each side's own trust store,
# watchlist copy, fingerprint step and store/outbox
from gate._joint_lane import (  # noqa: E402
    LANE_FAULT,
    PARTNER_REFERRED,
    JointGateWorkflow,
    JointResult,
    JointSide,
    JointSteps,
)

__all__ += ["JointGateWorkflow", "JointResult", "JointSide", "JointSteps", "PARTNER_REFERRED", "LANE_FAULT"]
