"""COPILOT_ARENA_LEADERBOARD_URL: the leaderboard page shows that external board beside ours,
labelled external, fetched in the background, its untrusted content written as text."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from aiohttp import web
from playwright.async_api import Page, expect
from tests.fakes.base import FakeUpstream, RecordedRequest, json_response
from tests.gateway import GatewayServer
from tests.ui.conftest import screenshot
from tests.ui.support import UIServer

EXTERNAL = {
    "updated": "2026-12-01",
    "elo_rating_final": [
        {"model": "copilot-x", "elo": 1105.2, "votes": 5120},
        {"model": "<img src=x onerror=\"window.__xss='external'\">", "elo": 1001.0, "votes": 12},
    ],
}


class FakeExternalBoard(FakeUpstream):
    def routes(self) -> list[web.RouteDef]:
        return [web.get("/leaderboard.json", self.handler(self._board))]

    async def _board(self, request: web.Request, rec: RecordedRequest) -> web.Response:
        return json_response(EXTERNAL)


@pytest.fixture(scope="module")
def external_ui(gateway: GatewayServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIServer]:
    with FakeExternalBoard() as board:
        env = {
            "COPILOT_ARENA_LEADERBOARD_URL": f"http://user:secret@127.0.0.1:{board.port}/leaderboard.json?t=tok"
        }
        with UIServer(gateway.url, tmp_path_factory.mktemp("ui-external"), env=env) as ui:
            deadline = time.monotonic() + 20
            while httpx.get(ui.url + "/leaderboard", timeout=30).json()["external"]["fetched_at"] is None:
                assert time.monotonic() < deadline, "the external leaderboard was never fetched"
                time.sleep(0.05)
            yield ui


async def test_the_external_leaderboard_is_shown_labelled_and_inert(
    page: Page, external_ui: UIServer
) -> None:
    await page.goto(external_ui.url + "/arena/leaderboard")
    await page.wait_for_selector("body[data-ready='1']")
    box = page.locator("#external")
    await expect(box).to_be_visible()
    await expect(box.locator(".tag")).to_have_text("external")
    await expect(page.locator("#external-source")).to_contain_text("leaderboard.json")
    await expect(page.locator("#external-source")).not_to_contain_text("secret")
    await expect(page.locator("#external-source")).not_to_contain_text("tok")
    await expect(page.locator("#external-rows tr")).to_have_count(2)
    await expect(page.locator("#external-rows tr").first).to_contain_text("copilot-x")
    await expect(page.locator("#external-rows")).to_contain_text("<img src=x onerror=")
    assert await page.locator("#external img").count() == 0
    assert await page.evaluate("window.__xss") is None
    await screenshot(page, "leaderboard-external")
