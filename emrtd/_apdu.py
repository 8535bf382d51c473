"""ISO/IEC 7816-4 command and response APDUs, short and extended length (ICAO Doc 9303 Part 10 §3.6,
Part 11 §9.8 for their protected form).

A command APDU is ``CLA INS P1 P2 [Lc data] [Le]`` in one of the seven cases of ISO/IEC 7816-3 §12.1:
short Lc/Le take one byte (``Le = 00`` means 256), extended ones take three (``00 Lc1 Lc2``) or two
after an extended Lc (``Le = 0000`` means 65536). ``ne`` is the number of expected response bytes
(``None`` when absent). Malformed input raises :class:`ApduError`; a status word that is not success
becomes the named :class:`StatusWordError` subclass through :func:`raise_for_status`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ApduError",
    "CommandApdu",
    "ResponseApdu",
    "StatusWordError",
    "WarningEndOfFile",
    "AuthenticationFailed",
    "WrongLength",
    "SecurityStatusNotSatisfied",
    "AuthenticationMethodBlocked",
    "ConditionsNotSatisfied",
    "SmDataObjectsMissing",
    "SmDataObjectsIncorrect",
    "WrongData",
    "FunctionNotSupported",
    "FileNotFound",
    "IncorrectParameters",
    "WrongOffset",
    "InsNotSupported",
    "ClaNotSupported",
    "UnknownStatusWord",
    "SW_OK",
    "raise_for_status",
    "status_error",
]

SW_OK = 0x9000


class ApduError(ValueError):
    """A byte string that is not a well-formed command or response APDU."""


@dataclass(frozen=True)
class CommandApdu:
    """ISO/IEC 7816-4 §5.1 command APDU. ``ne`` is Ne (1..65536) or None when no Le field."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    ne: int | None = None

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            v = getattr(self, name)
            if not 0 <= v <= 0xFF:
                raise ApduError(f"{name} {v} is not a byte")
        if len(self.data) > 65535:
            raise ApduError(f"command data of {len(self.data)} bytes exceeds 65535")
        if self.ne is not None and not 1 <= self.ne <= 65536:
            raise ApduError(f"Ne {self.ne} outside 1..65536")

    @property
    def header(self) -> bytes:
        return bytes([self.cla, self.ins, self.p1, self.p2])

    def needs_extended(self) -> bool:
        return len(self.data) > 255 or (self.ne is not None and self.ne > 256)

    def encode(self, *, extended: bool | None = None) -> bytes:
        """Encode; ``extended=None`` picks extended length only when needed."""
        ext = self.needs_extended() if extended is None else extended
        if not ext and self.needs_extended():
            raise ApduError("data or Ne too large for a short APDU")
        out = bytearray(self.header)
        if self.data:
            if ext:
                out += b"\x00" + len(self.data).to_bytes(2, "big")
            else:
                out.append(len(self.data))
            out += self.data
        if self.ne is not None:
            if ext:
                le = (self.ne % 65536).to_bytes(2, "big")
                out += le if self.data else b"\x00" + le
            else:
                out.append(self.ne % 256)
        return bytes(out)

    def __bytes__(self) -> bytes:
        return self.encode()

    @classmethod
    def parse(cls, raw: bytes) -> CommandApdu:
        """Decode any of the seven ISO/IEC 7816-3 §12.1 cases; trailing or missing bytes are errors."""
        raw = bytes(raw)
        if len(raw) < 4:
            raise ApduError(f"command APDU of {len(raw)} bytes is shorter than its 4-byte header")
        cla, ins, p1, p2 = raw[:4]
        body = raw[4:]
        n = len(body)
        if n == 0:  # case 1
            return cls(cla, ins, p1, p2)
        if n == 1:  # case 2S
            return cls(cla, ins, p1, p2, b"", body[0] or 256)
        if body[0] != 0:  # short Lc: case 3S or 4S
            lc = body[0]
            if n == 1 + lc:
                return cls(cla, ins, p1, p2, body[1:])
            if n == 2 + lc:
                return cls(cla, ins, p1, p2, body[1 : 1 + lc], body[-1] or 256)
            raise ApduError(f"short Lc {lc} does not match the {n - 1} bytes that follow")
        # body[0] == 0: extended length (or case 2S with Le=00 handled above)
        if n == 3:  # case 2E
            return cls(cla, ins, p1, p2, b"", int.from_bytes(body[1:3], "big") or 65536)
        if n < 3:
            raise ApduError("truncated extended length field")
        lc = int.from_bytes(body[1:3], "big")
        if lc == 0:
            raise ApduError("extended Lc of 0")
        if n == 3 + lc:  # case 3E
            return cls(cla, ins, p1, p2, body[3:])
        if n == 5 + lc:  # case 4E
            return cls(cla, ins, p1, p2, body[3 : 3 + lc], int.from_bytes(body[-2:], "big") or 65536)
        raise ApduError(f"extended Lc {lc} does not match the {n - 3} bytes that follow")


