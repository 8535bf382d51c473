"""DER tagged binary for the ISO/IEC 39794 data blocks: ASN.1 types as frozen dataclasses.

A SEQUENCE type is a dataclass whose components are declared with their ``[n]``, kind and constraint
(:func:`_i` INTEGER/ENUMERATED, :func:`_b` BOOLEAN, :func:`_o` OCTET STRING, :func:`_s` SEQUENCE,
:func:`_c` CHOICE, :func:`_l` SEQUENCE OF, :func:`_k` code CHOICE); one generic encoder and decoder
serve every type (``DEFINITIONS IMPLICIT TAGS``: a SEQUENCE's components carry ``[n]`` in ascending
order, a tagged CHOICE is explicit, the elements of a SEQUENCE OF carry their universal tags).
Constructors validate, so an object that exists encodes to valid DER; decoders refuse what is not DER.

- Code choices (``Gender ::= CHOICE { extensionBlock [1] GenderExtensionBlock }`` with
  ``GenderExtensionBlock ::= SEQUENCE { fallback [0] GenderCode, ... }``) are :class:`Code`; an ``int``
  given to a constructor becomes ``Code(fallback=int)``. Values outside the ENUMERATED
  (:data:`CODE_NAMES`) are refused.
- Unknown extension components of an extensible SEQUENCE (``...``) are kept, as (tag, value), in
  ``extensions`` and re-encoded in tag order, so a decoded block re-encodes byte for byte.

Every malformed input raises :class:`BiometricDataError` with a ``reason``: ``truncated``,
``malformed`` (structure, tags, component order), ``missing_field``, ``out_of_range``, ``not_der`` (valid BER whose DER
differs), ``profile`` (not what the ICAO profile allows), ``invalid_image``, ``unsupported``; a face whose
image disagrees with the data block it carries, ``data_block_mismatch`` (:class:`emrtd._dg2.FaceImage`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import ClassVar

from emrtd._lds import LdsError
from emrtd._tlv import TlvError, encode_tag, encode_tlv, read_tlv

__all__ = ["BiometricDataError", "InvalidImageError", "Code", "ExtensionBlock", "CODE_NAMES", "camel"]

#: ENUMERATED type name -> {value: name}; filled by the modules that define the types.
CODE_NAMES: dict[str, dict[int, str]] = {}


class BiometricDataError(LdsError):
    """A malformed biometric record or data block of ``file``; ``reason`` names the kind of problem."""

    def __init__(self, file: str, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(file, message)


class InvalidImageError(BiometricDataError):
    """The image inside a face record is not a JPEG or JPEG 2000 image."""

    def __init__(self, file: str, message: str) -> None:
        super().__init__(file, "invalid_image", message)


def _err(reason: str, message: str) -> BiometricDataError:
    return BiometricDataError("DG2", reason, message)


def camel(name: str) -> str:
    """``image_representation_2d_block`` -> ``imageRepresentation2DBlock`` (the ASN.1 name)."""
    first, *rest = name.split("_")
    return first + "".join(p.upper() if p in ("2d", "3d") else p[:1].upper() + p[1:] for p in rest)


# --- component specifications: [n], kind, type, constraint ---
def _spec(n: int, kind: str, typ=None, *, lo=None, hi=None, names: str | None = None, req: bool = False):
    md = {"n": n, "kind": kind, "type": typ, "lo": lo, "hi": hi, "names": names, "req": req}
    return field(metadata=md) if req else field(default=None, metadata=md)


def _i(n, lo=0, hi=None, req=False, names=None):  # INTEGER / ENUMERATED
    return _spec(n, "int", lo=lo, hi=hi, req=req, names=names)


def _b(n):  # BOOLEAN
    return _spec(n, "bool")


def _o(n, req=False):  # OCTET STRING
    return _spec(n, "bytes", req=req)


def _s(n, typ, req=False):  # SEQUENCE (implicitly tagged)
    return _spec(n, "seq", typ, req=req)


def _c(n, typ, req=False):  # CHOICE (explicitly tagged)
    return _spec(n, "choice", typ, req=req)


def _l(n, typ, req=False):  # SEQUENCE OF typ (bytes: OCTET STRING)
    return _spec(n, "seqof", typ, req=req)


def _k(n, names, req=False):  # CHOICE { extensionBlock [1] SEQUENCE { fallback [0] <names>, ... } }
    return _spec(n, "code", names=names, req=req)


def _specs(cls) -> list:
    return [f for f in fields(cls) if f.metadata]


def _ctx(tag: int, where: str = "") -> int | None:
    """The number of a context-specific tag, or None (another class). The identifier must be the DER encoding of
    its number (X.690 §8.1.2): the low form up to 30, else ``1F`` then base-128 digits without a leading ``80`` and
    only the last without bit 8; anything else (``9F05`` for [5], a padded ``9F8005``, an unterminated ``BF``)
    raises ``not_der``, so what the encoder accepts is what the decoder reads."""
    b = encode_tag(tag)
    if b[0] & 0xC0 != 0x80:
        return None
    if b[0] & 0x1F != 0x1F:
        if len(b) != 1:
            raise _err("not_der", f"{where or 'extension'}: identifier {b.hex().upper()} is not one tag")
        return b[0] & 0x1F
    body = b[1:]
    n = 0
    for x in body:
        n = (n << 7) | (x & 0x7F)
    if not body or body[0] == 0x80 or body[-1] & 0x80 or any(not x & 0x80 for x in body[:-1]) or n <= 30:
        raise _err("not_der", f"{where or 'extension'}: identifier {b.hex().upper()} is not the DER encoding of "
                              "a context-specific tag")
    return n


def _tlvs(data: bytes, where: str) -> list[tuple[int, bytes]]:
    out, off = [], 0
    while off < len(data):
        try:
            tag, value, off = read_tlv(data, off)
        except TlvError as e:
            reason = "truncated" if "truncated" in str(e) or "remain" in str(e) else "malformed"
            raise _err(reason, f"{where}: {e}") from e
        out.append((tag, value))
    return out


def _der_int(v: int) -> bytes:
    """Two's complement in the fewest bytes (-128 is ``80``, not ``FF80``)."""
    return v.to_bytes(max(1, ((v if v >= 0 else ~v).bit_length() + 8) // 8), "big", signed=True)


def _dec_int(v: bytes, where: str) -> int:
    if not v:
        raise _err("malformed", f"{where}: empty INTEGER")
    if len(v) > 1 and ((v[0] == 0 and v[1] < 0x80) or (v[0] == 0xFF and v[1] >= 0x80)):
        raise _err("not_der", f"{where}: INTEGER not minimally encoded")
    return int.from_bytes(v, "big", signed=True)


def _check(f, v, owner: str):
    """Validate (and normalise) one component value; return it."""
    md, where = f.metadata, f"{owner}.{camel(f.name)}"
    kind, typ = md["kind"], md["type"]
    if kind == "int":
        if not isinstance(v, int) or isinstance(v, bool):
            raise _err("malformed", f"{where}: INTEGER expected, got {type(v).__name__}")
        if md["names"] is not None:
            if v not in CODE_NAMES[md["names"]]:
                raise _err("out_of_range", f"{where}: {v} is not a {md['names']}")
        elif v < md["lo"] or (md["hi"] is not None and v > md["hi"]):
            raise _err("out_of_range", f"{where}: {v} outside {md['lo']}..{md['hi'] or 'MAX'}")
    elif kind == "bool":
        if not isinstance(v, bool):
            raise _err("malformed", f"{where}: BOOLEAN expected")
    elif kind == "bytes":
        if not isinstance(v, bytes | bytearray | memoryview):
            raise _err("malformed", f"{where}: OCTET STRING expected")
        v = bytes(v)
    elif kind == "code":
        v = Code(fallback=v) if isinstance(v, int) and not isinstance(v, bool) else v
        if not isinstance(v, Code):
            raise _err("malformed", f"{where}: Code expected")
        if v.fallback not in CODE_NAMES[md["names"]]:
            raise _err("out_of_range", f"{where}: {v.fallback} is not a {md['names']}")
    elif kind == "seqof":
        v = tuple(v)
        want = (bytes, bytearray) if typ is bytes else typ
        if not all(isinstance(e, want) for e in v):
            raise _err("malformed", f"{where}: SEQUENCE OF {getattr(typ, '__name__', typ)} expected")
        v = tuple(bytes(e) for e in v) if typ is bytes else v
    elif not isinstance(v, typ):
        raise _err("malformed", f"{where}: {typ.__name__} expected, got {type(v).__name__}")
    return v


def _enc(f, v) -> bytes:
    md = f.metadata
    n, kind = md["n"], md["kind"]
    if kind == "int":
        return encode_tlv(0x80 | n, _der_int(v))
    if kind == "bool":
        return encode_tlv(0x80 | n, b"\xff" if v else b"\x00")
    if kind == "bytes":
        return encode_tlv(0x80 | n, v)
    if kind == "seq":
        return encode_tlv(0xA0 | n, v.encode_content())
    if kind == "choice":
        return encode_tlv(0xA0 | n, v.encode_alternative())
    if kind == "code":
        return encode_tlv(0xA0 | n, encode_tlv(0xA1, v.encode_content()))
    if md["type"] is bytes:
        return encode_tlv(0xA0 | n, b"".join(encode_tlv(0x04, e) for e in v))
    return encode_tlv(0xA0 | n, b"".join(encode_tlv(0x30, e.encode_content()) for e in v))


def _dec(f, tag: int, v: bytes, where: str):
    md = f.metadata
    n, kind, typ = md["n"], md["kind"], md["type"]
    want = (0x80 if kind in ("int", "bool", "bytes") else 0xA0) | n
    if tag != want:
        raise _err("malformed", f"{where}: tag {tag:X}, {want:X} expected")
    if kind == "int":
        return _dec_int(v, where)
    if kind == "bool":
        if v not in (b"\x00", b"\xff"):
            raise _err("not_der", f"{where}: BOOLEAN must be 00 or FF in DER, got {v.hex()}")
        return v == b"\xff"
    if kind == "bytes":
        return v
    if kind == "seq":
        return typ.decode_content(v, where)
    if kind == "choice":
        return typ.decode_alternative(v, where)
    if kind == "code":
        items = _tlvs(v, where)
        if len(items) != 1 or items[0][0] != 0xA1:
            raise _err("malformed", f"{where}: one extensionBlock [1] expected")
        return Code.decode_content(items[0][1], where)
    inner, out = 0x04 if typ is bytes else 0x30, []
    for i, (t, e) in enumerate(_tlvs(v, where)):
        if t != inner:
            raise _err("malformed", f"{where}[{i}]: tag {t:X}, {inner:X} expected")
        out.append(e if typ is bytes else typ.decode_content(e, f"{where}[{i}]"))
    return tuple(out)


def _plain(v):
    """A JSON-friendly view of a component value."""
    if isinstance(v, _Node):
        return v.to_dict()
    if isinstance(v, tuple):
        return [_plain(e) for e in v]
    if isinstance(v, bytes):
        if len(v) > 64:
            from emrtd._dg2 import image_format

            return {"bytes": len(v), "format": image_format(v)}
        return v.hex()
    return v


@dataclass(frozen=True, kw_only=True)
class _Node:
    def __post_init__(self) -> None:
        owner = type(self).__name__
        for f in _specs(type(self)):
            v = getattr(self, f.name)
            if v is None:
                if f.metadata["req"]:
                    raise _err("missing_field", f"{owner}.{camel(f.name)} is mandatory")
                continue
            object.__setattr__(self, f.name, _check(f, v, owner))

    def to_dict(self) -> dict:
        out = {}
        for f in _specs(type(self)):
            v = getattr(self, f.name)
            if v is not None:
                if f.metadata["kind"] == "code":
                    names = CODE_NAMES[f.metadata["names"]]
                    out[camel(f.name)] = {"code": v.fallback, "name": names.get(v.fallback)}
                    if v.extensions:
                        out[camel(f.name)]["extensions"] = [encode_tlv(t, x).hex() for t, x in v.extensions]
                elif f.metadata["names"]:  # a plain ENUMERATED: its identifier
                    out[camel(f.name)] = CODE_NAMES[f.metadata["names"]].get(v, v)
                else:
                    out[camel(f.name)] = _plain(v)
        if getattr(self, "extensions", ()):
            out["extensions"] = [encode_tlv(t, x).hex() for t, x in self.extensions]
        return out


@dataclass(frozen=True, kw_only=True)
class _Seq(_Node):
    """A SEQUENCE without extension marker: unknown components are refused."""

    EXTENSIBLE: ClassVar[bool] = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.EXTENSIBLE:
            known = {f.metadata["n"] for f in _specs(type(self))}
            ext = tuple((int(t), bytes(x)) for t, x in self.extensions)
            nums = [_ctx(t) for t, _ in ext]
            if None in nums or known & set(nums) or len(set(nums)) != len(nums):
                raise _err("malformed", f"{type(self).__name__}: extensions need distinct unknown [n] tags")
            object.__setattr__(self, "extensions", ext)

    def encode_content(self) -> bytes:
        parts = [(f.metadata["n"], _enc(f, v)) for f in _specs(type(self)) if (v := getattr(self, f.name)) is not None]
        parts += [(_ctx(t), encode_tlv(t, x)) for t, x in getattr(self, "extensions", ())]
        return b"".join(p for _, p in sorted(parts, key=lambda p: p[0]))

    @classmethod
    def decode_content(cls, value: bytes, where: str):
        specs = {f.metadata["n"]: f for f in _specs(cls)}
        kw, ext, last = {}, [], -1
        for tag, v in _tlvs(value, where):
            n = _ctx(tag, where)
            if n is None:
                raise _err("malformed", f"{where}: tag {tag:X} is not context-specific")
            if n <= last:
                raise _err("malformed", f"{where}: component [{n}] repeated or out of order")
            last, f = n, specs.get(n)
            if f is None:
                if not cls.EXTENSIBLE:
                    raise _err("malformed", f"{where}: unexpected component [{n}] in {cls.__name__}")
                ext.append((tag, v))
                continue
            kw[f.name] = _dec(f, tag, v, f"{where}.{camel(f.name)}")
        missing = [camel(f.name) for f in specs.values() if f.metadata["req"] and f.name not in kw]
        if missing:
            raise _err("missing_field", f"{where}: {cls.__name__} lacks {', '.join(missing)}")
        if ext:
            kw["extensions"] = tuple(ext)
        return cls(**kw)


@dataclass(frozen=True, kw_only=True)
class _Ext(_Seq):
    """A SEQUENCE with ``...``: unknown components are kept in ``extensions``."""

    EXTENSIBLE: ClassVar[bool] = True
    extensions: tuple[tuple[int, bytes], ...] = ()


@dataclass(frozen=True, kw_only=True)
class _Choice(_Node):
    """A CHOICE: exactly one alternative is set."""

    def __post_init__(self) -> None:
        chosen = [f.name for f in _specs(type(self)) if getattr(self, f.name) is not None]
        if len(chosen) != 1:
            raise _err("malformed", f"{type(self).__name__}: one alternative expected, {len(chosen)} given")
        super().__post_init__()

    @property
    def chosen(self) -> str:
        return next(f.name for f in _specs(type(self)) if getattr(self, f.name) is not None)

    def encode_alternative(self) -> bytes:
        f = next(f for f in _specs(type(self)) if f.name == self.chosen)
        return _enc(f, getattr(self, f.name))

    @classmethod
    def decode_alternative(cls, value: bytes, where: str):
        items = _tlvs(value, where)
        if len(items) != 1:
            raise _err("malformed", f"{where}: one {cls.__name__} alternative expected, {len(items)} found")
        tag, v = items[0]
        f = next((f for f in _specs(cls) if f.metadata["n"] == _ctx(tag, where)), None)
        if f is None:
            raise _err("malformed", f"{where}: unknown {cls.__name__} alternative, tag {tag:X}")
        return cls(**{f.name: _dec(f, tag, v, f"{where}.{camel(f.name)}")})


# --- shapes shared by every code CHOICE and extension alternative ---
@dataclass(frozen=True, kw_only=True)
class Code(_Ext):
    """``XExtensionBlock ::= SEQUENCE { fallback [0] XCode, ... }`` of a code CHOICE."""

    fallback: int = _i(0, lo=-(2**31), req=True)


@dataclass(frozen=True, kw_only=True)
class ExtensionBlock(_Ext):
    """``SEQUENCE { ... }``: an extension alternative of a CHOICE, kept as its unknown components."""
