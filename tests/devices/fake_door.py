"""A fake door controller on a pseudo-terminal, for tests that drive :class:`devices.SerialDoor`.

The controller holds the master side of a pty; ``port`` names the slave side (``/dev/pts/N``), which
a ``SerialDoor(port)`` opens like a real serial device. A thread reads command lines, records them
in ``commands`` and answers each with ``answer`` (bytes, ``None`` for silence, or a callable
``command -> bytes | None``). ``state`` follows the OPEN/CLOSE commands it acknowledged with OK.

    with FakeDoorController() as ctl:
        door = SerialDoor(ctl.port, timeout=0.5)
        door.open()
        assert ctl.commands == ["OPEN"]
"""

from __future__ import annotations

import os
import select
import threading
import tty
from collections.abc import Callable

__all__ = ["FakeDoorController"]

Answer = bytes | None | Callable[[str], "bytes | None"]


class FakeDoorController:
    def __init__(self, answer: Answer = b"OK\n") -> None:
        self.answer = answer
        self.commands: list[str] = []
        self.state = "closed"
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo or line editing before the door opens the port
        self.port = os.ttyname(self._slave)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> FakeDoorController:
        """Serve in a thread; idempotent, so ``with FakeDoorController().start() as ctl`` serves once."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._serve, name="fake-door", daemon=True)
        self._thread.start()
        return self

    def _reply(self, command: str) -> bytes | None:
        reply = self.answer(command) if callable(self.answer) else self.answer
        if reply is not None and reply.strip() == b"OK" and command in ("OPEN", "CLOSE"):
            self.state = "open" if command == "OPEN" else "closed"
        return reply

    def _serve(self) -> None:
        buf = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self._master, 1024)
            except OSError:  # the slave side hung up
                continue
            buf += chunk
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                command = raw.strip(b"\r ").decode("ascii", "replace")
                reply = self._reply(command)
                with self._cond:
                    self.commands.append(command)
                    self._cond.notify_all()
                if reply is not None:
                    os.write(self._master, reply)

    def wait_for(self, n: int, timeout: float = 2.0) -> bool:
        """True once ``n`` commands have arrived."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self.commands) >= n, timeout=timeout)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> FakeDoorController:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
