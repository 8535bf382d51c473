"""PACE (Password Authenticated Connection Establishment), ICAO Doc 9303 Part 11 §4.4, with the
Generic Mapping (§4.4.3.3.1) and the Integrated Mapping (§4.4.3.3.2) for ECDH on the standardized curves
of §9.5.1 (NIST and brainpool; IM needs p = 3 mod 4) and for DH on the RFC 5114 groups (ids 0-2), and
3DES or AES-128/192/256 secure messaging. Checked against Appendix G.1/G.2 (GM) and H.1/H.2 (IM).

Terminal steps (each a GENERAL AUTHENTICATE in a command chain, §4.4):

1. MSE:Set AT with the PACE OID, password reference (01 MRZ, 02 CAN) and parameter id.
2. Encrypted nonce: ``s = D(K_pi, z)`` with ``K_pi = KDF(pi, 3)`` (§4.4, §9.7).
3. Mapping: GM: ephemeral (EC)DH with the chip, ``G' = s*G + H``; IM: send nonce t, ``G' = f_G(R_p(s, t))``.
4. Key agreement on G'; ``KSenc = KDF(K, 1)``, ``KSmac = KDF(K, 2)`` (§4.4, §9.7.1).
5. Mutual authentication with tokens ``T = MAC(KSmac, 7F49{06 OID, 86 PK})`` (§4.4, §9.7);
   secure messaging then starts with SSC = 0 (§9.8).

The terminal's ephemeral private keys come from ``rng`` so the Appendix G.1 example can be replayed.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass, field

from emrtd._apdu import ApduError, CommandApdu, ResponseApdu, StatusWordError
from emrtd._bac import AccessKeyError, BacKey, Rng
from emrtd._crypto import (
    KDF_ENC,
    KDF_MAC,
    KDF_PACE,
    CryptoError,
    EcCurve,
    SmCipher,
    aes_cmac,
    aes_decrypt,
    aes_encrypt,
    curve_by_parameter_id,
    des3_decrypt,
    des3_encrypt,
    kdf,
    retail_mac,
)
from emrtd._secinfo import PaceInfo, SecurityInfoError, SecurityInfos, oid_to_bytes
from emrtd._sm import SecureMessaging
from emrtd._tlv import TlvError, encode_tlv, iter_tlv, read_tlv

__all__ = [
    "CanKey",
    "PaceError",
    "PaceResult",
    "perform_pace",
    "choose_pace_info",
    "supported_pace_info",
    "pace_password",
    "pace_key_pi",
    "authentication_token",
    "encrypt_nonce",
    "decrypt_nonce",
    "gm_map",
    "im_map",
    "im_pseudo_random",
    "im_nonce_lengths",
]


# RFC 5114 groups (Doc 9303 Part 11 §9.5.1 ids 0-2), dumped from OpenSSL: (p, g, q) as hex
_DH_GROUPS_HEX = {
    0: (
        "B10B8F96A080E01DDE92DE5EAE5D54EC52C99FBCFB06A3C69A6A9DCA52D23B616073E28675A23D189838EF1E2EE652C0"
        "13ECB4AEA906112324975C3CD49B83BFACCBDD7D90C4BD7098488E9C219A73724EFFD6FAE5644738FAA31A4FF55BCCC0"
        "A151AF5F0DC8B4BD45BF37DF365C1A65E68CFDA76D4DA708DF1FB2BC2E4A4371",
        "A4D1CBD5C3FD34126765A442EFB99905F8104DD258AC507FD6406CFF14266D31266FEA1E5C41564B777E690F5504F213"
        "160217B4B01B886A5E91547F9E2749F4D7FBD7D3B9A92EE1909D0D2263F80A76A6A24C087A091F531DBF0A0169B6A28A"
        "D662A4D18E73AFA32D779D5918D08BC8858F4DCEF97C2A24855E6EEB22B3B2E5",
        "F518AA8781A8DF278ABA4E7D64B7CB9D49462353",
    ),
    1: (
        "AD107E1E9123A9D0D660FAA79559C51FA20D64E5683B9FD1B54B1597B61D0A75E6FA141DF95A56DBAF9A3C407BA1DF15"
        "EB3D688A309C180E1DE6B85A1274A0A66D3F8152AD6AC2129037C9EDEFDA4DF8D91E8FEF55B7394B7AD5B7D0B6C12207"
        "C9F98D11ED34DBF6C6BA0B2C8BBC27BE6A00E0A0B9C49708B3BF8A317091883681286130BC8985DB1602E714415D9330"
        "278273C7DE31EFDC7310F7121FD5A07415987D9ADC0A486DCDF93ACC44328387315D75E198C641A480CD86A1B9E587E8"
        "BE60E69CC928B2B9C52172E413042E9B23F10B0E16E79763C9B53DCF4BA80A29E3FB73C16B8E75B97EF363E2FFA31F71"
        "CF9DE5384E71B81C0AC4DFFE0C10E64F",
        "AC4032EF4F2D9AE39DF30B5C8FFDAC506CDEBE7B89998CAF74866A08CFE4FFE3A6824A4E10B9A6F0DD921F01A70C4AFA"
        "AB739D7700C29F52C57DB17C620A8652BE5E9001A8D66AD7C17669101999024AF4D027275AC1348BB8A762D0521BC98A"
        "E247150422EA1ED409939D54DA7460CDB5F6C6B250717CBEF180EB34118E98D119529A45D6F834566E3025E316A330EF"
        "BB77A86F0C1AB15B051AE3D428C8F8ACB70A8137150B8EEB10E183EDD19963DDD9E263E4770589EF6AA21E7F5F2FF381"
        "B539CCE3409D13CD566AFBB48D6C019181E1BCFE94B30269EDFE72FE9B6AA4BD7B5A0F1C71CFFF4C19C418E1F6EC0179"
        "81BC087F2A7065B384B890D3191F2BFA",
        "801C0D34C58D93FE997177101F80535A4738CEBCBF389A99B36371EB",
    ),
    2: (
        "87A8E61DB4B6663CFFBBD19C651959998CEEF608660DD0F25D2CEED4435E3B00E00DF8F1D61957D4FAF7DF4561B2AA30"
        "16C3D91134096FAA3BF4296D830E9A7C209E0C6497517ABD5A8A9D306BCF67ED91F9E6725B4758C022E0B1EF4275BF7B"
        "6C5BFC11D45F9088B941F54EB1E59BB8BC39A0BF12307F5C4FDB70C581B23F76B63ACAE1CAA6B7902D52526735488A0E"
        "F13C6D9A51BFA4AB3AD8347796524D8EF6A167B5A41825D967E144E5140564251CCACB83E6B486F6B3CA3F7971506026"
        "C0B857F689962856DED4010ABD0BE621C3A3960A54E710C375F26375D7014103A4B54330C198AF126116D2276E11715F"
        "693877FAD7EF09CADB094AE91E1A1597",
        "3FB32C9B73134D0B2E77506660EDBD484CA7B18F21EF205407F4793A1A0BA12510DBC15077BE463FFF4FED4AAC0BB555"
        "BE3A6C1B0C6B47B1BC3773BF7E8C6F62901228F8C28CBB18A55AE31341000A650196F931C77A57F2DDF463E5E9EC144B"
        "777DE62AAAB8A8628AC376D282D6ED3864E67982428EBC831D14348F6F2F9193B5045AF2767164E1DFC967C1FB3F2E55"
        "A4BD1BFFE83B9C80D052B985D182EA0ADB2A3B7313D3FE14C8484B1E052588B9B7D2BBD2DF016199ECD06E1557CD0915"
        "B3353BBB64E0EC377FD028370DF92B52C7891428CDC67EB6184B523D1DB246C32F63078490F00EF8D647D148D4795451"
        "5E2327CFEF98C582664B4C0F6CC41659",
        "8CF83642A709A097B447997640129DA299B1A47D1EB3750BA308B0FE64F5FBD3",
    ),
}


@dataclass(frozen=True)
class DhGroup:
    """A prime-order subgroup of GF(p)* with the same interface as :class:`EcCurve` (DH for PACE, §4.4).

    Public values are unsigned integers of the length of p (the "point" encoding), the shared secret
    is ``K = Y^x mod p`` of the same length (Part 11 §9.4.1 / BSI TR-03110 A.2.3.2 / TR-03111 §3.1.3).
    """

    name: str
    parameter_id: int
    p: int
    gx: int  # the generator (named like the EC one so the GM code is shared)
    n: int  # q, the subgroup order

    @property
    def g(self) -> int:
        return self.gx

    @property
    def field_len(self) -> int:
        return (self.p.bit_length() + 7) // 8

    def mul(self, k: int, y: int) -> int:
        return pow(y, k, self.p)

    def add(self, a: int, b: int) -> int:
        return a * b % self.p

    def encode_point(self, y: int) -> bytes:
        return y.to_bytes(self.field_len, "big")

    def decode_point(self, data: bytes) -> int:
        y = int.from_bytes(data, "big")
        if len(data) > self.field_len or not 1 < y < self.p - 1 or pow(y, self.n, self.p) != 1:
            raise CryptoError(f"public value is not in the {self.name} subgroup")
        return y

    def x_bytes(self, y: int) -> bytes:
        return y.to_bytes(self.field_len, "big")

    def random_scalar(self, rng) -> int:
        size = (self.n.bit_length() + 7) // 8
        for _ in range(64):
            k = int.from_bytes(rng(size), "big") & ((1 << self.n.bit_length()) - 1)
            if 1 <= k < self.n:
                return k
        raise CryptoError("random source keeps returning out-of-range exponents")

    def with_generator(self, g: int) -> DhGroup:
        return DhGroup(self.name, self.parameter_id, self.p, g, self.n)


DH_GROUPS = {
    i: DhGroup(f"rfc5114_{i}", i, *(int("".join(v) if isinstance(v, tuple) else v, 16) for v in vals))
    for i, vals in _DH_GROUPS_HEX.items()
}


def group_for(info: PaceInfo):
    """The standardized domain parameters of a PACEInfo (Part 11 §9.5.1)."""
    if info.key_agreement == "DH":
        try:
            return DH_GROUPS[info.parameter_id]
        except KeyError as e:
            raise CryptoError(f"standardized DH group id {info.parameter_id} unknown") from e
    return curve_by_parameter_id(info.parameter_id)


class PaceError(Exception):
    """PACE failed; ``reason`` names the step (mse_set_at, encrypted_nonce, mapping, key_agreement,
    mutual_authentication, unsupported)."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class CanKey:
    """Card Access Number printed on the document (Part 11 §9.7): the PACE password as ISO 8859-1."""

    can: str

    def __post_init__(self) -> None:
        if not self.can.isdigit() or not 1 <= len(self.can) <= 10:
            raise AccessKeyError(f"CAN must be 1..10 digits, got {self.can!r}")

    @property
    def pace_password(self) -> bytes:
        return self.can.encode("latin-1")

    pace_password_ref = 2