@dataclass(frozen=True)
class ResponseApdu:
    """ISO/IEC 7816-4 §5.1 response APDU: data followed by SW1 SW2."""

    data: bytes
    sw: int

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF

    @property
    def ok(self) -> bool:
        return self.sw == SW_OK

    def encode(self) -> bytes:
        return bytes(self.data) + self.sw.to_bytes(2, "big")

    def __bytes__(self) -> bytes:
        return self.encode()

    @classmethod
    def parse(cls, raw: bytes) -> ResponseApdu:
        raw = bytes(raw)
        if len(raw) < 2:
            raise ApduError(f"response APDU of {len(raw)} bytes has no status word")
        if len(raw) > 65538:
            raise ApduError(f"response APDU of {len(raw)} bytes exceeds 65536 data bytes")
        return cls(raw[:-2], int.from_bytes(raw[-2:], "big"))

    def check(self) -> ResponseApdu:
        """Return self when the status word is 9000, else raise the named StatusWordError."""
        raise_for_status(self.sw)
        return self


class StatusWordError(Exception):
    """The card answered with a status word other than 9000 (ISO/IEC 7816-4 §5.6)."""

    meaning = "error"

    def __init__(self, sw: int, message: str | None = None) -> None:
        self.sw = sw
        super().__init__(message or f"status word {sw:04X}: {self.meaning}")


class WarningEndOfFile(StatusWordError):
    meaning = "end of file reached before reading Ne bytes"


class AuthenticationFailed(StatusWordError):
    meaning = "verification / authentication failed"


class WrongLength(StatusWordError):
    meaning = "wrong length"


class SecurityStatusNotSatisfied(StatusWordError):
    meaning = "security status not satisfied"


class AuthenticationMethodBlocked(StatusWordError):
    meaning = "authentication method blocked"


class ConditionsNotSatisfied(StatusWordError):
    meaning = "conditions of use not satisfied"


class SmDataObjectsMissing(StatusWordError):
    meaning = "expected secure messaging data objects missing"


class SmDataObjectsIncorrect(StatusWordError):
    meaning = "incorrect secure messaging data objects"


class WrongData(StatusWordError):
    meaning = "incorrect parameters in the command data field"


class FunctionNotSupported(StatusWordError):
    meaning = "function not supported"


class FileNotFound(StatusWordError):
    meaning = "file or application not found"


class IncorrectParameters(StatusWordError):
    meaning = "incorrect parameters P1-P2"


class WrongOffset(StatusWordError):
    meaning = "wrong parameters P1-P2 (offset outside the file)"


class InsNotSupported(StatusWordError):
    meaning = "instruction code not supported or invalid"


class ClaNotSupported(StatusWordError):
    meaning = "class not supported"


class UnknownStatusWord(StatusWordError):
    meaning = "unknown status word"


_BY_SW: dict[int, type[StatusWordError]] = {
    0x6282: WarningEndOfFile,
    0x6300: AuthenticationFailed,
    0x6700: WrongLength,
    0x6982: SecurityStatusNotSatisfied,
    0x6983: AuthenticationMethodBlocked,
    0x6985: ConditionsNotSatisfied,
    0x6987: SmDataObjectsMissing,
    0x6988: SmDataObjectsIncorrect,
    0x6A80: WrongData,
    0x6A81: FunctionNotSupported,
    0x6A82: FileNotFound,
    0x6A86: IncorrectParameters,
    0x6B00: WrongOffset,
    0x6D00: InsNotSupported,
    0x6E00: ClaNotSupported,
}


def status_error(sw: int) -> StatusWordError:
    """The named error for ``sw`` (``63Cx`` maps to AuthenticationFailed)."""
    if sw & 0xFFF0 == 0x63C0:
        return AuthenticationFailed(sw, f"status word {sw:04X}: authentication failed, {sw & 0xF} tries left")
    return _BY_SW.get(sw, UnknownStatusWord)(sw)


def raise_for_status(sw: int) -> None:
    if sw != SW_OK:
        raise status_error(sw)
