import base64

from tests.backoffice.conftest import build_world, exception_body, jpeg_b64, make_config


def _post(world, body, key="k-1", who="gate"):
    headers = world.h(who, **({"Idempotency-Key": key} if key is not None else {}))
    return world.client.post("/api/v1/exceptions", json=body, headers=headers)


def test_ingestion_is_idempotent(world):
    r1 = _post(world, exception_body())
    assert r1.status_code == 201
    r2 = _post(world, exception_body())
    assert r2.status_code == 200 and r2.headers["idempotent-replayed"] == "true"
    assert r2.json()["id"] == r1.json()["id"]
    assert world.ctx.store.one("SELECT COUNT(*) AS n FROM exceptions")["n"] == 1
    r3 = _post(world, exception_body(reason_codes=["tailgating"]))
    assert r3.status_code == 422 and r3.json()["type"].endswith("idempotency-key-reused")
    # the same key from another device is another record
    assert _post(world, exception_body(), who="kiosk").status_code == 201


def test_idempotency_key_is_required(world):
    r = _post(world, exception_body(), key=None)
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("idempotency-key-missing")


def test_bad_input_is_problem_details_not_500(world):
    for body in (exception_body(reason_codes=[]), exception_body(reason_codes=["made_up"]),
                 exception_body(live_image="!!notbase64!!"), exception_body(live_image=base64.b64encode(b"GIF89a...").decode()),
                 exception_body(scores={"Bad Key": 1.0}), exception_body(occurred_at="yesterday"), {"x": 1}):
        r = _post(world, body, key=f"k-{hash(str(body))}")
        assert r.status_code == 422, (body.keys(), r.text)
        assert r.headers["content-type"] == "application/problem+json"
        p = r.json()
        assert {"type", "title", "status", "detail"} <= set(p) and p["status"] == 422
    r = world.client.post("/api/v1/exceptions", content=b"{not json", headers=world.h(
        "gate", **{"Idempotency-Key": "x", "Content-Type": "application/json"}))
    assert r.status_code == 422


def test_validation_errors_do_not_echo_input(world):
    body = exception_body(document={"document_number": "C7654321", "issuing_state": "VNM", "sex": "Q"})
    r = _post(world, body)
    assert r.status_code == 422 and "C7654321" not in r.text


def test_size_limits(tmp_path):
    w = build_world(make_config(db_path=tmp_path / "s.db", max_body_bytes=50_000, max_image_bytes=1000))
    big = exception_body(live_image=jpeg_b64(size=(600, 600)))
    r = _post(w, big)
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
    r = _post(w, exception_body(live_image=jpeg_b64(size=(200, 200))))
    assert r.status_code == 413 and "live_image" in r.json()["detail"]


def test_queue_lists_no_personal_data(world):
    _post(world, exception_body())
    r = world.client.get("/api/v1/exceptions", headers=world.h("border_guard"))
    assert r.json()["total"] == 1
    text = r.text
    assert "C1234567" not in text and "NGUY" not in text and "image\":\"" not in text
    item = r.json()["items"][0]
    assert item["has_live_image"] and item["has_chip_image"] and item["reason_codes"] == ["face_mismatch"]


def test_review_flow_and_ledger(world):
    eid = _post(world, exception_body()).json()["id"]
    c, guard = world.client, world.h("border_guard")
    detail = c.get(f"/api/v1/exceptions/{eid}", headers=guard).json()
    assert detail["document"]["document_number"] == "C1234567" and detail["document"]["surname"] == "NGUYỄN"
    live = c.get(f"/api/v1/exceptions/{eid}/images/live", headers=guard)
    assert live.status_code == 200 and live.headers["content-type"] == "image/jpeg"
    assert live.headers["cache-control"] == "no-store" and live.content[:3] == b"\xff\xd8\xff"
    r = c.post(f"/api/v1/exceptions/{eid}/decision", json={"decision": "refer", "notes": "unsure"}, headers=guard)
    assert r.json()["status"] == "referred"
    assert c.get("/api/v1/exceptions", headers=guard).json()["total"] == 0
    r = c.post(f"/api/v1/exceptions/{eid}/decision", json={"decision": "admit"}, headers=guard)
    assert r.status_code == 403
    sup = world.h("supervisor")
    assert c.get("/api/v1/exceptions", headers=sup).json()["total"] == 1
    r = c.post(f"/api/v1/exceptions/{eid}/decision", json={"decision": "refuse", "notes": "impostor"}, headers=sup)
    assert r.json()["status"] == "resolved" and r.json()["decision"] == "refuse"
    r = c.post(f"/api/v1/exceptions/{eid}/decision", json={"decision": "admit"}, headers=sup)
    assert r.status_code == 409
    ledger = c.get("/api/v1/privacy/ledger?limit=1000", headers=world.h("privacy_officer")).json()
    reads = [e for e in ledger if e.get("actor") == "user:border-guard" and e.get("record") == eid]
    assert len(reads) >= 2
    assert all(e.get("purpose") for e in reads)
    assert c.get("/api/v1/exceptions/nope", headers=guard).status_code == 404
    assert c.get(f"/api/v1/exceptions/{eid}/images/other", headers=guard).status_code == 422


