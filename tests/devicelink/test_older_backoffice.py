"""A new gate and a back office of the release before the liveness fields (issue #23 review, rolling upgrade):
the older back office refuses a field it does not know (422 ``extra_forbidden``, Strict input), so the client
resends the record once without exactly the later fields it named (devicelink.LATER_FIELDS); any other 422,
or one that mixes a later field with another error, still parks the record (fail closed).

The older back office is the real one (composed as ``backoffice serve`` composes it: its error handlers, its
StrictJson middleware, its store) whose two record routes take the previous release's models: the current
``ExceptionCreate`` / ``EventCreate`` without the fields issue #23 added (the release history written out here,
not read from LATER_FIELDS). Its 422 is thus rendered by the deployed handler, byte for byte.

No ``from __future__ import annotations``: FastAPI reads the routes' annotations as objects."""

import json
import logging

import pytest

from devicelink import LATER_FIELDS, Outbox
from gate import FaceOutcome, GateWorkflow
from gate.testing import verified_chip
from tests.devicelink.test_backoffice import gate_store, jpeg
from tests.gate.test_store_and_workflow import Clock, LoggingDoor, steps

pytest.importorskip("fastapi")

from pydantic import create_model  # noqa: E402

from backoffice import schemas  # noqa: E402
from backoffice.deps import Ctx, Device, IdempotencyKey  # noqa: E402
from backoffice.routers.exceptions import _idempotent_response  # noqa: E402

#: the fields issue #23 added (commits e5441da, e23d327): the previous release's bodies lack them
ADDED_BY_ISSUE_23 = {"/api/v1/exceptions": {"liveness_path", "passive_decision", "passive_score", "liveness_reason"},
                     "/api/v1/events": {"liveness_path"}}
LIVENESS = {"liveness_path": "passive+challenge", "passive_decision": "doubt", "passive_score": 0.42,
            "liveness_reason": "timeout: blink"}


def _older(model, path: str):
    """``model`` as the previous release had it: Strict (unknown keys forbidden), without the later fields."""
    fields = {n: (f.annotation, f) for n, f in model.model_fields.items() if n not in ADDED_BY_ISSUE_23[path]}
    return create_model(model.__name__, __base__=schemas.Strict, **fields)


OlderExceptionCreate = _older(schemas.ExceptionCreate, "/api/v1/exceptions")
OlderEventCreate = _older(schemas.EventCreate, "/api/v1/events")


def older_post_exception(body: OlderExceptionCreate, device: Device, ctx: Ctx, idempotency_key: IdempotencyKey = None):
    current = schemas.ExceptionCreate.model_construct(**dict(body))  # the later fields at their defaults (None)
    return _idempotent_response(ctx.records.create_exception(device, current, idempotency_key), schemas.ExceptionPublic)


def older_post_event(body: OlderEventCreate, device: Device, ctx: Ctx, idempotency_key: IdempotencyKey = None):
    current = schemas.EventCreate.model_construct(**dict(body))
    return _idempotent_response(ctx.records.create_event(device, current, idempotency_key), schemas.EventPublic)


@pytest.fixture()
def older(backoffice):
    """The real back office with the previous release's record routes, placed before the current ones (a POST
    to either path matches them first; the current routers, shared by every app, stay as they are)."""
    router = backoffice.app.router
    for path, endpoint in (("/api/v1/exceptions", older_post_exception), ("/api/v1/events", older_post_event)):
        router.add_api_route(path, endpoint, methods=["POST"], status_code=201)
        router.routes.insert(0, router.routes.pop())
    return backoffice


def referral(store, **liveness):
    """An impostor through the real gate workflow, its liveness check as data: an event and an exception."""
    face = FaceOutcome(True, True, 0.1, 0.6, jpeg((170, 130, 110)), **liveness)
    wf = GateWorkflow(steps(face=lambda c: face, chip=lambda p: verified_chip(dg2_image=jpeg((180, 140, 120)))),
                      LoggingDoor(), store, gate_id="g1", clock=Clock())
    try:
        return wf.process()
    finally:
        wf.close()


