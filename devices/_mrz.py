"""MRZ sources (the ``MrzSource`` port, :mod:`devices.ports`): the printed machine-readable zone gives the
chip's BAC/PACE access key.

:class:`CallableMrzSource` wraps any function, e.g. OCR of a data-page camera frame. The simulator (the
MRZ of the document placed on the page scanner), ``FixedMrzSource``, is in :mod:`devices.sim`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from devices.ports import MrzReaderUnavailable, MrzReadTimeout, MrzSourceError

__all__ = ["CallableMrzSource", "PageReaderThenCamera"]

log = logging.getLogger("devices.mrz")


class CallableMrzSource:
    def __init__(self, fn: Callable[[], str]) -> None:
        self.fn = fn

    def read_mrz(self) -> str:
        try:
            text = self.fn()
        except Exception as e:  # noqa: BLE001 - any OCR failure is "no MRZ"
            raise MrzSourceError(f"MRZ not read: {e}") from e
        if not text:
            raise MrzSourceError("MRZ not read")
        return "".join(text.split()).upper()


class PageReaderThenCamera:
    """``[kiosk|gate] mrz_reader = "both"``: the page reader first; when it reads nothing within its time-out
    (:class:`MrzReadTimeout`) or is unavailable (logged), the camera's OCR (``camera``: another ``MrzSource``).
    A document the page reader did read but that is not a valid MRZ (garbled, cut, a failing check digit) is
    its error, not a reason to guess from the camera: the traveller presents it again."""

    def __init__(self, page_reader: Any, camera: Any) -> None:
        self.page_reader, self.camera = page_reader, camera

    def read_mrz(self) -> str:
        try:
            return self.page_reader.read_mrz()
        except MrzReadTimeout:
            pass
        except MrzReaderUnavailable as e:
            log.warning("page reader unavailable, reading the MRZ by camera: %s", e)
        return self.camera.read_mrz()

    def discard(self) -> None:
        discard = getattr(self.page_reader, "discard", None)
        if discard is not None:
            discard()

    def cancel(self) -> None:
        cancel = getattr(self.page_reader, "cancel", None)
        if cancel is not None:
            cancel()

    def close(self) -> None:
        self.page_reader.close()