def pace_password(key: BacKey | CanKey) -> tuple[bytes, int]:
    """``(pi, password reference)`` for MSE:Set AT tag 83."""
    return key.pace_password, key.pace_password_ref


def pace_key_pi(password: bytes, info: PaceInfo) -> bytes:
    """``K_pi = KDF_pi(pi) = KDF(f(pi), 3)`` (Part 11 §9.7)."""
    return kdf(password, KDF_PACE, info.cipher, info.key_bits)


def encrypt_nonce(k_pi: bytes, s: bytes, info: PaceInfo) -> bytes:
    """``z = E(K_pi, s)`` in CBC mode with IV 0 (Part 11 §4.4)."""
    return des3_encrypt(k_pi, s) if info.cipher == "3DES" else aes_encrypt(k_pi, s)


def decrypt_nonce(k_pi: bytes, z: bytes, info: PaceInfo) -> bytes:
    return des3_decrypt(k_pi, z) if info.cipher == "3DES" else aes_decrypt(k_pi, z)


def authentication_token(ks_mac: bytes, info: PaceInfo, public_point: bytes) -> bytes:
    """``T = MAC(KSmac, 7F49{06 OID, 86 public key})`` (Part 11 §4.4, §9.7 / TR-03110 D.3.4)."""
    tag = 0x84 if info.key_agreement == "DH" else 0x86  # public value Y (DH) or point P (EC)
    data = encode_tlv(0x7F49, encode_tlv(0x06, oid_to_bytes(info.protocol)) + encode_tlv(tag, public_point))
    return retail_mac(ks_mac, data) if info.cipher == "3DES" else aes_cmac(ks_mac, data)


