"""Passive PAD benchmark: per-frame cost of PassiveLivenessSession.feed and the simulated ISO/IEC 30107-3 figures.

    .venv/bin/python -m bench.pad [--data ../shared/data] [--n 40] [--cache var/pad_passive.npz]

Per-frame time: a simulated traveller standing at the reader (one LFW still re-rendered, 60 frames at
15 fps) fed frame by frame; the session meshes every frame and runs the moire cue and the texture model
on every third (the gate's budget is ~67 ms a frame at 15 fps). Timings on one core. The parts
(mesh, moire, texture features + model) are timed separately on the same frames.

PAD figures: ``biometrics.face.evaluation._pad_passive`` cross-validation (train and calibrate on one
identity-disjoint half, report on the other, both ways). With ``--cache`` (made by its ``render``
command) the recorded presentations are used; otherwise ``--n`` identities are rendered here (slow:
~3 s an identity). All attacks are simulated (see that module's doc).
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from bench._util import emit, summary  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def _frames(data: Path, n: int = 60) -> list[np.ndarray]:
    import cv2

    from biometrics.face._mesh import FaceMesher
    from biometrics.face.sim import FaceRenderer, camera_profile, prepare_still

    img = cv2.imread(str(data / "faces" / "misc" / "openface" / "carell.jpg"))
    still = prepare_still(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    rng = np.random.default_rng(0)
    with FaceMesher() as m:
        r = FaceRenderer(still, m.process(still)[0])
    cam = camera_profile(rng)
    return [cam(r.render(2.5 * math.sin(i / 6), 1.5 * math.sin(i / 8)), rng) for i in range(n)]


def per_frame(frames: list[np.ndarray]) -> dict:
    from biometrics.face import PassiveLivenessSession
    from biometrics.face._liveness import moire_peak
    from biometrics.face._mesh import FaceMesher
    from biometrics.face._pad_texture import features, load_texture_model

    model = load_texture_model()
    with PassiveLivenessSession() as s:
        s.feed(frames[0], 0.0)  # graph start-up is not a frame's cost
        feed = []
        for i, f in enumerate(frames[1:], 1):
            t0 = time.perf_counter()
            res = s.feed(f, i / 15)
            feed.append((time.perf_counter() - t0) * 1000)
    mesh_ms, moire_ms, tex_ms = [], [], []
    with FaceMesher(static=False, max_faces=2) as m:
        m.process(frames[0])
        for f in frames[1:]:
            t0 = time.perf_counter()
            faces = m.process(f)
            t1 = time.perf_counter()
            mo = moire_peak(f, faces[0])
            t2 = time.perf_counter()
            model.logit(features(f, faces[0], mo))
            t3 = time.perf_counter()
            mesh_ms.append((t1 - t0) * 1000)
            moire_ms.append((t2 - t1) * 1000)
            tex_ms.append((t3 - t2) * 1000)
    return {"feed": summary(feed), "mesh": summary(mesh_ms), "moire": summary(moire_ms),
            "texture_features_and_model": summary(tex_ms), "budget_ms_at_15fps": round(1000 / 15, 1),
            "decision_after_60_frames": res.decision, "score": res.score}


def main(argv: list[str] | None = None) -> int:
    from biometrics.face.evaluation import _pad_passive as pp

    ap = argparse.ArgumentParser(prog="python -m bench.pad", description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--cache", type=Path, default=None)
    args = ap.parse_args(argv)
    out: dict = {"per_frame": per_frame(_frames(args.data))}
    if args.cache is not None and args.cache.is_file():
        data = pp.load_cache(args.cache)
    else:
        data = pp.render_presentations(args.data / "faces" / "lfw-dev", args.n, seed=7)
    out["n_presentations"] = len(data["rows"])
    out["pad"] = pp.cross_validate(data)
    emit("pad", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
