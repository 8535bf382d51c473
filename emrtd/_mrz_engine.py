"""The neural text engine of the MRZ reader: PaddleOCR's PP-OCRv4 text detector and recogniser
(ONNX, shipped in the pinned ``rapidocr-onnxruntime`` package; ``models/manifest.toml``) run on
onnxruntime. Only the two model files are used, not the package's own code.

* :meth:`TextEngine.text_map` - the detector's per-pixel text probability (DBNet) of an image scaled
  to a given longest side; the localiser (``_mrz_locate``) finds the MRZ lines in it.
* :meth:`TextEngine.line_probs` - the recogniser's CTC output for one upright line strip, over
  blank, the 37-character MRZ alphabet and "another script";
* :func:`fit_line` - its greedy reading brought to the line's fixed length: the CTC collapse merges
  runs of ``<`` fillers, so each run gets the count its width holds at the line's pitch, and the
  line length settles the rest; with each character's log-probabilities over the alphabet.

Threads: one intra-op thread by default (``SMARTBORDER_OCR_THREADS`` overrides); the gate and the
kiosk have other work, and the bench measures one core. Nothing is downloaded: a missing or altered
model file is a named :class:`MrzEngineError`.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import cache

import numpy as np

from emrtd._mrz_ocr import ALPHABET, MrzOcrError

__all__ = ["MrzEngineError", "TextEngine", "LineDecode", "fit_line", "default_engine", "REC_HEIGHT"]

REC_HEIGHT = 48  # the recogniser's input height (PP-OCRv4 rec: 3 x 48 x W)
SQUEEZE = 1.0
_DET_MODEL = "ppocr_v4_det"
_REC_MODEL = "ppocr_v4_rec"


class MrzEngineError(MrzOcrError):
    """The OCR engine cannot run: onnxruntime or a model file is missing or not the recorded one."""


class TextEngine:
    """PP-OCRv4 detector and recogniser sessions. Thread-safe (onnxruntime sessions are)."""

    def __init__(self, det_path, rec_path, *, threads: int = 1) -> None:
        try:
            import onnxruntime as ort
        except ImportError as e:  # pragma: no cover - in the lock file
            raise MrzEngineError("onnxruntime is not installed") from e
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self._det = ort.InferenceSession(str(det_path), opts, providers=["CPUExecutionProvider"])
            self._rec = ort.InferenceSession(str(rec_path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types
            raise MrzEngineError(f"cannot load the OCR models: {e}") from e
        chars = self._rec.get_modelmeta().custom_metadata_map.get("character", "").splitlines()
        missing = [c for c in ALPHABET if c not in chars]
        if missing:
            raise MrzEngineError(f"the recogniser's alphabet lacks {''.join(missing)!r}")
        # output column 0 is the CTC blank; then the dictionary; then the space
        self._cols = np.array([0] + [chars.index(c) + 1 for c in ALPHABET])

    def text_map(self, gray: np.ndarray, max_side: int) -> tuple[np.ndarray, tuple[float, float]]:
        """(text probability map, (x scale, y scale)) of ``gray`` resized so its longest side is about
        ``max_side`` (sides multiples of 32, as DBNet needs); map x / x scale = image x, same for y."""
        import cv2

        h, w = gray.shape
        scale = min(1.0, max_side / max(h, w)) if max(h, w) > max_side else max_side / max(h, w)
        nh, nw = max(32, int(round(h * scale / 32)) * 32), max(32, int(round(w * scale / 32)) * 32)
        small = cv2.resize(gray, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        x = (small.astype(np.float32) / 127.5 - 1.0)[None, None].repeat(3, axis=1)
        out = self._det.run(None, {self._det.get_inputs()[0].name: x})[0][0, 0]
        return out, (float(nw / w), float(nh / h))

    def line_probs(self, strip: np.ndarray, squeeze: float | None = None) -> np.ndarray:
        """CTC probabilities [T, 38] (blank, then ALPHABET) of one upright gray line strip, and the
        share of the output mass outside the MRZ alphabet in column 38 ([T, 39] in all). The strip is
        narrowed by ``squeeze`` (OCR-B is wider than the recogniser's usual text; narrower is also faster)."""
        import cv2

        h, w = strip.shape
        nw = max(REC_HEIGHT, int(round(w * REC_HEIGHT / h * (SQUEEZE if squeeze is None else squeeze))))
        img = cv2.resize(strip, (nw, REC_HEIGHT), interpolation=cv2.INTER_AREA if h > REC_HEIGHT else cv2.INTER_LINEAR)
        x = (img.astype(np.float32) / 127.5 - 1.0)[None, None].repeat(3, axis=1)
        out = self._rec.run(None, {self._rec.get_inputs()[0].name: x})[0][0]
        sub = out[:, self._cols]
        other = np.clip(1.0 - sub.sum(axis=1, keepdims=True), 0.0, 1.0)
        return np.concatenate([sub, other], axis=1)


@dataclass(frozen=True)
class LineDecode:
    """The best CTC path that spells exactly ``len(allowed)`` characters, each in its position's set."""

    score: float  # log-probability of the path
    chars: str
    centres: np.ndarray  # each character's centre, in timesteps
    alternatives: np.ndarray  # [length, 37] log-probabilities of every character at each position
    foreign: float  # share of the line's emissions outside the MRZ alphabet


def fit_line(probs: np.ndarray, length: int) -> LineDecode | None:
    """The recogniser's free (greedy) reading of a line, brought to ``length`` characters by the
    geometry of its filler runs: a run of ``<`` the CTC collapse shortened (or lengthened) gets as
    many fillers as its width holds at the line's pitch (from the spacing of the other characters);
    the last run takes what the line length leaves. None when that cannot be done."""
    t_count = probs.shape[0]
    best = probs[:, :39].argmax(axis=1)  # 0 blank, 1..37 ALPHABET, 38 another script
    labels: list[list[int]] = []  # [label, first frame, last frame]
    prev = 0
    for t, b in enumerate(best):
        b = int(b)
        if b not in (0, 38) and b != prev:
            labels.append([b - 1, t, t])
        elif b not in (0, 38):
            labels[-1][2] = t
        prev = b
    if len(labels) < max(3, length // 3):
        return None
    filler = ALPHABET.index("<")
    centres = np.array([(a + b) / 2 for _, a, b in labels], float)
    # pitch: spacing of consecutive characters that are not fillers
    steps = [centres[i + 1] - centres[i] for i in range(len(labels) - 1)
             if labels[i][0] != filler and labels[i + 1][0] != filler]
    if len(steps) < 3:
        return None
    pitch = float(np.median(steps))
    # the free reading as items: a character, or a run of fillers with its width in pitches
    items: list = []
    i = 0
    while i < len(labels):
        if labels[i][0] != filler:
            items.append((labels[i][0], centres[i], (labels[i][1], labels[i][2])))
            i += 1
            continue
        j = i
        while j < len(labels) and labels[j][0] == filler:
            j += 1
        left = centres[i - 1] if i > 0 else centres[i] - pitch
        right = centres[j] if j < len(labels) else labels[j - 1][2] + pitch / 2  # a trailing run: its last frame
        items.append(["run", left, (labels[i][1], labels[j - 1][2]), max(1.0, (right - left) / pitch - 1)])
        i = j
    runs = [it for it in items if it[0] == "run"]
    need = length - sum(1 for it in items if it[0] != "run")
    if need < len(runs) or (need > 0 and not runs):
        return None
    counts = [max(1, int(round(r[3]))) for r in runs]
    # bring the fillers to the number the line length leaves: the runs furthest from their estimate first
    for _ in range(abs(need - sum(counts))):
        step = 1 if need > sum(counts) else -1
        k = max((k for k in range(len(runs)) if counts[k] + step >= 1),
                key=lambda k: step * (runs[k][3] - counts[k]) + (0.5 if k == len(runs) - 1 else 0.0), default=None)
        if k is None:
            return None
        counts[k] += step
    out: list = []
    for it in items:
        if it[0] != "run":
            out.append(it)
            continue
        n = counts[next(k for k, r in enumerate(runs) if r is it)]
        out.extend((filler, it[1] + (k + 1) * pitch, it[2]) for k in range(n))
    if len(out) != length:
        return None
    alts = np.empty((length, 37), np.float32)
    for k, (_, _, (lo, hi)) in enumerate(out):
        win = probs[max(0, lo - 1): min(t_count, hi + 2), 1:38].max(axis=0)
        alts[k] = np.log(win / max(1e-6, win.sum()) + 1e-4)
    emitting = 1.0 - probs[:, 0]
    ts = emitting > 0.5
    foreign = float(probs[ts, 38].sum() / max(1e-6, emitting[ts].sum())) if ts.any() else 1.0
    score = float(sum(alts[k, lab] for k, (lab, _, _) in enumerate(out)))
    return LineDecode(score, "".join(ALPHABET[lab] for lab, _, _ in out), np.array([c for _, c, _ in out]), alts, foreign)


_lock = threading.Lock()


@cache
def _engine(threads: int) -> TextEngine:
    try:
        from models import ModelError, model_path
    except ImportError as e:  # pragma: no cover
        raise MrzEngineError("the models package is not importable") from e
    try:
        det, rec = model_path(_DET_MODEL), model_path(_REC_MODEL)
    except ModelError as e:
        raise MrzEngineError(f"OCR model unavailable: {e}") from e
    return TextEngine(det, rec, threads=threads)


def default_engine() -> TextEngine:
    """The process's engine (models from ``models/manifest.toml``, sha256 checked on first use)."""
    threads = int(os.environ.get("SMARTBORDER_OCR_THREADS", "1") or 1)
    with _lock:
        return _engine(threads)
