"""1:N galleries of enrolled templates for the enrolment duplicate check.

Faces (:class:`FaceGallery`): every enrolled template's two parts in two matrices (dlib, SFace). A
query is two matrix products giving both cosines for the whole gallery, a shortlist (the best
``shortlist`` by dlib cosine, and as many again by SFace cosine), then the face engine's own
comparison (``biometrics.face.compare``: score fusion) with its calibrated threshold on the
shortlist only. A gallery no larger than the shortlist is therefore compared exactly; a larger one
misses a duplicate only if more than ``shortlist`` other subjects rank above it on both parts.

Fingerprints (:class:`FingerGallery`): per finger position, the fingerprint engine's 1:N index
(``biometrics.finger.FingerprintIndex``: pooled cylinders in one matrix) in segments. A query ranks
every indexed template by the engine's coarse score and compares the best ``rerank`` exactly, as
``biometrics.finger.search`` does on one index. New enrolments go to a short tail compared exactly; a
full tail becomes a segment and equal segments merge up to ``max_segment`` templates (a binary counter:
each template re-indexed at most log2(max_segment / tail) times; the longest wait one enrolment can
meet is re-indexing ``max_segment`` templates). The engine's index cannot grow in place: this bounds
each enrolment's share of the indexing instead of rebuilding the whole index per enrolment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backoffice._matching import FaceMatching, FingerprintMatching

__all__ = ["FaceGallery", "FingerGallery"]

_DIMS = 128  # both parts of a face template (dlib ResNet, SFace)


class FaceGallery:
    """Enrolled face templates of the subjects, for :meth:`duplicates`. Not thread-safe: the caller
    serialises (``backoffice._enrolments`` holds its gallery lock)."""

    def __init__(self, matching: FaceMatching, capacity: int = 1024) -> None:
        self.matching = matching
        self._ids: list[str] = []
        self._subjects: list[str] = []
        self._dlib = np.zeros((capacity, _DIMS), np.float32)
        self._sface = np.zeros((capacity, _DIMS), np.float32)
        self._has_sface = np.zeros(capacity, bool)

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, enrolment_id: str, subject: str, template: Any) -> None:
        n = len(self._ids)
        if n == len(self._dlib):
            grow = max(1024, n)
            self._dlib = np.concatenate([self._dlib, np.zeros((grow, _DIMS), np.float32)])
            self._sface = np.concatenate([self._sface, np.zeros((grow, _DIMS), np.float32)])
            self._has_sface = np.concatenate([self._has_sface, np.zeros(grow, bool)])
        self._dlib[n] = template.vector
        if template.sface is not None:
            self._sface[n] = template.sface
            self._has_sface[n] = True
        self._ids.append(enrolment_id)
        self._subjects.append(subject)

    def _template(self, i: int) -> Any:
        from biometrics.face import FaceTemplate

        return FaceTemplate(vector=self._dlib[i], sface=self._sface[i] if self._has_sface[i] else None)

    def shortlist(self, subject: str, probe: Any) -> np.ndarray:
        """Gallery rows worth the exact comparison: the best by dlib cosine and the best by SFace cosine,
        other subjects only."""
        n = len(self._ids)
        if n == 0:
            return np.zeros(0, int)
        others = np.fromiter((s != subject for s in self._subjects), bool, n)
        k = self.matching.shortlist
        if int(others.sum()) <= k:
            return np.nonzero(others)[0]
        rows = [_top(np.where(others, self._dlib[:n] @ probe.vector, -np.inf), k)]
        if probe.sface is not None:
            rows.append(_top(np.where(others & self._has_sface[:n], self._sface[:n] @ probe.sface, -np.inf), k))
        rows = np.unique(np.concatenate(rows))
        return rows[others[rows]]

    def duplicates(self, subject: str, probe: Any) -> list[dict]:
        """Enrolments of other subjects whose face the engine judges the same person's."""
        out = []
        for i in self.shortlist(subject, probe):
            candidate = self._template(int(i))
            score = self.matching.compare(probe, candidate)
            if score >= self.matching.threshold_for(probe, candidate):
                out.append({"enrolment_id": self._ids[i], "modality": "face", "score": round(score, 4)})
        out.sort(key=lambda d: -d["score"])
        return out


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    k = min(k, len(scores))
    rows = np.argpartition(-scores, k - 1)[:k]
    return rows[np.isfinite(scores[rows])]


