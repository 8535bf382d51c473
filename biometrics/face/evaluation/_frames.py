"""Per-image template sets for the cross-validated calibration (``_cv``), cached on disk.

For every image a ``pairs.txt`` names, three kinds of template (each the 384 values ``_eval._ours``
makes: dlib flip-averaged, SFace flip-averaged as a reference, SFace plain as a live probe):

- ``plain``: the photo as it is;
- ``chip``: the photo stored as a DG2 (ICAO crop 480x600, JPEG 2000 <= 20 KB) and decoded;
- ``frames``: ``FRAMES - 1`` simulated live frames made from the photo (frame 0 is the photo itself).

What a simulated frame is: the same photograph under small perturbations a gate camera's consecutive
frames show (a rotation of up to 4 degrees, scale 0.94-1.06, a shift of up to 4 px, exposure and
contrast 0.85-1.15, sensor noise sigma 1-4, a focus blur sigma 0-1.2 px, JPEG quality 70-92). It is
*not* a new pose, expression or illumination of the person: the frames are far more alike than two
visits, so multi-frame gains measured this way are an upper bound on what frames of one video can add
to one photo, and no measure of what a second photo of the person adds. Each frame's quality is its
detector confidence and its chip's sharpness (variance of the Laplacian).
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np

__all__ = ["FRAMES", "simulated_frames", "build_template_sets", "merge_template_sets", "load_template_sets"]

FRAMES = 4
_VERSION = 1


def simulated_frames(image: np.ndarray, count: int, seed: int) -> list[np.ndarray]:
    """``count`` perturbed copies of an RGB image (see the module text); deterministic per seed."""
    import cv2

    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    out = []
    for _ in range(count):
        angle, scale = rng.uniform(-4, 4), rng.uniform(0.94, 1.06)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
        m[:, 2] += rng.uniform(-4, 4, size=2)
        f = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        f = f.astype(np.float32)
        gain, contrast = rng.uniform(0.85, 1.15), rng.uniform(0.85, 1.15)
        f = (f - f.mean()) * contrast + f.mean() * gain
        blur = rng.uniform(0, 1.2)
        if blur > 0.3:
            f = cv2.GaussianBlur(f, (0, 0), blur)
        f = f + rng.normal(0, rng.uniform(1, 4), size=f.shape)
        f = np.clip(f, 0, 255).astype(np.uint8)
        ok, enc = cv2.imencode(".jpg", f[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(70, 93))])
        out.append(np.ascontiguousarray(cv2.imdecode(enc, cv2.IMREAD_COLOR)[:, :, ::-1]) if ok else f)
    return out


def _template_and_quality(image: np.ndarray) -> tuple[np.ndarray | None, float, float]:
    """(384 values as ``_eval._ours`` makes them, detector confidence, chip sharpness) or (None, 0, 0)."""
    import cv2

    from .._align import face_chip
    from .._detect import MIN_INTER_EYE_DISTANCE, FaceError, detect_faces
    from .._sface import sface_embedding_sets
    from .._template import templates_from_chips
    from ._eval import _central

    try:
        face = _central(detect_faces(image), image.shape)
        if face is None or face.inter_eye_distance < MIN_INTER_EYE_DISTANCE:
            return None, 0.0, 0.0
        chip = face_chip(image, face)
        dlib = templates_from_chips([chip])[0].vector
        plain, both = sface_embedding_sets([(image, face)])
    except FaceError:
        return None, 0.0, 0.0
    sharp = float(cv2.Laplacian(cv2.cvtColor(np.ascontiguousarray(chip), cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())
    return np.concatenate([dlib, both[0], plain[0]]).astype(np.float32), float(face.score), sharp


def build_template_sets(root: Path, *, frames: int = FRAMES, progress: bool = True,
                        shard: tuple[int, int] = (0, 1)) -> dict:
    """Template sets of every image ``root/pairs.txt`` names (NaN rows = failure to acquire); ``shard``
    = (i, n) makes only every n-th image from the i-th (two processes, then :func:`merge_template_sets`)."""
    from .._detect import FaceError, load_image
    from ._eval import Workspace, _dg2_portrait, read_dataset, read_lfw_pairs

    root = Path(root)
    data = read_dataset(root / "labels.csv", root)
    pairs = read_lfw_pairs(root / "pairs.txt", data)
    used = np.unique(np.concatenate([pairs.genuine.ravel(), pairs.impostor.ravel()]))
    n = len(data.files)
    out = {"version": _VERSION, "frames": frames, "files": data.files, "identities": data.identities,
           "used": used, "genuine": pairs.genuine, "impostor": pairs.impostor, "source": pairs.source,
           "plain": np.full((n, 384), np.nan, np.float32), "chip": np.full((n, 384), np.nan, np.float32),
           "live": np.full((n, frames, 384), np.nan, np.float32), "quality": np.zeros((n, frames, 2), np.float32)}
    work = Workspace()
    for step, k in enumerate(used[shard[0]::shard[1]]):
        file = data.files[k]
        try:
            image = load_image(root / file)
        except FaceError:
            continue
        vec, score, sharp = _template_and_quality(image)
        if vec is not None:
            out["plain"][k] = vec
            out["live"][k, 0] = vec
            out["quality"][k, 0] = (score, sharp)
        try:
            portrait = _dg2_portrait(work, file, image)
        except FaceError:
            portrait = None
        if portrait is not None:
            cvec, _, _ = _template_and_quality(portrait)
            if cvec is not None:
                out["chip"][k] = cvec
        for j, frame in enumerate(simulated_frames(image, frames - 1, seed=int(k)), start=1):
            fvec, score, sharp = _template_and_quality(frame)
            if fvec is not None:
                out["live"][k, j] = fvec
                out["quality"][k, j] = (score, sharp)
        if progress and step % 50 == 0:
            print(f"templates {step}/{len(used)}", file=sys.stderr, flush=True)
    return out


def merge_template_sets(parts: list[dict]) -> dict:
    """One set from shards of one data set (each row from the shard that made it)."""
    out = dict(parts[0])
    for key in ("plain", "chip", "live", "quality"):
        out[key] = out[key].copy()
    for part in parts[1:]:
        for key in ("plain", "chip", "live"):
            take = ~np.isnan(part[key]).all(axis=-1) & np.isnan(out[key]).all(axis=-1)
            out[key][take] = part[key][take]
        take = (part["quality"] != 0).any(axis=-1) & (out["quality"] == 0).all(axis=-1)
        out["quality"][take] = part["quality"][take]
    return out


def load_template_sets(root: Path, cache: Path | None, *, progress: bool = True) -> dict:
    """The template sets from ``cache`` when it holds this data set's, else built (and saved there)."""
    if cache is not None and Path(cache).exists():
        with Path(cache).open("rb") as f:
            sets = pickle.load(f)  # noqa: S301 - our own cache file
        if sets.get("version") == _VERSION:
            return sets
    sets = build_template_sets(root, progress=progress)
    if cache is not None:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        with Path(cache).open("wb") as f:
            pickle.dump(sets, f)
    return sets


if __name__ == "__main__":  # pragma: no cover - python -m ... ROOT OUT [SHARD COUNT]
    _shard = (int(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) > 4 else (0, 1)
    with Path(sys.argv[2]).open("wb") as _f:
        pickle.dump(build_template_sets(Path(sys.argv[1]), shard=_shard), _f)
