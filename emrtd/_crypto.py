"""Symmetric cryptography of ICAO Doc 9303 Part 11: key derivation, 3DES/AES, MACs, padding.

- Key derivation function: Part 11 §9.7.1 (SHA-1 for 3DES and AES-128, SHA-256 for AES-192/256;
  3DES keys get odd DES parity).
- Padding: ISO/IEC 9797-1 padding method 2 (``80 00 ..``), Part 11 §9.8 / §9.8.
- 3DES: two-key TDES in CBC mode with a zero IV (Part 11 §9.8);
  MAC: ISO/IEC 9797-1 MAC algorithm 3 (the "retail MAC") with DES, Part 11 §9.8.
- AES: CBC mode, IV = E(KSenc, SSC) for secure messaging (Part 11 §9.8);
  MAC: AES-CMAC (NIST SP 800-38B) truncated to 8 bytes.

:class:`SmCipher` bundles one suite's keys and primitives for secure messaging.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = [
    "CryptoError",
    "PaddingError",
    "KDF_ENC",
    "KDF_MAC",
    "KDF_PACE",
    "kdf",
    "adjust_parity",
    "pad",
    "unpad",
    "des3_encrypt",
    "des3_decrypt",
    "retail_mac",
    "aes_encrypt",
    "aes_decrypt",
    "aes_cmac",
    "SmCipher",
    "EcError",
    "EcCurve",
    "CURVES",
    "curve_by_parameter_id",
    "curve_by_name",
    "match_curve",
]

KDF_ENC = 1
KDF_MAC = 2
KDF_PACE = 3


class CryptoError(ValueError):
    """Bad key, block or parameter for a Doc 9303 cryptographic primitive."""


class PaddingError(CryptoError):
    """Data not padded with ISO/IEC 9797-1 padding method 2."""


def adjust_parity(key: bytes) -> bytes:
    """Set the DES odd-parity bit of each byte (FIPS 46-3)."""
    out = bytearray()
    for b in key:
        b &= 0xFE
        out.append(b | (bin(b).count("1") + 1) % 2)
    return bytes(out)


def kdf(shared_secret: bytes, counter: int, cipher: str = "3DES", key_bits: int = 128) -> bytes:
    """Doc 9303 Part 11 §9.7.1: ``KDF(K, c) = H(K || c)`` truncated to the cipher's key length.

    ``cipher`` is ``"3DES"`` (two-key TDES, 16 bytes with parity) or ``"AES"`` with
    ``key_bits`` 128 (SHA-1), 192 or 256 (SHA-256). ``counter`` is 1 (KSenc), 2 (KSmac), 3 (PACE K_pi).
    """
    c = counter.to_bytes(4, "big")
    if cipher == "3DES":
        return adjust_parity(hashlib.sha1(shared_secret + c).digest()[:16])  # noqa: S324 - mandated by Doc 9303
    if cipher != "AES":
        raise CryptoError(f"unknown cipher {cipher!r}")
    if key_bits == 128:
        return hashlib.sha1(shared_secret + c).digest()[:16]  # noqa: S324 - mandated by Doc 9303
    if key_bits in (192, 256):
        return hashlib.sha256(shared_secret + c).digest()[: key_bits // 8]
    raise CryptoError(f"AES key length {key_bits} not in 128/192/256")


def pad(data: bytes, block: int = 8) -> bytes:
    """ISO/IEC 9797-1 padding method 2: append 0x80 then zeros to a multiple of ``block``."""
    data = bytes(data) + b"\x80"
    return data + b"\x00" * (-len(data) % block)


def unpad(data: bytes, block: int = 8) -> bytes:
    """Remove ISO/IEC 9797-1 method 2 padding; raise PaddingError when it is missing or wrong."""
    if not data or len(data) % block:
        raise PaddingError(f"padded data of {len(data)} bytes is not a multiple of {block}")
    stripped = bytes(data).rstrip(b"\x00")
    if not stripped or stripped[-1] != 0x80 or len(data) - len(stripped) >= block:
        raise PaddingError("ISO/IEC 9797-1 method 2 padding not found")
    return stripped[:-1]


def _check_blocks(data: bytes, block: int) -> None:
    if len(data) % block:
        raise CryptoError(f"{len(data)} bytes is not a multiple of the {block}-byte block")


def _des3_key(key: bytes) -> bytes:
    if len(key) == 16:
        return key + key[:8]
    if len(key) == 24:
        return key
    raise CryptoError(f"3DES key of {len(key)} bytes (16 or 24 expected)")


def des3_encrypt(key: bytes, data: bytes, iv: bytes = bytes(8)) -> bytes:
    _check_blocks(data, 8)
    enc = Cipher(TripleDES(_des3_key(key)), modes.CBC(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def des3_decrypt(key: bytes, data: bytes, iv: bytes = bytes(8)) -> bytes:
    _check_blocks(data, 8)
    dec = Cipher(TripleDES(_des3_key(key)), modes.CBC(iv)).decryptor()
    return dec.update(data) + dec.finalize()


def retail_mac(key: bytes, data: bytes, *, padded: bool = False) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 3 with single DES and output transformation 3 (Part 11 §9.8).

    ``data`` is padded with method 2 unless ``padded`` says it already is. Returns 8 bytes.
    """
    if len(key) != 16:
        raise CryptoError(f"retail MAC key of {len(key)} bytes (16 expected)")
    msg = bytes(data) if padded else pad(data, 8)
    _check_blocks(msg, 8)
    ka, kb = key[:8], key[8:]
    # CBC-MAC with single DES (TDES with K1=K2=K3) over all blocks but the last...
    h = bytes(8)
    if len(msg) > 8:
        enc = Cipher(TripleDES(ka * 3), modes.CBC(bytes(8))).encryptor()
        h = (enc.update(msg[:-8]) + enc.finalize())[-8:]
    # ...and the last block through E(Ka, D(Kb, E(Ka, .))): the output transformation 3.
    last = bytes(a ^ b for a, b in zip(h, msg[-8:], strict=True))
    return Cipher(TripleDES(ka + kb + ka), modes.ECB()).encryptor().update(last)  # noqa: S305 - one block


