"""``smartborder eval face``: 1:1 face verification measured in ISO/IEC 19795-1 terms."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.option("--lfw", "lfw", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="LFW-style folder: labels.csv (file,identity) and, if present, pairs.txt.")
@click.option("--labels", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="labels.csv (file,identity); paths relative to --root.")
@click.option("--root", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Image root (default: the folder of --labels).")
@click.option("--pairs", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="LFW-format pairs file (plus cross-identity impostors among its images).")
@click.option("--pairs-csv", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="CSV a,b,same: exactly these pairs (a = reference).")
@click.option("--protocol", type=click.Choice(["plain", "chip"]), default="plain", show_default=True,
              help="chip: the reference is stored like a passport DG2 (480x600 JPEG 2000 <= 20 KB).")
@click.option("--baseline", is_flag=True, help="Also run the plain face_recognition pipeline on the same pairs.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write a DET plot (PNG).")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on stderr.")
def face(lfw, labels, root, pairs, pairs_csv, protocol, baseline, as_json, plot, progress) -> None:
    """FTA, EER, FNMR at FMR 1 % / 0.1 % / 0.05 %, thresholds, genuine/impostor counts, ms per template."""
    from biometrics.face.evaluation import EvaluationError, evaluate, plot_det

    if lfw is not None:
        labels = labels or lfw / "labels.csv"
        root = root or lfw
        if pairs is None and pairs_csv is None and (lfw / "pairs.txt").exists():
            pairs = lfw / "pairs.txt"
    if labels is None:
        raise click.UsageError("give --lfw DIR or --labels labels.csv")
    try:
        report, systems = evaluate(labels, root, pairs=pairs, pairs_csv=pairs_csv, protocol=protocol,
                                   baseline=baseline, progress=progress)
    except EvaluationError as e:
        raise click.ClickException(str(e)) from e
    if plot is not None:
        plot_det(systems, plot, title=f"DET, {labels.parent.name}, protocol {protocol}")
        report["plot"] = str(plot)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"protocol {protocol}; {report['pairs']}")
    rows = [(f"smartborder ({report.get('models', 'dlib')})", report)]
    if report.get("models") == "dlib+sface":
        rows.append(("smartborder (dlib only)", {**report["dlib_only"], **{k: report[k] for k in
                                                 ("fta", "genuine", "impostor", "ms_per_template")}}))
    rows += [("face_recognition", report["baseline"])] if baseline else []
    for name, r in rows:
        fnmr = ", ".join(f"FMR {k}: {100 * v:.2f} %" for k, v in r["fnmr_at_fmr"].items())
        click.echo(f"{name}: FTA {100 * r['fta']:.2f} %, EER {100 * r['eer']:.2f} %, FNMR at {fnmr}; "
                   f"{r['genuine']} genuine / {r['impostor']} impostor comparisons; "
                   f"{r['ms_per_template']:.0f} ms per template")
    if plot is not None:
        click.echo(f"DET plot: {plot}")
