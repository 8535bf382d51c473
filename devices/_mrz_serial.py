"""A page reader on a serial line (the ``MrzSource`` port, :mod:`devices.ports`): pyserial.

Full-page and swipe readers at border posts (USB CDC ACM: ``/dev/ttyACM0``; USB serial: ``/dev/ttyUSB0``; by a
stable name: ``/dev/serial/by-id/...``) send each document's MRZ as text lines, CR/LF-terminated, sometimes
framed by STX/ETX or after a prefix: :mod:`devices._mrz_lines` turns them into a checked MRZ. The port is
anything ``serial.serial_for_url`` opens (a device, a pseudo-terminal, ``socket://host:port``), opened when the
reader is built (a kiosk whose reader is missing stops at start-up) and reopened by the next read after it
went away (unplugged: :class:`MrzReaderUnavailable`).
"""

from __future__ import annotations

from devices._mrz_lines import _POLL_S, TextMrzReader
from devices.ports import MrzReaderUnavailable

__all__ = ["SerialMrzReader"]


class SerialMrzReader(TextMrzReader):
    """The MRZ from a serial page reader on ``port`` at ``baudrate`` (8N1). ``timeout_s``: how long a read waits
    for a document; ``line_gap_s``: the longest silence within one; ``prefix``: a fixed string the reader puts
    before each line."""

    kind = "serial"
    #: the standard rates a page reader is set to (a bool or any other number is a configuration mistake)
    BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)

    def __init__(self, port: str, baudrate: int = 9600, *, timeout_s: float = 5.0, line_gap_s: float = 0.5,
                 prefix: str = "", open_now: bool = True) -> None:
        super().__init__(timeout_s=timeout_s, line_gap_s=line_gap_s, prefix=prefix)
        if isinstance(baudrate, bool) or baudrate not in self.BAUD_RATES:
            raise MrzReaderUnavailable(f"the page reader's baud rate must be one of {', '.join(map(str, self.BAUD_RATES))}, "
                                       f"not {baudrate!r}")
        self.port, self.baudrate = port, int(baudrate)
        self.what = f"page reader on {port}"
        self._serial = None
        if open_now:
            self._line()

    def _line(self):
        if self._serial is None:
            try:
                import serial  # pyserial
            except ImportError as e:
                raise MrzReaderUnavailable("the serial page reader needs pyserial (not installed: make setup)") from e
            try:
                self._serial = serial.serial_for_url(self.port, baudrate=self.baudrate, timeout=_POLL_S)
            except (OSError, ValueError, OverflowError) as e:  # serial.SerialException is an OSError
                raise MrzReaderUnavailable(f"cannot open the page reader's serial port {self.port}: {e}") from e
        return self._serial

    def _receive(self, wait_s: float) -> str:
        line = self._line()
        try:
            waiting = line.in_waiting
            if not waiting and wait_s <= 0:
                return ""
            data = line.read(max(1, waiting))  # waits up to the port's timeout (_POLL_S) for the first byte
        except (OSError, ValueError, TypeError) as e:  # SerialException (EIO: unplugged), a closed port
            self.release()
            raise MrzReaderUnavailable(f"the page reader on {self.port} went away: {e}") from e
        return data.decode("latin-1")  # every byte a character: anything outside the MRZ alphabet is garbage

    def release(self) -> None:
        """Close the serial port (the next read reopens it)."""
        if self._serial is not None:
            try:
                self._serial.close()
            except OSError:
                pass  # already broken: nothing more to release
            finally:
                self._serial = None
