"""Evaluation harnesses of the face engine; not runtime code: nothing a deployed gate or kiosk imports
may import this package (an import-linter contract in pyproject.toml).

- Verification in ISO/IEC 19795-1 terms (``_eval``): FTA, EER, FNMR at fixed FMR, DET, for
  ``smartborder eval face``, the benches and the calibration.
- Calibration of the named thresholds (``_calibration``): ``python -m
  biometrics.face.evaluation._calibration --lfw DIR`` rewrites ``biometrics/face/_thresholds.py``,
  the module the runtime reads.
- Presentation attack detection in ISO/IEC 30107-3 terms (``_pad_eval``), on sequences simulated
  from stills by :mod:`biometrics.face.sim`: ``python -m biometrics.face.evaluation._pad_eval``; the passive
  verdict's texture model, thresholds and figures: ``python -m biometrics.face.evaluation._pad_passive``.
"""

from ._calibration import calibrate, write_thresholds
from ._eval import (
    FMR_TARGETS,
    Dataset,
    EvaluationError,
    PairSet,
    SystemScores,
    Workspace,
    all_pairs,
    det_figures,
    evaluate,
    plot_det,
    read_dataset,
    read_lfw_pairs,
    read_pairs_csv,
    threshold_at_fmr,
)

__all__ = [
    "FMR_TARGETS", "Dataset", "EvaluationError", "PairSet", "SystemScores", "Workspace", "all_pairs", "det_figures",
    "evaluate", "plot_det", "read_dataset", "read_lfw_pairs", "read_pairs_csv", "threshold_at_fmr",
    "calibrate", "write_thresholds",
]  # fmt: skip
