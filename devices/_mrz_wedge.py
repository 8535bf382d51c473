"""A page reader that types the MRZ as a keyboard (a "keyboard wedge"; the ``MrzSource`` port): evdev.

Many swipe and full-page readers present themselves as a USB keyboard and type each MRZ line followed by Enter.
:class:`KeyboardWedgeMrzReader` opens the reader's input device (``/dev/input/by-id/usb-...-event-kbd`` keeps
its name across reboots) and grabs it (``EVIOCGRAB``), so its keystrokes reach this process only, never the
kiosk's UI or a shell on the console. :class:`WedgeDecoder` turns key events into characters as a US keyboard
would (the layout readers are set to), then :mod:`devices._mrz_lines` assembles and checks the MRZ:

- letters are upper case, shifted or not (the MRZ has no lower case; a wedge's idea of Caps Lock is not the
  host's); digits on the main row and the keypad; ``<`` is Shift+comma, or the ISO key left of Z (``KEY_102ND``);
- Enter (main or keypad) ends a line; Ctrl+B / Ctrl+C are STX / ETX, Ctrl+M / Ctrl+J CR / LF (readers that frame);
- any other key, a shifted digit, or Alt/Meta held is a character outside the MRZ alphabet (the line is garbled);
- ``SYN_DROPPED`` (the kernel's buffer overflowed: keys were lost) is :class:`MrzGarbled`.

The kernel keeps only 64 events per reader of a device and a TD3 MRZ is ~540: a thread started when the device is
opened drains it all the time into a bounded queue of (time, event) (:data:`MAX_QUEUED` events; beyond that,
:class:`MrzGarbled` as for ``SYN_DROPPED``), so a document typed while no read runs waits whole for the next one
(or for :meth:`discard`); closing the reader stops the thread.

Needs read access to the event device (root, or the ``input`` group / a udev rule for the reader) and, for the
tests that inject events, ``/dev/uinput``. evdev builds from source against the kernel headers (linux-libc-dev).
"""

from __future__ import annotations

import collections
import select
import threading
import time
from typing import Any

from devices._mrz_lines import ETX, STX, TextMrzReader
from devices.ports import MrzGarbled, MrzReaderUnavailable

__all__ = ["KeyboardWedgeMrzReader", "WedgeDecoder"]

_NOT_MRZ = "\ufffd"  # what a key with no place in an MRZ types: garbles its line
MAX_QUEUED = 8192  # events kept while no read consumes them (about 15 TD3 documents): bounded memory
_DRAIN_POLL_S = 0.05  # how often the draining thread looks at its stop flag


def _evdev():
    try:
        import evdev
    except ImportError as e:
        raise MrzReaderUnavailable("the keyboard-wedge page reader needs evdev (not installed: make setup builds it "
                                   "with gcc and linux-libc-dev)") from e
    return evdev


class WedgeDecoder:
    """Key events (``evdev.InputEvent``) in, the characters they type out (:meth:`feed`)."""

    def __init__(self) -> None:
        e = _evdev().ecodes
        self._e = e
        self._keys: dict[int, tuple[str, str]] = {}  # code -> (unshifted, shifted)
        for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
            self._keys[getattr(e, f"KEY_{c}")] = (c, c)
        for i, shifted in enumerate(")!@#$%^&*("):
            self._keys[getattr(e, f"KEY_{i}")] = (str(i), shifted)
            self._keys[getattr(e, f"KEY_KP{i}")] = (str(i), str(i))
        self._keys[e.KEY_COMMA] = (",", "<")
        self._keys[e.KEY_102ND] = ("<", ">")
        self._keys[e.KEY_ENTER] = ("\r", "\r")
        self._keys[e.KEY_KPENTER] = ("\r", "\r")
        self._keys[e.KEY_SPACE] = (" ", " ")
        self._control = {e.KEY_B: STX, e.KEY_C: ETX, e.KEY_M: "\r", e.KEY_J: "\n"}
        self._shift_keys = {e.KEY_LEFTSHIFT, e.KEY_RIGHTSHIFT}
        self._ctrl_keys = {e.KEY_LEFTCTRL, e.KEY_RIGHTCTRL}
        self._other_modifiers = {e.KEY_LEFTALT, e.KEY_RIGHTALT, e.KEY_LEFTMETA, e.KEY_RIGHTMETA}
        self._locks = {e.KEY_CAPSLOCK, e.KEY_NUMLOCK, e.KEY_SCROLLLOCK}
        self._held: set[int] = set()

    def reset(self) -> None:
        self._held.clear()

    def feed(self, event: Any) -> str:
        """The text one event types ("" for most: key releases, sync and scan-code events)."""
        e = self._e
        if event.type == e.EV_SYN and event.code == e.SYN_DROPPED:
            self._held.clear()
            raise MrzGarbled("the keyboard-wedge page reader's key events were dropped by the kernel (its buffer "
                             "overflowed): keys were lost")
        if event.type != e.EV_KEY:
            return ""
        code, value = event.code, event.value
        if code in self._shift_keys | self._ctrl_keys | self._other_modifiers:
            (self._held.add if value else self._held.discard)(code)
            return ""
        if value == 0 or code in self._locks:  # a release; lock keys change nothing this decoder types
            return ""
        if self._held & self._other_modifiers:
            return _NOT_MRZ
        if self._held & self._ctrl_keys:
            return self._control.get(code, _NOT_MRZ)
        plain, shifted = self._keys.get(code, (_NOT_MRZ, _NOT_MRZ))
        return shifted if self._held & self._shift_keys else plain  # value 2: an auto-repeat types again


