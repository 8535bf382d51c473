"""LDIF (RFC 2849): the subset the ICAO PKD's download files use, read and written.

The PKD publishes its collections as LDIF content records (ICAO PKD download service; Doc 9303 Part 12
§9 for the objects)::

    version: 1

    dn: cn=...,o=dsc,c=DE,dc=data,dc=download,dc=pkd,dc=icao,dc=int
    objectClass: inetOrgPerson
    userCertificate;binary:: MIIE...        (base64, folded: a continuation line starts with one space)

Read: ``version: 1``, comments (``#``, also folded), folded lines, ``attr: SAFE-STRING``, ``attr:: BASE64``,
``dn::``, attribute options (``;binary``), CRLF or LF line ends, records separated by blank lines, and
``changetype: add`` (a content record). Refused with a named error: a second ``dn:`` in a record, a
value that is not a SAFE-STRING (NUL, CR, an initial ``:`` or ``<``), ``attr:< URL`` (no file or network is
read at import) and ``changetype`` delete / modify / modrdn (a trust store does not apply deltas that
remove objects: import the complete collection). Written: ``version: 1``, values that are not a safe
string in base64, lines folded at 76 characters; :func:`dump_ldif` of :func:`parse_ldif` gives the same
entries.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

__all__ = ["LdifEntry", "LdifError", "LdifSyntaxError", "LdifUnsupported", "parse_ldif", "dump_ldif",
           "dn_components", "escape_dn_value"]

_ATTR = re.compile(r"^([A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*)((?:;[A-Za-z0-9-]+)*)$")
_FOLD = 76


class LdifError(ValueError):
    """An LDIF file that cannot be read."""


class LdifSyntaxError(LdifError):
    """Not LDIF (RFC 2849): the line is named."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"LDIF line {line}: {message}")
        self.line = line


class LdifUnsupported(LdifError):
    """Valid LDIF this reader refuses on purpose (URL values, change records other than add)."""


