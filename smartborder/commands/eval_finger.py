"""``smartborder eval finger``: FVC verification protocol on one set or every set below a root."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

KEYS = ("eer", "fmr100", "fmr1000", "zero_fmr", "genuine", "impostor", "ms_extract", "ms_match")


def _plot(curves: list[tuple[str, object, object]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    for name, fmr, fnmr in curves:
        ax.plot(fmr, fnmr, drawstyle="steps-post", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(1e-3, 1)
    ax.set_ylim(1e-3, 1)
    ax.set_xlabel("FMR")
    ax.set_ylabel("FNMR")
    ax.set_title("DET (FVC protocol)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


@click.command()
@click.option("--fvc", "fvc_dir", type=click.Path(exists=True, file_okay=False), help="FVC set (NNN_M.tif files).")
@click.option("--all", "root", type=click.Path(exists=True, file_okay=False), help="Run every FVC set below ROOT.")
@click.option("--dpi", default=500, show_default=True, type=int, help="Scanner resolution of the images.")
@click.option("--limit", default=None, type=int, help="Use only the first N fingers of each set.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--plot", "plot", type=click.Path(dir_okay=False), help="Write a DET plot (PNG).")
@click.option("--lodo", is_flag=True, help="Leave one database out (with --all): tune on the other sets, report on each.")
@click.option("--recapture", is_flag=True,
              help="Quality in the loop: replay each finger's impressions as an enrolment's captures, re-capturing below "
                   "the kiosk's quality threshold; report the failure-to-acquire rate beside the error rates.")
@click.option("--attempts", default=None, type=click.IntRange(min=1),
              help="Captures per finger before a failure to acquire (with --recapture; default: the enrolment policy's).")
@click.option("--pass-score", default=None, type=click.FloatRange(0, 100),
              help="Quality score a capture needs (with --recapture; default: the kiosk's PASS_SCORE).")
def finger(fvc_dir, root, dpi, limit, as_json, plot, lodo, recapture, attempts, pass_score) -> None:
    """Fingerprint verification on FVC sets: EER, FMR100, FMR1000, ZeroFMR, timings, DET plot;
    with --lodo, the leave-one-database-out figures (per held-out set, macro and worst); with
    --recapture, the figures with the kiosk's quality check and re-capture in the loop (EER and FTA)."""
    from biometrics.finger.evaluation import FvcDatasetError, det_curve, evaluate_fvc, find_fvc_sets

    if bool(fvc_dir) == bool(root):
        raise click.UsageError("give exactly one of --fvc DIR or --all ROOT")
    if lodo and not root:
        raise click.UsageError("--lodo needs --all ROOT (several FVC sets)")
    if lodo and recapture:
        raise click.UsageError("--lodo and --recapture are separate evaluations: run one at a time")
    if (attempts is not None or pass_score is not None) and not recapture:
        raise click.UsageError("--attempts and --pass-score go with --recapture")
    try:
        sets = [Path(fvc_dir)] if fvc_dir else find_fvc_sets(Path(root))
    except FvcDatasetError as e:
        raise click.ClickException(str(e)) from e
    if lodo:
        _lodo(sets, dpi, limit, as_json)
        return
    if recapture:
        _recapture(sets, dpi, limit, as_json, attempts, pass_score)
        return
    results, curves = [], []
    for d in sets:
        with click.progressbar(length=1, label=f"{d.name}", file=sys.stderr) as bar:

            def progress(it, bar=bar):
                items = list(it)
                bar.length = len(items)
                for x in items:
                    yield x
                    bar.update(1)

            try:
                r = evaluate_fvc(d, dpi=dpi, limit=limit, progress=progress)
            except FvcDatasetError as e:
                raise click.ClickException(str(e)) from e
        curves.append((r["dataset"], *det_curve(r.pop("_genuine_scores"), r.pop("_impostor_scores"))))
        results.append(r)
    out: dict = results[0] if len(results) == 1 else {"sets": results}
    if len(results) > 1:
        out["macro"] = {k: round(sum(r[k] for r in results) / len(results), 5) for k in ("eer", "fmr100", "fmr1000", "zero_fmr")}
        out["macro"]["sets"] = len(results)
        for k in KEYS:
            if k not in out["macro"]:
                vals = [r[k] for r in results if r[k] is not None]
                out["macro"][k] = round(sum(vals) / len(vals), 3) if vals else None
    if plot:
        _plot(curves, plot)
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    rows = results + ([{"dataset": "macro", **out["macro"]}] if len(results) > 1 else [])
    click.echo(f"{'set':<14}{'EER':>8}{'FMR100':>9}{'FMR1000':>9}{'ZeroFMR':>9}{'gen':>6}{'imp':>6}{'ms ext':>8}{'ms m':>7}")
    for r in rows:
        click.echo(
            f"{r['dataset']:<14}{100 * r['eer']:>7.2f}%{100 * r['fmr100']:>8.2f}%{100 * r['fmr1000']:>8.2f}%"
            f"{100 * r['zero_fmr']:>8.2f}%{r['genuine']:>6}{r['impostor']:>6}{r['ms_extract'] or 0:>8.1f}{r['ms_match'] or 0:>7.2f}"
        )


