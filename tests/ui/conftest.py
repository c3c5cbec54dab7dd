"""Fixtures of the UI tests: fake upstream, real gateway, UI server, and Debian's chromium driven
by Playwright (async API, on the suite's session event loop).

The browser is the distribution's (`apt-get install chromium`; scripts/test installs it when it
is missing); Playwright downloads nothing. Without it these tests fail and say so."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
from tests.gateway import GatewayServer
from tests.ui.support import FakeModels, UIServer, gateway_config, mint_key

# Screenshots are written only when asked (POLYROUTE_UI_SCREENSHOTS=docs/screenshots): a test run
# must not rewrite tracked files.
SCREENSHOTS = os.environ.get("POLYROUTE_UI_SCREENSHOTS")
# Conditions, not sleeps; the deadline is generous because this machine's cores are shared and a
# leaderboard plot is drawn by matplotlib in a thread.
expect.set_options(timeout=20_000)


def chromium_path() -> str:
    path = os.environ.get("POLYROUTE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail(
            "the UI's browser tests need Chromium: `apt-get install -y chromium` (scripts/test does this "
            "when run as root), or set POLYROUTE_CHROMIUM to a Chromium executable",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeModels]:
    with FakeModels() as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(upstream: FakeModels, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    with GatewayServer(gateway_config(upstream), tmp_path_factory.mktemp("gateway")) as server:
        yield server


@pytest.fixture(scope="module")
def virtual_key(gateway: GatewayServer) -> str:
    return mint_key(gateway)


@pytest.fixture(scope="module")
def ui_server(gateway: GatewayServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIServer]:
    with UIServer(gateway.url, tmp_path_factory.mktemp("ui")) as server:
        yield server


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(viewport={"width": 1280, "height": 860})
    ctx.set_default_timeout(20_000)
    try:
        yield ctx
    finally:
        await ctx.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


async def sign_in(page: Page, ui: UIServer, key: str) -> None:
    await page.goto(ui.url + "/login")
    await page.fill("#key", key)
    await page.click("#login-button")
    await page.wait_for_url(ui.url + "/chat")
    await page.wait_for_selector("body[data-ready='1']")


@pytest.fixture
async def signed_in(page: Page, ui_server: UIServer, virtual_key: str) -> Page:
    await sign_in(page, ui_server, virtual_key)
    return page


async def screenshot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


__all__ = ["mint_key", "screenshot", "sign_in"]
