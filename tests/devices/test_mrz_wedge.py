"""KeyboardWedgeMrzReader: the decoder fed real evdev InputEvents (Shift, '<', digits, letters, Enter; TD1's
three lines, TD2's and TD3's two; garbage), the reading loop over a stand-in event device (a pipe: timeouts,
cancel, a device that goes away, one another program holds), and end to end through /dev/uinput where it exists
(skipped, with the reason, where it does not)."""

from __future__ import annotations

import errno
import os
import threading
import time

import pytest

from devices import (
    KeyboardWedgeMrzReader,
    MrzCheckDigitFailed,
    MrzGarbled,
    MrzIncomplete,
    MrzReadCancelled,
    MrzReaderUnavailable,
    MrzReadTimeout,
    MrzWrongLength,
    WedgeDecoder,
)
from devices._mrz_lines import MrzLineAssembler, checked_mrz
from tests.devices.mrz_specimens import LAYOUTS, TD1, TD2, TD3, bad_check_digit, flat
from tests.devices.wedge_keys import PipeDevice, e, evdev, events, strokes, type_later, typed, uinput_keyboard


def decode(evs) -> str:
    decoder = WedgeDecoder()
    return "".join(decoder.feed(ev) for ev in evs)


def assemble(text: str) -> str:
    """The decoded text through the adapters' line assembly and check (what read_mrz does with it)."""
    asm = MrzLineAssembler()
    for ch in text:
        lines = asm.push(ch)
        if lines is not None:
            return checked_mrz(lines)
    lines = asm.flush()
    if lines is None:
        raise AssertionError("no MRZ")
    return checked_mrz(lines)


# -- the decoder, with real InputEvent objects -------------------------------------------------------------
@pytest.mark.parametrize("layout", ["TD1", "TD2", "TD3"])
def test_the_events_of_each_layout_decode_to_its_lines_and_assemble_to_its_mrz(layout):
    lines = LAYOUTS[layout]
    evs = typed(lines)
    assert all(isinstance(ev, evdev.InputEvent) for ev in evs)
    assert decode(evs) == "".join(line + "\r" for line in lines)
    assert assemble(decode(evs)) == flat(lines)


def test_letters_are_upper_case_shifted_or_not_and_lt_comes_from_either_key():
    assert decode(events(strokes("P<UTO", shift_letters=False))) == "P<UTO"
    assert decode(events(strokes("P<UTO", angle="102nd"))) == "P<UTO"
    keypad = [(e.KEY_KP7, 1), (e.KEY_KP7, 0), (e.KEY_KP4, 1), (e.KEY_KP4, 0), (e.KEY_KPENTER, 1), (e.KEY_KPENTER, 0)]
    assert decode(events(keypad)) == "74\r"
    right_shift = [(e.KEY_RIGHTSHIFT, 1), (e.KEY_COMMA, 1), (e.KEY_COMMA, 0), (e.KEY_RIGHTSHIFT, 0), (e.KEY_COMMA, 1)]
    assert decode(events(right_shift)) == "<,"  # Shift released: a plain comma (not an MRZ character)
    caps = [(e.KEY_CAPSLOCK, 1), (e.KEY_CAPSLOCK, 0), (e.KEY_A, 1), (e.KEY_A, 0)]
    assert decode(events(caps)) == "A"  # Caps Lock changes nothing: letters are upper case
    repeat = [(e.KEY_LEFTSHIFT, 1), (e.KEY_COMMA, 1), (e.KEY_COMMA, 2), (e.KEY_COMMA, 2), (e.KEY_COMMA, 0)]
    assert decode(events(repeat)) == "<<<"  # auto-repeat types again, as on any keyboard


def test_control_keys_frame_and_end_lines():
    ctrl = [(e.KEY_LEFTCTRL, 1), (e.KEY_B, 1), (e.KEY_B, 0), (e.KEY_LEFTCTRL, 0)]
    end = [(e.KEY_LEFTCTRL, 1), (e.KEY_C, 1), (e.KEY_C, 0), (e.KEY_J, 1), (e.KEY_J, 0), (e.KEY_LEFTCTRL, 0)]
    text = decode(events(ctrl + strokes("\r".join(TD2)) + end))
    assert text == "\x02" + "\r".join(TD2) + "\x03\n"
    assert assemble(text) == flat(TD2)


