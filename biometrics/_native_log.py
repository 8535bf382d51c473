"""The native libraries' own log lines (mediapipe's C++ logging, TensorFlow Lite's), kept off the terminal.

mediapipe 0.10.21 logs through absl's C++ logging, and nothing calls ``absl::InitializeLog()``, so every
message reaches stderr whatever its severity: two "inference_feedback_manager.cc:114] Feedback manager
requires a model with a single signature inference" warnings each time a graph starts, one
"landmark_projection_calculator.cc:186] Using NORM_RECT without IMAGE_DIMENSIONS" at the first face a
process meshes, and TensorFlow Lite's "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." (an
``fprintf``). None of them reads ``GLOG_minloglevel`` or ``TF_CPP_MIN_LOG_LEVEL`` (tried: the lines stay),
the bindings export no log-level call, and Python's ``absl.logging`` governs only Python records (its
default, WARNING with no handler on the root logger, already keeps quiet). They are written while a
graph starts, which in mediapipe's solutions API is the first ``process()`` call, not the constructor.

So :func:`native_quiet` points file descriptor 2 at /dev/null around a graph's start only (its
construction and first frames, see ``FaceMesher``), never for the life of the process; anything else
written to stderr in that window (a few tens of milliseconds) is lost as well. onnxruntime sessions are
quiet at the source (``SessionOptions.log_severity_level = 3``). ``SMARTBORDER_VERBOSE=1`` (what
``smartborder demo --verbose`` sets) lets every line through.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

__all__ = ["VERBOSE_ENV", "native_quiet", "native_verbose"]

#: set (to anything but "", "0", "false", "no") to see the native libraries' own log lines
VERBOSE_ENV = "SMARTBORDER_VERBOSE"

_lock = threading.Lock()
_depth = 0  # threads inside native_quiet(): fd 2 comes back when the last one leaves
_saved: int | None = None


def native_verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _flush() -> None:
    with contextlib.suppress(Exception):  # a closed or replaced sys.stderr
        sys.stderr.flush()


@contextlib.contextmanager
def native_quiet() -> Iterator[None]:
    """File descriptor 2 on /dev/null for the block (nested and concurrent uses share one redirection)."""
    global _depth, _saved
    if native_verbose():
        yield
        return
    with _lock:
        if _depth == 0:
            _flush()
            try:
                saved = os.dup(2)
            except OSError:  # no fd 2 at all: nothing to keep quiet
                saved = None
            if saved is not None:
                null = os.open(os.devnull, os.O_WRONLY)
                try:
                    os.dup2(null, 2)
                finally:
                    os.close(null)
            _saved = saved
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                _flush()
                os.dup2(_saved, 2)
                os.close(_saved)
                _saved = None
