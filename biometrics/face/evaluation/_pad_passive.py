"""Passive PAD: training of the texture model, calibration of ``PASSIVE_THRESHOLDS``, and the evaluation
in ISO/IEC 30107-3 terms, over identity-disjoint halves of the development faces.

    python -m biometrics.face.evaluation._pad_passive render [--n 300] [--cache var/pad_passive.npz]
    python -m biometrics.face.evaluation._pad_passive train  [--cache ...] [--half A] [--out models/face_pad_texture.npz]
    python -m biometrics.face.evaluation._pad_passive evaluate [--cache ...] --json

Protocol. Identities of ``lfw-dev`` are split into halves A and B by a hash of their name. For each
identity, four ~1 s presentations (15 frames at 15 fps) are rendered as the gate sees a traveller standing
at the reader (see :mod:`biometrics.face.sim`; every frame through the same simulated camera chain):

* ``bona_fide``: the still re-rendered with a small head sway;
* ``print``: a print of the still (random paper, ink, halftone, gloss; flat or bent) held in front of a room;
* ``screen``: the still shown on a display (gamma, gamut, moire, sub-pixel stripes, reflection, bezel);
* ``replay``: the bona fide clip, recorded by another camera, played on a display.

Each presentation runs through :class:`~biometrics.face.PassiveLivenessSession` once (the texture model's
input features are recorded on the frames it samples); the texture model and the fused verdict are then
computed from the recording by the runtime's own code (``TextureModel``, ``_passive.verdict``).

Training and calibration use one half only: the model is fitted on it, the thresholds are set on its
*out-of-fold* scores (4 identity folds within the half), and the figures are reported on the other half;
then the halves swap. ``live_at_or_above`` is set just above the highest score of a calibration-half attack
that no veto (moire) already keeps from "live" (so that every calibration attack is referred), plus a
margin of 1 in logit; ``attack_below`` at the
1st percentile of the calibration half's bona fide scores.

Figures (``render --n 600 --seed 3``: the 497 lfw-dev identities whose first photo has one frontal face, 233 in
half A, 264 in B; 4 x 497 presentations): trained + calibrated on A, reported on B: APCER 0/264 for print, screen
and replay (95 % CI 0-1.4 %), BPCER 5/264 (0.6-4.4 %), bona fide live 91 %, doubt or unknown 7 %; on B -> A: APCER
0/233 each (0-1.6 %), BPCER 5/233 (0.7-4.9 %), bona fide live 89 %, doubt 9 %.
Frame by frame (:func:`prefix_decisions`: the verdict after every face frame 1-15, texture and moire replayed
from each sample, the geometric cues at their end values; ``apcer_any_prefix``: "live" at *any* face frame, as a
gate stopping at the first certain verdict may take it; ``apcer_any_prefix_bound``: the same by texture alone, no
veto, an upper bound): 0 for every attack type on both halves (A -> B 0/264 each, 95 % CI 0-1.4 %; B -> A 0/233
each, 0-1.6 %), by the replay and by the bound. This is what lets the gate take a "live" verdict at any frame up
to its ``passive_max_frames`` (12 <= 15). ``gate_rule`` replays the gate's rule on the bona fide (verdict at
frame 6; a doubt fed up to frame 12, stopping at the first "live" / "attack"): A -> B 240/264 live at frame 6,
244/264 at the stop, 13 doubt + 2 unknown challenged (5.7 %), BPCER 5/264; B -> A 202/233 live at 6, 208 at the
stop, 20 doubt challenged (8.6 %), BPCER 5/233. With the 78 training identities of the earlier ``--n 180``
render the same model and rule challenged 17.6 % A -> B: the training set's size, not the model, was the limit.
The shipped model and ``PASSIVE_THRESHOLDS`` are the A ones.

What this does not show: real prints, screens, cameras or skin. The bona fide "skin" is an upscaled web
JPEG; the attacks are our models of printing and display. A texture model trained on these renders
learns the simulation's effects, so the figures bound nothing about real attacks; they show the pipeline
works and that its decisions are calibrated on data other than what they are reported on.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from biometrics.face._mesh import FaceMesher
from biometrics.face._pad_texture import MOIRE_INDEX, N_FEATURES, TextureModel, features
from biometrics.face._passive import CUE_EVERY, MIN_FACE_FRAMES, PassiveLivenessSession, verdict
from biometrics.face.evaluation._pad_eval import clopper_pearson, default_root
from biometrics.face.sim import (
    FaceRenderer,
    camera_profile,
    prepare_still,
    print_attack_frame,
    print_photo,
    room_background,
    screen_frame,
    screen_profile,
)

__all__ = ["KINDS", "calibrate", "presentation_frames", "evaluate_half", "fit_logistic", "half_of", "render_presentations", "train"]

KINDS = ("bona_fide", "print", "screen", "replay")
ATTACK_KINDS = KINDS[1:]
FPS, N_FRAMES = 15.0, 15
LOGIT_MARGIN = 1.0
#: the gate's stopping rule (``gate.FaceStep`` defaults; a test pins that they agree): the verdict is taken after
#: ``passive_frames``; a "doubt" on the passive+challenge-on-doubt lane is fed more frames up to
#: ``passive_max_frames``, stopping at the first "live" or "attack"
GATE_PASSIVE_FRAMES, GATE_PASSIVE_MAX_FRAMES = 6, 12
DEFAULT_CACHE = Path(__file__).resolve().parents[3] / "var" / "pad_passive.npz"


def half_of(identity: str) -> str:
    return "A" if hashlib.sha256(identity.encode()).digest()[0] % 2 == 0 else "B"


class _Recorder:
    """Stands in for the texture model inside the session: records the features of the frames it is asked
    about (the same frames and moire values the runtime model would see)."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []

    def score(self, rgb: np.ndarray, face, moire: float | None = None) -> float:  # noqa: ANN001
        self.rows.append(features(rgb, face, moire))
        return 0.5


