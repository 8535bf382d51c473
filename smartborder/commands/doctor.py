"""``smartborder doctor``: is this machine ready to run the system?"""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.option("--skip-models", is_flag=True, help="Do not hash the model files (faster).")
def doctor(as_json: bool, skip_models: bool) -> None:
    """Check offline that dependencies import, models match their sha256, and the CJK font,
    pcscd and the virtual reader are available; list the fingerprint scanners libfprint finds and the page
    readers (serial ports, keyboards) with whether the configured one is present.
    Exits 1 when any check fails."""
    from smartborder._doctor import failed, run_checks

    checks = run_checks(skip_models=skip_models)
    bad = failed(checks)
    if as_json:
        click.echo(json.dumps({"ok": not bad, "checks": [c.to_dict() for c in checks]}, indent=2))
    else:
        width = max(len(c.name) for c in checks)
        mark = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
        group = None
        for c in checks:
            if c.group != group:
                group = c.group
                click.echo(f"\n[{group}]")
            click.echo(f"  {mark[c.status]}  {c.name:<{width}}  {c.detail}")
        click.echo(f"\n{len(checks) - len(bad)}/{len(checks)} checks passed" + (f", {len(bad)} failed" if bad else ""))
    if bad:
        raise SystemExit(1)
