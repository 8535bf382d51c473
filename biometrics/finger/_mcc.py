"""Minutia Cylinder-Code (Cappelli, Ferrara & Maltoni, IEEE TPAMI 32(12), 2010) with the
LSA-R global score (local similarity assignment followed by relaxation).

Each minutia gets a cylinder: a 16 x 16 spatial grid of radius R = 70 pixels (500 dpi)
aligned with the minutia's direction, times 6 angular sections, whose cells say how many
neighbouring minutiae, with which relative direction, lie near the cell centre. Cylinders are
rotation and translation invariant; comparing them is a vector operation, so all local
similarities between two templates are a few matrix products.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

R = 70.0
NS = 16
ND = 6
SIGMA_S = 28.0 / 3.0
SIGMA_D = 2.0 * math.pi / 9.0
MU_PSI = 0.01
TAU_PSI = 400.0
OMEGA = 50.0  # convex-hull offset (pixels)
MIN_VC = 0.75  # minimum fraction of valid cells for a valid cylinder
MIN_M = 2  # minimum neighbouring minutiae for a valid cylinder
MIN_ME = 0.60  # minimum fraction of matchable cells for two cylinders to be compared
DELTA_THETA = math.pi / 2  # maximum direction difference of two matchable minutiae
MIN_NP, MAX_NP, MU_P, TAU_P = 4, 12, 20.0, 0.4
W_R, N_REL = 0.5, 5
RHO = ((5.0, -8.0 / 5.0), (math.pi / 12, -30.0), (math.pi / 12, -30.0))

_DS = 2 * R / NS
_DD = 2 * math.pi / ND
_ij = (np.arange(NS) - (NS - 1) / 2.0) * _DS
_CX, _CY = np.meshgrid(_ij, _ij, indexing="xy")
_CELL = np.stack([_CX.ravel(), _CY.ravel()], 1)  # (256, 2) offsets before rotation
_IN_R = np.hypot(_CELL[:, 0], _CELL[:, 1]) <= R
_N_IN_R = int(_IN_R.sum())
_DTHETA_K = -math.pi + (np.arange(ND) + 0.5) * _DD


def _dphi(a: np.ndarray) -> np.ndarray:
    """Difference of angles mapped to [-pi, pi)."""
    return (a + np.pi) % (2 * np.pi) - np.pi


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz-Stegun 7.1.26 (max error 1.5e-7); avoids scipy at import time
    s = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * np.exp(-x * x)
    return s * y


def _gd(alpha: np.ndarray) -> np.ndarray:
    """Area of the direction Gaussian over one angular section centred at alpha."""
    c = 1.0 / (SIGMA_D * math.sqrt(2.0))
    return 0.5 * (_erf((alpha + _DD / 2) * c) - _erf((alpha - _DD / 2) * c))


def _hull_mask(xy: np.ndarray, points: np.ndarray) -> np.ndarray:
    """True where points lie within about OMEGA of the convex hull of xy (the hull is offset
    edge by edge, so corners reach a little further than OMEGA)."""
    import cv2

    pts = points.reshape(-1, 2)
    if len(xy) < 3:
        return np.zeros(len(pts), bool)
    hull = cv2.convexHull(xy.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    if len(hull) < 3:
        return np.zeros(len(pts), bool)
    e = np.roll(hull, -1, axis=0) - hull  # edges
    nrm = np.stack([e[:, 1], -e[:, 0]], 1)
    nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-9)
    # orient normals outwards (away from the centroid)
    c = hull.mean(0)
    sign = np.sign(((hull - c) * nrm).sum(1, keepdims=True))
    nrm *= np.where(sign == 0, 1, sign)
    dist = ((pts[:, None, :] - hull[None, :, :]) * nrm[None]).sum(-1)
    return dist.max(1) <= OMEGA


@dataclass
class Cylinders:
    """Cylinders of one template: values (n, 256*6) float32 (zero in invalid cells), spatial
    validity (n, 256) float32, squared values per cell (n, 256), minutiae (n, 3) x, y, theta."""

    values: np.ndarray
    valid: np.ndarray
    sq: np.ndarray
    xyt: np.ndarray

    @property
    def n(self) -> int:
        return len(self.xyt)


def build(xyt: np.ndarray) -> Cylinders:
    """Cylinders of minutiae given as (n, 3) x, y (pixels at 500 dpi, y down) and theta (radians)."""
    xyt = np.asarray(xyt, np.float64).reshape(-1, 3)
    n = len(xyt)
    if n == 0:
        z = np.zeros((0, NS * NS * ND), np.float32)
        return Cylinders(z, np.zeros((0, NS * NS), np.float32), np.zeros((0, NS * NS), np.float32), xyt)
    x, y, t = xyt[:, 0], xyt[:, 1], xyt[:, 2]
    # theta is counter-clockwise with y up; rotate the grid in image coordinates (y down)
    c, s = np.cos(t), -np.sin(t)
    px = x[:, None] + c[:, None] * _CELL[None, :, 0] - s[:, None] * _CELL[None, :, 1]
    py = y[:, None] + s[:, None] * _CELL[None, :, 0] + c[:, None] * _CELL[None, :, 1]
    xf, yf = x.astype(np.float32), y.astype(np.float32)
    d2 = (px.astype(np.float32)[:, :, None] - xf[None, None, :]) ** 2 + (py.astype(np.float32)[:, :, None] - yf[None, None, :]) ** 2
    gs = np.exp(d2 * np.float32(-1 / (2 * SIGMA_S**2))) * np.float32(1 / (SIGMA_S * math.sqrt(2 * math.pi)))
    gs[d2 > (3 * SIGMA_S) ** 2] = 0.0
    gs[np.arange(n), :, np.arange(n)] = 0.0  # (n, 256, n)
    dth = _dphi(t[:, None] - t[None, :])  # (n, n) d_phi(theta_m, theta_t)
    gd = _gd(_dphi(_DTHETA_K[None, None, :] - dth[:, :, None]))  # (n, n, ND)
    raw = np.matmul(gs, gd.astype(np.float32))  # (n, 256, ND)
    val = 1.0 / (1.0 + np.exp(-TAU_PSI * (raw - MU_PSI)))
    valid = _IN_R[None, :] & _hull_mask(xyt[:, :2], np.stack([px, py], -1)).reshape(n, -1)
    # cylinder validity: enough valid cells and enough neighbours
    dmm = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    neigh = (dmm <= R + 3 * SIGMA_S).sum(1) - 1
    ok = (valid.sum(1) >= MIN_VC * _N_IN_R) & (neigh >= MIN_M)
    valid &= ok[:, None]
    val = val * valid[:, :, None]
    values = val.reshape(n, -1).astype(np.float32)
    return Cylinders(values, valid.astype(np.float32), (val**2).sum(2).astype(np.float32), xyt)


def local_similarity(a: Cylinders, b: Cylinders) -> np.ndarray:
    """Matrix (na, nb) of cylinder similarities in [0, 1] (0 when not matchable)."""
    if a.n == 0 or b.n == 0:
        return np.zeros((a.n, b.n), np.float32)
    a2 = a.sq @ b.valid.T  # ||c_a|b||^2
    b2 = a.valid @ b.sq.T  # ||c_b|a||^2
    dot = a.values @ b.values.T
    count = a.valid @ b.valid.T
    diff = np.sqrt(np.maximum(a2 + b2 - 2 * dot, 0))
    denom = np.sqrt(a2) + np.sqrt(b2)
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = np.where(denom > 0, 1.0 - diff / denom, 0.0)
    dth = np.abs(_dphi(a.xyt[:, 2][:, None] - b.xyt[:, 2][None, :]))
    sim[(count < MIN_ME * _N_IN_R) | (dth > DELTA_THETA)] = 0.0
    return sim.astype(np.float32)


def _z(v: np.ndarray, mu: float, tau: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(np.clip(-tau * (v - mu), -60.0, 60.0)))


def n_pairs(na: int, nb: int) -> int:
    return MIN_NP + int(round(float(_z(np.array(min(na, nb)), MU_P, TAU_P)) * (MAX_NP - MIN_NP)))


def _assign(sim: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy one-to-one assignment of the k best local similarities (an LSA approximation).
    Only entries among the 4 best of their row or column can be chosen early, so the
    candidates are cut to those before the (short) greedy loop."""
    na, nb = sim.shape
    r = min(4, nb)
    c = min(4, na)
    cand = np.zeros(sim.shape, bool)
    rows = np.argpartition(-sim, r - 1, axis=1)[:, :r]
    cand[np.arange(na)[:, None], rows] = True
    cols = np.argpartition(-sim, c - 1, axis=0)[:c]
    cand[cols, np.arange(nb)[None, :]] = True
    cand &= sim > 0
    ii, jj = np.nonzero(cand)
    order = np.argsort(-sim[ii, jj], kind="stable")
    used_a: set[int] = set()
    used_b: set[int] = set()
    ia, ib = [], []
    for i, j in zip(ii[order].tolist(), jj[order].tolist(), strict=True):
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        ia.append(i)
        ib.append(j)
        if len(ia) >= k:
            break
    return np.array(ia, int), np.array(ib, int)


