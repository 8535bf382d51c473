"""A partner's crossing attestation in the entry gate's policy (issue #26 item 2): a check the attestation stands
in for and this gate did not obtain is "not required", recorded with the attestation's id; a check this gate ran
and saw fail still refers; nothing but the allow-listed checks can be attested, and an attestation counts only on
a chip this gate read."""

import dataclasses

import pytest

from gate import ATTESTABLE_CHECKS, CheckStatus, Outcome, PolicyConfig, ReasonCode, decide
from tests.gate.test_policy import good

ATT = "a3f1c2d4e5f60718293a4b5c6d7e8f90"
#: the chip read and its data groups hashed against the SOD, but no certificate chain checked (no CSCA held for
#: the partner's documents, no current CRL): what an entry gate relying on the exit side's PA has
NO_CHAIN = dict(pa_passed=None, csca_chain=None, dsc_revocation=None)
#: an entry lane under a bilateral agreement (an explicit setting: off by default)
ENTRY = PolicyConfig(accept_attestations=True)


def test_an_attested_check_not_run_here_is_not_required_and_recorded():
    d = decide(good(**NO_CHAIN, attested_checks=("passive_authentication",), attestation_id=ATT), ENTRY)
    assert d.outcome is Outcome.OPEN, d.explain()
    assert d.status("passive_authentication") is CheckStatus.NOT_REQUIRED
    assert d.status("data_groups") is CheckStatus.PASSED  # still this gate's own
    assert d.to_dict()["attestation"] == {"id": ATT, "checks": ["passive_authentication"]}
    # without the attestation the same evidence refers
    alone = decide(good(**NO_CHAIN))
    assert alone.outcome is Outcome.REFER and ReasonCode.EVIDENCE_MISSING in alone.reasons
    assert "attestation" not in alone.to_dict()


def test_a_check_run_here_and_failed_still_refers():
    for failed in (dict(pa_passed=False, pa_failures=("sod_signature",)), dict(dsc_revocation=False)):
        d = decide(good(**failed, attested_checks=("passive_authentication",), attestation_id=ATT), ENTRY)
        assert d.outcome is Outcome.REFER and ReasonCode.CHIP_PA_FAILED in d.reasons, failed
    d = decide(good(date_of_expiry=good().today.replace(year=2020), attested_checks=("document_expired",),
                    attestation_id=ATT), ENTRY)
    assert d.outcome is Outcome.REFER and ReasonCode.DOCUMENT_EXPIRED in d.reasons


def test_a_passed_check_stays_passed_and_the_attestation_is_not_claimed():
    d = decide(good(attested_checks=("passive_authentication",), attestation_id=ATT), ENTRY)
    assert d.outcome is Outcome.OPEN and d.status("passive_authentication") is CheckStatus.PASSED
    assert "attestation" not in d.to_dict()


def test_an_attestation_without_its_id_or_without_the_chip_counts_for_nothing():
    d = decide(good(**NO_CHAIN, attested_checks=("passive_authentication",)), ENTRY)
    assert d.outcome is Outcome.REFER and d.status("passive_authentication") is CheckStatus.MISSING
    d = decide(good(**NO_CHAIN, chip_read=None, attested_checks=("passive_authentication",), attestation_id=ATT),
               ENTRY)
    assert d.outcome is Outcome.REFER and d.status("passive_authentication") is CheckStatus.MISSING


def test_a_stale_crl_at_entry_still_refers():
    """A lane's own named reason is not the partner's to waive: the exit side's PA may have been checked under a
    relaxed revocation setting, and this lane does not accept a stale CRL's answer."""
    att = dict(attested_checks=("passive_authentication",), attestation_id=ATT)
    for d in (decide(good(dsc_revocation=None, crl_stale=True)),
              decide(good(dsc_revocation=None, crl_stale=True, **att), ENTRY)):
        assert d.outcome is Outcome.REFER and ReasonCode.CRL_STALE in d.reasons


def test_a_lane_relies_on_attestations_only_when_configured_to():
    d = decide(good(**NO_CHAIN, attested_checks=("passive_authentication",), attestation_id=ATT))
    assert d.outcome is Outcome.REFER and d.status("passive_authentication") is CheckStatus.MISSING
    assert PolicyConfig().accept_attestations is False


def test_a_clone_with_a_swapped_dg15_refers_even_with_a_genuine_attestation():
    """The clone keeps the genuine EF.SOD, DG1 and DG2 (the attestation's document hash matches) and swaps DG15
    for its own AA key, which then verifies: without a trust store PA's chain is unknown, but the DG15 hash
    mismatch it named is a fact, and refers as chip_pa_failed with or without the attestation."""
    clone = dict(NO_CHAIN, pa_failures=("dg_hash:DG15",), aa_offered=True, aa_passed=True)
    for d in (decide(good(**clone)), decide(good(**clone, attested_checks=("passive_authentication",),
                                                 attestation_id=ATT), ENTRY)):
        assert d.outcome is Outcome.REFER and ReasonCode.CHIP_PA_FAILED in d.reasons
        assert d.status("passive_authentication") is CheckStatus.FAILED


def test_only_the_checks_relied_on_are_recorded():
    d = decide(good(**NO_CHAIN, attested_checks=("passive_authentication", "document_expired"), attestation_id=ATT),
               ENTRY)
    assert d.outcome is Outcome.OPEN and d.status("document_expired") is CheckStatus.PASSED
    assert d.to_dict()["attestation"] == {"id": ATT, "checks": ["passive_authentication"]}


@pytest.mark.parametrize("check", ["data_groups", "mrz_matches_chip", "chip_authenticity", "face_match", "liveness",
                                   "watchlist", "watchlist_fresh", "fingerprint_match", "single_person", "nonsense"])
def test_nothing_else_can_be_attested(check):
    with pytest.raises(ValueError, match="no attestation stands in for"):
        decide(good(attested_checks=(check,), attestation_id=ATT), ENTRY)


def test_the_gate_and_the_agreement_allow_the_same_checks():
    bilateral = pytest.importorskip("bilateral")
    assert ATTESTABLE_CHECKS == bilateral.RELIABLE_CHECKS


def test_the_evidence_record_names_the_attestation_fields():
    names = {f.name for f in dataclasses.fields(good())}
    assert {"attested_checks", "attestation_id"} <= names