def presentation_frames(kind: str, still: np.ndarray, renderer: FaceRenderer, rng: np.random.Generator) -> list[np.ndarray]:
    """The 15 frames of one simulated presentation of ``kind`` (see the module doc)."""
    cam = camera_profile(rng)
    bg = room_background(rng)
    phase = rng.uniform(0, 2 * math.pi)
    sway = [(2.5 * math.sin(i / 6 + phase), 1.5 * math.sin(i / 8 + 2 * phase)) for i in range(N_FRAMES)]
    if kind == "bona_fide":
        return [cam(renderer.render(y, p, shift=(1.5 * math.sin(i / 7 + phase), 0.0)), rng)
                for i, (y, p) in enumerate(sway)]
    if kind == "print":
        photo = print_photo(still, rng)
        base = rng.uniform(-8, 8, size=3)
        bend = rng.uniform(20, 50) if rng.random() < 0.3 else 0.0
        scale = rng.uniform(0.85, 1.05)
        return [cam(print_attack_frame(photo, bg, yaw=base[0] + y, pitch=base[1] + p, roll=base[2],
                                       scale=scale, shift=tuple(rng.normal(0, 2.0, size=2)), bend=bend), rng)
                for y, p in sway]
    prof = screen_profile(rng, still.shape[:2])
    if kind == "screen":
        return [cam(screen_frame(still, bg, prof, i), rng) for i in range(N_FRAMES)]
    recorder_cam = camera_profile(rng)  # the attacker's recording of the bona fide person
    clip = [recorder_cam(renderer.render(y, p), rng) for y, p in sway]
    return [cam(screen_frame(f, bg, prof, i), rng) for i, f in enumerate(clip)]