def test_events_idempotent_and_listed(world):
    body = {"occurred_at": "2026-11-22T08:00:00Z", "kind": "transaction", "outcome": "admitted", "duration_ms": 9500}
    h = world.h("gate", **{"Idempotency-Key": "evt-1"})
    assert world.client.post("/api/v1/events", json=body, headers=h).status_code == 201
    assert world.client.post("/api/v1/events", json=body, headers=h).status_code == 200
    events = world.client.get("/api/v1/events", headers=world.h("supervisor")).json()
    assert len(events) == 1 and events[0]["device_id"] == "gate-01"


def test_a_joint_lane_side_that_admitted_reports_partner_referred_without_reasons(world):
    """A joint lane's side that admitted while the other administration referred (issue #26 item 1) sends outcome
    partner_referred; the partner's reasons are not this side's, so such an event with any reason code is refused
    and nothing is stored."""
    body = {"occurred_at": "2026-11-22T08:00:00Z", "kind": "transaction", "outcome": "partner_referred",
            "duration_ms": 812.5}
    bad = world.client.post("/api/v1/events", json=body | {"reason_codes": ["watchlist_hit"]},
                            headers=world.h("gate", **{"Idempotency-Key": "evt-pr-bad"}))
    assert bad.status_code == 422 and "partner" in bad.text
    assert world.client.get("/api/v1/events", headers=world.h("supervisor")).json() == []
    h = world.h("gate", **{"Idempotency-Key": "evt-pr"})
    assert world.client.post("/api/v1/events", json=body, headers=h).status_code == 201
    [event] = world.client.get("/api/v1/events", headers=world.h("supervisor")).json()
    assert event["outcome"] == "partner_referred" and event["reason_codes"] == []


def test_an_event_keeps_how_eac_went(world):
    """A gate's transaction event names Terminal Authentication, its cause, why DG3 was not obtained and where the
    fingerprint was matched (issue #22); a cause that is not a code, or an unknown source, is refused."""
    body = {"occurred_at": "2026-11-22T08:00:00Z", "outcome": "referred", "reason_codes": ["evidence_missing"],
            "terminal_authentication": "failed", "eac_code": "chip_refused", "fingerprint_source": "chip",
            "dg3_error": "DG3 not served: 6982; Terminal Authentication failed: chip refused VNISGATE00001"}
    h = world.h("gate", **{"Idempotency-Key": "evt-eac"})
    assert world.client.post("/api/v1/events", json=body, headers=h).status_code == 201
    [event] = world.client.get("/api/v1/events", headers=world.h("supervisor")).json()
    assert {k: event[k] for k in body if k not in ("occurred_at", "reason_codes")} == {
        k: v for k, v in body.items() if k not in ("occurred_at", "reason_codes")}
    for bad in ({"eac_code": "Chip Refused"}, {"fingerprint_source": "phone"}, {"terminal_authentication": "maybe"},
                {"dg3_error": "x" * 301}):
        r = world.client.post("/api/v1/events", json=body | bad, headers=world.h("gate"))
        assert r.status_code == 422, bad


def test_metrics_and_health(world):
    _post(world, exception_body())
    text = world.client.get("/metrics", headers=world.h("admin")).text
    assert 'backoffice_ingested_total{kind="exception"} 1.0' in text
    assert "backoffice_open_exceptions 1.0" in text
    assert 'route="/api/v1/exceptions"' in text
    assert world.client.get("/healthz").json()["status"] == "ok"


def test_structured_logs_carry_no_personal_data(world, caplog):
    import json
    import logging

    from backoffice import configure_json_logging
    from backoffice._observability import JsonFormatter

    configure_json_logging()
    logger = logging.getLogger("backoffice")
    logger.propagate = True
    try:
        with caplog.at_level(logging.INFO, logger="backoffice.access"):
            _post(world, exception_body())
            world.client.post("/api/v1/watchlist/check", json={"name": "NGUYEN VAN DUC"}, headers=world.h("gate"))
    finally:
        logger.propagate = False
    lines = [JsonFormatter().format(r) for r in caplog.records if r.name.startswith("backoffice")]
    assert lines and all(json.loads(line)["event"] == "request" for line in lines)
    blob = "\n".join(lines)
    assert "C1234567" not in blob and "NGUYEN" not in blob and "route" in blob
