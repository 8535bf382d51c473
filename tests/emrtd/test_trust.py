"""Trust store: CSCA certificates, CRLs, and CSCA Master Lists (Doc 9303 Part 12), real and built."""

from __future__ import annotations

import datetime as dt
import warnings
from functools import cache

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st

from emrtd import (
    CertificateLoadError,
    MasterListError,
    MasterListSignatureError,
    TrustError,
    TrustStore,
    load_trust_store,
    parse_master_list,
    passive_authentication,
)
from emrtd._trust import load_certificates, public_key_of
from emrtd.sim import IssuerPki, issue_document
from tests.conftest import shared_path

TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<L898902C36UTO7408122F1204159ZE184226B<<<<<10"
LISTS = {"DE": ("DE_ML_2026-05-28-08-28-45.ml", "DE_ROOT_CA_CSCA07.cer", 582),
         "NL": ("NL_ML_2026-07-22.ml", "NL_ROOT_CA.cer", 408)}  # fmt: skip


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few real CSCA certificates have non-positive serial numbers
        yield


def _ml(country: str) -> tuple[bytes, list]:
    name, root, _ = LISTS[country]
    d = shared_path("emrtd", "masterlists")
    return (d / name).read_bytes(), load_certificates((d / root).read_bytes())


@cache
def _pki():
    return IssuerPki.make()


@pytest.mark.parametrize("country", sorted(LISTS))
def test_real_master_lists_verify_and_give_their_cscas(country):
    data, roots = _ml(country)
    ml = parse_master_list(data, signer_roots=roots)
    assert len(ml.certificates) == LISTS[country][2]
    assert ml.signer_issuer == roots[0] and roots[0] in ml.certificates  # the country's own CSCA is listed
    assert ml.signing_time.year == 2026
    assert parse_master_list(data).signer_issuer == roots[0]  # self-contained check finds the same issuer
    store = TrustStore()
    store.add_master_list(data, signer_roots=roots)
    assert len(store) == len(ml.certificates)
    countries = {c.subject.rfc4514_string().rsplit("C=", 1)[-1][:2] for c in ml.certificates}
    assert len(countries) > 50


def test_explicit_ec_parameters_are_mapped_to_named_curves():
    data, roots = _ml("DE")
    ml = parse_master_list(data, signer_roots=roots)
    usable = 0
    for c in ml.certificates:
        try:
            public_key_of(c)
            usable += 1
        except CertificateLoadError:
            pass
    assert usable >= len(ml.certificates) - 10  # cryptography alone loads only ~80 % of them


def test_tampered_master_list_is_refused():
    data, roots = _ml("NL")
    i = len(data) // 2  # inside a CSCA certificate of the list
    tampered = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]
    with pytest.raises(MasterListError) as e:
        parse_master_list(tampered, signer_roots=roots)
    assert isinstance(e.value, MasterListSignatureError) or "well-formed" in str(e.value)
    sig_byte = len(data) - 10  # inside the signature value
    with pytest.raises(MasterListSignatureError, match="signature"):
        parse_master_list(data[:sig_byte] + bytes([data[sig_byte] ^ 0x01]) + data[sig_byte + 1 :], signer_roots=roots)


def test_master_list_signed_by_a_foreign_root_is_refused():
    data, _ = _ml("DE")
    _, nl_roots = _ml("NL")
    with pytest.raises(MasterListSignatureError, match="not issued by"):
        parse_master_list(data, signer_roots=nl_roots)


def test_not_a_master_list():
    with pytest.raises(MasterListError):
        parse_master_list(b"\x30\x03\x02\x01\x00")
    sod = shared_path("emrtd", "bsi_tr03105_5", "bsi_tr03105-5_EF_SOD.bin").read_bytes()[4:]  # CMS of another type
    with pytest.raises(MasterListError, match="cscaMasterList"):
        parse_master_list(sod)


def test_built_master_list_is_a_trust_store_for_passive_authentication():
    pki = _pki()
    other = IssuerPki.make(country="VN")
    data = pki.master_list([other.csca_cert])
    ml = parse_master_list(data)
    assert set(ml.certificates) == {pki.csca_cert, other.csca_cert} and ml.signer_issuer == pki.csca_cert  # DER SET OF order
    parse_master_list(data, signer_roots=[pki.csca_cert])
    with pytest.raises(MasterListSignatureError):
        parse_master_list(data, signer_roots=[other.csca_cert])
    store = TrustStore()
    store.add_master_list(data)
    photo = next(iter(sorted(shared_path("faces", "lfw-dev").rglob("*.jpg"))))
    doc = issue_document(TD3, photo, aa=None, ca=False, pki=pki, faults=["revoked_dsc"])
    res = passive_authentication(doc.files, trust=store)
    assert res.valid and res.chain_verified and res.check("dsc_revocation").passed is None  # no CRL loaded
    store.add_crl(doc.crl)
    res = passive_authentication(doc.files, trust=store)
    assert [c.name for c in res.failures] == ["dsc_revocation"]


def test_crl_must_be_signed_by_a_trusted_csca():
    pki, stranger = _pki(), IssuerPki.make(country="XX")
    store = TrustStore([pki.csca_cert])
    with pytest.raises(TrustError, match="not signed by a trusted CSCA"):
        store.add_crl(stranger.crl([], dt.datetime.now(dt.UTC)))
    with pytest.raises(CertificateLoadError):
        store.add_crl(b"not a crl")
    with pytest.raises(CertificateLoadError):
        store.add_csca(b"not a certificate")