class KeyboardWedgeMrzReader(TextMrzReader):
    """The MRZ from a keyboard-wedge page reader at ``device`` (an event device path), grabbed while open so its
    keystrokes go nowhere else; ``timeout_s``, ``line_gap_s`` and ``prefix`` as for the serial reader."""

    kind = "keyboard"

    def __init__(self, device: str, *, timeout_s: float = 5.0, line_gap_s: float = 0.5, prefix: str = "",
                 grab: bool = True) -> None:
        super().__init__(timeout_s=timeout_s, line_gap_s=line_gap_s, prefix=prefix)
        self.device, self.grab = device, grab
        self.what = f"keyboard-wedge page reader {device}"
        self._decoder = WedgeDecoder()
        self._dev = None
        self._queue: collections.deque = collections.deque()  # (time.monotonic(), InputEvent) drained from the device
        self._queued = threading.Condition()
        self._overflow = False
        self._gone: OSError | None = None
        self._stop = threading.Event()
        self._drainer: threading.Thread | None = None
        self._open()

    def _open(self):
        if self._dev is None:
            evdev = _evdev()
            try:
                dev = evdev.InputDevice(self.device)
            except OSError as e:
                raise MrzReaderUnavailable(f"cannot open the keyboard-wedge page reader {self.device}: {e} (is it "
                                           "plugged in, and may this user read it: the input group or a udev rule?)"
                                           ) from e
            if self.grab:
                try:
                    dev.grab()  # its keystrokes reach no other program (the kiosk's UI, a console) while we hold it
                except OSError as e:
                    dev.close()
                    raise MrzReaderUnavailable(f"cannot grab the keyboard-wedge page reader {self.device}: {e} "
                                               "(another program holds it)") from e
            self._decoder.reset()
            with self._queued:
                self._queue.clear()
                self._overflow, self._gone = False, None
            self._stop = threading.Event()
            self._drainer = threading.Thread(target=self._drain, args=(dev, self._stop), daemon=True,
                                             name=f"mrz-wedge-drain {self.device}")
            self._dev = dev
            self._drainer.start()
        return self._dev

    def _drain(self, dev: Any, stop: threading.Event) -> None:
        """The draining thread: the device's events into the queue as they come, until :meth:`release`."""
        while not stop.is_set():
            try:
                ready, _w, _x = select.select([dev.fd], [], [], _DRAIN_POLL_S)
                if not ready:
                    continue
                events = list(dev.read())
            except BlockingIOError:
                continue
            except (OSError, ValueError) as e:  # ENODEV: unplugged (ValueError: its fd closed under us)
                with self._queued:
                    self._gone = e if isinstance(e, OSError) else OSError(str(e))
                    self._queued.notify_all()
                return
            now = time.monotonic()
            with self._queued:
                for ev in events:
                    if len(self._queue) >= MAX_QUEUED:
                        self._overflow = True  # keys lost: the waiting document is garbled, as for SYN_DROPPED
                        break
                    self._queue.append((now, ev))
                self._queued.notify_all()

    def _receive(self, wait_s: float) -> str:
        self._open()
        with self._queued:
            if not self._queue and self._gone is None and not self._overflow and wait_s > 0:
                self._queued.wait(wait_s)
            items = list(self._queue)
            self._queue.clear()
            gone, overflow = self._gone, self._overflow
            self._overflow = False
        if gone is not None and not items:
            self.release()
            raise MrzReaderUnavailable(f"the keyboard-wedge page reader {self.device} went away: {gone}") from gone
        text = "".join(self._decoder.feed(ev) for _t, ev in items)
        if overflow:
            self._decoder.reset()
            raise MrzGarbled(f"more than {MAX_QUEUED} key events waited unread from the keyboard-wedge page reader: "
                             "keys were lost")
        return text

    def release(self) -> None:
        """Stop draining, ungrab and close the device (the next read opens it again)."""
        dev, self._dev = self._dev, None
        if dev is None:
            return
        self._stop.set()
        if self._drainer is not None and self._drainer is not threading.current_thread():
            self._drainer.join(timeout=1.0)
        self._drainer = None
        try:
            if self.grab:
                dev.ungrab()
        except OSError:
            pass  # gone already: nothing is grabbed any more
        try:
            dev.close()
        except OSError:
            pass
