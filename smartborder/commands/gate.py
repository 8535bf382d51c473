"""``smartborder gate``: run an e-gate on real devices or on a simulation directory."""

from __future__ import annotations

import json
import sys

import click


@click.group()
def gate() -> None:
    """The e-gate controller."""


@gate.command()
@click.option("--sim", "sim_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Simulation directory (travellers.json, docs/, trust/): simulated reader, camera and door.")
@click.option("--trust", "trust_path", type=click.Path(exists=True), default=None,
              help="CSCA certificates / CRLs / Master Lists (file or directory); default: SIM/trust.")
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
              help="The gate's local database (default: in memory for --sim, var/gate.db otherwise).")
@click.option("--backoffice", "backoffice_url", default=None, help="Back-office base URL (e.g. http://127.0.0.1:8400).")
@click.option("--token", envvar="SMARTBORDER_GATE_TOKEN", default=None, help="Device token (or SMARTBORDER_GATE_TOKEN).")
@click.option("--gate-id", default="gate-01", show_default=True)
@click.option("--direction", type=click.Choice(["entry", "exit"]), default="entry", show_default=True)
@click.option("--camera", "camera_index", type=int, default=0, show_default=True, help="OpenCV camera index (real gate).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line per traveller.")
def run(sim_dir, trust_path, db_path, backoffice_url, token, gate_id, direction, camera_index, as_json) -> None:
    """Serve travellers: document -> chip -> face -> fingerprints -> watchlist -> door or referral."""
    import emrtd
    from smartborder._gate_sim import SimError, build_rig, load_sim, run_sim, seed_watchlist

    if sim_dir is None:
        from smartborder._gate_real import run_real_gate

        run_real_gate(trust_path=trust_path, db_path=db_path or "var/gate.db", backoffice_url=backoffice_url,
                      token=token, gate_id=gate_id, direction=direction, camera_index=camera_index)
        return
    try:
        travellers = load_sim(sim_dir)
        trust = emrtd.TrustStore.from_path(trust_path or f"{sim_dir}/trust")
    except (SimError, emrtd.TrustError, OSError) as e:
        raise click.ClickException(str(e)) from e
    rig = build_rig(trust=trust, db_path=db_path, gate_id=gate_id, backoffice_url=backoffice_url, token=token,
                    direction=direction)
    if rig.client is None:
        try:
            seeded = seed_watchlist(rig, sim_dir)
        except SimError as e:
            raise click.ClickException(str(e)) from e
        click.echo(f"no back office: watchlist copy seeded from {sim_dir}/watchlist.json ({seeded} entries)"
                   if seeded else "no back office and no watchlist.json: the copy is empty and stale", err=True)
    else:
        rig.sync()

    def show(t, r):
        if as_json:
            click.echo(json.dumps({"id": t.id, "outcome": str(r.decision.outcome),
                                   "reasons": [str(x) for x in r.decision.reasons], "timings_ms": r.timings_ms}))
        else:
            click.echo(f"{t.id:<12} {str(r.decision.outcome):<6} {', '.join(map(str, r.decision.reasons)) or '-'}")

    results = run_sim(rig, travellers, on_result=show)
    if rig.client is not None:
        report = rig.sync()
        click.echo(f"sync: pending={report.pending} reachable={report.reachable}", err=True)
    bad = [r["id"] for r in results if not r["as_expected"]]
    if bad:
        click.echo(f"not as expected: {', '.join(bad)}", err=True)
        sys.exit(1)
