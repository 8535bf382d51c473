"""The SimPy model of the passenger hall (one hall per direction, identical resource mix).

A traveller arriving in the hall takes one route:

* ``egate``  eligible and enrolled: queue for an e-gate (one serpentine queue feeding all gates),
  pass the transaction; if the gate needs an officer (``assist``), hold the gate until one of the
  supervising officers is free and has dealt with it; if referred, queue for a booth.
* ``kiosk``  eligible, not enrolled, chooses to enrol: queue for a kiosk, enrol, then as ``egate``.
* ``booth``  everybody else (border passes, minors, unenrolled travellers who do not enrol, or no
  gates open): one queue feeding all manual booths. Gate referrals join the same queue, ahead of
  walk-up travellers when ``booth.referral_priority`` is set.

Open gates are limited by supervision: ``min(egates, officers * gates_per_officer)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import simpy
from simpy.core import EmptySchedule

from ._scenario import InvalidValueError, Scenario
from ._travellers import Travellers

ROUTE_EGATE, ROUTE_KIOSK, ROUTE_BOOTH = 0, 1, 2
ROUTE_NAMES = ("egate", "kiosk", "booth")
RESOURCE_TYPES = ("egate", "booth", "kiosk", "officer")


@dataclass
class RawRun:
    route: np.ndarray            # int8 ROUTE_*
    wait_kiosk: np.ndarray       # s queued for a kiosk
    wait_gate: np.ndarray        # s queued for an e-gate
    wait_booth: np.ndarray       # s queued for a booth
    referred: np.ndarray         # bool: went through a gate and was referred to a booth
    depart: np.ndarray           # s after midnight
    busy_s: list[dict[str, float]]           # per hall: resource type -> busy server-seconds
    capacity: dict[str, int]                 # per hall: resource type -> servers
    sample_t: np.ndarray                     # monitor sample times
    queue_len: list[dict[str, np.ndarray]]   # per hall: resource type -> queue length at sample_t
    in_service: list[dict[str, np.ndarray]]  # per hall: resource type -> busy servers at sample_t
    events: int
    end_s: float


def routes_for(travellers: Travellers, scenario: Scenario) -> np.ndarray:
    r = scenario.resources
    gates = r.active_egates(scenario.egate.gates_per_officer)
    route = np.full(len(travellers), ROUTE_BOOTH, np.int8)
    if gates > 0:
        route[travellers.eligible & travellers.enrolled] = ROUTE_EGATE
        if r.kiosks > 0:
            route[travellers.eligible & ~travellers.enrolled & travellers.kiosk_pick] = ROUTE_KIOSK
    return route


def run(scenario: Scenario, travellers: Travellers) -> RawRun:
    """Simulate the day over ``travellers``; runs until the last traveller has left the hall."""
    res = scenario.resources
    gpo = scenario.egate.gates_per_officer
    capacity = {"egate": res.active_egates(gpo), "booth": res.booths, "kiosk": res.kiosks,
                "officer": res.officers_for(gpo)}
    route = routes_for(travellers, scenario)
    if res.booths < 1 and (np.any(route == ROUTE_BOOTH) or (scenario.egate.referral_rate > 0 and len(route))):
        raise InvalidValueError("resources.booths", "at least one booth is needed (some travellers cannot use gates)")

    env = simpy.Environment(initial_time=scenario.open_s)
    n = len(travellers)
    n_halls = len(scenario.directions)
    booth_cls = simpy.PriorityResource if scenario.referral_priority else simpy.Resource
    halls = []
    for _ in range(n_halls):
        halls.append({
            "egate": simpy.Resource(env, max(1, capacity["egate"])),
            "booth": booth_cls(env, max(1, capacity["booth"])),
            "kiosk": simpy.Resource(env, max(1, capacity["kiosk"])),
            "officer": simpy.Resource(env, max(1, capacity["officer"])),
        })
    busy = [dict.fromkeys(RESOURCE_TYPES, 0.0) for _ in range(n_halls)]

    arrival = travellers.arrival.tolist()
    direction = travellers.direction.tolist()
    routes = route.tolist()
    gate_s = travellers.gate_s.tolist()
    referred_in = travellers.referred.tolist()
    assist = travellers.assist.tolist()
    assist_s = travellers.assist_s.tolist()
    booth_s = travellers.booth_s.tolist()
    referral_s = travellers.referral_s.tolist()
    kiosk_s = travellers.kiosk_s.tolist()
    w_k, w_g, w_b = [0.0] * n, [0.0] * n, [0.0] * n
    depart = [0.0] * n
    referred_out = [False] * n
    remaining = [n]
    timeout = env.timeout
    prio_ref = 0 if scenario.referral_priority else 1
    use_prio = scenario.referral_priority
    open_s = scenario.open_s

    def traveller(i: int):
        yield timeout(arrival[i] - open_s)
        hall = halls[direction[i]]
        b = busy[direction[i]]
        t = env.now
        r = routes[i]
        st = booth_s[i]
        prio = 1
        if r == ROUTE_KIOSK:
            k = hall["kiosk"]
            req = k.request()
            yield req
            t0 = env.now
            w_k[i] = t0 - t
            yield timeout(kiosk_s[i])
            k.release(req)
            t = env.now
            b["kiosk"] += t - t0
        if r != ROUTE_BOOTH:
            g = hall["egate"]
            req = g.request()
            yield req
            t0 = env.now
            w_g[i] = t0 - t
            yield timeout(gate_s[i])
            if assist[i]:
                o = hall["officer"]
                oreq = o.request()
                yield oreq
                t1 = env.now
                yield timeout(assist_s[i])
                o.release(oreq)
                b["officer"] += env.now - t1
            g.release(req)
            t = env.now
            b["egate"] += t - t0
            if not referred_in[i]:
                depart[i] = t
                remaining[0] -= 1
                return
            referred_out[i] = True
            st = referral_s[i]
            prio = prio_ref
        bo = hall["booth"]
        req = bo.request(priority=prio) if use_prio else bo.request()
        yield req
        t0 = env.now
        w_b[i] = t0 - t
        yield timeout(st)
        bo.release(req)
        depart[i] = env.now
        b["booth"] += env.now - t0
        remaining[0] -= 1

    sample_t: list[float] = []
    qlen = [{k: [] for k in RESOURCE_TYPES} for _ in range(n_halls)]
    inserv = [{k: [] for k in RESOURCE_TYPES} for _ in range(n_halls)]
    interval = scenario.sample_interval_s

    def monitor():
        while True:
            sample_t.append(env.now)
            for h, hall in enumerate(halls):
                for k in RESOURCE_TYPES:
                    qlen[h][k].append(len(hall[k].queue))
                    inserv[h][k].append(hall[k].count)
            if remaining[0] <= 0 and env.now >= scenario.close_s:
                return
            yield timeout(interval)

    for i in range(n):
        env.process(traveller(i))
    env.process(monitor())
    events = 0
    step = env.step
    try:
        while True:
            step()
            events += 1
    except EmptySchedule:
        pass
    end = max(depart) if n else scenario.open_s
    return RawRun(route=route, wait_kiosk=np.array(w_k), wait_gate=np.array(w_g), wait_booth=np.array(w_b),
                  referred=np.array(referred_out, bool), depart=np.array(depart), busy_s=busy, capacity=capacity,
                  sample_t=np.array(sample_t),
                  queue_len=[{k: np.array(v) for k, v in q.items()} for q in qlen],
                  in_service=[{k: np.array(v) for k, v in q.items()} for q in inserv],
                  events=events, end_s=float(end))
