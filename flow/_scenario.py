"""Scenario files (TOML): parsing, validation with named errors, and e-gate timing sources.

Every validation failure raises a subclass of :class:`ScenarioError` whose ``field`` is the dotted
path of the offending key (``egate.referral_rate``, ``mix``, ``directions.exit.hourly_profile``...).
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


class ScenarioError(ValueError):
    """A scenario file or value is invalid; ``field`` names the offending key (dotted path)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class ScenarioSyntaxError(ScenarioError):
    """The file is not readable TOML."""


class UnknownKeyError(ScenarioError):
    """A key the scenario format does not know (often a typo)."""


class MissingKeyError(ScenarioError):
    """A required key is absent."""


class InvalidValueError(ScenarioError):
    """A value has the wrong type or is out of range (negative rate, share above 1...)."""


class ShareSumError(ScenarioError):
    """Shares that must sum to 1 (traveller mix, direction shares) do not."""


class GateBenchmarkError(ScenarioError):
    """The gate benchmark JSON exists but cannot be read."""


# Built-in e-gate component times (seconds): together 8-12 s per traveller, the range reported for
# deployed ABC gates (Frontex ABC best-practice guidelines; Changi and Gongbei average 8-10 s).
DEFAULT_EGATE_COMPONENTS: dict[str, tuple[float, float]] = {
    "walk_in_s": (2.5, 0.3),            # approach, open the first leaf, place the document
    "chip_read_passport_s": (3.0, 0.3),  # PACE/BAC + DG1 + DG2 (~18 KB) + PA/AA/CA on a TD3 chip
    "chip_read_id_card_s": (2.5, 0.3),   # same on a TD1 chip ID card (smaller DG2)
    "capture_s": (2.5, 0.4),             # live face capture, quality loop, 1:1 match
    "walk_out_s": (2.0, 0.3),            # decision, exit leaf, walk out
}
DOCUMENT_TYPES = ("passport", "id_card", "none")
PATHS = ("egate", "booth", "kiosk")
LAYOUT_KINDS = ("two_stop", "one_stop")


@dataclass(frozen=True)
class Service:
    """A service time: gamma distributed with this mean (s) and coefficient of variation.

    ``cv = 1`` is exponential (the M/M/c case), ``cv = 0`` deterministic."""

    mean: float
    cv: float = 0.0

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.mean == 0 or self.cv == 0 or n == 0:
            return np.full(n, float(self.mean))
        shape = 1.0 / (self.cv * self.cv)
        return rng.gamma(shape, self.mean / shape, size=n)

    def to_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "cv": self.cv}


@dataclass(frozen=True)
class Category:
    name: str
    label: str
    egate: bool                 # may use an e-gate at all
    document: str               # passport | id_card | none (which chip-read time applies)
    enrolled: float             # share of eligible travellers already enrolled
    booth: Service              # manual booth time


@dataclass(frozen=True)
class Direction:
    name: str
    label: str
    share: float
    hourly_profile: tuple[float, ...]   # normalised, one weight per opening hour


@dataclass(frozen=True)
class Groups:
    share: float = 0.0          # share of all travellers arriving on tour coaches
    size_min: int = 20
    size_max: int = 45
    spread_s: float = 120.0     # members reach the hall uniformly within this time of the coach
    mix: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Egate:
    walk_in: Service
    chip_read_passport: Service
    chip_read_id_card: Service
    capture: Service
    walk_out: Service
    referral_rate: float = 0.04     # gate refers the traveller to a booth (no match, chip fault, hit)
    assist_rate: float = 0.03       # supervising officer must step in at the gate
    assist: Service = Service(30.0, 0.5)
    gates_per_officer: int = 5
    source: str = "defaults"

    def mean_time(self, document: str) -> float:
        chip = self.chip_read_id_card if document == "id_card" else self.chip_read_passport
        return self.walk_in.mean + chip.mean + self.capture.mean + self.walk_out.mean


