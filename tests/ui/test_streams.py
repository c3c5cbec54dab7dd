"""streams.py without a browser: a stopped answer leaves the page idle with what it had."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import anyio

from polyroute.ui.conversations import Page, Side
from polyroute.ui.gateway_client import StreamResult
from polyroute.ui.sessions import SessionStore
from polyroute.ui.streams import Turn, relay, start_answers


class StallingGateway:
    """Sends one delta per side, then never finishes (like an upstream still thinking)."""

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def stream_chat(
        self, key: Any, payload: dict[str, Any], result: StreamResult
    ) -> AsyncIterator[str]:
        result.text_parts.append("partial ")
        yield "partial "
        self.started.set()
        await asyncio.Event().wait()


async def test_a_stream_cancelled_in_starlettes_cancel_scope_leaves_the_page_idle() -> None:
    page = Page(kind="anonymous", sides=[Side("a"), Side("b")])
    for side in page.sides:
        side.messages.append({"role": "user", "content": "hi"})
    session = SessionStore(b"k" * 32, 3600, 10).new()
    gateway = StallingGateway()
    turn = Turn(page, session, None, {}, None)

    async def browser_reads() -> None:
        async for _ in relay(start_answers(turn, gateway, None)):  # type: ignore[arg-type]
            pass

    # Starlette's StreamingResponse runs the body in an anyio task group that is cancelled when
    # the browser disconnects; every await in it is then cancelled again.
    async with anyio.create_task_group() as group:
        group.start_soon(browser_reads)
        await gateway.started.wait()
        group.cancel_scope.cancel()
    await asyncio.wait_for(page.idle.wait(), 5)
    assert not page.streaming()
    assert [side.messages[-1] for side in page.sides] == [
        {"role": "assistant", "content": "partial ", "note": "stopped"}
    ] * 2