def aes_encrypt(key: bytes, data: bytes, iv: bytes = bytes(16)) -> bytes:
    _check_blocks(data, 16)
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def aes_decrypt(key: bytes, data: bytes, iv: bytes = bytes(16)) -> bytes:
    _check_blocks(data, 16)
    dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return dec.update(data) + dec.finalize()


def aes_cmac(key: bytes, data: bytes, length: int = 8) -> bytes:
    """AES-CMAC (NIST SP 800-38B) truncated to ``length`` bytes (8 in Doc 9303)."""
    c = cmac.CMAC(algorithms.AES(key))
    c.update(bytes(data))
    return c.finalize()[:length]


@dataclass(frozen=True)
class SmCipher:
    """Session keys and primitives of one secure-messaging suite (Part 11 §9.8).

    ``cipher`` is ``"3DES"`` or ``"AES"``. ``block`` is the cipher block (8 or 16) which is also the
    padding block and the SSC length.
    """

    cipher: str
    ks_enc: bytes
    ks_mac: bytes

    def __post_init__(self) -> None:
        if self.cipher == "3DES":
            if len(self.ks_enc) != 16 or len(self.ks_mac) != 16:
                raise CryptoError("3DES session keys must be 16 bytes")
        elif self.cipher == "AES":
            if len(self.ks_enc) not in (16, 24, 32) or len(self.ks_mac) != len(self.ks_enc):
                raise CryptoError("AES session keys must be 16, 24 or 32 bytes")
        else:
            raise CryptoError(f"unknown cipher {self.cipher!r}")

    @property
    def block(self) -> int:
        return 8 if self.cipher == "3DES" else 16

    def _iv(self, ssc: bytes) -> bytes:
        if self.cipher == "3DES":
            return bytes(8)
        # Part 11 §9.8: IV = E(KSenc, SSC)
        return Cipher(algorithms.AES(self.ks_enc), modes.ECB()).encryptor().update(ssc)  # noqa: S305

    def encrypt(self, ssc: bytes, plain: bytes) -> bytes:
        """Encrypt already padded data."""
        if self.cipher == "3DES":
            return des3_encrypt(self.ks_enc, plain)
        return aes_encrypt(self.ks_enc, plain, self._iv(ssc))

    def decrypt(self, ssc: bytes, cryptogram: bytes) -> bytes:
        if self.cipher == "3DES":
            return des3_decrypt(self.ks_enc, cryptogram)
        return aes_decrypt(self.ks_enc, cryptogram, self._iv(ssc))

    def mac(self, data: bytes) -> bytes:
        """MAC over ``data`` that is already padded to the block size (SSC included by the caller)."""
        if self.cipher == "3DES":
            return retail_mac(self.ks_mac, data, padded=True)
        return aes_cmac(self.ks_mac, data)

    def verify_mac(self, data: bytes, tag: bytes) -> bool:
        return hmac.compare_digest(self.mac(data), bytes(tag))


