"""The day's travellers: arrival times, categories and every random service figure, drawn up front.

Everything random is drawn here, vectorised, from one seeded numpy generator, in a fixed order that
does not depend on the resource mix. A simulation then runs deterministically over the table, so
two mixes are compared on exactly the same travellers (common random numbers), which keeps the
sizing search monotone in practice and makes runs reproducible bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._scenario import Scenario


@dataclass(frozen=True)
class Travellers:
    """One row per traveller, sorted by arrival time (seconds after midnight)."""

    arrival: np.ndarray        # float64, s after midnight
    direction: np.ndarray      # int8 index into scenario.directions
    category: np.ndarray       # int16 index into category_names
    group: np.ndarray          # int32 coach id, -1 for individual travellers
    eligible: np.ndarray       # bool: category may use e-gates
    enrolled: np.ndarray       # bool: already enrolled (only meaningful when eligible)
    kiosk_pick: np.ndarray     # bool: an unenrolled eligible traveller who would enrol at a kiosk
    gate_s: np.ndarray         # e-gate transaction time (walk in + chip read + capture + walk out)
    referred: np.ndarray       # bool: the gate refers the traveller to a booth
    assist: np.ndarray         # bool: the supervising officer must step in
    assist_s: np.ndarray
    booth_s: np.ndarray        # manual booth time for a traveller who queues at a booth directly
    referral_s: np.ndarray     # booth time for a traveller referred by a gate
    kiosk_s: np.ndarray        # kiosk enrolment time
    category_names: tuple[str, ...]
    seed: int

    def __len__(self) -> int:
        return len(self.arrival)


def _arrivals(rng: np.random.Generator, scenario: Scenario):
    """Non-homogeneous Poisson arrivals, piecewise constant per hour, plus Poisson coach arrivals."""
    names = tuple(scenario.categories)
    ind_p = np.array([scenario.mix.get(n, 0.0) for n in names])
    grp_p = np.array([scenario.groups.mix.get(n, 0.0) for n in names]) if scenario.groups.mix else ind_p
    g = scenario.groups
    mean_size = (g.size_min + g.size_max) / 2
    times, dirs, cats, groups = [], [], [], []
    coach = 0
    for d_idx, d in enumerate(scenario.directions):
        for h, w in enumerate(d.hourly_profile):
            start = scenario.open_s + 3600.0 * h
            expected = scenario.travellers_per_day * d.share * w
            n_ind = int(rng.poisson(expected * (1.0 - g.share)))
            times.append(start + 3600.0 * rng.random(n_ind))
            dirs.append(np.full(n_ind, d_idx, np.int8))
            cats.append(rng.choice(len(names), size=n_ind, p=ind_p).astype(np.int16))
            groups.append(np.full(n_ind, -1, np.int32))
            if g.share > 0:
                n_coach = int(rng.poisson(expected * g.share / mean_size))
                at = start + 3600.0 * rng.random(n_coach)
                sizes = rng.integers(g.size_min, g.size_max + 1, size=n_coach)
                total = int(sizes.sum())
                times.append(np.repeat(at, sizes) + g.spread_s * rng.random(total))
                dirs.append(np.full(total, d_idx, np.int8))
                cats.append(rng.choice(len(names), size=total, p=grp_p).astype(np.int16))
                groups.append(np.repeat(np.arange(coach, coach + n_coach, dtype=np.int32), sizes))
                coach += n_coach
    arrival = np.concatenate(times) if times else np.empty(0)
    order = np.argsort(arrival, kind="stable")
    return (names, arrival[order], np.concatenate(dirs)[order], np.concatenate(cats)[order],
            np.concatenate(groups)[order])


def draw_travellers(scenario: Scenario, seed: int) -> Travellers:
    """Draw one day's travellers for ``scenario`` with ``seed`` (independent of the resource mix)."""
    rng = np.random.default_rng(seed)
    names, arrival, direction, category, group = _arrivals(rng, scenario)
    n = len(arrival)
    cats = [scenario.categories[c] for c in names]
    eligible = np.array([c.egate for c in cats], bool)[category] if n else np.zeros(0, bool)
    enrolled_p = np.array([c.enrolled for c in cats])[category] if n else np.zeros(0)
    enrolled = rng.random(n) < enrolled_p
    kiosk_pick = rng.random(n) < scenario.kiosk_uptake
    d = service_draws(scenario, rng, names, category)
    return Travellers(arrival, direction, category, group, eligible, enrolled, kiosk_pick, d["gate_s"],
                      d["referred"], d["assist"], d["assist_s"], d["booth_s"], d["referral_s"], d["kiosk_s"], names,
                      seed)


def service_draws(scenario: Scenario, rng: np.random.Generator, names: list[str] | tuple[str, ...],
                  category: np.ndarray) -> dict[str, np.ndarray]:
    """One control's service draws for travellers of ``category`` (indices into ``names``), in a fixed order from
    ``rng``: e-gate time (chip read by document), referral, assist and its time, booth time by category, booth
    referral and kiosk enrolment times. The keys are :class:`Travellers`' field names."""
    n = len(category)
    cats = [scenario.categories[c] for c in names]
    e = scenario.egate
    is_id = np.array([c.document == "id_card" for c in cats], bool)[category] if n else np.zeros(0, bool)
    chip = np.where(is_id, e.chip_read_id_card.sample(rng, n), e.chip_read_passport.sample(rng, n))
    gate_s = e.walk_in.sample(rng, n) + chip + e.capture.sample(rng, n) + e.walk_out.sample(rng, n)
    referred = rng.random(n) < e.referral_rate
    assist = rng.random(n) < e.assist_rate
    assist_s = e.assist.sample(rng, n)
    booth_s = np.zeros(n)
    for i, c in enumerate(cats):
        mask = category == i
        booth_s[mask] = c.booth.sample(rng, int(mask.sum()))
    return {"gate_s": gate_s, "referred": referred, "assist": assist, "assist_s": assist_s, "booth_s": booth_s,
            "referral_s": scenario.booth_referral.sample(rng, n), "kiosk_s": scenario.kiosk_enrol.sample(rng, n)}