@dataclass(frozen=True)
class Resources:
    """Per hall (each direction has its own hall with this mix)."""

    egates: int
    booths: int
    kiosks: int = 0
    officers: int | None = None     # None: ceil(egates / gates_per_officer)

    def officers_for(self, gates_per_officer: int) -> int:
        if self.officers is not None:
            return self.officers
        return math.ceil(self.egates / gates_per_officer) if self.egates else 0

    def active_egates(self, gates_per_officer: int) -> int:
        return min(self.egates, self.officers_for(gates_per_officer) * gates_per_officer)


@dataclass(frozen=True)
class Layout:
    """How the crossing is laid out (see flow/README.md, "Layouts").

    ``two_stop`` (today): Vietnamese and Chinese controls in series, each with its own queues and the
    scenario's resources per hall; the other side is modelled as a mirror of this one (same rules,
    same time distributions, independent draws). ``one_stop``: joint gates and booths, one queue; a
    joint e-gate reads the document and captures the face once and adds ``joint_egate_extra`` for the
    second side's decision; a joint booth (both officers) takes ``joint_booth_factor`` x one side's
    booth time; one kiosk enrolment serves both sides."""

    kind: str = "two_stop"
    transfer_s: float = 60.0                            # two-stop: walk from the first stop to the second
    joint_egate_extra: Service = Service(1.0, 0.5)      # one-stop: the second side's decision at a joint gate
    joint_booth_factor: float = 1.3                     # one-stop: joint booth time / one side's booth time


@dataclass(frozen=True)
class Area:
    """Hall floor area assumptions (m²): area = gates x m2_per_gate + booths x m2_per_booth
    + kiosks x m2_per_kiosk + peak queued travellers x m2_per_queued, summed over halls and stops."""

    m2_per_gate: float = 5.0
    m2_per_booth: float = 8.0
    m2_per_kiosk: float = 3.0
    m2_per_queued: float = 1.2

    def of(self, gates: int, booths: int, kiosks: int, queued: int | float) -> float:
        return (gates * self.m2_per_gate + booths * self.m2_per_booth + kiosks * self.m2_per_kiosk
                + queued * self.m2_per_queued)


@dataclass(frozen=True)
class Scenario:
    name: str
    open_s: float
    close_s: float
    travellers_per_day: float
    directions: tuple[Direction, ...]
    categories: dict[str, Category]
    mix: dict[str, float]
    groups: Groups
    egate: Egate
    resources: Resources
    booth_referral: Service = Service(90.0, 0.6)
    referral_priority: bool = True
    kiosk_uptake: float = 0.3
    kiosk_enrol: Service = Service(120.0, 0.4)
    sample_interval_s: float = 60.0
    description: str = ""
    sources: tuple[str, ...] = ()
    layout: Layout = Layout()
    area: Area = Area()

    @property
    def hours(self) -> int:
        return round((self.close_s - self.open_s) / 3600)

    def with_resources(self, **changes: int | None) -> Scenario:
        return dataclasses.replace(self, resources=dataclasses.replace(self.resources, **changes))

    def with_layout(self, kind: str) -> Scenario:
        if kind not in LAYOUT_KINDS:
            raise InvalidValueError("layout.kind", f"must be one of {', '.join(LAYOUT_KINDS)} (got {kind!r})")
        return dataclasses.replace(self, layout=dataclasses.replace(self.layout, kind=kind))


# --------------------------------------------------------------------------------------------- parsing

