"""Serve a virtual chip to pcscd through vsmartcard's virtual reader (vpcd).

The vpcd driver inside pcscd listens on TCP port 35963 (``0x8C7B``, see /etc/reader.conf.d/vpcd);
a virtual card connects to it as a client. Every message, both ways, is a 2-byte big-endian length
followed by the payload. A 1-byte payload from vpcd is a control code: ``00`` power off, ``01`` power on,
``02`` reset, ``04`` "send your ATR" (answered with the ATR). Anything longer is a command APDU, answered
with the response APDU. Applications then reach the chip through PC/SC (pyscard), exactly like a real
card in a contactless reader, which is how the tests exercise :class:`emrtd._transport.PcscTransport`.
"""

from __future__ import annotations

import select
import socket
import struct
import threading

__all__ = ["VpcdError", "VpcdCard", "VPCD_PORT"]

VPCD_PORT = 35963
_POWER_OFF, _POWER_ON, _RESET, _GET_ATR = 0, 1, 2, 4


class VpcdError(Exception):
    """Cannot reach vpcd (pcscd not running, driver missing) or the connection broke."""


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise VpcdError("vpcd closed the connection")
        buf += chunk
    return bytes(buf)


class VpcdCard:
    """Connects ``chip`` (``transmit`` + ``reset() -> ATR`` + ``atr``) to vpcd and serves it in a thread.

    >>> card = VpcdCard(chip).start()   # doctest: +SKIP
    >>> ...                              # PcscTransport("Virtual PCD").transmit(...)
    >>> card.stop()                      # doctest: +SKIP
    """

    def __init__(self, chip, host: str = "127.0.0.1", port: int = VPCD_PORT) -> None:
        self.chip = chip
        self.host = host
        self.port = port
        self.apdu_count = 0
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.error: Exception | None = None

    def connect(self, timeout: float = 5.0) -> None:
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except OSError as e:
            raise VpcdError(f"cannot connect to vpcd at {self.host}:{self.port}: {e}") from e
        self._sock.settimeout(10.0)

    def start(self) -> VpcdCard:
        if self._sock is None:
            self.connect()
        self._thread = threading.Thread(target=self._serve, name="vpcd-card", daemon=True)
        self._thread.start()
        return self

    def _send(self, payload: bytes) -> None:
        self._sock.sendall(struct.pack(">H", len(payload)) + payload)

    def handle(self, payload: bytes) -> bytes | None:
        """Answer one vpcd message (None when no answer is due)."""
        if len(payload) == 1:
            code = payload[0]
            if code in (_POWER_ON, _RESET, _POWER_OFF):
                self.chip.reset()
                return None
            if code == _GET_ATR:
                return bytes(self.chip.atr)
            return None
        self.apdu_count += 1
        return self.chip.transmit(payload)

    def _serve(self) -> None:
        sock = self._sock
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([sock], [], [], 0.2)
                if not ready:
                    continue
                (length,) = struct.unpack(">H", _recv_exact(sock, 2))
                payload = _recv_exact(sock, length)
                answer = self.handle(payload)
                if answer is not None:
                    self._send(answer)
        except (OSError, VpcdError) as e:
            if not self._stop.is_set():
                self.error = e

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def __enter__(self) -> VpcdCard:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
