"""The kiosk's officer call (``EnrolmentWorkflow.call_officer``): the traveller is told an officer is on the way
only when the back office accepted the call; otherwise (unreachable, refused, no back office) to go to the staffed
desk. The message keys exist in every language the kiosk speaks."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from devicelink import BackofficeClient, BackofficeUnavailable, RecordRejected
from enrollment import OfficerCall
from tests.enrollment.conftest import client_for, make_rig

LOCALE = Path(__file__).resolve().parents[2] / "kiosk" / "locale"


class Caller:
    """A submitter double with ``raise_call``: answers with ``answer`` (an id, or an exception to raise)."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str]] = []

    def deliver(self, kind, payload, key):  # the Deliverer protocol (unused here)
        raise AssertionError("not a delivery")

    def raise_call(self, state: str, reason: str) -> str:
        self.calls.append((state, reason))
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def test_accepted_call_says_an_officer_is_coming(tmp_path):
    caller = Caller("call_abc")
    rig = make_rig(tmp_path, caller)
    rig.workflow.start("vi")
    result = rig.workflow.call_officer("document")
    assert result == OfficerCall("call_abc") and result.accepted and result.message == "app.officer_coming"
    assert caller.calls == [("document", "traveller_request")]
    assert rig.workflow.session.officer_calls == 1


@pytest.mark.parametrize("error", [BackofficeUnavailable("down"), RecordRejected(422, "validation", "bad"),
                                   RuntimeError("bug")])
def test_a_call_the_back_office_did_not_accept_sends_the_traveller_to_the_desk(tmp_path, error):
    rig = make_rig(tmp_path, Caller(error))
    result = rig.workflow.call_officer("face", "device_fault")
    assert not result.accepted and result.call_id is None and result.error == type(error).__name__
    assert result.message == "app.officer_unreachable"


def test_no_back_office_configured_is_not_a_call(tmp_path):
    rig = make_rig(tmp_path, None)
    result = rig.workflow.call_officer("review")
    assert not result.accepted and result.error == "no_backoffice" and result.message == "app.officer_unreachable"


def test_a_screen_name_that_is_not_a_code_is_sent_as_unknown(tmp_path):
    caller = Caller("call_1")
    rig = make_rig(tmp_path, caller)
    rig.workflow.call_officer("Review <script>")
    assert caller.calls == [("unknown", "traveller_request")]


def test_against_the_real_back_office(tmp_path, backoffice):
    rig = make_rig(tmp_path, client_for(backoffice))
    rig.workflow.start("en")
    result = rig.workflow.call_officer("consent")
    assert result.accepted and result.message == "app.officer_coming"
    _, _, app = backoffice
    (row,) = app.state.ctx.store.query("SELECT * FROM officer_calls")
    assert (row["id"], row["device_id"], row["location"], row["state"]) == (result.call_id, "kiosk-01", "Hall",
                                                                            "consent")


def test_an_unreachable_back_office(tmp_path):
    def handler(request):
        raise httpx.ConnectError("refused")

    client = BackofficeClient(token="sbd_x", http=httpx.Client(base_url="http://bo", transport=httpx.MockTransport(handler)))
    result = make_rig(tmp_path, client).workflow.call_officer("chip")
    assert not result.accepted and result.error == "BackofficeUnavailable"


def test_every_language_has_the_messages():
    for lang in ("vi", "zh", "en"):
        texts = json.loads((LOCALE / f"{lang}.json").read_text(encoding="utf-8"))
        for key in ("app.officer_calling", "app.officer_coming", "app.officer_unreachable"):
            assert texts.get(key), (lang, key)