# --- elliptic curves over prime fields (BSI TR-03111 §2.3), for PACE mapping, ECDH and CA ---------------


class EcError(CryptoError):
    """An invalid point, scalar or curve."""


@dataclass(frozen=True)
class EcCurve:
    """Short Weierstrass curve ``y^2 = x^3 + ax + b`` over GF(p) with base point G of order n.

    ``parameter_id`` is the standardized domain parameter id of Doc 9303 Part 11 §9.5.1 (or None),
    ``cryptography_name`` the class in ``cryptography.hazmat.primitives.asymmetric.ec`` when it has one.
    Points are ``(x, y)`` tuples; ``None`` is the point at infinity.
    """

    name: str
    parameter_id: int | None
    cryptography_name: str | None
    p: int
    a: int
    b: int
    gx: int
    gy: int
    n: int
    h: int = 1

    @property
    def g(self) -> tuple[int, int]:
        return (self.gx, self.gy)

    @property
    def field_len(self) -> int:
        return (self.p.bit_length() + 7) // 8

    def is_on_curve(self, pt) -> bool:
        if pt is None:
            return False
        x, y = pt
        if not (0 <= x < self.p and 0 <= y < self.p):
            return False
        return (y * y - (x * x * x + self.a * x + self.b)) % self.p == 0

    def add(self, p1, p2):
        if p1 is None:
            return p2
        if p2 is None:
            return p1
        p = self.p
        x1, y1 = p1
        x2, y2 = p2
        if x1 == x2:
            if (y1 + y2) % p == 0:
                return None
            lam = (3 * x1 * x1 + self.a) * pow(2 * y1, -1, p) % p
        else:
            lam = (y2 - y1) * pow(x2 - x1, -1, p) % p
        x3 = (lam * lam - x1 - x2) % p
        return (x3, (lam * (x1 - x3) - y1) % p)

    def mul(self, k: int, pt):
        """Scalar multiplication in Jacobian coordinates (one inversion at the end)."""
        if pt is None or k % self.n == 0:
            return None
        k %= self.n
        p = self.p
        a = self.a
        # Jacobian (X, Y, Z) with x = X/Z^2, y = Y/Z^3; None = infinity
        acc = None
        base = (pt[0], pt[1], 1)
        for bit in bin(k)[2:]:
            if acc is not None:
                acc = _jdouble(acc, a, p)
            if bit == "1":
                acc = base if acc is None else _jadd(acc, base, a, p)
        if acc is None or acc[2] % p == 0:
            return None
        x, y, z = acc
        zi = pow(z, -1, p)
        zi2 = zi * zi % p
        return (x * zi2 % p, y * zi2 * zi % p)

    def encode_point(self, pt) -> bytes:
        """Uncompressed encoding ``04 || X || Y`` (BSI TR-03111 §3.2.1)."""
        if pt is None:
            raise EcError("cannot encode the point at infinity")
        n = self.field_len
        return b"\x04" + pt[0].to_bytes(n, "big") + pt[1].to_bytes(n, "big")

    def decode_point(self, data: bytes):
        """Decode an uncompressed point and check it lies on the curve."""
        n = self.field_len
        data = bytes(data)
        if len(data) != 1 + 2 * n or data[0] != 0x04:
            raise EcError(f"not an uncompressed point of {self.name} ({len(data)} bytes)")
        pt = (int.from_bytes(data[1 : 1 + n], "big"), int.from_bytes(data[1 + n :], "big"))
        if not self.is_on_curve(pt):
            raise EcError(f"point is not on {self.name}")
        return pt

    def random_scalar(self, rng) -> int:
        """A private key in [1, n-1] from ``rng(len)`` bytes (rejection sampling, so injected keys pass)."""
        size = (self.n.bit_length() + 7) // 8
        for _ in range(64):
            k = int.from_bytes(rng(size), "big") & ((1 << self.n.bit_length()) - 1)
            if 1 <= k < self.n:
                return k
        raise EcError("random source keeps returning out-of-range scalars")

    def x_bytes(self, pt) -> bytes:
        """The shared secret of ECKA: the x-coordinate as a field-length octet string (TR-03111 §4.3.1)."""
        if pt is None:
            raise EcError("shared secret is the point at infinity")
        return pt[0].to_bytes(self.field_len, "big")