def score(a: Cylinders, b: Cylinders, wa: np.ndarray | None = None, wb: np.ndarray | None = None) -> float:
    """LSA-R global score in [0, 1]. ``wa``, ``wb``: optional per-minutia reliability weights; the
    local similarity of a pair is scaled by the geometric mean of its two weights before the
    assignment and the relaxation, so a pair of unreliable minutiae counts less."""
    sim = local_similarity(a, b)
    if sim.size == 0:
        return 0.0
    if wa is not None and wb is not None:
        sim = sim * np.sqrt(np.outer(np.asarray(wa, np.float32), np.asarray(wb, np.float32)))
    npairs = n_pairs(a.n, b.n)
    ia, ib = _assign(sim, min(a.n, b.n))
    nr = len(ia)
    if nr < 2:
        return 0.0
    lam0 = sim[ia, ib].astype(np.float64)
    pa, pb = a.xyt[ia], b.xyt[ib]
    # pairwise compatibility of the selected pairs
    da = np.hypot(pa[:, None, 0] - pa[None, :, 0], pa[:, None, 1] - pa[None, :, 1])
    db = np.hypot(pb[:, None, 0] - pb[None, :, 0], pb[:, None, 1] - pb[None, :, 1])
    d1 = np.abs(da - db)
    d2 = np.abs(_dphi(_dphi(pa[:, None, 2] - pa[None, :, 2]) - _dphi(pb[:, None, 2] - pb[None, :, 2])))
    # angle between each minutia's direction and the segment joining the two (y up)
    ra = np.arctan2(-(pa[None, :, 1] - pa[:, None, 1]), pa[None, :, 0] - pa[:, None, 0])
    rb = np.arctan2(-(pb[None, :, 1] - pb[:, None, 1]), pb[None, :, 0] - pb[:, None, 0])
    d3 = np.abs(_dphi(_dphi(pa[:, None, 2] - ra) - _dphi(pb[:, None, 2] - rb)))
    rho = _z(d1, *RHO[0]) * _z(d2, *RHO[1]) * _z(d3, *RHO[2])
    np.fill_diagonal(rho, 0.0)
    lam = lam0.copy()
    for _ in range(N_REL):
        lam = W_R * lam + (1 - W_R) * (rho @ lam) / (nr - 1)
    eff = lam / np.maximum(lam0, 1e-9)
    k = min(npairs, nr)
    top = np.argsort(eff)[::-1][:k]
    return float(lam[top].sum() / npairs)
