"""The web UI's ASGI app: a small Starlette app (docs/ui.md says why not Gradio), a client of
the gateway's public API. It never imports the gateway's serving code.

Every answer carries a strict Content-Security-Policy (script only from /static, no inline
script or style); every failure is a JSON error (`web.UIError`) or, on a page, a redirect to the
sign-in page; never a stack trace.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from polyroute.errors import GatewayError
from polyroute.ui import leaderboard_routes, page_api, pages
from polyroute.ui.arena_link import ArenaLink
from polyroute.ui.gateway_client import GatewayClient
from polyroute.ui.sessions import SessionStore
from polyroute.ui.settings import UISettings
from polyroute.ui.web import SECURITY_HEADERS, UIError, error_response

log = logging.getLogger("polyroute.ui")
HERE = Path(__file__).parent


@dataclass
class UIState:
    settings: UISettings
    sessions: SessionStore
    gateway: GatewayClient
    templates: Environment
    rng: random.Random
    arena: ArenaLink | None = None
    extra: dict[str, object] = field(default_factory=dict)


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every response (pages, API, static files)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._headers = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self._headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _ui_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UIError)
    return error_response(exc.status, exc.message, exc.code)


async def _gateway_error(request: Request, exc: Exception) -> Response:
    """The arena store's refusals (polyroute.errors): a vote past the daily cap, a second vote,
    an unknown category; their messages are written for the user."""
    assert isinstance(exc, GatewayError)
    return error_response(exc.status, exc.message, exc.code or exc.type)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error in the UI: %s %s", request.method, request.url.path)
    return error_response(500, "Something went wrong in the UI; the error is in its log.", "internal_error")


def _templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def create_ui_app(
    settings: UISettings,
    arena: ArenaLink | None = None,
    open_arena: bool = True,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The app. With `open_arena`, the arena store is opened at start-up from the settings'
    database URL and environment (unless `arena` is given). `clock` times session expiry."""
    state = UIState(
        settings=settings,
        sessions=SessionStore(
            settings.cookie_secret,
            settings.session_expiration_s,
            settings.max_sessions,
            clock=clock,
            max_anonymous=settings.max_anonymous_sessions,
        ),
        gateway=GatewayClient(settings.gateway_url, settings.request_timeout_s),
        templates=_templates(),
        rng=page_api.make_rng(),
        arena=arena,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await state.gateway.start()
        opened = False
        if state.arena is None and open_arena:
            env = {**settings.env}
            if settings.data_dir is not None:
                env["POLYROUTE_DATA_DIR"] = str(settings.data_dir)
            state.arena = await ArenaLink.open(settings.database_url, env, settings.leaderboard_ttl_s)
            opened = True
        try:
            yield
        finally:
            if opened and state.arena is not None:
                await state.arena.close()
            await state.gateway.close()

    routes = [
        Route("/", pages.home),
        Route("/login", pages.login_page, methods=["GET"]),
        Route("/login", pages.login, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/chat", pages.chat_page),
        Route("/arena", pages.battle_page),
        Route("/arena/side-by-side", pages.side_by_side_page),
        Route("/arena/leaderboard", pages.leaderboard_page),
        Route("/api/models", page_api.models),
        Route("/api/{page}/state", page_api.state),
        Route("/api/{page}/send", page_api.send, methods=["POST"]),
        Route("/api/{page}/regenerate", page_api.regenerate, methods=["POST"]),
        Route("/api/{page}/clear", page_api.clear, methods=["POST"]),
        Route("/api/{page}/vote", page_api.vote, methods=["POST"]),
        Route("/leaderboard", leaderboard_routes.leaderboard_json),
        Route("/leaderboard.csv", leaderboard_routes.leaderboard_csv),
        Route("/leaderboard/plot/{name}.{fmt}", leaderboard_routes.leaderboard_plot),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={UIError: _ui_error, GatewayError: _gateway_error, Exception: _unexpected},
        lifespan=lifespan,
    )
    app.state.ui = state
    return app
