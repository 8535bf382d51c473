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


def _read_one(path: str) -> tuple[dict, bool]:
    """One image's report for ``mrz read`` and whether an MRZ was found."""
    import time

    from emrtd import MrzNotFoundError, MrzOcrError, read_mrz

    t0 = time.perf_counter()
    out: dict = {"image": path, "found": False, "lines": [], "valid": False, "confidence": 0.0,
                 "format": None, "box": None, "ms": 0.0, "error": None}
    try:
        r = read_mrz(path)
    except MrzNotFoundError as e:
        out.update(error=f"not found: {e}", ms=round((time.perf_counter() - t0) * 1000, 1))
        return out, False
    except MrzOcrError as e:  # not an image, empty file, models missing: named, never a reading
        out.update(error=f"{type(e).__name__}: {e}", ms=round((time.perf_counter() - t0) * 1000, 1))
        return out, False
    except Exception as e:  # noqa: BLE001 - any other reader failure: this image's named error, the next one read
        out.update(error=f"reader error: {type(e).__name__}", ms=round((time.perf_counter() - t0) * 1000, 1))
        return out, False
    out.update(found=True, lines=list(r.lines), valid=r.valid, confidence=r.confidence, format=r.format,
               box=list(r.box), ms=r.ms, repaired=r.repaired, engine=r.engine, errors=list(r.errors),
               warnings=list(r.warnings))
    return out, True


@mrz.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per image.")
def read(images: tuple[str, ...], as_json: bool) -> None:
    """Read the MRZ in photographs or scans of documents: per image the lines, `valid` (every check
    digit holds), a confidence, the format (TD1, TD2, TD3, MRVA, MRVB), the MRZ's box (x0 y0 x1 y1)
    and the time taken. Exits 1 when an image has no MRZ (it is reported as not found, never guessed)."""
    results, missing = [], 0
    for path in images:
        out, found = _read_one(path)
        missing += not found
        results.append(out)
        if as_json:
            continue
        click.echo(f"{path}:")
        if not found:
            click.echo(f"  {out['error']} ({out['ms']:.0f} ms)")
            continue
        for line in out["lines"]:
            click.echo(f"  {line}")
        click.echo(f"  valid: {out['valid']}  format: {out['format']}  confidence: {out['confidence']:.2f}  "
                   f"box: {' '.join(map(str, out['box']))}  time: {out['ms']:.0f} ms")
        for e in out["errors"]:
            click.echo(f"  error: {e}")
    if as_json:
        click.echo(json.dumps(results, indent=2))
    if missing:
        sys.exit(1)
