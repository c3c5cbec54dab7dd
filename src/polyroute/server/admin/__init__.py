"""The admin API: LiteLLM's key, team, user and spend routes, as a FastAPI app (OpenAPI at /docs).

Mounted behind the gateway's raw ASGI app, which hands it every path it does not serve itself.
Every route needs the master key except GET /key/info, which a virtual key may call for itself.
Errors use the same OpenAI-shaped body as the rest of the gateway.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from polyroute import __version__
from polyroute.errors import (
    GatewayError,
    InternalServerError,
    InvalidRequestError,
    NotFoundError,
    ServiceUnavailableError,
)
from polyroute.server.refusals import log_refusal
from polyroute.server.state import AppState

log = logging.getLogger("polyroute.admin")


def create_admin_app(state: AppState) -> FastAPI:
    from polyroute.server.admin import keys, spend, teams, users

    app = FastAPI(
        title="polyroute admin API",
        version=__version__,
        description="Virtual keys, teams, users, budgets and spend (LiteLLM-compatible routes).",
    )
    app.state.gateway = state
    paths = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    for module in (keys, teams, users, spend):
        app.include_router(module.router)
        paths |= {route.path for route in module.router.routes}
    #: what the gateway's raw app hands over to this one
    app.state.paths = frozenset(p for p in paths if p)

    _answer_errors_as_openai(app)
    return app


def _answer(request: Request, error: GatewayError) -> JSONResponse:
    request_id = request.scope.get("polyroute.request_id")
    log_refusal(request_id, request.method, request.url.path, error)
    return JSONResponse(error.to_dict(request_id), status_code=error.status, headers=error.response_headers())


def _database_down(request: Request, error: Exception) -> JSONResponse:
    """The database (or the network to it) is away: the admin API cannot answer now, while the
    model routes keep serving known keys. Only the error's class is logged: a driver's message
    can carry the database URL."""
    log.warning(
        "admin request failed, database unreachable: request=%s path=%s error=%s",
        request.scope.get("polyroute.request_id"),
        request.url.path,
        type(error).__name__,
    )
    unavailable = ServiceUnavailableError(
        "the database is unreachable right now; retry shortly", code="database_unavailable", retry_after=1.0
    )
    return _answer(request, unavailable)


def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    method, path = request.method, request.url.path
    if error.status_code == 404:
        return _answer(request, NotFoundError(f"no route {method} {path}", code="unknown_route"))
    if error.status_code == 405:
        return _answer(
            request,
            GatewayError(f"method {method} not allowed on {path}", status=405, code="method_not_allowed"),
        )
    return _answer(request, GatewayError(str(error.detail), status=error.status_code))


def _answer_errors_as_openai(app: FastAPI) -> None:
    """Every error leaves in OpenAI's shape with the request id, never as Starlette's plain text."""

    async def gateway_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, GatewayError)
        return _answer(request, error)

    async def database_down(request: Request, error: Exception) -> JSONResponse:
        return _database_down(request, error)

    async def invalid(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return _answer(request, _validation_error(error.errors()))

    async def http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        return _http_error(request, error)

    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        # Starlette raises the error again after this answer; the gateway's app logs it.
        return _answer(request, InternalServerError("internal error; see the gateway log"))

    app.add_exception_handler(GatewayError, gateway_error)
    for unreachable in (OperationalError, InterfaceError, PoolTimeout, OSError, TimeoutError):
        app.add_exception_handler(unreachable, database_down)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def _validation_error(errors: Any) -> InvalidRequestError:
    first = errors[0] if errors else {}
    location = [str(p) for p in first.get("loc", ()) if p not in ("body", "query")]
    field = ".".join(location) or None
    message = first.get("msg", "invalid request")
    if first.get("type") == "extra_forbidden":
        message = "this field is not supported by polyroute"
    elif first.get("type") == "json_invalid":
        return InvalidRequestError("request body is not valid JSON", code="invalid_json")
    if not field:
        return InvalidRequestError(f"Invalid request body: {message}", code="invalid_request_body")
    return InvalidRequestError(f"Invalid value for '{field}': {message}", param=field)
