"""BER-TLV as used by ICAO Doc 9303 Part 10 (LDS) and ISO/IEC 7816-4 (secure messaging).

Tags are kept as their raw integer value (e.g. ``0x5F1F``, ``0x7F61``), lengths follow the
definite BER forms (short, ``81 xx``, ``82 xx xx``, ``83``, ``84``). Indefinite lengths are
refused: Doc 9303 Part 10 §4.1 requires definite lengths in the LDS.

Every malformed input raises :class:`TlvError` with the offset where decoding stopped;
decoding never reads past the buffer and never recurses deeper than ``MAX_DEPTH``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "TlvError",
    "Tlv",
    "encode_tag",
    "encode_length",
    "encode_tlv",
    "read_tag",
    "read_length",
    "read_tlv",
    "iter_tlv",
    "parse_tlv",
    "is_constructed",
]

MAX_DEPTH = 32
_MAX_LENGTH = 0xFFFFFFFF


class TlvError(ValueError):
    """Malformed BER-TLV data (truncated, oversized, bad tag or length)."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.offset = offset
        super().__init__(message if offset is None else f"{message} (at offset {offset})")


def is_constructed(tag: int) -> bool:
    """True when the first tag byte has bit 6 (0x20) set."""
    first = tag
    while first > 0xFF:
        first >>= 8
    return bool(first & 0x20)


def encode_tag(tag: int) -> bytes:
    if tag < 0:
        raise TlvError(f"negative tag {tag}")
    if tag == 0:
        return b"\x00"
    return tag.to_bytes((tag.bit_length() + 7) // 8, "big")


def encode_length(length: int) -> bytes:
    if length < 0 or length > _MAX_LENGTH:
        raise TlvError(f"length {length} cannot be encoded")
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def encode_tlv(tag: int, value: bytes) -> bytes:
    value = bytes(value)
    return encode_tag(tag) + encode_length(len(value)) + value


def read_tag(data: bytes, offset: int = 0) -> tuple[int, int]:
    """Return ``(tag, next_offset)``."""
    if offset >= len(data):
        raise TlvError("truncated: tag expected", offset)
    start = offset
    first = data[offset]
    offset += 1
    tag = first
    if first & 0x1F == 0x1F:  # multi-byte tag number
        while True:
            if offset >= len(data):
                raise TlvError("truncated multi-byte tag", start)
            b = data[offset]
            offset += 1
            tag = (tag << 8) | b
            if not b & 0x80:
                break
            if offset - start > 4:
                raise TlvError("tag longer than 4 bytes", start)
    return tag, offset


def read_length(data: bytes, offset: int) -> tuple[int, int]:
    """Return ``(length, next_offset)``; definite forms only."""
    if offset >= len(data):
        raise TlvError("truncated: length expected", offset)
    first = data[offset]
    offset += 1
    if first < 0x80:
        return first, offset
    if first == 0x80:
        raise TlvError("indefinite length not allowed", offset - 1)
    n = first & 0x7F
    if n > 4:
        raise TlvError(f"length of {n} bytes is too large", offset - 1)
    if offset + n > len(data):
        raise TlvError("truncated length", offset - 1)
    return int.from_bytes(data[offset : offset + n], "big"), offset + n


def read_tlv(data: bytes, offset: int = 0) -> tuple[int, bytes, int]:
    """Read one TLV at ``offset``: return ``(tag, value, next_offset)``."""
    tag, offset = read_tag(data, offset)
    length, offset = read_length(data, offset)
    end = offset + length
    if end > len(data):
        raise TlvError(f"value of tag {tag:X} needs {length} bytes, {len(data) - offset} remain", offset)
    return tag, bytes(data[offset:end]), end


def iter_tlv(data: bytes):
    """Yield ``(tag, value)`` for each TLV in a concatenation; padding 0x00/0xFF is skipped."""
    offset = 0
    data = bytes(data)
    while offset < len(data):
        if data[offset] in (0x00, 0xFF):
            offset += 1
            continue
        tag, value, offset = read_tlv(data, offset)
        yield tag, value


@dataclass
class Tlv:
    """A decoded TLV node. ``children`` is filled for constructed tags."""

    tag: int
    value: bytes
    children: list[Tlv] = field(default_factory=list)

    def find(self, tag: int) -> Tlv | None:
        """First descendant (depth-first) with ``tag``, or None."""
        for child in self.children:
            if child.tag == tag:
                return child
            hit = child.find(tag)
            if hit is not None:
                return hit
        return None

    def child(self, tag: int) -> Tlv:
        """Direct child with ``tag``; raises TlvError when absent."""
        for c in self.children:
            if c.tag == tag:
                return c
        raise TlvError(f"tag {tag:X} not found in {self.tag:X}")

    def encode(self) -> bytes:
        if self.children:
            return encode_tlv(self.tag, b"".join(c.encode() for c in self.children))
        return encode_tlv(self.tag, self.value)


def parse_tlv(data: bytes, *, _depth: int = 0) -> Tlv:
    """Parse exactly one TLV (trailing bytes are an error), recursing into constructed tags."""
    if _depth > MAX_DEPTH:
        raise TlvError("nesting too deep")
    data = bytes(data)
    tag, value, end = read_tlv(data, 0)
    if end != len(data):
        raise TlvError(f"{len(data) - end} trailing bytes after tag {tag:X}", end)
    node = Tlv(tag, value)
    if is_constructed(tag) and value:
        node.children = _parse_children(value, _depth + 1)
    return node


def _parse_children(data: bytes, depth: int) -> list[Tlv]:
    if depth > MAX_DEPTH:
        raise TlvError("nesting too deep")
    out: list[Tlv] = []
    offset = 0
    while offset < len(data):
        tag, value, offset = read_tlv(data, offset)
        node = Tlv(tag, value)
        if is_constructed(tag) and value:
            node.children = _parse_children(value, depth + 1)
        out.append(node)
    return out
