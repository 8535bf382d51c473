"""``smartborder demo``: the project's main job, run end to end on the embedded defaults."""

from __future__ import annotations

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the machine check as JSON.")
def demo(as_json: bool) -> None:
    """Check the machine, then run the demonstration stages that exist so far."""
    from smartborder.sim.demo import run_demo

    raise SystemExit(run_demo(as_json=as_json))
