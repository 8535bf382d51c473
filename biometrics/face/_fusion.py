"""Fusion of several live frames of one traveller against one reference, and the near-threshold rule.

A gate captures frames while the chip is read. Each usable frame is compared with the reference
(:func:`biometrics.face.compare`); the frame scores are fused by a *frame rule*:

- ``"best_k_mean"``: the mean of the best ``k`` frame scores (k = 3; one blinked frame does not sink
  a genuine traveller, and the mean keeps impostor scores near the single-comparison distribution);
- ``"max"``: the best frame score (raises impostor scores too: its false-match rate at a
  single-comparison threshold is above target);
- ``"mean"``, ``"quality_mean"`` (weighted by each frame's quality, e.g. detector confidence x
  sharpness), ``"template_mean"`` (the frames' templates averaged into one, then one comparison).

The rule used, the near-threshold ``band`` and ``max_frames`` are calibrated by cross-validation
over identity-disjoint halves of lfw-dev (``FUSION["frames"]`` in ``_thresholds``; see
``biometrics/face/evaluation/_cv.py``). :class:`FrameFusion` is the accumulator a gate feeds frame
by frame: a score far enough from the threshold decides; a score within ``band`` of it asks for more
good frames, up to ``max_frames``, after which the fused score decides against the threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._thresholds import FUSION

__all__ = ["FRAME_RULES", "FRAME_RULE", "NEAR_THRESHOLD_BAND", "MAX_FRAMES", "BEST_K", "fuse_frame_scores",
           "mean_template", "near_threshold", "FrameDecision", "FrameFusion"]

FRAME_RULES = ("best_k_mean", "max", "mean", "quality_mean", "template_mean")
BEST_K = 3
#: calibrated (``_thresholds.FUSION["frames"]``)
FRAME_RULE: str = FUSION["frames"]["rule"]
NEAR_THRESHOLD_BAND: float = float(FUSION["frames"]["band"])
MAX_FRAMES: int = int(FUSION["frames"]["max_frames"])


def fuse_frame_scores(scores: Sequence[float | None], qualities: Sequence[float | None] | None = None, *,
                      rule: str = FRAME_RULE, k: int = BEST_K) -> float:
    """The fused score of the usable frames' scores (``None`` = an unusable frame, skipped).

    ``quality_mean`` weights each score by its frame's quality (> 0; a missing quality weighs as the
    mean of the given ones, or 1 when none is given). ``template_mean`` needs templates, not scores:
    use :func:`mean_template`. Raises ``ValueError`` for no usable score or an unknown rule."""
    usable = [(float(s), q) for s, q in zip(scores, qualities if qualities is not None else [None] * len(scores),
                                            strict=True) if s is not None and np.isfinite(s)]
    if not usable:
        raise ValueError("no usable frame score to fuse")
    values = np.array([s for s, _ in usable])
    if rule == "best_k_mean":
        return float(np.mean(np.sort(values)[::-1][:max(1, k)]))
    if rule == "max":
        return float(values.max())
    if rule == "mean":
        return float(values.mean())
    if rule == "quality_mean":
        given = [q for _, q in usable if q is not None and np.isfinite(q) and q > 0]
        fill = float(np.mean(given)) if given else 1.0
        w = np.array([q if q is not None and np.isfinite(q) and q > 0 else fill for _, q in usable])
        return float(np.dot(w, values) / w.sum())
    if rule == "template_mean":
        raise ValueError("template_mean fuses templates: compare the reference with mean_template(probes)")
    raise ValueError(f"unknown frame rule {rule!r}; known: {', '.join(FRAME_RULES)}")


def mean_template(templates: Sequence):  # noqa: ANN201 - FaceTemplate (import cycle)
    """One template from several of one face: each embedding part averaged and re-normalised."""
    from dataclasses import replace

    usable = [t for t in templates if t is not None]
    if not usable:
        raise ValueError("no usable template to average")

    def unit(parts: list[np.ndarray]) -> np.ndarray:
        v = np.sum(np.asarray(parts, dtype=np.float64), axis=0)
        return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)

    first = usable[0]
    changes = {"vector": unit([t.vector for t in usable])}
    if all(t.sface is not None for t in usable):
        changes["sface"] = unit([t.sface for t in usable])
    elif first.sface is not None:
        changes["sface"] = None
    return replace(first, **changes)


def near_threshold(score: float, threshold: float, band: float = NEAR_THRESHOLD_BAND) -> bool:
    """Whether a score is too close to the threshold to decide on: within ``band`` of it (either side)."""
    return abs(float(score) - float(threshold)) < band


@dataclass(frozen=True)
class FrameDecision:
    """After a frame: ``state`` "match" / "no_match" (decided) or "undecided" (take another good frame)."""

    state: str
    score: float | None
    frames_used: int
    frames_seen: int

    @property
    def decided(self) -> bool:
        return self.state != "undecided"


class FrameFusion:
    """Frame-by-frame accumulator: add each live frame's template (``None`` = unusable) and ask whether
    the decision is certain. Fail closed: until a usable frame has been added the state is undecided,
    and :meth:`verification` raises :class:`~biometrics.face.NoFaceError`.

    A fused score at least ``band`` above the threshold is a match, more than ``band`` below it a
    non-match; in between more frames are asked for until ``max_frames`` usable frames, when the fused
    score decides against the threshold itself (``band = 0`` decides on the first usable frame)."""

    def __init__(self, reference, *, threshold: str | float = "fmr_5e-4", band: float = NEAR_THRESHOLD_BAND,  # noqa: ANN001
                 max_frames: int = MAX_FRAMES, rule: str = FRAME_RULE) -> None:
        from ._match import reference_template, threshold_value

        if rule not in FRAME_RULES:
            raise ValueError(f"unknown frame rule {rule!r}; known: {', '.join(FRAME_RULES)}")
        if max_frames < 1 or band < 0:
            raise ValueError("max_frames must be >= 1 and band >= 0")
        self.reference = reference_template(reference)
        self._threshold = threshold
        self.threshold_name, self.threshold = threshold_value(threshold, fused=self.reference.sface is not None)
        self.band, self.max_frames, self.rule = float(band), int(max_frames), rule
        self.probes: list = []
        self.qualities: list[float | None] = []
        self._decision = FrameDecision("undecided", None, 0, 0)

    @property
    def decision(self) -> FrameDecision:
        return self._decision

    def add(self, probe, quality: float | None = None) -> FrameDecision:  # noqa: ANN001 - FaceTemplate | None
        """Add one frame's template and return the decision so far (frames after a decision are ignored)."""
        if self._decision.decided:
            return self._decision
        self.probes.append(probe)
        self.qualities.append(quality)
        used = sum(p is not None for p in self.probes)
        if used == 0:
            self._decision = FrameDecision("undecided", None, 0, len(self.probes))
            return self._decision
        score = self.verification().score
        if score >= self.threshold + self.band:
            state = "match"
        elif score < self.threshold - self.band:
            state = "no_match"
        elif used >= self.max_frames:
            state = "match" if score >= self.threshold else "no_match"
        else:
            state = "undecided"
        self._decision = FrameDecision(state, score, used, len(self.probes))
        return self._decision

    def verification(self):  # noqa: ANN201 - FaceVerification
        """The verification from the frames added so far (the fused score against the threshold)."""
        from ._match import verify_templates

        return verify_templates(self.reference, self.probes, threshold=self._threshold, rule=self.rule,
                                qualities=self.qualities)
