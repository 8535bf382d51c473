"""Closed-form queueing results used to validate the simulator (M/M/c, M/M/1)."""

from __future__ import annotations

import math


def erlang_b(c: int, a: float) -> float:
    """Erlang B blocking probability for ``c`` servers and offered load ``a = lambda / mu`` (recursive,
    numerically stable)."""
    if c < 0 or a < 0:
        raise ValueError("c and a must be >= 0")
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, a: float) -> float:
    """Erlang C: probability that an arrival waits in an M/M/c queue (1.0 when unstable)."""
    if c <= 0:
        raise ValueError("c must be >= 1")
    rho = a / c
    if rho >= 1.0:
        return 1.0
    b = erlang_b(c, a)
    return b / (1.0 - rho * (1.0 - b))


def mmc_mean_wait(lam: float, mu: float, c: int) -> float:
    """Mean time in queue W_q of M/M/c: C(c, a) / (c*mu - lambda); ``inf`` when lambda >= c*mu."""
    if lam >= c * mu:
        return math.inf
    return erlang_c(c, lam / mu) / (c * mu - lam)


def mmc_wait_quantile(lam: float, mu: float, c: int, q: float) -> float:
    """q-quantile of the M/M/c waiting time: P(W > t) = C * exp(-(c*mu - lambda) t)."""
    if lam >= c * mu:
        return math.inf
    pw = erlang_c(c, lam / mu)
    if pw <= 1.0 - q:
        return 0.0
    return math.log(pw / (1.0 - q)) / (c * mu - lam)


def mm1_mean_wait(lam: float, mu: float) -> float:
    """M/M/1 mean time in queue: rho / (mu - lambda)."""
    if lam >= mu:
        return math.inf
    return (lam / mu) / (mu - lam)
