"""EC public keys whose SubjectPublicKeyInfo carries *explicit* domain parameters (RFC 3279 §2.3.5,
SEC 1 §C.2, BSI TR-03111 §5.1.1), as German (and many other) CSCA, Document Signer and chip keys do.

``cryptography`` loads an explicit-parameter key only when it maps to secp256r1/384r1/521r1; a genuine
document whose Document Signer key is on brainpoolP256r1 with explicit parameters would then fail Passive
Authentication. :func:`named_curve_of` compares every parameter (prime, a, b, the generator in compressed or
uncompressed form, the order and the cofactor) with the named curves of :data:`emrtd._crypto.CURVES`
(brainpoolP192r1..P512r1, NIST P-192..P-521) and returns the one they equal, so the key is verified with that
named curve; parameters that equal none are refused with :class:`UnknownCurveError` (code
``ec_parameters_unknown_curve``), malformed ones with :class:`EcParametersError` (``ec_parameters_malformed``).

- :func:`public_key_from_spki`: a ``cryptography`` public key from a DER SubjectPublicKeyInfo, named or explicit
  (for X.509 signatures, CMS signer infos and CRLs);
- :func:`curve_and_point_from_spki`: the curve and point of an EC SubjectPublicKeyInfo (for Active and Chip
  Authentication, which compute on :class:`emrtd._crypto.EcCurve`);
- :func:`encode_explicit_spki`: the DER of a SubjectPublicKeyInfo with explicit parameters (the test issuer).
"""

from __future__ import annotations

from asn1crypto import core, keys
from cryptography.hazmat.primitives.asymmetric import ec

from emrtd._crypto import CURVES, EcCurve, EcError, curve_by_name

__all__ = [
    "EcParametersError",
    "UnknownCurveError",
    "UnsupportedCurveError",
    "named_curve_of",
    "named_curve_for",
    "decode_ec_point",
    "public_key_from_spki",
    "curve_and_point_from_spki",
    "encode_explicit_spki",
]


class EcParametersError(EcError):
    """EC domain parameters (or a point) that do not decode: truncated, wrong field type, bad encoding."""

    code = "ec_parameters_malformed"


class UnknownCurveError(EcParametersError):
    """Well-formed explicit EC domain parameters that equal no named curve (a tweaked b, generator, order...)."""

    code = "ec_parameters_unknown_curve"


class UnsupportedCurveError(EcParametersError):
    """A named curve of :data:`emrtd._crypto.CURVES` that ``cryptography`` cannot verify X.509/CMS signatures with
    (brainpoolP192r1/P224r1/P320r1, P-192, P-224): such keys are refused for a CSCA, DSC or Master List Signer, but
    work for Active and Chip Authentication, which compute on :class:`emrtd._crypto.EcCurve` here."""

    code = "ec_curve_unsupported"


# what asn1crypto raises on malformed input (it parses lazily, so also on field access)
_DECODE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError)


