"""Active Authentication (Doc 9303 Part 11 §6.1): RSA ISO/IEC 9796-2 scheme 1 and plain ECDSA."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from emrtd import read_document
from emrtd._aa import aa_sign, ec_public_key_from_spki, verify_aa_signature
from emrtd._secinfo import ECDSA_PLAIN
from emrtd.sim import InProcessTransport
from tests.conftest import shared_path
from tests.emrtd.test_chip import KEY, _rsa_key, make_chip, spki

CHALLENGE = bytes.fromhex("0102030405060708")


def test_rsa_iso9796_2_sign_and_verify():
    key = _rsa_key()
    sig = aa_sign(key, CHALLENGE)
    assert verify_aa_signature(spki(key), CHALLENGE, sig) == ""
    assert "digest" in verify_aa_signature(spki(key), b"\x00" * 8, sig)
    assert verify_aa_signature(spki(key), CHALLENGE, b"\x00" * len(sig)) != ""


def test_rsa_both_representatives_accepted():
    key = _rsa_key()
    n = key.public_key().public_numbers().n
    sig = int.from_bytes(aa_sign(key, CHALLENGE), "big")
    other = (n - sig).to_bytes(len(aa_sign(key, CHALLENGE)), "big")
    assert verify_aa_signature(spki(key), CHALLENGE, other) == ""


def test_rsa_sha256_trailer():
    key = _rsa_key()
    nums = key.private_numbers()
    n = nums.public_numbers.n
    k = (n.bit_length() + 7) // 8
    m1 = b"\x11" * (k - 2 - 32 - 1)
    f = b"\x6a" + m1 + hashlib.sha256(m1 + CHALLENGE).digest() + b"\x34\xcc"
    sig = pow(int.from_bytes(f, "big"), nums.d, n).to_bytes(k, "big")
    assert verify_aa_signature(spki(key), CHALLENGE, sig) == ""


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.BrainpoolP384R1()], ids=lambda c: c.name)
@pytest.mark.parametrize("alg", [".1", ".3", ".5"])
def test_ecdsa(curve, alg):
    key = ec.generate_private_key(curve)
    sig = aa_sign(key, CHALLENGE, signature_algorithm=ECDSA_PLAIN + alg)
    assert verify_aa_signature(spki(key), CHALLENGE, sig, ECDSA_PLAIN + alg) == ""
    assert verify_aa_signature(spki(key), CHALLENGE[::-1], sig, ECDSA_PLAIN + alg) != ""
    assert verify_aa_signature(spki(key), CHALLENGE, sig[:-1], ECDSA_PLAIN + alg) != ""


def test_bsi_dg14_explicit_curve_key_loads():
    from emrtd._secinfo import SecurityInfos

    raw = shared_path("emrtd", "bsi_tr03105_5", "bsi_tr03105-5_EF_DG14.bin").read_bytes()
    (pk,) = SecurityInfos.parse_dg14(raw).chip_authentication_public_keys
    curve, point = ec_public_key_from_spki(pk.public_key)
    assert curve.name == "brainpoolp224r1" and curve.is_on_curve(point)


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_aa_through_the_reader_and_a_cloned_chip(kind):
    key = _rsa_key() if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    chip = make_chip(aa_key=key)
    res = read_document(InProcessTransport(chip), KEY)
    assert res.active_authentication.succeeded, res.active_authentication.reason
    # a clone: same DG15, different private key
    chip.aa_key = rsa.generate_private_key(65537, 1024) if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    chip.reset()
    res = read_document(InProcessTransport(chip), KEY)
    assert res.active_authentication.succeeded is False
    assert not res.valid and res.failures[0].name == "active_authentication"
