"""The guard review flow and the privacy officer flow in a real headless browser (Debian chromium
driven by Playwright), against the app served by uvicorn on 127.0.0.1. Screenshots go to
tmp/artefacts/backoffice/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.backoffice.conftest import PASSWORD, build_world, exception_body, make_config
from tests.backoffice.screenshots import CHROMIUM, chromium, serve

ARTEFACTS = Path(__file__).resolve().parents[2] / "tmp" / "artefacts" / "backoffice"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"chromium not found at {CHROMIUM} (apt-get install chromium)")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install playwright)")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    world = build_world(make_config(db_path=tmp_path_factory.mktemp("browser") / "bo.db"))
    with serve(world.app) as base:
        world.base = base
        yield world


@pytest.fixture(scope="module")
def browser():
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    with chromium() as b:
        yield b


def _login(page, base: str, username: str) -> None:
    page.goto(f"{base}/ui/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_load_state("networkidle")


def _shot(page, name: str) -> None:
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


def _face_images() -> dict:
    """Two real photos (live vs chip) from ../shared/data when present, else synthetic JPEGs."""
    import base64

    from tests.conftest import SHARED_DATA

    folder = SHARED_DATA / "faces" / "misc" / "openface"
    files = [folder / "lennon-1.jpg", folder / "clapton-1.jpg"]
    if not all(f.exists() and f.stat().st_size < 1_500_000 for f in files):
        return {}
    return {"live_image": base64.b64encode(files[0].read_bytes()).decode(),
            "chip_image": base64.b64encode(files[1].read_bytes()).decode()}


def test_guard_review_flow(live, browser):
    r = live.client.post("/api/v1/exceptions", json=exception_body(reason_codes=["face_mismatch", "liveness_failed"],
                                                                  **_face_images()),
                         headers=live.h("gate", **{"Idempotency-Key": "browser-1"}))
    exc_id = r.json()["id"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{live.base}/ui/")
    assert page.url.endswith("/ui/login")
    assert page.inner_text("h1") == "Đăng nhập"  # Vietnamese by default
    _login(page, live.base, "border-guard")
    assert page.url.endswith("/ui/queue")
    assert "Hàng chờ xét duyệt" in page.inner_text("h1")
    row = page.locator(f"a.review-link[data-id='{exc_id}']")
    assert row.count() == 1
    _shot(page, "01_guard_queue_vi")
    page.click("#lang-en")
    page.wait_for_load_state("networkidle")
    assert "Review queue" in page.inner_text("h1")
    row.click()
    page.wait_for_load_state("networkidle")
    # images side by side, decrypted for review
    for img in ("#live-image", "#chip-image"):
        assert page.eval_on_selector(img, "e => e.complete && e.naturalWidth > 0")
    # reasons in words (the shared catalogue, here in English), the raw codes as data
    codes = page.eval_on_selector_all("#reasons .reason", "els => els.map(e => e.dataset.code)")
    assert codes == ["face_mismatch", "liveness_failed"]
    assert "Face does not match the chip photo" in page.inner_text("#reasons")
    assert "face_similarity" in page.inner_text("#scores")
    assert "C1234567" in page.inner_text("#document") and "NGUYỄN" in page.inner_text("#document")
    _shot(page, "02_guard_review_en")
    page.fill("#notes", "Live face does not match the chip photo; second officer agrees.")
    page.click("#rv-refuse")  # one submit button per decision; notes optional
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/ui/queue?flash_key=decided")
    assert page.inner_text("#flash") == "Decision recorded."
    assert page.locator(f"a.review-link[data-id='{exc_id}']").count() == 0
    _shot(page, "03_guard_queue_after_decision")
    detail = live.client.get(f"/api/v1/exceptions/{exc_id}", headers=live.h("supervisor")).json()
    assert (detail["status"], detail["decision"], detail["decided_by"]) == ("resolved", "refuse", "border-guard")
    assert detail["notes"].startswith("Live face")
    # a forged form post (no CSRF token) is refused
    resp = page.request.post(f"{live.base}/ui/exceptions/{exc_id}/decision", form={"decision": "admit"})
    assert resp.status == 403
    page.click("#logout")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/ui/login")
    page.close()


def test_privacy_officer_flow(live, browser):
    r = live.client.post("/api/v1/exceptions", json=exception_body(reason_codes=["watchlist_hit"]),
                         headers=live.h("gate", **{"Idempotency-Key": "browser-2"}))
    exc_id = r.json()["id"]
    live.client.get(f"/api/v1/exceptions/{exc_id}", headers=live.h("border_guard"))  # an access to audit
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(f"{live.base}/ui/lang/en")
    _login(page, live.base, "privacy-officer")
    assert page.url.endswith("/ui/privacy")
    assert "Ledger intact" in page.inner_text("#ledger-status")
    assert "border-guard" in page.inner_text("#ledger-tail")
    assert page.locator("#retention tr").count() >= 2
    retention = page.inner_text("#retention")
    assert "Kept for 3 years after your last recorded exit" in retention and "Decree 13/2023/ND-CP" in retention
    assert page.locator("#purposes tr").count() >= 2
    _shot(page, "10_privacy_overview")
    page.fill("#subject-doc", "C1234567")
    page.fill("#subject-state", "VNM")
    with page.expect_download() as download:  # the export is a file, never rendered into the page
        page.click("#subject-export")
    exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert exc_id in exported["records"]["exceptions"]
    _shot(page, "11_privacy_subject_export")
    page.check("#purge-dry")
    page.click("#purge")
    page.wait_for_load_state("networkidle")
    assert page.get_attribute("#purge-result", "data-dry-run") == "true"
    _shot(page, "12_privacy_purge_dry_run")
    # the officer may not open the guard queue
    resp = page.goto(f"{live.base}/ui/queue")
    assert resp.status == 403
    page.close()
