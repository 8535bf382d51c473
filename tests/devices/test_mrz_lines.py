"""The line assembly and check shared by the serial and keyboard-wedge page readers (devices._mrz_lines), fed
characters directly: lines of two documents never make one MRZ (the TD1 name line and the TD2/TD3 line 1 have
no check digit), a first line where a later one belongs starts the next document."""

from __future__ import annotations

import pytest

from devices import MrzGarbled, MrzIncomplete, MrzWrongLength
from devices._mrz_lines import MrzLineAssembler, checked_mrz
from tests.devices.mrz_specimens import TD1, TD1_OTHER, TD2, TD3, flat


def push_all(asm: MrzLineAssembler, text: str) -> list:
    """Every outcome of pushing ``text``: the documents' lines, or the named errors raised on the way."""
    out: list = []
    for ch in text:
        try:
            lines = asm.push(ch)
        except MrzIncomplete as e:
            out.append(e)
            continue
        if lines is not None:
            out.append(lines)
    return out


def test_a_mixed_mrz_is_refused_by_the_check():
    # TD1 card X lost its line 3, card Y's line 1 followed: no check digit covers line 3 (the name)
    with pytest.raises(MrzGarbled, match="line 3"):
        checked_mrz([TD1[0], TD1[1], TD1_OTHER[0]])
    with pytest.raises(MrzGarbled, match="line 2"):
        checked_mrz([TD3[0], TD3[0]])
    with pytest.raises(MrzGarbled, match="line 1"):
        checked_mrz([TD1[1], TD1[1], TD1[2]])
    with pytest.raises(MrzWrongLength):
        checked_mrz([TD1[0], TD1[1]])
    assert checked_mrz(TD1_OTHER) == flat(TD1_OTHER)


def test_the_next_documents_first_line_starts_a_new_document_instead_of_completing_the_last():
    asm = MrzLineAssembler()
    out = push_all(asm, "".join(line + "\r" for line in [TD1[0], TD1[1], *TD1_OTHER]))
    assert isinstance(out[0], MrzIncomplete) and out[0].new_document
    assert out[1:] == [TD1_OTHER]  # card Y whole; card X never returned, never mixed
    # TD3 (whose line 1 has no check digit) cut after line 1, then a TD2; a TD1 cut, then a TD3
    for first, second in ((TD3, TD2), (TD1, TD3), (TD2, TD1)):
        out = push_all(MrzLineAssembler(), first[0] + "\n" + "\n".join(second) + "\n")
        assert isinstance(out[0], MrzIncomplete) and out[1:] == [second]


@pytest.mark.parametrize("lines, n", [
    ([TD1[0], TD1[1], "ERIKSSON<<ANNA<MARIA<<<<<<<<<1"], 3),  # a digit in the name
    ([TD1[0], TD1[2], TD1[2]], 2),  # a name where the dates belong
    (["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<1", TD3[1]], 1),
    (["X<UTOD231458907<<<<<<<<<<<<<<<", TD1[1], TD1[2]], 1),  # no such document code
])
def test_a_line_without_its_fields_is_garbled(lines, n):
    asm = MrzLineAssembler()
    with pytest.raises(MrzGarbled, match=f"line {n}"):
        push_all(asm, "".join(line + "\r" for line in lines))
