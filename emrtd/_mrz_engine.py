"""The neural text engine of the MRZ reader: PaddleOCR's PP-OCRv4 text detector and recogniser
(ONNX, shipped in the pinned ``rapidocr-onnxruntime`` package; ``models/manifest.toml``) run on
onnxruntime. Only the two model files are used, not the package's own code.

* :meth:`TextEngine.text_map` - the detector's per-pixel text probability (DBNet) of an image scaled
  to a given longest side; the localiser (``_mrz_locate``) finds the MRZ lines in it.
* :meth:`TextEngine.line_probs` - the recogniser's CTC output for one upright line strip, over
  blank, the 37-character MRZ alphabet and "another script"
  (``_mrz_fuse`` places its characters on the line's glyph grid).

Threads: one intra-op thread by default (``SMARTBORDER_OCR_THREADS`` overrides); the gate and the
kiosk have other work, and the bench measures one core. Nothing is downloaded: a missing or altered
model file is a named :class:`MrzEngineError`.
"""

from __future__ import annotations

import os
import threading
from functools import cache

import numpy as np

from emrtd._mrz_ocr import ALPHABET, MrzOcrError

__all__ = ["MrzEngineError", "MrzModelMissing", "MrzModelTampered", "TextEngine", "default_engine", "REC_HEIGHT"]

REC_HEIGHT = 48  # the recogniser's input height (PP-OCRv4 rec: 3 x 48 x W)
SQUEEZE = 1.0
_DET_MODEL = "ppocr_v4_det"
_REC_MODEL = "ppocr_v4_rec"


class MrzEngineError(MrzOcrError):
    """The OCR engine cannot run: onnxruntime or a model file is missing or not the recorded one."""


class MrzModelMissing(MrzEngineError):
    """An OCR model file is not installed (``make setup``): the template reader alone may read."""


class MrzModelTampered(MrzEngineError):
    """An OCR model file's sha256 is not the manifest's (possible tampering): nothing reads, no fallback."""


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


_lock = threading.Lock()
# the first failure to build the engine per thread count, kept: a missing model is not searched for (nor a
# file re-hashed) on every read
_failed: dict[int, MrzEngineError] = {}


@cache
def _engine(threads: int) -> TextEngine:
    try:
        from models import ModelChecksumError, ModelError, model_path
    except ImportError as e:  # pragma: no cover
        raise MrzEngineError("the models package is not importable") from e
    try:
        det, rec = model_path(_DET_MODEL), model_path(_REC_MODEL)
    except ModelChecksumError as e:
        raise MrzModelTampered(f"OCR model altered: {e}") from e
    except ModelError as e:
        raise MrzModelMissing(f"OCR model unavailable: {e}") from e
    return TextEngine(det, rec, threads=threads)


def _threads() -> int:
    raw = os.environ.get("SMARTBORDER_OCR_THREADS", "1").strip() or "1"
    try:
        threads = int(raw)
    except ValueError as e:
        raise MrzEngineError(f"SMARTBORDER_OCR_THREADS must be a whole number of threads, not {raw!r}") from e
    if not 1 <= threads <= 64:
        raise MrzEngineError(f"SMARTBORDER_OCR_THREADS must be 1-64, not {threads}")
    return threads


def default_engine() -> TextEngine:
    """The process's engine (models from ``models/manifest.toml``, sha256 checked on first use). Its failure
    is kept and raised again (a new error of the same type and message) without another attempt."""
    threads = _threads()
    with _lock:
        if threads in _failed:
            e = _failed[threads]
            raise type(e)(str(e))
        try:
            return _engine(threads)
        except MrzEngineError as e:
            _failed[threads] = e
            raise
