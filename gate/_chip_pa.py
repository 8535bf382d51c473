"""Passive Authentication's verdict as the gate records it, and again against another trust store.

The chip step reads the chip once; Passive Authentication (Doc 9303 Part 11 §5.1, :func:`emrtd.passive_authentication`)
is a computation over what was read (EF.SOD, its DSC, the data groups) and a trust store (CSCAs, CRLs, PKD DSCs).
The joint lane (issue #26 item 1) serves two administrations with two trust stores: :func:`pa_against` evaluates the
files kept in :attr:`ChipOutcome.pa_files` against each side's own store without touching the chip again, with the
reader's own rules (:func:`emrtd.read_document`): no EF.SOD fails whatever the store, no store leaves the chain and
revocation not performed (the failures found are kept: a data group differing from the SOD's hash is a fact).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import emrtd

__all__ = ["PA_FIELDS", "pa_fields", "pa_against", "kept_for_pa"]

#: the ChipOutcome / Evidence fields that hold Passive Authentication's verdict (the part a trust store decides)
PA_FIELDS = ("pa_passed", "pa_failures", "csca_chain", "dsc_revocation", "crl_stale")


def kept_for_pa(files: dict[str, bytes]) -> tuple[tuple[str, bytes], ...]:
    """What PA needs of the files read, kept in memory for the transaction: EF.SOD and the data groups."""
    return tuple((n, d) for n, d in files.items() if n == "EF.SOD" or n.startswith("DG"))


def pa_fields(pa: Any, pa_check: Any) -> dict[str, Any]:
    """The :data:`PA_FIELDS` of a :class:`emrtd.PassiveAuthResult` and the reader's ``passive_authentication``
    check (``emrtd.ReadResult.check``): passed / failed / unknown (None), the failures by name."""
    pa_failures = tuple(c.name for c in getattr(pa, "failures", ()))
    if pa_check is not None and pa_check.passed is False and not pa_failures:
        pa_failures = (pa_check.reason or "passive_authentication",)

    def step(name: str) -> bool | None:
        s = pa.check(name) if pa is not None and hasattr(pa, "check") else None
        return s.passed if s is not None else None

    revocation = pa.check("dsc_revocation") if pa is not None and hasattr(pa, "check") else None
    return {"pa_passed": pa_check.passed if pa_check else None, "pa_failures": pa_failures,
            "csca_chain": step("dsc_chain"), "dsc_revocation": step("dsc_revocation"),
            "crl_stale": getattr(revocation, "code", "") == "stale_crl"}


def pa_against(files: Iterable[tuple[str, bytes]], trust: Any) -> dict[str, Any]:
    """Passive Authentication of files already read (``ChipOutcome.pa_files``) against ``trust`` (an
    :class:`emrtd.TrustStore`, a list of CSCA certificates, or None: no store), as :data:`PA_FIELDS`."""
    files = dict(files)
    if isinstance(trust, list | tuple):
        trust = emrtd.TrustStore(list(trust))
    result = emrtd.passive_authentication(files, trust=trust)
    if "EF.SOD" not in files:
        check = emrtd.Check("passive_authentication", False, "EF.SOD was not read: no data group can be verified")
    elif trust is None:
        found = f"; found: {result.reason}" if result.reason else ""
        check = emrtd.Check("passive_authentication", None, "no trust store: DSC -> CSCA chain not verified" + found)
    else:
        check = emrtd.Check("passive_authentication", result.valid, result.reason)
    return pa_fields(result, check)
