"""Transports: the narrow ``transmit(apdu: bytes) -> bytes`` port the protocols use.

:class:`PcscTransport` talks to a PC/SC reader through pyscard (imported lazily), e.g. a real
ISO/IEC 14443 reader or vsmartcard's "Virtual PCD" fed by :mod:`emrtd.sim` (``VpcdCard``). The
in-process transport to a virtual chip (``InProcessTransport``) is simulation: :mod:`emrtd.sim`.
"""

from __future__ import annotations

__all__ = ["ExtendedLengthRetryError", "TransportError", "PcscTransport", "list_pcsc_readers"]


class TransportError(Exception):
    """The transport could not carry an APDU (no reader, no card, connection lost)."""


class ExtendedLengthRetryError(TransportError):
    """A 6Cxx (wrong Le, a T=0 answer) to an extended-length APDU: its 2-byte Le cannot be repaired from one
    byte of SW2, so the APDU is refused rather than resent malformed (read the chip with short APDUs)."""


def _short_le_index(apdu: bytes) -> int | None:
    """Where a short APDU's Le byte is (ISO/IEC 7816-4 §5.1); None when it has none. Raises
    :class:`ExtendedLengthRetryError` for an extended-length APDU."""
    if len(apdu) < 5:
        return None  # case 1: no Le
    if len(apdu) == 5:
        return 4  # case 2S
    if apdu[4] == 0x00:
        raise ExtendedLengthRetryError(
            f"6Cxx answered to an extended-length APDU ({apdu[:4].hex().upper()}): not retried")
    lc = apdu[4]
    if len(apdu) == 6 + lc:
        return len(apdu) - 1  # case 4S
    return None  # case 3S (no Le), or a malformed APDU: nothing to repair


_NO_SERVICE = (0x8010001D, 0x8010001E)  # SCARD_E_NO_SERVICE, SCARD_E_SERVICE_STOPPED
_NO_READERS = 0x8010002E  # SCARD_E_NO_READERS_AVAILABLE
NO_READER = "no PC/SC reader connected: plug the reader in (`pcsc_scan` lists the readers pcscd sees)"


def _pcsc_errors() -> tuple[type[Exception], ...]:
    """pyscard's exceptions: its own, and the PC/SC layer's (``EstablishContextException`` when no pcscd)."""
    from smartcard.Exceptions import SmartcardException

    try:
        from smartcard.pcsc.PCSCExceptions import BaseSCardException
    except ImportError:  # pragma: no cover - every pyscard with a pcsc backend has it
        return (SmartcardException,)
    return (SmartcardException, BaseSCardException)


def _pcsc_error(e: Exception) -> TransportError:
    code = getattr(e, "hresult", None)
    code = code & 0xFFFFFFFF if isinstance(code, int) else None
    if code in _NO_SERVICE:
        return TransportError("PC/SC unavailable: no PC/SC service (pcscd is not running): "
                              "start it with `sudo systemctl start pcscd`")
    if code == _NO_READERS:
        return TransportError(NO_READER)
    return TransportError(f"PC/SC unavailable: {e}")


def list_pcsc_readers() -> list[str]:
    """Names of the PC/SC readers pcscd knows (empty when pcscd is not running)."""
    try:
        from smartcard.System import readers

        errors = _pcsc_errors()
    except ImportError as e:  # pragma: no cover - pyscard is in the stack
        raise TransportError("pyscard is not installed") from e
    try:
        return [str(r) for r in readers()]
    except errors as e:
        if (getattr(e, "hresult", 0) or 0) & 0xFFFFFFFF == _NO_READERS:
            return []
        raise _pcsc_error(e) from e


class PcscTransport:
    """A card in a PC/SC reader via pyscard. ``reader_name`` may be a prefix; None takes the first reader.

    Use as a context manager or call :meth:`connect` / :meth:`close`.
    """

    def __init__(self, reader_name: str | None = None) -> None:
        self.reader_name = reader_name
        self._conn = None
        self.apdu_count = 0

    def connect(self) -> PcscTransport:
        from smartcard.Exceptions import SmartcardException
        from smartcard.System import readers

        try:
            available = readers()
        except _pcsc_errors() as e:
            raise _pcsc_error(e) from e
        if not available:
            raise TransportError(NO_READER)
        chosen = [r for r in available if self.reader_name is None or str(r).startswith(self.reader_name)]
        if not chosen:
            names = ", ".join(str(r) for r in available)
            raise TransportError(f"no PC/SC reader matching {self.reader_name!r} (readers: {names}): "
                                 "give one of these names, or none for the first")
        conn = chosen[0].createConnection()
        try:
            conn.connect()
        except SmartcardException as e:
            raise TransportError(f"cannot connect to the card in {chosen[0]}: {e}") from e
        self._conn = conn
        self.reader_name = str(chosen[0])
        return self

    @property
    def atr(self) -> bytes:
        if self._conn is None:
            raise TransportError("not connected")
        return bytes(self._conn.getATR())

    def transmit(self, apdu: bytes) -> bytes:
        from smartcard.Exceptions import SmartcardException

        if self._conn is None:
            self.connect()
        apdu = bytes(apdu)
        try:
            data, sw1, sw2 = self._conn.transmit(list(apdu))
            le_at = _short_le_index(apdu) if sw1 == 0x6C else None
            if le_at is not None:  # wrong Le: repeat with the exact length (ISO/IEC 7816-3 T=0), short APDUs only
                data, sw1, sw2 = self._conn.transmit(list(apdu[:le_at] + bytes([sw2]) + apdu[le_at + 1:]))
            out = bytearray(data)
            while sw1 == 0x61:  # more data available: GET RESPONSE (ISO/IEC 7816-4 §7.6.1)
                data, sw1, sw2 = self._conn.transmit([0x00, 0xC0, 0x00, 0x00, sw2])
                out += bytes(data)
        except SmartcardException as e:
            raise TransportError(f"PC/SC transmit failed: {e}") from e
        self.apdu_count += 1
        return bytes(out) + bytes([sw1, sw2])

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.disconnect()
            finally:
                release = getattr(conn, "release", None)  # free the PC/SC context now, not at garbage collection
                if release is not None:
                    try:
                        release()
                    except Exception:  # noqa: BLE001, S110 - pcscd may be gone already: nothing left to free
                        pass

    def __enter__(self) -> PcscTransport:
        return self.connect()

    def __exit__(self, *exc) -> None:
        self.close()
