"""MRZ sources: the printed machine-readable zone gives the chip's BAC/PACE access key.

:class:`FixedMrzSource` is the simulator (the MRZ of the document placed on the page scanner);
:class:`CallableMrzSource` wraps any function, e.g. OCR of a data-page camera frame.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from devices._errors import MrzSourceError

__all__ = ["MrzSource", "FixedMrzSource", "CallableMrzSource"]


@runtime_checkable
class MrzSource(Protocol):
    def read_mrz(self) -> str:
        """The MRZ text (TD3 2x44 or TD1 3x30 characters, lines concatenated)."""


class FixedMrzSource:
    def __init__(self, mrz: str | None = None) -> None:
        self.mrz = mrz

    def place(self, mrz: str | None) -> None:
        self.mrz = mrz

    def read_mrz(self) -> str:
        if not self.mrz:
            raise MrzSourceError("no document on the page scanner")
        return "".join(self.mrz.split()).upper()


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
