"""One prompt answered by every side of a page, streamed to the browser as server-sent events.

The sides' gateway streams run as concurrent tasks feeding one queue (a battle's two answers
arrive in parallel); the browser gets, per side, `delta` events with raw text (shown as text,
never parsed as HTML), then `done` with the answer rendered to sanitised HTML, or `error` with
the gateway's message. When the browser goes away (its stop button aborts the request), the
tasks are cancelled, which closes their connections to the gateway, which cancels the upstream
calls; the partial answers are kept, marked as stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from polyroute.secrets import Secret
from polyroute.ui.arena_link import ArenaLink
from polyroute.ui.conversations import Page, Side, request_messages
from polyroute.ui.gateway_client import GatewayCallError, GatewayClient, StreamResult
from polyroute.ui.rendering import render_markdown
from polyroute.ui.sessions import Session

log = logging.getLogger("polyroute.ui")
SIDE_NAMES = ("a", "b")


@dataclass
class Turn:
    page: Page
    session: Session
    key: Secret | None
    params: dict[str, Any]
    turn_index: int | None  # the arena store's turn, when the page is recorded


def sse(event: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


async def _answer_side(
    turn: Turn,
    index: int,
    side: Side,
    gateway: GatewayClient,
    arena: ArenaLink | None,
    queue: asyncio.Queue[bytes | None],
) -> None:
    name = SIDE_NAMES[index]
    result = StreamResult()
    payload = {"model": side.model, "messages": request_messages(turn.page, side), **turn.params}
    note: str | None = "stopped"
    try:
        async for delta in gateway.stream_chat(turn.key, payload, result):
            await queue.put(sse("delta", {"side": name, "text": delta}))
        note = None
        if arena is not None and turn.page.battle_id is not None and turn.turn_index is not None:
            await arena.record_answer(
                turn.page.battle_id,
                turn.session,
                name,
                turn.turn_index,
                result.text,
                result.request_id,
                turn.params,
            )
        html = render_markdown(result.text)
        await queue.put(sse("done", {"side": name, "html": html, "finish_reason": result.finish_reason}))
    except GatewayCallError as exc:
        # A guardrail's refusal of the prompt: that turn leaves the conversation (conversations.py).
        note = "refused" if exc.code == "content_policy_violation" and not result.text else "error"
        await queue.put(sse("error", {"side": name, "message": exc.message, "code": exc.code}))
    except Exception as exc:  # the store refused the answer, or a bug: the user sees a line, not a trace
        note = "error"
        log.exception("answer failed: side=%s", name)
        message = getattr(exc, "message", None) or "Something went wrong while answering; try again."
        await queue.put(sse("error", {"side": name, "message": str(message), "code": "ui_error"}))
    finally:
        answer: dict[str, Any] = {"role": "assistant", "content": result.text}
        if note:
            answer["note"] = note
        side.messages.append(answer)
        if result.request_id:
            side.request_ids.append(result.request_id)
        side.streaming = False
        await queue.put(None)


@dataclass
class Answering:
    """The sides' answers of one prompt, running."""

    turn: Turn
    queue: asyncio.Queue[bytes | None]
    tasks: list[asyncio.Task[None]]
    finished: asyncio.Future[list[Any]]


def start_answers(turn: Turn, gateway: GatewayClient, arena: ArenaLink | None) -> Answering:
    """Starts every side's answer now, before the response body: even if the browser is gone
    before the body starts, the answers finish, are kept, and the page turns idle again."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    turn.page.idle.clear()
    for side in turn.page.sides:
        side.streaming = True
    tasks = [
        asyncio.create_task(_answer_side(turn, i, side, gateway, arena, queue))
        for i, side in enumerate(turn.page.sides)
    ]
    finished = asyncio.gather(*tasks, return_exceptions=True)
    finished.add_done_callback(lambda _: turn.page.idle.set())
    return Answering(turn, queue, tasks, finished)


async def relay(answering: Answering) -> AsyncIterator[bytes]:
    """SSE frames for every side's answer, then `end` with the page's new state."""
    try:
        running = len(answering.tasks)
        while running:
            frame = await answering.queue.get()
            if frame is None:
                running -= 1
            else:
                yield frame
        yield sse("end", {"state": answering.turn.page.view()})
    finally:
        # No await here: Starlette cancels this generator inside an anyio cancel scope when the
        # browser goes away (its stop button), and every await in a cancelled scope is cancelled
        # again. The tasks record what they had; the page turns idle when they are done.
        for task in answering.tasks:
            task.cancel()
