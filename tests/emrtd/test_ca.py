"""Chip Authentication (Doc 9303 Part 11 §6.2) with ECDH keys from DG14, and a cloned chip failing it."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from emrtd import read_document
from emrtd._ca import perform_chip_authentication
from emrtd._secinfo import SecurityInfos
from emrtd.sim import InProcessTransport
from tests.emrtd.test_chip import KEY, make_chip


@pytest.mark.parametrize("cipher", ["3DES", "AES"])
@pytest.mark.parametrize("curve", [ec.BrainpoolP256R1(), ec.SECP384R1()], ids=lambda c: c.name)
def test_chip_authentication_then_reading_continues(cipher, curve):
    chip = make_chip(ca_key=ec.generate_private_key(curve), ca_cipher=cipher)
    res = read_document(InProcessTransport(chip), KEY)
    assert res.chip_authentication.succeeded, res.chip_authentication.reason
    assert res.chip_authentication.cipher == cipher
    assert chip.session == "PACE+CA"
    assert res.files["DG2"] == chip.files["DG2"]  # read under the CA session keys
    assert res.valid


def test_cloned_chip_fails_and_the_reader_reauthenticates():
    chip = make_chip(ca_key=ec.generate_private_key(ec.SECP256R1()))
    chip.ca_key = ec.generate_private_key(ec.SECP256R1())  # clone: DG14 copied, private key unknown
    res = read_document(InProcessTransport(chip), KEY)
    ca = res.chip_authentication
    assert ca.succeeded is False and "cloned" in ca.reason
    assert not res.valid and [c.name for c in res.failures] == ["chip_authentication"]
    assert res.files["DG2"] == chip.files["DG2"]  # the rest was still read after re-authenticating


def test_dg14_without_key_is_reported():
    class Channel:
        sm = None

        def send(self, cmd):  # pragma: no cover - never reached
            raise AssertionError

    res = perform_chip_authentication(Channel(), SecurityInfos([]))
    assert res.succeeded is False and "DG14 unusable" in res.reason
