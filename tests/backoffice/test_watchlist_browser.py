"""Watchlist management in a real headless browser (Debian chromium driven by Playwright), against the app
served by uvicorn on 127.0.0.1 (issue #19: "a Hanzi-only entry matches the pinyin name from an MRZ").
Screenshots go to tmp/artefacts/backoffice/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backoffice.conftest import build_world, make_config
from tests.backoffice.screenshots import chromium, serve
from tests.backoffice.test_browser import ARTEFACTS, CHROMIUM, _login, _shot

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"chromium not found at {CHROMIUM} (apt-get install chromium)")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install playwright)")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    world = build_world(make_config(db_path=tmp_path_factory.mktemp("wl-browser") / "bo.db"))
    with serve(world.app) as base:
        world.base = base
        yield world


@pytest.fixture(scope="module")
def browser():
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    with chromium() as b:
        yield b


def test_supervisor_adds_a_hanzi_only_entry_and_the_mrz_pinyin_name_is_a_hit(live, browser):
    page = browser.new_page()
    _login(page, live.base, "supervisor")
    page.goto(f"{live.base}/ui/watchlist")
    page.fill("#p-name_hanzi", "张伟")
    page.fill("#p-reason", "lệnh truy nã")
    page.fill("#p-source", "Bộ Công an")
    page.fill("#p-expires_on", "2099-12-31")
    page.click("#p-save")
    page.wait_for_load_state("networkidle")
    assert page.locator("#flash").is_visible()
    row = page.locator("#entries tr", has_text="张伟")
    assert row.count() == 1 and "Bộ Công an" in row.inner_text()

    # the traveller's Chinese passport: the MRZ carries the pinyin, ZHANG<<WEI
    page.fill("#check-name", "ZHANG WEI")
    page.click("#check")
    page.wait_for_load_state("networkidle")
    hit = page.locator('#matches tr[data-band="hit"]')
    assert hit.count() == 1
    text = hit.inner_text()
    assert "张伟" in text and "lệnh truy nã" in text and "Bộ Công an" in text
    assert hit.locator(".wl-badge-hit").is_visible()
    assert float(hit.locator(".wl-score").inner_text()) >= 0.85
    _shot(page, "watchlist-hanzi-hit")

    # typed in Hanzi, the check form works too (no bare "422")
    page.fill("#check-name", "张伟")
    page.click("#check")
    page.wait_for_load_state("networkidle")
    assert page.locator('#matches tr[data-band="hit"]').count() == 1
    assert page.locator("#check-error").count() == 0
    page.close()


def test_a_near_miss_looks_different_from_a_hit(live, browser):
    live.client.post("/api/v1/watchlist/persons", json={"id": "vn-1", "name": "NGUYEN VAN DUC", "nationality": "VNM",
                                                        "reason": "red notice"}, headers=live.h("supervisor"))
    page = browser.new_page()
    _login(page, live.base, "border-guard")
    page.goto(f"{live.base}/ui/watchlist")
    assert page.locator("#person-form").count() == 0  # guards read only
    page.fill("#check-name", "NGUYEN VAN DUC")
    page.fill("#check-nat", "USA")
    page.click("#check")
    page.wait_for_load_state("networkidle")
    near = page.locator('#matches tr[data-band="near_miss"]')
    assert near.count() == 1 and page.locator('#matches tr[data-band="hit"]').count() == 0
    hit_bg = "rgb(179, 38, 30)"
    assert near.locator(".wl-badge").evaluate("e => getComputedStyle(e).backgroundColor") != hit_bg
    _shot(page, "watchlist-near-miss")
    page.close()
