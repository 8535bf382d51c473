"""Image stages: validation, resampling to 500 dpi, normalisation, segmentation, orientation
field, ridge frequency and short-time Fourier (STFT) contextual enhancement.

All stages work at the reference resolution of 500 dpi (ridge period about 8-11 pixels);
images of another resolution are resampled first and the coordinates are scaled back by the
caller. References: Hong, Wan & Jain (1998) for the gradient orientation field and
coherence; Chikkerur, Cartwright & Govindaraju (2007) for STFT enhancement.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from ._errors import FingerImageError

REF_DPI = 500
MIN_DPI, MAX_DPI = 250, 1500
MIN_SIDE_MM = 6.0  # smaller than this is no usable fingerprint
MAX_SIDE_PX = 4000

_WIN = 32  # STFT window (pixels)
_STEP = 12  # STFT hop
SEG_SCORE = 0.28  # foreground: relative contrast x coherence weight
ORI_SMOOTH = 5.0  # second smoothing of the doubled-angle field (pixels)
ANG_BW = np.pi / 7  # angular half-band of the STFT filter where orientation is certain (doubles at zero coherence)
RAD_BW = 0.35  # radial Gaussian sigma of the STFT filter, as a fraction of the ridge frequency


@dataclass
class Processed:
    """Everything the minutiae stage needs, at 500 dpi."""

    scale: float  # 500 / dpi: multiply original coordinates by this to reach 500 dpi
    gray: np.ndarray  # float32, resampled original
    norm: np.ndarray | None  # float32, locally normalised (zero mean, unit variance); None before enhancement
    mask: np.ndarray  # bool foreground
    orientation: np.ndarray  # float32 ridge orientation in [0, pi), radians, image coordinates (y down)
    coherence: np.ndarray  # float32 in [0, 1]
    period: float  # median ridge period in pixels (0 before enhancement)
    enhanced: np.ndarray | None  # float32 enhanced image (ridges positive); None before enhancement
    local_std: np.ndarray  # float32 local standard deviation of the grey levels


def check_image(image: object, dpi: int) -> np.ndarray:
    """Validate an 8-bit greyscale image; return it as a 2-D uint8 array or raise FingerImageError."""
    if not isinstance(image, np.ndarray):
        raise FingerImageError(f"expected a numpy array, got {type(image).__name__}", "not_an_array")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim != 2:
        raise FingerImageError(f"expected a 2-D greyscale image, got shape {image.shape}", "not_greyscale")
    if image.dtype != np.uint8:
        raise FingerImageError(f"expected uint8 pixels, got {image.dtype}", "not_uint8")
    if not isinstance(dpi, (int, np.integer)) or not MIN_DPI <= int(dpi) <= MAX_DPI:
        raise FingerImageError(f"dpi {dpi!r} outside {MIN_DPI}-{MAX_DPI}", "bad_dpi")
    min_side = MIN_SIDE_MM / 25.4 * dpi
    if min(image.shape) < min_side:
        raise FingerImageError(
            f"image {image.shape[1]}x{image.shape[0]} is smaller than {MIN_SIDE_MM} mm at {dpi} dpi", "too_small"
        )
    if max(image.shape) > MAX_SIDE_PX:
        raise FingerImageError(f"image side above {MAX_SIDE_PX} pixels", "too_large")
    return image


def _resample(image: np.ndarray, dpi: int) -> tuple[np.ndarray, float]:
    scale = REF_DPI / float(dpi)
    img = image.astype(np.float32)
    if abs(scale - 1.0) > 0.02:
        w = max(1, round(image.shape[1] * scale))
        h = max(1, round(image.shape[0] * scale))
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    else:
        scale = 1.0
    return img, scale


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; wide kernels run on a 4x smaller image (the result is smooth anyway)."""
    if sigma < 4.0 or min(a.shape) < 64:
        return cv2.GaussianBlur(a, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    h, w = a.shape
    small = cv2.resize(a, ((w + 3) // 4, (h + 3) // 4), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / 4.0, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def orientation_field(img: np.ndarray, sigma_grad: float = 1.0, sigma_block: float = 7.0) -> tuple[np.ndarray, np.ndarray]:
    """Ridge orientation (radians in [0, pi), y axis down) and coherence per pixel."""
    g = _blur(img, sigma_grad)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    gxx = _blur(gx * gx, sigma_block)
    gyy = _blur(gy * gy, sigma_block)
    gxy = _blur(gx * gy, sigma_block)
    c2 = gxx - gyy
    s2 = 2 * gxy
    energy = gxx + gyy + 1e-6
    coherence = np.sqrt(c2 * c2 + s2 * s2) / energy
    # smooth the doubled-angle vector field a second time (weighted by its strength)
    c2s = _blur(c2, ORI_SMOOTH)
    s2s = _blur(s2, ORI_SMOOTH)
    grad_dir = 0.5 * np.arctan2(s2s, c2s)  # gradient direction (across the ridges)
    theta = np.mod(grad_dir + np.pi / 2, np.pi).astype(np.float32)
    return theta, np.clip(coherence, 0, 1).astype(np.float32)


def segment(img: np.ndarray, coherence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Foreground mask from local contrast and orientation coherence; also the local std map."""
    mean = _blur(img, 6.0)
    var = _blur((img - mean) ** 2, 6.0)
    local_std = np.sqrt(np.maximum(var, 0)).astype(np.float32)
    ref = float(np.percentile(local_std, 95))
    if ref < 6.0:
        raise FingerImageError("no ridge contrast: the image is blank or uniform", "blank")
    score = (local_std / ref) * (0.4 + 0.6 * _blur(coherence, 4.0))
    mask = (score > SEG_SCORE).astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (15, 15))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, k)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (25, 25)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        raise FingerImageError("no fingerprint foreground found", "no_foreground")
    keep = np.zeros(n, bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    big = areas.max()
    keep[1:] = areas >= 0.25 * big
    mask = keep[labels].astype(np.uint8)
    # fill holes
    inv = (1 - mask).astype(np.uint8)
    n2, lab2, st2, _ = cv2.connectedComponentsWithStats(inv, connectivity=4)
    h, w = mask.shape
    for i in range(1, n2):
        x, y, bw, bh, _a = st2[i]
        if x > 0 and y > 0 and x + bw < w and y + bh < h:
            mask[lab2 == i] = 1
    return mask.astype(bool), local_std


def _window() -> np.ndarray:
    w1 = np.sin(np.pi * (np.arange(_WIN) + 0.5) / _WIN) ** 2
    return np.outer(w1, w1).astype(np.float32)


_W2D = _window()
_fy, _fx = np.meshgrid(np.fft.fftfreq(_WIN), np.fft.rfftfreq(_WIN), indexing="ij")
_FR = np.sqrt(_fx**2 + _fy**2).astype(np.float32)  # cycles / pixel (half spectrum)
_FA = np.arctan2(_fy, _fx).astype(np.float32)
_BAND = (_FR > 1 / 16.0) & (_FR < 1 / 5.0)


def enhance(norm: np.ndarray, theta: np.ndarray, coherence: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, float]:
    """STFT contextual filtering: each overlapping window of the foreground is filtered in the
    frequency domain by a band-pass tuned to its ridge frequency (the spectral peak across the
    ridges) and an angular pass tuned to the local orientation, then overlap-added.
    Returns the enhanced image and the median ridge period in pixels."""
    from scipy import fft as sfft

    h, w = norm.shape
    pad = _WIN
    padded = cv2.copyMakeBorder(norm * mask, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    ys = np.arange(pad - _WIN // 2 + _STEP // 2, pad + h - _WIN // 2, _STEP)
    xs = np.arange(pad - _WIN // 2 + _STEP // 2, pad + w - _WIN // 2, _STEP)
    gy, gx = np.meshgrid(ys, xs, indexing="ij")
    cy = np.clip(gy - pad + _WIN // 2, 0, h - 1)
    cx = np.clip(gx - pad + _WIN // 2, 0, w - 1)
    near = cv2.dilate(mask.astype(np.uint8), np.ones((_WIN // 2, _WIN // 2), np.uint8)).astype(bool)
    sel = near[cy, cx]
    wy, wx = gy[sel], gx[sel]
    th, coh, fg = theta[cy[sel], cx[sel]], coherence[cy[sel], cx[sel]], mask[cy[sel], cx[sel]]
    k = len(wy)
    if k < 4:
        raise FingerImageError("no ridge area to enhance", "no_ridges")
    ar = np.arange(_WIN)
    patches = padded[(wy[:, None] + ar)[:, :, None], (wx[:, None] + ar)[:, None, :]] * _W2D
    spec = sfft.rfft2(patches, workers=1)
    power = spec.real**2 + spec.imag**2
    normal = (th + np.pi / 2).astype(np.float32)  # direction across the ridges
    dang = np.abs(np.mod(_FA[None] - normal[:, None, None] + np.pi / 2, np.pi) - np.pi / 2)  # 0..pi/2
    pw = power * (_BAND & (dang < np.pi / 8))
    flat = pw.reshape(k, -1)
    freq = _FR.reshape(-1)[flat.argmax(-1)]
    has_peak = (flat.max(-1) > 0) & fg
    if has_peak.sum() < 4:
        raise FingerImageError("no ridge frequency found in the foreground", "no_ridges")
    med = float(np.median(freq[has_peak]))
    grid = np.full(gy.shape, med, np.float32)
    grid[sel] = np.where(has_peak, freq, med)
    grid = cv2.GaussianBlur(cv2.medianBlur(grid, 3), (3, 3), 0)
    freq = np.clip(grid[sel], med * 0.7, med * 1.4)[:, None, None]
    period = 1.0 / med
    sig_r = np.maximum(freq * RAD_BW, 0.012)
    radial = np.exp(-((_FR[None] - freq) ** 2) / (2 * sig_r**2))
    ang_bw = (ANG_BW + (1 - coh) * ANG_BW).astype(np.float32)[:, None, None]
    angular = np.where(dang < ang_bw, np.cos(np.pi * dang / (2 * ang_bw)) ** 2, 0.0)
    out = sfft.irfft2(spec * (radial * angular), s=(_WIN, _WIN), workers=1).astype(np.float32) * _W2D
    acc = np.zeros_like(padded)
    wacc = np.zeros_like(padded)
    w2 = _W2D * _W2D
    for i in range(k):
        y0, x0 = wy[i], wx[i]
        acc[y0 : y0 + _WIN, x0 : x0 + _WIN] += out[i]
        wacc[y0 : y0 + _WIN, x0 : x0 + _WIN] += w2
    enh = (acc / np.maximum(wacc, 1e-3))[pad : pad + h, pad : pad + w]
    s = _blur(np.abs(enh), 6.0) + 1e-3
    return (enh / s).astype(np.float32), period


def prepare(image: np.ndarray, dpi: int) -> Processed:
    """Validation, resampling, orientation field and segmentation (no enhancement: ``norm``,
    ``enhanced`` are None and ``period`` 0); raises FingerImageError as :func:`process` does."""
    image = check_image(image, dpi)
    if float(image.std()) < 2.0:
        raise FingerImageError("image is blank (uniform grey level)", "blank")
    if float(np.mean((image <= 2) | (image >= 253))) > 0.97:
        raise FingerImageError("image is saturated (almost all pixels black or white)", "saturated")
    gray, scale = _resample(image, int(dpi))
    theta, coherence = orientation_field(gray)
    mask, local_std = segment(gray, coherence)
    if mask.mean() < 0.04 or mask.sum() < 60 * 60:
        raise FingerImageError("fingerprint area too small", "small_area")
    flow = float(coherence[mask].mean())
    if flow < 0.25:
        raise FingerImageError(f"no ridge flow (mean orientation coherence {flow:.2f}): not a fingerprint", "no_ridge_flow")
    return Processed(scale, gray, None, mask, theta, coherence, 0.0, None, local_std)


def process(image: np.ndarray, dpi: int) -> Processed:
    """Run every image stage on a validated image."""
    p = prepare(image, dpi)
    mean = _blur(p.gray, 8.0)
    norm = ((p.gray - mean) / (p.local_std + 4.0)).astype(np.float32)
    enhanced, period = enhance(norm, p.orientation, p.coherence, p.mask)
    return replace(p, norm=norm, enhanced=enhanced, period=period)
