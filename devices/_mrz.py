"""MRZ sources (the ``MrzSource`` port, :mod:`devices.ports`): the printed machine-readable zone gives the
chip's BAC/PACE access key.

:class:`CallableMrzSource` wraps any function, e.g. OCR of a data-page camera frame. The simulator (the
MRZ of the document placed on the page scanner), ``FixedMrzSource``, is in :mod:`devices.sim`.
"""

from __future__ import annotations

from collections.abc import Callable

from devices.ports import MrzSourceError

__all__ = ["CallableMrzSource"]


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
