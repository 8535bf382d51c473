"""Test doubles for the gate's steps (tests, benches and the simulator only; no runtime module imports
this: an import-linter contract forbids it).

:func:`verified_chip` is the outcome of a chip whose every check passed, with fields overridable, so a
test of the workflow or the outbox can state only what it is about.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from gate._policy import REQUIRED_DATA_GROUPS
from gate._workflow import ChipOutcome

__all__ = ["PlainSealer", "verified_chip"]


def verified_chip(**changes: Any) -> ChipOutcome:
    """A chip read with PACE, Passive Authentication (chain and CRL) and Active Authentication passed,
    every required data group verified, DG1 equal to the printed MRZ and a chip photo."""
    base = ChipOutcome(read=True, pa_passed=True, csca_chain=True, dsc_revocation=True,
                       data_groups=tuple((n, True) for n in REQUIRED_DATA_GROUPS), aa_offered=True, aa_passed=True,
                       ca_offered=False, mrz_matches_dg1=True, dg2_image=b"chip-photo", protocol="PACE")
    return replace(base, **changes)


class PlainSealer:
    """No encryption: a test double for tests that read outbox payloads from the raw database."""

    def seal(self, record_id: str, plaintext: bytes) -> bytes:
        return plaintext

    def open(self, record_id: str, sealed: bytes) -> bytes:
        return sealed
