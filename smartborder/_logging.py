"""The project's own logging, configured in one place: the command that runs calls :func:`configure_logging`.

One handler, on the root logger, to the process's stderr, in one format, at one level (the handler's
own too: a library logger with a level of its own, like Kivy's, would otherwise pass its INFO lines
through). Kivy joins it (``KIVY_LOG_MODE=PYTHON``: no handlers of its own, no ``sys.stderr``
replacement, no reset of the root level). The native libraries (mediapipe, TensorFlow Lite) do not log
through Python: :mod:`biometrics._native_log` keeps their lines quiet unless ``verbose`` (which sets
``SMARTBORDER_VERBOSE`` for this process and its children). The back office's JSON request log
(``backoffice serve``) is that service's own, on its own loggers.
"""

from __future__ import annotations

import logging
import os
import sys

from biometrics._native_log import VERBOSE_ENV

__all__ = ["FORMAT", "configure_logging"]

FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"

_handler: logging.Handler | None = None


def configure_logging(level: int = logging.WARNING, *, verbose: bool = False) -> None:
    """The root logger and its one handler at ``level`` (INFO at least when ``verbose``); safe to call again."""
    global _handler
    if verbose:
        level = min(level, logging.INFO)
        os.environ[VERBOSE_ENV] = "1"
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")  # read when kivy is first imported
    root = logging.getLogger()
    if _handler is None:
        # the process's own stderr, bound once: not a stream someone swaps in later (Kivy's stderr-to-log
        # stream would loop, click's test runner closes its own)
        _handler = logging.StreamHandler(sys.__stderr__ or sys.stderr)
        _handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(_handler)
    _handler.setLevel(level)
    root.setLevel(level)