def _table(value: Any, where: str, allowed: set[str], required: set[str] = frozenset()) -> dict:
    if not isinstance(value, dict):
        raise InvalidValueError(where, f"expected a table, got {type(value).__name__}")
    for key in value:
        if key not in allowed:
            raise UnknownKeyError(_join(where, key), f"unknown key (allowed: {', '.join(sorted(allowed))})")
    for key in sorted(required):
        if key not in value:
            raise MissingKeyError(_join(where, key), "required key is missing")
    return value


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _number(value: Any, where: str, *, lo: float = 0.0, hi: float | None = None, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidValueError(where, f"expected a number, got {value!r}")
    if integer and value != int(value):
        raise InvalidValueError(where, f"expected a whole number, got {value!r}")
    if not math.isfinite(value) or value < lo:
        raise InvalidValueError(where, f"must be >= {lo:g} (got {value!r})")
    if hi is not None and value > hi:
        raise InvalidValueError(where, f"must be <= {hi:g} (got {value!r})")
    return int(value) if integer else float(value)


def _share(value: Any, where: str) -> float:
    return _number(value, where, lo=0.0, hi=1.0)


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidValueError(where, f"expected true or false, got {value!r}")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidValueError(where, f"expected a string, got {value!r}")
    return value


def _service(value: Any, where: str) -> Service:
    """``12.5`` (fixed) or ``{ mean = 12.5, cv = 0.3 }`` (gamma)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Service(_number(value, where), 0.0)
    t = _table(value, where, {"mean", "cv"}, {"mean"})
    return Service(_number(t["mean"], _join(where, "mean")), _number(t.get("cv", 0.0), _join(where, "cv"), hi=10.0))


def _shares(value: Any, where: str, known: set[str]) -> dict[str, float]:
    t = _table(value, where, known)
    out = {k: _share(v, _join(where, k)) for k, v in t.items()}
    total = sum(out.values())
    if not out or abs(total - 1.0) > 1e-6:
        raise ShareSumError(where, f"shares must sum to 1 (got {total:.6g})")
    return out


def _clock(value: Any, where: str) -> float:
    text = _str(value, where)
    try:
        hh, mm = text.split(":")
        h, m = int(hh), int(mm)
    except ValueError as e:
        raise InvalidValueError(where, f"expected HH:MM, got {text!r}") from e
    if not (0 <= h <= 24 and 0 <= m < 60) or h * 60 + m > 24 * 60:
        raise InvalidValueError(where, f"not a time of day: {text!r}")
    return h * 3600.0 + m * 60.0


def format_clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


_TOP = {"scenario", "directions", "categories", "mix", "groups", "egate", "booth", "kiosk", "resources",
        "simulation", "layout", "area", "extends"}
_MAX_EXTENDS = 8
_EGATE_SERVICES = set(DEFAULT_EGATE_COMPONENTS) | {"assist_s"}


def load_scenario(path: str | Path, gate_benchmark: str | Path | None = None) -> Scenario:
    """Read and validate a scenario TOML file.

    ``gate_benchmark``: optional JSON from the gate benchmark; when given and present, its component
    times replace the built-in defaults (explicit values in the scenario still win).

    ``extends = "other.toml"`` (a path relative to the file) starts from that scenario and overrides
    it table by table: tables merge key by key, any other value replaces the base's."""
    data = _read_extending(Path(path), [])
    bench = None
    if gate_benchmark is not None and Path(gate_benchmark).exists():
        bench = read_gate_benchmark(gate_benchmark)
    return scenario_from_dict(data, gate_components=bench,
                              gate_source=f"benchmark:{gate_benchmark}" if bench else "defaults")


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ScenarioSyntaxError("", f"cannot read scenario {path}: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise ScenarioSyntaxError("", f"{path} is not valid TOML: {e}") from e


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _read_extending(path: Path, chain: list[Path]) -> dict:
    data = _read_toml(path)
    if "extends" not in data:
        return data
    base = data.pop("extends")
    if not isinstance(base, str) or not base:
        raise InvalidValueError("extends", f"expected the path of a scenario file, got {base!r}")
    base_path = (path.parent / base).resolve()
    if base_path in chain or path.resolve() == base_path:
        raise InvalidValueError("extends", f"{path} extends itself through {base}")
    if len(chain) >= _MAX_EXTENDS:
        raise InvalidValueError("extends", f"{path}: more than {_MAX_EXTENDS} files extending one another "
                                           f"(a chain that deep is refused; extend a nearer base)")
    if not base_path.exists():
        raise InvalidValueError("extends", f"{path}: no scenario file {base}")
    return _merge(_read_extending(base_path, [*chain, path.resolve()]), data)


def scenario_from_dict(data: dict, gate_components: dict[str, float] | None = None,
                       gate_source: str = "defaults") -> Scenario:
    """Validate a parsed scenario (the TOML structure as a dict)."""
    _table(data, "", _TOP, {"scenario", "directions", "categories", "mix", "resources"})
    sc = _table(data["scenario"], "scenario",
                {"name", "description", "open", "close", "travellers_per_day", "sources"},
                {"name", "travellers_per_day"})
    open_s = _clock(sc.get("open", "07:00"), "scenario.open")
    close_s = _clock(sc.get("close", "20:00"), "scenario.close")
    if close_s <= open_s or (close_s - open_s) % 3600:
        raise InvalidValueError("scenario.close", "must be a whole number of hours after scenario.open")
    hours = round((close_s - open_s) / 3600)
    per_day = _number(sc["travellers_per_day"], "scenario.travellers_per_day")
    sources = sc.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise InvalidValueError("scenario.sources", "expected a list of strings")

    dirs_t = _table(data["directions"], "directions", {"exit", "entry"})
    if not dirs_t:
        raise MissingKeyError("directions", "at least one of directions.exit / directions.entry is required")
    directions = []
    for name, d in dirs_t.items():
        where = f"directions.{name}"
        d = _table(d, where, {"label", "share", "hourly_profile"}, {"share", "hourly_profile"})
        prof = d["hourly_profile"]
        if not isinstance(prof, list) or len(prof) != hours:
            raise InvalidValueError(f"{where}.hourly_profile", f"expected a list of {hours} weights (one per open hour)")
        weights = [_number(w, f"{where}.hourly_profile[{i}]") for i, w in enumerate(prof)]
        if sum(weights) <= 0:
            raise InvalidValueError(f"{where}.hourly_profile", "weights must not all be zero")
        directions.append(Direction(name, _str(d.get("label", name), f"{where}.label"),
                                    _share(d["share"], f"{where}.share"),
                                    tuple(w / sum(weights) for w in weights)))
    total = sum(d.share for d in directions)
    if abs(total - 1.0) > 1e-6:
        raise ShareSumError("directions", f"direction shares must sum to 1 (got {total:.6g})")

    cats_t = _table(data["categories"], "categories", set(data["categories"]) if isinstance(data["categories"], dict) else set())
    categories = {}
    for name, c in cats_t.items():
        where = f"categories.{name}"
        c = _table(c, where, {"label", "egate", "document", "enrolled", "booth_s"}, {"egate", "booth_s"})
        doc = _str(c.get("document", "passport" if c["egate"] is True else "none"), f"{where}.document")
        if doc not in DOCUMENT_TYPES:
            raise InvalidValueError(f"{where}.document", f"must be one of {', '.join(DOCUMENT_TYPES)}")
        egate = _bool(c["egate"], f"{where}.egate")
        if egate and doc == "none":
            raise InvalidValueError(f"{where}.document", "an e-gate eligible category needs a chip document")
        categories[name] = Category(name, _str(c.get("label", name), f"{where}.label"), egate, doc,
                                    _share(c.get("enrolled", 0.0), f"{where}.enrolled"),
                                    _service(c["booth_s"], f"{where}.booth_s"))
    if not categories:
        raise MissingKeyError("categories", "at least one traveller category is required")
    mix = _shares(data["mix"], "mix", set(categories))

    groups = Groups()
    if "groups" in data:
        g = _table(data["groups"], "groups", {"share", "size_min", "size_max", "spread_s", "mix"}, {"share"})
        gshare = _share(g["share"], "groups.share")
        size_min = _number(g.get("size_min", 20), "groups.size_min", lo=1, integer=True)
        size_max = _number(g.get("size_max", 45), "groups.size_max", lo=1, integer=True)
        if size_max < size_min:
            raise InvalidValueError("groups.size_max", "must be >= groups.size_min")
        gmix = _shares(g["mix"], "groups.mix", set(categories)) if "mix" in g else dict(mix)
        groups = Groups(gshare, size_min, size_max, _number(g.get("spread_s", 120.0), "groups.spread_s"), gmix)

    e = _table(data.get("egate", {}), "egate",
               _EGATE_SERVICES | {"referral_rate", "assist_rate", "gates_per_officer"})
    comps = {}
    used_bench = False
    for key, (mean, cv) in DEFAULT_EGATE_COMPONENTS.items():
        if key in e:
            comps[key] = _service(e[key], f"egate.{key}")
        elif gate_components and key in gate_components:
            comps[key] = Service(gate_components[key], cv)
            used_bench = True
        else:
            comps[key] = Service(mean, cv)
    explicit = any(k in e for k in DEFAULT_EGATE_COMPONENTS)
    source = gate_source if used_bench else "defaults"
    if explicit:
        source = "scenario" + (f"+{gate_source}" if used_bench else "")
    egate = Egate(comps["walk_in_s"], comps["chip_read_passport_s"], comps["chip_read_id_card_s"],
                  comps["capture_s"], comps["walk_out_s"],
                  referral_rate=_share(e.get("referral_rate", 0.04), "egate.referral_rate"),
                  assist_rate=_share(e.get("assist_rate", 0.03), "egate.assist_rate"),
                  assist=_service(e.get("assist_s", {"mean": 30.0, "cv": 0.5}), "egate.assist_s"),
                  gates_per_officer=_number(e.get("gates_per_officer", 5), "egate.gates_per_officer",
                                            lo=1, integer=True),
                  source=source)

    b = _table(data.get("booth", {}), "booth", {"referral_s", "referral_priority"})
    k = _table(data.get("kiosk", {}), "kiosk", {"uptake", "enrol_s"})
    r = _table(data["resources"], "resources", {"egates", "booths", "kiosks", "officers"}, {"egates", "booths"})
    officers = r.get("officers")
    resources = Resources(_number(r["egates"], "resources.egates", integer=True),
                          _number(r["booths"], "resources.booths", integer=True),
                          _number(r.get("kiosks", 0), "resources.kiosks", integer=True),
                          None if officers is None else _number(officers, "resources.officers", integer=True))
    s = _table(data.get("simulation", {}), "simulation", {"sample_interval_s"})
    if "extends" in data:
        raise InvalidValueError("extends", "only a scenario file can extend another (load_scenario)")
    lay = _table(data.get("layout", {}), "layout",
                 {"kind", "transfer_s", "joint_egate_extra_s", "joint_booth_factor"})
    kind = _str(lay.get("kind", "two_stop"), "layout.kind")
    if kind not in LAYOUT_KINDS:
        raise InvalidValueError("layout.kind", f"must be one of {', '.join(LAYOUT_KINDS)} (got {kind!r})")
    layout = Layout(kind, _number(lay.get("transfer_s", 60.0), "layout.transfer_s"),
                    _service(lay.get("joint_egate_extra_s", {"mean": 1.0, "cv": 0.5}), "layout.joint_egate_extra_s"),
                    _number(lay.get("joint_booth_factor", 1.3), "layout.joint_booth_factor", lo=1.0))
    a = _table(data.get("area", {}), "area", {f.name for f in dataclasses.fields(Area)})
    area = Area(**{f.name: _number(a.get(f.name, f.default), f"area.{f.name}") for f in dataclasses.fields(Area)})
    return Scenario(
        name=_str(sc["name"], "scenario.name"),
        description=_str(sc.get("description", ""), "scenario.description"),
        sources=tuple(sources),
        open_s=open_s, close_s=close_s, travellers_per_day=per_day,
        directions=tuple(directions), categories=categories, mix=mix, groups=groups, egate=egate,
        resources=resources,
        booth_referral=_service(b.get("referral_s", {"mean": 90.0, "cv": 0.6}), "booth.referral_s"),
        referral_priority=_bool(b.get("referral_priority", True), "booth.referral_priority"),
        kiosk_uptake=_share(k.get("uptake", 0.3), "kiosk.uptake"),
        kiosk_enrol=_service(k.get("enrol_s", {"mean": 120.0, "cv": 0.4}), "kiosk.enrol_s"),
        sample_interval_s=_number(s.get("sample_interval_s", 60.0), "simulation.sample_interval_s", lo=1.0),
        layout=layout, area=area,
    )


# ------------------------------------------------------------------------------------- gate benchmark

_BENCH_ALIASES = {
    "walk_in": "walk_in_s", "chip_read": "chip_read_passport_s", "chip_read_passport": "chip_read_passport_s",
    "chip_read_id_card": "chip_read_id_card_s", "capture": "capture_s", "face_capture": "capture_s",
    "walk_out": "walk_out_s",
}


def _from_gate_throughput(data: dict) -> dict[str, float]:
    """The output of ``bench.gate_throughput``: walk in = placing the document, walk out = door and
    walking, capture = camera frames / fps + the face step's median compute, chip read = the rest of
    the modelled transaction's p50 (chip wire time, chip and other software steps)."""
    model = data["model"]
    phys = model["physical_s"]
    walk_in = float(phys["place_document"])
    walk_out = float(phys["door_and_walk"])
    face_ms = float(data.get("steps_ms", {}).get("face", {}).get("median_ms", 0.0))
    # frames the gate looked at: ``frames_per_traveller.median`` (older outputs: ``model.frames``)
    frames = data["frames_per_traveller"]["median"] if "frames_per_traveller" in data else model["frames"]
    capture = float(frames) / float(model["camera_fps"]) + face_ms / 1000.0
    total = float(data["modelled_transaction_s"]["p50"])
    chip = max(0.0, total - walk_in - walk_out - capture)
    return {"walk_in_s": walk_in, "walk_out_s": walk_out, "capture_s": round(capture, 3),
            "chip_read_passport_s": round(chip, 3), "chip_read_id_card_s": round(chip, 3)}


def read_gate_benchmark(path: str | Path) -> dict[str, float]:
    """Component means (seconds) from the gate benchmark JSON (``var/bench/gate_throughput.json``).

    The output of ``bench.gate_throughput`` is recognised (see :func:`_from_gate_throughput`).
    Otherwise any nesting is searched for keys named like the components (``walk_in``, ``chip_read``,
    ``chip_read_passport``, ``chip_read_id_card``, ``capture``/``face_capture``, ``walk_out``, or
    ``walking`` split evenly between in and out) with a ``_s`` or ``_ms`` suffix, or without suffix
    holding ``{"mean"|"p50"|"median": ...}``; values in milliseconds are converted."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise GateBenchmarkError("gate_benchmark", f"cannot read {path}: {e}") from e
    if isinstance(data, dict) and data.get("benchmark") == "gate_throughput" and "modelled_transaction_s" in data:
        try:
            return _from_gate_throughput(data)
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as e:
            raise GateBenchmarkError("gate_benchmark", f"{path}: unexpected bench.gate_throughput output: {e}") from e
    found: dict[str, float] = {}

    def value_of(v: Any) -> float | None:
        if isinstance(v, int | float) and not isinstance(v, bool):
            return float(v)
        if isinstance(v, dict):
            for k in ("mean", "p50", "median", "mean_s", "p50_s", "mean_ms", "p50_ms"):
                if k in v and isinstance(v[k], int | float):
                    return float(v[k]) / (1000 if k.endswith("_ms") else 1)
        return None

    def visit(obj: Any) -> None:
        if isinstance(obj, dict):
            for key, v in obj.items():
                base, scale = key.lower(), 1.0
                for suffix, sc in (("_ms", 1000.0), ("_s", 1.0)):
                    if base.endswith(suffix):
                        base, scale = base[: -len(suffix)], sc
                        break
                val = value_of(v)
                if val is not None and val >= 0:
                    if base in _BENCH_ALIASES:
                        found.setdefault(_BENCH_ALIASES[base], val / scale)
                    elif base in ("walking", "walk"):
                        found.setdefault("walk_in_s", val / scale / 2)
                        found.setdefault("walk_out_s", val / scale / 2)
                visit(v)
        elif isinstance(obj, list):
            for v in obj:
                visit(v)

    visit(data)
    if "chip_read_passport_s" in found:
        found.setdefault("chip_read_id_card_s", found["chip_read_passport_s"])
    return found
