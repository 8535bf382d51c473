"""``smartborder flow``: simulate the Bắc Luân I passenger hall and size its resources.

    smartborder flow simulate SCENARIO.toml [--seed N] [--json] [--plot out.png] [--report out.md]
                                            [--egates N] [--booths N] [--kiosks N] [--officers N]
                                            [--no-layouts]
    smartborder flow size SCENARIO.toml --target-p95-wait 300 [--seed N] [--replications R] [--json]
                                        [--criterion overall|every_route|every_category] [--layouts]
    smartborder flow scenarios

SCENARIO is a TOML path or the name of a bundled scenario (``bac_luan_typical``, ``bac_luan_tet_peak``).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

GATE_BENCH = "var/bench/gate_throughput.json"


def _load(scenario: str, gate_bench: str | None):
    import flow as flowlib

    path = Path(scenario)
    if not path.exists() and (flowlib.SCENARIO_DIR / f"{scenario}.toml").exists():
        path = flowlib.SCENARIO_DIR / f"{scenario}.toml"
    if not path.exists():
        raise click.ClickException(f"no scenario file {scenario!r} (bundled: {', '.join(_bundled())})")
    try:
        return flowlib.load_scenario(path, gate_benchmark=gate_bench or None)
    except flowlib.ScenarioError as e:
        raise click.ClickException(f"invalid scenario {path}: {e}") from e


def _bundled() -> list[str]:
    import flow as flowlib

    return sorted(p.stem for p in flowlib.SCENARIO_DIR.glob("*.toml"))


@click.group()
def flow() -> None:
    """Simulate and size the passenger hall (SimPy discrete-event model)."""


@flow.command()
@click.argument("scenario")
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed (same seed, same run).")
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="Write a PNG with four panels.")
@click.option("--report", type=click.Path(dir_okay=False), default=None, help="Write a Markdown report.")
@click.option("--egates", type=click.IntRange(min=0), default=None, help="Override e-gates per hall.")
@click.option("--booths", type=click.IntRange(min=0), default=None, help="Override manual booths per hall.")
@click.option("--kiosks", type=click.IntRange(min=0), default=None, help="Override enrolment kiosks per hall.")
@click.option("--officers", type=click.IntRange(min=0), default=None, help="Override supervising officers per hall.")
@click.option("--target-p95-wait", type=click.FloatRange(min=0), default=300.0, show_default=True,
              help="Service target (s) reported as met / not met.")
@click.option("--gate-bench", default=GATE_BENCH, show_default=True,
              help="Gate benchmark JSON whose component times replace the defaults when the file exists.")
@click.option("--layouts/--no-layouts", "layouts", default=True, show_default=True,
              help="Also report both layouts (two-stop, one-stop) at the scenario's counts on the same arrivals "
              "(two more simulated halls).")
def simulate(scenario, seed, as_json, plot, report, egates, booths, kiosks, officers, target_p95_wait,
             gate_bench, layouts) -> None:
    """Simulate one day of SCENARIO and report waits, throughput, utilisation and referrals."""
    import flow as flowlib

    sc = _load(scenario, gate_bench)
    overrides = {k: v for k, v in {"egates": egates, "booths": booths, "kiosks": kiosks, "officers": officers}.items()
                 if v is not None}
    if overrides:
        sc = sc.with_resources(**overrides)
    try:
        result = flowlib.simulate(sc, seed, target_p95_wait_s=target_p95_wait, layouts=layouts)
    except flowlib.ScenarioError as e:
        raise click.ClickException(str(e)) from e
    if plot:
        flowlib.plot_result(result, plot)
    if report:
        Path(report).parent.mkdir(parents=True, exist_ok=True)
        Path(report).write_text(flowlib.render_report(result), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(result.summary, indent=2, ensure_ascii=False))
        return
    s = result.summary
    o = s["wait_s"]["overall"]
    r = s["resources_per_hall"]
    click.echo(f"{s['scenario']} (seed {seed}): {s['travellers']} travellers, per hall {r['egates']} e-gates, "
               f"{r['booths']} booths, {r['kiosks']} kiosks, {r['officers']} officers")
    click.echo(f"wait p50 {o['p50']:.0f} s  p95 {o['p95']:.0f} s  max {o['max']:.0f} s  "
               f"(target p95 <= {target_p95_wait:g} s: {'met' if s['target']['met'] else 'NOT met'})")
    for name, st in s["wait_s"]["by_category"].items():
        if st["n"]:
            click.echo(f"  {name:<14} n={st['n']:<6} p50 {st['p50']:>7.0f} s  p95 {st['p95']:>7.0f} s")
    util = ", ".join(f"{k} {100 * v:.0f} %" for k, v in s["utilisation"].items() if v is not None)
    click.echo(f"utilisation: {util}; referrals {s['referrals']['count']}; kiosk enrolments "
               f"{s['kiosk_enrolments']}; last traveller out {s['last_departure']}")
    if layouts:
        _print_layouts(s)
    for path in (plot, report):
        if path:
            click.echo(f"wrote {path}")


def _print_layouts(s: dict) -> None:
    click.echo(f"layouts at the scenario's counts per hall (same arrivals; queue = sum of a traveller's queues; "
               f"area = gates, booths, kiosks and peak queue; this scenario: {s['layout']}; "
               f"'flow size --layouts' sizes both to the target):")
    for kind, lay in s["layouts"].items():
        click.echo(f"  {kind:<8} p95 queue {lay['p95_queue_s']:>6.0f} s  {lay['gates']} e-gates  {lay['booths']} booths "
                   f"({lay['booth_officers']} officers)  {lay['kiosks']} kiosks  peak queue {lay['peak_queued']}  "
                   f"area {lay['area_m2']:.0f} m²"
                   + ("" if "target_met" not in lay else f"  target {'met' if lay['target_met'] else 'NOT met'}"))
    for kind, lay in s["layouts"].items():
        if lay["overloaded"]:
            click.echo(f"  {kind}: OVERLOADED, the queue never clears (not empty once in the last hour before closing, "
                       f"and at closing still at least half its peak: arrivals exceed capacity, so its peak queue and area are a backlog, not meaningful); "
                       f"'flow size --layouts' finds the counts that meet the target")


@flow.command()
@click.argument("scenario")
@click.option("--target-p95-wait", type=click.FloatRange(min=0), default=300.0, show_default=True,
              help="Service target: p95 of the total queueing time per traveller (s).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--replications", default=1, show_default=True, type=click.IntRange(min=1),
              help="Days simulated per candidate (seeds seed..seed+R-1, waits pooled).")
@click.option("--max-egates", default=40, show_default=True, type=click.IntRange(min=0))
@click.option("--max-booths", default=40, show_default=True, type=click.IntRange(min=1))
@click.option("--max-kiosks", default=12, show_default=True, type=click.IntRange(min=0))
@click.option("--cost-egate", default=1.0, show_default=True, type=click.FloatRange(min=0))
@click.option("--cost-booth", default=3.0, show_default=True, type=click.FloatRange(min=0))
@click.option("--cost-kiosk", default=0.5, show_default=True, type=click.FloatRange(min=0))
@click.option("--cost-officer", default=3.0, show_default=True, type=click.FloatRange(min=0))
@click.option("--criterion", type=click.Choice(["overall", "every_route", "every_category"]), default="overall",
              show_default=True, help="Whose p95 must meet the target: all travellers together, or each route "
              "(e-gate, kiosk, booth) / each traveller category separately.")
@click.option("--layouts", "layouts", is_flag=True,
              help="Size both layouts (two-stop: the sum of both stops' queues; one-stop: the joint hall) to "
              "the target and report their p95 queue, gates, booths and area beside each other.")
@click.option("--json", "as_json", is_flag=True, help="Print the sizing result as JSON.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="PNG of the chosen mix's day.")
@click.option("--report", type=click.Path(dir_okay=False), default=None, help="Write a Markdown report.")
@click.option("--gate-bench", default=GATE_BENCH, show_default=True)
def size(scenario, target_p95_wait, seed, replications, max_egates, max_booths, max_kiosks, cost_egate, cost_booth,
         cost_kiosk, cost_officer, criterion, layouts, as_json, plot, report, gate_bench) -> None:
    """Find the cheapest e-gate/booth/kiosk mix per hall meeting the p95 wait target."""
    import flow as flowlib

    sc = _load(scenario, gate_bench)
    weights = flowlib.CostWeights(cost_egate, cost_booth, cost_kiosk, cost_officer)
    if layouts:
        given = [name for name, value in (("--plot", plot), ("--report", report)) if value]
        if given:
            raise click.UsageError(f"{' and '.join(given)} cannot be used with --layouts (it writes neither)")
        _size_layouts(sc, target_p95_wait, seed=seed, replications=replications, max_egates=max_egates,
                      max_booths=max_booths, max_kiosks=max_kiosks, weights=weights, criterion=criterion,
                      as_json=as_json)
        return
    try:
        result = flowlib.size(sc, target_p95_wait, seed=seed, replications=replications, max_egates=max_egates,
                              max_booths=max_booths, max_kiosks=max_kiosks, weights=weights, criterion=criterion)
    except flowlib.ScenarioError as e:
        raise click.ClickException(str(e)) from e
    if plot:
        flowlib.plot_result(result.results[0], plot, target_p95_wait_s=target_p95_wait)
    if report:
        Path(report).parent.mkdir(parents=True, exist_ok=True)
        Path(report).write_text(flowlib.render_sizing_report(result) + "\n"
                                + flowlib.render_report(result.results[0]), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        return
    d = result.to_dict()
    m = d["mix_per_hall"]
    click.echo(f"{d['scenario']}: per hall {m['egates']} e-gates, {m['booths']} booths, {m['kiosks']} kiosks, "
               f"{m['officers']} supervising officers -> p95 wait {d['p95_wait_s']:.0f} s "
               f"(target {target_p95_wait:g} s), cost {d['cost']:g}")
    for k, e in d["one_fewer"].items():
        click.echo(f"  one fewer {k[:-1]}: p95 {e['p95_wait_s']:.0f} s ({'meets' if e['met'] else 'misses'} the target)")
    click.echo(f"{len(d['evaluations'])} mixes simulated")


def _size_layouts(sc, target: float, *, as_json: bool, **kwargs) -> None:
    import flow as flowlib

    try:
        result = flowlib.size_layouts(sc, target, **kwargs)
    except flowlib.ScenarioError as e:
        raise click.ClickException(str(e)) from e
    if as_json:
        click.echo(json.dumps({"scenario": sc.name, "target_p95_wait_s": target, "seed": kwargs["seed"],
                               "layouts": result}, indent=2, ensure_ascii=False))
        return
    click.echo(f"{sc.name}: both layouts sized to p95 queue <= {target:g} s (same arrivals; queue = sum of a "
               f"traveller's queues; area = gates, booths, kiosks and peak queue)")
    for kind, lay in result.items():
        h = lay["per_hall"]
        click.echo(f"  {kind:<8} per hall {h['gates']} e-gates, {h['booths']} booths, {h['kiosks']} kiosks -> "
                   f"{lay['gates']} e-gates, {lay['booths']} booths ({lay['booth_officers']} officers), "
                   f"{lay['kiosks']} kiosks in all; "
                   f"p95 queue {lay['p95_queue_s']:.0f} s; peak queue {lay['peak_queued']}; area {lay['area_m2']:.0f} m²")


@flow.command()
def scenarios() -> None:
    """List the bundled scenarios."""
    import flow as flowlib

    for name in _bundled():
        sc = flowlib.load_scenario(flowlib.SCENARIO_DIR / f"{name}.toml")
        click.echo(f"{name:<22} {sc.name} ({sc.travellers_per_day:,.0f} travellers/day)")
