"""``smartborder gate``: run an e-gate on real devices or on a simulation directory; export its witness.

    smartborder gate run [--sim DIR] ...
    smartborder gate witness [--db PATH] [--out FILE]   the signed ledger heads it kept (JSON list)

Both runs build the gate with the one composition (:mod:`smartborder.compose.gate`) from the settings
(``--config`` / ``SMARTBORDER_CONFIG``, section ``[gate]``); options override single settings.
"""

from __future__ import annotations

import json
import logging
import sys

import click


def _show(as_json: bool):
    def show(tid: str, r) -> None:
        if as_json:
            click.echo(json.dumps({"id": tid, "outcome": str(r.decision.outcome),
                                   "reasons": [str(x) for x in r.decision.reasons], "timings_ms": r.timings_ms,
                                   "checks": r.decision.to_dict()["checks"]}))
        else:
            click.echo(f"{tid:<12} {str(r.decision.outcome):<6} {', '.join(map(str, r.decision.reasons)) or '-'}")
    return show


@click.group()
def gate() -> None:
    """The e-gate controller."""


@gate.command()
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The gate's TOML file (default: SMARTBORDER_CONFIG); settings under [gate].")
@click.option("--sim", "sim_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Simulation directory (travellers.json, docs/, trust/, gate.toml): simulated reader, camera, "
                   "scanner and door; everything else as deployed.")
@click.option("--offline", is_flag=True, help="With --sim: no back office at all (the gate's watchlist copy is "
              "seeded from DIR/watchlist.json; fingerprint checks cannot be made).")
@click.option("--trust", "trust_path", type=click.Path(exists=True), default=None,
              help="CSCA certificates / CRLs / Master Lists (file or directory); default: [gate] trust, or SIM/trust.")
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
              help="The gate's local database (default: in memory for --sim, [gate] db or DATA_DIR/gate.db otherwise).")
@click.option("--backoffice", "backoffice_url", default=None, help="Back-office base URL (e.g. http://127.0.0.1:8400).")
@click.option("--token", envvar="SMARTBORDER_GATE_TOKEN", default=None, help="Device token (or SMARTBORDER_GATE_TOKEN).")
@click.option("--gate-id", default=None, help="The gate's id ([gate] id).")
@click.option("--direction", type=click.Choice(["entry", "exit"]), default=None)
@click.option("--camera", default=None, help="Face camera: OpenCV device index or a video file ([gate] camera).")
@click.option("--page-camera", default=None, help="The page reader's camera for the MRZ: index or file ([gate] page_camera).")
@click.option("--door-port", default=None, help="The door controller's serial port or pyserial URL ([gate] door_port).")
@click.option("--reader", "reader_name", default=None, help="PC/SC reader name prefix (default: the first reader).")
@click.option("--finger-dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Fingerprint images standing in for a scanner ([gate] finger_dir, env = dev; a real lane uses "
              "[gate] scanner = libfprint).")
@click.option("--max-travellers", type=int, default=None, help="Stop after this many travellers (real devices).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line per traveller.")
def run(config_path, sim_dir, offline, trust_path, db_path, backoffice_url, token, gate_id, direction, camera,
        page_camera, door_port, reader_name, finger_dir, max_travellers, as_json) -> None:
    """Serve travellers: document -> chip -> face -> fingerprints -> watchlist -> door or referral."""
    from smartborder.compose.gate import GateConfigError
    from smartborder.settings import SettingsError, load_settings

    overrides = dict(trust_path=trust_path, db_path=db_path, backoffice_url=backoffice_url, token=token,
                     gate_id=gate_id, direction=direction, camera=camera, page_camera=page_camera,
                     door_port=door_port, reader=reader_name, finger_dir=finger_dir)
    try:
        if sim_dir is not None:
            ok = _run_sim(sim_dir, offline, overrides, as_json)
            if not ok:
                sys.exit(1)
            return
        settings = load_settings(config_path)
        _run_real(settings, overrides, max_travellers, as_json)
    except (SettingsError, GateConfigError) as e:
        raise click.ClickException(str(e)) from e


