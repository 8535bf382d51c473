"""``smartborder backoffice``: run the back-office service and administer it offline.

    smartborder backoffice serve [--host 127.0.0.1] [--port 8080] [--db PATH]
    smartborder backoffice create-user NAME --role border_guard [--password-stdin]
    smartborder backoffice issue-device gate-01 --kind gate [--json]
    smartborder backoffice rotate-device gate-01 | revoke-device gate-01
    smartborder backoffice import-watchlist FILE.csv --kind person [--dry-run]
    smartborder backoffice openapi [--output FILE]
    smartborder backoffice backup DEST [--db PATH] [--json]
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

import click


def _settings():
    from smartborder.settings import SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError as e:
        raise click.ClickException(str(e)) from e


def build_config(db: str | None = None, **overrides):
    """A :class:`backoffice.BackofficeConfig` from the project :class:`Settings`, through the composition
    (:func:`smartborder.compose.backoffice.backoffice_config`)."""
    from smartborder.compose.backoffice import CompositionError, backoffice_config

    try:
        return backoffice_config(_settings(), db_path=db, **overrides)
    except CompositionError as e:
        raise click.ClickException(str(e)) from e


def _auth(db: str | None):
    from backoffice import Auth, Store

    config = build_config(db)
    store = Store(config.db_path)
    return Auth(store, config.secret_key, max_failures=config.login_max_failures, window_s=config.login_window_s,
                session_ttl_s=config.session_ttl_s, token_ttl_s=config.token_ttl_s)


def _run(fn, *args, **kwargs):
    from backoffice import BackofficeError

    try:
        return fn(*args, **kwargs)
    except BackofficeError as e:
        raise click.ClickException(e.detail) from e


def proxy_options(settings) -> dict:
    """uvicorn's proxy-header options from the settings: off unless ``[backoffice] trusted_proxies`` names the
    proxies (uvicorn would otherwise trust X-Forwarded-For from 127.0.0.1, or from FORWARDED_ALLOW_IPS, and a
    local client could choose the address the login limits see)."""
    trusted = settings.backoffice_trusted_proxies
    if not trusted:
        return {"proxy_headers": False, "forwarded_allow_ips": None}
    return {"proxy_headers": True, "forwarded_allow_ips": trusted}


db_option = click.option("--db", type=click.Path(dir_okay=False), default=None,
                         help="SQLite database (default: settings backoffice_db or DATA_DIR/backoffice.db).")


def _shown(db: object) -> str:
    """The database for a log line: a file's path, or a URL with its password masked."""
    if "://" not in str(db):
        return str(db)
    from sqlalchemy.engine import make_url

    from storage import safe_url

    return safe_url(make_url(str(db)))


@click.group()
def backoffice() -> None:
    """Run the back-office service (watchlists, exception review, enrolments, privacy audit)."""


@backoffice.command()
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The back office's TOML file (default: SMARTBORDER_CONFIG); settings under [backoffice].")
@click.option("--host", default=None, help="Interface to listen on (default: [backoffice] host, 127.0.0.1).")
@click.option("--port", default=None, type=click.IntRange(1, 65535), help="Default: [backoffice] port, 8080.")
@db_option
@click.option("--log-level", default="info", type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--workers", default=None, type=click.IntRange(1, 64),
              help="Worker processes (default: [backoffice] workers, 1). Each has its own connections; every rule a "
                   "second worker needs is kept in the database (idempotency, throttling, the feed, enrolments).")
def serve(config_path: str | None, host: str | None, port: int | None, db: str | None, log_level: str,
          workers: int | None) -> None:
    """Start the service with uvicorn (structured JSON logs on stderr)."""
    import logging

    import uvicorn

    from backoffice import configure_json_logging
    from smartborder.compose.backoffice import SERVE_LOG_LEVEL_ENV, CompositionError, build_backoffice
    from smartborder.settings import SettingsError, load_settings
    from storage import StorageError

    configure_json_logging(getattr(logging, log_level.upper()))
    try:
        settings = load_settings(config_path)
    except SettingsError as e:
        raise click.ClickException(str(e)) from e
    host, port = host or settings.backoffice_host, port or settings.backoffice_port
    workers = workers or settings.backoffice_workers
    if db and settings.database_url:
        raise click.ClickException("--db names a SQLite file, but SMARTBORDER_DATABASE_URL selects PostgreSQL: "
                                   "give one of them")
    try:
        app = build_backoffice(settings, db_path=db)  # with several workers: the check that the whole composition
        config = app.state.ctx.config                 # (database, key store, KEK) opens, before any worker starts
        if workers == 1:
            app.state.ctx.watchlist.warm()  # build the matcher in the background
        else:
            app.state.ctx.store.close()
            app.state.ctx.privacy.vault.db.close()
            app = None
    except (CompositionError, StorageError) as e:
        raise click.ClickException(str(e)) from e
    face, finger = config.face_matching, config.fingerprint_matching
    proxies = proxy_options(settings)
    click.echo(json.dumps({"event": "serving", "url": f"http://{host}:{port}", "db": _shown(config.db_path),
                           "workers": workers, "face_threshold": [face.threshold_name, face.threshold],
                           "fingerprint_threshold": [finger.threshold_name, finger.verify_threshold],
                           "trusted_proxies": proxies["forwarded_allow_ips"] or ""}), err=True)
    options = dict(host=host, port=port, log_level=log_level, access_log=False, log_config=None, **proxies)
    if workers == 1:
        uvicorn.run(app, **options)
        return
    # the workers are new processes: they read the same settings from the environment
    if config_path:
        os.environ["SMARTBORDER_CONFIG"] = str(Path(config_path).resolve())
    if db:
        os.environ["SMARTBORDER_BACKOFFICE_DB"] = str(Path(db).resolve())
    os.environ[SERVE_LOG_LEVEL_ENV] = log_level
    uvicorn.run("smartborder.compose.backoffice:serve_app", factory=True, workers=workers, **options)


