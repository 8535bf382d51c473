"""SerialMrzReader end to end through a pseudo-terminal: the test writes what a page reader sends at the master
side (lines CR/LF/CRLF-terminated, STX/ETX frames, prefixes, split writes), the adapter reads the slave as it
reads /dev/ttyACM0. Garbage, cut documents, wrong lengths, failing check digits, silence and a port that goes
away are named errors, never a partial MRZ."""

from __future__ import annotations

import os
import threading
import time
import tty

import pytest

from devices import (
    MrzCheckDigitFailed,
    MrzDataError,
    MrzGarbled,
    MrzIncomplete,
    MrzReadCancelled,
    MrzReaderUnavailable,
    MrzReadTimeout,
    MrzSource,
    MrzWrongLength,
    SerialMrzReader,
)
from tests.devices.mrz_specimens import LAYOUTS, TD1, TD1_OTHER, TD2, TD3, bad_check_digit, flat

pytest.importorskip("serial", reason="SerialMrzReader needs pyserial")


class Pty:
    """A pseudo-terminal: ``path`` is the page reader's port, :meth:`send` writes at the reader's end."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)

    def send(self, data: str | bytes, *, delay: float = 0.0) -> None:
        os.write(self.master, data.encode("latin-1") if isinstance(data, str) else data)
        if delay:
            time.sleep(delay)

    def send_later(self, chunks: list[str], gap: float) -> threading.Thread:
        def run() -> None:
            for chunk in chunks:
                time.sleep(gap)
                self.send(chunk)

        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def unplug(self) -> None:
        if self.master is not None:
            os.close(self.master)
            self.master = None

    def close(self) -> None:
        self.unplug()
        os.close(self.slave)


@pytest.fixture()
def pty():
    p = Pty()
    yield p
    p.close()


@pytest.fixture()
def reader(pty):
    r = SerialMrzReader(pty.path, 9600, timeout_s=1.0, line_gap_s=0.3)
    yield r
    r.release()


@pytest.mark.parametrize("layout", ["TD1", "TD2", "TD3"])
@pytest.mark.parametrize("ending", ["\r\n", "\r", "\n", "\n\r"])
def test_each_layout_with_each_line_ending_is_read_exactly(pty, reader, layout, ending):
    lines = LAYOUTS[layout]
    pty.send("".join(line + ending for line in lines))
    assert reader.read_mrz() == flat(lines)
    assert isinstance(reader, MrzSource)


def test_split_writes_and_a_last_line_without_its_ending(pty, reader):
    text = TD3[0] + "\r\n" + TD3[1]  # no CR LF after the last line: the reader's silence ends it
    chunks = [text[i:i + 7] for i in range(0, len(text), 7)]
    pty.send_later(chunks, 0.01)
    assert reader.read_mrz() == flat(TD3)
    pty.send_later([TD1[0] + "\r", "\n" + TD1[1][:3], TD1[1][3:] + "\r\n" + TD1[2], "\r\n"], 0.05)
    assert reader.read_mrz() == flat(TD1)


def test_stx_etx_frames_a_block_check_character_and_prefixes(pty, reader):
    pty.send("\x02" + "\r\n".join(TD3) + "\r\n\x03" + "\x7f")  # a BCC byte after ETX is ignored
    assert reader.read_mrz() == flat(TD3)
    pty.send("\x02" + "\r".join(TD1) + "\x03")  # the frame's last line ended by ETX alone
    assert reader.read_mrz() == flat(TD1)
    pty.send("".join(f"MRZ:{line}\r\n" for line in TD3))  # a short prefix ending in a non-MRZ character
    assert reader.read_mrz() == flat(TD3)
    pty.send("junk before the frame\x02" + "\r\n".join(TD1) + "\r\n\x03")  # an unended line before STX: junk
    assert reader.read_mrz() == flat(TD1)


def test_a_configured_prefix_and_two_documents_waiting_the_most_recent_wins(pty):
    r = SerialMrzReader(pty.path, timeout_s=1.0, line_gap_s=0.3, prefix="A")
    try:
        pty.send("".join(f"A{line}\r\n" for line in TD3) + "".join(f"A{line}\r\n" for line in TD1))
        time.sleep(0.1)
        assert r.read_mrz() == flat(TD1)  # an older document left unread is not this traveller's
        with pytest.raises(MrzReadTimeout):
            r.read_mrz(timeout_s=0.2)
        pty.send("".join(f"A{line}\r\n" for line in TD2) + "OK\r\n")  # a line after it: the newest, not an MRZ
        with pytest.raises(MrzWrongLength):  # never the older document (a status line must be switched off)
            r.read_mrz()
        with pytest.raises(MrzReadTimeout):  # the line went with it, not into the next read
            r.read_mrz(timeout_s=0.2)
    finally:
        r.release()


@pytest.mark.parametrize("after, error", [
    ("\r\n" + TD2[0] + "\r\nGARBAGE!" + "<" * 28 + "\r\n", MrzGarbled),  # the next document garbled
    (TD2[0] + "<<<\r\n", MrzWrongLength),  # the next document's line too long
    (TD1[0] + "\r\n", MrzIncomplete),  # the next document cut short (the page taken away)
    ("\r\n".join(bad_check_digit(TD1)) + "\r\n", MrzCheckDigitFailed),  # the next document misread
])
def test_a_newer_bad_document_is_its_error_never_the_older_one(pty, reader, after, error):
    pty.send("\r\n".join(TD3) + "\r\n" + after)
    time.sleep(0.1)
    with pytest.raises(error):
        reader.read_mrz()  # the traveller presents the document again; an older MRZ is never returned
    with pytest.raises(MrzReadTimeout):
        reader.read_mrz(timeout_s=0.3)


def _keep_sending(pty, text: str, every: float, stop: threading.Event) -> threading.Thread:
    def run() -> None:
        while not stop.wait(every):
            pty.send(text)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_a_read_ends_within_its_bound_whatever_the_device_keeps_sending(pty, reader):
    # reader: timeout_s=1.0, line_gap_s=0.3; bound: the time-out + max(2 s, 4 line gaps) + a line gap
    stop = threading.Event()
    try:
        pty.send(TD3[0] + "\r\n")  # a line, then keepalives (NUL) every 0.1 s: not an MRZ character
        sender = _keep_sending(pty, "\x00", 0.1, stop)
        t0 = time.monotonic()
        with pytest.raises(MrzIncomplete):
            reader.read_mrz()
        assert time.monotonic() - t0 < 1.5  # one line gap after the line, not when the keepalives stop
        stop.set()
        sender.join()
        stop.clear()
        pty.send("\x02")  # an open frame that drips one filler every 0.1 s and never ends
        sender = _keep_sending(pty, "<", 0.1, stop)
        t0 = time.monotonic()
        with pytest.raises(MrzDataError):
            reader.read_mrz()
        assert time.monotonic() - t0 < 1.0 + 2.0 + 0.3 + 1.2  # (the drip alone would go on for 12.8 s)
    finally:
        stop.set()


def test_discard_drops_what_waits_and_the_next_read_takes_a_new_document(pty, reader):
    pty.send("\r\n".join(TD3) + "\r\n" + TD1[0] + "\r\n")  # a document and part of another, unread
    time.sleep(0.1)
    reader.discard()  # a new traveller
    with pytest.raises(MrzReadTimeout):
        reader.read_mrz(timeout_s=0.3)
    pty.send_later(["\r\n".join(TD2) + "\r\n"], 0.1)
    reader.discard()
    assert reader.read_mrz() == flat(TD2)  # placed after the discard: read


def test_discard_never_waits_for_a_read_in_progress_elsewhere(pty, reader):
    outcome = []
    t = threading.Thread(target=lambda: outcome.append(pytest.raises(MrzReadTimeout, reader.read_mrz, 0.6)))
    t.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    reader.discard()  # the kiosk's UI thread starting a new traveller while an abandoned read still waits
    assert time.monotonic() - t0 < 0.05
    t.join()
    pty.send("\r\n".join(TD3) + "\r\n")  # placed after the discard and after that read ended: the next one's
    time.sleep(0.1)
    assert reader.read_mrz(timeout_s=0.5) == flat(TD3)
    assert len(outcome) == 1


def test_nothing_on_the_reader_is_a_timeout_within_its_bounds(reader):
    t0 = time.monotonic()
    with pytest.raises(MrzReadTimeout, match="no document"):
        reader.read_mrz(timeout_s=0.3)
    assert 0.25 < time.monotonic() - t0 < 1.0


def test_garbage_is_garbled_and_the_rest_of_it_is_thrown_away(pty, reader):
    pty.send("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\r\nl898902c36uto7408122f1204159ze184226b<<<<<10\r\n")
    with pytest.raises(MrzGarbled, match="outside the MRZ alphabet"):
        reader.read_mrz()
    pty.send("\x00\xff\xfe" * 60)  # line noise without a line end
    with pytest.raises(MrzGarbled, match="without a line end"):
        reader.read_mrz()
    pty.send("".join(line + "\r\n" for line in TD3))  # the next swipe reads
    assert reader.read_mrz() == flat(TD3)


def test_a_garbled_first_line_does_not_leave_its_second_for_the_next_read(pty, reader):
    pty.send_later(["P<UTO?RIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\r\n", TD3[1] + "\r\n"], 0.1)
    with pytest.raises(MrzGarbled):
        reader.read_mrz()
    with pytest.raises(MrzReadTimeout):  # the second line went with the garbled document
        reader.read_mrz(timeout_s=0.3)


@pytest.mark.parametrize("text, error, message", [
    (TD3[0] + "\r\n" + TD3[1][:-1] + "\r\n", MrzWrongLength, "line 2 from the page reader has 43 characters: an MRZ"),
    (TD3[0] + "\r\n" + TD3[1][:36] + "\r\n", MrzWrongLength, "line 2 from the page reader has 36 characters, line 1 44"),
    (TD3[0][:40] + "\r\n", MrzWrongLength, "line 1 from the page reader has 40 characters"),
    (TD1[0] + "\r\n" + TD3[1] + "\r\n", MrzWrongLength, "not one MRZ layout"),
    ("\x02" + "\r\n".join(TD3 + TD3[1:]) + "\r\n\x03", MrzWrongLength, "more than 2 lines"),
    ("\x02" + TD3[0] + "\r\n\x03", MrzIncomplete, "frame holds 1 of the MRZ's 2 lines"),
    ("\x02" + TD1[0] + "\r\n\x02" + "\r\n".join(TD1) + "\x03", MrzIncomplete, "new document"),
], ids=["43", "44+36", "40", "30+44", "3x44", "cut-frame", "restarted-frame"])
def test_wrong_lengths_and_cut_frames_are_named(pty, reader, text, error, message):
    pty.send(text)
    with pytest.raises(error, match=message):
        reader.read_mrz()


def test_a_frame_cut_short_by_the_next_frame_is_incomplete_and_the_next_is_read(pty, reader):
    pty.send("\x02" + TD1[0] + "\r\n" + "\x02" + "\r\n".join(TD3) + "\r\n\x03")
    with pytest.raises(MrzIncomplete, match="new document"):
        reader.read_mrz()
    assert reader.read_mrz() == flat(TD3)


def test_a_card_that_lost_its_last_line_is_never_completed_by_the_next_cards_first(pty, reader):
    pty.send("\r\n".join([TD1[0], TD1[1], *TD1_OTHER]) + "\r\n")  # card X without its name line, then card Y
    with pytest.raises(MrzIncomplete, match="new document"):
        reader.read_mrz()
    assert reader.read_mrz() == flat(TD1_OTHER)  # card Y, whole; never X's lines with Y's first


def test_a_reader_that_stops_mid_document_is_incomplete_never_a_partial_mrz(pty, reader):
    pty.send(TD1[0] + "\r\n" + TD1[1] + "\r\n")  # two of TD1's three lines, then silence
    t0 = time.monotonic()
    with pytest.raises(MrzIncomplete, match="stopped after 2 of the MRZ's 3 lines"):
        reader.read_mrz()
    assert time.monotonic() - t0 < 2.5


@pytest.mark.parametrize("layout", ["TD1", "TD2", "TD3"])
def test_a_failing_check_digit_is_named_and_nothing_is_returned(pty, reader, layout):
    pty.send("\r\n".join(bad_check_digit(LAYOUTS[layout])) + "\r\n")
    with pytest.raises(MrzCheckDigitFailed, match="document_number") as info:
        reader.read_mrz()
    assert LAYOUTS[layout][0] not in str(info.value)  # the MRZ is personal data: not in the message


def test_an_impossible_field_is_a_data_error(pty, reader):
    bad = TD3[1][:13] + "741312" + "0" + TD3[1][20:]  # birth month 13 (its check digit matches: 0)
    from emrtd import check_digit

    bad = bad[:19] + check_digit(bad[13:19]) + bad[20:]
    composite = bad[0:10] + bad[13:20] + bad[21:43]
    bad = bad[:43] + check_digit(composite)
    pty.send(TD3[0] + "\r\n" + bad + "\r\n")
    with pytest.raises(MrzDataError) as info:
        reader.read_mrz()
    assert not isinstance(info.value, MrzCheckDigitFailed)
    assert "date_of_birth" in str(info.value) and info.value.__cause__ is None  # emrtd's cause quotes the MRZ
    assert info.value.__suppress_context__ and "741312" not in str(info.value)
    pty.send("\r\n".join(bad_check_digit(TD3)) + "\r\n")
    with pytest.raises(MrzCheckDigitFailed) as info:
        reader.read_mrz()
    assert "document_number" in str(info.value) and info.value.__cause__ is None


def test_a_block_check_character_of_any_value_and_controls_inside_a_line(pty, reader):
    for bcc in ("\x02", "\x03", "A", "\r"):  # the byte after a frame's ETX, whatever it is, even STX
        pty.send("\x02" + "\r\n".join(TD1) + "\r\n\x03" + bcc)
        assert reader.read_mrz() == flat(TD1)
        with pytest.raises(MrzReadTimeout):
            reader.read_mrz(timeout_s=0.4)  # nothing left over (a BCC of 0x02 opened a frame that never ended)
    pty.send("\x02" + "\r\n".join(TD1) + "\r\n\x03")  # no BCC, and after a silence the next frame's STX counts
    assert reader.read_mrz() == flat(TD1)
    pty.send_later(["\x02" + "\r\n".join(TD2) + "\r\n\x03"], 0.6)
    assert reader.read_mrz() == flat(TD2)
    for noise in ("\x00", "\x7f", "\t"):
        pty.send(TD3[0][:20] + noise + TD3[0][20:] + "\r\n" + TD3[1] + "\r\n")  # was dropped: the line read
        with pytest.raises(MrzGarbled):
            reader.read_mrz()
    pty.send("\x00\t " + TD3[0] + "\x00\r\n" + TD3[1] + "\x7f\r\n")  # around a line: nothing
    assert reader.read_mrz() == flat(TD3)


def test_only_standard_baud_rates(pty):
    for baud in (0, 9601, True, 10**30):
        with pytest.raises(MrzReaderUnavailable, match="baud rate must be one of"):
            SerialMrzReader(pty.path, baud)
    SerialMrzReader(pty.path, 115200).release()


def test_cancel_ends_a_waiting_read(reader):
    threading.Timer(0.2, reader.cancel).start()
    t0 = time.monotonic()
    with pytest.raises(MrzReadCancelled):
        reader.read_mrz(timeout_s=5.0)
    assert time.monotonic() - t0 < 1.0


def test_a_port_that_vanishes_is_unavailable_and_a_missing_one_too(pty, reader, tmp_path):
    pty.send(TD3[0] + "\r\n")
    pty.unplug()  # the reader is unplugged mid-document
    with pytest.raises(MrzReaderUnavailable, match="went away"):
        reader.read_mrz()
    with pytest.raises(MrzReaderUnavailable, match="cannot open"):
        SerialMrzReader(str(tmp_path / "ttyACM9"))


def test_a_reader_unplugged_and_plugged_back_reads_again(tmp_path):
    first = Pty()
    link = tmp_path / "ttyACM0"  # the stable name (/dev/serial/by-id/...) of the reader
    link.symlink_to(first.path)
    r = SerialMrzReader(str(link), timeout_s=0.5, line_gap_s=0.2)
    try:
        first.unplug()
        with pytest.raises(MrzReaderUnavailable):
            r.read_mrz()
        second = Pty()
        link.unlink()
        link.symlink_to(second.path)
        second.send_later(["\r\n".join(TD2) + "\r\n"], 0.2)  # after the reopening (which flushes the input)
        assert r.read_mrz() == flat(TD2)  # reopened by the next read
        second.close()
    finally:
        r.release()
        first.close()
