"""The web desk in headless Chromium (Debian's, driven by Playwright): approve a story."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn

from core.settings import Settings
from serving.desk import Desk
from serving.http_app import create_http_app
from tests.conftest import HACK, free_port, skip_or_fail

CHROMIUM = "/usr/bin/chromium"
TRADER = "UTRADER1"
QUIET = {
    "id": "quiet-1",
    "source": "news",
    "title": "Company to hold annual meeting on Tuesday",
    "published_at": "2025-02-21T14:05:00Z",
}


@pytest.fixture
def served_desk(make_settings: Callable[..., Settings]) -> Iterator[tuple[Desk, str]]:
    desk = Desk(make_settings(slack_approvers={TRADER}))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_http_app(desk, None), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield desk, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        desk.close()


@pytest.mark.slow
def test_approve_a_story_on_the_web_desk(served_desk: tuple[Desk, str]) -> None:
    if shutil.which("chromium") is None and not shutil.which(CHROMIUM):
        skip_or_fail("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    desk, url = served_desk
    desk.submit([desk_item(HACK), desk_item(QUIET)])
    assert desk.wait_idle(60)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page()
            page.goto(f"{url}/desk")
            material = page.locator("#feed tr.material[data-item='hack-1']")
            material.wait_for(timeout=15_000)
            assert page.locator("#feed tr.routine[data-item='quiet-1']").count() == 1
            pending = page.locator("#approvals tr[data-item='hack-1']")
            assert "Bybit hacked" in pending.inner_text()

            # Without an approver id the desk refuses, and nothing changes.
            pending.locator("button[data-action='approve']").click()
            page.locator("#status", has_text="not an approver").wait_for(timeout=10_000)
            assert desk.store.get_approval("hack-1").status == "pending"

            page.fill("#user", TRADER)
            pending.locator("button[data-action='approve']").click()
            page.locator("#status", has_text="approved").wait_for(timeout=15_000)
            page.locator("#approvals tr[data-item='hack-1']").wait_for(
                state="detached", timeout=10_000
            )
        finally:
            browser.close()

    approval = desk.store.get_approval("hack-1")
    assert approval is not None and (approval.status, approval.decided_by) == ("approved", TRADER)
    assert {o.approver for o in desk.store.active_overrides()} == {TRADER}


def desk_item(raw: dict[str, Any]) -> Any:
    from tools.sources import parse_item

    return parse_item(raw, 8000)


def test_web_decisions_check_the_approver_and_the_bounds(
    make_settings: Callable[..., Settings],
) -> None:
    from fastapi.testclient import TestClient

    desk = Desk(make_settings(slack_approvers={TRADER}))
    try:
        desk.submit([desk_item(HACK)])
        assert desk.wait_idle(60)
        http = TestClient(create_http_app(desk, None))
        assert http.get("/desk").status_code == 200
        [pending] = http.get("/api/approvals").json()
        assert pending["item_id"] == "hack-1"
        assert (
            http.post("/api/approvals/hack-1/approve", json={"user": "UINTERN"}).status_code == 403
        )
        too_wide = {"user": TRADER, "adjustments": {"ETH": {"bps": 10_000}}}
        refused = http.post("/api/approvals/hack-1/adjust", json=too_wide)
        assert refused.status_code == 422 and "ETH bps" in refused.json()["detail"]
        ok = http.post(
            "/api/approvals/hack-1/adjust",
            json={"user": TRADER, "adjustments": {"ETH": {"bps": 4.5}}},
        )
        assert ok.status_code == 200 and ok.json()["status"] == "adjusted"
        again = http.post("/api/approvals/hack-1/approve", json={"user": TRADER})
        assert again.status_code == 409 and again.json()["outcome"] == "already_decided"
        eth = next(o for o in desk.store.active_overrides() if o.asset == "ETH")
        assert eth.bps == 4.5
        feed = http.get("/api/feed").json()
        assert feed[0]["item_id"] == "hack-1" and feed[0]["route"] == "material"
    finally:
        desk.close()
