"""The partner's trust list and revocation list (privacy's signed-list format) and the agreement file."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bilateral import (
    RELIABLE_CHECKS,
    AgreementError,
    CheckNotReliable,
    CoseUnknownKid,
    ListTooOld,
    NeverSkippable,
    RevocationEquivocation,
    RevocationListError,
    RevocationRollback,
    RevocationsNotCurrent,
    Revoked,
    TrustListEquivocation,
    TrustListError,
    TrustListNotCurrent,
    TrustListRollback,
    decode_sign1,
    key_kid,
    load_agreement,
    load_trust_list,
    parse_agreement,
    parse_claims,
    sign_revocations,
    sign_trust_list,
)
from privacy import SIGNED_LIST_FORMAT
from tests.bilateral.conftest import AGREEMENT, LISTS_AT


def test_the_trust_list_is_a_signed_list_of_the_partners_keys():
    list_key = Ed25519PrivateKey.generate()
    keys = [ec.generate_private_key(ec.SECP256R1()).public_key() for _ in range(2)]
    blob = sign_trust_list(keys, administration="VNM", list_key=list_key, version=3)
    assert json.loads(blob)["format"] == SIGNED_LIST_FORMAT
    partner = load_trust_list(blob, [list_key.public_key()], administration="VNM", min_version=0)
    assert partner.version == 3 and set(partner.keys) == {key_kid(k) for k in keys}
    with pytest.raises(TrustListError, match="unknown_key"):
        load_trust_list(blob, [Ed25519PrivateKey.generate().public_key()], administration="VNM", min_version=0)
    with pytest.raises(TrustListRollback, match="rollback"):
        load_trust_list(blob, [list_key.public_key()], administration="VNM", min_version=4)
    with pytest.raises(TrustListError):
        load_trust_list(blob, [list_key.public_key()], administration="CHN", min_version=0)
    tampered = blob.replace(b'"version":3', b'"version":9')
    with pytest.raises(TrustListError, match="bad_signature"):
        load_trust_list(tampered, [list_key.public_key()], administration="VNM", min_version=0)


def test_a_key_listed_under_another_kid_is_refused():
    from privacy import public_key_b64, sign_list

    list_key = Ed25519PrivateKey.generate()
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    payload = {"administration": "VNM", "keys": [{"kid": "00" * 8, "public_key": public_key_b64(key)}]}
    blob = sign_list(payload, list_key, list_name="bilateral-trust", version=1)
    with pytest.raises(TrustListError, match="not the key's own"):
        load_trust_list(blob, [list_key.public_key()], administration="VNM", min_version=0)


def test_min_version_is_required_wherever_a_signed_list_is_loaded():
    import inspect

    from bilateral import load_revocations

    for load in (load_trust_list, load_revocations):
        parameter = inspect.signature(load).parameters["min_version"]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY and parameter.default is inspect.Parameter.empty
    list_key = Ed25519PrivateKey.generate()
    blob = sign_trust_list([], administration="VNM", list_key=list_key, version=1)
    with pytest.raises(TypeError):
        load_trust_list(blob, [list_key.public_key()], administration="VNM")


def test_a_trust_list_rolled_back_after_a_key_was_removed_is_refused(tmp_path, bl):
    """v1 lists the key later compromised, v2 removes it; v1 delivered again (by an attacker or a stale feed)
    is refused at install, also after a restart, and partner keys not installed are refused at verify."""
    from bilateral import ReplayStore

    compromised = ec.generate_private_key(ec.SECP256R1())
    list_keys = [bl.list_key.public_key()]
    v1 = sign_trust_list([compromised.public_key(), bl.signing_key.public_key()], administration="VNM",
                         list_key=bl.list_key, version=1)
    v2 = sign_trust_list([bl.signing_key.public_key()], administration="VNM", list_key=bl.list_key, version=2)
    path = tmp_path / "bilateral.db"
    store = bl.install_lists(ReplayStore(path))
    current = store.install_trust_list(v2, list_keys, administration="VNM")
    assert store.trust_floor("VNM")[0] == 2
    forged = bl.issue(signing_key=compromised, kid=key_kid(compromised.public_key()))
    with pytest.raises(CoseUnknownKid):
        bl.verify(forged, partner_keys=current, replay_store=store)
    with pytest.raises(TrustListRollback):
        store.install_trust_list(v1, list_keys, administration="VNM")
    store.close()
    store = ReplayStore(path)
    with pytest.raises(TrustListRollback):
        store.install_trust_list(v1, list_keys, administration="VNM")
    stale = load_trust_list(v1, list_keys, administration="VNM", min_version=0)  # loaded around the store
    with pytest.raises(TrustListNotCurrent):
        bl.verify(forged, partner_keys=stale, replay_store=store)
    assert store.seen_count() == 0
    store.close()


def test_another_trust_list_at_the_version_held_is_refused(bl):
    list_keys = [bl.list_key.public_key()]
    same = sign_trust_list([bl.signing_key.public_key()], administration="VNM", list_key=bl.list_key, version=1)
    assert bl.store.install_trust_list(same, list_keys, administration="VNM").digest == bl.partner_keys.digest
    other = sign_trust_list([ec.generate_private_key(ec.SECP256R1()).public_key()], administration="VNM",
                            list_key=bl.list_key, version=1)
    with pytest.raises(TrustListEquivocation):
        bl.store.install_trust_list(other, list_keys, administration="VNM")
    assert bl.store.trust_floor("VNM") == (1, bl.partner_keys.digest)


def test_no_trust_list_installed_is_refused(bl):
    from bilateral import ReplayStore

    store = ReplayStore()
    with pytest.raises(TrustListNotCurrent):
        bl.verify(bl.issue(), replay_store=store)
    store.close()


def test_revocation_list_versions_never_roll_back(bl):
    blob = bl.issue()
    att = parse_claims(decode_sign1(blob).payload)
    old = sign_revocations([att.attestation_id], administration="VNM", list_key=bl.list_key, version=2)
    bl.revocations = bl.store.install_revocations(old, [bl.list_key.public_key()], administration="VNM")
    bl.revoke(version=3)  # the guard's reversal is itself reversed: an empty list, version 3
    bl.verify(bl.issue())
    with pytest.raises(RevocationRollback):  # replaying version 2 to revoke again, or a stale list
        bl.store.install_revocations(old, [bl.list_key.public_key()], administration="VNM")
    assert bl.store.revocation_floor("VNM")[0] == 3


def test_the_revocation_floor_is_kept_in_the_database(tmp_path, bl):
    from bilateral import ReplayStore

    path = tmp_path / "bilateral.db"
    store = ReplayStore(path)
    v5 = sign_revocations([], administration="VNM", list_key=bl.list_key, version=5)
    v4 = sign_revocations([], administration="VNM", list_key=bl.list_key, version=4)
    store.install_revocations(v5, [bl.list_key.public_key()], administration="VNM")
    store.close()
    store = ReplayStore(path)
    with pytest.raises(RevocationRollback):
        store.install_revocations(v4, [bl.list_key.public_key()], administration="VNM")
    store.close()


def test_another_revocation_list_at_the_version_held_is_refused(bl):
    same = sign_revocations([], administration="VNM", list_key=bl.list_key, version=1)
    bl.store.install_revocations(same, [bl.list_key.public_key()], administration="VNM")  # re-signed: fine
    other = sign_revocations([b"\x01" * 16], administration="VNM", list_key=bl.list_key, version=1)
    with pytest.raises(RevocationEquivocation):
        bl.store.install_revocations(other, [bl.list_key.public_key()], administration="VNM")


def test_a_revocation_list_signed_by_a_stranger_or_for_another_partner_is_refused(bl):
    stranger = Ed25519PrivateKey.generate()
    blob = sign_revocations([], administration="VNM", list_key=stranger, version=9)
    with pytest.raises(RevocationListError):
        bl.store.install_revocations(blob, [bl.list_key.public_key()], administration="VNM")
    other = sign_revocations([], administration="CHN", list_key=bl.list_key, version=9)
    with pytest.raises(RevocationListError):
        bl.store.install_revocations(other, [bl.list_key.public_key()], administration="VNM")
    assert bl.store.revocation_floor("VNM")[0] == 1


def test_verification_uses_only_the_revocation_list_installed(bl):
    """A Revocations object loaded around the store (a stale v1 after v2 revoked the attestation) or none
    installed at all is refused; the v2 installed revokes."""
    from bilateral import ReplayStore, load_revocations

    blob = bl.issue()
    cti = parse_claims(decode_sign1(blob).payload).attestation_id
    v1 = sign_revocations([], administration="VNM", list_key=bl.list_key, version=1, issued_at=LISTS_AT)
    bl.revoke(cti, version=2)
    stale = load_revocations(v1, [bl.list_key.public_key()], administration="VNM", min_version=0)
    with pytest.raises(RevocationsNotCurrent):
        bl.verify(blob, revocations=stale)
    with pytest.raises(Revoked):
        bl.verify(blob)
    empty = ReplayStore()  # trust list installed, no revocation list
    trust = sign_trust_list([bl.signing_key.public_key()], administration="VNM", list_key=bl.list_key, version=1,
                            issued_at=LISTS_AT)
    empty.install_trust_list(trust, [bl.list_key.public_key()], administration="VNM")
    with pytest.raises(RevocationsNotCurrent, match="no revocation list"):
        bl.verify(bl.issue(), replay_store=empty, revocations=stale)
    assert empty.seen_count() == 0 and bl.store.seen_count() == 0
    empty.close()
    assert isinstance(bl.revocations.issued_at, int) and bl.revocations.issued_at == int(LISTS_AT.timestamp())
    assert bl.partner_keys.issued_at == int(LISTS_AT.timestamp())


def test_a_list_older_than_the_agreement_allows_is_refused(bl):
    import datetime as dt

    assert bl.agreement.max_list_age_s == 86_400  # the default
    verify_at = LISTS_AT + dt.timedelta(seconds=86_400)
    bl.verify(bl.issue(now=verify_at), now=verify_at)  # exactly a day old: still used
    later = verify_at + dt.timedelta(seconds=1)
    with pytest.raises(ListTooOld, match="trust list"):
        bl.verify(bl.issue(now=later), now=later)
    # a fresh trust list, the revocation list still a day and a second old
    fresh = sign_trust_list([bl.signing_key.public_key()], administration="VNM", list_key=bl.list_key, version=2,
                            issued_at=later)
    bl.partner_keys = bl.store.install_trust_list(fresh, [bl.list_key.public_key()], administration="VNM")
    with pytest.raises(ListTooOld, match="revocation list"):
        bl.verify(bl.issue(now=later), now=later)
    bl.revoke(version=2, issued_at=later)
    bl.verify(bl.issue(now=later), now=later)
    assert bl.store.seen_count() == 2


@pytest.mark.parametrize(("value", "ok"), [(None, 86_400), (60, 60), (172_800, 172_800), (59, None),
                                           (172_801, None), (True, None), ("1d", None)])
def test_max_list_age_is_bounded(value, ok):
    table = dict(AGREEMENT["agreement"])
    if value is not None:
        table["max_list_age_s"] = value
    if ok is None:
        with pytest.raises(AgreementError, match="max_list_age_s"):
            parse_agreement({"agreement": table})
    else:
        assert parse_agreement({"agreement": table}).max_list_age_s == ok


def test_revoked_after_a_restart_of_the_store(tmp_path, bl):
    """The gate installs a revocation list, stops, and starts again from its database file: it re-installs
    the list it keeps (same version, same digest: accepted) and still refuses the revoked attestation; the
    list from before the revocation, offered after the restart, is a rollback."""
    from bilateral import ReplayStore

    path = tmp_path / "bilateral.db"
    list_keys = [bl.list_key.public_key()]
    blob = bl.issue()
    store = bl.install_lists(ReplayStore(path))
    before = sign_revocations([], administration="VNM", list_key=bl.list_key, version=6, issued_at=LISTS_AT)
    store.install_revocations(before, list_keys, administration="VNM")
    revoking = sign_revocations([parse_claims(decode_sign1(blob).payload).attestation_id], administration="VNM",
                                list_key=bl.list_key, version=7, issued_at=LISTS_AT)
    store.install_revocations(revoking, list_keys, administration="VNM")
    store.close()
    store = ReplayStore(path)  # the restart
    assert store.revocation_floor("VNM")[0] == 7
    with pytest.raises(RevocationRollback):
        store.install_revocations(before, list_keys, administration="VNM")
    revocations = store.install_revocations(revoking, list_keys, administration="VNM")
    with pytest.raises(Revoked):
        bl.verify(blob, replay_store=store, revocations=revocations)
    assert store.seen_count() == 0
    store.close()


def test_agreement_from_toml(tmp_path):
    path = tmp_path / "agreement.toml"
    path.write_text('[agreement]\npartner = "VNM"\ndirection = "exit"\n'
                    'rely_on = ["passive_authentication"]\nvalidity_s = 600\nclock_skew_s = 60\n')
    agreement = load_agreement(path)
    assert agreement.partner == "VNM" and agreement.rely_on == {"passive_authentication"}
    assert agreement.validity_s == 600 and agreement.clock_skew_s == 60
    assert agreement.skippable(("passive_authentication", "document_expired")) == {"passive_authentication"}


@pytest.mark.parametrize("check", ["watchlist", "face", "face_match", "watchlist_hit", "liveness"])
def test_watchlist_and_face_are_never_skippable(check):
    data = {"agreement": {**AGREEMENT["agreement"], "rely_on": ["passive_authentication", check]}}
    with pytest.raises(NeverSkippable, match=check):
        parse_agreement(data)


def test_even_an_agreement_object_built_by_hand_never_skips_the_face():
    agreement = parse_agreement(AGREEMENT)
    from dataclasses import replace

    forged = replace(agreement, rely_on=frozenset({"face", "watchlist", "passive_authentication"}))
    assert forged.skippable(("face", "passive_authentication", "watchlist")) == {"passive_authentication"}


@pytest.mark.parametrize("change", [
    {"partner": "Vietnam"}, {"direction": "sideways"}, {"rely_on": "passive_authentication"},
    {"validity_s": 0}, {"validity_s": True}, {"clock_skew_s": -1}, {"retention": 3},
    # what the partner attests is its exit; an "entry" agreement is refused
    {"direction": "entry"},
    # validity at most an hour, clock skew at most five minutes
    {"validity_s": 3601}, {"validity_s": 604_800}, {"clock_skew_s": 301}, {"clock_skew_s": 3600},
])
def test_a_bad_agreement_is_refused_by_name(change):
    with pytest.raises(AgreementError):
        parse_agreement({"agreement": {**AGREEMENT["agreement"], **change}})


def test_the_caps_themselves_are_accepted():
    agreement = parse_agreement({"agreement": {**AGREEMENT["agreement"], "validity_s": 3600, "clock_skew_s": 300}})
    assert (agreement.validity_s, agreement.clock_skew_s, agreement.direction) == (3600, 300, "exit")


@pytest.mark.parametrize("check", ["data_groups", "mrz_matches_chip", "hardware_fault", "timeout", "single_person",
                                   "fingerprint_match", "minor", "document_unreadable", "chip_read", "face_acquired",
                                   "watchlist_fresh", "document_expiry", "passive_authentication_chain",
                                   "no_such_check"])
def test_only_allow_listed_checks_may_be_relied_on(check):
    """An allow-list, not a deny-list: every gate rule but the four, and any name that is no gate rule (so it
    would silently rely on nothing, or on something a later rule of that name does), is refused at load."""
    data = {"agreement": {**AGREEMENT["agreement"], "rely_on": ["passive_authentication", check]}}
    with pytest.raises(AgreementError, match=check) as refused:
        parse_agreement(data)
    assert refused.value.reason in {"check_not_reliable", "never_skippable"}
    if not check.startswith(("watchlist", "face")):
        assert isinstance(refused.value, CheckNotReliable)


def test_the_allow_list_names_gate_rules():
    """bilateral may not import gate; the allow-list is kept here and must name the gate's rules exactly."""
    from gate._policy import RULES

    rule_names = {rule.name for rule in RULES}
    assert RELIABLE_CHECKS and RELIABLE_CHECKS <= rule_names, sorted(RELIABLE_CHECKS - rule_names)
    # never: what the entry gate must see for itself on the chip it reads (a clone carries the genuine SOD)
    assert not RELIABLE_CHECKS & {"data_groups", "mrz_matches_chip", "chip_authenticity", "watchlist", "face_match",
                                  "liveness"}
    every = parse_agreement({"agreement": {**AGREEMENT["agreement"], "rely_on": sorted(RELIABLE_CHECKS)}})
    assert every.skippable(tuple(sorted(rule_names))) == RELIABLE_CHECKS


def test_an_agreement_built_by_hand_never_skips_what_is_not_allow_listed():
    from dataclasses import replace

    forged = replace(parse_agreement(AGREEMENT), rely_on=frozenset({"data_groups", "mrz_matches_chip",
                                                                    "document_expired"}))
    assert forged.skippable(("data_groups", "document_expired", "mrz_matches_chip")) == {"document_expired"}


def test_an_unreadable_agreement_file_is_refused(tmp_path):
    with pytest.raises(AgreementError):
        load_agreement(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("[agreement\n")
    with pytest.raises(AgreementError):
        load_agreement(tmp_path / "bad.toml")
