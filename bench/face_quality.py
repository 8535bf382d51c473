"""Benchmark: face quality and liveness speed at the kiosk preview size, plus simulated PAD error rates.

* ``assess_quality_ms``: one ``assess_quality`` call on a 640x480 frame (a real still scaled into the
  frame), after a warm-up (the mesh graph loads once per process).
* ``liveness_frame_ms``: one ``LivenessSession.feed`` on 640x480 frames of a simulated bona fide
  sequence (face mesh in tracking mode + challenge logic + passive cues). The kiosk preview needs
  >= 15 frames/s, i.e. <= 66.7 ms per frame: ``liveness_fps`` and ``meets_15_fps``.
* ``pad``: BPCER / APCER per attack type from ``biometrics.face.evaluation._pad_eval`` on ``--pad-n``
  identities of lfw-dev - all sequences are *simulated* (see that module's docstring).

Run: ``.venv/bin/python -m bench.face_quality [--repeat 30] [--pad-n 6]`` (``--pad-n 0`` skips PAD).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from bench._util import emit, peak_rss_mb, summary, time_ms  # noqa: E402
from biometrics.face import LivenessSession, assess_quality  # noqa: E402
from biometrics.face._liveness import random_challenges  # noqa: E402
from biometrics.face._mesh import FaceMesher  # noqa: E402
from biometrics.face.evaluation._pad_eval import bona_fide_sequence, default_root, evaluate  # noqa: E402
from biometrics.face.sim import FaceRenderer, prepare_still  # noqa: E402


def _still(root: Path) -> np.ndarray:
    files = sorted(root.glob("*/*.jpg"))
    if not files:
        raise SystemExit(f"no face images under {root}")
    return prepare_still(cv2.cvtColor(cv2.imread(str(files[0])), cv2.COLOR_BGR2RGB))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--pad-n", type=int, default=6)
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    root = args.root or default_root()
    frame = _still(root)
    assess_quality(frame)  # warm-up: loads the mesh graph
    quality = summary(time_ms(lambda: assess_quality(frame), args.repeat))

    with FaceMesher() as m:
        renderer = FaceRenderer(frame, m.process(frame)[0])
    challenges = random_challenges(0)
    seq = bona_fide_sequence(frame, renderer, challenges, np.random.default_rng(0))
    session = LivenessSession(challenges)
    session.feed(seq.frames[0], -1.0)  # warm-up
    samples = []
    try:
        for f, t in zip(seq.frames, seq.timestamps, strict=True):
            samples.extend(time_ms(lambda f=f, t=t: session.feed(f, t), 1))
            if session.state.done:  # a finished session no longer runs the mesh
                break
    finally:
        session.close()
    live = summary(samples)
    result = {
        "liveness_passed": session.result().passed,
        "frame_size": [frame.shape[1], frame.shape[0]],
        "assess_quality_ms": quality,
        "liveness_frame_ms": live,
        "liveness_fps": round(1000.0 / live["median_ms"], 1),
        "meets_15_fps": live["median_ms"] <= 1000.0 / 15,
    }
    result["peak_rss_mb_before_pad"] = peak_rss_mb()  # quality + one liveness session
    if args.pad_n > 0:  # the evaluation keeps whole sequences in memory: it dominates the final peak
        result["pad"] = evaluate(root, n=args.pad_n, seed=1)
    emit("face_quality", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
