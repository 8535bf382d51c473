"""``BackofficeClient.raise_call``: the call id only when the back office stored the call, a named error
otherwise (unreachable, refused credential, refused call, malformed answer); against the real back office too."""

from __future__ import annotations

import json

import httpx
import pytest

from devicelink import (
    CALLS_ENDPOINT,
    BackofficeAuthError,
    BackofficeClient,
    BackofficeError,
    BackofficeUnavailable,
    RecordRejected,
)


def mock(handler) -> BackofficeClient:
    return BackofficeClient(token="sbd_t", http=httpx.Client(base_url="http://bo", transport=httpx.MockTransport(handler)))


def test_accepted_call_returns_its_id_and_sends_no_personal_data():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "call_1", "status": "open"})

    assert mock(handler).raise_call("review") == "call_1"
    (request,) = seen
    assert request.method == "POST" and request.url.path == CALLS_ENDPOINT
    assert json.loads(request.content) == {"state": "review", "reason": "traveller_request"}
    assert request.headers["Idempotency-Key"].startswith("call-")
    assert request.headers["Authorization"] == "Bearer sbd_t"


def test_a_fresh_key_per_call_unless_one_is_given():
    keys: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["Idempotency-Key"])
        return httpx.Response(200 if len(keys) > 2 else 201, json={"id": "call_1"})

    client = mock(handler)
    client.raise_call("face")
    client.raise_call("face")
    assert client.raise_call("face", "referral", idempotency_key="k-7") == "call_1"  # a replay (200) is accepted
    assert keys[0] != keys[1] and keys[2] == "k-7"


@pytest.mark.parametrize("status, error", [(500, BackofficeUnavailable), (503, BackofficeUnavailable),
                                           (429, BackofficeUnavailable), (401, BackofficeAuthError),
                                           (403, BackofficeAuthError), (400, RecordRejected),
                                           (422, RecordRejected), (404, RecordRejected)])
def test_anything_but_an_accepted_call_raises(status, error):
    with pytest.raises(error) as e:
        mock(lambda r: httpx.Response(status, json={"type": "t", "title": "t", "status": status,
                                                    "detail": "no"})).raise_call("review")
    assert isinstance(e.value, BackofficeError)


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"id": 5}', b'{"id": ""}', b"[]"])
def test_a_malformed_answer_is_not_an_accepted_call(body):
    with pytest.raises(BackofficeUnavailable):
        mock(lambda r: httpx.Response(201, content=body)).raise_call("review")


def test_unreachable_back_office():
    def handler(request):
        raise httpx.ConnectError("refused")

    with pytest.raises(BackofficeUnavailable):
        mock(handler).raise_call("review")


def test_against_the_real_back_office(backoffice):
    kiosk = backoffice.client("kiosk")
    call_id = kiosk.raise_call("fingerprints")
    assert call_id.startswith("call_") and kiosk.ledger_head is not None  # the answer carried the ledger head
    again = kiosk.raise_call("fingerprints", idempotency_key="same")
    assert kiosk.raise_call("fingerprints", idempotency_key="same") == again  # a retry does not call twice
    gate_call = backoffice.client("gate").raise_call("face", "referral")
    rows = {r["id"]: r for r in backoffice.app.state.ctx.store.query("SELECT * FROM officer_calls")}
    assert len(rows) == 3
    assert (rows[call_id]["device_id"], rows[call_id]["device_kind"], rows[call_id]["location"],
            rows[call_id]["state"], rows[call_id]["status"]) == ("kiosk-01", "kiosk", "Hall", "fingerprints", "open")
    assert (rows[gate_call]["device_kind"], rows[gate_call]["reason"]) == ("gate", "referral")
    with pytest.raises(RecordRejected) as e:
        kiosk.raise_call("Not A Screen")  # the state is a code, never free text
    assert e.value.status == 422
    with pytest.raises(BackofficeAuthError):
        backoffice.client("kiosk", token="sbd_wrong").raise_call("review")
