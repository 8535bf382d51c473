"""GET /api/v1/trust-store: the versioned trust store, signed by the back office, with ETag/304; each device's
reported version; a store that does not verify is not served."""

from __future__ import annotations

import datetime as dt

import pytest

from emrtd import TrustObject, VersionedTrustStore, objects_from_ldif
from emrtd.sim import IssuerPki
from privacy import load_public_key, verify_list
from tests.backoffice.conftest import build_world, make_config
from tests.emrtd.test_trust_store import pkd_ldif

URL = "/api/v1/trust-store"


@pytest.fixture()
def feed(tmp_path):
    w = build_world(make_config(db_path=tmp_path / "bo.db", trust_store_dir=tmp_path / "ts"))
    yield w, tmp_path / "ts"
    w.client.close()


def _import(directory, items) -> VersionedTrustStore:
    store = VersionedTrustStore.load(directory) if (directory / "manifest.json").exists() else VersionedTrustStore()
    store.import_objects(items)
    store.save(directory)
    return store


def test_round_trip_with_etag_and_a_new_version(feed):
    w, ts = feed
    r = w.client.get(URL, headers=w.h("gate"))
    assert r.status_code == 404 and r.json()["type"].endswith("trust-store-not-configured")
    store = _import(ts, objects_from_ldif(pkd_ldif())[0])

    key = w.client.get(f"{URL}/signing-key", headers=w.h("admin")).json()
    pinned = load_public_key(key["public_key"])
    r = w.client.get(URL, headers=w.h("gate"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    signed = verify_list(r.content, [pinned], list_name="trust-store", min_version=0)
    assert signed.key_id == key["key_id"] and signed.version == store.version == 1
    got = VersionedTrustStore.from_payload(signed.payload)
    assert got.digest == store.digest and r.headers["X-Trust-Store-Version"] == "1"
    etag = r.headers["ETag"]
    assert etag.startswith('"ts-1-')

    r = w.client.get(URL, headers=w.h("gate", **{"If-None-Match": etag}))
    assert r.status_code == 304 and r.headers["ETag"] == etag and not r.content
    assert w.client.get(URL, headers=w.h("kiosk", **{"If-None-Match": f'W/{etag}, "x"'})).status_code == 304

    other = IssuerPki.make("XX")
    from cryptography.hazmat.primitives.serialization import Encoding

    _import(ts, [("pem", TrustObject("csca", other.csca_cert.public_bytes(Encoding.DER)))])  # no restart
    r = w.client.get(URL, headers=w.h("gate", **{"If-None-Match": etag}))
    assert r.status_code == 200 and r.headers["ETag"] != etag
    assert verify_list(r.content, [pinned], list_name="trust-store", min_version=2).version == 2


def test_devices_report_the_version_they_use(feed):
    w, ts = feed
    store = _import(ts, objects_from_ldif(pkd_ldif())[0])
    w.client.get(URL, headers=w.h("gate", **{"X-Trust-Store-Version": "0"}))
    [row] = w.client.get(f"{URL}/devices", headers=w.h("supervisor")).json()
    assert (row["device_id"], row["version"], row["digest"], row["current"]) == ("gate-01", 0, "", False)
    w.client.get(URL, headers=w.h("gate", **{"X-Trust-Store-Version": "1", "X-Trust-Store-Digest": store.digest}))
    w.client.get(URL, headers=w.h("kiosk", **{"X-Trust-Store-Version": "1", "X-Trust-Store-Digest": "bogus"}))
    rows = {d["device_id"]: d for d in w.client.get(f"{URL}/devices", headers=w.h("admin")).json()}
    assert rows["gate-01"]["version"] == 1 and rows["gate-01"]["digest"] == store.digest and rows["gate-01"]["current"]
    assert rows["kiosk-01"]["digest"] == ""  # a malformed digest is not kept
    assert dt.datetime.fromisoformat(rows["gate-01"]["reported_at"].replace("Z", "+00:00"))
    w.client.get(URL, headers=w.h("supervisor", **{"X-Trust-Store-Version": "5"}))  # staff report nothing
    assert "supervisor" not in {d["device_id"] for d in w.client.get(f"{URL}/devices", headers=w.h("admin")).json()}
    assert w.client.get(URL, headers=w.h("gate", **{"X-Trust-Store-Version": "-1"})).status_code == 422


def test_roles_and_a_store_that_does_not_verify(feed):
    w, ts = feed
    _import(ts, objects_from_ldif(pkd_ldif())[0])
    assert w.client.get(URL).status_code == 401
    assert w.client.get(URL, headers=w.h("border_guard")).status_code == 403
    assert w.client.get(f"{URL}/devices", headers=w.h("gate")).status_code == 403
    assert w.client.get(f"{URL}/signing-key", headers=w.h("gate")).status_code == 403
    victim = next((ts / "objects" / "ml").iterdir())
    victim.write_bytes(victim.read_bytes()[:-2])
    manifest = (ts / "manifest.json").read_text()
    (ts / "manifest.json").write_text(manifest.replace('"version": 1', '"version": 2'))  # a changed manifest
    r = w.client.get(URL, headers=w.h("gate"))
    assert r.status_code == 503 and r.json()["type"].endswith("trust-store-unavailable")
    assert "does not hash" in r.json()["detail"]


def test_an_unchanged_store_is_signed_again_hourly_under_the_same_etag(feed):
    """Gates bound the age of the signed list confirming their store: the back office signs an unchanged store
    again once the one served is an hour old (a later issued_at), keeping the ETag (version and digest)."""
    w, ts = feed
    _import(ts, objects_from_ldif(pkd_ldif())[0])
    pinned = load_public_key(w.client.get(f"{URL}/signing-key", headers=w.h("admin")).json()["public_key"])
    first = w.client.get(URL, headers=w.h("gate"))
    assert w.client.get(URL, headers=w.h("gate")).content == first.content  # within the hour: the same list
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1, minutes=1)
    w.ctx.trust.clock = lambda: later
    again = w.client.get(URL, headers=w.h("gate"))
    assert again.headers["ETag"] == first.headers["ETag"] and again.content != first.content
    a, b = (verify_list(r.content, [pinned], list_name="trust-store", min_version=1) for r in (first, again))
    assert (a.version, a.payload) == (b.version, b.payload)
    assert dt.datetime.fromisoformat(b.issued_at) - dt.datetime.fromisoformat(a.issued_at) >= dt.timedelta(hours=1)
