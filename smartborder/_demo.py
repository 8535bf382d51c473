"""The end-to-end demonstration. Stage 1 (this foundation): the machine check.

Later stages (virtual passports, kiosk enrolment, gate decisions, back office review, purge,
ledger verification) are added as their packages land; see docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import json

import click

from smartborder._doctor import failed, run_checks


def run_demo(*, as_json: bool = False) -> int:
    checks = run_checks()
    bad = failed(checks)
    if as_json:
        click.echo(json.dumps({"stage": "doctor", "ok": not bad, "checks": [c.to_dict() for c in checks]},
                              indent=2))
    else:
        click.echo("Smart border demo — stage 1: machine check")
        for c in checks:
            if c.status != "ok" or c.group == "model":
                click.echo(f"  {c.status:<4}  {c.group:<10} {c.name:<32} {c.detail}")
        click.echo(f"{len(checks) - len(bad)}/{len(checks)} checks passed")
    return 1 if bad else 0