def gm_map(curve, s: bytes, shared_point):
    """Generic Mapping (Part 11 §4.4): the group with generator ``G' = s*G + H`` (EC) or
    ``g' = g^s * h`` (DH)."""
    g2 = curve.add(curve.mul(int.from_bytes(s, "big"), curve.g), shared_point)
    if g2 is None or g2 == 1:
        raise PaceError("mapping", "generic mapping gave the neutral element")
    if isinstance(curve, DhGroup):
        return curve.with_generator(g2)
    return EcCurve(curve.name, curve.parameter_id, curve.cryptography_name, curve.p, curve.a, curve.b,
                   g2[0], g2[1], curve.n, curve.h)  # fmt: skip


_IM_CONSTANTS = {  # c0, c1 of the pseudo-random number mapping (Part 11 §4.4.3.3.2)
    16: (bytes.fromhex("a668892a7c41e3ca739f40b057d85904"), bytes.fromhex("a4e136ac725f738b01c1f60217c188ad")),
    32: (bytes.fromhex("d463d65234124ef7897054986dca0a174e28df758cbaa03f240616414d5a1676"),
         bytes.fromhex("54bd7255f0aaf831bec3423fcf39d69b6cbf066677d0faae5aadd99df8e53517")),
}  # fmt: skip


def im_nonce_lengths(info: PaceInfo) -> tuple[int, int]:
    """``(len(s), len(t))`` in bytes for Integrated Mapping: t has the key size k (128 for 3DES), s the
    smallest multiple of the block size that is at least k (Part 11 §4.4.3.3)."""
    k = 16 if info.cipher == "3DES" else info.key_bits // 8
    return (16 if k == 16 else 32), k