@dataclass
class _Segment:
    index: Any  # biometrics.finger.FingerprintIndex (pooled cylinders; templates without cached cylinders)
    owners: list[tuple[str, str, bytes]]  # (enrolment id, subject, ISO record) per template


@dataclass
class _Position:
    segments: list[_Segment] = field(default_factory=list)
    tail: list[tuple[str, str, bytes, Any]] = field(default_factory=list)  # ... and the parsed template


class FingerGallery:
    """Enrolled fingerprint templates by finger position, for :meth:`duplicates` (not thread-safe).

    A query ranks every indexed template of the probe's position with the engines' coarse score
    (``FingerprintIndex.coarse``), then compares the ``rerank`` best (plus the subject's own, which are
    skipped) exactly, as ``biometrics.finger.search`` does on one index; the tail (at most ``tail``
    templates, their cylinders kept) is compared exactly."""

    def __init__(self, matching: FingerprintMatching, *, tail: int = 16, rerank: int = 25,
                 max_segment: int = 1024) -> None:
        self.matching = matching
        self.tail_limit = tail
        self.rerank = rerank
        self.max_segment = max_segment  # bounds the longest re-indexing one enrolment can wait for
        self._positions: dict[int, _Position] = {}

    def __len__(self) -> int:
        return sum(sum(len(s.owners) for s in p.segments) + len(p.tail) for p in self._positions.values())

    def segments(self, position: int) -> list[int]:
        """Sizes of the indexed segments at ``position`` (oldest first), then the tail's."""
        slot = self._positions.get(position, _Position())
        return [len(s.owners) for s in slot.segments] + [len(slot.tail)]

    def add(self, enrolment_id: str, subject: str, fingers: list[tuple[int, bytes]]) -> None:
        """``fingers``: (ISO finger position, ISO/IEC 19794-2 record) already validated."""
        for position, record in fingers:
            slot = self._positions.setdefault(position, _Position())
            slot.tail.append((enrolment_id, subject, record, self.matching.parse(record)))
            # tails of different lengths per position: one enrolment does not re-index every finger at once
            if len(slot.tail) >= self.tail_limit + position:
                self._seal(slot)

    def _seal(self, slot: _Position) -> None:
        owners = [(e, s, r) for e, s, r, _ in slot.tail]
        slot.tail = []
        slot.segments.append(self._segment(owners))
        # a binary counter: two segments of equal size become one (up to max_segment), so there are
        # O(log n) of them below max_segment
        while (len(slot.segments) >= 2 and len(slot.segments[-2].owners) <= len(slot.segments[-1].owners)
               and len(slot.segments[-2].owners) + len(slot.segments[-1].owners) <= self.max_segment):
            b, a = slot.segments.pop(), slot.segments.pop()
            slot.segments.append(self._segment(a.owners + b.owners))

    def _segment(self, owners: list[tuple[str, str, bytes]]) -> _Segment:
        from biometrics.finger import FingerprintIndex

        # freshly parsed templates: the index keeps them without their (large) cylinders
        return _Segment(FingerprintIndex([self.matching.parse(r) for _, _, r in owners]), owners)

    def duplicates(self, subject: str, probes: list[tuple[int, Any]]) -> list[dict]:
        """Enrolments of other subjects with a finger at the same position scoring at least the duplicate
        threshold against one of ``probes`` ((position, FingerprintTemplate)); best score per enrolment."""
        best: dict[str, float] = {}
        for position, probe in probes:
            slot = self._positions.get(position)
            if slot is None:
                continue
            matcher = self.matching.matcher(probe)
            for enrolment, owner, _, template in slot.tail:
                if owner != subject:
                    _keep(best, enrolment, matcher.match(template))
            owners = [o for seg in slot.segments for o in seg.owners]
            if not owners:
                continue
            coarse = np.concatenate([seg.index.coarse(probe) for seg in slot.segments])
            coarse[[i for i, o in enumerate(owners) if o[1] == subject]] = -np.inf
            for i in _top(coarse, self.rerank):
                enrolment, _, record = owners[int(i)]
                _keep(best, enrolment, matcher.match(self.matching.parse(record)))
        threshold = self.matching.duplicate_threshold
        out = [{"enrolment_id": e, "modality": "fingerprint", "score": round(s, 4)} for e, s in best.items()
               if s >= threshold]
        out.sort(key=lambda d: -d["score"])
        return out


def _keep(best: dict[str, float], key: str, score: float) -> None:
    if score > best.get(key, -1.0):
        best[key] = float(score)
