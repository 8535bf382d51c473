"""``smartborder chip verify`` (Passive Authentication of dumped files) and ``chip photo`` (DG2 -> image)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


def _load_dump(directory: Path) -> dict[str, bytes]:
    """``EF_COM.bin``, ``EF_SOD.bin``, ``DG1.bin``, ... -> {"EF.COM": ..., "EF.SOD": ..., "DG1": ...}."""
    files = {}
    for f in sorted(directory.glob("*.bin")):
        stem = f.stem
        name = "EF." + stem[3:] if stem.startswith("EF_") else stem
        files[name] = f.read_bytes()
    return files


@click.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--trust", type=click.Path(exists=True), default=None,
              help="CSCA certificate (PEM/DER), CRL, Master List (.ml), or a directory of them.")
@click.option("--signer-root", "signer_roots", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Root certificate that must have issued a Master List's signer (default: the list's own CSCA).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify(directory, trust, signer_roots, as_json) -> None:
    """Passive Authentication of dumped files (EF_SOD.bin, DG1.bin, ...). Without --trust the DSC -> CSCA
    chain is reported as not checked and everything else is verified. Exits 1 when a check fails."""
    from emrtd import LdsError, TrustError, load_trust_store, parse_lds_file, passive_authentication
    from emrtd._trust import load_certificates

    files = _load_dump(Path(directory))
    if "EF.SOD" not in files:
        raise click.ClickException(f"{directory} has no EF_SOD.bin")
    store = None
    if trust:
        try:
            roots = [c for r in signer_roots for c in load_certificates(Path(r).read_bytes())] or None
            store = load_trust_store(trust, signer_roots=roots)
        except TrustError as e:
            raise click.ClickException(f"--trust {trust}: {e}") from e
    result = passive_authentication(files, trust=store)
    parsed, parse_errors = {}, {}
    for name, data in files.items():
        if name in ("EF.SOD", "EF.CardAccess"):
            continue
        try:
            parsed[name] = parse_lds_file(name, data)
        except (LdsError, ValueError) as e:
            parse_errors[name] = str(e)
    dg1 = parsed.get("DG1")
    mrz = getattr(dg1, "mrz", None)
    valid = result.valid and not parse_errors
    out = {"valid": valid, "files": sorted(files), "mrz": mrz.to_dict() if mrz else None,
           "passive_authentication": result.to_dict(), "parse_errors": parse_errors,
           "warnings": [w.to_dict() for w in mrz.warnings] if mrz else []}
    if as_json:
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        click.echo(f"Passive Authentication of {directory}: {'valid' if valid else 'INVALID'}")
        for c in result.checks:
            mark = {True: "ok  ", False: "FAIL", None: "--  "}[c.passed]
            click.echo(f"  {mark} {c.name}: {c.reason}")
        for name, err in parse_errors.items():
            click.echo(f"  FAIL parse {name}: {err}")
        for w in out["warnings"]:
            click.echo(f"  WARN {w['field']}: {w['message']} ({w['warning']})")
    if not valid:
        sys.exit(1)


@click.command()
@click.argument("dg2", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Also write the (first) face image here; the suffix picks the format (.png, .jpg, .jp2).")
@click.option("--json", "as_json", is_flag=True, help="Print the decoded DG2 as JSON.")
def photo(dg2, out, as_json) -> None:
    """Decode and show a DG2 file (ISO/IEC 19794-5, or 39794-5 per the ICAO eMRTD Application Profile, every
    field) or a bare ISO/IEC 19794-5 face record; --out extracts the face image (JPEG or JPEG 2000)."""
    import io

    from PIL import Image, UnidentifiedImageError

    from emrtd import BiometricGroup, LdsError, parse_19794_5

    data = Path(dg2).read_bytes()
    try:
        if data[:4] == b"FAC\x00":  # a bare Facial Record Data record, not a DG2 file
            container = "ISO/IEC 19794-5 record"
            pairs = [(None, face) for face in parse_19794_5(data, "face record")]
        else:  # one format type per template, each template holding any number of faces
            container = "DG2"
            pairs = [(t.header.format_type, face) for t, face in BiometricGroup.parse_dg2(data).template_faces()]
    except LdsError as e:
        reason = getattr(e, "reason", None)
        raise click.ClickException(f"{e}" + (f" [{reason}]" if reason else "")) from e
    if not pairs:
        raise click.ClickException(f"{dg2}: the {container} holds no face [no_face]")
    faces = [face for _, face in pairs]
    shown = []
    for fmt, face in pairs:
        d = face.to_dict()
        d["cbeff_format_type"] = None if fmt is None else f"{fmt:04X}"
        try:
            d["decoded_size"] = list(Image.open(io.BytesIO(face.image)).size)
        except (OSError, UnidentifiedImageError, ValueError) as e:
            d["decoded_size"], d["decode_error"] = None, str(e)
        shown.append(d)
    if out:
        target = Path(out)
        try:
            Image.open(io.BytesIO(faces[0].image)).save(target)
        except (OSError, UnidentifiedImageError, ValueError) as e:
            raise click.ClickException(f"cannot convert the face image: {e}") from e
    if as_json:
        click.echo(json.dumps({"file": str(dg2), "container": container, "faces": shown, "out": out}, indent=2))
        return
    click.echo(f"{dg2}: {container}, {len(faces)} face(s)")
    for n, d in enumerate(shown, 1):
        size = "x".join(map(str, d["decoded_size"])) if d["decoded_size"] else "undecodable"
        enc = {"ISO19794": "ISO/IEC 19794-5", "ISO39794": "ISO/IEC 39794-5 (ICAO profile)"}[d["encoding"]]
        click.echo(f"face {n}: {enc}, {d['image_format']}, {d['image_bytes']} bytes, {size}")
        fields = {k: v for k, v in d.items()
                  if k not in ("encoding", "image_format", "image_bytes", "decoded_size", "warnings")}
        _show(fields, 1)
        for w in d["warnings"]:
            click.echo(f"  WARN {w['field']}: {w['message']} ({w['warning']})")
    if out:
        click.echo(f"wrote {out} from a {len(faces[0].image)}-byte face image")


def _show(value, depth: int) -> None:
    """Nested dicts and lists as indented ``key: value`` lines."""
    pad = "  " * depth
    items = value.items() if isinstance(value, dict) else ((f"[{i}]", v) for i, v in enumerate(value))
    for k, v in items:
        if isinstance(v, dict | list) and v and any(isinstance(x, dict | list) for x in
                                                      (v.values() if isinstance(v, dict) else v)):
            click.echo(f"{pad}{k}:")
            _show(v, depth + 1)
        elif isinstance(v, dict):
            click.echo(f"{pad}{k}: " + ", ".join(f"{a}={b}" for a, b in v.items()))
        else:
            click.echo(f"{pad}{k}: {v}")
