"""Chip readers: the ``ChipReader`` port (``wait_for_card()``, ``transmit(apdu) -> bytes``, ``close()``).

- :class:`PcscReader`: a PC/SC reader via pyscard (through :class:`emrtd.PcscTransport`), e.g. a
  real ISO/IEC 14443 reader, or vsmartcard's virtual reader fed by ``emrtd.VpcdCard``.
- :class:`SimulatedReader`: an in-process reader; a virtual chip (``emrtd.VirtualChip`` or an
  ``emrtd.IssuedDocument``) is placed on it and removed, optionally in the middle of a read.

Errors: :class:`NoCardError` (nothing presented in time), :class:`CardRemovedError` (the card left
the field), :class:`ReaderError` (anything else). The emrtd protocols only see ``transmit``.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable

import emrtd
from devices._errors import CardRemovedError, NoCardError, ReaderError

__all__ = ["ChipReader", "PcscReader", "SimulatedReader"]


@runtime_checkable
class ChipReader(Protocol):
    def wait_for_card(self, timeout: float = 30.0) -> None:
        """Block until a card is in the field; NoCardError after ``timeout`` seconds."""

    def transmit(self, apdu: bytes) -> bytes:
        """Send a command APDU, return the response APDU (data + SW1 SW2)."""

    def close(self) -> None: ...


def _removed(exc: BaseException) -> bool:
    text = f"{exc} {exc.__cause__ or ''}".lower()
    return "removed" in text or "no smart card" in text or "0x80100069" in text


class PcscReader:
    """A PC/SC reader (``reader_name`` prefix, None = the first reader)."""

    def __init__(self, reader_name: str | None = None, *, poll_s: float = 0.2) -> None:
        self.reader_name = reader_name
        self.poll_s = poll_s
        self._transport: emrtd.PcscTransport | None = None

    def wait_for_card(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while True:
            transport = emrtd.PcscTransport(self.reader_name)
            try:
                self._transport = transport.connect()
                return
            except emrtd.TransportError as e:
                last = e
                if "no pc/sc reader" in str(e).lower() or "unavailable" in str(e).lower():
                    raise ReaderError(str(e)) from e
            except ImportError as e:  # pragma: no cover - pyscard is in the stack
                raise ReaderError("pyscard is not installed") from e
            except Exception as e:  # pyscard's own exceptions (no pcscd: EstablishContextException)
                if type(e).__module__.startswith("smartcard"):
                    raise ReaderError(f"PC/SC unavailable: {e}") from e
                raise
            if time.monotonic() >= deadline:
                raise NoCardError(f"no card presented within {timeout:.0f} s") from last
            time.sleep(self.poll_s)

    def transmit(self, apdu: bytes) -> bytes:
        if self._transport is None:
            raise NoCardError("no card: call wait_for_card() first")
        try:
            return self._transport.transmit(apdu)
        except emrtd.TransportError as e:
            if _removed(e):
                raise CardRemovedError("the card was removed during the read") from e
            raise ReaderError(f"reader failure: {e}") from e
        except Exception as e:
            if type(e).__module__.startswith("smartcard"):
                if _removed(e):
                    raise CardRemovedError("the card was removed during the read") from e
                raise ReaderError(f"reader failure: {e}") from e
            raise

    @property
    def atr(self) -> bytes:
        if self._transport is None:
            raise NoCardError("no card")
        return self._transport.atr

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None


class SimulatedReader:
    """An in-process reader. ``present(card)`` places a chip (VirtualChip, IssuedDocument or any
    object with ``transmit``); ``remove()`` takes it away; ``remove_after(n)`` makes the card leave
    after ``n`` more APDUs (a traveller pulling the passport too early); ``fail_after(n)`` makes the
    reader itself fail (a hardware fault)."""

    def __init__(self, card=None, *, keep_log: bool = False) -> None:
        self.keep_log = keep_log
        self._cond = threading.Condition()
        self._transport: emrtd.InProcessTransport | None = None
        self._remove_after: int | None = None
        self._fail_after: int | None = None
        self.presentations = 0
        if card is not None:
            self.present(card)

    def present(self, card) -> None:
        chip = card.chip() if isinstance(card, emrtd.IssuedDocument) else card
        if hasattr(chip, "reset"):
            chip.reset()
        with self._cond:
            self._transport = emrtd.InProcessTransport(chip, keep_log=self.keep_log)
            self.presentations += 1
            self._cond.notify_all()

    def remove(self) -> None:
        with self._cond:
            self._transport = None
            self._remove_after = None

    def remove_after(self, apdus: int) -> None:
        self._remove_after = apdus

    def fail_after(self, apdus: int) -> None:
        self._fail_after = apdus

    @property
    def card_present(self) -> bool:
        return self._transport is not None

    @property
    def apdu_count(self) -> int:
        return self._transport.apdu_count if self._transport else 0

    def wait_for_card(self, timeout: float = 30.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self._transport is not None, timeout=timeout):
                raise NoCardError(f"no card presented within {timeout:.1f} s")

    def transmit(self, apdu: bytes) -> bytes:
        if self._fail_after is not None:
            if self._fail_after <= 0:
                raise ReaderError("simulated reader fault")
            self._fail_after -= 1
        if self._remove_after is not None:
            if self._remove_after <= 0:
                self.remove()
                raise CardRemovedError("the card was removed during the read")
            self._remove_after -= 1
        transport = self._transport
        if transport is None:
            raise CardRemovedError("no card in the field")
        return transport.transmit(apdu)

    def close(self) -> None:
        self.remove()
