"""Chip Authentication (version 1), ICAO Doc 9303 Part 11 §6.2, with ECDH keys from DG14.

The terminal reads ChipAuthenticationPublicKeyInfo (and ChipAuthenticationInfo) from DG14 (§9.2.5,
§9.2.6), makes an ephemeral key pair on the chip's domain parameters and sends its public key:

- 3DES: MSE:Set KAT with ``91`` ephemeral public key (``84`` key id) (§6.2.4.1);
- AES: MSE:Set AT with ``80`` CA OID (``84`` key id), then GENERAL AUTHENTICATE with ``7C{80 PK}``
  (§6.2.4.2).

Both sides derive ``K = x(sk * PK)``, ``KSenc = KDF(K, 1)``, ``KSmac = KDF(K, 2)`` and restart secure
messaging with SSC = 0 (§6.2.1). The chip is authenticated implicitly: only a chip holding the private key
can produce a valid MAC on the next response, which this module checks with a SELECT of EF.COM.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from emrtd._aa import ActiveAuthError, ec_public_key_from_spki
from emrtd._apdu import CommandApdu, StatusWordError
from emrtd._crypto import KDF_ENC, KDF_MAC, CryptoError, SmCipher, kdf
from emrtd._secinfo import (
    ChipAuthenticationInfo,
    ChipAuthenticationPublicKeyInfo,
    SecurityInfoError,
    SecurityInfos,
    oid_to_bytes,
)
from emrtd._sm import SecureMessaging, SecureMessagingError
from emrtd._tlv import encode_tlv

__all__ = ["CaResult", "ChipAuthError", "perform_chip_authentication", "ca_session_keys", "choose_ca_key"]


class ChipAuthError(Exception):
    """Chip Authentication cannot be attempted (no usable key in DG14)."""


@dataclass
class CaResult:
    """Outcome of Chip Authentication: ``succeeded`` True, False (the chip failed it: a clone?) or None (could not
    be attempted: the DG14 key cannot be used, ``code`` names why); ``reason`` explains."""

    succeeded: bool | None
    protocol_oid: str = ""
    cipher: str = ""
    key_id: int | None = None
    reason: str = ""
    #: the terminal's ephemeral public key (Terminal Authentication v1 signs its x-coordinate)
    ephemeral_public_key: bytes = field(default=b"", repr=False)
    code: str = ""  # a named cause where one applies, e.g. ``ec_parameters_unknown_curve``

    def to_dict(self) -> dict:
        return {
            "succeeded": self.succeeded,
            "protocol_oid": self.protocol_oid,
            "cipher": self.cipher,
            "key_id": self.key_id,
            "reason": self.reason,
            "code": self.code,
        }


def ca_session_keys(shared_x: bytes, cipher: str, key_bits: int) -> SmCipher:
    """Session keys after CA (Part 11 §6.2.4 / §9.7.1)."""
    return SmCipher(
        cipher, kdf(shared_x, KDF_ENC, cipher, key_bits), kdf(shared_x, KDF_MAC, cipher, key_bits)
    )


def choose_ca_key(dg14: SecurityInfos) -> tuple[ChipAuthenticationPublicKeyInfo, ChipAuthenticationInfo]:
    """The first ECDH key of DG14 with its ChipAuthenticationInfo (3DES by default, §9.2.5)."""
    infos = dg14.chip_authentication_infos
    for pk in dg14.chip_authentication_public_keys:
        if not pk.protocol.endswith(".2"):  # id-PK-ECDH
            continue
        for ca in infos:
            try:
                if ca.key_agreement == "ECDH" and (pk.key_id is None or ca.key_id in (None, pk.key_id)):
                    return pk, ca
            except SecurityInfoError:
                continue
        if not infos:
            return pk, ChipAuthenticationInfo("0.4.0.127.0.7.2.2.3.2.1", 1, pk.key_id)
    raise ChipAuthError("DG14 has no ECDH Chip Authentication key")


def perform_chip_authentication(channel, dg14: SecurityInfos, *, rng=None) -> CaResult:
    """Run CA over ``channel`` (an object with ``send(CommandApdu)`` and a replaceable ``sm``).

    On success ``channel.sm`` holds the new secure-messaging session; on failure the result says why
    (a cloned chip cannot continue secure messaging with the new keys).
    """
    rng = rng or os.urandom
    try:
        pk_info, ca_info = choose_ca_key(dg14)
        curve, chip_pub = ec_public_key_from_spki(pk_info.public_key)
        cipher, key_bits = ca_info.cipher, ca_info.key_bits
    except ActiveAuthError as e:  # the key's EC parameters: nothing was sent, nothing is known of the chip
        return CaResult(None, reason=f"the DG14 public key cannot be used, CA not attempted: {e}", code=e.code)
    except (ChipAuthError, SecurityInfoError, CryptoError) as e:
        return CaResult(False, reason=f"DG14 unusable: {e}")
    key_id = pk_info.key_id
    result = CaResult(False, ca_info.protocol, cipher, key_id)
    sk = curve.random_scalar(rng)
    eph = curve.encode_point(curve.mul(sk, curve.g))
    result.ephemeral_public_key = eph
    kid = (
        encode_tlv(0x84, key_id.to_bytes(max(1, (key_id.bit_length() + 7) // 8), "big"))
        if key_id is not None
        else b""
    )
    try:
        if cipher == "3DES":
            channel.send(CommandApdu(0x00, 0x22, 0x41, 0xA6, encode_tlv(0x91, eph) + kid)).check()
        else:
            mse = encode_tlv(0x80, oid_to_bytes(ca_info.protocol)) + kid
            channel.send(CommandApdu(0x00, 0x22, 0x41, 0xA4, mse)).check()
            channel.send(
                CommandApdu(0x00, 0x86, 0x00, 0x00, encode_tlv(0x7C, encode_tlv(0x80, eph)), ne=256)
            ).check()
    except (StatusWordError, SecureMessagingError) as e:
        result.reason = f"chip refused Chip Authentication: {e}"
        return result
    shared = curve.x_bytes(curve.mul(sk, chip_pub))
    channel.sm = SecureMessaging(ca_session_keys(shared, cipher, key_bits), 0)
    # Implicit authentication: the next protected response must verify under the new keys.
    try:
        channel.send(CommandApdu(0x00, 0xA4, 0x02, 0x0C, b"\x01\x1e")).check()
    except SecureMessagingError as e:
        result.reason = (
            f"chip cannot continue secure messaging with the Chip Authentication keys (cloned chip?): {e}"
        )
        return result
    except StatusWordError as e:
        result.reason = f"chip answered {e} after Chip Authentication"
        return result
    result.succeeded = True
    return result
