"""The simulator against closed-form queueing theory (Erlang C for M/M/c, M/M/1, Little's law)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import flow

from ._scenarios import mmc

WARMUP_S = 3600.0  # ignore travellers arriving in the first hour (the hall opens empty)


def _replicated_mean_wait(sc: flow.Scenario, reps: int) -> tuple[float, float, np.ndarray]:
    means, pooled = [], []
    for seed in range(reps):
        r = flow.simulate(sc, seed)
        keep = r.travellers.arrival >= sc.open_s + WARMUP_S
        w = r.raw.wait_gate[keep]
        means.append(w.mean())
        pooled.append(w)
    means = np.array(means)
    return float(means.mean()), float(means.std(ddof=1) / math.sqrt(reps)), np.concatenate(pooled)


def test_erlang_formulas_match_textbook_values():
    assert flow.erlang_b(10, 8.0) == pytest.approx(0.12166, abs=1e-5)
    assert flow.erlang_c(10, 8.0) == pytest.approx(0.40918, abs=1e-5)
    # c = 2: C = a^2 / (2 (1 - rho)) / (1 + a + a^2 / (2 (1 - rho)))
    assert flow.erlang_c(2, 1.6) == pytest.approx(6.4 / 9.0, rel=1e-12)
    assert flow.erlang_c(1, 0.7) == pytest.approx(0.7)  # M/M/1: P(wait) = rho
    assert flow.mmc_mean_wait(0.035, 1 / 20, 1) == pytest.approx(flow.mm1_mean_wait(0.035, 1 / 20))
    assert flow.mmc_mean_wait(1.0, 0.5, 2) == math.inf
    assert flow.mmc_wait_quantile(0.01, 1 / 20, 2, 0.95) == 0.0  # hardly anyone waits


@pytest.mark.parametrize(("servers", "lam", "mean_s", "reps"), [
    (2, 0.08, 20.0, 12),    # M/M/2, rho = 0.8
    (1, 0.035, 20.0, 12),   # M/M/1, rho = 0.7
    (4, 0.15, 20.0, 8),     # M/M/4, rho = 0.75
])
def test_mmc_mean_wait_matches_erlang_c(servers, lam, mean_s, reps):
    sc = mmc(servers, lam, mean_s)
    mean, se, pooled = _replicated_mean_wait(sc, reps)
    expected = flow.mmc_mean_wait(lam, 1 / mean_s, servers)
    assert se < 0.15 * expected, "too few replications for a meaningful check"
    # 99 % confidence (t, 7-11 degrees of freedom ~ 3.2-3.5) around the replication mean
    assert abs(mean - expected) < 3.5 * se + 0.02 * expected, (mean, se, expected)
    # and the waiting-time distribution: P(W > t) = C exp(-(c mu - lambda) t) at its 95th percentile
    p95 = flow.mmc_wait_quantile(lam, 1 / mean_s, servers, 0.95)
    assert np.percentile(pooled, 95) == pytest.approx(p95, rel=0.12)
    # the share of travellers who wait at all is Erlang C
    assert np.mean(pooled > 0) == pytest.approx(flow.erlang_c(servers, lam * mean_s), abs=0.03)


def test_littles_law_on_the_gate_queue():
    sc = mmc(3, 0.12, 20.0, hours=6)   # rho = 0.8
    for seed in (1, 2):
        r = flow.simulate(sc, seed)
        horizon = r.raw.end_s - sc.open_s
        lam = len(r.travellers) / horizon
        w_q = r.raw.wait_gate.mean()
        l_q = r.raw.queue_len[0]["egate"][r.raw.sample_t <= r.raw.end_s].mean()   # sampled every 5 s
        assert l_q == pytest.approx(lam * w_q, rel=0.05)
        # and for the servers: mean busy gates = lambda * mean service time = utilisation * c
        in_service = r.raw.in_service[0]["egate"][r.raw.sample_t <= r.raw.end_s].mean()
        assert in_service == pytest.approx(lam * r.travellers.gate_s.mean(), rel=0.05)
        assert r.summary["utilisation"]["egate"] * 3 == pytest.approx(lam * r.travellers.gate_s.mean(), rel=0.01)


def test_arrivals_are_poisson_with_the_scenario_rate():
    sc = mmc(2, 0.05, 10.0)
    counts = [len(flow.draw_travellers(sc, s)) for s in range(30)]
    expected = 0.05 * 3600 * 13
    assert np.mean(counts) == pytest.approx(expected, rel=0.02)
    assert np.var(counts, ddof=1) == pytest.approx(expected, rel=0.6)   # Poisson: variance = mean
