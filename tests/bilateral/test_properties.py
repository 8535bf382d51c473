"""Any change of one byte of an attestation is refused (and never consumes the genuine one)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from bilateral import (
    BilateralError,
    ReplayStore,
    issue_attestation,
    key_kid,
    load_trust_list,
    parse_agreement,
    sign_revocations,
    sign_trust_list,
    verify_attestation,
)
from tests.bilateral.conftest import AGREEMENT, CHECKS, NUMBER, SOD, STATE, T0

_KEY = ec.generate_private_key(ec.SECP256R1())
_LIST_KEY = Ed25519PrivateKey.generate()
_SECRET = b"k" * 32
_AGREEMENT = parse_agreement(AGREEMENT)
_TRUST = sign_trust_list([_KEY.public_key()], administration="VNM", list_key=_LIST_KEY, version=1, issued_at=T0)
_REVOKED = sign_revocations([], administration="VNM", list_key=_LIST_KEY, version=1, issued_at=T0)


def _store() -> ReplayStore:
    """A fresh entry gate's store with the partner's lists installed (so a refusal is the attestation's)."""
    store = ReplayStore()
    store.install_trust_list(_TRUST, [_LIST_KEY.public_key()], administration="VNM")
    store.install_revocations(_REVOKED, [_LIST_KEY.public_key()], administration="VNM")
    return store


_STORE0 = _store()
_PARTNER = load_trust_list(_TRUST, [_LIST_KEY.public_key()], administration="VNM", min_version=1)
_REVOCATIONS = _STORE0.install_revocations(_REVOKED, [_LIST_KEY.public_key()], administration="VNM")
BLOB = issue_attestation(signing_key=_KEY, kid=key_kid(_KEY.public_key()), secret=_SECRET, issuer="VNM",
                         direction="exit", lane="BL1-EXIT-03", issuing_state=STATE, document_number=NUMBER,
                         ef_sod=SOD, checks=CHECKS, validity_s=900, now=T0)


def _verify(blob: bytes, store: ReplayStore):
    return verify_attestation(blob, agreement=_AGREEMENT, partner_keys=_PARTNER, revocations=_REVOCATIONS,
                              replay_store=store, secret=_SECRET, issuing_state=STATE, document_number=NUMBER,
                              ef_sod=SOD, now=T0 + dt.timedelta(seconds=30))


def _refused(blob: bytes) -> None:
    store = _store()
    try:
        with pytest.raises(BilateralError):
            _verify(blob, store)
        assert store.seen_count() == 0
    finally:
        store.close()


def test_the_genuine_attestation_verifies():
    store = _store()
    assert _verify(BLOB, store).skippable == {"passive_authentication", "document_expired"}
    store.close()


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_any_single_byte_change_is_refused(data):
    position = data.draw(st.integers(0, len(BLOB) - 1), label="position")
    value = data.draw(st.integers(0, 255).filter(lambda v: v != BLOB[position]), label="value")
    changed = bytearray(BLOB)
    changed[position] = value
    _refused(bytes(changed))


def test_every_byte_flipped_in_turn_is_refused():
    for position in range(len(BLOB)):
        for mask in (0x01, 0x80):
            changed = bytearray(BLOB)
            changed[position] ^= mask
            _refused(bytes(changed))


@given(st.integers(0, 10**8 - 1).map(lambda n: f"C{n:08d}"), st.sampled_from(["VNM", "CHN", "D", "UTO"]))
@settings(max_examples=50, deadline=None)
def test_the_document_number_is_never_in_the_clear(number, state):
    blob = issue_attestation(signing_key=_KEY, kid=key_kid(_KEY.public_key()), secret=_SECRET, issuer="VNM",
                             direction="exit", lane="L1", issuing_state=state, document_number=number,
                             ef_sod=SOD, checks={"passive_authentication": "passed"}, validity_s=60, now=T0)
    assert number.encode() not in blob and (state + number).encode() not in blob