def _stored_exception(bo) -> dict:
    return bo.app.state.ctx.store.one("SELECT liveness_path, passive_decision, passive_score, liveness_reason, "
                                      "reason_codes FROM exceptions")


def test_the_table_names_what_issue_23_added():
    assert {p: set(f) for p, f in LATER_FIELDS.items()} == ADDED_BY_ISSUE_23


def test_the_older_back_office_refuses_the_new_fields_and_stores_nothing(tmp_path, older):
    """The premise, through the deployed handler: 422 extra_forbidden naming each field, no idempotency row."""
    gate = gate_store(tmp_path)
    referral(gate, **LIVENESS)
    item = next(i for i in gate.outbox.pending() if i.kind == "exception")
    assert ADDED_BY_ISSUE_23["/api/v1/exceptions"] <= item.payload.keys()
    r = older.http.post("/api/v1/exceptions", json=item.payload,
                        headers={"Authorization": f"Bearer {older.tokens['gate']}", "Idempotency-Key": item.id})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["type"].endswith("/validation")
    assert sorted((e["loc"], e["type"]) for e in problem["errors"]) == sorted(
        (["body", f], "extra_forbidden") for f in ADDED_BY_ISSUE_23["/api/v1/exceptions"])
    assert (older.count("exceptions"), older.count("idempotency")) == (0, 0)


def test_a_new_gate_s_records_reach_an_older_back_office_without_the_later_fields(tmp_path, older, caplog):
    gate = gate_store(tmp_path)
    result = referral(gate, **LIVENESS)
    kinds = {i.id: i.kind for i in gate.outbox.pending()}
    assert sorted(kinds.values()) == ["event", "exception"]
    with caplog.at_level(logging.WARNING, logger="devicelink"):
        report = gate.outbox.deliver(older.client("gate"))
    assert report.parked == {} and set(report.delivered) == set(kinds) and report.pending == 0
    assert (older.count("events"), older.count("exceptions"), older.count("idempotency")) == (1, 1, 2)
    assert _stored_exception(older)["liveness_path"] is None  # the older release has nowhere to keep them
    assert [e["outcome"] for e in older.app.state.ctx.records.list_events("gate-01", 0, 10)] == ["referred"]
    assert result.transaction_id
    warnings = [r.getMessage() for r in caplog.records if "resent without them" in r.getMessage()]
    assert len(warnings) == 2, warnings
    assert any(all(f in w for f in ADDED_BY_ISSUE_23["/api/v1/exceptions"]) for w in warnings)
    assert all("timeout: blink" not in w and "0.42" not in w and "doubt" not in w for w in warnings)  # names only
    # a retry after a lost answer (the same key, the same stripped body): replayed, not stored twice
    client = older.client("gate")
    body = {"occurred_at": "2026-11-22T08:00:00+07:00", "kind": "transaction", "outcome": "admitted",
            "liveness_path": "passive"}
    first, again = client.post_event(body, "ev-lost"), client.post_event(body, "ev-lost")
    assert first["id"] == again["id"] and older.count("events") == 2


def test_the_current_back_office_keeps_them_and_nothing_is_resent(tmp_path, backoffice, caplog):
    gate = gate_store(tmp_path)
    referral(gate, **LIVENESS)
    with caplog.at_level(logging.WARNING, logger="devicelink"):
        report = gate.outbox.deliver(backoffice.client("gate"))
    assert report.parked == {} and len(report.delivered) == 2
    row = _stored_exception(backoffice)
    assert {k: row[k] for k in LIVENESS} == LIVENESS
    assert not [r for r in caplog.records if "resent" in r.getMessage()]


@pytest.mark.parametrize("case", ["another_field_invalid", "unknown_key_not_in_the_table",
                                  "later_field_of_another_endpoint", "later_field_and_a_bad_score",
                                  "later_field_and_an_unknown_key", "duplicate_key"])
