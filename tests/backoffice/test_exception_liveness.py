"""The gate's liveness check as data in an exception (issue #23): ``liveness_path``, ``passive_decision``,
``passive_score`` and ``liveness_reason`` are accepted only as the schema says, stored in their own columns (no
personal data: listed in the queue and the review), shown on the guard's review page, and a database of the
previous release upgrades: its rows read as "not said" and a retry of a request it answered still replays."""

from __future__ import annotations

import hashlib
import json
import typing

import pytest

from backoffice import schemas
from backoffice._store import MIGRATIONS, Store
from storage import migrate, open_database
from tests.backoffice.conftest import build_world, exception_body, make_config, ui_login

LIVENESS = {"liveness_path": "passive+challenge", "passive_decision": "doubt", "passive_score": 0.35,
            "liveness_reason": "timeout: blink"}


def _post(world, body, key):
    return world.client.post("/api/v1/exceptions", json=body, headers=world.h("gate", **{"Idempotency-Key": key}))


def test_the_liveness_fields_are_stored_listed_and_reviewed(world):
    r = _post(world, exception_body(reason_codes=["liveness_failed"], **LIVENESS), "k-live")
    assert r.status_code == 201, r.text
    eid = r.json()["id"]
    assert {k: r.json()[k] for k in LIVENESS} == LIVENESS
    row = world.ctx.store.one("SELECT liveness_path, passive_decision, passive_score, liveness_reason "
                              "FROM exceptions WHERE id = ?", (eid,))
    assert row == LIVENESS  # columns of the row, not sealed personal data
    guard = world.h("border_guard")
    [item] = world.client.get("/api/v1/exceptions", headers=guard).json()["items"]
    assert {k: item[k] for k in LIVENESS} == LIVENESS
    detail = world.client.get(f"/api/v1/exceptions/{eid}", headers=guard).json()
    assert {k: detail[k] for k in LIVENESS} == LIVENESS
    # the same body again replays; the same key with another liveness path is another request
    assert _post(world, exception_body(reason_codes=["liveness_failed"], **LIVENESS), "k-live").status_code == 200
    other = exception_body(reason_codes=["liveness_failed"], **{**LIVENESS, "liveness_path": "challenge"})
    assert _post(world, other, "k-live").json()["type"].endswith("idempotency-key-reused")


def test_an_exception_without_them_says_nothing(world):
    eid = _post(world, exception_body(), "k-none").json()["id"]
    detail = world.client.get(f"/api/v1/exceptions/{eid}", headers=world.h("border_guard")).json()
    assert all(detail[k] is None for k in LIVENESS)


#: invisible format characters (Unicode Cf): bidi mark, zero width space/non-joiner/joiner, LRM/RLM, word joiner and
#: invisible operators, deprecated format characters, BOM
INVISIBLE = ("\u061c", "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u2060", "\u2063", "\u2064", "\u206a",
             "\u206f", "\ufeff")


@pytest.mark.parametrize(("field", "value"), [
    ("liveness_path", "passive+challenge-on-doubt"),  # a lane's policy is not a path
    ("liveness_path", "PASSIVE"), ("liveness_path", ""),
    ("passive_decision", "maybe"), ("passive_decision", "Live"),
    ("passive_score", 1.01), ("passive_score", -0.1), ("passive_score", True), ("passive_score", "0.5"),
    ("liveness_reason", "x" * 201), ("liveness_reason", "timeout:\nblink"), ("liveness_reason", "a\u202eb"),
    # empty, and the invisible format characters (Cf) the shared name filter lets through
    ("liveness_reason", ""),
    *[("liveness_reason", f"timeout:{c}blink") for c in INVISIBLE],
])
def test_a_bad_liveness_field_is_refused_with_422(world, field, value):
    r = _post(world, exception_body(**{**LIVENESS, field: value}), f"k-{field}-{value!r}")
    assert r.status_code == 422, (field, value, r.text)
    assert any(e["loc"][:2] == ["body", field] for e in r.json()["errors"]), r.json()["errors"]
    assert world.ctx.store.one("SELECT COUNT(*) AS n FROM exceptions")["n"] == 0


