"""Doc 9303 Part 11 §9.7.1 KDF, ISO 9797-1 padding and MAC alg. 3, AES-CMAC, EC arithmetic."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from emrtd._crypto import (
    CURVES,
    CryptoError,
    EcError,
    PaddingError,
    SmCipher,
    adjust_parity,
    aes_cmac,
    curve_by_name,
    curve_by_parameter_id,
    kdf,
    match_curve,
    pad,
    retail_mac,
    unpad,
)

H = bytes.fromhex


def test_kdf_appendix_d():
    seed = H("239AB9CB282DAF66231DC5A4DF6BFBAE")
    assert kdf(seed, 1) == H("AB94FDECF2674FDFB9B391F85D7F76F2")
    assert kdf(seed, 2) == H("7962D9ECE03D1ACD4C76089DCE131543")


def test_kdf_lengths_and_errors():
    assert len(kdf(b"k", 1, "AES", 128)) == 16
    assert len(kdf(b"k", 1, "AES", 192)) == 24
    assert len(kdf(b"k", 1, "AES", 256)) == 32
    with pytest.raises(CryptoError):
        kdf(b"k", 1, "AES", 100)
    with pytest.raises(CryptoError):
        kdf(b"k", 1, "RC4")


def test_parity():
    assert all(bin(b).count("1") % 2 == 1 for b in adjust_parity(bytes(range(256))))


def test_retail_mac_appendix_d():
    # D.3: M_IFD over E_IFD
    e_ifd = H("72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2")
    assert retail_mac(H("7962D9ECE03D1ACD4C76089DCE131543"), e_ifd) == H("5F1448EEA8AD90A7")


def test_aes_cmac_rfc4493():
    key = H("2b7e151628aed2a6abf7158809cf4f3c")
    assert aes_cmac(key, b"", 16) == H("bb1d6929e95937287fa37d129b756746")
    assert aes_cmac(key, H("6bc1bee22e409f96e93d7e117393172a")) == H("070a16b46b4d4144")


@given(st.binary(max_size=64), st.sampled_from([8, 16]))
def test_pad_unpad(data, block):
    p = pad(data, block)
    assert len(p) % block == 0 and unpad(p, block) == data


@pytest.mark.parametrize("bad", [b"", b"\x00" * 8, b"\x01" * 8, b"\x80" + b"\x00" * 8])
def test_unpad_rejects(bad):
    with pytest.raises(PaddingError):
        unpad(bad, 8)


def test_sm_cipher_checks_keys():
    with pytest.raises(CryptoError):
        SmCipher("AES", bytes(16), bytes(24))
    with pytest.raises(CryptoError):
        SmCipher("3DES", bytes(24), bytes(16))


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.name)
def test_curves_agree_with_openssl(curve):
    assert curve.is_on_curve(curve.g)
    assert curve.mul(curve.n, curve.g) is None
    assert curve.mul(7, curve.g) == curve.add(curve.mul(3, curve.g), curve.mul(4, curve.g))
    assert curve.decode_point(curve.encode_point(curve.mul(5, curve.g))) == curve.mul(5, curve.g)
    if curve.cryptography_name:
        nums = ec.derive_private_key(0xC0FFEE, getattr(ec, curve.cryptography_name)()).public_key().public_numbers()
        assert curve.mul(0xC0FFEE, curve.g) == (nums.x, nums.y)


def test_ec_errors():
    c = curve_by_parameter_id(13)
    assert c is curve_by_name("brainpoolP256r1")
    with pytest.raises(EcError):
        c.decode_point(b"\x04" + bytes(64))
    with pytest.raises(EcError):
        c.decode_point(b"\x02" + bytes(32))
    with pytest.raises(EcError):
        curve_by_parameter_id(2)  # a DH group
    assert match_curve(c.p, c.a, c.b, c.gx, c.gy, c.n) is c
    with pytest.raises(EcError):
        match_curve(c.p, c.a, c.b + 1, c.gx, c.gy, c.n)
    with pytest.raises(EcError):
        c.random_scalar(lambda n: b"\xff" * n)