@dataclass(frozen=True)
class LdifEntry:
    """One content record: its DN and its attributes in file order, each value as bytes."""

    dn: str
    attributes: tuple[tuple[str, bytes], ...]
    line: int = 0  # where the record starts (0: built, not read)

    def values(self, attribute_type: str) -> list[bytes]:
        """The values of an attribute type, whatever its options (``userCertificate`` matches
        ``userCertificate;binary``), compared case-insensitively as LDAP does."""
        want = attribute_type.split(";", 1)[0].lower()
        return [v for name, v in self.attributes if name.split(";", 1)[0].lower() == want]


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Unfold continuation lines; drop comments. Blank lines stay (as "") to separate records."""
    out: list[tuple[int, str]] = []
    comment = False
    for n, raw in enumerate(text.split("\n"), start=1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if line.startswith(" "):
            if comment:
                continue
            if not out or out[-1][1] == "":
                raise LdifSyntaxError(n, "a continuation line (leading space) continues nothing")
            out[-1] = (out[-1][0], out[-1][1] + line[1:])
            continue
        comment = line.startswith("#")
        if not comment:
            out.append((n, line))
    return out


def _value(n: int, line: str) -> tuple[str, bytes, bool]:
    """``name: value`` -> (name, bytes, was_base64)."""
    name, sep, rest = line.partition(":")
    if not sep:
        raise LdifSyntaxError(n, f"no ':' in {line[:40]!r}")
    if rest.startswith(":"):
        data = rest[1:].lstrip(" ")
        try:
            return name, base64.b64decode(data, validate=True), True
        except (binascii.Error, ValueError) as e:
            raise LdifSyntaxError(n, f"{name}: bad base64 ({e})") from e
    if rest.startswith("<"):
        raise LdifUnsupported(f"LDIF line {n}: {name}:< takes its value from a URL; values must be in the file")
    value = rest.lstrip(" ")
    bad = next((c for c in value if c in "\0\r"), None)
    if bad is not None or value[:1] in (":", "<"):
        what = f"{bad!r} (NUL and CR are not SAFE-CHARs)" if bad is not None else f"an initial {value[0]!r}"
        raise LdifSyntaxError(n, f"{name}: not an RFC 2849 SAFE-STRING: {what}; such a value must be base64 ('::')")
    try:
        return name, value.encode("ascii"), False
    except UnicodeEncodeError as e:  # a SAFE-STRING is ASCII; UTF-8 text must be base64 (RFC 2849 note 4)
        raise LdifSyntaxError(n, f"{name}: a non-ASCII value must be base64 ('::')") from e


def parse_ldif(data: bytes | str) -> list[LdifEntry]:
    """Every content record of an LDIF file. Raises :class:`LdifSyntaxError` (with the line) or
    :class:`LdifUnsupported`."""
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as e:
            raise LdifSyntaxError(0, f"not UTF-8 text ({e})") from e
    else:
        text = data
    text = text.removeprefix("\ufeff")
    records: list[list[tuple[int, str]]] = [[]]
    for n, line in _logical_lines(text):
        if line == "":
            if records[-1]:
                records.append([])
        else:
            records[-1].append((n, line))
    entries = []
    for i, rec in enumerate(r for r in records if r):
        if i == 0 and rec[0][1].lower().replace(" ", "").startswith("version:"):
            version = rec[0][1].split(":", 1)[1].strip()
            if version != "1":
                raise LdifUnsupported(f"LDIF line {rec[0][0]}: version {version!r}; only version 1 is defined")
            rec = rec[1:]
            if not rec:
                continue
        entries.append(_record(rec))
    return entries


def _record(rec: list[tuple[int, str]]) -> LdifEntry:
    start, first = rec[0]
    name, dn, _ = _value(start, first)
    if name.lower() != "dn":
        raise LdifSyntaxError(start, f"a record starts with 'dn:', not {first[:40]!r}")
    try:
        dn_text = dn.decode("utf-8")
    except UnicodeDecodeError as e:
        raise LdifSyntaxError(start, "the DN is not UTF-8") from e
    attrs: list[tuple[str, bytes]] = []
    for k, (n, line) in enumerate(rec[1:]):
        name, value, _ = _value(n, line)
        if not _ATTR.match(name):
            raise LdifSyntaxError(n, f"{name!r} is not an attribute description")
        if name.lower() == "dn":
            raise LdifSyntaxError(n, "a second 'dn:' in one record (records are separated by a blank line)")
        if name.lower() == "changetype":
            kind = value.decode("ascii", "replace").strip().lower()
            if k != 0:
                raise LdifSyntaxError(n, "changetype must follow the dn")
            if kind != "add":
                raise LdifUnsupported(f"LDIF line {n}: changetype {kind}: a trust store imports content (and "
                                      "'add' records) only; import the complete collection instead of a delta "
                                      "that removes or modifies entries")
            continue
        attrs.append((name, value))
    if not attrs:
        raise LdifSyntaxError(start, f"the record {dn_text[:60]!r} has no attributes")
    return LdifEntry(dn_text, tuple(attrs), start)


def _safe(value: bytes) -> bool:
    """RFC 2849 SAFE-STRING (and no trailing space, which some readers strip)."""
    if not value:
        return True
    if value[0] in b" :<" or value[-1:] == b" ":
        return False
    return all(0 < b < 128 and b not in (10, 13) for b in value)


def _fold(line: str) -> str:
    if len(line) <= _FOLD:
        return line
    parts = [line[:_FOLD]]
    parts += [" " + line[i:i + _FOLD - 1] for i in range(_FOLD, len(line), _FOLD - 1)]
    return "\n".join(parts)


def _spec(name: str, value: bytes, binary: bool) -> str:
    if binary or not _safe(value):
        return _fold(f"{name}:: {base64.b64encode(value).decode('ascii')}")
    return _fold(f"{name}: {value.decode('ascii')}")


def dump_ldif(entries, *, binary=lambda name: ";binary" in name.lower()) -> bytes:
    """LDIF version 1 of ``entries`` (LF line ends, folded at 76). ``binary(name)`` says which attributes are
    always base64 (default: those with the ``;binary`` option); any value that is not a safe string is too."""
    out = ["version: 1", ""]
    for e in entries:
        out.append(_spec("dn", e.dn.encode("utf-8"), False))
        for name, value in e.attributes:
            out.append(_spec(name, value, binary(name)))
        out.append("")
    return ("\n".join(out)).encode("ascii")


def escape_dn_value(value: str) -> str:
    """An attribute value escaped for a DN (RFC 4514 §2.4; ``=`` too, as the PKD writes it)."""
    out = re.sub(r'([\\,+"<>;=])', r"\\\1", value)
    if out.startswith((" ", "#")):
        out = "\\" + out
    if out.endswith(" ") and not out.endswith("\\ "):
        out = out[:-1] + "\\ "
    return out


def dn_components(dn: str) -> list[tuple[str, str]]:
    """(type, value) of every attribute of a DN (RFC 4514), outermost last, multi-valued RDNs (``+``)
    flattened; escapes (``\\,``, ``\\2C``) resolved."""
    out, name, buf, i, in_name = [], "", [], 0, True
    while i < len(dn):
        ch = dn[i]
        if ch == "\\" and i + 1 < len(dn):
            pair = dn[i + 1:i + 3]
            if re.fullmatch(r"[0-9A-Fa-f]{2}", pair):
                buf.append(chr(int(pair, 16)))
                i += 3
                continue
            buf.append(dn[i + 1])
            i += 2
            continue
        if in_name and ch == "=":
            name, buf, in_name = "".join(buf).strip(), [], False
        elif not in_name and ch in ",+":
            out.append((name.lower(), "".join(buf).strip()))
            name, buf, in_name = "", [], True
        else:
            buf.append(ch)
        i += 1
    if not in_name:
        out.append((name.lower(), "".join(buf).strip()))
    return out