def _run_real(settings, overrides, max_travellers, as_json) -> None:
    from smartborder._logging import configure_logging
    from smartborder.compose.gate import build_gate, gate_config, real_devices, serve

    configure_logging(logging.INFO)  # the one logging configuration (smartborder._logging)
    config = gate_config(settings, **overrides)
    gate = build_gate(config, real_devices(config))
    show = _show(as_json)
    try:
        serve(gate, max_travellers=max_travellers, on_result=lambda r: show(r.transaction_id, r))
    finally:
        gate.close()


def _run_sim(sim_dir, offline, overrides, as_json) -> bool:
    from smartborder.compose.gate import build_gate
    from smartborder.sim.backoffice import SimBackoffice
    from smartborder.sim.gate import SimError, SimStage, load_sim, run_sim, seed_watchlist, sim_config

    try:
        travellers = load_sim(sim_dir)
    except SimError as e:
        raise click.ClickException(str(e)) from e
    backoffice = None
    if not offline and not overrides.get("backoffice_url"):
        backoffice = SimBackoffice().__enter__()
        try:
            counts = backoffice.seed(sim_dir)
        except (ValueError, OSError) as e:
            backoffice.close()
            raise click.ClickException(str(e)) from e
        click.echo(f"back office on {backoffice.url} (loopback), seeded from {sim_dir}: "
                   f"{counts['watchlist']} watchlist entries, {counts['enrolments']} enrolments", err=True)
        overrides = {**overrides, "backoffice_url": backoffice.url, "token": backoffice.gate_token}
    try:
        config = sim_config(sim_dir, **overrides)
        stage = SimStage()
        gate = build_gate(config, stage.devices())
        try:
            if gate.client is None:
                seeded = seed_watchlist(gate.store, sim_dir)
                click.echo(f"offline: watchlist copy seeded from {sim_dir}/watchlist.json ({seeded} entries)"
                           if seeded else "offline and no watchlist.json: the copy is empty and stale", err=True)
            else:
                gate.sync()
            show = _show(as_json)
            results = run_sim(gate, stage, travellers, on_result=lambda t, r: show(t.id, r))
            if gate.client is not None:
                report = gate.sync()
                click.echo(f"sync: pending={report.pending} reachable={report.reachable}", err=True)
        finally:
            gate.close()
    except SimError as e:
        raise click.ClickException(str(e)) from e
    finally:
        if backoffice is not None:
            backoffice.close()
    bad = [r["id"] for r in results if not r["as_expected"]]
    if bad:
        click.echo(f"not as expected: {', '.join(bad)}", err=True)
    return not bad


def write_witness(db_path, out, device: str) -> None:
    """Print (or write to ``out``) every witness head a device's database keeps, as one JSON list (oldest
    received first; each head's five fields, ``received_at`` and, for a conflicting one, ``conflict``)."""

    from devicelink import OutboxError, stored_ledger_heads

    try:
        kept = stored_ledger_heads(db_path)
    except OutboxError as e:
        raise click.ClickException(str(e)) from e
    if not kept:
        raise click.ClickException(f"{db_path} keeps no ledger head yet: the {device} has had no answer from the "
                                   "back office since it keeps one")
    text = json.dumps([k.to_dict() for k in kept], indent=2) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    from storage import open_private

    with open_private(out, encoding="utf-8") as f:
        f.write(text)
    top = max(k.head.seq for k in kept)
    conflicts = sum(1 for k in kept if k.conflict)
    click.echo(f"{len(kept)} witness head(s) up to ledger entry {top} written to {out}"
               + (f"; {conflicts} conflicting (kept as evidence: the ledger went back or was rewritten)"
                  if conflicts else ""), err=True)


@gate.command()
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The gate's TOML file (default: SMARTBORDER_CONFIG); settings under [gate].")
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
              help="The gate's local database (default: [gate] db or DATA_DIR/gate.db).")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write the JSON here (default: print it).")
def witness(config_path, db_path, out) -> None:
    """Every signed ledger head this gate kept from the back office's answers (a JSON list: its witness
    history), for an auditor's ``smartborder privacy verify-ledger --witness FILE``. Reads the database only;
    needs no key."""
    if db_path is None:
        from smartborder.settings import SettingsError, load_paths

        try:
            settings = load_paths(config_path)  # the paths only: an auditor needs no secret for this
        except SettingsError as e:
            raise click.ClickException(str(e)) from e
        db_path = settings.gate_db or settings.path("gate.db")  # as smartborder.compose.gate.gate_config
    write_witness(db_path, out, "gate")
