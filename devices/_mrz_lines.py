"""From the characters a page reader sends to the lines of one MRZ, checked: the part the serial and the
keyboard-wedge adapters share.

Full-page and swipe readers send the MRZ as text, a line at a time, each ended by CR, LF or CR LF (an empty
line is nothing), sometimes framed by STX (0x02) ... ETX (0x03), sometimes after a prefix (a configured one, or
a few characters such as ``MRZ:`` before the line). :class:`MrzLineAssembler` takes the characters one by one:

- a line of 30, 36 or 44 characters of the MRZ alphabet (``0-9 A-Z <``) is a line of the MRZ; the first line's
  length gives the layout: 3 lines of 30 (TD1), 2 of 36 (TD2, MRV-B) or 2 of 44 (TD3, MRV-A);
- without framing, the MRZ is complete when the layout's last line ends; within a frame, at ETX (a frame of
  fewer lines is :class:`MrzIncomplete`, of more :class:`MrzWrongLength`); the one character after a frame's
  ETX (its block check character, whatever its value, even 0x02) is ignored unless the reader falls silent
  first (:meth:`MrzLineAssembler.quiet`), and so is an unended line before STX;
- spaces and control characters around a line are nothing (keepalives); inside it (a NUL, DEL, tab) they garble it;
- each line must have its layout's fields (:data:`LINE_SYNTAX`: line 1 a document code, the TD1 line 2 the dates
  and sex, a name line letters and fillers only): no check digit covers the TD1 name line nor the TD2/TD3 line 1,
  so lines of two documents must never make one; a first line where a later one belongs is the next document
  (the last one is :class:`MrzIncomplete`, the new one goes on, as after STX);
- other characters make the line :class:`MrzGarbled`, another length :class:`MrzWrongLength`; nothing of
  such a document is kept;
- :meth:`MrzLineAssembler.flush` is the reader falling silent (no character for ``line_gap_s``): an unended last line is ended, and a document
  still short of lines is :class:`MrzIncomplete`.

:func:`checked_mrz` then parses the lines with emrtd (Doc 9303 check digits): a failing check digit is
:class:`MrzCheckDigitFailed`. Error messages name positions and lengths, never the MRZ's characters (they
are personal data and errors are logged).
"""

from __future__ import annotations

import re
import threading
import time

import emrtd
from devices.ports import (
    MrzCheckDigitFailed,
    MrzDataError,
    MrzGarbled,
    MrzIncomplete,
    MrzReadCancelled,
    MrzReaderUnavailable,
    MrzReadTimeout,
    MrzWrongLength,
)

__all__ = ["MrzLineAssembler", "TextMrzReader", "checked_mrz", "STX", "ETX", "LINES_OF_LENGTH"]

STX, ETX = "\x02", "\x03"
MRZ_ALPHABET = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<")
#: line length -> lines in the layout (TD1; TD2 and MRV-B; TD3 and MRV-A)
LINES_OF_LENGTH = {30: 3, 36: 2, 44: 2}
MAX_LINE = 128  # a "line" longer than this is a stream of garbage, not an MRZ line: bounded memory
_EDGE_NOISE = "".join(map(chr, range(33))) + "\x7f"  # spaces and controls around a line (keepalives): nothing
MAX_PREFIX = 8  # characters before the MRZ on a line that may be a reader's prefix ("MRZ:", "]M0", ...)

