import json

from click.testing import CliRunner

from smartborder.cli import main


def _env(tmp_path):
    return {"SMARTBORDER_ENV": "dev", "SMARTBORDER_DATA_DIR": str(tmp_path)}


def test_create_user_issue_rotate_revoke_device(tmp_path):
    runner = CliRunner()
    db = str(tmp_path / "bo.db")
    r = runner.invoke(main, ["backoffice", "create-user", "guard1", "--role", "border_guard", "--password-stdin",
                             "--db", db], input="a long password\n", env=_env(tmp_path))
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["role"] == "border_guard"
    r = runner.invoke(main, ["backoffice", "create-user", "guard1", "--role", "border_guard", "--password-stdin",
                             "--db", db], input="a long password\n", env=_env(tmp_path))
    assert r.exit_code == 1 and "exists" in r.output
    r = runner.invoke(main, ["backoffice", "create-user", "x2", "--role", "admin", "--password-stdin", "--db", db],
                      input="short\n", env=_env(tmp_path))
    assert r.exit_code == 1 and "10 characters" in r.output
    r = runner.invoke(main, ["backoffice", "issue-device", "gate-01", "--kind", "gate", "--json", "--db", db],
                      env=_env(tmp_path))
    assert r.exit_code == 0, r.output
    first = json.loads(r.output)["token"]
    r = runner.invoke(main, ["backoffice", "rotate-device", "gate-01", "--db", db], env=_env(tmp_path))
    assert r.exit_code == 0 and r.output.strip().startswith("sbd_") and r.output.strip() != first
    r = runner.invoke(main, ["backoffice", "revoke-device", "gate-01", "--db", db], env=_env(tmp_path))
    assert json.loads(r.output)["active"] is False
    r = runner.invoke(main, ["backoffice", "revoke-device", "nope", "--db", db], env=_env(tmp_path))
    assert r.exit_code == 1 and "no device" in r.output
    # dev secrets persist across invocations so the vault key does not change between restarts; they live
    # in the key directory (a sibling of the data directory, 0700), never in the data and its backups
    assert not (tmp_path / "backoffice.dev-secrets.json").exists()
    key_dir = tmp_path.with_name(tmp_path.name + "-keys")
    secrets_file = key_dir / "backoffice.dev-secrets.json"
    assert secrets_file.exists() and oct(secrets_file.stat().st_mode)[-3:] == "600"
    assert oct(key_dir.stat().st_mode)[-3:] == "700"


def test_import_watchlist(tmp_path):
    csv_file = tmp_path / "docs.csv"
    csv_file.write_text("document_number,issuing_state,reason\nC1234567,VNM,stolen\n,VNM,lost\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["backoffice", "import-watchlist", str(csv_file), "--kind", "document",
                                  "--db", str(tmp_path / "bo.db")], env=_env(tmp_path))
    assert r.exit_code == 1
    assert "1 accepted, 1 rejected, version 1" in r.output and "row 3" in r.output


def test_prod_refuses_placeholder_secret(tmp_path):
    r = CliRunner().invoke(main, ["backoffice", "issue-device", "g", "--kind", "gate", "--db", str(tmp_path / "x.db")],
                           env={"SMARTBORDER_ENV": "prod", "SMARTBORDER_SECRET_KEY": "changeme",
                                "SMARTBORDER_DATA_DIR": str(tmp_path)})
    assert r.exit_code == 1 and "secret_key" in r.output


def test_serve_on_loopback(tmp_path):
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, **_env(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "smartborder", "backoffice", "serve", "--port", str(port),
                             "--db", str(tmp_path / "serve.db")], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stderr.read()
                time.sleep(0.2)
        assert r.json()["status"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/auth/me").headers["content-type"] == "application/problem+json"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    requests = [entry for entry in logs if entry.get("event") == "request"]
    assert requests and requests[0]["route"] == "/healthz" and "path" not in requests[0]


def test_openapi_command(tmp_path):
    out = tmp_path / "openapi.json"
    r = CliRunner().invoke(main, ["backoffice", "openapi", "--output", str(out)], env=_env(tmp_path))
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert "/api/v1/watchlist/changes" in doc["paths"] and "bearer" in doc["components"]["securitySchemes"]