def _lodo(sets: list[Path], dpi: int, limit: int | None, as_json: bool) -> None:
    from biometrics.finger.evaluation import FvcDatasetError, FvcScores, default_candidates, lodo_fvc

    scorers, candidates = default_candidates()

    def progress(dataset: str, scorer: str):
        def wrap(it):
            items = list(it)
            with click.progressbar(items, label=f"{dataset} {scorer}", file=sys.stderr) as bar:
                yield from bar

        return wrap

    try:
        out = lodo_fvc(sets, FvcScores(scorers, dpi=dpi, limit=limit, progress=progress), candidates)
    except FvcDatasetError as e:
        raise click.ClickException(str(e)) from e
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    click.echo("leave one database out: each set's figures come from a method tuned on the other sets")
    click.echo(f"{'held-out set':<14}{'method':<24}{'EER':>8}{'FMR100':>9}{'FMR1000':>9}{'ZeroFMR':>9}{'train EER':>11}"
               f"{'ms ext':>8}{'ms m':>7}")
    for r in out["sets"]:
        click.echo(
            f"{r['dataset']:<14}{r['method']:<24}{100 * r['eer']:>7.2f}%{100 * r['fmr100']:>8.2f}%{100 * r['fmr1000']:>8.2f}%"
            f"{100 * r['zero_fmr']:>8.2f}%{100 * r['train_eer_mean']:>10.2f}%{r['ms_extract'] or 0:>8.1f}{r['ms_match'] or 0:>7.2f}"
        )
    m = out["macro"]
    click.echo(f"{'macro':<14}{'':<24}{100 * m['eer']:>7.2f}%{100 * m['fmr100']:>8.2f}%{100 * m['fmr1000']:>8.2f}%{100 * m['zero_fmr']:>8.2f}%")
    click.echo(f"{'worst':<14}{out['worst']['dataset']:<24}{100 * out['worst']['eer']:>7.2f}%")


def _recapture(sets: list[Path], dpi: int, limit: int | None, as_json: bool, attempts: int | None,
               pass_score: float | None) -> None:
    from biometrics.finger.evaluation import FvcDatasetError, evaluate_fvc_recapture
    from enrollment import Policy

    attempts = attempts or Policy().max_finger_attempts
    rows = []
    for d in sets:
        def progress(it, name=d.name):
            items = list(it)
            with click.progressbar(items, label=name, file=sys.stderr) as bar:
                yield from bar

        try:
            rows.append(evaluate_fvc_recapture(d, attempts=attempts, pass_score=pass_score, dpi=dpi, limit=limit,
                                               progress=progress))
        except FvcDatasetError as e:
            raise click.ClickException(str(e)) from e
    finished = sum(r["acquisitions"] for r in rows)
    acquired = [r["acquired"] for r in rows if r["acquired"]]
    out = {"protocol": "FVC, each finger's impressions replayed as captures; below the quality threshold the kiosk "
                       "asks again, up to the attempts, then fails to acquire",
           "attempts": attempts, "pass_score": rows[0]["pass_score"] if rows else pass_score, "sets": rows,
           "macro": {"eer_acquired": round(sum(a["eer"] for a in acquired) / len(acquired), 5) if acquired else None,
                     "eer_all": round(sum(r["all"]["eer"] for r in rows) / len(rows), 5) if rows else None,
                     "fta": round(sum(r["failed_acquisitions"] for r in rows) / finished, 5) if finished else None,
                     "recapture_rate": round(sum(r["captures"] * (r["recapture_rate"] or 0) for r in rows)
                                             / max(1, sum(r["captures"] for r in rows)), 5),
                     "sets": len(rows)}}
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"quality in the loop: pass score {out['pass_score']}, {attempts} captures per acquisition")
    click.echo(f"{'set':<14}{'EER acq.':>9}{'EER all':>9}{'FTA':>8}{'recapt.':>9}{'acq.':>6}{'failed':>7}{'gen':>6}{'imp':>6}")
    for r in rows:
        a = r["acquired"] or {}
        eer = f"{100 * a['eer']:>8.2f}%" if a else f"{'-':>9}"
        click.echo(f"{r['dataset']:<14}{eer}{100 * r['all']['eer']:>8.2f}%{100 * (r['fta'] or 0):>7.2f}%"
                   f"{100 * (r['recapture_rate'] or 0):>8.2f}%{r['acquisitions']:>6}{r['failed_acquisitions']:>7}"
                   f"{a.get('genuine', 0):>6}{a.get('impostor', 0):>6}")
    m = out["macro"]
    eer = f"{100 * m['eer_acquired']:>8.2f}%" if m["eer_acquired"] is not None else f"{'-':>9}"
    click.echo(f"{'macro':<14}{eer}{100 * (m['eer_all'] or 0):>8.2f}%{100 * (m['fta'] or 0):>7.2f}%"
               f"{100 * m['recapture_rate']:>8.2f}%")
