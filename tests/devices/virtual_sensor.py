"""libfprint's own test device, ``virtual_image``, fed from a test: the real library, no mock.

With ``FP_VIRTUAL_IMAGE`` naming a UNIX socket when a libfprint context enumerates, the library offers a
``virtual_image`` scanner; opened, it listens on that socket for a header of two native ints (width,
height) followed by that many 8-bit grey pixels, or for a command (width -1: a retry whose code is the
height, ``FpDeviceRetry``). :class:`VirtualImageSensor` sends what the test queued, one item each time the
scanner starts waiting for a finger (``LibfprintScanner(on_finger_needed=sensor.finger_needed)``), so an
image never reaches the device between two captures.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest

__all__ = ["VirtualImageSensor", "libfprint_or_skip", "RETRY_TOO_SHORT", "RETRY_CENTER_FINGER"]

RETRY_TOO_SHORT, RETRY_CENTER_FINGER = 1, 2


def libfprint_or_skip() -> None:
    """Skip the test, saying what is missing, when libfprint or its binding cannot be loaded here."""
    from devices import FingerprintLibraryMissing, libfprint_version

    try:
        libfprint_version()
    except FingerprintLibraryMissing as e:
        pytest.skip(f"libfprint is not available: {e}")



class VirtualImageSensor:
    """The finger side of libfprint's ``virtual_image`` device at ``path`` (see the module's docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.sent: list[str] = []  # what reached the socket, in order ("image WxH", "retry N")
        self._queue: list[tuple[str, bytes]] = []
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def queue_image(self, gray: np.ndarray) -> None:
        gray = np.ascontiguousarray(gray, dtype=np.uint8)
        h, w = gray.shape
        self._queue.append((f"image {w}x{h}", struct.pack("=ii", w, h) + gray.tobytes()))

    def queue_retry(self, code: int) -> None:
        self._queue.append((f"retry {code}", struct.pack("=ii", -1, code)))

    @property
    def pending(self) -> int:
        return len(self._queue)

    def finger_needed(self) -> None:
        """The scanner waits for a finger: send the next queued item (on a thread: the sensor reads it only
        while the caller's capture iterates GLib)."""
        if not self._queue:
            return
        label, payload = self._queue.pop(0)
        t = threading.Thread(target=self._send, args=(label, payload), daemon=True, name="virtual-finger")
        self._threads.append(t)
        t.start()

    def _send(self, label: str, payload: bytes) -> None:
        with self._lock:
            if self._sock is None:
                deadline = time.monotonic() + 10
                while True:  # the device creates the socket when it is opened
                    try:
                        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                        s.connect(str(self.path))
                        break
                    except OSError:
                        s.close()
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.05)
                self._sock = s
            self._sock.sendall(payload)
            self.sent.append(label)

    def close(self) -> None:
        for t in self._threads:
            t.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
