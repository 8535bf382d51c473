"""The page readers this machine could use, for ``smartborder doctor``: serial ports (pyserial's
``serial.tools.list_ports``: USB CDC ACM and USB serial adapters, with their USB description) and keyboards
(evdev: input devices with letter keys and Enter, with their ``/dev/input/by-id`` names). Nothing is opened for
reading and nothing is grabbed."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from devices.ports import MrzReaderUnavailable

__all__ = ["PageReaderInfo", "list_serial_ports", "list_keyboards", "page_reader_present"]

BY_ID = Path("/dev/input/by-id")


@dataclass(frozen=True)
class PageReaderInfo:
    """A device a page reader may be: ``kind`` "serial" or "keyboard", its path, its name, and what else is known
    (USB ids; the stable by-id names of a keyboard)."""

    kind: str
    device: str
    name: str
    detail: str = ""

    def describe(self) -> str:
        return f"{self.kind} {self.device}: {self.name}" + (f" ({self.detail})" if self.detail else "")


def list_serial_ports() -> list[PageReaderInfo]:
    """The serial ports pyserial finds (:class:`MrzReaderUnavailable` without pyserial)."""
    try:
        from serial.tools import list_ports
    except ImportError as e:
        raise MrzReaderUnavailable("pyserial is not installed (make setup)") from e
    return [PageReaderInfo("serial", p.device, p.description or p.name or "", p.hwid or "")
            for p in sorted(list_ports.comports(), key=lambda p: p.device)]


def _by_id_names() -> dict[str, list[str]]:
    names: dict[str, list[str]] = {}
    if BY_ID.is_dir():
        for link in sorted(BY_ID.iterdir()):
            names.setdefault(os.path.realpath(link), []).append(str(link))
    return names


def list_keyboards() -> list[PageReaderInfo]:
    """The input devices with letter keys and Enter (a keyboard wedge looks like any keyboard: its name and USB
    ids tell it apart); :class:`MrzReaderUnavailable` without evdev. Devices this user may not open are
    skipped (they need the input group or a udev rule)."""
    try:
        import evdev
    except ImportError as e:
        raise MrzReaderUnavailable("evdev is not installed (make setup builds it with gcc and linux-libc-dev)") from e
    e = evdev.ecodes
    needed = {e.KEY_A, e.KEY_Z, e.KEY_0, e.KEY_9, e.KEY_ENTER}
    names = _by_id_names()
    out = []
    for path in sorted(evdev.list_devices()):
        try:
            dev = evdev.InputDevice(path)
        except OSError:
            continue
        try:
            if needed <= set(dev.capabilities().get(e.EV_KEY, [])):
                by_id = ", ".join(names.get(os.path.realpath(path), []))
                ids = f"usb {dev.info.vendor:04x}:{dev.info.product:04x}"
                out.append(PageReaderInfo("keyboard", path, dev.name, f"{ids}; {by_id}" if by_id else ids))
        finally:
            dev.close()
    return out


def page_reader_present(device: str) -> bool:
    """Whether the configured device path exists (a by-id link resolves) and is a character device."""
    try:
        return Path(device).resolve(strict=True).is_char_device()
    except (OSError, RuntimeError):
        return False
