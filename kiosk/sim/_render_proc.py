"""The simulated traveller's renderer in a process of its own, as a camera is a device of its own.

``FaceRenderer.render`` paints ~900 mesh triangles one OpenCV call at a time, and every call hands Python's
interpreter lock back and forth: inside the kiosk's process, a busy UI thread or quality check made one
frame take up to a second (the camera then delivered 1-5 frames/s and the traveller moved in slow motion), which
a real camera's driver, one hand-over per frame, never does. Here the kiosk's process only asks for a frame
(the pose at a time) and receives its pixels.

Protocol on stdin/stdout: length-prefixed pickles in (``("render", yaw, closure, shift)``, ``("reseed", seed)``,
``None`` to stop); raw ``uint8`` pixels of the still's shape out. Run by :class:`RenderProcess` only.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

_LEN = struct.Struct("<I")
REPO = Path(__file__).resolve().parents[2]


def _read(stream, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        b = stream.read(n - got)
        if not b:
            raise EOFError
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def _recv(stream):
    (n,) = _LEN.unpack(_read(stream, _LEN.size))
    return pickle.loads(_read(stream, n))  # noqa: S301 - our own parent process, over a private pipe


def _send(stream, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LEN.pack(len(data)) + data)
    stream.flush()


class RenderProcess:
    """A child process holding a ``FaceRenderer`` of ``still`` (its mesh: ``landmarks``, ``ied``, ``box``) and
    the sensor noise (seeded by ``seed``, ``reseed``). ``render(yaw, closure, shift)`` -> the noisy frame."""

    def __init__(self, still, landmarks, ied: float, box, seed: int) -> None:
        import threading

        import numpy as np

        self.shape = still.shape
        self._np = np
        self._lock = threading.Lock()  # one request and its answer at a time (two frames() generators may overlap)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        self._proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve())], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, cwd=str(REPO), env=env)
        _send(self._proc.stdin, (np.ascontiguousarray(still), landmarks, float(ied), tuple(box), int(seed)))

    def reseed(self, seed: int) -> None:
        with self._lock:
            _send(self._proc.stdin, ("reseed", int(seed)))

    def render(self, yaw: float, closure: float, shift: tuple[float, float]):
        n = int(self._np.prod(self.shape))
        with self._lock:
            _send(self._proc.stdin, ("render", float(yaw), float(closure), (float(shift[0]), float(shift[1]))))
            data = _read(self._proc.stdout, n)
        return self._np.frombuffer(data, self._np.uint8).reshape(self.shape).copy()

    def close(self) -> None:
        proc = self._proc
        if proc.poll() is None:
            try:
                with self._lock:
                    _send(proc.stdin, None)
                proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                proc.kill()
                proc.wait(timeout=2)


def main() -> None:
    from types import SimpleNamespace

    import numpy as np

    from biometrics.face.sim import FaceRenderer, camera_noise

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    still, landmarks, ied, box, seed = _recv(stdin)
    renderer = FaceRenderer(still, SimpleNamespace(landmarks=landmarks, inter_eye_distance=ied, box=box))
    rng = np.random.default_rng([seed, 0])
    while True:
        try:
            msg = _recv(stdin)
        except EOFError:
            return
        if msg is None:
            return
        if msg[0] == "reseed":
            rng = np.random.default_rng([msg[1], 0])
            continue
        _, yaw, closure, shift = msg
        frame = camera_noise(renderer.render(yaw, 0.0, closure, shift=shift), rng)
        stdout.write(np.ascontiguousarray(frame, np.uint8).tobytes())
        stdout.flush()


if __name__ == "__main__":
    main()