def _stills(root: Path, n: int, rng: np.random.Generator) -> list[tuple[str, np.ndarray, object]]:
    people = sorted(p for p in root.iterdir() if p.is_dir())
    out = []
    with FaceMesher(static=True, max_faces=2, min_confidence=0.3) as mesher:
        for k in rng.permutation(len(people)):
            if len(out) >= n:
                break
            files = sorted(people[k].glob("*.jpg"))
            img = cv2.imread(str(files[0]), cv2.IMREAD_COLOR) if files else None
            if img is None:
                continue
            frame = prepare_still(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
            faces = mesher.process(frame)
            if len(faces) != 1 or abs(faces[0].pose.yaw) > 15 or abs(faces[0].pose.pitch) > 15:
                continue
            out.append((people[k].name, frame, faces[0]))
    return out


def render_presentations(root: Path, n: int, seed: int = 1, progress: bool = False) -> dict:
    """Render ``n`` identities' four presentations, run each through a session, keep what the verdict needs."""
    rng = np.random.default_rng(seed)
    stills = _stills(root, n, rng)
    rows: list[dict] = []
    feats: list[np.ndarray] = []
    t0, n_frames = time.perf_counter(), 0
    for j, (name, still, face) in enumerate(stills):
        renderer = FaceRenderer(still, face)
        for kind in KINDS:
            rec = _Recorder()
            with PassiveLivenessSession(texture=rec) as session:
                for i, frame in enumerate(presentation_frames(kind, still, renderer, rng)):
                    session.feed(frame, i / FPS)
                res = session.result()
            n_frames += res.n_frames
            rows.append({"identity": name, "half": half_of(name), "kind": kind, "n_frames": res.n_frames,
                         "n_face_frames": res.n_face_frames, "multiple": res.reasons == ("multiple_faces",),
                         "first": len(feats), "count": len(rec.rows),
                         **{k: v for k, v in res.cues.items() if k != "texture"}})
            feats.extend(rec.rows)
        if progress:
            print(f"\r{j + 1}/{len(stills)} identities", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    return {"rows": rows, "features": np.array(feats, np.float32).reshape(-1, N_FEATURES),
            "ms_per_frame": 1000 * (time.perf_counter() - t0) / max(1, n_frames)}


def save_cache(data: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, features=data["features"], rows=json.dumps(data["rows"]),
                        ms_per_frame=data["ms_per_frame"])


def load_cache(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return {"features": z["features"], "rows": json.loads(str(z["rows"])), "ms_per_frame": float(z["ms_per_frame"])}


# ------------------------------------------------------------------ model
def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 30) -> TextureModel:
    """L2-regularised logistic regression by Newton steps (IRLS), classes weighted to equal total weight."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    z = np.concatenate([(x - mean) / scale, np.ones((len(x), 1), np.float32)], axis=1).astype(np.float64)
    w_cls = np.where(y == 1, 0.5 / max(1, (y == 1).sum()), 0.5 / max(1, (y == 0).sum())) * len(y)
    beta = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -30, 30)))
        grad = z.T @ (w_cls * (p - y)) + reg * beta
        hess = (z * (w_cls * p * (1 - p))[:, None]).T @ z + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-6:
            break
    return TextureModel(mean.astype(np.float32), scale.astype(np.float32), beta[:-1].astype(np.float32), float(beta[-1]))


def _xy(data: dict, rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    idx = [np.arange(r["first"], r["first"] + r["count"]) for r in rows]
    ys = [np.full(r["count"], 1.0 if r["kind"] == "bona_fide" else 0.0) for r in rows]
    return data["features"][np.concatenate(idx)], np.concatenate(ys)


def train(data: dict, half: str) -> TextureModel:
    x, y = _xy(data, [r for r in data["rows"] if r["half"] == half])
    return fit_logistic(x, y)


def _result(data: dict, row: dict, model: TextureModel, thresholds: dict[str, float]):  # noqa: ANN202
    x = data["features"][row["first"]:row["first"] + row["count"]]
    texture = None
    if len(x):
        p = 1.0 / (1.0 + np.exp(-np.clip(model.logit(x), -60, 60)))
        texture = round(float(np.median(p)), 6)
    cues = {"texture": texture, "moire": row["moire"], "parallax": row["parallax"], "foreshortening": row["foreshortening"]}
    return verdict(cues, row["n_frames"], row["n_face_frames"], multiple_faces=row["multiple"], thresholds=thresholds)


def prefix_decisions(data: dict, row: dict, model: TextureModel, thresholds: dict[str, float],
                     limit: int | None = None) -> tuple[list[str], list[bool]]:
    """The verdict after each face frame ``nf`` = 1 .. ``limit`` (default: all) of a presentation, as a session fed
    frame by frame gives it, and an upper bound on "live" there.

    Replayed exactly: the texture and moire cues (the median of the samples taken by face frame nf, one every
    :data:`CUE_EVERY`-th face frame from the first; each sample's moire peak is in its recorded features). At
    their whole-presentation values (an approximation): the geometric cues and the second-person flag. The
    bound (``texture`` alone >= ``live_at_or_above`` once :data:`MIN_FACE_FRAMES` face frames are in) drops the
    moire veto, the geometric cues (each a factor <= 1 on the score) and the second-person flag, so that no
    prefix the runtime calls "live" escapes it, whatever those cues did before the end of the presentation."""
    x = data["features"][row["first"]:row["first"] + row["count"]]
    p = 1.0 / (1.0 + np.exp(-np.clip(model.logit(x), -60, 60))) if len(x) else np.zeros(0)
    moire = np.exp(x[:, MOIRE_INDEX].astype(np.float64)) if len(x) else np.zeros(0)
    n = row["n_face_frames"] if limit is None else min(row["n_face_frames"], limit)
    decisions, bound = [], []
    for nf in range(1, n + 1):
        k = min(len(p), (nf + CUE_EVERY - 1) // CUE_EVERY)
        texture = round(float(np.median(p[:k])), 6) if k else None
        cues = {"texture": texture, "moire": round(float(np.median(moire[:k])), 4) if k else None,
                "parallax": row["parallax"], "foreshortening": row["foreshortening"]}
        decisions.append(verdict(cues, nf, nf, multiple_faces=row["multiple"], thresholds=thresholds).decision)
        bound.append(texture is not None and nf >= MIN_FACE_FRAMES and texture >= thresholds["live_at_or_above"])
    return decisions, bound


def _prefix_live(data: dict, row: dict, model: TextureModel, thresholds: dict[str, float],
                 limit: int | None = None) -> int | None:
    """The first face frame (up to ``limit``) after which the replay says "live" (None: never)."""
    decisions, _ = prefix_decisions(data, row, model, thresholds, limit)
    return next((i + 1 for i, d in enumerate(decisions) if d == "live"), None)


def gate_stop(decisions: list[str], first: int = GATE_PASSIVE_FRAMES, last: int = GATE_PASSIVE_MAX_FRAMES) -> str:
    """What the gate's rule takes from a frame-by-frame verdict: the first "live" / "attack" from frame
    ``first`` on, else the verdict at ``last`` (or at the end of a shorter presentation)."""
    for d in decisions[first - 1:last]:
        if d in ("live", "attack"):
            return d
    return decisions[min(last, len(decisions)) - 1] if decisions else "unknown"


def _oof_scores(data: dict, half: str, folds: int = 4) -> list[tuple[str, float]]:
    rows = [r for r in data["rows"] if r["half"] == half]
    fold = {r["identity"]: int(hashlib.sha256(r["identity"].encode()).digest()[1]) % folds for r in rows}
    out = []
    for k in range(folds):
        fit_rows = [r for r in rows if fold[r["identity"]] != k and r["count"]]
        if not fit_rows or not any(fold[r["identity"]] == k for r in rows):
            continue  # too few identities for this fold
        model = fit_logistic(*_xy(data, fit_rows))
        for r in rows:
            if fold[r["identity"]] == k:
                # bands at 0: every decidable presentation is "live" unless a veto (moire) keeps it out
                res = _result(data, r, model, {"attack_below": 0.0, "live_at_or_above": 0.0})
                if res.decision == "live":
                    out.append((r["kind"], res.score))
    return out


def calibrate(data: dict, half: str) -> dict[str, float]:
    """Thresholds from ``half``'s out-of-fold scores (see the module doc)."""
    scores = _oof_scores(data, half)
    attack = [s for k, s in scores if k != "bona_fide"]
    bona = [s for k, s in scores if k == "bona_fide"]
    if not attack or not bona:
        raise ValueError(f"half {half}: too few decided presentations to calibrate ({len(bona)} bona fide, "
                         f"{len(attack)} attacks); render more identities")
    logit = lambda p: math.log(max(p, 1e-9) / max(1 - p, 1e-9))  # noqa: E731
    live = 1 / (1 + math.exp(-(logit(max(attack)) + LOGIT_MARGIN)))
    attack_below = min(float(np.percentile(bona, 1)), live)
    return {"attack_below": round(attack_below, 6), "live_at_or_above": round(min(live, 0.999999), 6)}


def evaluate_half(data: dict, half: str, model: TextureModel, thresholds: dict[str, float]) -> dict:
    """ISO/IEC 30107-3 figures on one half: APCER per attack type (decided "live"), BPCER (bona fide decided
    "attack"), and the shares of bona fide in each band."""
    rows = [r for r in data["rows"] if r["half"] == half]
    out: dict = {"half": half, "thresholds": thresholds, "apcer": {}, "apcer_ci95": {}, "n_attacks": {},
                 "attack_decisions": {}}
    for kind in ATTACK_KINDS:
        res = [_result(data, r, model, thresholds) for r in rows if r["kind"] == kind]
        k = sum(x.decision == "live" for x in res)
        out["n_attacks"][kind] = len(res)
        out["apcer"][kind] = round(k / len(res), 4) if res else None
        out["apcer_ci95"][kind] = clopper_pearson(k, len(res)) if res else None
        out["attack_decisions"][kind] = _count(x.decision for x in res)
        out.setdefault("attack_score_max", {})[kind] = max((x.score or 0.0 for x in res), default=None)
        # "live" at any face frame of the presentation (every prefix: a gate stopping at the first certain
        # verdict takes it wherever it comes), and the same by the bound that drops the vetoes
        replay = [prefix_decisions(data, r, model, thresholds) for r in rows if r["kind"] == kind]
        k_any = sum("live" in d for d, _ in replay)
        k_bound = sum(any(b) for _, b in replay)
        out.setdefault("apcer_any_prefix", {})[kind] = round(k_any / max(1, len(res)), 4)
        out.setdefault("apcer_any_prefix_ci95", {})[kind] = clopper_pearson(k_any, len(res)) if res else None
        out.setdefault("apcer_any_prefix_bound", {})[kind] = round(k_bound / max(1, len(res)), 4)
    bona_rows = [r for r in rows if r["kind"] == "bona_fide"]
    bona = [_result(data, r, model, thresholds) for r in bona_rows]
    first = [f for r in bona_rows if (f := _prefix_live(data, r, model, thresholds))]
    out["bona_fide_live_after_face_frames_median"] = float(np.median(first)) if first else None
    out["prefix_face_frames"] = max((r["n_face_frames"] for r in rows), default=0)
    # the gate's rule on the bona fide: at frame 6, and where it stops once a doubt is fed up to frame 12
    seqs = [prefix_decisions(data, r, model, thresholds)[0] for r in bona_rows]
    at_first = _count(gate_stop(d, GATE_PASSIVE_FRAMES, GATE_PASSIVE_FRAMES) for d in seqs)
    stop = _count(gate_stop(d) for d in seqs)
    out["gate_rule"] = {"passive_frames": GATE_PASSIVE_FRAMES, "passive_max_frames": GATE_PASSIVE_MAX_FRAMES,
                        "bona_fide_at_passive_frames": at_first, "bona_fide_at_stop": stop,
                        "bona_fide_live_after_doubt": stop.get("live", 0) - at_first.get("live", 0),
                        "bpcer": round(stop.get("attack", 0) / len(seqs), 4) if seqs else None,
                        "bpcer_ci95": clopper_pearson(stop.get("attack", 0), len(seqs)) if seqs else None,
                        "bona_fide_challenged_share": round(sum(v for d, v in stop.items() if d not in ("live", "attack"))
                                                            / len(seqs), 4) if seqs else None}
    n = len(bona)
    decisions = _count(x.decision for x in bona)
    rejected = decisions.get("attack", 0)
    out.update({"n_bona_fide": n, "bpcer": round(rejected / n, 4) if n else None,
                "bpcer_ci95": clopper_pearson(rejected, n) if n else None, "bona_fide_decisions": decisions,
                "bona_fide_live_share": round(decisions.get("live", 0) / n, 4) if n else None,
                "bona_fide_doubt_share": round((decisions.get("doubt", 0) + decisions.get("unknown", 0)) / n, 4) if n else None,
                "bona_fide_score_p05": round(float(np.percentile([x.score or 0.0 for x in bona], 5)), 4) if n else None})
    return out


def _count(items) -> dict[str, int]:  # noqa: ANN001
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


def cross_validate(data: dict) -> dict:
    """Train + calibrate on each half, report on the other."""
    out = {"standard": "ISO/IEC 30107-3 (APCER per attack type, BPCER)", "simulated": True,
           "frames_per_presentation": N_FRAMES, "ms_per_frame_session": round(data["ms_per_frame"], 2), "folds": []}
    for train_half, test_half in (("A", "B"), ("B", "A")):
        model = train(data, train_half)
        th = calibrate(data, train_half)
        fig = evaluate_half(data, test_half, model, th)
        fig["trained_and_calibrated_on"] = train_half
        out["folds"].append(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m biometrics.face.evaluation._pad_passive",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=("render", "train", "evaluate"))
    ap.add_argument("--root", type=Path, default=None)
    ap.add_argument("--n", type=int, default=300, help="identities (four presentations each)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--half", choices=("A", "B"), default="A", help="train: the half the shipped model is fitted on")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[3] / "models" / "face_pad_texture.npz")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.command == "render":
        root = args.root or default_root()
        if not root.is_dir():
            print(f"no face images at {root} (use --root)", file=sys.stderr)
            return 2
        data = render_presentations(root, args.n, args.seed, progress=not args.json)
        save_cache(data, args.cache)
        print(f"{len(data['rows'])} presentations, {len(data['features'])} sampled frames -> {args.cache}")
        return 0
    data = load_cache(args.cache)
    if args.command == "train":
        model = train(data, args.half)
        model.save(args.out)
        th = calibrate(data, args.half)
        print(json.dumps({"model": str(args.out), "half": args.half, "thresholds": th}))
        return 0
    res = cross_validate(data)
    json.dump(res, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