# Each line's syntax (Doc 9303 Parts 4-7), so that lines of two documents never make one: the TD1 name line and the
# TD2/TD3 line 1 have no check digit, and a line of the next document must not complete this one.
_NAME = r"[A-Z<]"
_DATES = r"\d{7}[MFX<]\d{7}"  # birth date, check digit, sex, expiry date, check digit
LINE_SYNTAX = {
    30: (re.compile(r"[ACI][A-Z<][A-Z<]{3}[A-Z0-9<]{25}"),  # TD1: code, state, number, check, optional
         re.compile(rf"{_DATES}[A-Z<]{{3}}[A-Z0-9<]{{11}}\d"),  # dates, sex, nationality, optional, composite
         re.compile(f"{_NAME}{{30}}")),  # the name: no check digit covers it
    36: (re.compile(r"[PVIAC][A-Z<][A-Z<]{3}[A-Z<]{31}"),  # TD2, MRV-B: code, state, name
         re.compile(rf"[A-Z0-9<]{{9}}[0-9<][A-Z<]{{3}}{_DATES}[A-Z0-9<]{{8}}")),
    44: (re.compile(r"[PVIAC][A-Z<][A-Z<]{3}[A-Z<]{39}"),  # TD3, MRV-A: code, state, name
         re.compile(rf"[A-Z0-9<]{{9}}[0-9<][A-Z<]{{3}}{_DATES}[A-Z0-9<]{{16}}")),
}