def test_a_name_keeps_its_joiners_a_liveness_reason_does_not(world):
    """ZWNJ belongs in a Persian name (the shared name filter keeps it); a device's liveness reason never holds it."""
    document = {**exception_body()["document"], "given_names": "\u0639\u0644\u06cc\u200c\u0631\u0636\u0627"}
    assert _post(world, exception_body(**LIVENESS, document=document), "k-zwnj-name").status_code == 201
    r = _post(world, exception_body(**{**LIVENESS, "liveness_reason": "timeout:\u200cblink"}), "k-zwnj-reason")
    assert r.status_code == 422 and [e["loc"] for e in r.json()["errors"]] == [["body", "liveness_reason"]]


def test_the_gate_never_sends_a_reason_the_schema_refuses():
    """The gate's reason filter (``gate._workflow._liveness_fields``) drops what the schema refuses, so a strange
    reason never parks the whole referral."""
    from types import SimpleNamespace

    from gate._workflow import _liveness_fields

    for c in (*INVISIBLE, "\n", "\u202e", "\x85"):
        fields = _liveness_fields(SimpleNamespace(liveness_path="passive", passive_decision="attack",
                                                  passive_score=0.1, liveness_reason=f"passive_attack:{c}moire"))
        schemas.ExceptionCreate.model_validate(exception_body(**fields))
        assert fields["liveness_reason"].replace(" ", "") == "passive_attack:moire", repr(c)
    only_invisible = _liveness_fields(SimpleNamespace(liveness_path="passive", liveness_reason="\u200b\ufeff"))
    assert "liveness_reason" not in only_invisible  # nothing left: left out, not sent empty


def test_a_non_finite_passive_score_and_an_unknown_key_are_refused(world):
    text = json.dumps(exception_body(**{**LIVENESS, "passive_score": "@@"})).replace('"@@"', "NaN")
    r = world.client.post("/api/v1/exceptions", content=text.encode(), headers=world.h(
        "gate", **{"Idempotency-Key": "k-nan", "Content-Type": "application/json"}))
    assert r.status_code == 422 and any(e["loc"][:2] == ["body", "passive_score"] for e in r.json()["errors"])
    for extra in ({"liveness": {"path": "passive"}}, {"liveness_paths": "passive"}, {"passive_reasons": ["moire"]}):
        r = _post(world, exception_body(**LIVENESS, **extra), f"k-extra-{next(iter(extra))}")
        assert r.status_code == 422, extra
        assert any(e["loc"][:2] == ["body", next(iter(extra))] for e in r.json()["errors"])


def test_the_schema_names_exactly_the_gate_s_paths_and_verdicts():
    """The back office does not import the gate: this pins that its vocabulary is the gate's (a path the gate
    adds must be added here, or the gate's exception would leave it out)."""
    from biometrics.face._passive import DECISIONS as PAD_DECISIONS
    from gate._face import LIVENESS_PATHS, PASSIVE_DECISIONS

    assert set(typing.get_args(schemas.LivenessPath)) == set(LIVENESS_PATHS)
    assert set(PASSIVE_DECISIONS) | set(PAD_DECISIONS) | {"error"} == set(typing.get_args(schemas.PassiveDecision))


def test_the_event_carries_the_path(world):
    body = {"occurred_at": "2026-11-22T08:00:00Z", "outcome": "admitted", "liveness_path": "passive"}
    h = world.h("gate", **{"Idempotency-Key": "evt-live"})
    assert world.client.post("/api/v1/events", json=body, headers=h).status_code == 201
    [event] = world.client.get("/api/v1/events", headers=world.h("supervisor")).json()
    assert event["liveness_path"] == "passive"
    r = world.client.post("/api/v1/events", json=body | {"liveness_path": "doubt"}, headers=world.h("gate"))
    assert r.status_code == 422


