"""FastChat's limits in Chromium, each with its message: input length (12000 characters, 30000
in the anonymous arena), the turn limit, session expiry; the signed-in key's own gateway limits;
FastChat-format conversation logs in LOGDIR."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from playwright.async_api import Page, expect
from tests.gateway import GatewayServer
from tests.ui.conftest import screenshot, sign_in
from tests.ui.support import UIServer, mint_key
from tests.windows import clear_of_window_edge


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def limited(
    gateway: GatewayServer, tmp_path_factory: pytest.TempPathFactory, clock: FakeClock
) -> Iterator[UIServer]:
    with UIServer(
        gateway.url, tmp_path_factory.mktemp("ui-limited"), clock=clock, conversation_turn_limit=2
    ) as ui:
        yield ui


async def test_a_message_over_the_input_limit_is_refused_with_the_limit_named(signed_in: Page) -> None:
    page = signed_in
    await page.fill("#prompt", "x" * 12_001)
    await page.click("#send")
    await expect(page.locator("#error")).to_have_text(
        "Your message is 12,001 characters long; the limit is 12,000 characters. Please shorten it."
    )
    await expect(page.locator("#messages-a .msg")).to_have_count(0)
    await screenshot(page, "limit-input-length")


async def test_the_anonymous_arena_takes_up_to_30000_characters(signed_in: Page, ui_server: UIServer) -> None:
    page = signed_in
    await page.goto(ui_server.url + "/arena")
    await page.wait_for_selector("body[data-ready='1']")
    await page.fill("#prompt", "y" * 30_001)
    await page.click("#send")
    await expect(page.locator("#error")).to_contain_text(
        "the limit in the anonymous arena is 30,000 characters"
    )
    await page.fill("#prompt", "y" * 12_001)
    await page.click("#send")
    await page.wait_for_selector("body[data-busy='0']")
    await expect(page.locator("#error")).to_be_hidden()
    await expect(page.locator("#messages-a .msg.assistant")).to_have_count(1)
    await page.click("#clear")


async def test_the_turn_limit_stops_a_conversation_with_a_message(
    page: Page, limited: UIServer, virtual_key: str
) -> None:
    await sign_in(page, limited, virtual_key)
    for turn in ("One?", "Two?"):
        await page.fill("#prompt", turn)
        await page.click("#send")
        await page.wait_for_selector("body[data-busy='0']")
    await page.fill("#prompt", "Three?")
    await page.click("#send")
    await expect(page.locator("#error")).to_have_text(
        "This conversation has reached the limit of 2 turns. "
        "Please clear the history and start a new conversation."
    )
    await expect(page.locator("#messages-a .msg.user")).to_have_count(2)
    await page.click("#clear")
    await page.fill("#prompt", "Three?")
    await page.click("#send")
    await page.wait_for_selector("body[data-busy='0']")
    await expect(page.locator("#messages-a .msg.assistant")).to_have_count(1)


async def test_an_idle_session_expires_after_an_hour(
    page: Page, limited: UIServer, virtual_key: str, clock: FakeClock
) -> None:
    await sign_in(page, limited, virtual_key)
    clock.now += 3599
    response = await page.request.get(limited.url + "/api/chat/state")
    assert response.status == 200  # used within the hour: still alive (and touched)
    clock.now += 3601
    response = await page.request.get(limited.url + "/api/chat/state")
    assert response.status == 401
    assert (await response.json())["error"] == {
        "message": "Your session expired after 60 minutes without use. Please sign in again.",
        "type": "ui_error",
        "code": "session_expired",
    }
    await page.goto(limited.url + "/chat")
    await page.wait_for_url(limited.url + "/login")
    await expect(page.locator("#expired")).to_have_text(
        "Your session expired after 60 minutes without use. Please sign in again."
    )


async def test_the_signed_in_keys_rate_limit_applies(
    page: Page, ui_server: UIServer, gateway: GatewayServer
) -> None:
    key = mint_key(gateway, rpm_limit=1)
    await sign_in(page, ui_server, key)
    clear_of_window_edge()  # both calls in one rpm window
    await page.fill("#prompt", "First call.")
    await page.click("#send")
    await page.wait_for_selector("body[data-busy='0']")
    await expect(page.locator("#messages-a .msg.assistant")).to_have_text(["First answer to: First call."])
    await page.fill("#prompt", "Second call.")
    await page.click("#send")
    await page.wait_for_selector("body[data-busy='0']")
    await expect(page.locator("#error")).to_contain_text("has reached its rpm_limit (1)")
    await expect(page.locator("#messages-a .msg.assistant .note")).to_have_text("(failed)")
    await screenshot(page, "limit-rate")


async def test_conversations_are_logged_in_fastchats_format(
    signed_in: Page, ui_server: UIServer, virtual_key: str
) -> None:
    page = signed_in
    await page.fill("#prompt", "Log me.")
    await page.click("#send")
    await page.wait_for_selector("body[data-busy='0']")
    logs = sorted(Path(ui_server.logdir).glob("*-conv.json"))
    assert logs, "no conversation log in LOGDIR"
    records = [orjson.loads(line) for line in logs[-1].read_text().splitlines()]
    chat = [r for r in records if r.get("type") == "chat" and "Log me." in orjson.dumps(r).decode()]
    assert chat and chat[-1]["model"] == "alpha"
    assert virtual_key not in logs[-1].read_text()
