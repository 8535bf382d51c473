"""What a keyboard-wedge page reader types, as evdev key events (US layout: Shift+letter, Shift+comma for '<',
Enter after each line), for the wedge tests: fed to the decoder directly or injected through /dev/uinput."""

from __future__ import annotations

import errno
import os
import threading
import time

import pytest

evdev = pytest.importorskip("evdev", reason="the keyboard-wedge page reader needs evdev (make setup)")
e = evdev.ecodes

SHIFT = e.KEY_LEFTSHIFT


def strokes(text: str, *, angle: str = "shift+comma", shift_letters: bool = True) -> list[tuple[int, int]]:
    """(code, value) key events typing ``text``: letters (shifted or not), digits, '<' (Shift+comma or the ISO
    key, ``angle="102nd"``), '\\r' / '\\n' as Enter."""
    out: list[tuple[int, int]] = []

    def tap(code: int, shift: bool = False) -> None:
        if shift:
            out.append((SHIFT, 1))
        out.extend([(code, 1), (code, 0)])
        if shift:
            out.append((SHIFT, 0))

    for ch in text:
        if ch.isalpha():
            tap(getattr(e, f"KEY_{ch.upper()}"), shift_letters)
        elif ch.isdigit():
            tap(getattr(e, f"KEY_{ch}"))
        elif ch == "<":
            tap(e.KEY_COMMA, True) if angle == "shift+comma" else tap(e.KEY_102ND)
        elif ch in "\r\n":
            tap(e.KEY_ENTER)
        else:
            raise ValueError(f"no key for {ch!r}")
    return out


def events(pairs: list[tuple[int, int]]) -> list:
    """Real ``evdev.InputEvent`` objects, each key event followed by its scan code and a SYN_REPORT as a keyboard
    sends them."""
    out = []
    for i, (code, value) in enumerate(pairs):
        sec, usec = divmod(i * 1000, 1_000_000)
        out += [evdev.InputEvent(sec, usec, e.EV_MSC, e.MSC_SCAN, 0x70000 + code),
                evdev.InputEvent(sec, usec, e.EV_KEY, code, value),
                evdev.InputEvent(sec, usec, e.EV_SYN, e.SYN_REPORT, 0)]
    return out


def typed(lines: list[str], **kw) -> list:
    """The events of a wedge typing the MRZ's lines, each followed by Enter."""
    return events(strokes("".join(line + "\r" for line in lines), **kw))


def uinput_or_skip() -> None:
    """Skip (with the reason) where events cannot be injected: no /dev/uinput, or no write access to it."""
    if not os.path.exists("/dev/uinput"):
        pytest.skip("/dev/uinput does not exist on this machine (no uinput module or not in this container): the "
                    "keyboard wedge is tested through the decoder with real evdev events instead")
    if not os.access("/dev/uinput", os.W_OK):
        pytest.skip("/dev/uinput is not writable by this user (root or a udev rule needed to inject key events)")


def uinput_keyboard(name: str = "MRZ page reader (test wedge)"):
    """A virtual USB keyboard through /dev/uinput (``.device.path`` is its event device)."""
    uinput_or_skip()
    keys = [getattr(e, f"KEY_{c}") for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"]
    keys += [e.KEY_COMMA, e.KEY_102ND, e.KEY_ENTER, e.KEY_LEFTSHIFT, e.KEY_F1]
    try:
        return evdev.UInput({e.EV_KEY: keys}, name=name, vendor=0x1234, product=0x5678)
    except (OSError, evdev.UInputError) as err:
        pytest.skip(f"/dev/uinput refused a virtual keyboard here: {err}")


def type_on(ui, pairs: list[tuple[int, int]], *, delay: float = 0.0005) -> None:
    """Type on the uinput keyboard at a wedge's pace (the kernel keeps only 64 events per reader: typed faster
    than the reader drains them, keys are dropped, SYN_DROPPED)."""
    for code, value in pairs:
        ui.write(e.EV_KEY, code, value)
        ui.syn()
        time.sleep(delay)


def type_later(ui, pairs: list[tuple[int, int]], after: float = 0.1) -> threading.Thread:
    """:func:`type_on` in a thread, ``after`` seconds from now (while the reader reads)."""
    t = threading.Thread(target=lambda: (time.sleep(after), type_on(ui, pairs)), daemon=True)
    t.start()
    return t


class PipeDevice:
    """Stands in for ``evdev.InputDevice`` (no /dev/input here): ``fd`` is a pipe the test makes readable when it
    queues events; ``grab()`` / ``ungrab()`` are recorded; ``fail`` makes the next read raise (unplugged); ``limit``
    keeps only that many unread events, as the kernel does (64 per reader), then SYN_DROPPED."""

    instances: list[PipeDevice] = []
    busy = False
    limit: int | None = None  # the kernel's buffer per reader (64 events); None: unbounded


    def __init__(self, path: str) -> None:
        if not path.startswith("/dev/input/"):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        self.path = path
        self._r, self._w = os.pipe()
        self.fd = self._r
        self.queue: list = []
        self.grabbed = False
        self.closed = False
        self.fail: OSError | None = None
        self._lock = threading.Lock()
        PipeDevice.instances.append(self)

    def grab(self) -> None:
        if PipeDevice.busy:
            raise OSError(errno.EBUSY, "Device or resource busy")
        self.grabbed = True

    def ungrab(self) -> None:
        self.grabbed = False

    def send(self, evs) -> None:
        with self._lock:
            for ev in evs:
                if self.limit is not None and len(self.queue) >= self.limit:  # as evdev does: the unread events
                    self.queue = [evdev.InputEvent(0, 0, e.EV_SYN, e.SYN_DROPPED, 0)]  # go, SYN_DROPPED instead
                self.queue.append(ev)
        os.write(self._w, b"x")

    def read(self):
        if self.fail is not None:
            raise self.fail
        os.read(self._r, 4096)
        with self._lock:
            evs, self.queue = self.queue, []
        if not evs:
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        return iter(evs)

    def close(self) -> None:
        self.closed = True
        os.close(self._r)
        os.close(self._w)