class MrzLineAssembler:
    """Characters in (:meth:`push`), the lines of one MRZ out; ``prefix``: a fixed string the reader puts
    before each line (stripped when present)."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self._in_frame = False
        self._after_frame = False
        self._line: list[str] = []
        self._lines: list[str] = []

    @property
    def started(self) -> bool:
        """A document is being received (a line or part of one, or an open frame)."""
        return self._in_frame or bool(self._lines) or any(c.isprintable() and not c.isspace() for c in self._line)

    def quiet(self) -> None:
        """The reader fell silent between documents: a block check character that did not come is not awaited."""
        self._after_frame = False

    def reset(self) -> None:
        """Forget the document being received."""
        self._in_frame = self._after_frame = False
        self._line.clear()
        self._lines.clear()

    def _fail(self, error: MrzDataError) -> MrzDataError:
        self.reset()
        return error

    def push(self, ch: str) -> list[str] | None:
        """One character; the MRZ's lines when this character completes a document. Raises the
        :class:`devices.ports.MrzDataError` of a document that cannot be an MRZ (and forgets it)."""
        if self._after_frame:  # the character after a frame's ETX: its block check character, whatever its value
            self._after_frame = False
            return None
        if ch == STX:
            partial = self._in_frame or bool(self._lines)  # an unended line before STX is junk, not a document
            self.reset()
            self._in_frame = True
            if partial:
                error = MrzIncomplete("the page reader started a new document before the last one was complete")
                error.new_document = True  # what follows is the new document: not thrown away with the old one
                raise error
            return None
        if ch == ETX:
            if not self._in_frame:
                return self.flush()  # ETX alone: the document's end
            done = self._close_frame()
            self._after_frame = True
            return done
        if ch in "\r\n":
            return self._end_line()
        self._line.append(ch)
        if len(self._line) > MAX_LINE:
            raise self._fail(MrzGarbled(f"the page reader sent more than {MAX_LINE} characters without a line end"))
        return None

    def flush(self) -> list[str] | None:
        """The reader fell silent: end the current line; the MRZ's lines if that completes a document,
        :class:`MrzIncomplete` if a document was started and is not complete, else None."""
        if self._in_frame:
            return self._close_frame()
        done = self._end_line()
        if done is not None:
            return done
        if self._lines:
            have, need = len(self._lines), LINES_OF_LENGTH[len(self._lines[0])]
            raise self._fail(MrzIncomplete(f"the page reader stopped after {have} of the MRZ's {need} lines"))
        return None

    def _close_frame(self) -> list[str]:
        self._end_line()  # within a frame a line never completes the document: ETX does
        lines = list(self._lines)
        if not lines:
            raise self._fail(MrzIncomplete("the page reader sent an empty frame (STX ... ETX without an MRZ line)"))
        need = LINES_OF_LENGTH[len(lines[0])]
        if len(lines) < need:
            raise self._fail(MrzIncomplete(f"the page reader's frame holds {len(lines)} of the MRZ's {need} lines"))
        self.reset()
        return lines

    def _end_line(self) -> list[str] | None:
        raw = "".join(self._line)
        self._line.clear()
        text = raw.strip(_EDGE_NOISE)  # controls inside the line stay: they garble it (a NUL, DEL or tab is no MRZ)
        if self.prefix and text.startswith(self.prefix):
            text = text[len(self.prefix):].strip()
        if not text:
            return None
        text = self._without_prefix(text)
        n = len(self._lines) + 1
        if len(text) not in LINES_OF_LENGTH:
            raise self._fail(MrzWrongLength(f"line {n} from the page reader has {len(text)} characters: an MRZ line "
                                            "has 30 (TD1), 36 (TD2, MRV-B) or 44 (TD3, MRV-A)"))
        syntax = LINE_SYNTAX[len(text)]
        k = len(self._lines)
        if k and k < LINES_OF_LENGTH[len(self._lines[0])] and syntax[0].fullmatch(text) and (
                len(text) != len(self._lines[0]) or not syntax[k].fullmatch(text)):
            # a first line where a later line of this document belongs: the next document (this one is cut short)
            self._lines[:] = [text]  # kept, as after STX: it goes on with the lines that follow
            error = MrzIncomplete(f"the page reader sent a new document's first line as line {n}: the last "
                                  "document was not complete")
            error.new_document = True
            raise error
        if self._lines and len(text) != len(self._lines[0]):
            raise self._fail(MrzWrongLength(f"line {n} from the page reader has {len(text)} characters, line 1 "
                                            f"{len(self._lines[0])}: not one MRZ layout"))
        need = LINES_OF_LENGTH[len(text)]
        if len(self._lines) >= need:
            raise self._fail(MrzWrongLength(f"more than {need} lines of {len(text)} characters in one frame"))
        if not syntax[len(self._lines)].fullmatch(text):
            raise self._fail(MrzGarbled(f"line {n} from the page reader does not have the fields of line {n} of an "
                                        f"MRZ of {len(text)}-character lines"))
        self._lines.append(text)
        if len(self._lines) == need and not self._in_frame:
            lines = list(self._lines)
            self.reset()
            return lines
        return None

    def _without_prefix(self, text: str) -> str:
        """The line, or its MRZ part after a short prefix of printable ASCII that ends in a character outside the
        alphabet (``MRZ:``, ``]M``); :class:`MrzGarbled` when other characters remain."""
        bad = [i for i, c in enumerate(text) if c not in MRZ_ALPHABET]
        if not bad:
            return text
        last = bad[-1]
        run = text[last + 1:]
        prefix = text[:last + 1]
        if last < MAX_PREFIX and len(run) in LINES_OF_LENGTH and prefix.isascii() and prefix.isprintable():
            return run
        n = len(self._lines) + 1
        raise self._fail(MrzGarbled(f"line {n} from the page reader has {len(bad)} character(s) outside the MRZ "
                                    f"alphabet (0-9, A-Z, <), first at position {bad[0] + 1}"))


def checked_mrz(lines: list[str]) -> str:
    """The MRZ's lines parsed by emrtd, check digits verified: the lines concatenated (the ``MrzSource`` port's
    form). :class:`MrzCheckDigitFailed` when a check digit fails, :class:`MrzDataError` for another invalid
    field (a date that does not exist, no name)."""
    layout = LINE_SYNTAX.get(len(lines[0])) if lines else None
    if layout is None or len(lines) != len(layout) or any(len(line) != len(lines[0]) for line in lines):
        raise MrzWrongLength(f"{len(lines)} lines of {[len(line) for line in lines]} characters: not one MRZ layout")
    for n, (line, syntax) in enumerate(zip(lines, layout, strict=True), 1):
        if not syntax.fullmatch(line):  # e.g. another document's line where the name line belongs
            raise MrzGarbled(f"line {n} of the MRZ does not have the fields of line {n} of its layout")
    _mrz, errors = emrtd.check_mrz(list(lines))
    digits = [e for e in errors if isinstance(e, emrtd.MrzCheckDigitError)]
    if digits:
        fields = ", ".join(dict.fromkeys(e.field for e in digits))
        raise MrzCheckDigitFailed(f"the MRZ's check digit(s) do not match: {fields} (a misread character: read the "
                                  "document again)") from None  # emrtd's messages quote the MRZ: not chained
    if errors:
        raise MrzDataError(f"not a valid MRZ: {errors[0].field}: {type(errors[0]).__name__}") from None
    return "".join(lines)


_POLL_S = 0.05  # how often a read looks at the deadline and at cancel() while the reader is silent


class TextMrzReader:
    """The ``MrzSource`` port over a page reader that sends text: the adapters give :meth:`_receive` (the text
    that arrived within ``wait_s``, "" when none; :class:`MrzReaderUnavailable` when the device is gone) and
    :meth:`release`.

    :meth:`read_mrz` waits up to ``timeout_s`` for a document (:class:`MrzReadTimeout`: nothing on the reader),
    then for its lines, each character within ``line_gap_s`` of the one before (a longer silence ends the
    document: :class:`MrzIncomplete` if it is short of lines), and returns the MRZ checked by
    :func:`checked_mrz`. :meth:`cancel` (from another thread) ends a waiting read with
    :class:`MrzReadCancelled`. Only MRZ characters (``0-9 A-Z <``) count as the reader talking: keepalives and
    other noise never hold a document open, and a read never runs past its time-out plus ``max(2 s, 4 line
    gaps)`` (a document still coming then is :class:`MrzIncomplete`). After a document that is not an MRZ, the
    rest of it is read and thrown away (until the reader is silent for ``line_gap_s``, within the same bound) so
    that its tail is not taken for the next document (but for a document cut short by the next one's STX or
    first line, which is kept).

    What arrives while nobody reads waits in the device's buffer for the next read; when a read finds several
    documents waiting, the most recent wins (the page read again, or one left unread before it), and when the
    most recent is not a valid MRZ (garbled, cut, a line after it), its error: never an older document.
    :meth:`discard` (a new traveller) drops everything waiting: the next read takes a document placed after it."""

    what = "page reader"

    def __init__(self, *, timeout_s: float = 5.0, line_gap_s: float = 0.5, prefix: str = "") -> None:
        self.timeout_s = float(timeout_s)
        self.line_gap_s = float(line_gap_s)
        self._asm = MrzLineAssembler(prefix)
        self._pending = ""
        self._cancel = threading.Event()
        self._stale = threading.Event()
        self._lock = threading.Lock()
        self._hard_end = 0.0  # the current read's hard bound (monotonic)

    def _receive(self, wait_s: float) -> str:  # pragma: no cover - the adapters define it
        raise NotImplementedError

    def release(self) -> None:  # pragma: no cover - the adapters define it
        raise NotImplementedError

    def close(self) -> None:
        self.release()

    def cancel(self) -> None:
        """End a read in progress (or the next one) with :class:`MrzReadCancelled`."""
        self._cancel.set()

    def discard(self) -> None:
        """Drop whatever waits (documents placed before now, a part of one): the next read waits for a document
        placed after this call. Never blocks: while a read is in progress in another thread (an abandoned
        traveller's, which ``cancel()`` ends), that read does the dropping as it ends."""
        if not self._lock.acquire(blocking=False):
            self._stale.set()
            return
        try:
            self._stale.clear()
            self._drop_waiting()
        except MrzReaderUnavailable:
            pass  # gone: nothing waits; the next read says so
        finally:
            self._lock.release()

    def read_mrz(self, timeout_s: float | None = None) -> str:
        """The next document's MRZ (lines concatenated), check digits verified; ``timeout_s`` replaces the
        reader's for this read."""
        timeout = self.timeout_s if timeout_s is None else float(timeout_s)
        with self._lock:
            try:
                if self._stale.is_set():
                    self._stale.clear()
                    self._drop_waiting()
                return self._read(timeout)
            except MrzDataError as e:
                if not getattr(e, "new_document", False):
                    self._discard()
                raise
            except MrzReaderUnavailable:
                self._asm.reset()
                self._pending = ""
                raise
            finally:
                self._cancel.clear()
                if self._stale.is_set():  # discard() was called during this read: drop now, not at the next read
                    self._stale.clear()
                    try:
                        self._drop_waiting()
                    except MrzReaderUnavailable:
                        pass  # gone: nothing waits; the next read says so

    def _grace(self) -> float:
        """How long past its time-out a read may go on receiving a document that began before it."""
        return max(2.0, 4 * self.line_gap_s)

    def _read(self, timeout: float) -> str:
        start = time.monotonic()
        deadline = start + timeout
        cap = self._hard_end = deadline + self._grace()  # the read's hard bound, whatever the device sends
        last = start  # the last MRZ character: keepalives, NULs and other noise do not hold a document open
        done: list[str] | None = None  # the newest complete document so far
        started = False
        while True:
            lines = self._consume()  # a later document's error is raised: the newest wins, bad or not
            if lines is not None:
                done = lines
                continue
            if self._cancel.is_set():
                self._asm.reset()
                raise MrzReadCancelled(f"the {self.what}'s read was cancelled")
            now = time.monotonic()
            started, was_started = self._asm.started, started
            if started and not was_started:
                last = now  # a document began (its STX is no MRZ character): its line gap counts from here
            if started and now - last >= self.line_gap_s:
                lines = self._asm.flush()  # MrzIncomplete when the document is short of lines
                if lines is not None:
                    done = lines
                continue
            if now >= cap:
                if started:
                    self._asm.reset()
                    raise MrzIncomplete(f"the {self.what} was still sending a document {cap - start:.1f} s after the "
                                        "read began")
                if done is not None:
                    return checked_mrz(done)
            if not started and now - last >= self.line_gap_s:
                self._asm.quiet()
            if not started and done is None and now >= deadline:
                raise MrzReadTimeout(f"no document on the {self.what} within {timeout:g} s")
            text = self._receive(_POLL_S if started or done is None else 0.0)
            if text:
                if not MRZ_ALPHABET.isdisjoint(text):
                    last = time.monotonic()
                self._pending += text
            elif done is not None and not started:
                return checked_mrz(done)  # nothing more waits: the newest document

    def _consume(self) -> list[str] | None:
        pending, self._pending = self._pending, ""
        for i, ch in enumerate(pending):
            try:
                done = self._asm.push(ch)
            except MrzDataError:
                self._pending = pending[i + 1:]
                raise
            if done is not None:
                self._pending = pending[i + 1:]
                return done
        return None

    def _drop_waiting(self) -> None:
        """:meth:`discard`'s work, at the start of a read: what the device holds, and any part of a document."""
        self._asm.reset()
        self._pending = ""
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            try:
                if not self._receive(0.0):
                    break
            except MrzDataError:
                continue
        self._asm.reset()

    def _discard(self) -> None:
        """Throw away the rest of a document that was not an MRZ: until the reader is silent for
        ``line_gap_s`` (at most a few seconds of a babbling device)."""
        self._asm.reset()
        self._pending = ""
        end = min(time.monotonic() + self._grace(), self._hard_end + self.line_gap_s)
        quiet_since = time.monotonic()
        while time.monotonic() < end and time.monotonic() - quiet_since < self.line_gap_s:
            try:
                if not MRZ_ALPHABET.isdisjoint(self._receive(_POLL_S)):  # noise alone is quiet
                    quiet_since = time.monotonic()
            except MrzDataError:
                quiet_since = time.monotonic()
            except MrzReaderUnavailable:
                return
        self._asm.reset()
