"""The gateway's ASGI application: routing, authentication, error shaping, disconnects.

A raw ASGI app rather than a framework's router: the hot routes are a dict lookup, each
request body is read and parsed once, and every failure leaves as OpenAI's error shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from polyroute.auth.context import auth_context_for
from polyroute.auth.master_key import presented_key
from polyroute.controller.security import presented_worker_token
from polyroute.errors import GatewayError, InternalServerError, NotFoundError
from polyroute.logs import REQUEST_ID
from polyroute.observability.metrics import METRICS, label
from polyroute.observability.multiprocess import final_publish, metrics_dir, publish_forever
from polyroute.server.accounting import admit
from polyroute.server.admin_paths import ADMIN_PATHS
from polyroute.server.http import ClientGone, Receive, Request, Scope, Send
from polyroute.server.routes import chat, completions, controller, embeddings, health, metrics, models, rerank
from polyroute.server.state import AppState

log = logging.getLogger("polyroute.server")

JsonHandler = Callable[[Request, AppState, dict[str, Any]], Awaitable[None]]
PlainHandler = Callable[[Request, AppState], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Route:
    handler: Callable[..., Awaitable[None]]
    method: str
    json_body: bool = False  # read and parse the body before the handler runs
    public: bool = False  # no authentication (liveness only)
    worker: bool = False  # a model worker's call: the handler checks the worker token
    basic_auth: bool = False  # also take the master key as an HTTP Basic password (FastChat clients)
    admin: bool = False  # the master key only (virtual keys get a 403)
    call_type: str | None = None  # a model route: admission, cost and a spend row (its call type)


def _openai_routes() -> dict[str, Route]:
    routes = {
        "/chat/completions": Route(
            chat.chat_completions, "POST", json_body=True, call_type="chat_completion"
        ),
        "/completions": Route(completions.completions, "POST", json_body=True, call_type="text_completion"),
        "/embeddings": Route(embeddings.embeddings, "POST", json_body=True, call_type="embeddings"),
        "/rerank": Route(rerank.rerank, "POST", json_body=True, call_type="rerank"),
        "/models": Route(models.list_models, "GET"),
    }
    # Clients configured with or without the /v1 prefix both work (LiteLLM accepts both).
    return {**routes, **{"/v1" + path: route for path, route in routes.items()}}


ROUTES: dict[str, Route] = {
    **_openai_routes(),
    "/health/liveliness": Route(health.liveness, "GET", public=True),
    "/health/liveness": Route(health.liveness, "GET", public=True),
    "/health/readiness": Route(health.readiness, "GET"),
    "/health": Route(health.deployments_health, "GET", admin=True),
    "/metrics": Route(metrics.metrics, "GET", admin=True),
}
# FastChat's controller endpoints (docs/serving_plane.md). Not hot paths; FastChat clients put
# credentials in the controller URL, which their HTTP client sends as HTTP Basic auth.
CONTROLLER_ROUTES: dict[str, Route] = {
    "/register_worker": Route(controller.register_worker, "POST", json_body=True, worker=True),
    "/receive_heart_beat": Route(controller.receive_heart_beat, "POST", json_body=True, worker=True),
    "/deregister_worker": Route(controller.deregister_worker, "POST", json_body=True, worker=True),
    "/list_models": Route(controller.list_models, "POST", basic_auth=True),
    "/get_worker_address": Route(controller.get_worker_address, "POST", json_body=True, basic_auth=True),
    "/worker_get_status": Route(controller.worker_get_status, "POST", basic_auth=True),
    "/refresh_all_workers": Route(controller.refresh_all_workers, "POST", basic_auth=True),
    "/test_connection": Route(controller.test_connection, "GET", public=True),
}
ROUTES.update(CONTROLLER_ROUTES)
MODEL_PREFIXES = ("/v1/models/", "/models/")
WATCH_AFTER_S = 0.05


class GatewayApp:
    def __init__(self, state: AppState) -> None:
        self.state = state
        self._background: list[asyncio.Task[None]] = []
        # The admin API (keys, teams, users, spend) is a FastAPI app behind this one, with OpenAPI
        # docs at /docs. It is built on the first admin request (server/admin_paths.py says why).
        self._admin_app: Any = None
        self.admin_paths: frozenset[str] = ADMIN_PATHS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.state.start()
                except Exception as exc:  # noqa: BLE001  # reported to the server, which exits
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": f"start-up failed: {exc}"})
                    return
                tune_gc()  # after start-up, so its objects move to the permanent generation
                self._start_background()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in self._background:
                    task.cancel()
                await asyncio.gather(*self._background, return_exceptions=True)
                await self.state.stop()  # the spend writer's and remote logger's last flush
                if (folder := metrics_dir(self.state.config.env)) is not None:
                    await final_publish(self.state, folder)  # after it, so the totals count it
                await self.state.http.close()
                await self.state.shared.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _start_background(self) -> None:
        self._background.append(asyncio.ensure_future(self.state.directory.run()))
        if (folder := metrics_dir(self.state.config.env)) is not None:
            # --workers N: this process's metrics go where a scrape of any process finds them.
            self._background.append(asyncio.ensure_future(publish_forever(self.state, folder)))
        settings = self.state.config.router
        if settings.background_health_checks:
            from polyroute.server.probes import run_probes

            self._background.append(
                asyncio.ensure_future(run_probes(self.state, settings.health_check_interval))
            )

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        REQUEST_ID.set(request.request_id)  # every log line of this request carries its id
        try:
            await self._dispatch(request)
        except GatewayError as error:
            if request.account is not None:
                request.account.failed(error)
            await self._answer_error(request, error)
        except ClientGone:
            return
        except asyncio.CancelledError:
            if request.disconnected:
                if request.account is not None:
                    request.account.cancelled()
                return  # the client left; the upstream call was cancelled with us
            raise
        except Exception:
            log.exception("unhandled error: request=%s path=%s", request.request_id, request.path)
            error = InternalServerError("internal error; see the gateway log")
            if request.account is not None:
                request.account.failed(error)
            await self._answer_error(request, error)
        finally:
            if request.account is not None:
                # Shielded: settling limits and queueing the spend row must finish even when the
                # server is cancelling this request.
                await asyncio.shield(self._close_account(request))

    async def _close_account(self, request: Request) -> None:
        try:
            await request.account.close()
        except Exception:
            log.exception("settling request %s failed", request.request_id)

    async def _dispatch(self, request: Request) -> None:
        path = request.path
        route = ROUTES.get(path)
        args: tuple[Any, ...] = ()
        if route is None:
            if path.startswith(MODEL_PREFIXES) and request.method == "GET":
                route = Route(models.retrieve_model, "GET")
                args = (path.split("/models/", 1)[1],)
            elif path in self.admin_paths:
                await self._admin(request)
                return
            else:
                raise NotFoundError(f"no route {request.method} {path}", code="unknown_route")
        if request.method != route.method:
            raise GatewayError(
                f"method {request.method} not allowed on {path}", status=405, code="method_not_allowed"
            )
        if not route.public and not route.worker:
            await self._authenticate(request, route.basic_auth)
            if route.admin:
                request.principal.require_admin(f"{request.method} {path}")
        if route.json_body:
            config = self.state.config
            body = await request.read_json(config.max_body_bytes, config.max_json_depth)
            if route.call_type is not None:
                request.account = await admit(
                    self.state, request.principal, request.request_id, route.call_type, body
                )
                if self.state.tracing is not None:
                    self.state.tracing.begin(request.account, request.method, path, request.headers)
            await self._run_watched(request, route.handler(request, self.state, body))
        else:
            await route.handler(request, self.state, *args)

    async def _authenticate(self, request: Request, basic_auth: bool = False) -> None:
        assert self.state.auth is not None
        headers = request.headers
        if (
            basic_auth
            and presented_key(headers) is None
        ):
            # FastChat clients put the key in the URL's userinfo: HTTP Basic auth's password.
            token = presented_worker_token(headers.get("authorization"))
            if token:
                headers = {**headers, "authorization": "Bearer " + token}
        request.principal = await self.state.auth.authenticate(headers, request.client_host)
        request.auth = auth_context_for(request.principal)

    async def _admin(self, request: Request) -> None:
        """Hands the request to the admin app; its answers carry this request's id too."""
        request_id = request.request_id.encode()
        # Bodies are JSON whatever the client says (curl -d sends a form type), as on the model routes.
        headers = [(k, v) for k, v in request.scope["headers"] if k != b"content-type"]
        headers.append((b"content-type", b"application/json"))
        scope = {**request.scope, "headers": headers, "polyroute.request_id": request.request_id}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                request.started = True
                message = {**message, "headers": [*message.get("headers", ()), (b"x-request-id", request_id)]}
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                request.finished = True
            await request.send(message)

        await self.admin(scope, request.receive, send)

    @property
    def admin(self) -> Any:
        if self._admin_app is None:  # one event loop: no other request can interleave here
            from polyroute.server.admin import create_admin_app

            self._admin_app = create_admin_app(self.state)
        return self._admin_app

    async def _run_watched(self, request: Request, work: Awaitable[None]) -> None:
        """Runs the handler; a client that goes away cancels it (and so the upstream call)."""
        watch = _DisconnectWatch(request)
        try:
            await work
        finally:
            watch.stop()

    async def _answer_error(self, request: Request, error: GatewayError) -> None:
        METRICS.errors.inc((error.type, label(error.code), label(error.provider), str(error.status)))
        if error.status >= 500 or error.status == 429:
            log.warning(
                "request failed: request=%s path=%s status=%d code=%s provider=%s",
                request.request_id,
                request.path,
                error.status,
                error.code,
                error.provider,
            )
        if request.started:
            if not request.finished:
                with contextlib.suppress(Exception):
                    await request.end_stream(b"data: " + error.to_body(request.request_id) + b"\n\n")
            return
        await request.respond_error(error)


