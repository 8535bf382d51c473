"""Minutiae from the enhanced image: binarisation, thinning, crossing number, ridge tracing
for direction, and pruning of spurs, short ridges, bridges and border artefacts.

Direction convention (ISO/IEC 19794-2 style, radians counter-clockwise from the x axis with
y pointing up): a ridge ending points along its ridge out of the ending; a bifurcation
points along its stem (equivalently, the valley that ends in the fork points out of it),
so an ending and the bifurcation it becomes when ridges and valleys swap keep one direction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from skimage.morphology import skeletonize

from ._image import Processed

ENDING, BIFURCATION, OTHER = "ending", "bifurcation", "other"
BORDER = 1.2  # minutiae closer than this many ridge periods to the foreground edge are dropped

# 8-neighbourhood in clockwise order (dy, dx)
_NB = [(-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1)]


@dataclass(frozen=True)
class Minutia:
    """One minutia: pixel position in the source image, direction in radians (counter-clockwise
    from the x axis, y up, in [0, 2*pi)), type ("ending", "bifurcation" or "other") and quality 0-100."""

    x: int
    y: int
    direction: float
    type: str
    quality: int


def _crossing(skel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crossing number and neighbour count of every skeleton pixel."""
    p = np.pad(skel.astype(np.int8), 1)
    h, w = skel.shape
    nbs = [p[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in _NB]
    cn = np.zeros((h, w), np.int8)
    for i in range(8):
        cn += np.abs(nbs[i] - nbs[(i + 1) % 8])
    count = sum(nbs)
    return (cn // 2) * skel, count * skel


def _trace(skel: np.ndarray, y: int, x: int, first: tuple[int, int], length: int, special: np.ndarray):
    """Follow the skeleton from (y, x) through neighbour ``first`` for up to ``length`` steps.
    Returns (end y, end x, steps, stop) where stop is "special" when another minutia was hit."""
    h, w = skel.shape
    py, px = y, x
    cy, cx = first
    steps = 1
    while steps < length:
        if special[cy, cx] and (cy, cx) != (y, x):
            return cy, cx, steps, "special"
        nxt = None
        for dy, dx in _NB:
            ny, nx = cy + dy, cx + dx
            if 0 <= ny < h and 0 <= nx < w and skel[ny, nx] and (ny, nx) != (py, px) and (ny, nx) != (y, x):
                if abs(ny - py) <= 1 and abs(nx - px) <= 1:
                    continue  # a neighbour of the previous pixel: corner of the same path
                nxt = (ny, nx)
                break
        if nxt is None:
            # fall back to any unvisited neighbour
            for dy, dx in _NB:
                ny, nx = cy + dy, cx + dx
                if 0 <= ny < h and 0 <= nx < w and skel[ny, nx] and (ny, nx) not in ((py, px), (y, x)):
                    nxt = (ny, nx)
                    break
        if nxt is None:
            return cy, cx, steps, "end"
        py, px = cy, cx
        cy, cx = nxt
        steps += 1
    return cy, cx, steps, "length"


def _angle_diff(a: float, b: float) -> float:
    d = (a - b) % (2 * math.pi)
    return min(d, 2 * math.pi - d)


def extract(p: Processed, max_minutiae: int = 120) -> list[tuple[float, float, float, str, float]]:
    """Minutiae as (x, y, direction, type, quality 0-1) at 500 dpi, y down, direction y up."""
    mask = p.mask
    binary = (p.enhanced < 0) & mask  # ridges are dark
    binary = cv2.morphologyEx(binary.astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8)).astype(bool)
    skel = skeletonize(binary)
    cn, _count = _crossing(skel)
    dist = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    period = p.period
    border = max(8.0, BORDER * period)
    ends = np.argwhere((cn == 1) & (dist > border))
    bifs = np.argwhere((cn == 3) & (dist > border))
    special = np.zeros_like(skel)
    for y, x in ends:
        special[y, x] = True
    for y, x in bifs:
        special[y, x] = True
    trace_len = int(round(1.1 * period))
    short = int(round(1.8 * period))
    h, w = skel.shape
    cands = []
    removed = set()
    # ridge endings
    for y, x in ends:
        y, x = int(y), int(x)
        nb = [(y + dy, x + dx) for dy, dx in _NB if 0 <= y + dy < h and 0 <= x + dx < w and skel[y + dy, x + dx]]
        if not nb:
            continue
        ey, ex, steps, stop = _trace(skel, y, x, nb[0], short, special)
        if stop == "special" or stop == "end":
            # short ridge (island), spur onto a bifurcation, or a fragment: drop both ends
            removed.add((y, x))
            if stop == "special":
                removed.add((ey, ex))
            continue
        ty, tx, _s, _st = _trace(skel, y, x, nb[0], trace_len, special)
        ang = math.atan2(-(y - ty), x - tx)  # from the ridge body out through the ending (y up)
        cands.append([x, y, ang, ENDING])
    # bifurcations
    for y, x in bifs:
        y, x = int(y), int(x)
        if (y, x) in removed:
            continue
        nb = [(y + dy, x + dx) for dy, dx in _NB if 0 <= y + dy < h and 0 <= x + dx < w and skel[y + dy, x + dx]]
        # keep one neighbour per branch (neighbours adjacent to each other belong to one branch)
        branches: list[tuple[int, int]] = []
        for q in nb:
            if all(abs(q[0] - b[0]) + abs(q[1] - b[1]) > 1 for b in branches):
                branches.append(q)
        if len(branches) != 3:
            continue
        angs = []
        bad = False
        for b in branches:
            ty, tx, steps, stop = _trace(skel, y, x, b, trace_len, special)
            if stop == "special" and steps < period * 0.8:
                bad = True  # two bifurcations close together: bridge or hole
                removed.add((ty, tx))
            angs.append(math.atan2(-(ty - y), tx - x))
        if bad:
            removed.add((y, x))
            continue
        # the two branches closest in angle form the fork; the third is the stem
        pairs = [(0, 1, 2), (0, 2, 1), (1, 2, 0)]
        i, j, k = min(pairs, key=lambda t: _angle_diff(angs[t[0]], angs[t[1]]))
        cands.append([x, y, angs[k], BIFURCATION])
    cands = [c for c in cands if (c[1], c[0]) not in removed]
    # refine the direction with the orientation field (keep the traced sense)
    for c in cands:
        th = -float(p.orientation[c[1], c[0]])  # y up
        a0 = th if _angle_diff(th, c[2]) < math.pi / 2 else th + math.pi
        if _angle_diff(a0, c[2]) < math.pi / 4:
            c[2] = a0 % (2 * math.pi)
        else:
            c[2] = c[2] % (2 * math.pi)
    # broken ridges: two endings close together, facing each other
    cands = _drop_pairs(cands, period)
    out = []
    for x, y, ang, typ in cands:
        coh = float(p.coherence[y, x])
        q = min(1.0, dist[y, x] / (4 * period)) * min(1.0, coh / 0.6)
        if coh < 0.15:
            continue
        out.append((float(x), float(y), float(ang), typ, q))
    out.sort(key=lambda m: -m[4])
    return out[:max_minutiae]


def _drop_pairs(cands: list, period: float) -> list:
    if len(cands) < 2:
        return cands
    xy = np.array([[c[0], c[1]] for c in cands], float)
    d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    drop = set()
    n = len(cands)
    for i in range(n):
        for j in range(i + 1, n):
            if d[i, j] > 1.6 * period:
                continue
            ci, cj = cands[i], cands[j]
            if d[i, j] < 0.5 * period:
                drop.update((i, j))  # clusters of minutiae are noise
            elif ci[3] == ENDING and cj[3] == ENDING and _angle_diff(ci[2], cj[2]) > 2.4:
                drop.update((i, j))  # broken ridge
    return [c for k, c in enumerate(cands) if k not in drop]
