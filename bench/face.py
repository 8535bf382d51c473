"""Face engine benchmark: detector choice, per-step latency, peak RSS and the calibrated figures.

    .venv/bin/python -m bench.face [--data ../shared/data] [--n 400] [--cnn 40]

Detection rate = share of images where the detector finds a face at the centre of the image (the
labelled person of LFW), on lfw-dev (every k-th image, ``--n`` of them) and on chip-like photos
made from the same images: the 480x600 ICAO crop as JPEG 2000 <= 20 KB (DG2), and a small
240x300 JPEG 2000 <= 6 KB (old passports and ID cards). Timings are on one core.
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from bench._util import emit, summary, time_ms  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def _central_hit(faces, shape) -> bool:
    h, w = shape[:2]
    return any(abs(f.center[0] - w / 2) < 0.2 * w and abs(f.center[1] - h / 2) < 0.25 * h for f in faces)


def _images(root: Path, n: int) -> list[tuple[str, np.ndarray]]:
    from biometrics.face import load_image

    with (root / "labels.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    step = max(1, len(rows) // n)
    return [(r["identity"], load_image(root / r["file"])) for r in rows[::step][:n]]


def _chip_like(images, width, height, max_bytes):
    from biometrics.face import (
        MultipleFacesError,
        decode_reference_dg2_image,
        detect_faces,
        encode_reference_dg2_image,
    )

    out = []
    for _, im in images:
        faces = detect_faces(im, detector="mtcnn")
        h, w = im.shape[:2]
        faces = sorted(faces, key=lambda d: np.hypot(d.center[0] - w / 2, d.center[1] - h / 2))
        if not faces:
            continue
        try:
            data = encode_reference_dg2_image(im, faces[0], width=width, height=height, max_bytes=max_bytes)
        except MultipleFacesError:  # pragma: no cover
            continue
        out.append(decode_reference_dg2_image(data))
    return out


def _rate(detector: str, images: list[np.ndarray]) -> dict:
    from biometrics.face import detect_faces

    detect_faces(images[0], detector=detector)  # load the model outside the timing
    hits, times = 0, []
    for im in images:
        t0 = time.perf_counter()
        found = detect_faces(im, detector=detector)
        times.append((time.perf_counter() - t0) * 1000)
        hits += _central_hit(found, im.shape)
    return {"n": len(images), "rate": round(hits / len(images), 4), "median_ms": summary(times)["median_ms"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--n", type=int, default=400, help="lfw-dev images for the detector comparison")
    parser.add_argument("--chips", type=int, default=100, help="chip-like photos per kind")
    parser.add_argument("--cnn", type=int, default=40, help="images for dlib's (slow) CNN detector")
    args = parser.parse_args()

    from biometrics.face import (
        THRESHOLDS,
        compare,
        detect_faces,
        detect_single_face,
        extract_template,
        verify,
    )
    from biometrics.face._align import face_chip
    from biometrics.face._template import templates_from_chips
    from biometrics.face.evaluation._calibration import CALIBRATION

    lfw = args.data / "faces" / "lfw-dev"
    images = _images(lfw, args.n)
    plain = [im for _, im in images]
    dg2 = _chip_like(images[:args.chips], 480, 600, 20_000)
    small = _chip_like(images[:args.chips], 240, 300, 6_000)
    detectors = {}
    for name in ("mtcnn", "hog", "mediapipe", "cnn"):
        k = args.cnn if name == "cnn" else len(plain)
        detectors[name] = {"lfw_dev": _rate(name, plain[:k]),
                           "dg2_480x600_20KB": _rate(name, dg2[:k]),
                           "chip_240x300_6KB": _rate(name, small[:k])}

    # Per-step latency on a 640x480 frame holding an LFW face (a live camera frame's size).
    frame = np.full((480, 640, 3), 128, dtype=np.uint8)
    frame[115:365, 195:445] = plain[0]
    det = detect_single_face(frame)
    chip = face_chip(frame, det)
    t_detect = time_ms(lambda: detect_faces(frame), 15)
    t_align = time_ms(lambda: face_chip(frame, det), 15)
    t_embed = time_ms(lambda: templates_from_chips([chip]), 15)
    t_embed_noflip = time_ms(lambda: templates_from_chips([chip], flip=False), 15)
    t_extract = time_ms(lambda: extract_template(frame, det), 15)
    a, b = extract_template(plain[0]), extract_template(plain[1])
    t_compare = time_ms(lambda: compare(a, b), 2000)
    reference = extract_template(dg2[0]) if dg2 else a
    t_verify = time_ms(lambda: verify(reference, [frame]), 15)
    t_verify5 = time_ms(lambda: verify(reference, [frame] * 5), 5)

    import face_recognition  # the baseline pipeline on the same frame: HOG (upsample 1), 128-D, distance

    ref_encoding = face_recognition.face_encodings(dg2[0] if dg2 else plain[0])[0]

    def baseline_verify():
        locs = face_recognition.face_locations(frame, number_of_times_to_upsample=1)
        enc = face_recognition.face_encodings(frame, locs[:1])
        return face_recognition.face_distance([ref_encoding], enc[0])[0] <= 0.6

    t_baseline = time_ms(baseline_verify, 15)

    emit("face", {
        "detectors": detectors,
        "chosen_detector": "mtcnn",
        "ms": {
            "detect_640x480": summary(t_detect),
            "align_chip": summary(t_align),
            "embed_flip": summary(t_embed),
            "embed_no_flip": summary(t_embed_noflip),
            "extract_template_given_detection": summary(t_extract),
            "compare": summary(t_compare),
            "verify_one_frame_vs_cached_template": summary(t_verify),
            "verify_five_frames_vs_cached_template": summary(t_verify5),
            "baseline_face_recognition_verify_one_frame": summary(t_baseline),
        },
        "thresholds": THRESHOLDS,
        "calibration": CALIBRATION,
    })


if __name__ == "__main__":
    main()
