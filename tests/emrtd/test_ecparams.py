"""Explicit EC domain parameters (issue #22 item 4): the curve matcher, DSC/CSCA/Master List Signer keys through
Passive Authentication (reader and ``chip verify``), and chip keys for Active and Chip Authentication."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import cache

import pytest
from asn1crypto import core, keys
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from emrtd import TrustStore, parse_master_list, passive_authentication, read_document
from emrtd._aa import ActiveAuthError, aa_sign, ec_public_key_from_spki, verify_aa_signature
from emrtd._ca import perform_chip_authentication
from emrtd._certs import CertificateLoadError, public_key_of
from emrtd._crypto import curve_by_name
from emrtd._ecparams import (
    EcParametersError,
    UnknownCurveError,
    UnsupportedCurveError,
    curve_and_point_from_spki,
    decode_ec_point,
    encode_explicit_spki,
    named_curve_of,
    public_key_from_spki,
)
from emrtd._secinfo import (
    ECDSA_PLAIN,
    ChipAuthenticationInfo,
    ChipAuthenticationPublicKeyInfo,
    SecurityInfos,
    ca_oid,
)
from emrtd.sim import InProcessTransport, IssuerPki, issue_document, trust_for_issued_document
from emrtd.sim._explicit import explicit_spki_of
from tests.conftest import shared_path

TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<L898902C36UTO7408122F1204159ZE184226B<<<<<10"
SIX = {"brainpoolp256r1": ec.BrainpoolP256R1, "brainpoolp384r1": ec.BrainpoolP384R1, "brainpoolp512r1": ec.BrainpoolP512R1,
       "secp256r1": ec.SECP256R1, "secp384r1": ec.SECP384R1, "secp521r1": ec.SECP521R1}  # fmt: skip


def _params(spki: bytes) -> keys.SpecifiedECDomain:
    return keys.PublicKeyInfo.load(spki)["algorithm"]["parameters"].chosen


@pytest.mark.parametrize("compressed", [False, True], ids=["uncompressed_G", "compressed_G"])
@pytest.mark.parametrize("name", list(SIX))
def test_explicit_parameters_of_the_six_curves_map_to_their_named_curve(name, compressed):
    key = ec.generate_private_key(SIX[name]()).public_key()
    nums = key.public_numbers()
    spki = encode_explicit_spki(curve_by_name(name), (nums.x, nums.y), compressed_generator=compressed)
    assert _params(spki)["base"].native[0] == (2 + curve_by_name(name).gy % 2 if compressed else 4)
    assert named_curve_of(_params(spki)) is curve_by_name(name)
    assert named_curve_of(_params(spki).dump()) is curve_by_name(name)  # DER works too
    curve, point = curve_and_point_from_spki(spki)
    assert curve is curve_by_name(name) and point == (nums.x, nums.y)
    loaded = public_key_from_spki(spki)
    assert loaded.curve.name == key.curve.name and loaded.public_numbers() == nums


@pytest.mark.parametrize("change", ["a", "b", "generator", "order", "cofactor", "prime"])
@pytest.mark.parametrize("name", ["brainpoolp256r1", "secp384r1"])
def test_parameters_equal_to_no_named_curve_are_refused_by_name(name, change):
    curve = curve_by_name(name)
    point = curve.mul(7, curve.g)
    g2 = curve.mul(2, curve.g)
    tweaked = {"a": replace(curve, a=curve.a - 3), "b": replace(curve, b=curve.b + 1),
               "generator": replace(curve, gx=g2[0], gy=g2[1]), "order": replace(curve, n=curve.n + 2),
               "cofactor": replace(curve, h=4), "prime": replace(curve, p=curve.p - 2)}[change]  # fmt: skip
    spki = encode_explicit_spki(tweaked, point)
    with pytest.raises(UnknownCurveError) as e:
        curve_and_point_from_spki(spki)
    assert e.value.code == "ec_parameters_unknown_curve" and "no named curve" in str(e.value)
    if change != "prime":
        assert change in str(e.value)  # the reason says what differs
    with pytest.raises(UnknownCurveError):
        public_key_from_spki(spki)


def test_garbage_and_truncated_parameters_raise_the_named_error():
    curve = curve_by_name("brainpoolp256r1")
    spki = encode_explicit_spki(curve, curve.mul(5, curve.g))
    params = _params(spki).dump()
    for cut in range(len(params)):
        with pytest.raises(EcParametersError) as e:
            named_curve_of(params[:cut])
        assert e.value.code in ("ec_parameters_malformed", "ec_parameters_unknown_curve")
    for cut in range(0, len(spki), 5):
        with pytest.raises(EcParametersError):
            curve_and_point_from_spki(spki[:cut])
    short_base = _params(spki).copy()
    short_base["base"] = b"\x04" + bytes(40)
    with pytest.raises(EcParametersError, match="neither uncompressed nor compressed") as e:
        named_curve_of(short_base)
    assert not isinstance(e.value, UnknownCurveError) and e.value.code == "ec_parameters_malformed"
    no_prime = _params(spki).copy()
    no_prime["field_id"] = {"field_type": "prime_field", "parameters": core.Integer(-5)}
    with pytest.raises(EcParametersError):
        named_curve_of(no_prime)
    with pytest.raises(EcParametersError, match="not an EC key"):
        curve_and_point_from_spki(keys.PublicKeyInfo({"algorithm": {"algorithm": "rsa"},
                                                      "public_key": keys.RSAPublicKey({"modulus": 35, "public_exponent": 3})}).dump())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_the_named_error(data):
    with pytest.raises(EcParametersError):
        named_curve_of(data)
    with pytest.raises(EcParametersError):
        curve_and_point_from_spki(data)


def test_mutated_keys_decode_or_raise_only_the_named_error():
    """Bytes changed, dropped or inserted anywhere in explicit-parameter keys (each encoding) and their parameters:
    either a key on a named curve or :class:`EcParametersError`, never another exception."""
    import random

    c = curve_by_name("brainpoolp256r1")
    keys_ = [encode_explicit_spki(c, c.mul(5, c.g), compressed_generator=z) for z in (False, True)]
    sources = keys_ + [_params(k).dump() for k in keys_]
    i = keys_[0].rindex(b"\x02\x01\x01\x03\x42")  # the cofactor INTEGER 1, then the key's BIT STRING
    for parse in (curve_and_point_from_spki, public_key_from_spki):  # cofactor tagged [8] (asn1crypto: InstanceOf)
        with pytest.raises(EcParametersError):
            parse(keys_[0][:i] + b"\x28" + keys_[0][i + 1 :])
    rnd = random.Random(22)
    for _ in range(3000):
        data = bytearray(rnd.choice(sources))
        for _ in range(rnd.randint(1, 3)):
            i, op = rnd.randrange(len(data)), rnd.random()
            if op < 0.5:
                data[i] = rnd.randrange(256)
            elif op < 0.75:
                del data[i]
            else:
                data.insert(i, rnd.randrange(256))
        for parse in (named_curve_of, curve_and_point_from_spki, public_key_from_spki):
            try:
                parse(bytes(data))
            except EcParametersError:
                pass


def test_points_decode_in_both_encodings_also_where_p_is_1_mod_4():
    for name in ("secp224r1", "brainpoolp256r1", "secp521r1"):  # P-224: p = 1 mod 4, the Tonelli-Shanks path
        c = curve_by_name(name)
        pt = c.mul(123456789, c.g)
        n = c.field_len
        assert decode_ec_point(c.encode_point(pt), c.p, c.a, c.b) == pt
        assert decode_ec_point(bytes([2 + pt[1] % 2]) + pt[0].to_bytes(n, "big"), c.p, c.a, c.b) == pt
        assert decode_ec_point(bytes([3 - pt[1] % 2]) + pt[0].to_bytes(n, "big"), c.p, c.a, c.b) == (pt[0], c.p - pt[1])
        x = next(x for x in range(1, 100) if pow((x**3 + c.a * x + c.b) % c.p, (c.p - 1) // 2, c.p) == c.p - 1)
        with pytest.raises(EcParametersError, match="not the abscissa"):  # no point has this x
            decode_ec_point(b"\x02" + x.to_bytes(n, "big"), c.p, c.a, c.b)
        with pytest.raises(EcParametersError):
            decode_ec_point(b"\x04" + pt[0].to_bytes(n, "big") + ((pt[1] + 1) % c.p).to_bytes(n, "big"), c.p, c.a, c.b)


def test_a_named_curve_cryptography_lacks_is_named_too():
    c = curve_by_name("brainpoolp224r1")
    spki = encode_explicit_spki(c, c.mul(9, c.g))
    assert curve_and_point_from_spki(spki)[0] is c  # fine for AA/CA, computed here
    with pytest.raises(UnsupportedCurveError) as e:
        public_key_from_spki(spki)
    assert e.value.code == "ec_curve_unsupported"


# --- certificates and Passive Authentication ----------------------------------------------------------------------


@cache
def _photo():
    return next(iter(sorted(shared_path("faces", "lfw-dev").rglob("*.jpg"))))


@cache
def _doc(curve: str, csca: str, dsc: str):
    pki = IssuerPki.make(curve=curve, csca_parameters=csca, dsc_parameters=dsc)
    return issue_document(TD3, _photo(), can="123456", aa=None, ca=False, pki=pki), pki


@pytest.mark.parametrize("curve, form", [("brainpoolp256r1", "explicit"), ("brainpoolp256r1", "explicit_compressed"),
                                         ("brainpoolp384r1", "explicit"), ("secp256r1", "explicit_compressed")])  # fmt: skip
def test_a_sod_signed_by_an_explicit_parameter_dsc_under_an_explicit_csca_verifies(curve, form):
    doc, pki = _doc(curve, form, form)
    dsc = passive_authentication(doc.files).dsc
    if curve.startswith("brainpool"):  # what made PA fail on a genuine German document
        with pytest.raises((ValueError, UnsupportedAlgorithm)):
            dsc.public_key()
        with pytest.raises((ValueError, UnsupportedAlgorithm)):
            pki.csca_cert.public_key()
    assert public_key_of(dsc).curve.name.lower() == curve
    res = read_document(InProcessTransport(doc.chip()), doc.access_key, trust=trust_for_issued_document(doc))
    pa = res.passive_authentication
    assert res.valid and res.check("passive_authentication").passed, pa.reason
    assert pa.chain_verified and pa.check("sod_signature").passed and pa.check("dsc_revocation").passed
    assert pa.csca.subject == pki.csca_cert.subject


def test_a_dsc_whose_parameters_match_no_named_curve_is_refused_with_its_reason():
    doc, _ = _doc("brainpoolp256r1", "explicit", "explicit_unnamed")
    res = read_document(InProcessTransport(doc.chip()), doc.access_key, trust=trust_for_issued_document(doc))
    pa = res.passive_authentication
    sig = pa.check("sod_signature")
    assert not res.valid and res.check("passive_authentication").passed is False
    assert sig.passed is False and sig.code == "ec_parameters_unknown_curve"
    assert "Document Signer key cannot be used" in sig.reason and "no named curve" in sig.reason
    assert pa.to_dict()["failures"][0]["code"] == "ec_parameters_unknown_curve"


def test_a_csca_whose_parameters_match_no_named_curve_breaks_the_chain_with_its_reason():
    doc, pki = _doc("brainpoolp256r1", "explicit_unnamed", "explicit")
    with pytest.raises(CertificateLoadError, match="ec_parameters_unknown_curve"):
        public_key_of(pki.csca_cert)
    res = passive_authentication(doc.files, trust=TrustStore([pki.csca_cert]))  # its CRL cannot be verified either
    chain = res.check("dsc_chain")
    assert res.check("sod_signature").passed and chain.passed is False
    assert chain.code == "ec_parameters_unknown_curve" and "cannot be used" in chain.reason


def test_chip_verify_cli_with_explicit_parameters(tmp_path):
    from click.testing import CliRunner

    from smartborder.cli import main

    good = _doc("brainpoolp256r1", "explicit", "explicit")[0].save(tmp_path / "good")
    r = CliRunner().invoke(main, ["chip", "verify", str(good), "--trust", str(good / "trust"), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["valid"] and d["passive_authentication"]["chain_verified"]
    bad = _doc("brainpoolp256r1", "explicit", "explicit_unnamed")[0].save(tmp_path / "bad")
    r = CliRunner().invoke(main, ["chip", "verify", str(bad), "--trust", str(bad / "trust"), "--json"])
    assert r.exit_code == 1
    failures = json.loads(r.output)["passive_authentication"]["failures"]
    assert [(f["name"], f["code"]) for f in failures] == [("sod_signature", "ec_parameters_unknown_curve")]


def test_master_list_signed_by_explicit_parameter_keys():
    pki = IssuerPki.make(curve="brainpoolp256r1", csca_parameters="explicit", dsc_parameters="explicit_compressed")
    ml = parse_master_list(pki.master_list(), signer_roots=[pki.csca_cert])
    assert ml.signer_issuer == pki.csca_cert and pki.csca_cert in ml.certificates
    with pytest.raises((ValueError, UnsupportedAlgorithm)):
        ml.signer.public_key()  # the signer's key is explicit too
    bad = IssuerPki.make(curve="brainpoolp256r1", dsc_parameters="explicit_unnamed")
    from emrtd import MasterListSignatureError

    with pytest.raises(MasterListSignatureError, match="ec_parameters_unknown_curve"):
        parse_master_list(bad.master_list(), signer_roots=[bad.csca_cert])


# --- chip keys: Active Authentication (DG15) and Chip Authentication (DG14) ------------------------------------------


@pytest.mark.parametrize("form", ["explicit", "explicit_compressed"])
def test_active_authentication_with_an_explicit_parameter_dg15_key(form):
    key = ec.generate_private_key(ec.BrainpoolP256R1())
    spki = explicit_spki_of(key.public_key(), form)
    alg = ECDSA_PLAIN + ".3"
    sig = aa_sign(key, b"\x01" * 8, signature_algorithm=alg)
    assert verify_aa_signature(spki, b"\x01" * 8, sig, alg) == ""
    assert verify_aa_signature(spki, b"\x02" * 8, sig, alg) != ""
    with pytest.raises(ActiveAuthError, match="ec_parameters_unknown_curve"):
        verify_aa_signature(explicit_spki_of(key.public_key(), "explicit_unnamed"), b"\x01" * 8, sig, alg)


class _NoChannel:
    sm = None

    def send(self, apdu):  # pragma: no cover - CA must stop before talking to the chip
        raise AssertionError("Chip Authentication sent a command with an unusable DG14 key")


def test_chip_authentication_refuses_a_dg14_key_of_no_named_curve():
    key = ec.generate_private_key(ec.BrainpoolP256R1())
    curve, point = ec_public_key_from_spki(explicit_spki_of(key.public_key(), "explicit"))
    assert curve.name == "brainpoolp256r1" and point[0] == key.public_key().public_numbers().x
    dg14 = SecurityInfos([ChipAuthenticationPublicKeyInfo("0.4.0.127.0.7.2.2.1.2",
                                                          explicit_spki_of(key.public_key(), "explicit_unnamed")),
                          ChipAuthenticationInfo(ca_oid("ECDH", "AES", 128), 1)])  # fmt: skip
    res = perform_chip_authentication(_NoChannel(), dg14)
    # not verified (None), not failed: a key we cannot use says nothing about the chip (no "cloned chip?")
    assert res.succeeded is None and res.code == "ec_parameters_unknown_curve" and "cloned" not in res.reason
    assert "cannot be used" in res.reason and res.to_dict()["code"] == "ec_parameters_unknown_curve"


@pytest.mark.parametrize("form, code", [("explicit_unnamed", "ec_parameters_unknown_curve"),
                                        ("malformed", "ec_parameters_malformed")])
def test_active_authentication_with_an_unusable_dg15_key_is_not_verified_and_sends_nothing(form, code):
    from emrtd._aa import perform_active_authentication
    from emrtd._secinfo import encode_dg15

    key = ec.generate_private_key(ec.BrainpoolP256R1())
    spki = explicit_spki_of(key.public_key(), "explicit_unnamed" if form != "malformed" else "explicit")
    if form == "malformed":  # the prime replaced by an even number: parameters that cannot describe a curve
        info = keys.PublicKeyInfo.load(spki)
        params = info["algorithm"]["parameters"].chosen
        params["field_id"]["parameters"] = core.Integer(4)
        spki = keys.PublicKeyInfo({"algorithm": {"algorithm": "ec", "parameters": keys.ECDomainParameters(
            name="specified", value=params)}, "public_key": info["public_key"].native}).dump()
    res = perform_active_authentication(_NoChannel(), encode_dg15(spki), signature_algorithm=ECDSA_PLAIN + ".3")
    assert res.succeeded is None and res.code == code and res.algorithm == "ECDSA" and res.challenge == b""
    assert "cloned" not in res.reason and "cannot be used" in res.reason
    # an ECDSA key with an AA signature algorithm we do not know: not verified either, by name
    named = explicit_spki_of(key.public_key(), "explicit")
    res = perform_active_authentication(_NoChannel(), encode_dg15(named), signature_algorithm="1.2.3.4")
    assert res.succeeded is None and res.code == "aa_algorithm_unsupported"
    # an RSA key whose modulus does not decode: not verified either, and nothing sent
    junk = bytes.fromhex("3014" "300D06092A864886F70D0101010500" "0303000102")  # rsaEncryption, BIT STRING 0102
    res = perform_active_authentication(_NoChannel(), encode_dg15(junk))
    assert res.succeeded is None and res.code == "aa_key_malformed" and res.algorithm == "RSA-ISO9796-2"


def test_real_csca_certificates_with_explicit_parameters_all_map_to_a_named_curve():
    """The German and Dutch Master Lists: every CSCA key written with explicit parameters equals one of the six
    curves (all of which occur), so public_key_of loads each with its named curve."""
    import warnings

    from asn1crypto import cms
    from cryptography import x509

    from emrtd._sod import _econtent
    from emrtd._trust import _CscaMasterList

    seen: dict[str, int] = {}
    for name in ("DE_ML_2026-05-28-08-28-45.ml", "NL_ML_2026-07-22.ml"):
        ci = cms.ContentInfo.load(shared_path("emrtd", "masterlists", name).read_bytes())
        for cert in _CscaMasterList.load(_econtent(ci["content"]["encap_content_info"]["content"]))["cert_list"]:
            params = cert["tbs_certificate"]["subject_public_key_info"]["algorithm"]["parameters"]
            if getattr(params, "name", None) != "specified":
                continue
            curve = named_curve_of(params.chosen)
            seen[curve.name] = seen.get(curve.name, 0) + 1
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a few real CSCAs have non-positive serial numbers
                try:
                    loaded = x509.load_der_x509_certificate(cert.dump())
                except ValueError:
                    continue  # malformed elsewhere (parse_master_list skips these too)
            assert public_key_of(loaded).curve.name.lower() == curve.name
    assert set(seen) == set(SIX) and sum(seen.values()) > 250



@pytest.mark.parametrize("form, valid", [("explicit", True), ("explicit_compressed", True), ("explicit_unnamed", False)])
def test_chip_issue_cli_writes_explicit_parameter_certificates(tmp_path, form, valid):
    from click.testing import CliRunner

    from smartborder.cli import main

    out = tmp_path / "doc"
    r = CliRunner().invoke(main, ["chip", "issue", "--mrz", TD3[:44], "--mrz", TD3[44:], "--photo", str(_photo()),
                                  "--out", str(out), "--aa", "none", "--no-ca", "--signer-curve", "brainpoolp256r1",
                                  "--ec-parameters", form])  # fmt: skip
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["chip", "verify", str(out), "--trust", str(out / "trust"), "--json"])
    d = json.loads(r.output)
    assert (r.exit_code == 0) is valid and d["valid"] is valid and d["passive_authentication"]["chain_verified"]
    codes = [f["code"] for f in d["passive_authentication"]["failures"]]
    assert codes == ([] if valid else ["ec_parameters_unknown_curve"])


@pytest.mark.parametrize("form", ["explicit", "explicit_compressed"])
def test_chip_and_active_authentication_succeed_through_a_chip_whose_keys_have_explicit_parameters(form):
    doc = issue_document(TD3, _photo(), pki=IssuerPki.make(), aa="ec", ca=True, chip_key_parameters=form)
    (pk,) = SecurityInfos.parse_dg14(doc.files["DG14"]).chip_authentication_public_keys
    assert keys.PublicKeyInfo.load(pk.public_key)["algorithm"]["parameters"].name == "specified"
    res = read_document(InProcessTransport(doc.chip()), doc.access_key, trust=trust_for_issued_document(doc))
    ca, aa = res.check("chip_authentication"), res.check("active_authentication")
    assert ca.passed is True and res.chip_authentication.succeeded is True, ca.reason
    assert aa.passed is True, aa.reason
    # the rest of the chip was read under the CA session keys, and verifies
    assert res.valid and res.data_group_verified("DG2") is True and res.data_group_verified("DG15") is True


def test_a_chip_whose_keys_are_of_no_named_curve_reads_with_aa_and_ca_not_verified():
    doc = issue_document(TD3, _photo(), pki=IssuerPki.make(), aa="ec", ca=True, chip_key_parameters="explicit_unnamed")
    res = read_document(InProcessTransport(doc.chip()), doc.access_key, trust=trust_for_issued_document(doc))
    for name in ("chip_authentication", "active_authentication"):
        check = res.check(name)
        assert check.passed is None and check.code == "ec_parameters_unknown_curve", check
        assert check.to_dict()["code"] == "ec_parameters_unknown_curve"
    assert res.passive_authentication.valid and res.data_group_verified("DG2") is True
