"""One lane, two sovereign decisions (issue #26 item 1): the joint Vietnam-China e-gate's policy.

The lane reads the document once and captures the face once: that is the *shared* :class:`Evidence`. Each
administration then decides over it with its own lane rules (:class:`~gate._policy.PolicyConfig`) and its
own watchlist copy, whose outcome (:class:`SideWatchlist`) is the only part of the evidence that differs
between the two sides. The gate opens only if both open; a referral belongs to the side that referred, with
that side's reasons.

What each side's record holds (:meth:`JointDecision.record_for`): its own decision in full, and of the
partner only the fact that the lane stayed shut because the partner referred, never the partner's reasons,
findings or checks (a watchlist hit on one side is not the other side's business).

Fail closed: the shared evidence may not carry a watchlist outcome (it would be one side's, shown to both),
both administrations must be present with their watchlist outcome, and their directions must be opposite
(one exit control, one entry control). A missing watchlist outcome of a side is a programming error, named,
never a pass; an unchecked watchlist inside it refers that side as :func:`~gate._policy.decide` says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from gate._policy import RULES, Decision, Evidence, Outcome, PolicyConfig, Rule, decide

__all__ = ["Administration", "SideWatchlist", "JointDecision", "JointLaneError", "decide_joint",
           "WATCHLIST_FIELDS"]

#: the Evidence fields that come from an administration's own watchlist copy, never from the shared read
WATCHLIST_FIELDS = ("watchlist_checked", "watchlist_error", "watchlist_hits", "watchlist_age_s")
DIRECTIONS = ("exit", "entry")


class JointLaneError(ValueError):
    """The joint lane was asked to decide over inconsistent input (a configuration or programming error)."""


@dataclass(frozen=True)
class Administration:
    """One side of the joint lane: its ICAO code, the direction it controls, its lane rules."""

    code: str  # "VNM", "CHN"
    direction: str  # "exit" or "entry"
    config: PolicyConfig = PolicyConfig()
    rules: tuple[Rule, ...] = RULES

    def __post_init__(self) -> None:
        if not (len(self.code) == 3 and self.code.isascii() and self.code.isalpha() and self.code.isupper()):
            raise JointLaneError(f"administration code {self.code!r}: three capital letters (ICAO)")
        if self.direction not in DIRECTIONS:
            raise JointLaneError(f"administration {self.code}: direction {self.direction!r} is not exit or entry")


@dataclass(frozen=True)
class SideWatchlist:
    """One administration's watchlist check of the traveller, from its own copy (None: not checked)."""

    checked: bool | None
    hits: tuple[str, ...] = ()
    error: str | None = None
    age_s: float | None = None

    def apply(self, shared: Evidence) -> Evidence:
        return replace(shared, watchlist_checked=self.checked, watchlist_hits=tuple(self.hits),
                       watchlist_error=self.error, watchlist_age_s=self.age_s)


@dataclass(frozen=True)
class JointDecision:
    """Both sides' decisions, exit control first. ``outcome`` is OPEN only when every side's is."""

    sides: tuple[tuple[str, str, Decision], ...]  # (code, direction, decision)

    @property
    def outcome(self) -> Outcome:
        return Outcome.OPEN if all(d.outcome is Outcome.OPEN for _, _, d in self.sides) else Outcome.REFER

    @property
    def referred_by(self) -> tuple[str, ...]:
        """The administrations that referred the traveller (the lane's officer calls go to these only)."""
        return tuple(code for code, _, d in self.sides if d.outcome is not Outcome.OPEN)

    def decision(self, code: str) -> Decision:
        for c, _, d in self.sides:
            if c == code:
                return d
        raise JointLaneError(f"no administration {code!r} in this lane")

    def record_for(self, code: str) -> dict:
        """What ``code``'s back office receives: its own decision in full; of each partner, only whether the
        partner referred (the lane stayed shut), never why."""
        own = self.decision(code)
        direction = next(d for c, d, _ in self.sides if c == code)
        return {"administration": code, "direction": direction, "lane_outcome": str(self.outcome),
                "decision": own.to_dict(),
                "partners": {c: {"direction": d, "referred": dec.outcome is not Outcome.OPEN}
                             for c, d, dec in self.sides if c != code}}


def decide_joint(shared: Evidence, sides: Mapping[str, tuple[Administration, SideWatchlist]]) -> JointDecision:
    """Each administration's :func:`decide` over the shared evidence with its own watchlist outcome."""
    leaked = [f.name for f in fields(Evidence) if f.name in WATCHLIST_FIELDS
              and getattr(shared, f.name) != getattr(Evidence(today=shared.today), f.name)]
    if leaked:
        raise JointLaneError("the shared evidence carries a watchlist outcome (" + ", ".join(leaked) + "): each "
                             "administration's comes from its own copy (SideWatchlist)")
    if len(sides) != 2:
        raise JointLaneError(f"a joint lane has two administrations, not {len(sides)}")
    for code, entry in sides.items():
        if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], Administration)
                and isinstance(entry[1], SideWatchlist)):
            raise JointLaneError(f"administration {code}: (Administration, SideWatchlist) expected")
        if entry[0].code != code:
            raise JointLaneError(f"administration filed under {code!r} is {entry[0].code!r}")
    admins = sorted((a for a, _ in sides.values()), key=lambda a: DIRECTIONS.index(a.direction))
    if [a.direction for a in admins] != list(DIRECTIONS):
        raise JointLaneError("a joint lane has one exit control and one entry control, not "
                             + " and ".join(a.direction for a in admins))
    out = []
    for admin in admins:
        watch = sides[admin.code][1]
        out.append((admin.code, admin.direction, decide(watch.apply(shared), admin.config, admin.rules)))
    return JointDecision(tuple(out))
