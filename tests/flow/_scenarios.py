"""Small scenarios for fast tests (built as dicts, the same structure as the TOML files)."""

from __future__ import annotations

import copy
import functools

import flow


def mmc_dict(servers: int, lam_per_s: float, mean_service_s: float, hours: int = 13) -> dict:
    """A single-queue M/M/c hall: Poisson arrivals at a flat rate, every traveller enrolled and using
    an e-gate whose transaction is exponential (one component with cv = 1), no referrals, no assists."""
    per_day = lam_per_s * 3600 * hours
    return {
        "scenario": {"name": f"M/M/{servers}", "open": "07:00", "close": f"{7 + hours:02d}:00",
                     "travellers_per_day": per_day},
        "directions": {"entry": {"share": 1.0, "hourly_profile": [1.0] * hours}},
        "categories": {"x": {"egate": True, "document": "passport", "enrolled": 1.0, "booth_s": 30}},
        "mix": {"x": 1.0},
        "egate": {"walk_in_s": 0, "chip_read_passport_s": {"mean": mean_service_s, "cv": 1.0}, "capture_s": 0,
                  "walk_out_s": 0, "referral_rate": 0.0, "assist_rate": 0.0},
        "resources": {"egates": servers, "booths": 1, "kiosks": 0},
        "simulation": {"sample_interval_s": 5},
    }


def mmc(servers: int, lam_per_s: float, mean_service_s: float, hours: int = 13) -> flow.Scenario:
    return flow.scenario_from_dict(mmc_dict(servers, lam_per_s, mean_service_s, hours))


SMALL = {
    "scenario": {"name": "small hall", "open": "07:00", "close": "10:00", "travellers_per_day": 1500},
    "directions": {"exit": {"share": 0.5, "hourly_profile": [1, 2, 1]},
                   "entry": {"share": 0.5, "hourly_profile": [2, 1, 1]}},
    "categories": {
        "vn_passport": {"egate": True, "document": "passport", "enrolled": 0.9, "booth_s": {"mean": 40, "cv": 0.5}},
        "vn_id_card": {"egate": True, "document": "id_card", "enrolled": 0.8, "booth_s": {"mean": 35, "cv": 0.5}},
        "border_pass": {"egate": False, "booth_s": {"mean": 45, "cv": 0.5}},
    },
    "mix": {"vn_passport": 0.5, "vn_id_card": 0.3, "border_pass": 0.2},
    "groups": {"share": 0.2, "size_min": 20, "size_max": 45, "spread_s": 60,
               "mix": {"vn_passport": 0.4, "border_pass": 0.6}},
    "egate": {"referral_rate": 0.05, "assist_rate": 0.03, "gates_per_officer": 4},
    "booth": {"referral_s": {"mean": 80, "cv": 0.5}},
    "kiosk": {"uptake": 0.5, "enrol_s": {"mean": 90, "cv": 0.4}},
    "resources": {"egates": 3, "booths": 3, "kiosks": 1},
}


def small_dict() -> dict:
    return copy.deepcopy(SMALL)


def small() -> flow.Scenario:
    return flow.scenario_from_dict(small_dict())


def light() -> flow.Scenario:
    """``small`` at 600 travellers a day: cheap enough to size both layouts."""
    d = small_dict()
    d["scenario"]["travellers_per_day"] = 600
    return flow.scenario_from_dict(d)


_SIZE_LAYOUTS = flow.size_layouts   # the real one, should a test replace flow.size_layouts
LIGHT_LAYOUTS_ARGS = {"target": 60.0, "seed": 3, "max_egates": 4, "max_booths": 6, "max_kiosks": 2}


@functools.cache
def light_layouts() -> dict:
    """``flow.size_layouts`` of :func:`light` at ``LIGHT_LAYOUTS_ARGS``, computed once for the session
    (callers must not change it)."""
    a = LIGHT_LAYOUTS_ARGS
    return _SIZE_LAYOUTS(light(), a["target"], seed=a["seed"], max_egates=a["max_egates"],
                             max_booths=a["max_booths"], max_kiosks=a["max_kiosks"])
