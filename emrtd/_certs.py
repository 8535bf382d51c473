"""X.509 helpers for the eMRTD PKI (Doc 9303 Part 12): loading certificates, public keys with explicit EC
domain parameters (common in CSCA and DS certificates, unsupported by ``cryptography``), issuer signatures."""

from __future__ import annotations

from asn1crypto import keys
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from emrtd._crypto import EcError, match_curve

__all__ = ["TrustError", "CertificateLoadError", "load_certificates", "public_key_of", "verify_issued_by"]


class TrustError(ValueError):
    """A trust anchor, CRL or trust file that cannot be used."""


class CertificateLoadError(TrustError):
    """A certificate or CRL that does not decode, or whose key cannot be used."""


def public_key_of(cert: x509.Certificate):
    """The certificate's public key; EC keys with explicit parameters of a known curve are mapped to it."""
    try:
        return cert.public_key()
    except (UnsupportedAlgorithm, ValueError) as e:
        spki = keys.PublicKeyInfo.load(_spki_der(cert))
        if spki["algorithm"]["algorithm"].native != "ec":
            raise CertificateLoadError(f"unsupported public key in {cert.subject.rfc4514_string()}: {e}") from e
        params = spki["algorithm"]["parameters"]
        if params.name != "specified":
            raise CertificateLoadError(f"unsupported EC parameters in {cert.subject.rfc4514_string()}: {e}") from e
        sp = params.chosen
        base = sp["base"].native
        half = (len(base) - 1) // 2
        try:
            curve = match_curve(
                sp["field_id"]["parameters"].native, int.from_bytes(sp["curve"]["a"].native, "big"),
                int.from_bytes(sp["curve"]["b"].native, "big"), int.from_bytes(base[1 : 1 + half], "big"),
                int.from_bytes(base[1 + half :], "big"), sp["order"].native,
            )  # fmt: skip
        except EcError as ee:
            raise CertificateLoadError(f"EC parameters of {cert.subject.rfc4514_string()}: {ee}") from ee
        if curve.cryptography_name is None:
            raise CertificateLoadError(f"{cert.subject.rfc4514_string()}: explicit EC parameters of no named curve") from e
        named = getattr(ec, curve.cryptography_name)()
        return ec.EllipticCurvePublicKey.from_encoded_point(named, spki["public_key"].native)


def _spki_der(cert: x509.Certificate) -> bytes:
    return ax509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))["tbs_certificate"]["subject_public_key_info"].dump()


def verify_issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> None:
    """Raise ``InvalidSignature`` unless ``issuer``'s key signed ``cert`` (ECDSA, RSA PKCS#1 v1.5 or PSS)."""
    key = public_key_of(issuer)
    params = cert.signature_algorithm_parameters
    if isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    elif isinstance(key, rsa.RSAPublicKey):
        pad = params if isinstance(params, padding.PSS | padding.PKCS1v15) else padding.PKCS1v15()
        key.verify(cert.signature, cert.tbs_certificate_bytes, pad, cert.signature_hash_algorithm)
    else:
        raise InvalidSignature(f"unsupported issuer key {type(key).__name__}")


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """DER or PEM (one or several) certificates."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as e:
        raise CertificateLoadError(f"not an X.509 certificate: {e}") from e
