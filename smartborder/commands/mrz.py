"""``smartborder mrz``: parse and check machine readable zones (ICAO Doc 9303 Parts 3-7)."""

from __future__ import annotations

import json
import sys

import click


def _text(lines: tuple[str, ...]) -> str:
    if not lines or lines == ("-",):
        return sys.stdin.read()
    return "\n".join(lines)


def _report(lines: tuple[str, ...]) -> tuple[dict, list]:
    from emrtd import MrzCheckDigitError, check_mrz

    mrz, errors = check_mrz(_text(lines))
    out: dict = {"valid": not errors}
    if mrz is not None:
        out.update(mrz.to_dict())  # with "warnings": an issuing State or nationality code Doc 9303 does not list
    out.setdefault("warnings", [])
    out["errors"] = []
    for e in errors:
        item = {"field": e.field, "error": type(e).__name__, "message": str(e)}
        if isinstance(e, MrzCheckDigitError):
            item.update(expected=e.expected, found=e.found)
        out["errors"].append(item)
    return out, errors


@click.group()
def mrz() -> None:
    """Parse and check machine readable zones (TD1, TD2, TD3, MRV-A, MRV-B)."""


@mrz.command()
@click.argument("lines", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print JSON with `valid` and every field.")
def parse(lines: tuple[str, ...], as_json: bool) -> None:
    """Parse an MRZ given as its lines (or one string; '-' or nothing reads stdin). Exits 1 when invalid; an
    unknown State or nationality code (ICAO Doc 9303 Part 3) is a warning, shown, with exit 0."""
    out, errors = _report(lines)
    if as_json:
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        for key, value in out.items():
            if key == "valid" and value and out["warnings"]:
                value = f"{value} (with {len(out['warnings'])} warning(s))"
            if key not in ("errors", "warnings"):
                click.echo(f"{key:>22}: {value}")
        for w in out["warnings"]:
            click.echo(f"{'warning':>22}: {w['field']}: {w['message']} ({w['warning']})")
        for e in out["errors"]:
            click.echo(f"{'error':>22}: {e['field']}: {e['message']}")
    if errors:
        sys.exit(1)


@mrz.command()
@click.argument("lines", nargs=-1)
def check(lines: tuple[str, ...]) -> None:
    """Check every check digit and field of an MRZ, naming each failing field. Exits 1 when invalid."""
    out, errors = _report(lines)
    if not errors:
        click.echo(f"valid {out['format']}: {out['document_number']} {out['primary_identifier']}, "
                   f"{out['secondary_identifier']} (born {out['date_of_birth']}, expires {out['date_of_expiry']})")
        for w in out["warnings"]:
            click.echo(f"  warning: {w['field']}: {w['message']} ({w['warning']})")
        return
    click.echo(f"invalid MRZ: {len(errors)} problem(s)")
    for e in out["errors"]:
        click.echo(f"  {e['field']}: {e['message']}")
    sys.exit(1)
