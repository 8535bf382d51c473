"""The privacy promises checked as an auditor checks them: with the CLI, HTTP and the files only.

A deployed back office (``smartborder backoffice serve``, env = "test", KEK in a 0600 file outside the
data) takes an exception with images; a guard admits it; the data database is backed up; the retention
purge runs past the images' period; the backup restored beside the live key store cannot serve the image
(410 ``shredded``, not a 500). A copy of the database with its 3 newest ledger rows deleted fails
``privacy verify-ledger``. Every file the service wrote is private to its user.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path

import httpx

from tests.backoffice.conftest import exception_body
from tests.backoffice.test_serve_e2e import SMARTBORDER, _cli, _deployment, start_serve, stop_serve


def _smartborder(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SMARTBORDER), *args], env=env, capture_output=True, text=True, timeout=120)


class _Server:
    """The deployed back office for the length of a block (``start_serve`` / ``stop_serve``)."""

    def __init__(self, env: dict) -> None:
        self.proc, self.base = start_serve(env)

    def stop(self) -> None:
        stop_serve(self.proc)


def _guard_token(base: str) -> dict:
    r = httpx.post(f"{base}/api/v1/auth/token", json={"username": "guard1", "password": "a long password 1"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_purge_survives_a_backup_restore_and_the_ledger_tail_is_protected(tmp_path):
    env = _deployment(tmp_path)
    data = tmp_path / "data"
    r = _cli(env, "issue-device", "gate-01", "--kind", "gate", "--json")
    assert r.returncode == 0, r.stderr
    gate = {"Authorization": f"Bearer {json.loads(r.stdout)['token']}"}
    r = subprocess.run([str(SMARTBORDER), "backoffice", "create-user", "guard1", "--role", "border_guard",
                        "--password-stdin"], env=env, input="a long password 1\n", capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr

    server = _Server(env)
    try:
        body = exception_body(occurred_at=dt.datetime.now(dt.UTC).isoformat())
        r = httpx.post(f"{server.base}/api/v1/exceptions", json=body, headers={**gate, "Idempotency-Key": "bb-1"})
        assert r.status_code == 201, r.text
        exc = r.json()["id"]
        guard = _guard_token(server.base)
        image_url = f"{server.base}/api/v1/exceptions/{exc}/images/live"
        before = httpx.get(image_url, headers=guard)
        assert before.status_code == 200 and before.content[:2] == b"\xff\xd8"
        r = httpx.post(f"{server.base}/api/v1/exceptions/{exc}/decision", json={"decision": "admit"}, headers=guard)
        assert r.status_code == 200, r.text

        # the operator's backup of the data database, taken while the service runs
        backup = tmp_path / "backups" / "backoffice.db"
        r = _smartborder(env, "backoffice", "backup", str(backup), "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["key_store_included"] is False
        assert stat.S_IMODE(backup.stat().st_mode) == 0o600

        # the retention purge, past the images' 30 days after resolution
        later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=45)).isoformat()
        r = _smartborder(env, "privacy", "purge", "--now", later, "--json")
        assert r.returncode == 0, r.stderr
        purge = json.loads(r.stdout)
        assert purge["by_category"].get("live_image") == 1 and purge["by_category"].get("chip_image") == 1
        assert purge["keys_shredded"] >= 2
        assert httpx.get(image_url, headers=guard).status_code == 404  # gone from the live database
    finally:
        server.stop()

    # restore the pre-purge backup beside the live key store
    for suffix in ("", "-wal", "-shm"):
        (data / f"backoffice.db{suffix}").unlink(missing_ok=True)
    shutil.copyfile(backup, data / "backoffice.db")
    server = _Server(env)
    try:
        guard = _guard_token(server.base)
        r = httpx.get(f"{server.base}/api/v1/exceptions/{exc}/images/live", headers=guard)
        assert r.status_code == 410, r.text
        assert r.json()["type"].endswith("/shredded")
        assert before.content[:64] not in r.content
    finally:
        server.stop()

    # the ledger: a copy with its 3 newest rows deleted no longer verifies
    r = _smartborder(env, "privacy", "verify-ledger", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    audit = tmp_path / "audit" / "backoffice.db"
    audit.parent.mkdir()
    shutil.copyfile(data / "backoffice.db", audit)
    with sqlite3.connect(audit) as conn:
        conn.execute("DELETE FROM ledger_entries WHERE seq IN (SELECT seq FROM ledger_entries ORDER BY seq DESC "
                     "LIMIT 3)")
    r = _smartborder(env, "privacy", "verify-ledger", "--db", str(audit), "--json")
    assert r.returncode != 0
    result = json.loads(r.stdout)
    assert result["ok"] is False and "truncated" in result["reason"], result

    # every file the service wrote is its user's alone; the key store is not in the data directory
    keys = tmp_path / "data-keys"
    assert (keys / "backoffice-keys.db").exists() and not list(data.glob("*keys*"))
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    for f in [*data.glob("backoffice.db*"), *keys.iterdir()]:
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600, f
    Path(audit).unlink()
