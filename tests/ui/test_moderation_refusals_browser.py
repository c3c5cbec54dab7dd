"""A guardrail's refusal on the chat page in Chromium: the user sees FastChat's moderation words
and which guardrail refused, in place of an answer; the page keeps working after it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.async_api import Page, expect
from tests.gateway import GatewayServer
from tests.ui.conftest import screenshot, sign_in
from tests.ui.support import FakeModels, UIServer, gateway_config, mint_key


@pytest.fixture(scope="module")
def guarded(upstream: FakeModels, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[UIServer, str]]:
    config = gateway_config(upstream)
    config["guardrails"] = [
        {
            "guardrail_name": "house-rules",
            "litellm_params": {"guardrail": "blocklist", "mode": "pre_call", "default_on": True,
                               "blocked_words": ["contraband"], "category": "smuggling"},
        }
    ]  # fmt: skip
    tmp = tmp_path_factory.mktemp("guarded-browser")
    with GatewayServer(config, tmp) as gateway, UIServer(gateway.url, tmp) as ui:
        yield ui, mint_key(gateway)


async def test_a_refused_prompt_reads_as_a_moderation_message(page: Page, guarded) -> None:
    ui, key = guarded
    await sign_in(page, ui, key)
    await page.fill("#prompt", "Where can I buy contraband?")
    await page.click("#send")
    # The turn is marked failed and the page's error line says why, in FastChat's words.
    await expect(page.locator("#messages-a .msg.assistant").last).to_contain_text("(failed)")
    refusal = page.locator("#error")
    await expect(refusal).to_be_visible()
    await expect(refusal).to_contain_text("YOUR INPUT VIOLATES OUR CONTENT MODERATION GUIDELINES")
    await expect(refusal).to_contain_text("house-rules")
    await expect(refusal).not_to_contain_text("contraband")  # never the flagged text
    await screenshot(page, "chat_moderation_refusal")
    # The page keeps working: the next prompt is answered.
    await page.fill("#prompt", "What is a gateway?")
    await page.click("#send")
    await expect(page.locator("#messages-a .msg.assistant").last).to_contain_text("What is a gateway?")