def test_any_other_422_still_parks(older, case, monkeypatch):
    """Fail closed: only a 422 whose every error is a later field of that endpoint is resent."""
    exception = {"occurred_at": "2026-11-22T08:00:00+07:00", "reason_codes": ["face_mismatch"], **LIVENESS}
    event = {"occurred_at": "2026-11-22T08:00:00+07:00", "kind": "transaction", "outcome": "referred"}
    kind, payload = {
        "another_field_invalid": ("event", {**event, "outcome": "maybe"}),
        "unknown_key_not_in_the_table": ("event", {**event, "liveness_paths": "passive"}),
        "later_field_of_another_endpoint": ("event", {**event, "passive_score": 0.5}),
        "later_field_and_a_bad_score": ("exception", {**exception, "scores": {"face": 7.5}}),
        "later_field_and_an_unknown_key": ("exception", {**exception, "liveness": {"path": "passive"}}),
        "duplicate_key": ("exception", exception),
    }[case]
    box = Outbox()
    item = box.put(kind, payload)
    client = older.client("gate")
    sent = []
    request = client.http.request

    def counting(method, path, **kw):
        sent.append(path)
        if case == "duplicate_key":  # a later field and a duplicate key (StrictJson's 422, before any route)
            raw = json.dumps(kw.pop("json"))[:-1] + ', "reason_codes": ["face_mismatch"]}'
            kw["content"], kw["headers"] = raw.encode(), {**kw["headers"], "Content-Type": "application/json"}
        return request(method, path, **kw)

    monkeypatch.setattr(client.http, "request", counting)
    report = box.deliver(client)
    assert list(report.parked) == [item] and "422" in report.parked[item], report
    assert len(sent) == 1, sent  # never resent
    assert box.load(item) == payload  # kept whole for an officer
    assert (older.count("events"), older.count("exceptions"), older.count("idempotency")) == (0, 0, 0)



def _extra(field: str) -> dict:
    return {"loc": ["body", field], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"}


@pytest.mark.parametrize(("problem", "why"), [
    ({"type": "https://smartborder.invalid/problems/idempotency-key-reused", "errors": [_extra("liveness_path")]},
     "not a validation problem"),
    ({"type": "https://smartborder.invalid/problems/validation"}, "no errors"),
    ({"type": "https://smartborder.invalid/problems/validation", "errors": []}, "an empty list"),
    ({"type": "https://smartborder.invalid/problems/validation", "errors": [_extra("liveness_path"), "x"]},
     "an error that is not an object"),
    ({"type": "https://smartborder.invalid/problems/validation", "errors": [{**_extra("liveness_path"),
                                                                             "loc": ["body", "scores", "liveness_path"]}]},
     "a nested key of that name"),
    ({"type": "https://smartborder.invalid/problems/validation", "errors": [_extra("passive_score")]},
     "a later field the body does not hold"),
    ({"type": "https://smartborder.invalid/problems/validation", "errors": [_extra("liveness_path")] * 50},
     "a full list (the back office renders 50 at most: more may be hidden)"),
    ({"type": "https://smartborder.invalid/problems/validation", "errors": {"liveness_path": "extra_forbidden"}},
     "errors not a list"),
])
def test_only_the_exact_shape_is_resent(problem, why):
    """The back office's 422 as backoffice._app renders it, and nothing looser: otherwise refused as today."""
    import httpx

    from devicelink import BackofficeClient, RecordRejected

    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(422, json={"title": "Invalid request", "status": 422, **problem},
                              headers={"content-type": "application/problem+json"})

    client = BackofficeClient(token="sbd_t", http=httpx.Client(base_url="http://bo", transport=httpx.MockTransport(handler)))
    with pytest.raises(RecordRejected) as e:
        client.post_event({"occurred_at": "2026-11-22T08:00:00+07:00", "liveness_path": "passive"}, "k-1")
    assert e.value.status == 422 and len(sent) == 1, why