@pytest.mark.parametrize("garbage", [
    [(e.KEY_LEFTSHIFT, 1), (e.KEY_1, 1), (e.KEY_1, 0), (e.KEY_LEFTSHIFT, 0)],  # '!'
    [(e.KEY_F1, 1), (e.KEY_F1, 0)],
    [(e.KEY_LEFTALT, 1), (e.KEY_A, 1), (e.KEY_A, 0), (e.KEY_LEFTALT, 0)],
    [(e.KEY_LEFTCTRL, 1), (e.KEY_Z, 1), (e.KEY_Z, 0), (e.KEY_LEFTCTRL, 0)],
    [(e.KEY_DOT, 1), (e.KEY_DOT, 0)],
], ids=["shifted-digit", "F1", "alt", "ctrl-z", "dot"])
def test_keys_with_no_place_in_an_mrz_garble_the_line(garbage):
    pairs = strokes(TD3[0][:20]) + garbage + strokes(TD3[0][21:] + "\r" + TD3[1] + "\r")
    text = decode(events(pairs))
    assert len(text) == 44 + 1 + 44 + 1  # one character for the garbage key, where the MRZ's was
    with pytest.raises(MrzGarbled, match="line 1 .* outside the MRZ alphabet .* first at position 21"):
        assemble(text)


def test_dropped_events_are_garbled():
    decoder = WedgeDecoder()
    with pytest.raises(MrzGarbled, match="dropped"):
        decoder.feed(evdev.InputEvent(0, 0, e.EV_SYN, e.SYN_DROPPED, 0))


def test_short_and_long_lines_and_failing_check_digits_after_decoding():
    with pytest.raises(MrzWrongLength, match="43 characters"):
        assemble(decode(typed([TD3[0][:-1], TD3[1]])))
    with pytest.raises(MrzIncomplete, match="2 of the MRZ's 3 lines"):
        assemble(decode(typed(TD1[:2])))
    with pytest.raises(MrzCheckDigitFailed):
        assemble(decode(typed(bad_check_digit(TD1))))


# -- the reading loop, over a stand-in event device ----------------------------------------------------------
@pytest.fixture()
def pipe_device(monkeypatch):
    PipeDevice.instances.clear()
    PipeDevice.busy = False
    PipeDevice.limit = None
    monkeypatch.setattr(evdev, "InputDevice", PipeDevice)
    return PipeDevice