def test_trust_store_from_files_and_directories(tmp_path):
    pki = _pki()
    (tmp_path / "csca.pem").write_bytes(pki.csca_cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "csca.crl").write_bytes(pki.crl([7], dt.datetime.now(dt.UTC)))
    (tmp_path / "list.ml").write_bytes(IssuerPki.make(country="VN").master_list())
    store = load_trust_store(tmp_path)
    assert len(store) == 2 and len(store.crls) == 1 and len(store.master_lists) == 1
    assert load_trust_store(tmp_path / "csca.pem").cscas == [pki.csca_cert]
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrustError, match="no CSCA"):
        TrustStore.from_path(tmp_path / "empty")


def test_truncated_master_lists_raise_named_errors():
    data = IssuerPki.make(country="VN").master_list()
    for cut in range(0, len(data), 41):
        with pytest.raises(MasterListError):
            parse_master_list(data[:cut])


def test_self_signed_cscas_with_explicit_parameters_verify():
    """Real CSCAs whose keys carry explicit brainpool/NIST parameters: every self-signature verifies. (Self-issued
    link certificates, whose authority key identifier names the previous key, are signed by that key instead.)"""
    from cryptography.exceptions import UnsupportedAlgorithm

    from emrtd._trust import _aki, _ski, verify_issued_by

    data, roots = _ml("DE")
    explicit = []
    for c in parse_master_list(data, signer_roots=roots).certificates:
        try:
            c.public_key()
        except (UnsupportedAlgorithm, ValueError):
            if c.subject == c.issuer and _aki(c) in (None, _ski(c)):
                explicit.append(c)
    assert len(explicit) > 50
    for c in explicit:
        verify_issued_by(c, c)


def test_out_of_date_crl_leaves_revocation_unknown():
    pki = _pki()
    photo = next(iter(sorted(shared_path("faces", "lfw-dev").rglob("*.jpg"))))
    doc = issue_document(TD3, photo, aa=None, ca=False, pki=pki)
    store = TrustStore([pki.csca_cert], [pki.crl([], dt.datetime.now(dt.UTC) - dt.timedelta(days=60))])
    res = passive_authentication(doc.files, trust=store)
    check = res.check("dsc_revocation")
    assert res.valid and check.passed is None and "out of date" in check.reason


@given(st.binary(max_size=400))
def test_random_bytes_are_not_master_lists(data):
    with pytest.raises(MasterListError):
        parse_master_list(data)


def test_cli_chip_verify_with_a_master_list(tmp_path):
    from click.testing import CliRunner

    from smartborder.cli import main

    pki = _pki()
    photo = next(iter(sorted(shared_path("faces", "lfw-dev").rglob("*.jpg"))))
    out = issue_document(TD3, photo, aa=None, ca=False, pki=pki).save(tmp_path / "doc")
    (tmp_path / "list.ml").write_bytes(pki.master_list([IssuerPki.make(country="VN").csca_cert]))
    root = str(out / "trust" / "csca.pem")
    r = CliRunner().invoke(main, ["chip", "verify", str(out), "--trust", str(tmp_path / "list.ml"), "--signer-root", root])
    assert r.exit_code == 0 and "ok   dsc_chain" in r.output, r.output
    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(IssuerPki.make(country="XX").csca_cert.public_bytes(serialization.Encoding.PEM))
    r = CliRunner().invoke(main, ["chip", "verify", str(out), "--trust", str(tmp_path / "list.ml"), "--signer-root", str(stranger)])
    assert r.exit_code != 0 and "Master List Signer" in r.output


def _name(cn: str, kind):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "UT"), x509.NameAttribute(NameOID.COMMON_NAME, cn, kind)])


def test_issuer_names_match_whatever_string_type_encodes_them():
    """RFC 5280 §7.1: a DSC and a CRL whose issuer is UTF8String name the CSCA whose subject is PrintableString
    (and case or inner whitespace does not make another name); the index on DER bytes missed them."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.name import _ASN1Type

    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    csca_name = _name("CSCA  Utopia", _ASN1Type.PrintableString)
    csca = (x509.CertificateBuilder().subject_name(csca_name).issuer_name(csca_name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=9))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).sign(key, hashes.SHA256()))
    utf8 = _name("csca utopia", _ASN1Type.UTF8String)
    dkey = ec.generate_private_key(ec.SECP256R1())
    dsc = (x509.CertificateBuilder().subject_name(_name("DS", _ASN1Type.UTF8String)).issuer_name(utf8)
           .public_key(dkey.public_key()).serial_number(2).not_valid_before(now - dt.timedelta(days=1))
           .not_valid_after(now + dt.timedelta(days=9)).sign(key, hashes.SHA256()))
    crl = (x509.CertificateRevocationListBuilder().issuer_name(utf8).last_update(now)
           .next_update(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    assert dsc.issuer.public_bytes() != csca.subject.public_bytes()
    store = TrustStore([csca])
    assert store.issuer_candidates(dsc) == [csca]
    assert store.add_crl(crl) is crl and store.crl_for(csca) is crl and store.signed_crl(csca, crl)
    other = _name("CSCA Dystopia", _ASN1Type.UTF8String)
    assert store.issuers_of(other, None) == []