def im_pseudo_random(s: bytes, t: bytes, info: PaceInfo, p: int) -> int:
    """``R_p(s, t)`` of Part 11 §4.4.3.3.2 (Figure 2): the block cipher in CBC mode with IV 0, keyed
    first with t, then with each output truncated to the key size, yields ``x_1 || ... || x_n`` mod p."""
    k = im_nonce_lengths(info)[1]
    if len(s) not in _IM_CONSTANTS or len(t) != k:
        raise PaceError("mapping", f"integrated mapping nonces of {len(s)} and {len(t)} bytes")
    c0, c1 = _IM_CONSTANTS[len(s)]
    enc = des3_encrypt if info.cipher == "3DES" else aes_encrypt
    n = -(-(p.bit_length() + 64) // (8 * len(s)))
    key = enc(t, s)
    out = bytearray()
    for _ in range(n):
        key_i = key[:k]
        key = enc(key_i, c0)
        out += enc(key_i, c1)
    return int.from_bytes(out, "big") % p


def _point_encoding(curve: EcCurve, t: int):
    """``f_G``: the simplified SWU encoding for p = 3 mod 4 of [BCIMRT2010] (Part 11 Appendix B)."""
    p, a, b = curve.p, curve.a, curve.b
    alpha = -t * t % p
    x2 = -b * (1 + alpha + alpha * alpha) * pow(a * (alpha + alpha * alpha), -1, p) % p
    x3 = alpha * x2 % p
    h2 = (x2 * x2 * x2 + a * x2 + b) % p
    u = pow(t, 3, p) * h2 % p
    big_a = pow(h2, p - 1 - (p + 1) // 4, p)
    if big_a * big_a * h2 % p == 1:
        return (x2, big_a * h2 % p)
    return (x3, big_a * u % p)


def im_map(group, s: bytes, t: bytes, info: PaceInfo):
    """Integrated Mapping (Part 11 §4.4.3.3.2): the group with generator ``f_G(R_p(s, t))``
    (``f_g(x) = x^((p-1)/q) mod p`` for DH)."""
    x = im_pseudo_random(s, t, info, group.p)
    if isinstance(group, DhGroup):
        g2 = pow(x, (group.p - 1) // group.n, group.p)
        if g2 in (0, 1):
            raise PaceError("mapping", "integrated mapping gave the neutral element")
        return group.with_generator(g2)
    if x == 0:
        raise PaceError("mapping", "integrated mapping input is zero")
    try:
        g2 = _point_encoding(group, x)
    except ValueError as e:  # a non-invertible denominator
        raise PaceError("mapping", f"integrated mapping point encoding failed: {e}") from e
    if not group.is_on_curve(g2):
        raise PaceError("mapping", "integrated mapping point is not on the curve")
    return EcCurve(group.name, group.parameter_id, group.cryptography_name, group.p, group.a, group.b,
                   g2[0], g2[1], group.n, group.h)  # fmt: skip


def supported_pace_info(info: PaceInfo) -> bool:
    """Generic Mapping (ECDH, DH) and Integrated Mapping (DH, and ECDH on curves with p = 3 mod 4)."""
    try:
        if info.mapping not in ("GM", "IM") or info.parameter_id is None:
            return False
        group = group_for(info)
        if info.mapping == "IM" and isinstance(group, EcCurve) and (group.p % 4 != 3 or not group.a or not group.b):
            return False
    except (SecurityInfoError, CryptoError):
        return False
    return True


def choose_pace_info(card_access: SecurityInfos) -> PaceInfo | None:
    """The first PACEInfo of EF.CardAccess this terminal supports (the chip lists its preference)."""
    for info in card_access.pace_infos:
        if supported_pace_info(info):
            return info
    return None


@dataclass
class PaceResult:
    """Outcome of PACE: suite, session keys and the secure-messaging channel (SSC 0)."""

    protocol_oid: str
    mapping: str
    cipher: str
    key_bits: int
    parameter_id: int | None
    password: str
    ks_enc: bytes
    ks_mac: bytes
    sm: SecureMessaging = field(repr=False)
    protocol: str = "PACE"
    steps: list[str] = field(default_factory=list)
    #: the chip's ephemeral public key of the key agreement (ID_PICC of Terminal Authentication v1)
    chip_public_key: bytes = field(default=b"", repr=False)

    def to_dict(self) -> dict:
        return {
            "protocol": self.protocol,
            "succeeded": True,
            "protocol_oid": self.protocol_oid,
            "mapping": self.mapping,
            "cipher": self.cipher,
            "key_bits": self.key_bits,
            "parameter_id": self.parameter_id,
            "password": self.password,
            "steps": list(self.steps),
        }


def _ga(transport, payload: bytes, last: bool, step: str) -> dict[int, bytes]:
    """One GENERAL AUTHENTICATE (chained unless ``last``), returning the 7C response's inner objects."""
    cmd = CommandApdu(0x00 if last else 0x10, 0x86, 0x00, 0x00, encode_tlv(0x7C, payload), ne=256)
    try:
        resp = ResponseApdu.parse(transport.transmit(cmd.encode())).check()
        tag, value, end = read_tlv(resp.data, 0)
        if tag != 0x7C or end != len(resp.data):
            raise PaceError(step, f"PACE {step}: response is not a dynamic authentication data object")
        return dict(iter_tlv(value))
    except (ApduError, StatusWordError, TlvError) as e:
        raise PaceError(step, f"PACE {step} failed: {e}") from e


def _need(objs: dict[int, bytes], tag: int, step: str) -> bytes:
    if tag not in objs:
        raise PaceError(step, f"PACE {step}: chip response lacks tag {tag:02X}")
    return objs[tag]


def _generic_mapping(transport, curve, s: bytes, rng):
    """Generic Mapping exchange (Part 11 §4.4.3.3.1): ephemeral DH, then ``G' = s*G + H``."""
    sk_map = curve.random_scalar(rng)
    pk_map = curve.encode_point(curve.mul(sk_map, curve.g))
    chip_map = _need(_ga(transport, encode_tlv(0x81, pk_map), False, "mapping"), 0x82, "mapping")
    try:
        h = curve.mul(sk_map, curve.decode_point(chip_map))
    except CryptoError as e:
        raise PaceError("mapping", f"PACE mapping: bad chip public key: {e}") from e
    if chip_map == pk_map:
        raise PaceError("mapping", "PACE mapping: chip echoed our public key")
    return gm_map(curve, s, h)


def perform_pace(
    transport,
    key: BacKey | CanKey,
    card_access: SecurityInfos | PaceInfo,
    *,
    rng: Rng | None = None,
    send_parameter_id: bool = True,
) -> PaceResult:
    """Run PACE over ``transport``; raise :class:`PaceError` naming the failing step.

    ``send_parameter_id`` puts the domain parameter id (tag 84) in MSE:Set AT; Part 11 §4.4.4.1 needs it
    only when the chip offers more than one set (Appendix G.2 leaves it out, gmrtd's G.1 sends it).
    """
    rng = rng or os.urandom
    info = card_access if isinstance(card_access, PaceInfo) else choose_pace_info(card_access)
    if info is None or not supported_pace_info(info):
        raise PaceError("unsupported", "EF.CardAccess offers no PACE suite this terminal supports")
    curve = group_for(info)
    password, ref = pace_password(key)
    steps: list[str] = []

    # Step 1: MSE:Set AT (Part 11 §4.4)
    mse = encode_tlv(0x80, oid_to_bytes(info.protocol)) + encode_tlv(0x83, bytes([ref]))
    if send_parameter_id:
        mse += encode_tlv(0x84, bytes([info.parameter_id]))
    try:
        ResponseApdu.parse(transport.transmit(CommandApdu(0x00, 0x22, 0xC1, 0xA4, mse).encode())).check()
    except (ApduError, StatusWordError) as e:
        raise PaceError("mse_set_at", f"PACE MSE:Set AT failed: {e}") from e
    steps.append("mse_set_at")

    # Step 2: encrypted nonce
    z = _need(_ga(transport, b"", False, "encrypted_nonce"), 0x80, "encrypted_nonce")
    try:
        s = decrypt_nonce(pace_key_pi(password, info), z, info)
    except CryptoError as e:
        raise PaceError("encrypted_nonce", f"PACE: cannot decrypt the nonce: {e}") from e
    steps.append("encrypted_nonce")

    # Step 3: mapping (Part 11 §4.4.3.3)
    if info.mapping == "IM":
        t = rng(im_nonce_lengths(info)[1])
        _need(_ga(transport, encode_tlv(0x81, t), False, "mapping"), 0x82, "mapping")
        mapped = im_map(curve, s, t, info)
    else:
        mapped = _generic_mapping(transport, curve, s, rng)
    steps.append("mapping")

    # Step 4: key agreement on the mapped generator
    sk_eph = mapped.random_scalar(rng)
    pk_eph = mapped.encode_point(mapped.mul(sk_eph, mapped.g))
    chip_eph = _need(_ga(transport, encode_tlv(0x83, pk_eph), False, "key_agreement"), 0x84, "key_agreement")
    if chip_eph == pk_eph:
        raise PaceError("key_agreement", "PACE key agreement: chip echoed our public key")
    try:
        shared = mapped.x_bytes(mapped.mul(sk_eph, mapped.decode_point(chip_eph)))
    except CryptoError as e:
        raise PaceError("key_agreement", f"PACE key agreement: bad chip public key: {e}") from e
    ks_enc = kdf(shared, KDF_ENC, info.cipher, info.key_bits)
    ks_mac = kdf(shared, KDF_MAC, info.cipher, info.key_bits)
    steps.append("key_agreement")

    # Step 5: mutual authentication
    t_ifd = authentication_token(ks_mac, info, chip_eph)
    objs = _ga(transport, encode_tlv(0x85, t_ifd), True, "mutual_authentication")
    t_icc = _need(objs, 0x86, "mutual_authentication")
    if not hmac.compare_digest(t_icc, authentication_token(ks_mac, info, pk_eph)):
        raise PaceError("mutual_authentication", "PACE: the chip's authentication token does not verify")
    steps.append("mutual_authentication")

    sm = SecureMessaging(SmCipher(info.cipher, ks_enc, ks_mac), 0)
    return PaceResult(
        info.protocol,
        info.mapping,
        info.cipher,
        info.key_bits,
        info.parameter_id,
        "MRZ" if ref == 1 else "CAN",
        ks_enc,
        ks_mac,
        sm,
        steps=steps,
        chip_public_key=chip_eph,
    )
