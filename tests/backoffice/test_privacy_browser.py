"""The privacy officer's pages in real Chromium (issue #19 item 6): the subject access export downloads a file, and
erasure takes a confirmation page naming the subject and the purpose before anything is erased. Same server and
browser fixtures as test_browser.py; screenshots go to tmp/artefacts/backoffice/."""

from __future__ import annotations

import json
from pathlib import Path

from tests.backoffice.conftest import exception_body
from tests.backoffice.test_browser import _login, _shot, browser, live  # noqa: F401 - fixtures

DOC, STATE = "C1234567", "VNM"


def _held(world) -> dict[str, int]:
    return world.ctx.privacy.erasure_preview(world.ctx.records.subject_id(STATE, DOC))


def _fill_subject(page, purpose: str) -> None:
    page.fill("#subject-doc", DOC)
    page.fill("#subject-state", STATE)
    page.fill("#subject-purpose", purpose)


def test_export_downloads_and_erase_needs_the_confirmation(live, browser):  # noqa: F811
    r = live.client.post("/api/v1/exceptions", json=exception_body(),
                         headers=live.h("gate", **{"Idempotency-Key": "privacy-browser-1"}))
    exc_id = r.json()["id"]
    before = _held(live)
    assert before.get("exception_record") == 1
    page = browser.new_page(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    page.goto(f"{live.base}/ui/lang/en")
    _login(page, live.base, "privacy-officer")
    assert page.url.endswith("/ui/privacy")
    assert "Face template (biometric)" in page.inner_text("#retention")

    # the export: a JSON file download, nothing rendered into the page
    _fill_subject(page, "subject_access_request")
    with page.expect_download() as info:
        page.click("#subject-export")
    download = info.value
    assert download.suggested_filename.startswith("subject-access-") and DOC not in download.suggested_filename
    exported = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    assert exc_id in exported["records"]["exceptions"]
    assert page.url.endswith("/ui/privacy") and page.locator("#subject-result").count() == 0

    # erase: the first click only shows the confirmation, naming subject, purpose and what goes
    _fill_subject(page, "erasure request by the data subject")
    page.click("#subject-erase")
    page.wait_for_load_state("networkidle")
    assert page.locator("#erase-confirmation").is_visible()
    assert page.inner_text("#confirm-doc") == DOC and page.inner_text("#confirm-state") == STATE
    assert page.inner_text("#confirm-purpose") == "erasure request by the data subject"
    assert "Exception record" in page.inner_text("#erase-preview")
    assert page.inner_text("#erase-total") == str(sum(before.values()))
    _shot(page, "13_privacy_erase_confirmation")
    assert _held(live) == before  # nothing erased yet
    # cancelling leaves everything in place
    page.click("#erase-cancel")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/ui/privacy") and _held(live) == before

    # confirmed: erased
    _fill_subject(page, "erasure request by the data subject")
    page.click("#subject-erase")
    page.wait_for_load_state("networkidle")
    page.click("#erase-confirm")
    page.wait_for_load_state("networkidle")
    assert page.inner_text("#erase-items") == str(sum(before.values()))
    assert _held(live) == {}
    _shot(page, "14_privacy_erased")
    page.close()
