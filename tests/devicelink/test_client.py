"""The one back-office client: every device endpoint, the status codes mapped onto one vocabulary
(unavailable / credential refused / record rejected), the Idempotency-Key on every record."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from devicelink import (
    ENDPOINTS,
    BackofficeAuthError,
    BackofficeClient,
    BackofficeUnavailable,
    EnrolmentAnswer,
    RecordRejected,
)


def mock(handler) -> BackofficeClient:
    return BackofficeClient(token="sbd_t", http=httpx.Client(base_url="http://bo", transport=httpx.MockTransport(handler)))


def answering(status: int, body: dict | None = None, headers: dict | None = None, seen: list | None = None):
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, json=body if body is not None else {
            "type": f"https://smartborder/problems/{status}", "title": "t", "status": status, "detail": "why"},
            headers=headers)

    return handler


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
def test_server_trouble_means_retry_later(status):
    for kind in ENDPOINTS:
        with pytest.raises(BackofficeUnavailable) as e:
            mock(answering(status)).deliver(kind, {}, "k1")
        assert not isinstance(e.value, BackofficeAuthError) and str(status) in str(e.value)


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_credential_is_named_and_is_a_kind_of_unavailable(status):
    with pytest.raises(BackofficeAuthError) as e:
        mock(answering(status)).submit_enrolment({}, "k1")
    assert isinstance(e.value, BackofficeUnavailable) and "credential" in str(e.value)


@pytest.mark.parametrize("status", [400, 404, 409, 413, 422])
def test_other_client_errors_reject_the_record_for_good(status):
    for kind in ENDPOINTS:
        with pytest.raises(RecordRejected) as e:
            mock(answering(status)).deliver(kind, {}, "k1")
        assert e.value.status == status and e.value.problem_type.endswith(str(status)) and "why" in str(e.value)


@pytest.mark.parametrize("error", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])
def test_network_failures_mean_retry_later_with_the_cause_chained(error):
    def boom(request):
        raise error

    with pytest.raises(BackofficeUnavailable) as e:
        mock(boom).post_event({}, "k1")
    assert e.value.__cause__ is error


def test_every_record_goes_to_its_endpoint_with_its_idempotency_key_and_the_device_token():
    seen: list[httpx.Request] = []
    client = mock(answering(201, {"id": "r1", "status": "accepted"}, seen=seen))
    for n, kind in enumerate(ENDPOINTS):
        client.deliver(kind, {"n": n}, f"key-{n}")
    assert [r.url.path for r in seen] == list(ENDPOINTS.values())
    assert [r.headers["idempotency-key"] for r in seen] == ["key-0", "key-1", "key-2"]
    assert {r.headers["authorization"] for r in seen} == {"Bearer sbd_t"}
    assert [json.loads(r.content) for r in seen] == [{"n": 0}, {"n": 1}, {"n": 2}]
    with pytest.raises(ValueError, match="Idempotency-Key"):
        client.post_exception({}, "")


def test_an_unknown_kind_is_rejected_without_being_sent():
    seen: list = []
    with pytest.raises(RecordRejected) as e:
        mock(answering(201, {}, seen=seen)).deliver("selfie", {}, "k1")
    assert e.value.status is None and seen == []


def test_enrolment_answer_and_a_replayed_answer():
    body = {"id": "enr_1", "status": "duplicate_suspected", "checks": ["face", "fingerprint"],
            "duplicates": [{"enrolment_id": "enr_0", "modality": "face", "score": 0.9}]}
    first = mock(answering(201, body)).submit_enrolment({}, "enr-1")
    again = mock(answering(200, body, {"Idempotent-Replayed": "true"})).deliver("enrolment", {}, "enr-1")
    assert isinstance(first, EnrolmentAnswer) and first.duplicate and not first.replayed
    assert again == EnrolmentAnswer("enr_1", "duplicate_suspected", tuple(body["duplicates"]), ("face", "fingerprint"),
                                    replayed=True)
    with pytest.raises(BackofficeUnavailable, match="malformed"):
        mock(answering(201, {"nothing": 1})).submit_enrolment({}, "enr-2")


def test_watchlist_feed_pages_etag_304_and_reset():
    pages = {0: {"since": 0, "version": 2, "latest": 3, "more": True, "reset": False,
                 "changes": [{"version": 1, "id": "a"}, {"version": 2, "id": "b"}]},
             2: {"since": 2, "version": 3, "latest": 3, "more": False, "reset": False, "changes": [{"version": 3, "id": "c"}]},
             3: {"since": 3, "version": 3, "latest": 3, "more": False, "reset": False, "changes": []}}
    seen: list[httpx.Request] = []

    def feed(request):
        seen.append(request)
        since = int(request.url.params["since"])
        if since == 9:
            return httpx.Response(200, json={**pages[3], "since": 9, "reset": True})
        if request.headers.get("if-none-match") == '"v3"':
            return httpx.Response(304)
        return httpx.Response(200, json=pages[since], headers={"ETag": f'"v{pages[since]["version"]}"'})

    client = mock(feed)
    delta = client.watchlist_changes(0, None)
    assert [c["id"] for c in delta.changes] == ["a", "b", "c"] and delta.version == 3 and delta.etag is None
    unchanged = client.watchlist_changes(3, None)
    assert unchanged.changes == [] and unchanged.etag == '"v3"' and not unchanged.not_modified
    assert client.watchlist_changes(3, '"v3"').not_modified
    assert client.watchlist_changes(9, None).reset
    assert {r.headers["authorization"] for r in seen} == {"Bearer sbd_t"}


@pytest.mark.parametrize("status", [400, 404, 422])
def test_questions_that_store_nothing_are_unanswered_never_rejected(status):
    with pytest.raises(BackofficeUnavailable):
        mock(answering(status)).watchlist_changes(0, None)
    with pytest.raises(BackofficeUnavailable):
        mock(answering(status)).verify_fingers("C1234567", "VNM", [])
    with pytest.raises(BackofficeUnavailable, match="malformed"):
        mock(answering(200, {"changes": "?"})).watchlist_changes(0, None)


def test_verify_fingers_sends_the_probes_and_no_idempotency_key():
    seen: list[httpx.Request] = []
    answer = {"enrolled": True, "fingerprint_check": "done", "score": 0.1, "threshold": 0.032,
              "threshold_name": "fmr_5e-4", "matched": True}
    assert mock(answering(200, answer, seen=seen)).verify_fingers("C1234567", "VNM", [(2, b"\x01\x02")]) == answer
    [request] = seen
    assert request.url.path == "/api/v1/enrolments/verify" and "idempotency-key" not in request.headers
    assert json.loads(request.content) == {"document_number": "C1234567", "issuing_state": "VNM", "finger_templates": [
        {"position": 2, "format": "iso19794_2", "data": base64.b64encode(b"\x01\x02").decode()}]}


def test_a_token_is_required():
    with pytest.raises(ValueError, match="token"):
        BackofficeClient("http://bo", "")
    with pytest.raises(ValueError, match="base_url"):
        BackofficeClient(token="sbd_t")