def _jdouble(pt, a, p):
    x, y, z = pt
    if y == 0:
        return None
    yy = y * y % p
    s = 4 * x * yy % p
    zz = z * z % p
    m = (3 * x * x + a * zz * zz) % p
    x3 = (m * m - 2 * s) % p
    y3 = (m * (s - x3) - 8 * yy * yy) % p
    z3 = 2 * y * z % p
    return (x3, y3, z3)


def _jadd(p1, p2, a, p):
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    z1z1 = z1 * z1 % p
    z2z2 = z2 * z2 % p
    u1 = x1 * z2z2 % p
    u2 = x2 * z1z1 % p
    s1 = y1 * z2 * z2z2 % p
    s2 = y2 * z1 * z1z1 % p
    if u1 == u2:
        if s1 != s2:
            return None
        return _jdouble(p1, a, p)
    hh = (u2 - u1) % p
    r = (s2 - s1) % p
    h2 = hh * hh % p
    h3 = hh * h2 % p
    u1h2 = u1 * h2 % p
    x3 = (r * r - h3 - 2 * u1h2) % p
    y3 = (r * (u1h2 - x3) - s1 * h3) % p
    z3 = hh * z1 * z2 % p
    return (x3, y3, z3)


# Domain parameters dumped from OpenSSL (`openssl ecparam -param_enc explicit`), ids from Part 11 §9.5.1.
CURVES: tuple[EcCurve, ...] = (
    EcCurve(
        "secp192r1",
        8,
        "SECP192R1",
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFFFFFFFFFF,
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFFFFFFFFFC,
        0x64210519E59C80E70FA7E9AB72243049FEB8DEECC146B9B1,
        0x188DA80EB03090F67CBF20EB43A18800F4FF0AFD82FF1012,
        0x7192B95FFC8DA78631011ED6B24CDD573F977A11E794811,
        0xFFFFFFFFFFFFFFFFFFFFFFFF99DEF836146BC9B1B4D22831,
        1,
    ),
    EcCurve(
        "secp224r1",
        10,
        "SECP224R1",
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF000000000000000000000001,
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFE,
        0xB4050A850C04B3ABF54132565044B0B7D7BFD8BA270B39432355FFB4,
        0xB70E0CBD6BB4BF7F321390B94A03C1D356C21122343280D6115C1D21,
        0xBD376388B5F723FB4C22DFE6CD4375A05A07476444D5819985007E34,
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFF16A2E0B8F03E13DD29455C5C2A3D,
        1,
    ),
    EcCurve(
        "secp256r1",
        12,
        "SECP256R1",
        0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
        0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC,
        0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
        0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
        0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
        0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
        1,
    ),
    EcCurve(
        "secp384r1",
        15,
        "SECP384R1",
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFF0000000000000000FFFFFFFF,
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFF0000000000000000FFFFFFFC,
        0xB3312FA7E23EE7E4988E056BE3F82D19181D9C6EFE8141120314088F5013875AC656398D8A2ED19D2A85C8EDD3EC2AEF,
        0xAA87CA22BE8B05378EB1C71EF320AD746E1D3B628BA79B9859F741E082542A385502F25DBF55296C3A545E3872760AB7,
        0x3617DE4A96262C6F5D9E98BF9292DC29F8F41DBD289A147CE9DA3113B5F0B8C00A60B1CE1D7E819D7A431D7C90EA0E5F,
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973,
        1,
    ),
    EcCurve(
        "secp521r1",
        18,
        "SECP521R1",
        0x1FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF,
        0x1FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC,
        0x51953EB9618E1C9A1F929A21A0B68540EEA2DA725B99B315F3B8B489918EF109E156193951EC7E937B1652C0BD3BB1BF073573DF883D2C34F1EF451FD46B503F00,
        0xC6858E06B70404E9CD9E3ECB662395B4429C648139053FB521F828AF606B4D3DBAA14B5E77EFE75928FE1DC127A2FFA8DE3348B3C1856A429BF97E7E31C2E5BD66,
        0x11839296A789A3BC0045C8A5FB42C7D1BD998F54449579B446817AFBD17273E662C97EE72995EF42640C550B9013FAD0761353C7086A272C24088BE94769FD16650,
        0x1FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409,
        1,
    ),
    EcCurve(
        "brainpoolp192r1",
        9,
        None,
        0xC302F41D932A36CDA7A3463093D18DB78FCE476DE1A86297,
        0x6A91174076B1E0E19C39C031FE8685C1CAE040E5C69A28EF,
        0x469A28EF7C28CCA3DC721D044F4496BCCA7EF4146FBF25C9,
        0xC0A0647EAAB6A48753B033C56CB0F0900A2F5C4853375FD6,
        0x14B690866ABD5BB88B5F4828C1490002E6773FA2FA299B8F,
        0xC302F41D932A36CDA7A3462F9E9E916B5BE8F1029AC4ACC1,
        1,
    ),
    EcCurve(
        "brainpoolp224r1",
        11,
        None,
        0xD7C134AA264366862A18302575D1D787B09F075797DA89F57EC8C0FF,
        0x68A5E62CA9CE6C1C299803A6C1530B514E182AD8B0042A59CAD29F43,
        0x2580F63CCFE44138870713B1A92369E33E2135D266DBB372386C400B,
        0xD9029AD2C7E5CF4340823B2A87DC68C9E4CE3174C1E6EFDEE12C07D,
        0x58AA56F772C0726F24C6B89E4ECDAC24354B9E99CAA3F6D3761402CD,
        0xD7C134AA264366862A18302575D0FB98D116BC4B6DDEBCA3A5A7939F,
        1,
    ),
    EcCurve(
        "brainpoolp256r1",
        13,
        "BrainpoolP256R1",
        0xA9FB57DBA1EEA9BC3E660A909D838D726E3BF623D52620282013481D1F6E5377,
        0x7D5A0975FC2C3057EEF67530417AFFE7FB8055C126DC5C6CE94A4B44F330B5D9,
        0x26DC5C6CE94A4B44F330B5D9BBD77CBF958416295CF7E1CE6BCCDC18FF8C07B6,
        0x8BD2AEB9CB7E57CB2C4B482FFC81B7AFB9DE27E1E3BD23C23A4453BD9ACE3262,
        0x547EF835C3DAC4FD97F8461A14611DC9C27745132DED8E545C1D54C72F046997,
        0xA9FB57DBA1EEA9BC3E660A909D838D718C397AA3B561A6F7901E0E82974856A7,
        1,
    ),
    EcCurve(
        "brainpoolp320r1",
        14,
        None,
        0xD35E472036BC4FB7E13C785ED201E065F98FCFA6F6F40DEF4F92B9EC7893EC28FCD412B1F1B32E27,
        0x3EE30B568FBAB0F883CCEBD46D3F3BB8A2A73513F5EB79DA66190EB085FFA9F492F375A97D860EB4,
        0x520883949DFDBC42D3AD198640688A6FE13F41349554B49ACC31DCCD884539816F5EB4AC8FB1F1A6,
        0x43BD7E9AFB53D8B85289BCC48EE5BFE6F20137D10A087EB6E7871E2A10A599C710AF8D0D39E20611,
        0x14FDD05545EC1CC8AB4093247F77275E0743FFED117182EAA9C77877AAAC6AC7D35245D1692E8EE1,
        0xD35E472036BC4FB7E13C785ED201E065F98FCFA5B68F12A32D482EC7EE8658E98691555B44C59311,
        1,
    ),
    EcCurve(
        "brainpoolp384r1",
        16,
        "BrainpoolP384R1",
        0x8CB91E82A3386D280F5D6F7E50E641DF152F7109ED5456B412B1DA197FB71123ACD3A729901D1A71874700133107EC53,
        0x7BC382C63D8C150C3C72080ACE05AFA0C2BEA28E4FB22787139165EFBA91F90F8AA5814A503AD4EB04A8C7DD22CE2826,
        0x4A8C7DD22CE28268B39B55416F0447C2FB77DE107DCD2A62E880EA53EEB62D57CB4390295DBC9943AB78696FA504C11,
        0x1D1C64F068CF45FFA2A63A81B7C13F6B8847A3E77EF14FE3DB7FCAFE0CBD10E8E826E03436D646AAEF87B2E247D4AF1E,
        0x8ABE1D7520F9C2A45CB1EB8E95CFD55262B70B29FEEC5864E19C054FF99129280E4646217791811142820341263C5315,
        0x8CB91E82A3386D280F5D6F7E50E641DF152F7109ED5456B31F166E6CAC0425A7CF3AB6AF6B7FC3103B883202E9046565,
        1,
    ),
    EcCurve(
        "brainpoolp512r1",
        17,
        "BrainpoolP512R1",
        0xAADD9DB8DBE9C48B3FD4E6AE33C9FC07CB308DB3B3C9D20ED6639CCA703308717D4D9B009BC66842AECDA12AE6A380E62881FF2F2D82C68528AA6056583A48F3,
        0x7830A3318B603B89E2327145AC234CC594CBDD8D3DF91610A83441CAEA9863BC2DED5D5AA8253AA10A2EF1C98B9AC8B57F1117A72BF2C7B9E7C1AC4D77FC94CA,
        0x3DF91610A83441CAEA9863BC2DED5D5AA8253AA10A2EF1C98B9AC8B57F1117A72BF2C7B9E7C1AC4D77FC94CADC083E67984050B75EBAE5DD2809BD638016F723,
        0x81AEE4BDD82ED9645A21322E9C4C6A9385ED9F70B5D916C1B43B62EEF4D0098EFF3B1F78E2D0D48D50D1687B93B97D5F7C6D5047406A5E688B352209BCB9F822,
        0x7DDE385D566332ECC0EABFA9CF7822FDF209F70024A57B1AA000C55B881F8111B2DCDE494A5F485E5BCA4BD88A2763AED1CA2B2FA8F0540678CD1E0F3AD80892,
        0xAADD9DB8DBE9C48B3FD4E6AE33C9FC07CB308DB3B3C9D20ED6639CCA70330870553E5C414CA92619418661197FAC10471DB1D381085DDADDB58796829CA90069,
        1,
    ),
)

_BY_ID = {c.parameter_id: c for c in CURVES}
_BY_NAME = {c.name: c for c in CURVES}


def curve_by_parameter_id(parameter_id: int) -> EcCurve:
    """Standardized EC domain parameters of Doc 9303 Part 11 §9.5.1 (8..18)."""
    try:
        return _BY_ID[parameter_id]
    except KeyError as e:
        raise EcError(f"standardized domain parameter id {parameter_id} is not an EC curve we support") from e


def curve_by_name(name: str) -> EcCurve:
    try:
        return _BY_NAME[name.lower()]
    except KeyError as e:
        raise EcError(f"unknown curve {name!r}") from e


def match_curve(p: int, a: int, b: int, gx: int, gy: int, n: int, h: int = 1) -> EcCurve:
    """The named curve with these explicit parameters, or an anonymous one (DG14 often uses explicit ones)."""
    for c in CURVES:
        if (c.p, c.a, c.b, c.gx, c.gy, c.n) == (p, a % p, b % p, gx, gy, n):
            return c
    curve = EcCurve("explicit", None, None, p, a % p, b % p, gx, gy, n, h)
    if not curve.is_on_curve(curve.g):
        raise EcError("explicit EC parameters: base point is not on the curve")
    return curve
