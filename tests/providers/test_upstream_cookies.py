"""A cookie an upstream sets is never sent back: the gateway's upstream sessions serve every
client, so a jar would carry one client's cookie (a provider's session, a load balancer's
affinity) into another client's requests."""

from __future__ import annotations

import socket

from aiohttp import web
from yarl import URL

from polyroute.auth.url_safety import CheckedTarget
from polyroute.providers.base import WireRequest
from polyroute.providers.transport import HttpTransport


async def cookie_setting_upstream() -> tuple[web.AppRunner, int, list[str | None]]:
    seen: list[str | None] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        response = web.json_response({"ok": True})
        response.set_cookie("session", "client-a-secret", path="/")
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port, seen


async def test_no_cookie_travels_from_one_request_to_the_next() -> None:
    runner, port, seen = await cookie_setting_upstream()
    transport = HttpTransport()
    # Names, not addresses: aiohttp's jar keeps no cookie of an IP address anyway ("localhost"
    # reaches the listener on 127.0.0.1, after ::1 if that comes first).
    url = f"http://localhost:{port}/v1/chat/completions"
    pinned_url = f"http://upstream.invalid:{port}/v1/chat/completions"
    checked = CheckedTarget(URL(pinned_url), "upstream.invalid", port, "127.0.0.1", socket.AF_INET)
    try:
        for target in (None, None, checked, checked):  # the shared pool and a pinned session
            response = await transport.send(
                WireRequest(url, {"content-type": "application/json"}, b"{}"), target=target
            )
            assert response.status == 200
            await response.read()
            response.close()
    finally:
        await transport.close()
        await runner.cleanup()
    assert seen == [None, None, None, None]
