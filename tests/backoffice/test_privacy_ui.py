"""The privacy officer's pages through the test client (issue #19 item 6): erasure behind a confirmation, the
subject access export as a file download, retention categories in words; the web UI's 403/422/404 pages in the
UI's language (item 3). The browser flow is in test_privacy_browser.py."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from backoffice._i18n_privacy import EN, VI
from backoffice.routers.web_privacy import ERASE_CONFIRM_TTL_S
from tests.backoffice.conftest import exception_body, ui_login

DOC, STATE = "C1234567", "VNM"


def _session(world, username="privacy-officer", lang="en"):
    c = TestClient(world.app, raise_server_exceptions=False, follow_redirects=False)
    c.get(f"/ui/lang/{lang}")
    assert ui_login(c, username).status_code == 303
    return c


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', html).group(1)


def _exception(world, key="pv-1") -> str:
    r = world.client.post("/api/v1/exceptions", json=exception_body(),
                          headers=world.h("gate", **{"Idempotency-Key": key}))
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]


def _ledger_actions(world) -> list[str]:
    return [e["action"] for e in world.ctx.privacy.ledger_tail(200)]


def _held(world) -> dict[str, int]:
    return world.ctx.privacy.erasure_preview(world.ctx.records.subject_id(STATE, DOC))


def _subject_form(page: str, **extra) -> dict:
    return {"document_number": DOC, "issuing_state": STATE, "purpose": "erasure request 2026-12", "csrf_token": _csrf(page),
            **extra}


def test_string_tables_match_and_are_prefixed():
    assert set(EN) == set(VI)
    assert all(k.startswith("pv_") for k in EN) and all(VI.values())


def test_erase_first_shows_a_confirmation_and_erases_nothing(world):
    exc_id = _exception(world)
    before = _held(world)
    assert before.get("exception_record") == 1 and before.get("live_image") == 1
    c = _session(world)
    page = c.get("/ui/privacy").text
    r = c.post("/ui/privacy/subject", data=_subject_form(page, action="erase"))
    assert r.status_code == 200 and 'id="erase-confirmation"' in r.text
    # names the subject, the purpose and what will go, per category in words (counted, nothing decrypted)
    assert DOC in r.text and ">VNM<" in r.text and "erasure request 2026-12" in r.text
    assert EN["pv_cat_live_image"] in r.text and EN["pv_cat_exception_record"] in r.text
    assert re.search(r'id="erase-total">(\d+)<', r.text).group(1) == str(sum(before.values()))
    assert "read:" not in " ".join(_ledger_actions(world)[-1:])
    assert _ledger_actions(world)[-1] == "erase_preview"
    # nothing erased by the first POST
    assert _held(world) == before
    assert world.client.get(f"/api/v1/exceptions/{exc_id}", headers=world.h("border_guard")).status_code == 200
    assert "erase_subject" not in _ledger_actions(world)
    # a second POST without the confirmation token (or with a forged one) erases nothing either
    for token in ("", "9999999999.00", "abc"):
        r2 = c.post("/ui/privacy/subject", data=_subject_form(page, action="erase_confirmed", confirm_token=token))
        assert r2.status_code == 403 and r2.headers["content-type"].startswith("text/html")
        assert EN["pv_err_confirm"] in r2.text
    assert _held(world) == before and "erase_subject" not in _ledger_actions(world)
    # the confirmation names its subject and purpose: another purpose does not carry it
    token = re.search(r'name="confirm_token" value="([^"]+)"', r.text).group(1)
    r3 = c.post("/ui/privacy/subject", data={**_subject_form(page, action="erase_confirmed", confirm_token=token),
                                             "purpose": "something else"})
    assert r3.status_code == 403 and _held(world) == before
    # the confirmed POST erases
    r4 = c.post("/ui/privacy/subject", data=_subject_form(page, action="erase_confirmed", confirm_token=token))
    assert r4.status_code == 200 and 'id="erase-result"' in r4.text
    assert re.search(r'id="erase-items">(\d+)<', r4.text).group(1) == str(sum(before.values()))
    assert _held(world) == {} and "erase_subject" in _ledger_actions(world)


def test_erase_confirmation_expires_and_is_bound_to_the_session(world):
    _exception(world, "pv-2")
    before = _held(world)
    c = _session(world)
    page = c.get("/ui/privacy").text
    token = re.search(r'name="confirm_token" value="([^"]+)"',
                      c.post("/ui/privacy/subject", data=_subject_form(page, action="erase")).text).group(1)
    # another privacy officer's session cannot use it
    other = _session(world)
    other_page = other.get("/ui/privacy").text
    r = other.post("/ui/privacy/subject", data=_subject_form(other_page, action="erase_confirmed", confirm_token=token))
    assert r.status_code == 403 and _held(world) == before
    # after the expiry it is refused
    auth = world.ctx.auth
    real = auth.clock
    t0 = real()
    auth.clock = lambda: t0 + ERASE_CONFIRM_TTL_S + 5
    try:
        r = c.post("/ui/privacy/subject", data=_subject_form(page, action="erase_confirmed", confirm_token=token))
    finally:
        auth.clock = real
    assert r.status_code == 403 and _held(world) == before


def test_export_is_a_file_download_and_ledgered(world):
    exc_id = _exception(world, "pv-3")
    c = _session(world)
    page = c.get("/ui/privacy").text
    r = c.post("/ui/privacy/subject", data=_subject_form(page, action="export", purpose="subject_access_request"))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment;") and DOC not in disposition
    assert re.search(r'filename="subject-access-\d{8}-[0-9a-f]{12}\.json"', disposition)
    assert "no-store" in r.headers["cache-control"]
    data = json.loads(r.content)
    assert exc_id in data["records"]["exceptions"] and data["items"]
    assert "export_subject" in _ledger_actions(world)
    # the page itself never carries the export
    assert 'id="subject-result"' not in c.get("/ui/privacy").text


def test_retention_report_in_words_in_both_languages(world):
    for lang, table, rule in (("en", EN, "Kept for 3 years after your last recorded exit"),
                              ("vi", VI, "Lưu giữ 3 năm kể từ lần xuất cảnh cuối cùng")):
        c = _session(world, lang=lang)
        html = c.get("/ui/privacy").text
        retention = html[html.index('id="retention"'):html.index("</table>", html.index('id="retention"'))]
        assert table["pv_cat_face_template"] in retention and table["pv_cat_audit_entry"] in retention
        assert rule in retention and "Decree 13/2023/ND-CP" in retention
        cells = re.findall(r'class="pv-category">([^<]*)<', retention)
        assert cells and not any("_" in cell for cell in cells)  # no raw identifiers
        assert table["pv_purpose_subject_access_request"] in html


def test_purge_result_is_a_table_in_words(world):
    c = _session(world)
    page = c.get("/ui/privacy").text
    r = c.post("/ui/privacy/purge", data={"dry_run": "1", "csrf_token": _csrf(page)})
    assert r.status_code == 200 and 'id="purge-result"' in r.text and 'data-dry-run="true"' in r.text
    assert EN["pv_purge_dry_title"] in r.text and 'id="purge-summary"' in r.text
    section = r.text[r.text.index('id="purge-result"'):]
    assert '"dry_run"' not in section and "{" not in section.split("</div>")[0]  # no JSON dump


@pytest.mark.parametrize(("lang", "table"), [("en", EN), ("vi", VI)])
def test_error_pages_in_the_ui_language(world, lang, table):
    c = _session(world, lang=lang)
    # a role refused
    r = c.get("/ui/queue")
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    assert table["pv_err_forbidden"] in r.text and table["pv_err_title_403"] in r.text
    assert f'<html lang="{lang}">' in r.text
    # a form without its CSRF token
    r = c.post("/ui/privacy/purge", data={"dry_run": "1"})
    assert r.status_code == 403 and table["pv_err_csrf"] in r.text
    # a page that does not exist
    r = c.get("/ui/no-such-page")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert table["pv_err_not_found"] in r.text
    # a form field that fails validation: an HTML 422 naming the field in words, not a JSON problem
    page = c.get("/ui/privacy").text
    r = c.post("/ui/privacy/subject", data={"document_number": DOC, "issuing_state": "VNMX", "action": "export",
                                            "csrf_token": _csrf(page)})
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    field = {"en": "Issuing state", "vi": "Quốc gia cấp"}[lang]
    assert table["pv_err_field_too_long"].format(field=field, n=3) in r.text
    r = c.post("/ui/privacy/subject", data={"issuing_state": "VNM", "csrf_token": _csrf(page)})
    assert r.status_code == 422
    field = {"en": "Document number", "vi": "Số giấy tờ"}[lang]
    assert table["pv_err_field_missing"].format(field=field) in r.text


def test_api_errors_stay_problem_json(world):
    r = world.client.post("/api/v1/auth/token", json={"username": "x"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    r = world.client.get("/api/v1/no-such-thing", headers=world.h("admin"))
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