def test_the_reader_grabs_the_device_and_reads_each_layout(pipe_device):
    reader = KeyboardWedgeMrzReader("/dev/input/by-id/usb-reader-event-kbd", timeout_s=1.0, line_gap_s=0.2)
    dev = pipe_device.instances[-1]
    assert dev.grabbed  # from the start: its keystrokes never reach the kiosk's UI
    for lines in (TD1, TD2, TD3):
        dev.send(typed(lines))
        assert reader.read_mrz() == flat(lines)
    half = typed(TD1)
    threading.Timer(0.05, dev.send, (half[: len(half) // 2],)).start()
    threading.Timer(0.15, dev.send, (half[len(half) // 2:],)).start()
    assert reader.read_mrz() == flat(TD1)  # typed in two bursts
    reader.release()
    assert not dev.grabbed and dev.closed


def test_a_document_typed_while_no_read_runs_is_read_whole_and_closing_stops_the_draining(pipe_device):
    pipe_device.limit = 64  # the kernel keeps 64 events per reader; a TD3 MRZ typed is ~540
    reader = KeyboardWedgeMrzReader("/dev/input/event7", timeout_s=1.0, line_gap_s=0.2)
    dev = pipe_device.instances[-1]
    for lines in (TD3, TD1):
        evs = typed(lines)
        for i in range(0, len(evs), 12):  # typed at a wedge's pace (a key in 12 events every 10 ms) unread
            dev.send(evs[i:i + 12])
            time.sleep(0.01)
        time.sleep(0.5)  # the traveller swiped, the kiosk asks later
        assert reader.read_mrz() == flat(lines)
    dev.send(typed(TD2[:1]))
    time.sleep(0.2)
    reader.discard()  # a new traveller: what waits in the queue is dropped
    with pytest.raises(MrzReadTimeout):
        reader.read_mrz(timeout_s=0.3)
    drainer = reader._drainer
    reader.release()
    assert not drainer.is_alive() and dev.closed and not dev.grabbed


def test_more_events_waiting_than_the_queue_holds_are_garbled(pipe_device, monkeypatch):
    import devices._mrz_wedge as wedge

    monkeypatch.setattr(wedge, "MAX_QUEUED", 100)
    reader = KeyboardWedgeMrzReader("/dev/input/event7", timeout_s=1.0, line_gap_s=0.2)
    pipe_device.instances[-1].send(typed(TD3))
    time.sleep(0.2)
    with pytest.raises(MrzGarbled, match="waited unread"):
        reader.read_mrz()
    reader.release()


def test_silence_garbage_and_cancel_are_named(pipe_device):
    reader = KeyboardWedgeMrzReader("/dev/input/event7", timeout_s=0.3, line_gap_s=0.2)
    dev = pipe_device.instances[-1]
    t0 = time.monotonic()
    with pytest.raises(MrzReadTimeout, match="no document on the keyboard-wedge page reader"):
        reader.read_mrz()
    assert time.monotonic() - t0 < 1.0
    dev.send(events(strokes(TD3[0] + "\r") + [(e.KEY_F1, 1), (e.KEY_F1, 0)] + strokes(TD3[1] + "\r")))
    with pytest.raises(MrzGarbled):
        reader.read_mrz()
    dev.send(typed(TD3[:1]))
    with pytest.raises(MrzIncomplete):
        reader.read_mrz()
    dev.send([evdev.InputEvent(0, 0, e.EV_SYN, e.SYN_DROPPED, 0)])
    with pytest.raises(MrzGarbled, match="dropped"):
        reader.read_mrz()
    threading.Timer(0.1, reader.cancel).start()
    with pytest.raises(MrzReadCancelled):
        reader.read_mrz(timeout_s=5.0)
    dev.send(typed(TD2))
    assert reader.read_mrz() == flat(TD2)  # and it reads again
    reader.release()


def test_a_device_that_goes_away_another_program_holds_or_is_missing(pipe_device):
    reader = KeyboardWedgeMrzReader("/dev/input/event7", timeout_s=0.5, line_gap_s=0.2)
    dev = pipe_device.instances[-1]
    dev.fail = OSError(errno.ENODEV, "No such device")
    dev.send(typed(TD3))
    with pytest.raises(MrzReaderUnavailable, match="went away"):
        reader.read_mrz()
    assert dev.closed
    again = threading.Timer(0.1, lambda: pipe_device.instances[-1].send(typed(TD3)))
    again.start()
    assert reader.read_mrz() == flat(TD3)  # plugged back: the next read opens and grabs it again
    assert pipe_device.instances[-1].grabbed
    reader.release()
    pipe_device.busy = True
    with pytest.raises(MrzReaderUnavailable, match="another program holds it"):
        KeyboardWedgeMrzReader("/dev/input/event7")
    assert pipe_device.instances[-1].closed
    with pytest.raises(MrzReaderUnavailable, match="cannot open"):
        KeyboardWedgeMrzReader("/nonexistent/event9")


# -- end to end through /dev/uinput --------------------------------------------------------------------------
def test_a_virtual_wedge_through_uinput_is_read_and_grabbed():
    ui = uinput_keyboard()
    try:
        time.sleep(0.2)  # udev creates the event node
        reader = KeyboardWedgeMrzReader(ui.device.path, timeout_s=2.0, line_gap_s=0.3)
        other = evdev.InputDevice(ui.device.path)  # another reader of the device (the kiosk's UI, a console)
        try:
            for lines in (TD1, TD3):
                typing = type_later(ui, strokes("".join(line + "\r" for line in lines)))
                assert reader.read_mrz() == flat(lines)
                typing.join()
            typing = type_later(ui, strokes(TD2[0] + "\r") + [(e.KEY_F1, 1), (e.KEY_F1, 0)] + strokes(TD2[1] + "\r"))
            with pytest.raises(MrzGarbled):
                reader.read_mrz()
            typing.join()
            os.set_blocking(other.fd, False)
            with pytest.raises(BlockingIOError):
                list(other.read())  # grabbed: no keystroke reached the other reader
        finally:
            other.close()
            reader.release()
    finally:
        ui.close()
