"""dlib's face ResNet: dlib's own forward pass vs our ONNX conversion on onnxruntime, outputs and speed, one core.

    .venv/bin/python -m bench.face_resnet_onnx [--data ../shared/data] [--chips 50] [--repeat 20]

Chips are cut the production way (``detect_faces`` + ``face_chip``) from every k-th lfw-dev image until
``--chips`` faces are found; each chip and its mirror (the flip test-time augmentation) are compared:
max absolute difference and min cosine between dlib's ``compute_face_descriptor`` and
``biometrics.face._resnet_onnx.descriptors``. Then both are timed on one core (CPU 0) for batches of
1, 2 (chip + mirror, what one template costs) and 4 chips. Build the ONNX first:
``python -m models.build_dlib_resnet_onnx``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from bench._util import emit, summary, time_ms  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def real_chips(root: Path, n: int) -> list[np.ndarray]:
    """Up to ``n`` aligned 150x150 chips from lfw-dev images spread over the identities (deterministic)."""
    from biometrics.face import FaceError, detect_faces, face_chip, load_image

    files = sorted(root.glob("*/*.jpg"))
    step = max(1, len(files) // (2 * n))
    chips = []
    for f in files[::step]:
        try:
            image = load_image(f)
            dets = detect_faces(image)
        except FaceError:
            continue
        if dets:
            chips.append(face_chip(image, max(dets, key=lambda d: d.width * d.height)))
        if len(chips) >= n:
            break
    return chips


def compare(ref: np.ndarray, out: np.ndarray) -> dict[str, float]:
    cos = (ref * out).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(out, axis=1))
    return {"max_abs_diff": float(np.abs(ref - out).max()), "min_cosine": float(cos.min()),
            "max_euclidean": float(np.linalg.norm(ref - out, axis=1).max())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--chips", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args(argv)
    root = args.data / "faces" / "lfw-dev"
    if not root.is_dir():
        print(f"bench.face_resnet_onnx: {root} is absent", file=sys.stderr)
        return 2
    os.sched_setaffinity(0, {0})

    import dlib

    from biometrics.face._resnet_onnx import descriptors, resnet_onnx_model_path
    from models import model_path

    chips = real_chips(root, args.chips)
    mirrored = [np.ascontiguousarray(c[:, ::-1]) for c in chips]
    net = dlib.face_recognition_model_v1(str(model_path("dlib_face_recognition_resnet")))

    def dlib_desc(batch: list[np.ndarray]) -> np.ndarray:
        return np.asarray([np.asarray(v) for v in net.compute_face_descriptor(batch)], dtype=np.float32)

    result: dict = {"model": str(resnet_onnx_model_path().relative_to(REPO)), "chips": len(chips),
                    "agreement": {"plain": compare(dlib_desc(chips), descriptors(chips)),
                                  "mirrored": compare(dlib_desc(mirrored), descriptors(mirrored))}}
    timings: dict = {}
    for n in (1, 2, 4):
        batch = [chips[0], mirrored[0]] if n == 2 else chips[:n]
        dlib_desc(batch), descriptors(batch)  # warm-up (model load, allocations)
        dt, ot = [], []
        for _ in range(args.repeat):  # interleaved, so background load hits both alike
            dt += time_ms(lambda b=batch: dlib_desc(b), 1)
            ot += time_ms(lambda b=batch: descriptors(b), 1)
        d, o = summary(dt), summary(ot)
        timings[f"batch_{n}"] = {"dlib": d, "onnx": o, "speedup_median": round(d["median_ms"] / o["median_ms"], 2)}
    result["timing_one_core"] = timings
    result["note"] = "batch_2 = one chip and its mirror (one flip-augmented template)"
    emit("face_resnet_onnx", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
