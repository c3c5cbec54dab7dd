"""The JSON and SSE API behind the chat, battle and side-by-side pages.

  GET  /api/models                 what /v1/models lists for the signed-in key
  GET  /api/{page}/state           the page's conversation (for a reload)
  POST /api/{page}/send            a prompt; answered as server-sent events (streams.py)
  POST /api/{page}/regenerate      the last prompt again
  POST /api/{page}/clear           a new conversation
  POST /api/{page}/vote            battles only: leftvote | rightvote | tievote | bothbad_vote

`page` is chat, anonymous (the blind arena) or named (side by side).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from polyroute.ui.conversations import (
    PAGES,
    LimitReached,
    Page,
    Side,
    check_image,
    check_image_count,
    check_text,
    check_turns,
    user_message,
)
from polyroute.ui.gateway_client import GatewayCallError
from polyroute.ui.sampling import NoBattlePair, battle_pair
from polyroute.ui.sessions import Session
from polyroute.ui.streams import Answering, Turn, relay, start_answers
from polyroute.ui.web import UIError, check_post, json_body, signed_in_session

VOTES = ("leftvote", "rightvote", "tievote", "bothbad_vote")
_SSE_HEADERS = {"cache-control": "no-store", "x-accel-buffering": "no"}


def _ui(request: Request) -> Any:
    return request.app.state.ui


def _page_name(request: Request) -> str:
    name = request.path_params["page"]
    if name not in PAGES:
        raise UIError(404, f"no page {name!r}", "unknown_page")
    return name


def _number(body: dict[str, Any], field: str, low: float, high: float) -> float | None:
    value = body.get(field)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise UIError(400, f"{field} must be a number from {low:g} to {high:g}.", "invalid_" + field)
    return value


def _params(body: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for field, low, high in (("temperature", 0, 2), ("top_p", 0, 1), ("max_tokens", 1, 1_000_000)):
        value = _number(body, field, low, high)
        if value is not None:
            params[field] = int(value) if field == "max_tokens" else value
    return params


async def _models(request: Request, session: Session) -> list[str]:
    settings = _ui(request).settings
    try:
        listed = await _ui(request).gateway.list_models(session.key)
    except GatewayCallError as exc:
        raise UIError(exc.status, exc.message, exc.code or "gateway_error") from None
    return listed + [m for m in settings.arena.models if m not in listed]


async def models(request: Request) -> JSONResponse:
    session = signed_in_session(request)
    names = await _models(request, session)
    vision = _ui(request).settings.arena.vision_models
    return JSONResponse(
        {"models": names, "vision": names if vision is None else [m for m in names if m in vision]}
    )


async def state(request: Request) -> JSONResponse:
    session = signed_in_session(request)
    page = session.pages.get(_page_name(request))
    if page is not None:
        await page.settled(_ui(request).settings.stop_grace_s)
    return JSONResponse(
        {"state": page.view() if page else None, "limits": _limits(request, _page_name(request))}
    )


def _limits(request: Request, name: str) -> dict[str, int]:
    settings = _ui(request).settings
    chars = settings.blind_mode_input_char_len_limit if name == "anonymous" else settings.input_char_len_limit
    return {
        "input_chars": chars,
        "turns": settings.conversation_turn_limit,
        "image_bytes": settings.max_image_bytes,
    }


async def _new_page(request: Request, session: Session, name: str, body: dict[str, Any]) -> Page:
    available = await _models(request, session)
    if name == "anonymous":
        try:
            model_a, model_b = battle_pair(available, _ui(request).settings.arena, _ui(request).rng)
        except NoBattlePair as exc:
            raise UIError(409, str(exc), "no_battle_pair") from None
        sides = [Side(model_a), Side(model_b)]
    else:
        wanted = body.get("models") if name == "named" else [body.get("model")]
        count = 2 if name == "named" else 1
        if (
            not isinstance(wanted, list)
            or len(wanted) != count
            or not all(isinstance(m, str) for m in wanted)
        ):
            raise UIError(400, "Pick a model." if count == 1 else "Pick two models.", "invalid_models")
        if count == 2 and wanted[0] == wanted[1]:
            raise UIError(400, "Pick two different models.", "same_model")
        unknown = [m for m in wanted if m not in available]
        if unknown:
            raise UIError(400, f"This key cannot use {unknown[0]!r}.", "model_not_available")
        sides = [Side(m) for m in wanted]
    page = Page(kind=name, sides=sides, system_prompt=str(body.get("system_prompt") or "")[:20_000])
    arena = _ui(request).arena
    if arena is not None:
        page.battle_id = await arena.start(
            session, name, sides[0].model, sides[1].model if len(sides) > 1 else None, page.system_prompt
        )
    return page


async def send(request: Request) -> Response:
    session = signed_in_session(request)
    check_post(request, session)
    name = _page_name(request)
    body = await json_body(request, _ui(request).settings.max_image_bytes * 2)
    with _claim(session, name):
        return _stream(await _start_turn(request, session, name, body))


async def _start_turn(request: Request, session: Session, name: str, body: dict[str, Any]) -> Answering:
    settings = _ui(request).settings
    page = session.pages.get(name)
    if page is not None:
        await _check_idle(request, page)
    limit = settings.blind_mode_input_char_len_limit if name == "anonymous" else settings.input_char_len_limit
    try:
        text = check_text(str(body.get("text") or ""), limit, name == "anonymous")
        image = body.get("image")
        image = check_image(image, settings.max_image_bytes) if isinstance(image, str) and image else None
        if page is not None:
            check_turns(page, settings.conversation_turn_limit)
            if image is not None:
                check_image_count(page, settings.max_images_per_conversation)
    except LimitReached as exc:
        raise UIError(400, exc.message, exc.code) from None
    params = _params(body)
    if page is None:
        page = await _new_page(request, session, name, body)
        session.pages[name] = page
    if image is not None:
        _check_vision(page, settings.arena.vision_models)
    turn_index = None
    if _ui(request).arena is not None and page.battle_id is not None:
        turn_index = await _ui(request).arena.add_turn(page.battle_id, session, text)
    message = user_message(text, image)
    for side in page.sides:
        side.messages.append(dict(message))
    page.turn_index = turn_index
    return start_answers(
        Turn(page, session, session.key, params, turn_index), _ui(request).gateway, _ui(request).arena
    )


def _check_vision(page: Page, vision_models: list[str] | None) -> None:
    """With `vision_models` configured, an image goes only to models listed there."""
    if vision_models is None:
        return
    blind = [side.model for side in page.sides if side.model not in vision_models]
    if blind:
        shown = "One of the models" if page.anonymous else repr(blind[0])
        raise UIError(
            400, f"{shown} does not take images; send text only or pick another model.", "no_vision"
        )


async def _check_idle(request: Request, page: Page) -> None:
    await page.settled(_ui(request).settings.stop_grace_s)
    if page.streaming():
        raise UIError(409, "An answer is still being written; stop it or wait.", "busy")
    if page.vote is not None:
        raise UIError(409, "You have voted in this battle. Start a new round to chat again.", "battle_over")


@contextlib.contextmanager
def _claim(session: Session, name: str) -> Iterator[None]:
    """One prompt at a time per page: a second one sent while the first is being set up (a
    double click, two tabs) is refused instead of interleaving two conversations. From the
    start of the answers on, the page's own busy state takes over."""
    if name in session.claims:
        raise UIError(409, "An answer is still being written; stop it or wait.", "busy")
    session.claims.add(name)
    try:
        yield
    finally:
        session.claims.discard(name)


