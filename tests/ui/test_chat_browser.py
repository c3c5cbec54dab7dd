"""The chat page in Chromium, through the real gateway to a fake upstream."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from playwright.async_api import Page, expect
from tests.gateway import GatewayServer
from tests.ui.conftest import screenshot, sign_in
from tests.ui.support import FakeModels, UIServer, wait_for

from polyroute.ui.settings import ArenaSampling

# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


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


async def test_stop_cancels_the_upstream_call_and_keeps_the_partial_answer(
    signed_in: Page, upstream: FakeModels
) -> None:
    page = signed_in
    cancelled_before = upstream.cancelled
    await page.fill("#prompt", "please hold on")
    await page.click("#send")
    streaming = page.locator("#messages-a .msg.assistant.streaming")
    await expect(streaming).to_contain_text("Thinking about")
    await expect(page.locator("#stop")).to_be_enabled()
    await page.click("#stop")
    await expect(page.locator("#messages-a .msg.assistant .note")).to_have_text("(stopped)")
    # The browser's abort reached the gateway, which cancelled the upstream call.
    wait_for(lambda: upstream.cancelled > cancelled_before, "the upstream call to be cancelled")
    await expect(page.locator("#send")).to_be_enabled()
    # The partial answer is kept, marked as stopped, after a reload too.
    await page.reload()
    await page.wait_for_selector("body[data-ready='1']")
    await expect(page.locator("#messages-a .msg.assistant")).to_contain_text("Thinking about")
    await expect(page.locator("#messages-a .msg.assistant .note")).to_have_text("(stopped)")


async def test_regenerate_asks_the_same_prompt_again_without_the_old_answer(
    signed_in: Page, upstream: FakeModels
) -> None:
    page = signed_in
    await page.fill("#prompt", "Name a colour.")
    await page.click("#send")
    await expect(page.locator("#messages-a .msg.assistant")).to_have_text(["First answer to: Name a colour."])
    asked = len(upstream.requests)
    await page.click("#regenerate")
    await page.wait_for_selector("body[data-busy='0']")
    wait_for(lambda: len(upstream.requests) == asked + 1, "the regenerated request")
    messages = upstream.requests[-1].json["messages"]
    assert [m["role"] for m in messages] == ["user"]
    assert messages[0]["content"] == "Name a colour."
    assert upstream.requests[-1].json["stream"] is True
    await expect(page.locator("#messages-a .msg")).to_have_count(2)
    await page.click("#clear")
    await expect(page.locator("#messages-a .msg")).to_have_count(0)


async def test_parameters_reach_the_model(signed_in: Page, upstream: FakeModels) -> None:
    page = signed_in
    await page.fill("#temperature", "1.3")
    await page.fill("#top-p", "0.5")
    await page.fill("#max-tokens", "77")
    await page.fill("#prompt", "Parameters?")
    await page.click("#send")
    await page.wait_for_selector("body[data-busy='0']")
    sent = upstream.requests[-1].json
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"]) == (1.3, 0.5, 77)


async def test_an_uploaded_image_reaches_the_model_as_an_image_part(
    signed_in: Page, upstream: FakeModels
) -> None:
    page = signed_in
    await page.set_input_files("#image", files=[{"name": "dot.png", "mimeType": "image/png", "buffer": PNG}])
    await expect(page.locator("#image-name")).to_have_text("attached: dot.png")
    await page.fill("#prompt", "What is in this picture?")
    await page.click("#send")
    await expect(page.locator("#messages-a .msg.assistant")).to_have_text(
        ["Received 1 image(s) as image/png."]
    )
    await expect(page.locator("#messages-a .msg.user .images")).to_have_text("[1 image attached]")
    parts = upstream.requests[-1].json["messages"][-1]["content"]
    assert parts[0] == {"type": "text", "text": "What is in this picture?"}
    assert parts[1]["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    await screenshot(page, "chat-image")


async def test_nothing_in_an_answer_runs_or_loads(signed_in: Page, ui_server: UIServer) -> None:
    page = signed_in
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await page.fill("#prompt", "show me xss tricks")
    await page.click("#send")
    await page.wait_for_selector("body[data-busy='0']")
    answer = page.locator("#messages-a .msg.assistant")
    await expect(answer).to_have_count(1)
    for attempt in range(2):  # as streamed, then as rendered from the saved state after a reload
        await expect(answer.locator("strong")).to_have_text("bold")
        await expect(answer.locator("pre code")).to_have_text("print('<b>not bold</b>')\n")
        # The markup arrives as text: visible, inert.
        await expect(answer).to_contain_text("<script>window.__xss = 'script';</script>")
        await expect(answer).to_contain_text('<img src="x" onerror=')
        assert await answer.locator("script, img, svg, iframe, [onerror], [onload]").count() == 0
        assert await answer.locator("a[href^='javascript'], a[href^='data']").count() == 0
        safe = answer.locator("a", has_text="safe link")
        await expect(safe).to_have_attribute("href", "https://example.com/docs")
        await expect(safe).to_have_attribute("rel", "noopener noreferrer nofollow")
        await answer.locator("text=click me").click()  # a javascript: link stays plain text
        assert await page.evaluate("window.__xss") is None
        assert dialogs == []
        if attempt == 0:
            await page.reload()
            await page.wait_for_selector("body[data-ready='1']")
    await screenshot(page, "chat-untrusted-output")
    response = await page.request.get(ui_server.url + "/chat")
    assert "script-src 'self'" in response.headers["content-security-policy"]


@pytest.fixture(scope="module")
def vision_ui(gateway: GatewayServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIServer]:
    arena = ArenaSampling(vision_models=["alpha"])
    with UIServer(gateway.url, tmp_path_factory.mktemp("ui-vision"), arena=arena) as ui:
        yield ui


async def test_images_go_only_to_the_configured_vision_models(
    page: Page, vision_ui: UIServer, virtual_key: str
) -> None:
    await sign_in(page, vision_ui, virtual_key)
    await page.select_option("#model", "beta")
    await expect(page.locator("#image")).to_be_disabled()
    await page.select_option("#model", "alpha")
    await expect(page.locator("#image")).to_be_enabled()
    csrf = await page.evaluate("document.body.dataset.csrf")
    image = "data:image/png;base64," + base64.b64encode(PNG).decode()
    refused = await page.request.post(
        vision_ui.url + "/api/chat/send",
        data={"model": "beta", "text": "look", "image": image},
        headers={"x-csrf-token": csrf},
    )
    assert refused.status == 400
    assert (await refused.json())["error"]["message"] == (
        "'beta' does not take images; send text only or pick another model."
    )
