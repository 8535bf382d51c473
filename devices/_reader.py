"""Chip readers: the ``ChipReader`` port (:mod:`devices.ports`: ``wait_for_card()``,
``transmit(apdu) -> bytes``, ``wait_for_removal()``, ``close()``); both readers also have a
``card_present`` property.

- :class:`PcscReader`: a PC/SC reader via pyscard (through :class:`emrtd.PcscTransport`), e.g. a
  real ISO/IEC 14443 reader, or vsmartcard's virtual reader fed by ``emrtd.sim.VpcdCard``.
- The in-process reader a virtual chip is placed on, ``SimulatedReader``, is in :mod:`devices.sim`.

Card presence on a PC/SC reader is asked from the resource manager (``SCardGetStatusChange``:
``SCARD_STATE_PRESENT`` in the reader's event state, PC/SC part 5 / pcsc-lite), never by sending an
APDU, so asking does not disturb a read in progress and works while another process holds the card.

Errors: :class:`NoCardError` (nothing presented in time), :class:`CardRemovedError` (the card left
the field), :class:`ReaderError` (anything else: no PC/SC service, the reader unplugged). The emrtd
protocols only see ``transmit``.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator

import emrtd
from devices.ports import CardRemovedError, NoCardError, ReaderError

__all__ = ["PcscReader"]


def _removed(exc: BaseException) -> bool:
    text = f"{exc} {exc.__cause__ or ''}".lower()
    return "removed" in text or "no smart card" in text or "0x80100069" in text


def _scard():
    try:
        from smartcard import scard
    except ImportError as e:  # pragma: no cover - pyscard is in the stack
        raise ReaderError("pyscard is not installed") from e
    return scard


def _scard_error(scard, hresult: int) -> str:
    try:
        return f"{scard.SCardGetErrorMessage(hresult)} (0x{hresult & 0xFFFFFFFF:08X})"
    except Exception:  # noqa: BLE001 - only the message is at stake
        return f"0x{hresult & 0xFFFFFFFF:08X}"


class PcscReader:
    """A PC/SC reader (``reader_name`` prefix, None = the first reader).

    ``card_present`` and ``wait_for_removal`` watch the reader the card was connected in (after
    :meth:`wait_for_card`), else the first reader matching ``reader_name``. Once the card has left,
    ``wait_for_removal`` drops the stale connection; the next :meth:`wait_for_card` connects afresh.
    """

    def __init__(self, reader_name: str | None = None, *, poll_s: float = 0.2) -> None:
        self.reader_name = reader_name
        self.poll_s = poll_s
        self._transport: emrtd.PcscTransport | None = None

    # -- card presence, from the PC/SC resource manager ------------------------------------------

    @contextlib.contextmanager
    def _context(self) -> Iterator[tuple[object, int]]:
        """A PC/SC context of its own (never the connection's: a blocking status wait on a shared
        context would hold up transmit)."""
        scard = _scard()
        try:
            hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        except Exception as e:  # noqa: BLE001 - the SWIG layer's own errors
            raise ReaderError(f"PC/SC unavailable: {e}") from e
        if hresult != scard.SCARD_S_SUCCESS:
            raise ReaderError(f"PC/SC unavailable: {_scard_error(scard, hresult)}")
        try:
            yield scard, context
        finally:
            scard.SCardReleaseContext(context)

    def _watched(self, scard, context) -> str:
        if self._transport is not None and self._transport.reader_name:
            return self._transport.reader_name
        hresult, names = scard.SCardListReaders(context, [])
        if hresult not in (scard.SCARD_S_SUCCESS, getattr(scard, "SCARD_E_NO_READERS_AVAILABLE", None)):
            raise ReaderError(f"cannot list PC/SC readers: {_scard_error(scard, hresult)}")
        names = list(names or [])
        chosen = [n for n in names if self.reader_name is None or n.startswith(self.reader_name)]
        if not chosen:
            raise ReaderError(f"no PC/SC reader matching {self.reader_name!r} (readers: {', '.join(names) or 'none'})")
        return chosen[0]

    @staticmethod
    def _status(scard, context, reader: str, current: int, timeout_ms: int) -> int | None:
        """The reader's event state once it differs from ``current`` (None when ``timeout_ms`` passed)."""
        hresult, states = scard.SCardGetStatusChange(context, timeout_ms, [(reader, current)])
        if hresult == scard.SCARD_E_TIMEOUT:
            return None
        if hresult != scard.SCARD_S_SUCCESS:
            raise ReaderError(f"cannot get the state of reader {reader!r}: {_scard_error(scard, hresult)}")
        state = states[0][1]
        if state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
            raise ReaderError(f"reader {reader!r} is gone or unavailable (state 0x{state:X})")
        return state

    @property
    def card_present(self) -> bool:
        """True when a card is in the reader's field (``SCARD_STATE_PRESENT``, mute cards included)."""
        with self._context() as (scard, context):
            reader = self._watched(scard, context)
            state = self._status(scard, context, reader, scard.SCARD_STATE_UNAWARE, 0)
        if state is None:  # an UNAWARE query answers at once; never report "no card" on a non-answer
            raise ReaderError(f"reader {reader!r} did not report its state")
        return bool(state & scard.SCARD_STATE_PRESENT)

    def wait_for_removal(self, timeout: float) -> bool:
        """Block until no card is in the field: True (at once when none is), False after ``timeout``
        seconds with the card still there. ReaderError when PC/SC or the reader itself fails."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._context() as (scard, context):
            reader = self._watched(scard, context)
            state = self._status(scard, context, reader, scard.SCARD_STATE_UNAWARE, 0)
            if state is None:
                raise ReaderError(f"reader {reader!r} did not report its state")
            while state & scard.SCARD_STATE_PRESENT:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                state = self._status(scard, context, reader, state & ~scard.SCARD_STATE_CHANGED,
                                     max(1, math.ceil(remaining * 1000)))
                if state is None:
                    return False
        self._drop_transport()
        return True

    def _drop_transport(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            try:
                transport.close()
            except Exception as e:  # noqa: BLE001 - a card already gone may refuse the disconnect
                if not (isinstance(e, emrtd.TransportError) or type(e).__module__.startswith("smartcard")):
                    raise

    # -- the card ----------------------------------------------------------------------------------

    def wait_for_card(self, timeout: float = 30.0) -> None:
        self._drop_transport()  # a connection to an earlier card is stale
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while True:
            transport = emrtd.PcscTransport(self.reader_name)
            try:
                self._transport = transport.connect()
                last = None  # break the traceback -> frame -> last cycle that keeps a failed attempt's PC/SC context
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
        self._drop_transport()
