"""The chat page in Chromium, through the real gateway to a fake upstream."""

from __future__ import annotations

from playwright.async_api import Page, expect
from tests.ui.conftest import screenshot
from tests.ui.support import UIServer


async def test_sign_in_with_a_bad_key_is_refused_with_the_gateways_reason(
    page: Page, ui_server: UIServer
) -> None:
    await page.goto(ui_server.url + "/chat")
    await page.wait_for_url(ui_server.url + "/login")
    await page.fill("#key", "sk-not-a-real-key-000000000000")
    await page.click("#login-button")
    await expect(page.locator("#login-error")).to_contain_text("did not accept this key")
    await screenshot(page, "login")


async def test_chat_streams_an_answer_and_keeps_it_across_a_reload(
    signed_in: Page, ui_server: UIServer
) -> None:
    page = signed_in
    await page.select_option("#model", "beta")
    await page.fill("#system-prompt", "Be brief.")
    await page.fill("#prompt", "What is a gateway?")
    await page.click("#send")
    answer = page.locator("#messages-a .msg.assistant").last
    await expect(answer).to_have_text("Second answer to: What is a gateway?")
    await expect(page.locator("#messages-a .msg.user")).to_have_text(["What is a gateway?"])
    await page.reload()
    await page.wait_for_selector("body[data-ready='1']")
    await expect(page.locator("#messages-a .msg.assistant")).to_have_text(
        ["Second answer to: What is a gateway?"]
    )
    await expect(page.locator("#model")).to_have_value("beta")
    await expect(page.locator("#system-prompt")).to_have_value("Be brief.")
    await screenshot(page, "chat")
