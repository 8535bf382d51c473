"""``smartborder trust import|list|status|export`` with --json: LDIF, Master Lists, PEM and CRL files."""

from __future__ import annotations

import datetime as dt
import json

from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from emrtd.sim import IssuerPki
from smartborder.cli import main
from tests.emrtd.test_trust_store import pkd_ldif

NOW = dt.datetime.now(dt.UTC)


def _run(*args):
    r = CliRunner().invoke(main, ["trust", *args])
    return r


def test_import_status_list_export_round_trip(tmp_path):
    store = tmp_path / "ts"
    (tmp_path / "pkd.ldif").write_bytes(pkd_ldif(crl_now=NOW - dt.timedelta(days=60)))
    r = _run("import", str(tmp_path / "pkd.ldif"), "--store", str(store), "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["version"] == 1 and report["changed"] and report["added"] == {"csca": 0, "ml": 1, "dsc": 1, "crl": 1}
    again = json.loads(_run("import", str(tmp_path / "pkd.ldif"), "--store", str(store), "--json").output)
    assert again["version"] == 1 and not again["changed"]

    other = IssuerPki.make("XX")
    (tmp_path / "xx.pem").write_bytes(other.csca_cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "xx.crl").write_bytes(other.crl([], NOW))
    r = _run("import", str(tmp_path / "xx.pem"), str(tmp_path / "xx.crl"), "--store", str(store), "--json")
    assert json.loads(r.output)["version"] == 2

    status = json.loads(_run("status", "--store", str(store), "--json").output)
    assert status["version"] == 2 and status["digest"].startswith("sha256:")
    assert {c["country"] for c in status["cscas"]} == {"UT", "VN", "XX"}
    assert all({"subject", "country", "serial", "not_before", "not_after", "fingerprint_sha256"} <= set(c)
               for c in status["cscas"])
    crls = {c["country"]: c for c in status["crls"]}
    assert crls["UT"]["status"] == "stale" and not crls["UT"]["fresh"] and crls["XX"]["status"] == "fresh"
    assert all({"issuer", "this_update", "next_update", "fresh"} <= set(c) for c in status["crls"])

    listing = json.loads(_run("list", "--store", str(store), "--json").output)
    assert sorted(o["kind"] for o in listing["objects"]) == ["crl", "crl", "csca", "dsc", "ml"]
    assert _run("list", "--store", str(store)).exit_code == 0 and _run("status", "--store", str(store)).exit_code == 0

    assert _run("export", str(tmp_path / "out.ldif"), "--store", str(store)).exit_code == 0
    r = _run("import", str(tmp_path / "out.ldif"), "--store", str(tmp_path / "copy"), "--json")
    assert json.loads(r.output)["digest"] == status["digest"]


def test_a_file_that_cannot_be_read_changes_nothing(tmp_path):
    store = tmp_path / "ts"
    (tmp_path / "pkd.ldif").write_bytes(pkd_ldif())
    (tmp_path / "bad.ldif").write_bytes(b"dn: cn=x\nuserCertificate;binary:: ???\n")
    r = _run("import", str(tmp_path / "pkd.ldif"), str(tmp_path / "bad.ldif"), "--store", str(store))
    assert r.exit_code == 1 and "nothing imported" in r.output and "base64" in r.output
    assert not (store / "manifest.json").exists()
    r = _run("status", "--store", str(store))
    assert r.exit_code == 1 and "not a versioned trust store" in r.output


def test_signing_key_is_the_key_the_back_office_signs_with(tmp_path):
    """`trust signing-key` reads the back office's vault: the key a gate pins verifies what the server serves."""
    import subprocess

    from privacy import load_public_key, verify_list
    from smartborder.compose.backoffice import build_backoffice
    from smartborder.settings import load_settings
    from tests.backoffice.test_serve_e2e import SMARTBORDER, _cli, _deployment

    env = _deployment(tmp_path)
    assert _cli(env, "issue-device", "gate-01", "--kind", "gate", "--json").returncode == 0  # creates the database
    runs = [subprocess.run([str(SMARTBORDER), "trust", "signing-key", "--json"], env=env, capture_output=True,
                           text=True, timeout=120) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr
    first, second = (json.loads(r.stdout) for r in runs)
    assert first == second and len(first["key_id"]) == 16  # created once, kept in the vault
    settings = load_settings(env["SMARTBORDER_CONFIG"], environ=env)
    app = build_backoffice(settings)
    (settings.data_dir / "trust-store").mkdir()
    from emrtd import VersionedTrustStore, objects_from_ldif

    store = VersionedTrustStore()
    store.import_objects(objects_from_ldif(pkd_ldif())[0])
    store.save(settings.data_dir / "trust-store")  # the composition's default: DATA_DIR/trust-store
    served = app.state.ctx.trust.current()
    assert verify_list(served.blob, [load_public_key(first["public_key"])], list_name="trust-store", min_version=0).version == 1


def test_ldif_entries_without_a_trust_object_are_reported_and_an_empty_file_is_refused(tmp_path):
    """A misspelled attribute is skipped by its DN, not dropped silently; a file with no trust object at all
    (empty, comments only, every attribute misspelled) changes nothing, exit 1, named."""
    store = tmp_path / "ts"
    typo = b"dn: cn=typo,o=dsc,c=UT,dc=data\nobjectClass: pkdDownload\nuserCertifcate;binary:: AAEC\n\n"
    (tmp_path / "pkd.ldif").write_bytes(pkd_ldif() + b"\n" + typo)
    r = _run("import", str(tmp_path / "pkd.ldif"), "--store", str(store), "--json")
    assert r.exit_code == 0, r.output
    skipped = json.loads(r.output)["skipped"]
    assert [s["source"] for s in skipped] == [f"{tmp_path / 'pkd.ldif'}: cn=typo,o=dsc,c=UT,dc=data"], skipped
    assert "no certificate, CRL or Master List" in skipped[0]["reason"]
    for name, body in {"empty.ldif": b"", "comments.ldif": b"version: 1\n# nothing here\n", "typo.ldif": typo}.items():
        (tmp_path / name).write_bytes(body)
        r = _run("import", str(tmp_path / name), "--store", str(tmp_path / "other"))
        assert r.exit_code == 1 and "NoTrustObjects" in r.output and "nothing imported" in r.output, r.output
        assert not (tmp_path / "other" / "manifest.json").exists()


def _pem(tmp_path, country: str):
    path = tmp_path / f"{country}.pem"
    path.write_bytes(IssuerPki.make(country).csca_cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


def test_concurrent_imports_are_serialised_by_the_store_lock(tmp_path, monkeypatch):
    """Two imports from version 1 (threads: flock locks are per open file, so they exclude each other as two
    processes do): without the lock both saved version 2 with different content (equivocation)."""
    import threading
    import time

    from emrtd import VersionedTrustStore
    from smartborder.commands.trust import import_cmd

    store = tmp_path / "ts"
    assert _run("import", _pem(tmp_path, "AA"), "--store", str(store)).exit_code == 0
    slow = VersionedTrustStore.import_objects

    def import_slowly(self, *a, **kw):  # widen the load -> save window
        report = slow(self, *a, **kw)
        time.sleep(0.4)
        return report

    monkeypatch.setattr(VersionedTrustStore, "import_objects", import_slowly)
    files = [_pem(tmp_path, "BB"), _pem(tmp_path, "CC")]
    threads = [threading.Thread(target=import_cmd.callback, args=((f,), str(store), None, (), None, True))
               for f in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    final = VersionedTrustStore.load(store)
    assert final.version == 3 and len(final.of_kind("csca")) == 3


def test_a_new_store_starts_at_min_version_and_re_creating_the_configured_store_warns(tmp_path):
    r = _run("import", _pem(tmp_path, "AA"), "--store", str(tmp_path / "ts"), "--min-version", "7", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["version"] == 7, r.output
    r = _run("import", _pem(tmp_path, "BB"), "--store", str(tmp_path / "ts"), "--min-version", "9")
    assert r.exit_code == 1 and "already holds version 7" in r.output
    config = tmp_path / "smartborder.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    r = CliRunner().invoke(main, ["trust", "import", _pem(tmp_path, "CC"), "--config", str(config)])
    assert r.exit_code == 0 and "WARNING" in r.stderr and "--min-version" in r.stderr, r.output
    r = CliRunner().invoke(main, ["trust", "import", _pem(tmp_path, "DD"), "--config", str(config)])
    assert r.exit_code == 0 and "WARNING" not in r.stderr and "version 1 -> 2" in r.stdout
