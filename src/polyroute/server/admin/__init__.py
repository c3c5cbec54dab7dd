"""The admin API: LiteLLM's key, team, user and spend routes, as a FastAPI app (OpenAPI at /docs).

Mounted behind the gateway's raw ASGI app, which hands it every path it does not serve itself.
Every route needs the master key except GET /key/info, which a virtual key may call for itself.
Errors use the same OpenAI-shaped body as the rest of the gateway.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from polyroute import __version__
from polyroute.errors import GatewayError, InvalidRequestError, NotFoundError
from polyroute.server.state import AppState


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

    def answer(request: Request, error: GatewayError) -> JSONResponse:
        request_id = request.scope.get("polyroute.request_id")
        return JSONResponse(
            error.to_dict(request_id), status_code=error.status, headers=error.response_headers()
        )

    @app.exception_handler(GatewayError)
    async def gateway_error(request: Request, error: GatewayError) -> JSONResponse:
        return answer(request, error)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return answer(request, _validation_error(error.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        if error.status_code == 404:
            return answer(
                request, NotFoundError(f"no route {request.method} {request.url.path}", code="unknown_route")
            )
        if error.status_code == 405:
            return answer(
                request,
                GatewayError(
                    f"method {request.method} not allowed on {request.url.path}",
                    status=405,
                    code="method_not_allowed",
                ),
            )
        return answer(request, GatewayError(str(error.detail), status=error.status_code))

    return app


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
