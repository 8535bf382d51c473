"""Basic Access Control, ICAO Doc 9303 Part 11 §4.3 (with the key derivation of §9.7).

``K_seed = SHA-1(MRZ_information)[:16]`` where MRZ_information is the document number, date of birth
and date of expiry with their check digits (§9.7); ``K_enc``/``K_mac`` come from the KDF (§9.7.1).
The terminal runs GET CHALLENGE and EXTERNAL AUTHENTICATE (§4.3 / §9.7), both sides contribute
16 key bytes and the 3DES session keys and the SSC (§9.8) start secure messaging.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from emrtd._apdu import ApduError, CommandApdu, ResponseApdu, StatusWordError
from emrtd._crypto import KDF_ENC, KDF_MAC, SmCipher, des3_decrypt, des3_encrypt, kdf, retail_mac
from emrtd._sm import SecureMessaging

__all__ = [
    "AccessKeyError",
    "BacError",
    "BacKey",
    "BacResult",
    "Rng",
    "check_digit",
    "derive_bac_keys",
    "perform_bac",
]

Rng = Callable[[int], bytes]

_WEIGHTS = (7, 3, 1)


class AccessKeyError(ValueError):
    """An access key (MRZ data or CAN) that cannot be used."""


class BacError(Exception):
    """Basic Access Control failed; ``reason`` names the failing step."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


def check_digit(field_value: str) -> str:
    """Doc 9303 Part 3 §4.9 check digit (weights 7, 3, 1; ``<`` = 0, A = 10 ... Z = 35)."""
    total = 0
    for i, ch in enumerate(field_value.upper()):
        if ch.isdigit():
            v = int(ch)
        elif "A" <= ch <= "Z":
            v = ord(ch) - 55
        elif ch == "<":
            v = 0
        else:
            raise AccessKeyError(f"character {ch!r} is not allowed in an MRZ field")
        total += v * _WEIGHTS[i % 3]
    return str(total % 10)


def _date(value: str, name: str) -> str:
    if len(value) != 6 or not value.isdigit():
        raise AccessKeyError(f"{name} must be YYMMDD, got {value!r}")
    return value


@dataclass(frozen=True)
class BacKey:
    """The MRZ-derived access key (Part 11 §9.7): also the PACE MRZ password (§9.7)."""

    document_number: str
    date_of_birth: str
    date_of_expiry: str

    def __post_init__(self) -> None:
        doc = self.document_number.strip().upper().replace(" ", "<")
        if not doc or len(doc) > 22:
            raise AccessKeyError(f"document number {self.document_number!r} must have 1..22 characters")
        check_digit(doc)
        object.__setattr__(self, "document_number", doc)
        _date(self.date_of_birth, "date_of_birth")
        _date(self.date_of_expiry, "date_of_expiry")

    @property
    def mrz_information(self) -> str:
        doc = self.document_number.ljust(9, "<")
        return (
            doc
            + check_digit(doc)
            + self.date_of_birth
            + check_digit(self.date_of_birth)
            + self.date_of_expiry
            + check_digit(self.date_of_expiry)
        )

    @property
    def k_seed(self) -> bytes:
        return hashlib.sha1(self.mrz_information.encode("ascii")).digest()[:16]  # noqa: S324 - Doc 9303

    @property
    def pace_password(self) -> bytes:
        """PACE password for the MRZ: the full SHA-1 of MRZ_information (Part 11 §9.7)."""
        return hashlib.sha1(self.mrz_information.encode("ascii")).digest()  # noqa: S324 - Doc 9303

    pace_password_ref = 1  # MSE:Set AT 83: 01 = MRZ (Part 11 §4.4)


def derive_bac_keys(key: BacKey) -> tuple[bytes, bytes]:
    """``(K_enc, K_mac)`` from the MRZ information (Part 11 §9.7 and §9.7.1)."""
    seed = key.k_seed
    return kdf(seed, KDF_ENC), kdf(seed, KDF_MAC)


@dataclass
class BacResult:
    """Outcome of BAC: the session keys, initial SSC and the secure-messaging channel to use."""

    ks_enc: bytes
    ks_mac: bytes
    ssc: bytes
    sm: SecureMessaging = field(repr=False)
    protocol: str = "BAC"
    steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"protocol": self.protocol, "succeeded": True, "cipher": "3DES", "steps": list(self.steps)}


def _transmit(transport, cmd: CommandApdu, step: str) -> ResponseApdu:
    try:
        resp = ResponseApdu.parse(transport.transmit(cmd.encode()))
        return resp.check()
    except (ApduError, StatusWordError) as e:
        raise BacError(step, f"BAC {step} failed: {e}") from e


def perform_bac(transport, key: BacKey, *, rng: Rng | None = None) -> BacResult:
    """Run BAC over ``transport`` (``transmit(bytes) -> bytes``), Part 11 §4.3.

    ``rng(n)`` supplies RND.IFD (8 bytes) then K.IFD (16 bytes); inject it to replay Appendix D.
    """
    rng = rng or os.urandom
    k_enc, k_mac = derive_bac_keys(key)
    # §4.3 step 1: GET CHALLENGE -> RND.ICC
    resp = _transmit(transport, CommandApdu(0x00, 0x84, 0x00, 0x00, ne=8), "get_challenge")
    rnd_icc = resp.data
    if len(rnd_icc) != 8:
        raise BacError("get_challenge", f"GET CHALLENGE returned {len(rnd_icc)} bytes (8 expected)")
    # step 2: S = RND.IFD || RND.ICC || K.IFD, E_IFD = E(K_enc, S), M_IFD = MAC(K_mac, E_IFD)
    rnd_ifd = rng(8)
    k_ifd = rng(16)
    e_ifd = des3_encrypt(k_enc, rnd_ifd + rnd_icc + k_ifd)
    m_ifd = retail_mac(k_mac, e_ifd)
    resp = _transmit(
        transport, CommandApdu(0x00, 0x82, 0x00, 0x00, e_ifd + m_ifd, ne=40), "external_authenticate"
    )
    if len(resp.data) != 40:
        raise BacError("external_authenticate", f"EXTERNAL AUTHENTICATE returned {len(resp.data)} bytes")
    # step 3: verify M_ICC, decrypt, check RND.IFD and RND.ICC
    e_icc, m_icc = resp.data[:32], resp.data[32:]
    if not hmac.compare_digest(retail_mac(k_mac, e_icc), m_icc):
        raise BacError("chip_mac", "BAC: MAC of the chip's response does not verify")
    r = des3_decrypt(k_enc, e_icc)
    if r[:8] != rnd_icc or r[8:16] != rnd_ifd:
        raise BacError("chip_nonce", "BAC: the chip did not return our nonces")
    k_icc = r[16:32]
    # §9.7 / §9.8: session keys and SSC
    k_seed = bytes(a ^ b for a, b in zip(k_ifd, k_icc, strict=True))
    ks_enc, ks_mac = kdf(k_seed, KDF_ENC), kdf(k_seed, KDF_MAC)
    ssc = rnd_icc[4:] + rnd_ifd[4:]
    sm = SecureMessaging(SmCipher("3DES", ks_enc, ks_mac), ssc)
    return BacResult(
        ks_enc, ks_mac, ssc, sm, steps=["get_challenge", "external_authenticate", "session_keys"]
    )
