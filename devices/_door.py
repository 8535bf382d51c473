"""Doors: adapters of the ``Door`` port (:mod:`devices.ports`: ``open()``, ``close()``, ``state``).

- :class:`SerialDoor`: a door controller on a serial line (pyserial, imported lazily; a one-line
  ASCII command and an optional acknowledgement). The port is anything ``serial.serial_for_url``
  opens: a device (``/dev/ttyUSB0``), a pseudo-terminal, ``loop://``, ``socket://host:port``,
  ``rfc2217://host:port``.
- :class:`GpioDoor`: a relay on a GPIO line through the Linux sysfs interface
  (``/sys/class/gpio/gpioN/value``); ``root`` can point at a test directory.
- The simulator that records each command with its time, ``LoggingDoor``, is in :mod:`devices.sim`.
"""

from __future__ import annotations

from pathlib import Path

from devices.ports import CLOSED, OPEN, DoorError

__all__ = ["SerialDoor", "GpioDoor"]



class SerialDoor:
    """Sends ``open_cmd`` / ``close_cmd`` on ``port`` (a device path or a pyserial URL).

    When ``ack`` is set, the controller must answer that line (``OK\\n`` by default) within
    ``timeout`` seconds; another answer, or none, is a :class:`DoorError` and the door's recorded
    ``state`` does not change (fail closed: a door is only reported open once the controller said so).
    Input waiting before a command (a late answer to an earlier one) is discarded first, so an old
    acknowledgement is never taken for a new one. The line is opened on first use and reopened after
    an I/O failure; :meth:`release` closes it.
    """

    def __init__(self, port: str, baudrate: int = 9600, *, open_cmd: bytes = b"OPEN\n", close_cmd: bytes = b"CLOSE\n",
                 ack: bytes | None = b"OK", timeout: float = 1.0) -> None:
        self.port, self.baudrate, self.timeout = port, baudrate, timeout
        self.open_cmd, self.close_cmd, self.ack = open_cmd, close_cmd, ack
        self._serial = None
        self._state = CLOSED

    def _line(self):
        if self._serial is None:
            try:
                import serial  # pyserial
            except ImportError as e:
                raise DoorError("SerialDoor needs pyserial (not installed); use GpioDoor or LoggingDoor") from e
            try:
                self._serial = serial.serial_for_url(self.port, baudrate=self.baudrate, timeout=self.timeout,
                                                     write_timeout=self.timeout)
            except (OSError, ValueError) as e:  # serial.SerialException is an OSError
                raise DoorError(f"cannot open serial port {self.port}: {e}") from e
        return self._serial

    def _send(self, cmd: bytes) -> None:
        line = self._line()
        try:
            line.reset_input_buffer()
            line.write(cmd)
            line.flush()
            if self.ack is None:
                return
            answer = line.read_until(b"\n")  # bounded by ``timeout`` in total, unlike readline()
        except (OSError, ValueError) as e:  # SerialException / SerialTimeoutException, a closed port
            self.release()
            raise DoorError(f"serial door failure on {self.port}: {e}") from e
        if not answer.endswith(b"\n") and not answer.strip():
            raise DoorError(f"door controller on {self.port} did not answer {cmd.strip()!r} "
                            f"within {self.timeout:g} s")
        if answer.strip() != self.ack:
            raise DoorError(f"door controller on {self.port} answered {answer.strip()!r} to {cmd.strip()!r}, "
                            f"expected {self.ack!r}")

    def open(self) -> None:
        self._send(self.open_cmd)
        self._state = OPEN

    def close(self) -> None:
        self._send(self.close_cmd)
        self._state = CLOSED

    @property
    def state(self) -> str:
        return self._state

    def release(self) -> None:
        """Close the serial line (the next command reopens it)."""
        if self._serial is not None:
            try:
                self._serial.close()
            except OSError:
                pass  # already broken: nothing more to release
            finally:
                self._serial = None


class GpioDoor:
    """A relay on GPIO ``line`` (sysfs). ``active_high``: writing 1 opens the door."""

    def __init__(self, line: int, *, root: str | Path = "/sys/class/gpio", active_high: bool = True) -> None:
        self.line = line
        self.root = Path(root)
        self.active_high = active_high
        self._ready = False

    @property
    def _dir(self) -> Path:
        return self.root / f"gpio{self.line}"

    def _setup(self) -> None:
        if self._ready:
            return
        try:
            if not self._dir.exists():
                (self.root / "export").write_text(str(self.line))
            (self._dir / "direction").write_text("out")
        except OSError as e:
            raise DoorError(f"cannot set up GPIO line {self.line}: {e}") from e
        self._ready = True

    def _write(self, level: int) -> None:
        self._setup()
        try:
            (self._dir / "value").write_text(str(level))
        except OSError as e:
            raise DoorError(f"cannot drive GPIO line {self.line}: {e}") from e

    def open(self) -> None:
        self._write(1 if self.active_high else 0)

    def close(self) -> None:
        self._write(0 if self.active_high else 1)

    @property
    def state(self) -> str:
        try:
            level = int((self._dir / "value").read_text().strip() or "0")
        except (OSError, ValueError) as e:
            raise DoorError(f"cannot read GPIO line {self.line}: {e}") from e
        return OPEN if (level == 1) == self.active_high else CLOSED
