"""Two administrations' link PKIs for the exchange tests, generated per test session (never committed).

Each side's link CA issues that side's certificates; a rogue CA (not trusted by anyone) issues look-alikes.
Certificates name their administration as the subject's O; servers carry IP:127.0.0.1 and DNS:localhost.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_NOW = dt.datetime.now(dt.UTC)


def _name(o: str | None, cn: str) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o)] if o else []
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class Ca:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    pem: Path


@dataclass
class Leaf:
    cert: Path
    key: Path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def make_ca(directory: Path, label: str, o: str) -> Ca:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(o, f"{label} partner-link CA")
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(_NOW - dt.timedelta(hours=1))
            .not_valid_after(_NOW + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return Ca(key, cert, _write(directory / f"{label}-ca.pem", cert.public_bytes(serialization.Encoding.PEM)))


def issue(directory: Path, ca: Ca, label: str, *, o: str | None, server: bool, extra_o: str | None = None) -> Leaf:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(o, label)
    if extra_o:
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, extra_o), *subject])
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca.cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(_NOW - dt.timedelta(hours=1)).not_valid_after(_NOW + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server
                                                     else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                              critical=False))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
    cert = builder.sign(ca.key, hashes.SHA256())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return Leaf(_write(directory / f"{label}.pem", cert.public_bytes(serialization.Encoding.PEM)),
                _write(directory / f"{label}.key", key_pem))
