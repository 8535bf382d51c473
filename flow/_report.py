"""Markdown reports and PNG plots (matplotlib, Agg backend) of simulations and sizing runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._results import SimulationResult
from ._sim import RESOURCE_TYPES, ROUTE_NAMES
from ._sizing import SizingResult


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.1f}"
    return str(v)


def _wait_table(rows: dict[str, dict], title: str) -> list[str]:
    out = [f"| {title} | n | mean s | p50 s | p95 s | max s |", "|---|---:|---:|---:|---:|---:|"]
    for name, s in rows.items():
        out.append(f"| {name} | {s['n']} | {_fmt(s['mean'])} | {_fmt(s['p50'])} | {_fmt(s['p95'])} | {_fmt(s['max'])} |")
    return out


def render_report(result: SimulationResult) -> str:
    """A Markdown report of one simulated day."""
    s = result.summary
    sc = result.scenario
    r = s["resources_per_hall"]
    lines = [f"# {s['scenario']}", ""]
    if sc.description:
        lines += [sc.description, ""]
    lines += [
        f"Seed {s['seed']}; hall open {s['open']}–{s['close']}; {s['travellers']} travellers "
        f"({', '.join(f'{k} {v}' for k, v in s['by_direction'].items())}); {s['coach_groups']} coach groups.",
        "",
        f"Per hall: {r['egates']} e-gates ({r['active_egates']} open under {r['officers']} supervising officers), "
        f"{r['booths']} booths, {r['kiosks']} kiosks. E-gate transaction mean "
        f"{s['egate_mean_s']['passport']:.1f} s (passport), {s['egate_mean_s']['id_card']:.1f} s (ID card); "
        f"component times from {s['egate_time_source']}.",
        "",
    ]
    o = s["wait_s"]["overall"]
    lines += [f"**Waiting time** p50 {_fmt(o['p50'])} s, p95 {_fmt(o['p95'])} s, max {_fmt(o['max'])} s."]
    if "target" in s:
        t = s["target"]
        lines += [f"Target p95 ≤ {t['p95_wait_s']:g} s: **{'met' if t['met'] else 'NOT met'}**."]
    lines += ["", "## Waiting time", ""]
    lines += _wait_table({"overall": o}, "stream")
    lines += [""] + _wait_table(s["wait_s"]["by_direction"], "direction")
    lines += [""] + _wait_table(s["wait_s"]["by_category"], "category")
    lines += [""] + _wait_table(s["wait_s"]["by_route"], "route")
    lines += [""] + _wait_table(s["wait_s"]["by_resource"], "queue")
    lines += ["", "## Throughput per hour", "", "| hour | arrivals | departures | via e-gate | via booth | referrals |",
              "|---|---:|---:|---:|---:|---:|"]
    for h in s["throughput_per_hour"]:
        lines.append(f"| {h['hour']} | {h['arrivals']} | {h['departures']} | {h['egate']} | {h['booth']} | {h['referrals']} |")
    lines += ["", "## Utilisation (busy time / capacity, opening to last departure)", "",
              "| resource | utilisation |", "|---|---:|"]
    for k, v in s["utilisation"].items():
        lines.append(f"| {k} | {'–' if v is None else f'{100 * v:.1f} %'} |")
    ref = s["referrals"]
    lines += ["", f"**Referrals** from gates to booths: {ref['count']} ({100 * ref['rate']:.1f} % of gate users). "
              f"**Kiosk enrolments**: {s['kiosk_enrolments']}. Last traveller left at {s['last_departure']} "
              f"({s['drain_after_close_s']:.0f} s after closing).", ""]
    if "layouts" in s:
        lines += _layouts_table(s["layouts"])
    if sc.sources:
        lines += ["## Sources", ""] + [f"- {src}" for src in sc.sources] + [""]
    return "\n".join(lines)


def _layouts_table(layouts: dict[str, dict]) -> list[str]:
    out = ["## Layouts (same arrivals)", "",
           "Queue time: the sum of a traveller's queues (both stops for two-stop). Gates, booths and kiosks: "
           "totals over halls and stops. Area: gates, booths and kiosks times their m², plus the peak number "
           "queueing (sampled) times m² per queued traveller, per hall and stop.", "",
           "| layout | p95 queue s | e-gates | booths | kiosks | peak queue | area m² |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    for kind, v in layouts.items():
        out.append(f"| {kind} | {_fmt(v['p95_queue_s'])} | {v['gates']} | {v['booths']} | {v['kiosks']} | "
                   f"{v['peak_queued']} | {v['area_m2']:.0f} |")
    return [*out, ""]


def render_sizing_report(sizing: SizingResult) -> str:
    d = sizing.to_dict()
    m = d["mix_per_hall"]
    lines = [f"# Sizing: {d['scenario']}", "",
             f"Target: p95 wait ≤ {d['target_p95_wait_s']:g} s ({d['criterion'].replace('_', ' ')}) "
             f"over seeds {d['seeds']}.", "",
             f"**Per hall: {m['egates']} e-gates, {m['booths']} booths, {m['kiosks']} kiosks, "
             f"{m['officers']} supervising officers** (p95 {d['p95_wait_s']:.1f} s, cost {d['cost']:g}).", "",
             "One fewer of each resource:", "", "| resource removed | p95 s | meets target |", "|---|---:|---|"]
    for k, e in d["one_fewer"].items():
        lines.append(f"| {k} | {e['p95_wait_s']:.1f} | {'yes' if e['met'] else 'no'} |")
    lines += ["", f"Cost weights: {d['cost_weights']}.", "", "## Mixes simulated", "",
              "| e-gates | booths | kiosks | officers | p95 s | met | cost |", "|---:|---:|---:|---:|---:|---|---:|"]
    for e in d["evaluations"]:
        lines.append(f"| {e['egates']} | {e['booths']} | {e['kiosks']} | {e['officers']} | {e['p95_wait_s']:.1f} | "
                     f"{'yes' if e['met'] else 'no'} | {e['cost']:g} |")
    return "\n".join(lines) + "\n"


def plot_result(result: SimulationResult, path: str | Path, target_p95_wait_s: float | None = None) -> Path:
    """Four panels: arrivals/departures per hour, queue lengths over the day, wait CDF per route,
    utilisation per resource type. Written as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = result.summary
    raw = result.raw
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    ax = axes[0][0]
    hours = [h["hour"] for h in s["throughput_per_hour"]]
    x = np.arange(len(hours))
    ax.bar(x - 0.2, [h["arrivals"] for h in s["throughput_per_hour"]], 0.4, label="arrivals")
    ax.bar(x + 0.2, [h["departures"] for h in s["throughput_per_hour"]], 0.4, label="departures")
    ax.set_xticks(x, hours, rotation=45, fontsize=8)
    ax.set_ylabel("travellers / hour (both halls)")
    ax.set_title("Arrivals and throughput per hour")
    ax.legend()

    ax = axes[0][1]
    hrs = raw.sample_t / 3600.0
    for k in ("egate", "booth", "kiosk"):
        q = sum(h[k] for h in raw.queue_len)
        if np.any(q):
            ax.plot(hrs, q, label=f"{k} queue")
    ax.set_xlabel("hour of day")
    ax.set_ylabel("travellers queueing (both halls)")
    ax.set_title("Queue lengths")
    ax.legend()

    ax = axes[1][0]
    wait = result.wait
    for i, name in enumerate(ROUTE_NAMES):
        w = np.sort(wait[raw.route == i])
        if len(w):
            ax.plot(w / 60.0, np.arange(1, len(w) + 1) / len(w), label=f"{name} ({len(w)})")
    w = np.sort(wait)
    if len(w):
        ax.plot(w / 60.0, np.arange(1, len(w) + 1) / len(w), "k--", label="all")
    ax.axhline(0.95, color="grey", lw=0.8)
    target = target_p95_wait_s if target_p95_wait_s is not None else s.get("target", {}).get("p95_wait_s")
    if target is not None:
        ax.axvline(target / 60.0, color="red", lw=0.8, label=f"target {target:g} s")
    ax.set_xlabel("waiting time (min)")
    ax.set_ylabel("share of travellers")
    ax.set_title(f"Waiting time CDF (p95 {s['wait_s']['overall']['p95']:.0f} s)")
    ax.legend(fontsize=8)

    ax = axes[1][1]
    util = [(k, s["utilisation"][k]) for k in RESOURCE_TYPES if s["utilisation"][k] is not None]
    ax.bar([k for k, _ in util], [100 * v for _, v in util])
    ax.set_ylim(0, 100)
    ax.set_ylabel("utilisation %")
    ax.set_title("Utilisation per resource type")
    fig.suptitle(f"{s['scenario']} (seed {s['seed']})")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