def test_the_review_page_shows_the_liveness_path(world):
    from fastapi.testclient import TestClient

    eid = _post(world, exception_body(reason_codes=["liveness_failed"], **LIVENESS), "k-ui").json()["id"]
    plain = _post(world, exception_body(), "k-ui-none").json()["id"]
    client = TestClient(world.app, raise_server_exceptions=False, follow_redirects=False)
    assert ui_login(client, "border-guard").status_code == 303
    page = client.get(f"/ui/exceptions/{eid}").text  # Vietnamese first
    assert 'id="rv-liveness" data-path="passive+challenge" data-passive="doubt"' in page
    assert "kiểm tra thụ động, sau đó thử thách chủ động" in page and "nghi ngờ (0.35)" in page
    assert "timeout: blink" in page
    client.get("/ui/lang/en")
    page = client.get(f"/ui/exceptions/{eid}").text
    assert "Liveness check:</span> passive, then the active challenge · passive verdict: in doubt (0.35)" in page
    assert 'id="rv-liveness"' not in client.get(f"/ui/exceptions/{plain}").text


def test_a_database_of_the_previous_release_upgrades(tmp_path):
    """Columns added to an existing database; its rows read as "not said"; a request it answered (its body
    without the liveness fields, fingerprinted as that release did) still replays after the upgrade."""
    path = tmp_path / "bo.db"
    db = open_database(path)
    before = next(i for i, m in enumerate(MIGRATIONS) if m.name == "0010_liveness")
    migrate(db, MIGRATIONS[:before])
    old = exception_body(live_image=None, chip_image=None, document=None)
    old = {k: v for k, v in old.items() if v is not None}
    fingerprint = schemas.ExceptionCreate.model_validate(old).model_dump(mode="json")
    for k in LIVENESS:
        fingerprint.pop(k)  # that release's model had no such fields
    digest = hashlib.sha256(json.dumps(["exception", fingerprint], sort_keys=True, default=str).encode()).hexdigest()
    row = {"id": "exc_old", "device_id": "gate-01", "occurred_at": "2026-11-22T01:00:00+00:00",
           "received_at": "2026-11-22T01:00:05Z", "direction": "entry", "reason_codes": '["face_mismatch"]',
           "scores": '{"liveness":0.97}', "subject_id": "subj_anon_exc_old", "status": "open"}
    db.table("exceptions").insert(row)
    answer = {**{k: row[k] for k in ("id", "device_id", "occurred_at", "received_at", "direction")},
              "reason_codes": ["face_mismatch"], "scores": {"liveness": 0.97}, "status": "open", "decision": None,
              "decided_by": None, "decided_at": None, "has_live_image": False, "has_chip_image": False}
    db.execute("INSERT INTO idempotency (principal, key, request_hash, status_code, response, created_at) "
               "VALUES ('device:gate-01', 'k-old', ?, 201, ?, '2026-11-22T01:00:05Z')", [digest, json.dumps(answer)])
    db.close()

    store = Store(path)
    columns = {c.name: c.type for c in store.db["exceptions"].columns}
    assert {k: columns.get(k) for k in LIVENESS} == {"liveness_path": "TEXT", "passive_decision": "TEXT",
                                                    "passive_score": "REAL", "liveness_reason": "TEXT"}
    assert store.db["events"].columns_dict.get("liveness_path") is str
    store.close()

    world = build_world(make_config(db_path=path))
    try:
        r = _post(world, old, "k-old")
        assert r.status_code == 200 and r.headers["idempotent-replayed"] == "true" and r.json()["id"] == "exc_old"
        [item] = world.client.get("/api/v1/exceptions", headers=world.h("border_guard")).json()["items"]
        assert item["id"] == "exc_old" and all(item[k] is None for k in LIVENESS)
    finally:
        world.client.close()