@backoffice.command("create-user")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(["border_guard", "supervisor", "privacy_officer", "admin"]))
@click.option("--display-name", default="")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin instead of prompting.")
@db_option
def create_user(username: str, role: str, display_name: str, password_stdin: bool, db: str | None) -> None:
    """Create a staff user (argon2id password hash)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    user = _run(_auth(db).create_user, username, password, role, display_name)
    click.echo(json.dumps(user))


@backoffice.command("issue-device")
@click.argument("device_id")
@click.option("--kind", required=True, type=click.Choice(["gate", "kiosk"]))
@click.option("--name", default="")
@click.option("--location", default="")
@click.option("--json", "as_json", is_flag=True)
@db_option
def issue_device(device_id: str, kind: str, name: str, location: str, as_json: bool, db: str | None) -> None:
    """Register a gate or kiosk and print its bearer token (shown once)."""
    device, token = _run(_auth(db).issue_device, device_id, kind, name, location)
    click.echo(json.dumps({"device": device, "token": token}) if as_json else token)


@backoffice.command("rotate-device")
@click.argument("device_id")
@click.option("--json", "as_json", is_flag=True)
@db_option
def rotate_device(device_id: str, as_json: bool, db: str | None) -> None:
    """Issue a new token for a device; the old one stops working."""
    device, token = _run(_auth(db).rotate_device, device_id)
    click.echo(json.dumps({"device": device, "token": token}) if as_json else token)


@backoffice.command("revoke-device")
@click.argument("device_id")
@db_option
def revoke_device(device_id: str, db: str | None) -> None:
    """Revoke a device's credential."""
    click.echo(json.dumps(_run(_auth(db).revoke_device, device_id)))


@backoffice.command("import-watchlist")
@click.argument("csv_file", type=click.File("r", encoding="utf-8-sig"))
@click.option("--kind", required=True, type=click.Choice(["person", "document"]))
@click.option("--dry-run", is_flag=True)
@click.option("--json", "as_json", is_flag=True, help="Print the full row-by-row report.")
@db_option
def import_watchlist(csv_file, kind: str, dry_run: bool, as_json: bool, db: str | None) -> None:
    """Import a watchlist CSV; exits 1 when any row was rejected."""
    from backoffice import Store
    from backoffice._watchlist import WatchlistService

    config = build_config(db)
    service = WatchlistService(Store(config.db_path), threshold=config.watchlist_threshold,
                               dob_window_days=config.watchlist_dob_window_days, page_limit=config.changes_page_limit)
    report = _run(service.import_csv, kind, csv_file.read(), "cli:import-watchlist", dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        click.echo(f"{report['accepted']} accepted, {report['rejected']} rejected, version {report['version']}")
        for row in report["report"]:
            if row["status"] == "rejected":
                click.echo(f"  row {row['row']}: {'; '.join(row['errors'])}")
    if report["rejected"]:
        raise SystemExit(1)


@backoffice.command()
@click.option("--output", type=click.Path(dir_okay=False), default=None)
def openapi(output: str | None) -> None:
    """Print (or write) the OpenAPI document."""
    import tempfile

    from backoffice import BackofficeConfig, create_app

    with tempfile.TemporaryDirectory() as tmp:
        config = BackofficeConfig(secret_key=secrets.token_urlsafe(32), kek=secrets.token_bytes(32),
                                  db_path=Path(tmp) / "data" / "openapi.db", keys_db_path=Path(tmp) / "keys" / "k.db",
                                  dev=True)
        text = json.dumps(create_app(config).openapi(), indent=2, ensure_ascii=False)
    if output:
        Path(output).write_text(text + "\n")
    else:
        click.echo(text)


@backoffice.command()
@click.argument("dest", type=click.Path(dir_okay=False))
@click.option("--db", type=click.Path(dir_okay=False), default=None, help="The back-office database.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def backup(dest: str, db: str | None, as_json: bool) -> None:
    """Copy the data database to DEST (a consistent online copy, 0600), without the key store.

    The key store (the vault's data keys, the ledger's signing key) is never part of a data backup: a
    purge or an erasure destroys keys, so a restored copy of the data cannot bring purged items back.
    Back the key store up separately (KMS/HSM escrow), under the KEK."""
    import hashlib
    import os
    import sqlite3

    from storage import private_dir

    config = build_config(db)
    source, target = Path(config.db_path), Path(dest)
    if not source.exists():
        raise click.ClickException(f"no back-office database at {source}")
    if target.exists():
        raise click.ClickException(f"{target} exists; a backup never overwrites a file")
    keys = Path(config.keys_db_path).resolve().parent if config.keys_db_path else None
    if keys is not None and target.resolve().is_relative_to(keys):
        raise click.ClickException(f"{target} lies in the key directory {keys}: data backups stay apart from keys")
    private_dir(target.parent)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    try:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)  # percent-encoded
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal beside it
        finally:
            dst.close()
            src.close()
    except sqlite3.Error as e:
        target.unlink(missing_ok=True)
        raise click.ClickException(f"backup failed: {e}") from e
    data = target.read_bytes()
    out = {"path": str(target), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
           "source": str(source), "key_store_included": False}
    click.echo(json.dumps(out) if as_json else f"backed up {source} to {target} ({len(data)} bytes, sha256 "
               f"{out['sha256']}); the key store is not included")
