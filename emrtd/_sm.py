"""Secure messaging, ICAO Doc 9303 Part 11 §9.8 (ISO/IEC 7816-4 §10).

A protected command carries ``DO'87'`` (padding-content indicator ``01`` + cryptogram; ``DO'85'`` without
indicator for odd INS such as READ BINARY ``B1``), ``DO'97'`` (Le) and ``DO'8E'`` (MAC); a protected
response carries ``DO'87'``/``DO'85'``, ``DO'99'`` (the status word) and ``DO'8E'``.

The send sequence counter (SSC) is incremented before each command and before each response
(§9.8); the MAC is computed over ``pad(SSC || pad(CLA INS P1 P2) || DO'87' || DO'97')`` for commands
and ``pad(SSC || DO'87' || DO'99')`` for responses (§9.8-§9.8). Every response MAC is verified.

:class:`SecureMessaging` is the terminal side, :class:`ChipSecureMessaging` the chip side; both share
the same keys (:class:`emrtd._crypto.SmCipher`) and SSC arithmetic.
"""

from __future__ import annotations

from emrtd._apdu import ApduError, CommandApdu, ResponseApdu, status_error
from emrtd._crypto import CryptoError, SmCipher, pad, unpad
from emrtd._tlv import TlvError, encode_tlv, read_tlv

__all__ = [
    "SecureMessagingError",
    "SmFormatError",
    "SmMacError",
    "SmSessionAborted",
    "SecureMessaging",
    "ChipSecureMessaging",
]


class SecureMessagingError(Exception):
    """Base class of secure-messaging failures."""


class SmFormatError(SecureMessagingError):
    """A protected APDU with missing, misplaced or malformed data objects."""


class SmMacError(SecureMessagingError):
    """A DO'8E' MAC that does not verify (wrong keys, tampering or SSC out of step)."""


class SmSessionAborted(SecureMessagingError):
    """The chip answered a protected command with an unprotected error status word
    (typically 6987/6988: it rejected our SM and dropped its session keys)."""

    def __init__(self, sw: int) -> None:
        self.sw = sw
        self.status = status_error(sw)
        super().__init__(f"chip aborted secure messaging with status word {sw:04X} ({self.status.meaning})")


class _Channel:
    def __init__(self, cipher: SmCipher, ssc: int | bytes = 0) -> None:
        self.cipher = cipher
        self._modulus = 1 << (8 * cipher.block)
        self.ssc = int.from_bytes(ssc, "big") if isinstance(ssc, bytes | bytearray) else int(ssc)
        self.ssc %= self._modulus

    @property
    def ssc_bytes(self) -> bytes:
        return self.ssc.to_bytes(self.cipher.block, "big")

    def _next_ssc(self) -> bytes:
        self.ssc = (self.ssc + 1) % self._modulus
        return self.ssc_bytes

    def _mac_input(self, ssc: bytes, body: bytes) -> bytes:
        return pad(ssc + body, self.cipher.block)

    def _encrypt_do(self, ssc: bytes, data: bytes, odd_ins: bool) -> bytes:
        cryptogram = self.cipher.encrypt(ssc, pad(data, self.cipher.block))
        if odd_ins:
            return encode_tlv(0x85, cryptogram)
        return encode_tlv(0x87, b"\x01" + cryptogram)

    def _decrypt_do(self, ssc: bytes, tag: int, value: bytes) -> bytes:
        if tag == 0x87:
            if not value or value[0] != 0x01:
                raise SmFormatError("DO'87' without padding-content indicator 01")
            value = value[1:]
        try:
            return unpad(self.cipher.decrypt(ssc, value), self.cipher.block)
        except CryptoError as e:
            raise SmFormatError(f"cannot decrypt DO'{tag:02X}': {e}") from e


def _split_dos(data: bytes, allowed: tuple[int, ...], what: str) -> list[tuple[int, bytes, bytes]]:
    """Split SM data objects into ``(tag, value, raw)``; DO'8E' must come last."""
    out: list[tuple[int, bytes, bytes]] = []
    offset = 0
    try:
        while offset < len(data):
            tag, value, end = read_tlv(data, offset)
            if tag not in allowed:
                raise SmFormatError(f"unexpected data object {tag:X} in protected {what}")
            if any(t == tag for t, _, _ in out):
                raise SmFormatError(f"data object {tag:X} repeated in protected {what}")
            if out and out[-1][0] == 0x8E:
                raise SmFormatError(f"data object after DO'8E' in protected {what}")
            out.append((tag, value, data[offset:end]))
            offset = end
    except TlvError as e:
        raise SmFormatError(f"malformed protected {what}: {e}") from e
    if not out or out[-1][0] != 0x8E:
        raise SmFormatError(f"protected {what} has no DO'8E' MAC")
    if len(out[-1][1]) != 8:
        raise SmFormatError(f"DO'8E' of {len(out[-1][1])} bytes (8 expected)")
    return out


