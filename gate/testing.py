"""Test doubles for the gate's steps (tests, benches and the simulator only; no runtime module imports
this: an import-linter contract forbids it).

:func:`verified_chip` is the outcome of a chip whose every check passed, with fields overridable, so a
test of the workflow or the outbox can state only what it is about; :func:`passport` is a presentation
of a passport's MRZ (an :class:`emrtd.Mrz` built from its fields, as the document step parses it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import emrtd
from gate._policy import REQUIRED_DATA_GROUPS
from gate._workflow import ChipOutcome, Presentation

__all__ = ["passport", "verified_chip"]


def passport(number: str = "C1234567", surname: str = "NGUYEN", given_names: str = "VAN A", *,
             date_of_birth: dt.date = dt.date(1990, 1, 1), date_of_expiry: dt.date = dt.date(2030, 1, 1),
             issuing_state: str = "VNM", nationality: str = "VNM", sex: str = "M",
             source: str = "mrz") -> Presentation:
    """A TD3 passport presented at the gate (``source`` "mrz" or "ocr")."""
    mrz = emrtd.Mrz("TD3", "P<", issuing_state, surname, given_names, number, nationality, date_of_birth, sex,
                    date_of_expiry)
    return Presentation.from_mrz(mrz, source)


def verified_chip(**changes: Any) -> ChipOutcome:
    """A chip read with PACE, Passive Authentication (chain and CRL) and Active Authentication passed,
    every required data group verified, DG1 equal to the printed MRZ and a chip photo."""
    base = ChipOutcome(read=True, pa_passed=True, csca_chain=True, dsc_revocation=True,
                       data_groups=tuple((n, True) for n in REQUIRED_DATA_GROUPS), aa_offered=True, aa_passed=True,
                       ca_offered=False, mrz_matches_dg1=True, dg2_image=b"chip-photo", protocol="PACE")
    return replace(base, **changes)
