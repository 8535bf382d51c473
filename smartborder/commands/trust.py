"""``smartborder trust``: the versioned trust store the back office distributes to gates.

    smartborder trust import FILE... [--store DIR] [--signer-root CERT] [--min-version N] [--json]   # LDIF, .ml, PEM/DER, CRL
    smartborder trust list [--store DIR] [--kind csca|ml|dsc|crl] [--json]
    smartborder trust status [--store DIR] [--json]     # each CSCA, each CRL's freshness, the version
    smartborder trust export OUT.ldif [--store DIR]     # ICAO PKD LDIF; importing it gives the same digest
    smartborder trust signing-key [--json]             # the back office's signed-list key, for [gate] trust_list_key

``--store`` defaults to ``[backoffice] trust_store`` (``DATA_DIR/trust-store``).
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click


def _store_dir(store: str | None, config: str | None) -> Path:
    if store:
        return Path(store)
    from smartborder.settings import SettingsError, load_paths

    try:
        settings = load_paths(config)
    except SettingsError as e:
        raise click.ClickException(str(e)) from e
    return Path(settings.backoffice_trust_store or settings.path("trust-store"))


@contextlib.contextmanager
def _exclusive(directory: Path):
    """An exclusive lock on ``DIR/.lock`` (``fcntl.flock``) for load -> import -> save: two imports from
    version N would otherwise both save N+1 with different content (equivocation, refused by every gate)."""
    import fcntl

    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # released when the file closes (also if the process dies)
        yield


def _open(directory: Path, *, create: bool = False):
    from emrtd import TrustError, VersionedTrustStore

    if create and not (directory / "manifest.json").exists():
        return VersionedTrustStore()
    try:
        return VersionedTrustStore.load(directory)
    except TrustError as e:
        raise click.ClickException(str(e)) from e


_STORE = click.option("--store", default=None, type=click.Path(file_okay=False),
                      help="The versioned trust store directory (default: [backoffice] trust_store or "
                           "DATA_DIR/trust-store).")
_CONFIG = click.option("--config", "config", default=None, type=click.Path(dir_okay=False),
                       help="The TOML configuration (default: SMARTBORDER_CONFIG).")
_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group()
def trust() -> None:
    """Import, list and check the versioned trust store (CSCAs, Master Lists, DSCs, CRLs)."""


@trust.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@_STORE
@_CONFIG
@click.option("--signer-root", "signer_roots", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Verify Master Lists against these CSCA certificates only (default: each list's own CSCA of "
                   "the signer's country).")
@click.option("--min-version", "min_version", type=click.IntRange(min=1), default=None,
              help="A new store starts at this version (at least): re-creating a lost store at version 1 would be "
                   "refused by every gate that holds a higher one (trust_rollback).")
@_JSON
def import_cmd(files, store, config, signer_roots, min_version, as_json) -> None:
    """Import ICAO PKD LDIF files, Master Lists (.ml, CMS), PEM/DER CSCA certificates and CRLs. Every file is read
    before anything changes (a file that cannot be read changes nothing, exit 1); objects that do not verify
    are skipped and listed. The version rises only when the content changed. Imports into one store are
    serialised (an exclusive lock on DIR/.lock). A new store starts at version 1, or at ``--min-version``."""
    from cryptography import x509

    from emrtd import LdifError, TrustError, objects_from_file

    directory = _store_dir(store, config)
    items, ignored = [], []
    for f in files:
        try:
            items += objects_from_file(Path(f), skipped=ignored)
        except (LdifError, TrustError, OSError) as e:
            raise click.ClickException(f"{f}: {type(e).__name__}: {e} (nothing imported)") from e
    roots = None
    if signer_roots:
        try:
            roots = [x509.load_der_x509_certificate(o.der) for r in signer_roots for _, o in objects_from_file(Path(r))]
        except (LdifError, TrustError, ValueError) as e:
            raise click.ClickException(f"--signer-root: {e}") from e
    with _exclusive(directory):
        fresh = not (directory / "manifest.json").exists()
        vstore = _open(directory, create=True)
        if min_version is not None and not fresh and vstore.version < min_version:
            raise click.ClickException(f"--min-version {min_version}: {directory} already holds version "
                                       f"{vstore.version}; the option starts a new store only")
        if fresh and min_version is not None:
            vstore.version = min_version - 1  # the import makes it min_version
        elif fresh and store is None:  # the back office's own store (the configured one) is being re-created
            click.echo(f"WARNING: {directory} holds no trust store: a new one starts at version 1, which every gate "
                       "that installed a higher version refuses (trust_rollback). If this replaces a lost store, "
                       "re-import with --min-version above the highest version the gates report "
                       "(GET /api/v1/trust-store/devices).", err=True)
        report = vstore.import_objects(items, signer_roots=roots)
        report.skipped[:0] = ignored  # LDIF entries with no trust object (a misspelled attribute...), by DN
        if report.changed:
            vstore.save(directory)
    out = {"store": str(directory), **report.to_dict()}
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    added = ", ".join(f"{n} {k}" for k, n in report.added.items() if n) or "nothing new"
    click.echo(f"{directory}: version {report.version_before} -> {report.version} ({added}; {report.unchanged} "
               f"already held; {report.replaced} older CRL(s) replaced)")
    click.echo(f"digest {report.digest}")
    if report.dsc_without_trusted_issuer:
        click.echo(f"{report.dsc_without_trusted_issuer} DSC(s) whose CSCA the store does not hold (kept; PA refers "
                   "their documents until it does)")
    for source, reason in report.skipped:
        click.echo(f"skipped {source}: {reason}")


def _describe(o) -> dict:
    from cryptography import x509

    from emrtd import parse_master_list

    item = {"kind": o.kind, "sha256": o.sha256, "size": len(o.der)}
    try:
        if o.kind in ("csca", "dsc"):
            c = x509.load_der_x509_certificate(o.der)
            item.update(subject=c.subject.rfc4514_string(), issuer=c.issuer.rfc4514_string(),
                        serial=format(c.serial_number, "X"), not_after=c.not_valid_after_utc.isoformat())
        elif o.kind == "crl":
            c = x509.load_der_x509_crl(o.der)
            item.update(issuer=c.issuer.rfc4514_string(), this_update=c.last_update_utc.isoformat(),
                        next_update=c.next_update_utc.isoformat() if c.next_update_utc else None)
        else:
            ml = parse_master_list(o.der, verify=False)
            item.update(signer=ml.signer.subject.rfc4514_string() if ml.signer else None,
                        certificates=len(ml.certificates),
                        signing_time=ml.signing_time.isoformat() if ml.signing_time else None)
    except ValueError as e:  # a stored object is verified at import; say so rather than fail the listing
        item["error"] = str(e)
    return item


@trust.command("list")
@_STORE
@_CONFIG
@click.option("--kind", type=click.Choice(["csca", "ml", "dsc", "crl"]), default=None, help="Only this kind.")
@_JSON
def list_cmd(store, config, kind, as_json) -> None:
    """Every object of the store: kind, SHA-256 and what it is."""
    import warnings

    vstore = _open(_store_dir(store, config))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        items = [_describe(o) for k in ("csca", "ml", "dsc", "crl") if kind in (None, k) for o in vstore.of_kind(k)]
    if as_json:
        click.echo(json.dumps({"version": vstore.version, "digest": vstore.digest, "objects": items}, indent=2))
        return
    click.echo(f"version {vstore.version}  {vstore.digest}")
    for i in items:
        what = i.get("subject") or i.get("issuer") or i.get("signer") or ""
        click.echo(f"{i['kind']:<5} {i['sha256'][:16]}  {what}")


@trust.command("status")
@_STORE
@_CONFIG
@_JSON
def status_cmd(store, config, as_json) -> None:
    """Each CSCA (subject, country, serial, validity, fingerprint), each CRL's freshness and the store's version.
    Exits 1 when the store cannot be loaded or verified."""
    import warnings

    from emrtd import TrustError

    vstore = _open(_store_dir(store, config))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            status = vstore.status()
    except TrustError as e:
        raise click.ClickException(f"the store does not verify: {e}") from e
    if as_json:
        click.echo(json.dumps(status, indent=2))
        return
    click.echo(f"version {status['version']}  {status['digest']}  updated {status['updated_at']}")
    click.echo("  ".join(f"{k}: {n}" for k, n in status["counts"].items()))
    for c in status["cscas"]:
        flag = "" if c["valid_now"] else "  (not valid now)"
        click.echo(f"CSCA {c['country'] or '--'}  {c['subject']}  serial {c['serial']}  "
                   f"{c['not_before'][:10]}..{c['not_after'][:10]}  {c['fingerprint_sha256'][:16]}{flag}")
    for c in status["crls"]:
        click.echo(f"CRL  {c['country'] or '--'}  {c['issuer']}  {c['this_update'][:10]} next {str(c['next_update'])[:10]}"
                   f"  {c['status'].upper()}")
    if status["stale_crls"]:
        click.echo(f"{status['stale_crls']} CRL(s) out of date: gates refer their documents (crl_stale)", err=True)


@trust.command("export")
@click.argument("out", type=click.Path(dir_okay=False))
@_STORE
@_CONFIG
def export_cmd(out, store, config) -> None:
    """Write the store as ICAO PKD LDIF ('-' for stdout); importing it gives the same digest."""
    vstore = _open(_store_dir(store, config))
    data = vstore.to_ldif()
    if out == "-":
        sys.stdout.buffer.write(data)
    else:
        Path(out).write_bytes(data)
        click.echo(f"version {vstore.version} ({vstore.digest}) written to {out}")


@trust.command("signing-key")
@click.option("--db", type=click.Path(dir_okay=False), default=None,
              help="Back-office database (default: settings backoffice_db or DATA_DIR/backoffice.db).")
@_JSON
def signing_key_cmd(db, as_json) -> None:
    """The back office's signed-list public key (base64) and its id, for a gate's ``[gate] trust_list_key``.
    Read from the back office's vault on this host (created on first use): the value to carry to the gates out
    of band."""
    from backoffice._trust_feed import SIGNING_KEY_NAME
    from privacy import list_key_id, public_key_b64
    from smartborder.commands.privacy import _Officer

    key = _Officer(db).gateway.vault.signing_key(SIGNING_KEY_NAME).public_key()
    out = {"key_id": list_key_id(key), "public_key": public_key_b64(key), "alg": "Ed25519"}
    if as_json:
        click.echo(json.dumps(out, indent=2))
    else:
        click.echo(f"{out['public_key']}  (key id {out['key_id']})")