class _DisconnectWatch:
    """Cancels the handler's task when its client disconnects.

    The watcher task starts only if the handler is still running after WATCH_AFTER_S: most
    answers finish sooner, and a task per request is measurable on the hot path. A client that
    leaves is noticed at most WATCH_AFTER_S late.
    """

    __slots__ = ("request", "task", "watcher", "timer")

    def __init__(self, request: Request) -> None:
        self.request = request
        self.task = asyncio.current_task()
        self.watcher: asyncio.Future[None] | None = None
        self.timer = asyncio.get_running_loop().call_later(WATCH_AFTER_S, self._start)

    def _start(self) -> None:
        if not self.request.finished:
            self.watcher = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        while True:
            message = await self.request.receive()
            if message["type"] == "http.disconnect":
                if not self.request.finished and self.task is not None:
                    self.request.disconnected = True
                    self.task.cancel()
                return

    def stop(self) -> None:
        self.timer.cancel()
        if self.watcher is not None:
            self.watcher.cancel()


def tune_gc() -> None:
    """Fewer, cheaper garbage collections for a long-running server.

    Start-up objects (config, adapters, imported modules) move to the permanent generation, so
    full collections stop re-scanning them; a larger first-generation threshold means the many
    short-lived per-request objects (almost never in cycles) trigger far fewer collections.
    Measured: about 12% less CPU per proxied request (bench/results/cpu_per_request.md).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def create_app(state: AppState) -> GatewayApp:
    return GatewayApp(state)


def create_app_from_env() -> GatewayApp:
    """Factory for `uvicorn --factory` and worker processes: config path from the environment."""
    from polyroute.config.loader import load_config
    from polyroute.logs import configure_from_env, protect_secrets

    configure_from_env(os.environ)  # spawned, not forked: logging is set up again here
    config = load_config(
        os.environ.get("POLYROUTE_CONFIG") or None,
        os.environ,
        os.environ.get("POLYROUTE_ENDPOINT_FILE") or None,
    )
    open_access = os.environ.get("POLYROUTE_ALLOW_UNAUTHENTICATED") == "1"
    workers = int(os.environ.get("POLYROUTE_WORKERS") or 1)
    protect_secrets(config.redactor)
    return create_app(AppState.build(config, open_access=open_access, workers=workers))
