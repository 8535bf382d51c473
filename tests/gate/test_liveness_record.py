"""The liveness path as data from the gate to the back office (issue #23): a gate built as deployed
(``smartborder.compose.gate.build_gate``, simulated reader, camera and door, a scripted face engine) decides a
traveller, its outbox is delivered over HTTP by devicelink's client to the real back office (in process), and
the exception and the transaction event there say which liveness path ran, the passive verdict and score, and
why liveness failed, as fields (the exception's message keeps its text note for back offices of before)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

pytest.importorskip("fastapi")

from devicelink import BackofficeClient  # noqa: E402
from gate import sync_once  # noqa: E402
from gate._workflow import _liveness_fields  # noqa: E402
from tests.backoffice.conftest import build_world, make_config  # noqa: E402
from tests.gate.test_liveness_policy import Script, lane  # noqa: E402

FIELDS = ("liveness_path", "passive_decision", "passive_score", "liveness_reason")


@pytest.fixture(scope="module")
def pki():
    from emrtd.sim import IssuerPki

    return IssuerPki.make("VN")


@pytest.fixture()
def world(tmp_path):
    w = build_world(make_config(db_path=tmp_path / "bo.db"))
    yield w
    w.client.close()


def deliver(world, pki, script: Script, liveness: str = "passive+challenge-on-doubt"):
    """One traveller through the composed gate; its outbox delivered to the back office. -> (result, exceptions
    as the review shows them, events as listed)."""
    gate, _ = lane(pki, script, liveness)
    try:
        result = gate.workflow.process()
        report = sync_once(gate.store, BackofficeClient(token=world.tokens["gate"], http=world.client))
    finally:
        gate.close()
    assert report.pending == 0 and report.rejected == 0, report
    guard = world.h("border_guard")
    queue = world.client.get("/api/v1/exceptions", headers=guard).json()["items"]
    details = [world.client.get(f"/api/v1/exceptions/{e['id']}", headers=guard).json() for e in queue]
    events = world.client.get("/api/v1/events", headers=world.h("supervisor")).json()
    return result, details, events


def test_a_failed_challenge_after_a_passive_doubt_reaches_the_officer_as_data(world, pki):
    r, [exc], [event] = deliver(world, pki, Script(passive="doubt", challenge_passes=False))
    assert not r.opened and exc["reason_codes"] == ["liveness_failed"]
    assert {k: exc[k] for k in FIELDS} == {"liveness_path": "passive+challenge", "passive_decision": "doubt",
                                           "passive_score": 0.35, "liveness_reason": "timeout: blink"}
    assert "[liveness: path passive+challenge; passive doubt; timeout: blink]" in exc["message"]
    raw = world.ctx.store.one("SELECT liveness_path, passive_score FROM exceptions WHERE id = ?", (exc["id"],))
    assert raw == {"liveness_path": "passive+challenge", "passive_score": 0.35}
    assert event["kind"] == "transaction" and event["outcome"] == "referred"
    assert event["liveness_path"] == "passive+challenge"


def test_a_passive_attack_reaches_the_officer_as_data(world, pki):
    r, [exc], [event] = deliver(world, pki, Script(passive="attack", score=0.99))
    assert not r.opened
    assert {k: exc[k] for k in FIELDS} == {"liveness_path": "passive", "passive_decision": "attack",
                                           "passive_score": 0.05, "liveness_reason": "passive_attack: moire"}
    assert event["liveness_path"] == "passive"


def test_a_failed_pad_engine_is_unknown_without_a_score(world, pki):
    r, [exc], _ = deliver(world, pki, Script(passive="raise", score=0.1))  # challenged, passed; the face mismatches
    assert not r.opened and exc["reason_codes"] == ["face_mismatch"]
    assert {k: exc[k] for k in FIELDS} == {"liveness_path": "passive+challenge", "passive_decision": "unknown",
                                           "passive_score": None, "liveness_reason": None}


def test_an_opened_passive_live_traveller_counts_as_not_challenged(world, pki):
    r, exceptions, [event] = deliver(world, pki, Script(passive="live"))
    assert r.opened and exceptions == []
    assert event["outcome"] == "admitted" and event["liveness_path"] == "passive"
    r, _, events = deliver(world, pki, Script(passive=None), "challenge-all")
    assert r.opened and sorted(e["liveness_path"] for e in events) == ["challenge", "passive"]


@pytest.mark.parametrize(("face", "sent"), [
    (SimpleNamespace(liveness_path=None, passive_decision="live", passive_score=0.9, liveness_reason="x"), {}),
    (SimpleNamespace(liveness_path="passive+challenge-on-doubt"), {}),  # a policy, not a path: left out
    (SimpleNamespace(liveness_path="off", passive_decision=None, passive_score=None, liveness_reason=None),
     {"liveness_path": "off"}),
    (SimpleNamespace(liveness_path="passive", passive_decision="weird", passive_score=math.nan),
     {"liveness_path": "passive", "passive_decision": "unknown"}),
    (SimpleNamespace(liveness_path="passive", passive_decision="live", passive_score=1.2, liveness_reason=""),
     {"liveness_path": "passive", "passive_decision": "live"}),
    (SimpleNamespace(liveness_path="challenge", passive_score=True,
                     liveness_reason="timeout:\n\tblink\u202e\x00" + "y" * 300),
     {"liveness_path": "challenge", "liveness_reason": ("timeout: blink" + "y" * 300)[:200]}),
    (None, {}),
])
def test_the_gate_sends_only_what_the_schema_accepts(face, sent):
    """A value the back office would refuse would park the whole exception: it is left out instead."""
    assert _liveness_fields(face) == sent
    if sent:
        from backoffice.schemas import ExceptionCreate

        ExceptionCreate.model_validate({"occurred_at": "2026-11-22T08:00:00Z", "reason_codes": ["other"], **sent})
