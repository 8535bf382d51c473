"""Card presence and removal: the simulated reader, and a real pcscd with vsmartcard's virtual reader (vpcd)."""

from __future__ import annotations

import threading
import time

import pytest

from devices import NoCardError, PcscReader, ReaderError
from devices.sim import SimulatedReader
from emrtd.sim import VPCD_PORT, VpcdCard, VpcdError
from tests.emrtd.test_chip import make_chip
from tests.emrtd.test_vpcd import pcscd  # noqa: F401 - the fixture: a running pcscd, or a skip with the reason

# vpcd's second slot (its own port, 35963 + 1), so this test's card never meets tests/emrtd's in slot 00
VPCD_READER, VPCD_PORT = "Virtual PCD 00 01", VPCD_PORT + 1
SELECT_MF = bytes.fromhex("00A4000C023F00")


def test_simulated_reader_wait_for_removal():
    reader = SimulatedReader()
    assert reader.wait_for_removal(0) is True  # nothing in the field
    reader.present(make_chip())
    t0 = time.monotonic()
    assert reader.wait_for_removal(0.2) is False and time.monotonic() - t0 >= 0.18
    assert reader.card_present
    threading.Timer(0.2, reader.remove).start()
    t0 = time.monotonic()
    assert reader.wait_for_removal(5.0) is True
    assert 0.1 < time.monotonic() - t0 < 2.0 and not reader.card_present


def test_simulated_reader_removal_mid_read_wakes_a_waiter():
    reader = SimulatedReader(make_chip())
    reader.remove_after(0)
    done = []
    waiter = threading.Thread(target=lambda: done.append(reader.wait_for_removal(5.0)))
    waiter.start()
    time.sleep(0.05)
    with pytest.raises(ReaderError):
        reader.transmit(SELECT_MF)  # the traveller pulls the document
    waiter.join(timeout=2)
    assert done == [True]


def _serve_card() -> VpcdCard:
    try:
        return VpcdCard(make_chip(), port=VPCD_PORT).start()
    except VpcdError as e:
        pytest.skip(f"vpcd not reachable: {e}")


def _until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_pcsc_card_presence_and_removal_through_vpcd(pcscd):  # noqa: F811
    reader = PcscReader(VPCD_READER)
    assert reader.card_present is False  # vpcd's reader is empty until a card connects
    assert reader.wait_for_removal(0.1) is True
    card = _serve_card()
    try:
        reader.wait_for_card(timeout=10)
        assert reader.card_present is True
        assert reader.transmit(SELECT_MF)[-2:] == b"\x90\x00"
        t0 = time.monotonic()
        assert reader.wait_for_removal(0.3) is False  # the card stays: a timeout, not a hang
        assert 0.25 <= time.monotonic() - t0 < 2.0
        assert reader.card_present is True  # asking did not disturb the card
        assert reader.transmit(SELECT_MF)[-2:] == b"\x90\x00"
        threading.Timer(0.3, card.stop).start()  # the traveller takes the document away
        t0 = time.monotonic()
        assert reader.wait_for_removal(10.0) is True
        assert time.monotonic() - t0 < 5.0
        assert reader.card_present is False
        with pytest.raises(NoCardError):  # the stale connection was dropped
            reader.transmit(SELECT_MF)
    finally:
        card.stop()
    card = _serve_card()  # a second traveller: the same reader object connects afresh
    try:
        assert _until(lambda: reader.card_present)
        reader.wait_for_card(timeout=10)
        assert reader.transmit(SELECT_MF)[-2:] == b"\x90\x00"
    finally:
        card.stop()
        reader.close()
    assert _until(lambda: not reader.card_present)


def test_pcsc_presence_of_an_unknown_reader_is_a_reader_error(pcscd):  # noqa: F811
    with pytest.raises(ReaderError, match="no PC/SC reader matching"):
        PcscReader("no-such-reader-xyz").card_present  # noqa: B018 - the property asks PC/SC
    with pytest.raises(ReaderError):
        PcscReader("no-such-reader-xyz").wait_for_removal(0.1)  # never "removed" for a reader that is not there
