"""Discrete-event simulation of the Bắc Luân I passenger hall, and sizing of its resources.

See ``flow/README.md`` for the model, its assumptions and sources. Typical use::

    from flow import load_scenario, simulate, size
    sc = load_scenario("flow/scenarios/bac_luan_typical.toml")
    day = simulate(sc, seed=1)            # day.summary is the JSON report
    best = size(sc, target_p95_wait_s=300)  # cheapest e-gate/booth/kiosk mix per hall
"""

from pathlib import Path

from ._layouts import compare_layouts, hall_travellers, joint_travellers, peak_queued, second_stop_travellers
from ._queueing import erlang_b, erlang_c, mm1_mean_wait, mmc_mean_wait, mmc_wait_quantile
from ._report import plot_result, render_report, render_sizing_report
from ._results import SimulationResult, simulate, wait_stats
from ._scenario import (
    DEFAULT_EGATE_COMPONENTS,
    LAYOUT_KINDS,
    Area,
    Category,
    Direction,
    Egate,
    GateBenchmarkError,
    Groups,
    InvalidValueError,
    Layout,
    MissingKeyError,
    Resources,
    Scenario,
    ScenarioError,
    ScenarioSyntaxError,
    Service,
    ShareSumError,
    UnknownKeyError,
    load_scenario,
    read_gate_benchmark,
    scenario_from_dict,
)
from ._sizing import CostWeights, Evaluation, SizingInfeasibleError, SizingResult, size, size_layouts
from ._travellers import Travellers, draw_travellers

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"

__all__ = [
    "DEFAULT_EGATE_COMPONENTS", "LAYOUT_KINDS", "SCENARIO_DIR", "Area", "Category", "CostWeights", "Direction", "Egate",
    "Evaluation", "GateBenchmarkError", "Groups", "InvalidValueError", "Layout", "MissingKeyError", "Resources",
    "Scenario", "ScenarioError", "ScenarioSyntaxError", "Service", "ShareSumError", "SimulationResult",
    "SizingInfeasibleError", "SizingResult", "Travellers", "UnknownKeyError", "compare_layouts", "draw_travellers",
    "erlang_b", "erlang_c", "hall_travellers", "joint_travellers", "load_scenario", "mm1_mean_wait", "mmc_mean_wait",
    "mmc_wait_quantile", "peak_queued", "plot_result", "read_gate_benchmark", "render_report", "render_sizing_report",
    "scenario_from_dict", "second_stop_travellers", "simulate", "size", "size_layouts", "wait_stats",
]