async def regenerate(request: Request) -> Response:
    session = signed_in_session(request)
    check_post(request, session)
    name = _page_name(request)
    body = await json_body(request, 64 * 1024)
    with _claim(session, name):
        page = session.pages.get(name)
        if page is None or not page.sides[0].messages:
            raise UIError(409, "There is nothing to regenerate yet.", "nothing_to_regenerate")
        await _check_idle(request, page)
        for side in page.sides:
            if side.messages and side.messages[-1]["role"] == "assistant":
                side.messages.pop()
        arena = _ui(request).arena
        if arena is not None and page.battle_id is not None:
            await arena.regenerate(page.battle_id, session)
        turn = Turn(page, session, session.key, _params(body), page.turn_index)
        return _stream(start_answers(turn, _ui(request).gateway, arena))


def _stream(answering: Answering) -> StreamingResponse:
    return StreamingResponse(relay(answering), media_type="text/event-stream", headers=_SSE_HEADERS)


async def clear(request: Request) -> JSONResponse:
    session = signed_in_session(request)
    check_post(request, session)
    name = _page_name(request)
    page = session.pages.get(name)
    if page is not None:
        await page.settled(_ui(request).settings.stop_grace_s)
    if page is not None and page.streaming():
        raise UIError(409, "An answer is still being written; stop it first.", "busy")
    session.pages.pop(name, None)
    return JSONResponse({"state": None})


async def vote(request: Request) -> JSONResponse:
    session = signed_in_session(request)
    check_post(request, session)
    name = _page_name(request)
    body = await json_body(request, 4096)
    page = session.pages.get(name)
    if name == "chat" or page is None:
        raise UIError(409, "There is no battle to vote on.", "no_battle")
    choice = body.get("vote")
    if choice not in VOTES:
        raise UIError(400, f"vote must be one of {', '.join(VOTES)}.", "invalid_vote")
    await page.settled(_ui(request).settings.stop_grace_s)
    if page.streaming():
        raise UIError(409, "Wait for both answers before voting.", "busy")
    if page.vote is not None:
        raise UIError(409, "You have already voted in this battle.", "already_voted")
    if not all(side.complete() for side in page.sides):
        raise UIError(
            409, "Both answers must be complete before you vote (regenerate a stopped one).", "incomplete"
        )
    arena = _ui(request).arena
    if arena is not None and page.battle_id is not None:
        receipt = await arena.vote(page.battle_id, session, choice)  # refusals: GatewayErrors (app.py)
        page.flagged = bool(receipt.flagged)
    page.vote = choice
    return JSONResponse({"state": page.view()})


def make_rng() -> random.Random:
    return random.Random()  # noqa: S311  # picking battle pairs, not secrets
