"""Officer calls in a real headless browser (Debian chromium driven by Playwright) against the app served by
uvicorn: a kiosk's call (raised with its device token through devicelink, as the kiosk does) appears on the
guard's queue page by itself within a poll (calls.js, with a chime), and is acknowledged and closed by clicks.
Screenshots go to tmp/artefacts/backoffice/."""

from __future__ import annotations

import pytest

from tests.backoffice.conftest import build_world, make_config
from tests.backoffice.screenshots import chromium, serve
from tests.backoffice.test_browser import ARTEFACTS, CHROMIUM, _login, _shot

pytestmark = pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM}")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    world = build_world(make_config(db_path=tmp_path_factory.mktemp("calls-browser") / "bo.db"))
    with serve(world.app) as base:
        world.base = base
        yield world


@pytest.fixture(scope="module")
def browser():
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    with chromium("--autoplay-policy=no-user-gesture-required") as b:  # a guard's workstation lets the page sound
        yield b


def test_a_kiosk_call_appears_on_the_guard_page_and_is_acknowledged_by_a_click(live, browser):
    from devicelink import BackofficeClient

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{live.base}/ui/lang/en")
    _login(page, live.base, "border-guard")
    assert page.url.endswith("/ui/queue")
    assert page.inner_text("#calls-count") == "0"
    assert "No officer call waiting." in page.inner_text("#calls-banner")

    # the kiosk calls, over HTTP with its device token, as kiosk/_app.py does through the workflow
    with BackofficeClient(live.base, live.tokens["kiosk"]) as kiosk:
        call_id = kiosk.raise_call("fingerprints")

    # no reload: calls.js polls every 5 s, draws the call and chimes
    row = page.wait_for_selector(f"#calls-list li.call[data-id='{call_id}']", timeout=15_000)
    assert page.inner_text("#calls-count") == "1"
    text = row.inner_text()
    assert "Hall" in text and "Kiosk" in text and "fingerprints" in text and "Traveller asked for help" in text
    assert page.get_attribute("#calls-banner", "data-chimes") == "1"
    assert "calls-waiting" in page.get_attribute("#calls-banner", "class")
    _shot(page, "20_guard_officer_call")

    # acknowledged by one click
    page.click(f"#calls-list li.call[data-id='{call_id}'] button.call-acknowledge")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/ui/queue?flash_key=call_acknowledged")
    assert page.inner_text("#flash") == "Call acknowledged."
    call = live.client.get("/api/v1/calls", headers=live.h("border_guard")).json()["items"][0]
    assert (call["id"], call["status"], call["acknowledged_by"]) == (call_id, "acknowledged", "border-guard")
    row = page.locator(f"#calls-list li.call[data-id='{call_id}']")
    assert "On the way: border-guard" in row.inner_text() and row.locator("button.call-acknowledge").count() == 0
    assert page.inner_text("#calls-count") == "0"  # nobody else needs to go
    _shot(page, "21_guard_officer_call_acknowledged")

    # closed by another click; the banner is empty again
    row.locator("button.call-close").click()
    page.wait_for_load_state("networkidle")
    assert page.inner_text("#flash") == "Call closed."
    assert page.locator("#calls-list li.call").count() == 0
    assert live.client.get("/api/v1/calls?status=closed", headers=live.h("border_guard")).json()["total"] == 1

    # a second call while the page stays open chimes again; the redrawn forms work too
    with BackofficeClient(live.base, live.tokens["gate"]) as gate:
        second = gate.raise_call("refer", "referral")
    page.wait_for_selector(f"#calls-list li.call[data-id='{second}']", timeout=15_000)
    assert page.get_attribute("#calls-banner", "data-chimes") == "1"  # a fresh page load: its first chime
    page.click(f"#calls-list li.call[data-id='{second}'] button.call-acknowledge")
    page.wait_for_load_state("networkidle")
    assert live.ctx.calls.get(second)["acknowledged_by"] == "border-guard"
    assert not [e for e in errors if "Content Security Policy" in e], errors
    page.close()
