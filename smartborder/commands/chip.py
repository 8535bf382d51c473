"""``smartborder chip``: issue virtual eMRTDs and read chips (ICAO Doc 9303), real or virtual."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import click


def _mrz_text(lines: tuple[str, ...]) -> str:
    return "".join("".join(line.split()) for line in lines).upper()


@click.group()
def chip() -> None:
    """Issue, read and verify eMRTD chips."""


@chip.command()
@click.option("--mrz", "mrz", multiple=True, required=True, help="MRZ line (repeat per line, or one quoted string).")
@click.option("--photo", type=click.Path(exists=True, dir_okay=False), required=True, help="Face photo (JPEG/PNG).")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Directory for the issued document.")
@click.option("--can", default=None, help="Card Access Number for PACE (digits).")
@click.option("--bac/--no-bac", default=True, show_default=True, help="Offer Basic Access Control.")
@click.option("--pace/--no-pace", default=True, show_default=True, help="Offer PACE (EF.CardAccess).")
@click.option("--aa", type=click.Choice(["rsa", "ec", "none"]), default="rsa", show_default=True,
              help="Active Authentication key in DG15.")
@click.option("--ca/--no-ca", default=True, show_default=True, help="Chip Authentication key in DG14.")
@click.option("--faults", default="", help="Comma-separated faults: tampered_dg, bad_sod_signature, expired_dsc, "
              "revoked_dsc, unknown_csca, clone_aa, clone_ca, mrz_mismatch, no_sod, no_dg2, dg2_no_face, "
              "hidden_dg14_dg15.")
@click.option("--dg2-encoding", type=click.Choice(["ISO19794", "ISO39794"]), default="ISO19794", show_default=True,
              help="DG2 face record: ISO/IEC 19794-5 (DO'5F2E') or 39794-5 per the ICAO profile (DO'7F2E').")
@click.option("--signer-curve", default="secp256r1", show_default=True,
              type=click.Choice(["secp256r1", "secp384r1", "secp521r1", "brainpoolp256r1", "brainpoolp384r1",
                                 "brainpoolp512r1"]), help="Curve of the test CSCA and Document Signer keys.")
@click.option("--ec-parameters", default="named", show_default=True,
              type=click.Choice(["named", "explicit", "explicit_compressed", "explicit_unnamed"]),
              help="How the CSCA and DSC certificates write their keys' EC domain parameters: explicit as German "
              "documents do; explicit_unnamed gives the DSC parameters of no named curve (PA refuses it).")
@click.option("--eac", is_flag=True, help="Extended Access Control: a test CVCA/DV/IS hierarchy for the issuing "
              "state; DG3/DG4 behind Terminal Authentication; the IS key and chain go to OUT/eac/.")
@click.option("--dg3", "dg3", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="An ISO/IEC 19794-4 finger image record for DG3 (repeat per record; needs --eac).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def issue(mrz, photo, out, can, bac, pace, aa, ca, faults, dg2_encoding, signer_curve, ec_parameters, eac, dg3,
          as_json) -> None:
    """Personalise a virtual passport (TD3) or ID card (TD1) into DIR."""
    from emrtd.sim import EacPki, IssuerError, IssuerPki, issue_document

    fault_list = [f.strip() for f in faults.split(",") if f.strip()]
    try:
        pki = IssuerPki.make(curve=signer_curve, dsc_parameters=ec_parameters,
                             csca_parameters="explicit" if ec_parameters == "explicit_unnamed" else ec_parameters)
        state = _mrz_text(mrz)[2:4]  # the CV certificates' country code (two letters; "D<" -> "DE")
        eac_pki = EacPki.make({"D<": "DE"}.get(state, state if state.isalpha() else "XX")) if eac else None
        doc = issue_document(_mrz_text(mrz), photo, can=can, bac=bac, pace=pace, aa=None if aa == "none" else aa,
                             ca=ca, faults=fault_list, dg2_encoding=dg2_encoding, pki=pki, eac=eac_pki,
                             dg3=[Path(p).read_bytes() for p in dg3])
        path = doc.save(out)
        if eac_pki is not None:  # a terminal of this state: `chip read --eac-key OUT/eac/is.pem --eac-chain ...`
            (path / "eac").mkdir(exist_ok=True)
            eac_pki.terminal().save(path / "eac" / "is.pem", path / "eac" / "chain.cvcert")
    except IssuerError as e:
        raise click.ClickException(str(e)) from e
    summary = {"out": str(path), "document_type": doc.document_type, "files": {k: len(v) for k, v in doc.files.items()},
               "faults": list(doc.faults), "can": doc.can, "bac": doc.bac, "pace": "EF.CardAccess" in doc.files,
               "dg2_encoding": dg2_encoding,
               "trust_anchor": str(path / "trust" / "csca.pem")}
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(f"issued {doc.document_type} into {path} ({len(doc.files)} files"
                   + (f", faults: {', '.join(doc.faults)}" if doc.faults else "") + ")")


def _wrong_mrz(problem: str) -> click.ClickException:
    return click.ClickException(f"wrong MRZ: {problem}")


def _bac_fields(text: str) -> tuple[str, str, str]:
    """(document number, date of birth, date of expiry) from a whole MRZ, or from the second line alone of
    a passport (TD3) or TD2 document (it holds all three), each field's check digit checked: a typo
    would otherwise show only as a failed BAC/PACE at the chip."""
    from emrtd import MrzError, check_digit
    from emrtd._reader import _dg1_fields
    from emrtd._tlv import encode_tlv

    single = len(text) in (44, 36)
    if single:  # the second line alone: a filler first line makes it a whole TD3/TD2 MRZ
        text = "<" * len(text) + text
    fields = _dg1_fields(encode_tlv(0x61, encode_tlv(0x5F1F, text.encode("ascii", "replace"))))
    if fields is None:
        raise _wrong_mrz(f"{len(text)} characters; the MRZ must be 2x44 (passport), 3x30 (ID card) or 2x36 (TD2), "
                         "each line after --mrz, or a passport's second line alone")
    if len(text) == 90:  # TD1: number on line 1, dates on line 2
        spans = (("document number", 5, 14), ("date of birth", 30, 36), ("date of expiry", 38, 44))
    else:
        w = len(text) // 2
        spans = (("document number", w, w + 9), ("date of birth", w + 13, w + 19), ("date of expiry", w + 21, w + 27))
    for name, a, b in spans:
        found = text[b]
        if name == "document number" and found == "<":  # a long number: its check digit is in the optional data
            continue
        try:
            expected = check_digit(text[a:b])
        except MrzError as e:
            raise _wrong_mrz(f"{name} {text[a:b]!r}: {e}") from e
        if found != expected:
            raise _wrong_mrz(f"the {name} {text[a:b]!r} has check digit {found!r}, {expected!r} expected: "
                             + ("give the second line (it starts with the document number)" if single
                                else "compare it with the document"))
    return fields


def _access_key(mrz, can, document_number, date_of_birth, date_of_expiry):
    from emrtd import AccessKeyError, BacKey, CanKey

    try:
        if can:
            return CanKey(can)
        if mrz:
            return BacKey(*_bac_fields(_mrz_text(mrz)))
        if document_number and date_of_birth and date_of_expiry:
            return BacKey(document_number, date_of_birth, date_of_expiry)
    except AccessKeyError as e:
        raise (_wrong_mrz(str(e)) if mrz else click.BadParameter(str(e))) from e
    raise click.UsageError("give --mrz, --can, or --document-number with --date-of-birth and --date-of-expiry")


def _load_trust(path: str | None):
    """A trust store from the document-data half of emrtd (CSCA certificate or Master List), if present."""
    if path is None:
        return None
    import emrtd

    for name in ("load_trust_store", "TrustStore"):
        loader = getattr(emrtd, name, None)
        if loader is not None:
            return loader(path) if name == "load_trust_store" else loader.from_path(path)
    raise click.ClickException("--trust needs the passive-authentication part of emrtd, which is not installed")


@chip.command()
@click.option("--reader", "reader", required=True, help="pcsc[:NAME] for a PC/SC reader, virtual:DIR for an issued document.")
@click.option("--mrz", "mrz", multiple=True, help="MRZ line(s) of the document (access key for BAC/PACE); "
              "further lines may follow as arguments, as with `mrz parse`. A passport's second line is enough.")
@click.option("--can", default=None, help="Card Access Number (PACE).")
@click.option("--document-number", default=None)
@click.option("--date-of-birth", default=None, help="YYMMDD")
@click.option("--date-of-expiry", default=None, help="YYMMDD")
@click.option("--trust", type=click.Path(exists=True), default=None, help="CSCA certificate or Master List for PA.")
@click.option("--extended/--short", default=False, show_default=True, help="Use extended-length APDUs.")
@click.option("--save", "save_dir", type=click.Path(file_okay=False), default=None, help="Dump the files read here.")
@click.option("--eac-key", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Extended Access Control: the inspection system's private key (PEM), with --eac-chain.")
@click.option("--eac-chain", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The inspection system's CV certificates (DV then IS, concatenated), with --eac-key.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("mrz_lines", nargs=-1, metavar="[MRZ_LINE]...")
def read(reader, mrz, can, document_number, date_of_birth, date_of_expiry, trust, extended, save_dir, eac_key,
         eac_chain, as_json, mrz_lines) -> None:
    """Read a chip: PACE or BAC, data groups, CA, TA (with --eac-key/--eac-chain), AA and PA. Exits 1 when a
    check fails."""
    from emrtd import (
        PcscTransport,
        ReadError,
        TerminalCredentials,
        TerminalCredentialsError,
        TransportError,
        read_document,
    )

    key = _access_key((*mrz, *mrz_lines), can, document_number, date_of_birth, date_of_expiry)
    trust_store = _load_trust(trust)
    terminal = None
    if (eac_key is None) != (eac_chain is None):
        raise click.UsageError("--eac-key and --eac-chain go together")
    if eac_key is not None:
        try:
            terminal = TerminalCredentials.load(eac_key, eac_chain)
        except TerminalCredentialsError as e:
            raise click.ClickException(str(e)) from e
    closer = None
    if reader.startswith("virtual:"):
        from emrtd.sim import InProcessTransport, IssuedDocument, IssuerError

        try:
            transport = InProcessTransport(IssuedDocument.load(reader[len("virtual:"):]).chip())
        except IssuerError as e:
            raise click.ClickException(str(e)) from e
    elif reader == "pcsc" or reader.startswith("pcsc:"):
        transport = closer = PcscTransport(reader[5:] or None)
    else:
        raise click.BadParameter("use pcsc[:NAME] or virtual:DIR", param_hint="--reader")
    try:
        result = read_document(transport, key, trust=trust_store, extended_length=extended, terminal=terminal)
    except (ReadError, TransportError) as e:
        raise click.ClickException(str(e)) from e
    finally:
        if closer is not None:
            closer.close()
    if save_dir:
        result.save(save_dir)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(f"{result.access_protocol}: read {', '.join(result.files)} in {result.apdu_count} APDUs")
        for c in result.checks:
            mark = {True: "ok  ", False: "FAIL", None: "--  "}[c.passed]
            click.echo(f"  {mark} {c.name}" + (f": {c.reason}" if c.reason else ""))
        for w in result.warnings:  # e.g. DG1's issuing State not a Doc 9303 code: reported, not a failed check
            click.echo(f"  WARN {w.field}: {w.message} ({w.code})")
    if not result.valid:
        sys.exit(1)


if importlib.util.find_spec("smartborder.commands._chip_pa") is not None:
    from smartborder.commands._chip_pa import photo, verify

    chip.add_command(verify)
    chip.add_command(photo)
