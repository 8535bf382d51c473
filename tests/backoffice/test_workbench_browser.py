"""The guards' workbench in real Chromium (issue #19 "Done when"): both photos of a review page decode
with a JPEG 2000 chip photo, a decision is one key or one click and lands on the next case, a watchlist
hit sorts first, the queue reloads itself when a case arrives. Debian chromium driven by Playwright
against uvicorn, as tests/backoffice/test_browser.py; the world is the ``make screenshots`` one."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from tests.backoffice.conftest import PASSWORD, build_world, exception_body, make_config
from tests.backoffice.screenshots import chromium, login, seed, serve

CHROMIUM = os.environ.get("SMARTBORDER_CHROMIUM", "/usr/bin/chromium")
ARTEFACTS = Path(__file__).resolve().parents[2] / "tmp" / "artefacts" / "backoffice"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"chromium not found at {CHROMIUM} (apt-get install chromium)")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install playwright)")


@pytest.fixture()
def live(tmp_path):
    world = build_world(make_config(db_path=tmp_path / "bo.db"))
    world.ids = seed(world)  # hit (posted last, newest), mismatch (JPEG 2000 chip photo), expired (oldest)
    with serve(world.app) as base:
        world.base = base
        yield world
    world.client.close()


@pytest.fixture(scope="module")
def browser():
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    with chromium() as b:
        yield b


def _guard_page(browser, live, lang: str = "en"):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{live.base}/ui/lang/{lang}")
    login(page, live.base, "border-guard", PASSWORD)
    return page


def _queue_ids(page) -> list[str]:
    return page.eval_on_selector_all("#queue tbody tr", "rows => rows.map(r => r.dataset.id)")


def test_both_photos_decode_with_a_jpeg2000_chip_photo(live, browser):
    page = _guard_page(browser, live)
    exc = live.ids["mismatch"]
    assert live.client.get(f"/api/v1/exceptions/{exc}/images/chip",
                           headers=live.h("border_guard")).headers["content-type"] == "image/jp2"
    with page.expect_response(lambda r: r.url.endswith(f"/{exc}/images/chip")) as chip:
        page.goto(f"{live.base}/ui/exceptions/{exc}")
    assert chip.value.headers["content-type"] == "image/jpeg"
    page.wait_for_load_state("networkidle")
    for img in ("#chip-image", "#live-image"):
        assert page.eval_on_selector(img, "e => e.complete && e.naturalWidth > 0"), img
    # the face score against its threshold, and the decisions above the fold
    bar = page.locator(".rv-bar[data-key='face']")
    assert bar.get_attribute("data-threshold") == "0.933" and "rv-fail" in bar.get_attribute("class")
    for button in ("#rv-admit", "#rv-refuse", "#rv-refer"):
        box = page.locator(button).bounding_box()
        assert box is not None and box["y"] + box["height"] <= 800, button
    assert page.inner_text("#rv-waiting") in ("waiting 12 min", "waiting 13 min")  # seeded 12 minutes ago
    page.screenshot(path=str(ARTEFACTS / "20_workbench_review_jp2.png"))
    page.close()


def test_a_watchlist_hit_sorts_first(live, browser):
    page = _guard_page(browser, live)
    page.goto(f"{live.base}/ui/queue")
    ids = live.ids
    # posted last and newest, the watchlist hit still comes first; then by waiting time, oldest first
    assert _queue_ids(page) == [ids["hit"], ids["mismatch"], ids["expired"]]
    first = page.locator("#queue tbody tr").first
    assert first.get_attribute("data-severity") == "0"
    assert "Watchlist hit" in first.inner_text() and "ZHANG" in first.inner_text()
    assert page.eval_on_selector(f"tr[data-id='{ids['hit']}'] img", "e => e.complete && e.naturalWidth > 0")
    assert page.inner_text("#queue-count") == "3 waiting"
    page.screenshot(path=str(ARTEFACTS / "21_workbench_queue.png"), full_page=True)
    page.close()


def test_a_decision_is_one_key_or_one_click_and_opens_the_next_case(live, browser):
    ids = live.ids
    page = _guard_page(browser, live, lang="vi")
    page.goto(f"{live.base}/ui/queue")
    page.keyboard.press("n")  # the first case in queue order
    page.wait_for_url(f"**/ui/exceptions/{ids['hit']}")
    page.keyboard.press("r")  # one key: refuse, and the next case opens
    page.wait_for_url(f"**/ui/exceptions/{ids['mismatch']}?flash_key=rv_decided_next")
    assert "Đã ghi nhận quyết định" in page.inner_text("#flash")
    page.fill("#notes", "Khuôn mặt khớp khi kiểm tra trực tiếp.")
    page.click("#rv-admit")  # one click, notes optional
    page.wait_for_url(f"**/ui/exceptions/{ids['expired']}?flash_key=rv_decided_next")
    page.keyboard.press("f")  # refer to a supervisor: the last case, so the queue says none is left
    page.wait_for_url("**/ui/queue?flash_key=decided")
    assert page.locator("#empty").inner_text().startswith("Không còn trường hợp nào")
    decided = {k: live.client.get(f"/api/v1/exceptions/{v}", headers=live.h("supervisor")).json()
               for k, v in ids.items()}
    assert [(decided[k]["status"], decided[k]["decision"]) for k in ("hit", "mismatch", "expired")] == [
        ("resolved", "refuse"), ("resolved", "admit"), ("referred", "refer")]
    assert decided["mismatch"]["notes"].startswith("Khuôn mặt khớp")
    page.close()


def test_a_key_typed_into_the_notes_decides_nothing(live, browser):
    page = _guard_page(browser, live)
    page.goto(f"{live.base}/ui/exceptions/{live.ids['hit']}")
    page.click("#notes")
    page.keyboard.type("refer after a call")  # a, r, f typed as text
    assert page.url.endswith(f"/ui/exceptions/{live.ids['hit']}")
    assert page.input_value("#notes") == "refer after a call"
    page.close()


def test_the_queue_reloads_itself_when_a_case_arrives(live, browser):
    page = _guard_page(browser, live)
    page.clock.install()
    page.goto(f"{live.base}/ui/queue")
    assert page.inner_text("#queue-count") == "3 waiting"
    body = exception_body(reason_codes=["chip_cloned"],
                          occurred_at=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat())
    r = live.client.post("/api/v1/exceptions", json=body, headers=live.h("gate", **{"Idempotency-Key": "arrives"}))
    new = r.json()["id"]
    with page.expect_navigation():
        page.clock.run_for(11_000)  # the 10 s poll sees a new version and reloads
    assert page.inner_text("#queue-count") == "4 waiting"
    assert _queue_ids(page)[1] == new  # suspected fraud: right after the watchlist hit
    page.close()


def test_waiting_times_stay_current_without_a_reload(live, browser):
    page = _guard_page(browser, live)
    page.clock.install()
    page.goto(f"{live.base}/ui/exceptions/{live.ids['mismatch']}")
    before = page.inner_text("#rv-waiting")
    assert before in ("waiting 12 min", "waiting 13 min")
    page.clock.run_for(60 * 60_000)  # an hour later, same page (no navigation on a review page)
    minutes = int(before.split()[1]) + 60
    assert page.inner_text("#rv-waiting") == f"waiting 1 h {minutes - 60:02d} min"
    page.close()
