"""Request plumbing shared by the UI's routes: the signed-in session, CSRF and same-origin
checks on every POST, bounded JSON bodies, and error answers (`{"error": {"message", "code"}}`,
the OpenAI shape, so the page shows one kind of error whatever failed)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from polyroute.auth.master_key import is_loopback
from polyroute.ui.sessions import COOKIE_NAME, Session, SessionStore

CSRF_HEADER = "x-csrf-token"


class UIError(Exception):
    """An answer other than success; the message is for the user and never holds a secret."""

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def error_response(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "ui_error", "code": code}}, status_code=status)


def sessions_of(request: Request) -> SessionStore:
    return request.app.state.ui.sessions


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def browser_on_loopback(request: Request) -> bool:
    return is_loopback(client_ip(request))


def current_session(request: Request) -> Session | None:
    return sessions_of(request).get(request.cookies.get(COOKIE_NAME))


def signed_in_session(request: Request) -> Session:
    """The signed-in session of the request, or UIError 401 saying why there is none."""
    store = sessions_of(request)
    cookie = request.cookies.get(COOKIE_NAME)
    session = store.get(cookie)
    if session is None or not session.signed_in:
        if session is None and cookie and store.expired(cookie):
            minutes = round(request.app.state.ui.settings.session_expiration_s / 60)
            raise UIError(
                401,
                f"Your session expired after {minutes} minutes without use. Please sign in again.",
                "session_expired",
            )
        raise UIError(401, "Please sign in first.", "not_signed_in")
    return session


def check_post(request: Request, session: Session) -> None:
    """CSRF token (a header only this site's script can set) and, when the browser says where
    the request comes from, the same origin."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise UIError(403, "Cross-site request refused.", "cross_origin")
    if not sessions_of(request).csrf_ok(session, request.headers.get(CSRF_HEADER)):
        raise UIError(403, "The page is out of date (CSRF check failed). Please reload it.", "csrf_failed")


async def json_body(request: Request, max_bytes: int) -> dict[str, Any]:
    """The JSON object of a POST, read up to `max_bytes` (an outsider cannot make it grow)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise UIError(413, f"The request is larger than {max_bytes // (1024 * 1024)} MB.", "body_too_large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise UIError(
                413, f"The request is larger than {max_bytes // (1024 * 1024)} MB.", "body_too_large"
            )
        chunks.append(chunk)
    try:
        body = orjson.loads(b"".join(chunks) or b"{}")
    except orjson.JSONDecodeError:
        raise UIError(400, "The request body is not JSON.", "invalid_json") from None
    if not isinstance(body, dict):
        raise UIError(400, "The request body must be a JSON object.", "invalid_json")
    return body


def set_session_cookie(response: Response, request: Request, session: Session) -> None:
    settings = request.app.state.ui.settings
    response.set_cookie(
        COOKIE_NAME,
        sessions_of(request).cookie_value(session),
        httponly=True,
        secure=settings.secure_cookies,
        samesite="strict",
        path="/",
    )


SECURITY_HEADERS = {
    # No inline script or style anywhere: answers could only ever add markup, never code.
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}
