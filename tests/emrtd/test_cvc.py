"""CV certificates (BSI TR-03110 Part 3 Appendix C): encoding, parsing byte for byte, signatures, chains."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from emrtd._cvc import (
    READ_DG3,
    READ_DG4,
    ROLE_CVCA,
    ROLE_DV_DOMESTIC,
    ROLE_IS,
    Chat,
    CvcChainError,
    CvCertificate,
    CvcFormatError,
    CvcSignatureError,
    CvcValidityError,
    split_certificates,
    validate_chain,
)
from emrtd._tlv import encode_tlv
from emrtd.sim import EacPki, issue_cv_certificate

TODAY = dt.date.today()


@pytest.fixture(scope="module")
def eac():
    return EacPki.make("UT")


def test_the_chat_of_an_inspection_system_is_encoded_as_the_spec_writes_it():
    # id-IS 0.4.0.127.0.7.3.1.2.1, role IS (00), read DG3 and DG4 (bits 1 and 2): 7F4C 0E 06 09 ... 53 01 03
    assert Chat(ROLE_IS, READ_DG3 | READ_DG4).encode().hex().upper() == "7F4C0E060904007F000703010201530103"
    assert Chat(ROLE_CVCA, READ_DG3 | READ_DG4).encode()[-1] == 0xC3
    assert Chat(ROLE_DV_DOMESTIC, READ_DG4).encode()[-1] == 0x82
    chat = Chat.parse(bytes.fromhex("060904007F000703010201530101"))
    assert (chat.role, chat.data_groups) == (ROLE_IS, ("DG3",))


def test_certificates_round_trip_byte_for_byte(eac):
    terminal = eac.terminal()
    for cert in (eac.cvca, eac.dv, *terminal.chain):
        raw = cert.encode()
        assert raw[:2] == b"\x7f\x21"
        again = CvCertificate.parse(raw)
        assert again == cert and again.encode() == raw
        assert CvCertificate.parse_content(cert.verify_content()) == cert
    assert eac.cvca.public_key.curve is not None and eac.cvca.public_key.curve.name == "brainpoolp256r1"
    assert eac.dv.public_key.curve is None  # DV and IS certificates inherit the CVCA's domain parameters
    assert eac.cvca.car == eac.cvca.chr == "UTCVCA00001"
    body = eac.dv.body()
    # effective and expiration dates as six unpacked BCD digits
    eff = bytes(int(c) for c in eac.dv.effective.strftime("%y%m%d"))
    assert encode_tlv(0x5F25, eff) in body and len(eac.dv.signature) == 64


def test_a_truncated_certificate_is_refused_by_name(eac):
    raw = eac.dv.encode()
    for cut in (1, 3, 40, len(raw) - 1):
        with pytest.raises(CvcFormatError, match="truncated"):
            CvCertificate.parse(raw[:cut])
    with pytest.raises(CvcFormatError, match="bytes after"):
        CvCertificate.parse(raw + b"\x00")
    with pytest.raises(CvcFormatError, match="truncated"):
        split_certificates(raw + eac.dv.encode()[:20])


def test_malformed_fields_are_refused_by_name(eac):
    good = eac.dv
    with pytest.raises(CvcFormatError, match="7F21 expected"):
        CvCertificate.parse(encode_tlv(0x7F4E, good.body()))
    with pytest.raises(CvcFormatError, match="BCD"):
        CvCertificate.parse(good.encode().replace(encode_tlv(0x5F25, bytes(int(c) for c in good.effective.strftime("%y%m%d"))),
                                                  encode_tlv(0x5F25, b"\x02\x06\x01\x0a\x00\x01")))
    swapped = encode_tlv(0x7F21, encode_tlv(0x5F37, good.signature) + good.body())
    with pytest.raises(CvcFormatError, match="body \\(7F4E\\) then a signature"):
        CvCertificate.parse(swapped)
    rsa_key = encode_tlv(0x7F49, encode_tlv(0x06, bytes.fromhex("04007F00070202020102")) + encode_tlv(0x81, b"\x01"))
    from emrtd._tlv import read_tlv

    inner = read_tlv(good.body(), 0)[1]
    body = encode_tlv(0x7F4E, inner.replace(good.public_key.encode(), rsa_key))
    with pytest.raises(CvcFormatError, match="RSA"):
        CvCertificate.parse(encode_tlv(0x7F21, body + encode_tlv(0x5F37, good.signature)))


def test_a_valid_chain_gives_the_intersection_of_its_chats(eac):
    result = validate_chain(eac.cvca, list(eac.terminal().chain), TODAY)
    assert result.role == ROLE_IS and result.data_groups == ("DG3", "DG4")
    limited = eac.terminal(dv_rights=READ_DG4)  # the IS asks for DG3 and DG4, its DV may grant DG4 only
    assert limited.terminal.chat.data_groups == ("DG3", "DG4")
    assert validate_chain(eac.cvca, list(limited.chain), TODAY).data_groups == ("DG4",)


def test_forged_expired_and_misordered_chains_are_refused_by_name(eac):
    with pytest.raises(CvcSignatureError, match="does not verify"):
        validate_chain(eac.cvca, list(eac.terminal(forged=True).chain), TODAY)
    with pytest.raises(CvcValidityError, match="expired on"):
        validate_chain(eac.cvca, list(eac.terminal(expired=True).chain), TODAY)
    terminal = eac.terminal()
    with pytest.raises(CvcChainError, match="names UTDVTEST00001 as its issuer"):
        validate_chain(eac.cvca, [terminal.terminal], TODAY)  # the DV left out
    with pytest.raises(CvcChainError, match="ends with"):
        validate_chain(eac.cvca, [eac.dv], TODAY)
    # an IS certificate cannot issue another one
    key = ec.generate_private_key(ec.BrainpoolP256R1())
    rogue = issue_cv_certificate(terminal.private_key, terminal.terminal.chr, key, "UTISROGUE0001", ROLE_IS,
                                 READ_DG3, TODAY, TODAY + dt.timedelta(days=1))
    with pytest.raises(CvcChainError, match="cannot issue"):
        validate_chain(eac.cvca, [*terminal.chain, rogue], TODAY)
    with pytest.raises(CvcChainError, match="not a CVCA"):
        validate_chain(eac.dv, list(terminal.chain), TODAY)


def test_a_cvca_link_certificate_carries_the_chain_to_a_new_cvca_key(eac):
    new_key = ec.generate_private_key(ec.BrainpoolP256R1())
    far = TODAY + dt.timedelta(days=300)
    link = issue_cv_certificate(eac.cvca_key, eac.cvca.chr, new_key, "UTCVCA00002", ROLE_CVCA, READ_DG3 | READ_DG4,
                                TODAY, far, domain_parameters=True)
    dv_key, is_key = ec.generate_private_key(ec.BrainpoolP256R1()), ec.generate_private_key(ec.BrainpoolP256R1())
    dv = issue_cv_certificate(new_key, link.chr, dv_key, "UTDVTEST00002", ROLE_DV_DOMESTIC, READ_DG3, TODAY, far)
    is_ = issue_cv_certificate(dv_key, dv.chr, is_key, "UTISGATE00009", ROLE_IS, READ_DG3 | READ_DG4, TODAY, far)
    result = validate_chain(eac.cvca, [link, dv, is_], TODAY)
    assert result.terminal == is_ and result.data_groups == ("DG3",)
    # a DV signed by the new key but naming the old CVCA as its issuer: the old key does not verify it
    forged_dv = issue_cv_certificate(new_key, eac.cvca.chr, dv_key, "UTDVTEST00002", ROLE_DV_DOMESTIC, READ_DG3,
                                     TODAY, far)
    with pytest.raises(CvcSignatureError):
        validate_chain(eac.cvca, [forged_dv, is_], TODAY)


@settings(max_examples=40, deadline=None)
@given(role=st.integers(0, 3), rights=st.integers(0, 3), start=st.dates(dt.date(2000, 1, 1), dt.date(2098, 1, 1)),
       days=st.integers(0, 3000), seq=st.integers(0, 99999), params=st.booleans())
def test_any_certificate_round_trips(role, rights, start, days, seq, params):
    end = min(start + dt.timedelta(days=days), dt.date(2099, 12, 31))
    cert = issue_cv_certificate(_KEY, "ZZCVCA00001", _KEY, f"ZZHOLDER{seq:05d}", role, rights, start, end,
                                domain_parameters=params)
    raw = cert.encode()
    assert CvCertificate.parse(raw) == cert and CvCertificate.parse(raw).encode() == raw
    assert (cert.chat.role, cert.chat.rights, cert.effective, cert.expiration) == (role, rights, start, end)


_KEY = ec.generate_private_key(ec.BrainpoolP256R1())


def test_explicit_domain_parameters_of_no_named_curve_are_refused_by_name(eac):
    """A CVCA key's domain parameters (7F49 81..87) must be a named curve's, the cofactor included: an anonymous
    curve (another generator) or a named curve with another cofactor is refused with the parameters' code."""
    from dataclasses import replace

    from emrtd._cvc import CvPublicKey

    key = eac.cvca.public_key
    assert key.curve is not None and CvPublicKey.parse(read_value(key.encode())).curve is key.curve
    c = key.curve
    for curve, code in ((replace(c, gx=c.mul(2, c.g)[0], gy=c.mul(2, c.g)[1]), "ec_parameters_unknown_curve"),
                        (replace(c, h=2), "ec_parameters_unknown_curve")):
        with pytest.raises(CvcFormatError, match=code):
            CvPublicKey.parse(read_value(replace(key, curve=curve).encode()))


def read_value(tlv: bytes) -> bytes:
    from emrtd._tlv import read_tlv

    return read_tlv(tlv, 0)[1]
