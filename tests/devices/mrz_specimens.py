"""ICAO Doc 9303 specimen MRZs (Parts 4-6: the UTO specimens, check digits valid) for the page-reader tests,
and helpers to write them as a reader would."""

from __future__ import annotations

TD1 = ["I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"]
TD2 = ["I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458907UTO7408122F1204159<<<<<<<6"]
TD3 = ["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"]
#: another TD1 card (check digits valid): its lines must never complete TD1's
TD1_OTHER = ["C<UTOX987654327<<<<<<<<<<<<<<<", "8001014M3001019UTO<<<<<<<<<<<8", "SMITH<<JOHN<<<<<<<<<<<<<<<<<<<"]
LAYOUTS = {"TD1": TD1, "TD2": TD2, "TD3": TD3}


def flat(lines: list[str]) -> str:
    """The ``MrzSource`` port's form: the lines concatenated."""
    return "".join(lines)


def bad_check_digit(lines: list[str]) -> list[str]:
    """The same MRZ with the document number's check digit changed (a misread character)."""
    out = list(lines)
    row, col = {30: (0, 14), 36: (1, 9), 44: (1, 9)}[len(lines[0])]
    digit = out[row][col]
    out[row] = out[row][:col] + str((int(digit) + 1) % 10) + out[row][col + 1:]
    return out