def _sqrt_mod(a: int, p: int) -> int | None:
    """A square root of ``a`` modulo the odd prime ``p`` (Tonelli-Shanks), or None when there is none."""
    a %= p
    if a == 0:
        return 0
    if pow(a, (p - 1) // 2, p) != 1:
        return None
    if p % 4 == 3:
        return pow(a, (p + 1) // 4, p)
    q, s = p - 1, 0
    while q % 2 == 0:
        q, s = q // 2, s + 1
    z = 2
    while pow(z, (p - 1) // 2, p) != p - 1:
        z += 1
    m, c, t, r = s, pow(z, q, p), pow(a, q, p), pow(a, (q + 1) // 2, p)
    while t != 1:
        i, t2 = 0, t
        while t2 != 1:
            t2, i = t2 * t2 % p, i + 1
        b = pow(c, 1 << (m - i - 1), p)
        m, c, t, r = i, b * b % p, t * b * b % p, r * b % p
    return r


def decode_ec_point(data: bytes, p: int, a: int, b: int) -> tuple[int, int]:
    """An affine point from its SEC 1 §2.3.4 encoding: ``04 || X || Y`` or compressed ``02/03 || X``; it must lie
    on ``y^2 = x^3 + ax + b`` over GF(p). Raises :class:`EcParametersError`."""
    data = bytes(data)
    flen = (p.bit_length() + 7) // 8
    if len(data) == 1 + 2 * flen and data[:1] == b"\x04":
        x, y = int.from_bytes(data[1 : 1 + flen], "big"), int.from_bytes(data[1 + flen :], "big")
    elif len(data) == 1 + flen and data[:1] in (b"\x02", b"\x03"):
        x = int.from_bytes(data[1:], "big")
        if x >= p:
            raise EcParametersError("compressed point: x is not a field element")
        y = _sqrt_mod(x * x * x + a * x + b, p)
        if y is None:
            raise EcParametersError("compressed point: x is not the abscissa of a point on the curve")
        if y % 2 != data[0] % 2:
            y = p - y
    else:
        raise EcParametersError(f"EC point of {len(data)} bytes with prefix {data[:1].hex() or 'none'}: neither "
                                f"uncompressed ({1 + 2 * flen} bytes, 04) nor compressed ({1 + flen} bytes, 02/03)")
    if not (0 <= x < p and 0 <= y < p) or (y * y - (x * x * x + a * x + b)) % p:
        raise EcParametersError("EC point is not on the curve")
    return x, y


def _load_params(params) -> keys.SpecifiedECDomain:
    if isinstance(params, bytes | bytearray):
        try:
            params = keys.SpecifiedECDomain.load(bytes(params), strict=True)
        except _DECODE_ERRORS as e:
            raise EcParametersError(f"explicit EC parameters do not decode: {e}") from e
    return params


def named_curve_of(params) -> EcCurve:
    """The named curve equal to explicit ``SpecifiedECDomain`` parameters (asn1crypto object or DER).

    Compares p, a, b, the generator (either encoding), the order n and the cofactor h (when present) with each
    curve of :data:`emrtd._crypto.CURVES`; the seed and the optional hash are not part of the curve. Raises
    :class:`UnknownCurveError` when none is equal, :class:`EcParametersError` when the parameters are malformed."""
    sp = _load_params(params)
    try:
        field_type = sp["field_id"]["field_type"].native
        if field_type != "prime_field":
            raise UnknownCurveError(f"explicit EC parameters over a {field_type} field: no named prime curve")
        p = sp["field_id"]["parameters"].native
        a = int.from_bytes(sp["curve"]["a"].native, "big")
        b = int.from_bytes(sp["curve"]["b"].native, "big")
        base = sp["base"].native
        n = sp["order"].native
        h = sp["cofactor"].native
    except EcParametersError:
        raise
    except _DECODE_ERRORS as e:
        raise EcParametersError(f"explicit EC parameters are malformed: {e}") from e
    return named_curve_for(p, a, b, base, n, h)


def named_curve_for(p: int, a: int, b: int, base: bytes, n: int, h: int | None) -> EcCurve:
    """The named curve of :data:`emrtd._crypto.CURVES` with these explicit parameters (the generator ``base`` as an
    encoded point, compressed or not; the cofactor ``h`` None when absent), as :func:`named_curve_of` for
    parameters that do not come as a SpecifiedECDomain (e.g. a CV certificate's public key, BSI TR-03110 D.3).
    Raises :class:`UnknownCurveError` or :class:`EcParametersError`."""
    if not isinstance(p, int) or p < 3 or p % 2 == 0 or not isinstance(n, int) or n < 2 or not isinstance(base, bytes):
        raise EcParametersError("explicit EC parameters: the prime, order or base point is missing or invalid")
    flen = (p.bit_length() + 7) // 8
    if not ((len(base) == 1 + 2 * flen and base[:1] == b"\x04") or (len(base) == 1 + flen and base[:1] in (b"\x02", b"\x03"))):
        raise EcParametersError(f"explicit EC parameters: a base point of {len(base)} bytes is neither uncompressed nor "
                                "compressed")
    candidates = [c for c in CURVES if c.p == p]
    if not candidates:
        raise UnknownCurveError(f"explicit EC parameters with a {p.bit_length()}-bit prime of no named curve")
    for c in candidates:
        if (c.a, c.b, c.n) != (a % p, b % p, n) or h not in (None, c.h):
            continue
        try:
            g = decode_ec_point(base, p, c.a, c.b)
        except EcParametersError:
            g = None  # not on this curve: not its generator
        if g == c.g:
            return c
    c = candidates[0]
    what = [name for name, ok in (("a", c.a == a % p), ("b", c.b == b % p), ("order", c.n == n),
                                  ("cofactor", h in (None, c.h))) if not ok] or ["generator"]  # fmt: skip
    raise UnknownCurveError(f"explicit EC parameters with the prime of {c.name} but a different "
                            f"{', '.join(what)}: no named curve")


def _spki(spki: bytes) -> keys.PublicKeyInfo:
    try:
        info = keys.PublicKeyInfo.load(bytes(spki), strict=True)
        info.native  # noqa: B018 - asn1crypto parses lazily: surface a truncated key here
        algorithm = info["algorithm"]["algorithm"].native
    except _DECODE_ERRORS as e:
        raise EcParametersError(f"not a SubjectPublicKeyInfo: {e}") from e
    if algorithm != "ec":
        raise EcParametersError(f"not an EC key: {algorithm}")
    return info


def curve_and_point_from_spki(spki: bytes) -> tuple[EcCurve, tuple[int, int]]:
    """Curve and point of an EC SubjectPublicKeyInfo with named or explicit parameters (TR-03111 §5.1.1)."""
    info = _spki(spki)
    try:
        choice = info["algorithm"]["parameters"]
        kind, public = choice.name, info["public_key"].native
    except _DECODE_ERRORS as e:
        raise EcParametersError(f"EC SubjectPublicKeyInfo is malformed: {e}") from e
    if kind == "named":
        try:
            curve = curve_by_name(choice.chosen.native)
        except EcError as e:
            raise UnknownCurveError(f"named curve {choice.chosen.native} is not one we support") from e
    elif kind == "specified":
        curve = named_curve_of(choice.chosen)
    else:
        raise EcParametersError("implicitlyCA EC parameters: the key names no curve")
    if not isinstance(public, bytes):
        raise EcParametersError("EC SubjectPublicKeyInfo without a public point")
    return curve, decode_ec_point(public, curve.p, curve.a, curve.b)


def public_key_from_spki(spki: bytes) -> ec.EllipticCurvePublicKey:
    """A ``cryptography`` EC public key from a SubjectPublicKeyInfo, explicit parameters mapped to their named curve."""
    curve, (x, y) = curve_and_point_from_spki(spki)
    if curve.cryptography_name is None:
        raise UnsupportedCurveError(f"{curve.name} is not supported for X.509/CMS signatures")
    try:
        return ec.EllipticCurvePublicNumbers(x, y, getattr(ec, curve.cryptography_name)()).public_key()
    except ValueError as e:
        raise EcParametersError(f"EC public key on {curve.name}: {e}") from e


def encode_explicit_spki(curve: EcCurve, point: tuple[int, int], *, compressed_generator: bool = False) -> bytes:
    """DER SubjectPublicKeyInfo of ``point`` with ``curve`` spelled out as explicit SpecifiedECDomain parameters
    (version 1, prime field, no seed), the generator compressed or not. ``curve`` may be one no name fits."""
    flen = curve.field_len
    if compressed_generator:
        base = bytes([2 + curve.gy % 2]) + curve.gx.to_bytes(flen, "big")
    else:
        base = b"\x04" + curve.gx.to_bytes(flen, "big") + curve.gy.to_bytes(flen, "big")
    params = keys.SpecifiedECDomain({
        "version": "ecdpVer1",
        "field_id": {"field_type": "prime_field", "parameters": core.Integer(curve.p)},
        "curve": {"a": curve.a.to_bytes(flen, "big"), "b": curve.b.to_bytes(flen, "big")},
        "base": base, "order": curve.n, "cofactor": curve.h,
    })  # fmt: skip
    public = b"\x04" + point[0].to_bytes(flen, "big") + point[1].to_bytes(flen, "big")
    return keys.PublicKeyInfo({
        "algorithm": {"algorithm": "ec", "parameters": keys.ECDomainParameters(name="specified", value=params)},
        "public_key": public,
    }).dump()  # fmt: skip
