"""The gate's trust store from the back office, through the composition a deployment uses (build_gate): a new
signed version is installed and decides the next traveller; a forged, altered, rolled-back or corrupt one is
refused with its named reason and the installed store stays in use; a restarted gate starts with what it
installed; the back office knows which version the gate uses."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding

pytest.importorskip("fastapi")

from devicelink import BackofficeClient, TrustStoreAnswer  # noqa: E402
from devices.sim import FixedMrzSource, LoggingDoor, SimulatedReader  # noqa: E402
from emrtd import TrustObject, VersionedTrustStore  # noqa: E402
from emrtd.sim import IssuerPki, issue_document  # noqa: E402
from gate import TRUST_REFUSALS, FingerOutcome  # noqa: E402
from privacy import public_key_b64, sign_list  # noqa: E402
from smartborder.compose.gate import GateConfig, GateDevices, build_gate  # noqa: E402
from tests.backoffice.conftest import build_world, make_config  # noqa: E402
from tests.gate.test_gate_emrtd import ENGINE, EXPIRY, Cam, photo_png, td3  # noqa: E402

NOW = dt.datetime.now(dt.UTC)
DER = Encoding.DER


@pytest.fixture(scope="module")
def pki():
    return IssuerPki.make("VN")


@pytest.fixture()
def world(tmp_path):
    w = build_world(make_config(db_path=tmp_path / "bo.db", trust_store_dir=tmp_path / "bo-ts"))
    yield w
    w.client.close()


def publish(world, tmp_path, items) -> VersionedTrustStore:
    """What `smartborder trust import --store` does in the back office."""
    d = tmp_path / "bo-ts"
    store = VersionedTrustStore.load(d) if (d / "manifest.json").exists() else VersionedTrustStore()
    store.import_objects(items)
    store.save(d)
    return store


def make_gate(world, tmp_path, pki, *, key=None, db=False):
    boot = tmp_path / "boot"  # the configured store: the CSCA only, as copied by hand (no CRL: refers)
    boot.mkdir(exist_ok=True)
    (boot / "csca.der").write_bytes(pki.csca_cert.public_bytes(DER))
    key = key or world.client.get("/api/v1/trust-store/signing-key", headers=world.h("admin")).json()["public_key"]
    config = GateConfig(trust_path=boot, gate_id="gate-01", env="dev", data_dir=tmp_path / "data", liveness="off",
                        fingerprints="off", trust_list_key=key, trust_store_dir=tmp_path / "data" / "gate-trust-store",
                        db_path=tmp_path / "data" / "gate.db" if db else None)
    reader, mrz = SimulatedReader(), FixedMrzSource()
    devices = GateDevices(reader=reader, camera=Cam(True), door=LoggingDoor(), mrz_source=mrz)
    gate = build_gate(config, devices, client=BackofficeClient(token=world.tokens["gate"], http=world.client),
                      face_engine=ENGINE, finger_engine=object())
    gate.workflow.steps.finger = lambda p, *a: FingerOutcome(enrolled=False)
    return gate


def traveller(gate, pki, number="C1234567"):
    doc = issue_document(td3(number, "900315", EXPIRY), photo_png(), pki=pki)
    if gate.store.watchlist_version() == 0:
        gate.store.apply_watchlist_changes([], 1)
    gate.devices.reader.present(doc)
    gate.devices.mrz_source.place(doc.mrz)
    return gate.workflow.process()


def test_a_new_version_is_installed_and_decides_the_next_traveller(world, tmp_path, pki):
    gate = make_gate(world, tmp_path, pki)
    assert gate.trust_sync.version == 0
    first = traveller(gate, pki)
    assert not first.opened and "evidence_missing" in first.decision.reasons  # no CRL in the configured store

    csca = ("csca", TrustObject("csca", pki.csca_cert.public_bytes(DER)))
    publish(world, tmp_path, [csca, ("crl", TrustObject("crl", pki.crl([], NOW - dt.timedelta(days=60))))])
    report = gate.sync()
    assert report.trust_status == "installed" and report.trust_version == 1
    stale = traveller(gate, pki)
    assert not stale.opened and stale.decision.reasons == ("crl_stale",), stale.decision.explain()

    assert gate.sync().trust_status == "not_modified"  # ETag
    publish(world, tmp_path, [("crl", TrustObject("crl", pki.crl([], NOW)))])  # a current CRL: version 2
    assert gate.sync().trust_status == "installed" and gate.trust_sync.version == 2
    ok = traveller(gate, pki)
    assert ok.opened, ok.decision.explain()
    events = [i.payload for i in gate.store.outbox.pending() if i.kind == "event"]
    assert [e.get("trust_store_version") for e in events] == [2]  # the store that decided it (the rest delivered)
    [row] = world.client.get("/api/v1/trust-store/devices", headers=world.h("supervisor")).json()
    assert (row["device_id"], row["version"], row["current"]) == ("gate-01", 1, False)  # said at that poll
    assert gate.sync().trust_status == "not_modified"  # the next poll says what is in use now
    [row] = world.client.get("/api/v1/trust-store/devices", headers=world.h("supervisor")).json()
    assert row["version"] == 2 and row["digest"] == gate.trust_sync.digest and row["current"]
    stored = world.ctx.store.query("SELECT trust_store_version FROM events ORDER BY occurred_at")
    assert [r["trust_store_version"] for r in stored] == [None, 1, 2]  # delivered with the decisions

    # a gate restarted with the same data directory starts with the store it installed
    again = make_gate(world, tmp_path, pki)
    assert again.trust_sync.version == 2 and again.workflow.steps.chip.trust.version == 2
    assert again.sync().trust_status == "unchanged"  # no ETag after a restart: same version, same digest


class Feed:
    """A back office (or a man in the middle) that answers with the given body."""

    def __init__(self, blob: bytes) -> None:
        self.blob = blob

    def trust_store(self, etag=None, *, version=None, digest=None):
        return TrustStoreAnswer(self.blob, '"forged"')


def test_forged_altered_rolled_back_and_corrupt_stores_are_refused(world, tmp_path, pki):
    gate = make_gate(world, tmp_path, pki)
    good = publish(world, tmp_path, [("csca", TrustObject("csca", pki.csca_cert.public_bytes(DER))),
                                     ("crl", TrustObject("crl", pki.crl([], NOW)))])
    publish(world, tmp_path, [("crl", TrustObject("crl", pki.crl([1], NOW + dt.timedelta(seconds=5))))])  # v2
    assert gate.sync().trust_status == "installed" and gate.trust_sync.version == 2
    held = gate.workflow.steps.chip.trust

    stranger = Ed25519PrivateKey.generate()
    forged = sign_list(VersionedTrustStore(good.objects.values(), version=9).to_payload(), stranger,
                       list_name="trust-store", version=9)
    signed = world.client.get("/api/v1/trust-store", headers=world.h("gate")).content
    altered = json.loads(signed)
    altered["payload"]["objects"] = altered["payload"]["objects"][:1]
    older = sign_list(good.to_payload(), world.ctx.trust._signing_key(), list_name="trust-store", version=1)
    other_content = VersionedTrustStore([TrustObject("csca", pki.csca_cert.public_bytes(DER))], version=2)
    equivocation = sign_list(other_content.to_payload(), world.ctx.trust._signing_key(), list_name="trust-store",
                             version=2)
    bad_digest = VersionedTrustStore(good.objects.values(), version=3).to_payload() | {"digest": "sha256:" + "0" * 64}
    corrupt = sign_list(bad_digest, world.ctx.trust._signing_key(), list_name="trust-store", version=3)
    unverifiable = sign_list(VersionedTrustStore([TrustObject("crl", pki.crl([], NOW))], version=3).to_payload(),
                             world.ctx.trust._signing_key(), list_name="trust-store", version=3)
    cases = {
        "trust_unknown_key": forged,
        "trust_bad_signature": json.dumps(altered).encode(),
        "trust_rollback": older,
        "trust_equivocation": equivocation,
        "trust_corrupt": corrupt,
        "trust_unverifiable": unverifiable,  # a CRL no CSCA of the store signed
        "trust_malformed": signed[: len(signed) // 2],
    }
    for reason, blob in cases.items():
        result = gate.trust_sync.sync(Feed(blob))
        assert (result.status, result.reason) == ("refused", reason), (reason, result)
        assert reason in TRUST_REFUSALS
        assert gate.trust_sync.version == 2 and gate.workflow.steps.chip.trust is held
    assert traveller(gate, pki).opened  # the installed store still decides

    # the back office itself went back to version 1 (a restored backup): refused as well
    VersionedTrustStore(good.objects.values(), version=1).save(tmp_path / "bo-ts")
    assert gate.sync().trust_status == "refused" and gate.trust_sync.last.reason == "trust_rollback"
    assert gate.trust_sync.version == 2 and gate.workflow.steps.chip.trust is held


@pytest.mark.parametrize("damage", ["object", "manifest"])
def test_the_rollback_floor_survives_a_damaged_installed_store(world, tmp_path, pki, damage):
    """The highest accepted version lives in the gate's database, not only in the directory it protects: a
    gate restarted with a damaged (or deleted) installed store uses its configured one but still refuses an
    older validly signed list (a replay), and takes the same version again from the back office."""
    gate = make_gate(world, tmp_path, pki, db=True)
    good = publish(world, tmp_path, [("csca", TrustObject("csca", pki.csca_cert.public_bytes(DER))),
                                     ("crl", TrustObject("crl", pki.crl([], NOW)))])
    older = sign_list(good.to_payload(), world.ctx.trust._signing_key(), list_name="trust-store", version=1)
    v2 = publish(world, tmp_path, [("crl", TrustObject("crl", pki.crl([1], NOW + dt.timedelta(seconds=5))))])
    assert gate.sync().trust_status == "installed" and gate.trust_sync.version == 2
    assert gate.trust_sync.sync(Feed(older)).reason == "trust_rollback"
    gate.store.db.close()
    installed = tmp_path / "data" / "gate-trust-store"
    if damage == "object":
        victim = next((installed / "objects").rglob("*.der"))
        victim.write_bytes(victim.read_bytes()[:10])
    else:
        (installed / "manifest.json").unlink()
    again = make_gate(world, tmp_path, pki, db=True)
    assert again.trust_sync.version == 0  # the installed store does not load: the configured one is used
    result = again.trust_sync.sync(Feed(older))
    assert (result.status, result.reason) == ("refused", "trust_rollback"), result
    other = sign_list(VersionedTrustStore([TrustObject("csca", pki.csca_cert.public_bytes(DER))],
                                          version=2).to_payload(), world.ctx.trust._signing_key(),
                      list_name="trust-store", version=2)
    assert again.trust_sync.sync(Feed(other)).reason == "trust_equivocation"  # not the version 2 accepted
    assert again.sync().trust_status == "installed" and again.trust_sync.digest == v2.digest


def test_an_unpinned_gate_fetches_nothing_and_a_wrong_key_is_refused(world, tmp_path, pki):
    publish(world, tmp_path, [("csca", TrustObject("csca", pki.csca_cert.public_bytes(DER)))])
    other = public_key_b64(Ed25519PrivateKey.generate().public_key())
    gate = make_gate(world, tmp_path, pki, key=other)
    r = gate.sync()
    assert r.trust_status == "refused" and gate.trust_sync.last.reason == "trust_unknown_key"
    config = GateConfig(trust_path=tmp_path / "boot", env="dev", data_dir=tmp_path / "d2", liveness="off",
                        fingerprints="off")
    unpinned = build_gate(config, GateDevices(SimulatedReader(), Cam(True), LoggingDoor()),
                          client=BackofficeClient(token=world.tokens["gate"], http=world.client),
                          face_engine=ENGINE, finger_engine=object())
    assert unpinned.trust_sync is None and unpinned.sync().trust_status is None
    from smartborder.compose.gate import GateConfigError, validate

    with pytest.raises(GateConfigError, match="trust_list_key"):
        validate(GateConfig(trust_path=tmp_path / "boot", env="dev", trust_list_key="not a key"))


class Recorder:
    """The back office client as the gate uses it, recording what each trust store poll sent and received."""

    def __init__(self, client) -> None:
        self.client, self.calls = client, []

    def trust_store(self, etag=None, *, version=None, digest=None):
        answer = self.client.trust_store(etag, version=version, digest=digest)
        self.calls.append((etag, answer.blob is not None))
        return answer


class Replay:
    """A man in the middle answering 304 to every poll (the gate's store frozen)."""

    def __init__(self) -> None:
        self.etags = []

    def trust_store(self, etag=None, *, version=None, digest=None):
        self.etags.append(etag)
        return TrustStoreAnswer(None, etag, not_modified=True)


def test_a_list_not_confirmed_within_its_max_age_is_reported_stale(world, tmp_path, pki):
    """Freshness: the signed list's issued_at bounds how long a store counts as confirmed ([gate]
    trust_list_max_age_h); past half of it the gate asks without ETag, so a replayed 304 cannot keep it fresh, and
    past all of it the gate reports trust_list_stale (and keeps deciding with its store)."""
    gate = make_gate(world, tmp_path, pki)
    assert gate.trust_sync.max_age == dt.timedelta(hours=72)
    publish(world, tmp_path, [("csca", TrustObject("csca", pki.csca_cert.public_bytes(DER))),
                              ("crl", TrustObject("crl", pki.crl([], NOW)))])
    report = gate.sync()
    assert report.trust_status == "installed" and report.trust_warning is None
    mitm = Replay()
    assert gate.trust_sync.sync(mitm).warning is None and mitm.etags[-1]  # fresh: the ETag is sent
    gate.trust_sync.issued_at -= dt.timedelta(hours=40)  # 40 h later
    result = gate.trust_sync.sync(mitm)
    assert mitm.etags[-1] is None and result.status == "not_modified" and result.warning is None  # asked anew
    gate.trust_sync.issued_at -= dt.timedelta(hours=33)  # 73 h: the man in the middle kept answering 304
    result = gate.trust_sync.sync(mitm)
    assert result.warning == "trust_list_stale" == gate.trust_sync.last.warning
    assert traveller(gate, pki).opened  # reported, not a refusal: the store in use still decides
    # the back office re-signs the unchanged store hourly: a genuine answer makes it fresh again
    world.ctx.trust._served = dataclasses.replace(world.ctx.trust._served,
                                                  signed_at=NOW - dt.timedelta(hours=2))
    report = gate.sync()
    assert (report.trust_status, report.trust_warning) == ("unchanged", None)
    assert gate.trust_sync.age() < dt.timedelta(minutes=5)
    # a freshly started gate has no confirmation yet: stale until its first verified answer
    assert make_gate(world, tmp_path, pki).trust_sync.warning() == "trust_list_stale"


def test_a_refused_store_is_not_downloaded_at_every_poll(world, tmp_path, pki):
    gate = make_gate(world, tmp_path, pki)
    good = publish(world, tmp_path, [("csca", TrustObject("csca", pki.csca_cert.public_bytes(DER))),
                                     ("crl", TrustObject("crl", pki.crl([], NOW)))])
    publish(world, tmp_path, [("crl", TrustObject("crl", pki.crl([1], NOW + dt.timedelta(seconds=5))))])
    assert gate.sync().trust_status == "installed" and gate.trust_sync.version == 2
    VersionedTrustStore(good.objects.values(), version=1).save(tmp_path / "bo-ts")  # a restored backup
    client = Recorder(gate.client)
    for _ in range(3):
        result = gate.trust_sync.sync(client)
        assert (result.status, result.reason) == ("refused", "trust_rollback")
    assert [downloaded for _, downloaded in client.calls] == [True, False, False], client.calls
    assert gate.trust_sync.version == 2
