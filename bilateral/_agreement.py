"""The bilateral agreement, as the entry side holds it (a TOML file)::

    [agreement]
    partner = "VNM"                 # the administration whose attestations this side verifies (ICAO code)
    direction = "exit"              # the direction those attestations attest (the partner's exit control)
    rely_on = ["passive_authentication", "document_expiry"]   # checks this side may skip when attested
    validity_s = 900                # the longest validity (exp - nbf) accepted
    clock_skew_s = 120              # tolerance on nbf / exp between the two sides' clocks
    max_list_age_s = 86400          # the oldest trust / revocation list (by its issued_at) verification uses

The watchlist and the face (and liveness) are each side's own and are never skippable: an agreement that
lists them is refused at load (:class:`NeverSkippable`), whatever else it says.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from bilateral._errors import AgreementError, NeverSkippable

__all__ = ["Agreement", "load_agreement", "parse_agreement", "never_skippable", "DIRECTIONS", "CHECK_NAME"]

DIRECTIONS = ("exit", "entry")
#: a check's name: snake_case, as the gate's checks are named (``passive_authentication``, ``document_expiry``)
CHECK_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_ADMINISTRATION = re.compile(r"[A-Z]{3}")
_NEVER = ("watchlist", "face", "liveness")
_KEYS = {"partner", "direction", "rely_on", "validity_s", "clock_skew_s", "max_list_age_s"}
DEFAULT_MAX_LIST_AGE_S = 86_400
MAX_LIST_AGE_CAP_S = 2 * 86_400


def never_skippable(check: str) -> bool:
    """The checks the entry side always runs itself: the watchlist, the face and liveness, under any name
    beginning with them (``watchlist_hit``, ``face_match``)."""
    return any(check == n or check.startswith(n + "_") for n in _NEVER)


@dataclass(frozen=True)
class Agreement:
    partner: str
    direction: str
    rely_on: frozenset[str]
    validity_s: int
    clock_skew_s: int
    max_list_age_s: int = DEFAULT_MAX_LIST_AGE_S

    def skippable(self, attested: tuple[str, ...] | frozenset[str]) -> frozenset[str]:
        """The checks both attested as passed and listed in the agreement (never the watchlist or the face)."""
        return frozenset(c for c in attested if c in self.rely_on and not never_skippable(c))


def _int(table: dict, key: str, low: int, high: int, default: int | None = None) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise AgreementError(f"agreement: {key} is an integer from {low} to {high}, not {value!r}")
    return value


def parse_agreement(data: dict) -> Agreement:
    """An agreement from its parsed TOML (the ``[agreement]`` table); named errors for anything wrong."""
    table = data.get("agreement") if isinstance(data, dict) else None
    if not isinstance(table, dict):
        raise AgreementError("agreement: no [agreement] table")
    unknown = set(table) - _KEYS
    if unknown:
        raise AgreementError(f"agreement: unknown keys {sorted(unknown)}")
    partner = table.get("partner")
    if not isinstance(partner, str) or not _ADMINISTRATION.fullmatch(partner):
        raise AgreementError(f"agreement: partner is a three-letter administration code, not {partner!r}")
    direction = table.get("direction", "exit")
    if direction not in DIRECTIONS:
        raise AgreementError(f"agreement: direction is one of {DIRECTIONS}, not {direction!r}")
    rely_on = table.get("rely_on", [])
    if not isinstance(rely_on, list) or not all(isinstance(c, str) and CHECK_NAME.fullmatch(c) for c in rely_on):
        raise AgreementError("agreement: rely_on is a list of check names (snake_case)")
    never = sorted(c for c in rely_on if never_skippable(c))
    if never:
        raise NeverSkippable(f"agreement: {never} may never be relied on: each side runs its own watchlist, "
                             "face and liveness checks")
    return Agreement(partner=partner, direction=direction, rely_on=frozenset(rely_on),
                     validity_s=_int(table, "validity_s", 1, 7 * 24 * 3600),
                     clock_skew_s=_int(table, "clock_skew_s", 0, 3600),
                     max_list_age_s=_int(table, "max_list_age_s", 60, MAX_LIST_AGE_CAP_S, DEFAULT_MAX_LIST_AGE_S))


def load_agreement(path: str | Path) -> Agreement:
    """Read an agreement file (TOML); :class:`AgreementError` names what is wrong."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise AgreementError(f"agreement: cannot read {path}: {e}") from e
    return parse_agreement(data)