class SecureMessaging(_Channel):
    """Terminal side: :meth:`protect` commands, :meth:`unprotect` responses (Part 11 §9.8)."""

    def protect(self, cmd: CommandApdu, *, extended: bool | None = None) -> bytes:
        """Wrap a plain command; ``extended`` forces (True) or forbids (False) extended length."""
        if cmd.cla & 0x0C:
            raise SmFormatError(f"CLA {cmd.cla:02X} already signals secure messaging")
        ssc = self._next_ssc()
        cla = cmd.cla | 0x0C
        header = bytes([cla, cmd.ins, cmd.p1, cmd.p2])
        do87 = self._encrypt_do(ssc, cmd.data, bool(cmd.ins & 1)) if cmd.data else b""
        do97 = b""
        if cmd.ne is not None:
            le = (cmd.ne % 65536).to_bytes(2, "big") if cmd.ne > 256 else bytes([cmd.ne % 256])
            do97 = encode_tlv(0x97, le)
        mac = self.cipher.mac(self._mac_input(ssc, pad(header, self.cipher.block) + do87 + do97))
        body = do87 + do97 + encode_tlv(0x8E, mac)
        ext = extended
        if ext is None:
            ext = len(body) > 255 or (cmd.ne is not None and cmd.ne > 256)
        return CommandApdu(cla, cmd.ins, cmd.p1, cmd.p2, body, 65536 if ext else 256).encode(extended=ext)

    def unprotect(self, raw: bytes) -> ResponseApdu:
        """Verify and decrypt a protected response; raise SmMacError, SmFormatError or SmSessionAborted."""
        try:
            resp = ResponseApdu.parse(raw)
        except ApduError as e:
            raise SmFormatError(str(e)) from e
        ssc = self._next_ssc()
        if not resp.data:
            if resp.sw != 0x9000:
                raise SmSessionAborted(resp.sw)
            raise SmFormatError("protected response 9000 without data objects")
        dos = _split_dos(resp.data, (0x85, 0x87, 0x99, 0x8E), "response")
        mac_body = b"".join(raw_do for tag, _, raw_do in dos if tag != 0x8E)
        if not self.cipher.verify_mac(self._mac_input(ssc, mac_body), dos[-1][1]):
            raise SmMacError(f"response MAC does not verify (SSC {ssc.hex().upper()})")
        data = b""
        sw = resp.sw
        for tag, value, _ in dos[:-1]:
            if tag in (0x85, 0x87):
                data = self._decrypt_do(ssc, tag, value)
            elif tag == 0x99:
                if len(value) != 2:
                    raise SmFormatError(f"DO'99' of {len(value)} bytes (2 expected)")
                sw = int.from_bytes(value, "big")
        return ResponseApdu(data, sw)


class ChipSecureMessaging(_Channel):
    """Chip side: :meth:`unprotect_command` then :meth:`protect_response` (Part 11 §9.8)."""

    def unprotect_command(self, raw: bytes) -> CommandApdu:
        try:
            cmd = CommandApdu.parse(raw)
        except ApduError as e:
            raise SmFormatError(str(e)) from e
        if cmd.cla & 0x0C != 0x0C:
            raise SmFormatError(f"CLA {cmd.cla:02X} does not signal secure messaging")
        ssc = self._next_ssc()
        dos = _split_dos(cmd.data, (0x85, 0x87, 0x97, 0x8E), "command")
        mac_body = pad(cmd.header, self.cipher.block) + b"".join(r for t, _, r in dos if t != 0x8E)
        if not self.cipher.verify_mac(self._mac_input(ssc, mac_body), dos[-1][1]):
            raise SmMacError(f"command MAC does not verify (SSC {ssc.hex().upper()})")
        data = b""
        ne = None
        for tag, value, _ in dos[:-1]:
            if tag in (0x85, 0x87):
                data = self._decrypt_do(ssc, tag, value)
            elif tag == 0x97:
                if len(value) == 1:
                    ne = value[0] or 256
                elif len(value) == 2:
                    ne = int.from_bytes(value, "big") or 65536
                elif value:
                    raise SmFormatError(f"DO'97' of {len(value)} bytes")
        try:
            return CommandApdu(cmd.cla & ~0x0C & 0xFF, cmd.ins, cmd.p1, cmd.p2, data, ne)
        except ApduError as e:
            raise SmFormatError(str(e)) from e

    def protect_response(self, resp: ResponseApdu, *, odd_ins: bool = False) -> bytes:
        ssc = self._next_ssc()
        do87 = self._encrypt_do(ssc, resp.data, odd_ins) if resp.data else b""
        do99 = encode_tlv(0x99, resp.sw.to_bytes(2, "big"))
        mac = self.cipher.mac(self._mac_input(ssc, do87 + do99))
        return do87 + do99 + encode_tlv(0x8E, mac) + resp.sw.to_bytes(2, "big")
