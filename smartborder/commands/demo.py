"""``smartborder demo``: the project's main job, run end to end on the embedded defaults."""

from __future__ import annotations

import logging

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the machine check as JSON.")
@click.option("--verbose", is_flag=True,
              help="Also show the log: the project's INFO lines and warnings (e.g. the demo gate's relaxations) "
              "and the libraries' own lines (mediapipe, TensorFlow Lite).")
def demo(as_json: bool, verbose: bool) -> None:
    """Check the machine, then run the demonstration stages that exist so far."""
    from smartborder._logging import configure_logging

    configure_logging(logging.INFO if verbose else logging.ERROR, verbose=verbose)
    from smartborder.sim.demo import run_demo

    raise SystemExit(run_demo(as_json=as_json))
