"""The HTML pages and sign-in.

Signing in: the login page opens an anonymous session (its CSRF token is in the page); the key
the user types is checked by listing the gateway's models with it, then the session is replaced
by a fresh one (new id, new CSRF token) that holds the key server-side. A "local" sign-in without
typing a key is offered only to a browser on this machine's loopback, and only when the UI has a
key of its own (--key-env) or the gateway serves the UI's loopback calls without one: the same
trust the gateway itself gives loopback callers.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from polyroute.secrets import Secret
from polyroute.ui.gateway_client import GatewayCallError
from polyroute.ui.sessions import COOKIE_NAME, user_id_of
from polyroute.ui.web import (
    UIError,
    browser_on_loopback,
    check_post,
    client_ip,
    current_session,
    json_body,
    sessions_of,
    set_session_cookie,
)

NAV = (
    ("chat", "/chat", "Chat"),
    ("anonymous", "/arena", "Arena (battle)"),
    ("named", "/arena/side-by-side", "Arena (side-by-side)"),
    ("leaderboard", "/arena/leaderboard", "Leaderboard"),
)


def _ui(request: Request) -> Any:
    return request.app.state.ui


def render(request: Request, template: str, **context: Any) -> HTMLResponse:
    html = _ui(request).templates.get_template(template).render(nav=NAV, **context)
    return HTMLResponse(html, headers={"cache-control": "no-store"})


async def _local_sign_in_possible(request: Request) -> bool:
    if not browser_on_loopback(request):
        return False
    if _ui(request).settings.service_key is not None:
        return True
    try:
        await _ui(request).gateway.list_models(None)
    except GatewayCallError:
        return False
    return True


async def login_page(request: Request) -> Response:
    store = sessions_of(request)
    cookie = request.cookies.get(COOKIE_NAME)
    expired = store.expired(cookie)
    session = current_session(request)
    if session is not None and session.signed_in:
        return RedirectResponse("/chat", status_code=303)
    if session is None:
        session = store.new(client_ip(request))
    response = render(
        request,
        "login.html",
        page="login",
        csrf=session.csrf_token,
        local=await _local_sign_in_possible(request),
        expired=expired,
        expiry_minutes=round(_ui(request).settings.session_expiration_s / 60),
    )
    set_session_cookie(response, request, session)
    return response


async def login(request: Request) -> JSONResponse:
    session = current_session(request)
    if session is None:
        raise UIError(403, "Your sign-in page is out of date. Please reload it.", "csrf_failed")
    check_post(request, session)
    body = await json_body(request, 8192)
    ui = _ui(request)
    if body.get("local"):
        if not await _local_sign_in_possible(request):
            raise UIError(403, "Local sign-in is only for a browser on this machine.", "local_refused")
        key, label = ui.settings.service_key, "local"
    else:
        typed = str(body.get("key") or "").strip()
        if not typed or len(typed) > 512:
            raise UIError(400, "Enter your virtual key or the master key.", "missing_key")
        key, label = Secret(typed), f"key {typed[:3]}…{typed[-4:]}" if len(typed) > 12 else "key"
    try:
        await ui.gateway.list_models(key)
    except GatewayCallError as exc:
        if exc.status in (401, 403):
            raise UIError(401, f"The gateway did not accept this key: {exc.message}", "invalid_key") from None
        raise UIError(502, exc.message, exc.code or "gateway_error") from None
    signed = sessions_of(request).sign_in(session, key, user_id_of(key.reveal() if key else None), label)
    response = JSONResponse({"ok": True, "next": "/chat"})
    set_session_cookie(response, request, signed)
    return response


async def logout(request: Request) -> Response:
    session = current_session(request)
    if session is not None:
        check_post(request, session)
        sessions_of(request).end(session)
    response = JSONResponse({"ok": True, "next": "/login"})
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


def _signed_in_page(template: str, page: str):  # a route factory
    async def route(request: Request) -> Response:
        session = current_session(request)
        if session is None or not session.signed_in:
            return RedirectResponse("/login", status_code=303)
        return render(request, template, page=page, csrf=session.csrf_token, who=session.label)

    return route


chat_page = _signed_in_page("chat.html", "chat")
battle_page = _signed_in_page("arena.html", "anonymous")
side_by_side_page = _signed_in_page("arena.html", "named")


async def leaderboard_page(request: Request) -> Response:
    session = current_session(request)
    signed = session is not None and session.signed_in
    return render(
        request,
        "leaderboard.html",
        page="leaderboard",
        csrf=session.csrf_token if signed and session else "",
        who=session.label if signed and session else "",
    )


async def home(request: Request) -> Response:
    return RedirectResponse("/chat", status_code=303)
