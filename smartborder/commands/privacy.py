"""``smartborder privacy``: the privacy officer's offline tools on the back-office database.

    smartborder privacy report [--json]                 per category: held, oldest, overdue, policy
    smartborder privacy purge [--dry-run] [--json]      retention purge (resumes an interrupted run)
    smartborder privacy verify-ledger [--json] [--witness FILE ...]   chain, checkpoints, signed head, witnesses
    smartborder privacy export DOCUMENT_NUMBER [--issuing-state VNM] [--out DIR] [--json]
    smartborder privacy erase DOCUMENT_NUMBER --issuing-state VNM --purpose TEXT --yes
    smartborder privacy export-ledger FILE | verify-export FILE [--public-key B64] | public-key
    smartborder privacy rotate-kek --new-kek-file FILE

The database, KEK and subject-id key come from the settings exactly as ``smartborder backoffice
serve`` uses them (``--db`` overrides the database; the vault's key store is beside it).
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import types
from pathlib import Path

import click


def _parse_now(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise click.BadParameter("use an ISO 8601 time, e.g. 2027-01-31T00:00:00Z", param_hint="--now") from e
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


class _Officer:
    """The back office's privacy gateway and subject-id scheme for one command."""

    def __init__(self, db: str | None, now: dt.datetime | None = None) -> None:
        import privacy
        from backoffice import ConfigError, Store
        from backoffice._privacy import PrivacyGateway
        from smartborder.commands.backoffice import build_config

        self.config = build_config(db)
        if not Path(self.config.db_path).exists():
            raise click.ClickException(f"no back-office database at {self.config.db_path}")
        try:
            self.gateway = PrivacyGateway.from_config(self.config, Store(self.config.db_path))
        except (ConfigError, privacy.PrivacyError) as e:
            raise click.ClickException(f"cannot open the privacy store: {e}") from e
        if now is not None:
            self.gateway.clock = lambda: now
        self.actor = f"cli:{getpass.getuser()}"

    def subject_id(self, issuing_state: str, document_number: str) -> str:
        from backoffice._records import Records

        holder = types.SimpleNamespace(_secret=self.config.secret_key.encode())
        return Records.subject_id(holder, issuing_state, document_number)


def _emit(data, as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str) if as_json else text)


