"""The bilateral agreement, as the entry side holds it (a TOML file)::

    [agreement]
    partner = "VNM"                 # the administration whose attestations this side verifies (ICAO code)
    direction = "exit"              # what the partner attests: its exit control (the only value accepted)
    rely_on = ["passive_authentication", "document_expired"]  # checks this side may skip when attested
    validity_s = 900                # the longest validity (exp - nbf) accepted, at most 3,600
    clock_skew_s = 120              # tolerance on nbf / exp between the two sides' clocks, at most 300
    max_list_age_s = 86400          # the oldest trust / revocation list (by its issued_at) verification uses
    administration = "CHN"          # this side (needed with the exchange's keys below)
    exchange_fields = ["iss", "iat", "nbf", "exp", "cti", "v", "dir", "lane", "doc", "chk"]
    [agreement.retention_days]      # how long each side keeps what it received over the exchange
    VNM = 30
    CHN = 90

The back offices' exchange (issue #26 item 3, :mod:`bilateral._inbox` / :mod:`bilateral._outbox`) reads the last
three: ``exchange_fields`` names the attestation claims the two sides agreed to exchange (a subset of
:data:`CLAIM_NAMES`, the claims :func:`bilateral.issue_attestation` issues; any other name is
:class:`FieldNotExchangeable`; absent: all of them). An attestation carrying a claim outside it is neither sent
nor accepted (the COSE bytes travel as signed, so a claim cannot be stripped). ``retention_days`` names exactly
the two administrations (``administration`` and ``partner``), 1 to 3,650 days each: a side purges what it
received after its own number of days.

``rely_on`` names checks from an ALLOW-LIST (:data:`RELIABLE_CHECKS`), named exactly as the gate's rules
(``gate._policy.RULES``; a test checks the names, bilateral does not import gate): the certificate-chain part
of Passive Authentication, chip authenticity, the document's eligibility and expiry. Anything else is refused
at load: the watchlist, the face and liveness (:class:`NeverSkippable`: each side's own, always), and every
other name (:class:`CheckNotReliable`), among them ``data_groups`` and ``mrz_matches_chip`` (the entry gate
always hashes the data groups against the SOD it read and compares the printed MRZ with DG1), the device and
lane checks (``timeout``, ``hardware_fault``, ``single_person``), ``fingerprint_match`` and ``minor``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from bilateral._errors import AgreementError, CheckNotReliable, FieldNotExchangeable, NeverSkippable

__all__ = ["Agreement", "load_agreement", "parse_agreement", "never_skippable", "DIRECTIONS", "CHECK_NAME",
           "RELIABLE_CHECKS", "MAX_VALIDITY_S", "MAX_CLOCK_SKEW_S", "CLAIM_NAMES", "MAX_RETENTION_DAYS"]

DIRECTIONS = ("exit", "entry")
#: a check's name: snake_case, as the gate's checks are named (``passive_authentication``, ``document_expiry``)
CHECK_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_ADMINISTRATION = re.compile(r"[A-Z]{3}")
_NEVER = ("watchlist", "face", "liveness")
#: the gate rules (``gate._policy.RULES`` names) a partner's attestation may stand in for. Not
#: ``chip_authenticity``: a cloned chip carries the genuine EF.SOD the attestation is bound to, so only the
#: entry gate's own Active/Chip Authentication tells the clone apart (and it costs the gate a few APDUs)
RELIABLE_CHECKS = frozenset({"passive_authentication", "eligible_document", "document_expired"})
#: what the partner attests: its exit control (an attestation of entry is never relied on)
ATTESTED_DIRECTION = "exit"
MAX_VALIDITY_S = 3600
MAX_CLOCK_SKEW_S = 300
_KEYS = {"partner", "direction", "rely_on", "validity_s", "clock_skew_s", "max_list_age_s", "administration",
         "exchange_fields", "retention_days"}
#: the claims an attestation carries, by their CWT / profile names (see :mod:`bilateral._attestation`)
CLAIM_NAMES = ("iss", "iat", "nbf", "exp", "cti", "v", "dir", "lane", "doc", "chk")
MAX_RETENTION_DAYS = 3650
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
    #: this side's administration (None: the agreement names no exchange)
    administration: str | None = None
    #: the attestation claims the exchange carries (a subset of CLAIM_NAMES)
    exchange_fields: frozenset[str] = frozenset(CLAIM_NAMES)
    #: {administration: days} for both sides, or empty (no exchange configured)
    retention_days: tuple[tuple[str, int], ...] = ()

    def retention_of(self, administration: str) -> int:
        """Days ``administration`` keeps what it received; :class:`AgreementError` if the agreement names none."""
        days = dict(self.retention_days).get(administration)
        if days is None:
            raise AgreementError(f"agreement: no retention_days for {administration!r}")
        return days

    def skippable(self, attested: tuple[str, ...] | frozenset[str]) -> frozenset[str]:
        """The checks attested as passed, listed in the agreement and on the allow-list (never the watchlist or
        the face, whatever an agreement object built by hand says)."""
        return frozenset(c for c in attested
                         if c in self.rely_on and c in RELIABLE_CHECKS and not never_skippable(c))


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
    direction = table.get("direction", ATTESTED_DIRECTION)
    if direction != ATTESTED_DIRECTION:
        raise AgreementError(f"agreement: direction is what the partner attests, {ATTESTED_DIRECTION!r} (its exit "
                             f"control), not {direction!r}")
    rely_on = table.get("rely_on", [])
    if not isinstance(rely_on, list) or not all(isinstance(c, str) and CHECK_NAME.fullmatch(c) for c in rely_on):
        raise AgreementError("agreement: rely_on is a list of check names (snake_case)")
    never = sorted(c for c in rely_on if never_skippable(c))
    if never:
        raise NeverSkippable(f"agreement: {never} may never be relied on: each side runs its own watchlist, "
                             "face and liveness checks")
    unknown_checks = sorted(set(rely_on) - RELIABLE_CHECKS)
    if unknown_checks:
        raise CheckNotReliable(f"agreement: {unknown_checks} may not be relied on; a partner may be relied on only "
                               f"for {sorted(RELIABLE_CHECKS)}")
    administration, fields, retention = _exchange(table, partner)
    return Agreement(partner=partner, direction=direction, rely_on=frozenset(rely_on),
                     validity_s=_int(table, "validity_s", 1, MAX_VALIDITY_S),
                     clock_skew_s=_int(table, "clock_skew_s", 0, MAX_CLOCK_SKEW_S),
                     max_list_age_s=_int(table, "max_list_age_s", 60, MAX_LIST_AGE_CAP_S, DEFAULT_MAX_LIST_AGE_S),
                     administration=administration, exchange_fields=fields, retention_days=retention)


def _exchange(table: dict, partner: str) -> tuple[str | None, frozenset[str], tuple[tuple[str, int], ...]]:
    """This side, the exchanged claims and each side's retention (issue #26 item 3), strictly."""
    administration = table.get("administration")
    if administration is not None and (not isinstance(administration, str)
                                       or not _ADMINISTRATION.fullmatch(administration)
                                       or administration == partner):
        raise AgreementError(f"agreement: administration is this side's three-letter code, not the partner's, not "
                             f"{administration!r}")
    fields = table.get("exchange_fields", list(CLAIM_NAMES))
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields) \
            or len(set(fields)) != len(fields):
        raise AgreementError("agreement: exchange_fields is a non-empty list of distinct claim names")
    unknown = sorted(set(fields) - set(CLAIM_NAMES))
    if unknown:
        raise FieldNotExchangeable(f"agreement: {unknown} are not claims of an attestation; exchange_fields names "
                                   f"some of {list(CLAIM_NAMES)}")
    retention = table.get("retention_days")
    if retention is None:
        return administration, frozenset(fields), ()
    if administration is None:
        raise AgreementError("agreement: retention_days needs administration (this side's code)")
    if not isinstance(retention, dict) or set(retention) != {administration, partner}:
        raise AgreementError(f"agreement: retention_days names exactly {sorted({administration, partner})}, not "
                             f"{sorted(retention) if isinstance(retention, dict) else retention!r}")
    days = tuple(sorted((side, _int(retention, side, 1, MAX_RETENTION_DAYS)) for side in retention))
    return administration, frozenset(fields), days


def load_agreement(path: str | Path) -> Agreement:
    """Read an agreement file (TOML); :class:`AgreementError` names what is wrong."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise AgreementError(f"agreement: cannot read {path}: {e}") from e
    return parse_agreement(data)