db_option = click.option("--db", type=click.Path(dir_okay=False), default=None,
                         help="Back-office database (default: settings backoffice_db or DATA_DIR/backoffice.db).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
now_option = click.option("--now", default=None, help="Evaluate at this time (ISO 8601) instead of the clock.")


@click.group()
def privacy() -> None:
    """Retention report and purge, ledger verification and export, subject access and erasure."""


@privacy.command()
@db_option
@json_option
@now_option
def report(db: str | None, as_json: bool, now: str | None) -> None:
    """Per data category: items held, the oldest, how many are overdue, the rule the purge enforces and its
    legal basis (the EU model's provision and Vietnam's Decree 13/2023/ND-CP)."""
    gateway = _Officer(db).gateway
    when = _parse_now(now) or gateway.clock()
    rows = [r.to_dict() for r in gateway.retention.retention_report(when)]
    for r in rows:
        policy = gateway.retention.policies.get(r["category"])
        r.update(rule=policy.rule_text("en") if policy else "no policy: kept until a policy is set",
                 basis=list(policy.legal_bases) if policy else [])
        if r["category"] == "audit_entry":  # the ledger's own entries, pruned as a prefix of the chain
            r.update(count=len(gateway.ledger), overdue=gateway.ledger.prunable(policy.fallback_keep.before(when)))
    lines = []
    for r in rows:
        lines.append(f"{r['category']:<18} {r['count']:>8} held  {r['overdue']:>8} overdue  oldest "
                     f"{r['oldest_age_days'] if r['oldest_age_days'] is not None else '-'} d")
        lines.append(f"    rule:  {r['rule']}")
        lines += [f"    basis: {b}" for b in r["basis"]] or ["    basis: NONE (no legal basis recorded)"]
    _emit(rows, as_json, "\n".join(lines))


@privacy.command()
@db_option
@click.option("--dry-run", is_flag=True, help="Report what would be purged; delete nothing.")
@click.option("--batch", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@json_option
@now_option
def purge(db: str | None, dry_run: bool, batch: int, as_json: bool, now: str | None) -> None:
    """Delete every item past its retention period, destroying each one's data key, with the exception and
    enrolment records that point at it (ledgered; resumes an interrupted run). Exit 1 when a purged item's
    key could not be found or a WAL file could not be truncated (run again when the service is idle)."""
    officer = _Officer(db)
    r = officer.gateway.purge_report(_parse_now(now), dry_run=dry_run, batch=batch, actor=officer.actor,
                                     role="privacy_officer")
    verb = "would purge" if dry_run else "purged"
    text = (f"{verb} {r.purged} item(s) {json.dumps(r.by_category)} up to {r.cutoff}"
            f"{' (resumed an interrupted run)' if r.resumed else ''}; ids sha256 {r.ids_sha256}")
    if not dry_run:
        text += f"; {r.keys_shredded} data key(s) destroyed"
        if r.unshredded:
            text += (f"\nINCOMPLETE: {r.unshredded} purged item(s) had no data key on record (a damaged envelope): "
                     "an older copy of them may still open")
        if not r.wal_truncated:
            text += ("\nINCOMPLETE: a WAL file could not be truncated (another process holds it open): old pages "
                     "may remain in *-wal until the next checkpoint; run the purge again when the service is idle")
    _emit(r.to_dict(), as_json, text)
    if not r.complete:
        raise SystemExit(1)


def _witness_heads(files, as_json: bool) -> list[dict]:
    """The witness heads of ``--witness`` files; an unreadable or malformed file ends the command (exit 1)."""
    from privacy import WitnessFileError, load_witnesses

    try:
        return [head for f in files for head in load_witnesses(f)]
    except WitnessFileError as e:
        _emit({"ok": False, "first_bad_index": None, "reason": str(e)}, as_json, f"LEDGER NOT VERIFIED: {e}")
        raise SystemExit(1) from e


@privacy.command("verify-ledger")
@db_option
@json_option
@click.option("--witness", "witness_files", multiple=True, type=click.Path(dir_okay=False),
              help="A ledger head a gate or kiosk kept (smartborder gate witness / kiosk witness): one JSON "
                   "object, a JSON list or JSON lines. Repeatable.")
def verify_ledger(db: str | None, as_json: bool, witness_files: tuple[str, ...]) -> None:
    """Check the audit ledger: the hash chain, the signed checkpoints, the signed head and the witness
    heads; the newest entry must be signed. Exit 1 naming the first bad entry and the problem
    (edited, deleted, reordered, rewritten, truncated, unsigned tail)."""
    witnesses = _witness_heads(witness_files, as_json)
    v = _Officer(db).gateway.ledger.verify(witnesses)
    _emit(v.to_dict(), as_json, f"ledger ok: {v.entries} entries signed through entry {v.signed_through}, "
          f"{v.checkpoints} checkpoint(s), {v.witnesses} witness head(s)" if v.ok
          else f"LEDGER BROKEN at entry {v.first_bad_index}: {v.reason}")
    if not v.ok:
        raise SystemExit(1)


_EXT = {"image/jpeg": "jpg", "image/png": "png", "image/jp2": "jp2"}


def _export(db, document_number, issuing_state, out, as_json, purpose):
    officer = _Officer(db)
    subject = officer.subject_id(issuing_state, document_number)
    data = officer.gateway.export_subject(subject, actor=officer.actor, role="privacy_officer", purpose=purpose)
    if out:
        import base64

        from privacy import media_type
        from storage import open_private, private_dir

        folder = private_dir(Path(out))  # the subject's data in clear: the officer's alone (0700 / 0600)
        for item in data["items"]:
            if "data_base64" in item:
                raw = base64.b64decode(item.pop("data_base64"))
                item["file"] = f"{item['ref']}.{_EXT.get(media_type(raw), 'bin')}"
                with open_private(folder / item["file"], "wb") as f:
                    f.write(raw)
        with open_private(folder / "subject.json", encoding="utf-8") as f:
            f.write(json.dumps(data, indent=2, ensure_ascii=False))
    _emit(data, as_json, f"{len(data['items'])} item(s) held about {issuing_state} {document_number}"
          + (f", written to {out}" if out else ""))


_export_options = [
    click.argument("document_number"),
    click.option("--issuing-state", default="VNM", show_default=True, help="ICAO code of the issuing state."),
    click.option("--out", type=click.Path(file_okay=False), default=None,
                 help="Write subject.json and the images into this directory."),
    click.option("--purpose", default="subject_access_request", show_default=True),
    db_option, json_option,
]


def _with(options):
    def wrap(f):
        for o in reversed(options):
            f = o(f)
        return f
    return wrap


@privacy.command("export")
@_with(_export_options)
def export(document_number, issuing_state, out, purpose, db, as_json) -> None:
    """Subject access request: everything held about a document's holder, decrypted (ledgered)."""
    _export(db, document_number, issuing_state, out, as_json, purpose)


@privacy.command("export-subject", hidden=True)
@_with(_export_options)
def export_subject(document_number, issuing_state, out, purpose, db, as_json) -> None:
    """Same as ``export``."""
    _export(db, document_number, issuing_state, out, as_json, purpose)


@privacy.command()
@click.argument("document_number")
@click.option("--issuing-state", required=True, help="ICAO code of the issuing state.")
@click.option("--purpose", required=True, help="The lawful request, e.g. 'erasure request 2026-118'.")
@click.option("--yes", is_flag=True, help="Do it (erasure cannot be undone).")
@db_option
@json_option
def erase(document_number, issuing_state, purpose, yes, db, as_json) -> None:
    """Erase a subject: crypto-shred the data key, drop the items (ledgered). Irreversible."""
    if not yes:
        raise click.UsageError("erasure cannot be undone: add --yes")
    officer = _Officer(db)
    subject = officer.subject_id(issuing_state, document_number)
    r = officer.gateway.erase_subject(subject, actor=officer.actor, role="privacy_officer", purpose=purpose)
    text = (f"erased: key shredded={r['key_shredded']}, {r['items_removed']} item(s) removed, records "
            f"{json.dumps(r['records'])}")
    if not r["wal_truncated"]:
        text += ("\nINCOMPLETE: a WAL file could not be truncated (another process holds it open): run "
                 "`smartborder privacy purge` again when the service is idle")
    _emit(r, as_json, text)
    if not r["wal_truncated"]:
        raise SystemExit(1)


@privacy.command("export-ledger")
@click.argument("path", type=click.Path(dir_okay=False))
@db_option
def export_ledger(path, db) -> None:
    """Write the ledger for an auditor (JSON lines, checkpoints, public key)."""
    officer = _Officer(db)
    out = officer.gateway.ledger.export(path)
    click.echo(f"ledger exported to {out}; public key {officer.gateway.ledger.public_key_b64}")


@privacy.command("verify-export")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--public-key", default=None, help="The ledger's Ed25519 public key (base64), pinned: obtained out "
              "of band (smartborder privacy public-key). Required unless --allow-unpinned.")
@click.option("--allow-unpinned", is_flag=True, help="Check the export against the keys it lists itself (proves "
              "only that it is self-consistent: anyone can sign a forged export with their own key).")
@click.option("--witness", "witness_files", multiple=True, type=click.Path(dir_okay=False),
              help="A ledger head a gate or kiosk kept (smartborder gate witness / kiosk witness). Repeatable.")
@json_option
def verify_export_cmd(path, public_key, allow_unpinned, witness_files, as_json) -> None:
    """Verify a ledger export on its own (no database needed). Exit 1 on any problem, and when no key is
    pinned (unless --allow-unpinned)."""
    from privacy import verify_export

    if public_key is None and not allow_unpinned:
        _emit({"ok": False, "first_bad_index": None, "reason": "no pinned key"}, as_json,
              "EXPORT NOT VERIFIED: pin the ledger's public key with --public-key (smartborder privacy public-key); "
              "the keys an export lists prove only that it is self-consistent (--allow-unpinned to check that)")
        raise SystemExit(1)
    v = verify_export(path, public_key, _witness_heads(witness_files, as_json))
    _emit(v.to_dict(), as_json, f"export ok: {v.entries} entries" + ("" if v.key_pinned else " (key not pinned)")
          if v.ok else f"EXPORT BROKEN at entry {v.first_bad_index}: {v.reason}")
    if not v.ok:
        raise SystemExit(1)


@privacy.command("public-key")
@db_option
def public_key(db) -> None:
    """Print the ledger's Ed25519 public key (base64) for auditors to pin."""
    click.echo(_Officer(db).gateway.ledger.public_key_b64)


@privacy.command("rotate-kek")
@click.option("--new-kek-file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="File with the new 32-byte KEK; point the settings at it afterwards.")
@db_option
def rotate_kek(new_kek_file, db) -> None:
    """Rewrap every data key under a new KEK (envelopes are not touched). Stop the back office first, then
    start it with kek_file set to the new file: a service still running on the old KEK refuses to seal or
    open anything (503 key-store-rotated; devices keep their records and retry) until it is restarted."""
    import privacy as privacy_pkg

    officer = _Officer(db)
    try:
        privacy_pkg.check_key_location(new_kek_file, Path(officer.config.db_path).resolve().parent)
        n = officer.gateway.vault.rotate_kek(privacy_pkg.FileKek(new_kek_file))
    except privacy_pkg.KekError as e:
        raise click.ClickException(str(e)) from e
    officer.gateway.access(actor=officer.actor, role="admin", action="rotate_kek", record=officer.gateway.vault.kek.key_id,
                           purpose="audit")
    click.echo(f"rewrapped {n} key(s) under {officer.gateway.vault.kek.key_id}; set kek_file to {new_kek_file}")
