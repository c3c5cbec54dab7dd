"""The gateway's ASGI application: routing, authentication, error shaping, disconnects.

A raw ASGI app rather than a framework's router: the hot routes are a dict lookup, each
request body is read and parsed once, and every failure leaves as OpenAI's error shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from polyroute.asgi import new_request_id
from polyroute.auth.context import auth_context_for
from polyroute.auth.master_key import presented_key
from polyroute.config.server_limits import ServerLimits
from polyroute.controller.security import presented_worker_token
from polyroute.errors import GatewayError, InternalServerError, NotFoundError, ServiceUnavailableError
from polyroute.inbound.anthropic_messages import MESSAGES
from polyroute.inbound.chat import CHAT
from polyroute.inbound.completions import COMPLETIONS
from polyroute.inbound.responses import RESPONSES
from polyroute.logs import REQUEST_ID
from polyroute.observability.metrics import METRICS, label
from polyroute.observability.multiprocess import final_publish, metrics_dir, publish_forever
from polyroute.protocol.rate_limit_headers import own_limit_headers
from polyroute.server import heap, pipeline
from polyroute.server.accounting import admit
from polyroute.server.admin_paths import ADMIN_PATHS, ADMIN_PUBLIC_PATHS, ADMIN_SELF_SERVICE_PATHS
from polyroute.server.connections import LIFESPAN_KEY, ON_DISCONNECT
from polyroute.server.http import ClientGone, Receive, Request, Scope, Send
from polyroute.server.loop_lag import LagProbe
from polyroute.server.refusals import log_refusal
from polyroute.server.routes import (
    controller,
    count_tokens,
    embeddings,
    health,
    metrics,
    model_info,
    models,
    moderations,
    rerank,
    responses_store,
)
from polyroute.server.shutdown import DEFAULT_GRACE_S, GracefulDrain, grace_from_env
from polyroute.server.state import AppState
from polyroute.state.memory import MemoryState

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
    protocol: Any = None  # a text-generating model route: its inbound protocol (inbound/base.py)


def _generation_route(protocol: Any) -> Route:
    """A route that generates text: the one pipeline, behind its protocol's decoder."""
    return Route(pipeline.serve, "POST", json_body=True, call_type=protocol.call_type, protocol=protocol)


def _openai_routes() -> dict[str, Route]:
    routes = {
        "/chat/completions": _generation_route(CHAT),
        "/completions": _generation_route(COMPLETIONS),
        "/responses": _generation_route(RESPONSES),
        "/messages": _generation_route(MESSAGES),
        "/messages/count_tokens": Route(
            count_tokens.count_tokens, "POST", json_body=True, protocol=count_tokens.COUNT_TOKENS
        ),
        "/embeddings": Route(embeddings.embeddings, "POST", json_body=True, call_type="embeddings"),
        "/rerank": Route(rerank.rerank, "POST", json_body=True, call_type="rerank"),
        "/moderations": Route(moderations.moderations, "POST", json_body=True, call_type="moderation"),
        "/models": Route(models.list_models, "GET"),
    }
    # Clients configured with or without the /v1 prefix both work (LiteLLM accepts both).
    return {**routes, **{"/v1" + path: route for path, route in routes.items()}}


ROUTES: dict[str, Route] = {
    **_openai_routes(),
    "/health/liveliness": Route(health.liveness, "GET", public=True),
    "/health/liveness": Route(health.liveness, "GET", public=True),
    "/health/readiness": Route(health.readiness, "GET"),
    "/model/info": Route(model_info.model_info, "GET"),  # LiteLLM's, with and without /v1
    "/v1/model/info": Route(model_info.model_info, "GET"),
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
    "/list_language_models": Route(controller.list_language_models, "POST", basic_auth=True),
    "/list_multimodal_models": Route(controller.list_multimodal_models, "POST", basic_auth=True),
    "/get_worker_address": Route(controller.get_worker_address, "POST", json_body=True, basic_auth=True),
    "/worker_get_status": Route(controller.worker_get_status, "POST", basic_auth=True),
    "/refresh_all_workers": Route(controller.refresh_all_workers, "POST", basic_auth=True),
    "/test_connection": Route(controller.test_connection, "GET", public=True),
}
# Every controller route that is neither a worker's own call nor public is the operator's: the
# master key only (a virtual key could read internal worker addresses or drop live workers).
# Routes added to the table above inherit the rule.
CONTROLLER_ROUTES = {
    path: route if route.worker or route.public else dataclasses.replace(route, admin=True)
    for path, route in CONTROLLER_ROUTES.items()
}
ROUTES.update(CONTROLLER_ROUTES)
MODEL_PREFIXES = ("/v1/models/", "/models/")
WATCH_AFTER_S = 0.05
# Refusals an outsider can repeat at will: logged by their component (one line per lockout,
# auth/lockout.py; shed requests at most every few seconds, server/load.py), not per request.
SELF_LOGGED_CODES = frozenset({"overloaded", "auth_locked_out"})


class GatewayApp:
    def __init__(self, state: AppState, graceful_shutdown_s: float = DEFAULT_GRACE_S) -> None:
        self.state = state
        # SIGTERM: readiness 503, requests in flight finish, then stop (server/shutdown.py).
        self.drain = GracefulDrain(state.load, graceful_shutdown_s, state.connections)
        self.lag_probe = LagProbe(state.load.lag, state.load.take_peak)
        # A shed model request is answered from its head by the HTTP protocol: no ASGI task.
        state.connections.early_answer = self._shed_early
        self._background: list[asyncio.Task[None]] = []
        # The admin API (keys, teams, users, spend) is a FastAPI app behind this one, with OpenAPI
        # docs at /docs. It is built on the first admin request (server/admin_paths.py says why).
        self._admin_app: Any = None
        self.admin_paths: frozenset[str] = ADMIN_PATHS
        # Only the in-process state's calls never suspend (a subclass might: a test's, say).
        self._settles_at_once = type(state.shared) is MemoryState

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        if "state" in scope:  # uvicorn hands this to each connection's protocol (server/connections.py)
            scope["state"][LIFESPAN_KEY] = self.state.connections
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                heap.limit_arenas()  # before start-up's threads (SQLite, spend journal) exist
                try:
                    await self.state.start()
                except Exception as exc:  # noqa: BLE001  # reported to the server, which exits
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": f"start-up failed: {exc}"})
                    return
                tune_gc()  # after start-up, so its objects move to the permanent generation
                self._start_background()
                # The event loop's lag, for load shedding (server/loop_lag.py).
                if self.state.config.limits.shed_on_event_loop_lag:
                    self.lag_probe.start(asyncio.get_running_loop())
                self.drain.install()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.lag_probe.stop()
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
            # Not the client: the server is stopping and its graceful-shutdown time is up
            # (--timeout-graceful-shutdown). The client learns so in OpenAI's shape (a 503 it may
            # retry elsewhere, or an error event ending its stream); the task then ends as the
            # server wants it to.
            error = ServiceUnavailableError(
                "the gateway is shutting down; retry", code="shutting_down", retry_after=1.0
            )
            if request.account is not None:
                request.account.failed(error)
            await self._answer_error(request, error)
        except Exception:
            log.exception("unhandled error: request=%s path=%s", request.request_id, request.path)
            error = InternalServerError("internal error; see the gateway log")
            if request.account is not None:
                request.account.failed(error)
            await self._answer_error(request, error)
        finally:
            if request.account is not None:
                if self._settles_at_once:
                    # The in-process state answers without suspending, so no cancellation can
                    # land inside the settlement: it needs no task of its own.
                    await self._close_account(request)
                else:
                    # Shielded: settling limits and queueing the spend row must finish even when
                    # the server is cancelling this request (a Redis round trip can be cut).
                    await asyncio.shield(self._close_account(request))

    async def _close_account(self, request: Request) -> None:
        try:
            await request.account.close()
        except Exception:
            log.exception("settling request %s failed", request.request_id)

    async def _dispatch(self, request: Request) -> None:
        if ON_DISCONNECT not in request.scope:  # polyroute's own protocol checked them from the head
            _check_header_limits(request.scope["headers"], self.state.config.limits)
        path = request.path
        route = ROUTES.get(path)
        args: tuple[Any, ...] = ()
        if route is None:
            if path.startswith(MODEL_PREFIXES) and request.method == "GET":
                route = Route(models.retrieve_model, "GET")
                args = (path.split("/models/", 1)[1],)
            elif path.startswith(responses_store.PREFIXES) and request.method in responses_store.METHODS:
                route = Route(responses_store.stored_response, request.method)
                args = (path.split("/responses/", 1)[1],)
            elif path in self.admin_paths:
                await self._admin(request)
                return
            else:
                raise NotFoundError(f"no route {request.method} {path}", code="unknown_route")
        if route.protocol is not None:
            request.protocol = route.protocol  # every error from here on leaves in its shape
        if request.method != route.method:
            raise GatewayError(
                f"method {request.method} not allowed on {path}", status=405, code="method_not_allowed"
            )
        if route.call_type is None:
            await self._serve(request, route, args)
            return
        # A model request: counted in flight (server/load.py), or shed with 503 at once past the
        # process's limit, before its caller is authenticated or one byte of its body is read.
        task = asyncio.current_task()
        load = self.state.load
        load.enter(task)  # type: ignore[arg-type]
        try:
            await self._serve(request, route, args)
        finally:
            load.leave(task)  # type: ignore[arg-type]

    def _shed_early(self, method: bytes, url: bytes) -> bytes | None:
        """The whole HTTP answer to a model request the process sheds now (server/load.py), in
        its protocol's error shape, for server/connections.py to send from the request's head;
        None (the common case: one attribute read) for everything else, which the app serves."""
        load = self.state.load
        reason = load.shed_reason()
        if reason is None:
            return None
        path = url.partition(b"?")[0]
        route = ROUTES.get(path.decode("latin-1")) if b"%" not in path else None
        if route is None or route.call_type is None or route.method.encode() != method:
            return None  # the app answers (and sheds) it
        error = load.shed(reason)
        METRICS.errors.inc((error.type, label(error.code), label(error.provider), str(error.status)))
        request_id = new_request_id()
        protocol = route.protocol
        body = error.to_body(request_id) if protocol is None else protocol.error_body(error, request_id)
        headers = {"x-request-id": request_id, **error.response_headers()}
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        return b"".join(
            [
                STATUS_LINE[error.status],
                head.encode("latin-1"),
                b"content-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body),
                body,
            ]
        )

    async def _serve(self, request: Request, route: Route, args: tuple[Any, ...]) -> None:
        path = request.path
        # Every caller is known from its headers before one byte of its body is read.
        if route.worker:
            request.worker_token = controller.authenticate_worker(request, self.state)
        elif not route.public:
            await self._authenticate(request, route.basic_auth)
            if route.admin:
                request.principal.require_admin(f"{request.method} {path}")
        if route.json_body:
            config = self.state.config
            # Model routes take the configured cap (images, long prompts); the rest a small one.
            limit = config.max_body_bytes if route.call_type else config.limits.max_control_body_bytes
            # A protocol that may pass the client's bytes on as they came keeps them.
            keep_raw = getattr(route.protocol, "passes_raw_body", False)
            body = await request.read_json(limit, config.max_json_depth, keep_raw)
            original = native_body = body
            if route.protocol is not None:
                try:
                    native_body, body = await self._decode(request, route.protocol, body)
                except GatewayError:
                    if route.call_type is not None:
                        # A refused model request is admitted (and counted) as before, with the
                        # body as it came: its failure gets a spend row like any other.
                        request.account = await admit(
                            self.state, request.principal, request.request_id, route.call_type, body
                        )
                    raise
            if route.call_type is not None:
                request.account = await admit(
                    self.state, request.principal, request.request_id, route.call_type, body
                )
                ticket = request.account.ticket
                if ticket is not None and (ticket.requests or ticket.tokens):
                    # The counts the limiter just took: no state round trip of its own.
                    request.rate_headers = own_limit_headers(ticket.requests, ticket.tokens, ticket.reset_s)
                if self.state.tracing is not None:
                    request.account.trace = self.state.tracing.begin(
                        request.method, path, request.headers, body
                    )
                if route.protocol is not None:
                    request.account.record.protocol = route.protocol.name
            if route.protocol is not None:
                work = route.handler(request, self.state, body, original, native_body)
                await self._run_watched(request, work)
            else:
                await self._run_watched(request, route.handler(request, self.state, body))
        else:
            await route.handler(request, self.state, *args)

    async def _decode(
        self, request: Request, protocol: Any, body: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The body a native deployment gets, and the same request as a chat body. A protocol
        with server-side state (a Responses chain) loads it first, scoped to the caller."""
        prepare = getattr(protocol, "prepare", None)
        if prepare is not None:
            body = await prepare(self.state, request.principal, body)
        return body, protocol.to_chat(body)

    async def _authenticate(self, request: Request, basic_auth: bool = False) -> None:
        assert self.state.auth is not None
        headers = request.headers
        if basic_auth and presented_key(headers) is None:
            # FastChat clients put the key in the URL's userinfo: HTTP Basic auth's password.
            token = presented_worker_token(headers.get("authorization"))
            if token:
                headers = {**headers, "authorization": "Bearer " + token}
        request.principal = await self.state.auth.authenticate(headers, request.client_host)
        request.auth = auth_context_for(request.principal)

    async def _admin(self, request: Request) -> None:
        """Hands the request to the admin app; its answers carry this request's id too.

        The caller is authenticated from its headers, and refused unless it may call the path,
        before its body is read; the body is read here with the small admin cap and handed on
        whole (FastAPI would read any size before its own dependencies run).
        """
        path = request.path
        if path not in ADMIN_PUBLIC_PATHS:
            await self._authenticate(request)
            if path not in ADMIN_SELF_SERVICE_PATHS:
                request.principal.require_admin(f"{request.method} {path}")
        body = await request.read_body(self.state.config.limits.max_control_body_bytes)
        request_id = request.request_id.encode()
        # Bodies are JSON whatever the client says (curl -d sends a form type), as on the model routes.
        headers = [(k, v) for k, v in request.scope["headers"] if k != b"content-type"]
        headers.append((b"content-type", b"application/json"))
        scope = {
            **request.scope,
            "headers": headers,
            "polyroute.request_id": request.request_id,
            "polyroute.principal": request.principal,
        }
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await request.receive()  # then only a disconnect

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                request.started = True
                message = {**message, "headers": [*message.get("headers", ()), (b"x-request-id", request_id)]}
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                request.finished = True
            await request.send(message)

        await self.admin(scope, receive, send)

    @property
    def admin(self) -> Any:
        if self._admin_app is None:  # one event loop: no other request can interleave here
            from polyroute.server.admin import create_admin_app

            self._admin_app = create_admin_app(self.state)
        return self._admin_app

    async def _run_watched(self, request: Request, work: Awaitable[None]) -> None:
        """Runs the handler; a client that goes away cancels it (and so the upstream call)."""
        scope = request.scope
        if ON_DISCONNECT in scope:
            # polyroute's own protocol says when the connection is lost (server/connections.py):
            # no timer and no watcher task per request.
            scope[ON_DISCONNECT] = _Cancel(request, asyncio.current_task())
            try:
                await work
            finally:
                scope[ON_DISCONNECT] = None
            return
        watch = _DisconnectWatch(request)
        try:
            await work
        finally:
            watch.stop()

    async def _answer_error(self, request: Request, error: GatewayError) -> None:
        METRICS.errors.inc((error.type, label(error.code), label(error.provider), str(error.status)))
        if error.code in SELF_LOGGED_CODES:
            pass  # a flood of these must not flood the log: their component logs them, bounded
        elif error.status >= 500 or error.status == 429:
            log.warning(
                "request failed: request=%s path=%s status=%d code=%s provider=%s",
                request.request_id,
                request.path,
                error.status,
                error.code,
                error.provider,
            )
        else:
            log_refusal(request.request_id, request.method, request.path, error)
        if request.started:
            if not request.finished:
                with contextlib.suppress(Exception):
                    await request.end_stream(request.stream_error(error))
            return
        await request.respond_error(error)


def _check_header_limits(headers: list[tuple[bytes, bytes]], limits: ServerLimits) -> None:
    """The header bounds again, for servers other than polyroute's own protocol (which refuses
    such requests before reading them whole: server/connections.py)."""
    if len(headers) > limits.max_header_count:
        raise GatewayError(
            f"request has more than {limits.max_header_count} headers", status=431, code="too_many_headers"
        )
    if sum(len(name) + len(value) for name, value in headers) > limits.max_header_bytes:
        raise GatewayError(
            f"request headers are larger than {limits.max_header_bytes} bytes",
            status=431,
            code="header_too_large",
        )


class _Cancel:
    """What polyroute's protocol calls when the connection of an unfinished request is lost."""

    __slots__ = ("request", "task")

    def __init__(self, request: Request, task: asyncio.Task[Any] | None) -> None:
        self.request = request
        self.task = task

    def __call__(self) -> None:
        request = self.request
        if not (request.finished or request.delivered) and self.task is not None:
            request.disconnected = True
            self.task.cancel()


class _DisconnectWatch:
    """Cancels the handler's task when its client disconnects (behind another ASGI server).

    The watcher task starts only if the handler is still running after WATCH_AFTER_S: most
    answers finish sooner, and a task per request is measurable on the hot path. A client that
    leaves is noticed at most WATCH_AFTER_S late.
    """

    __slots__ = ("request", "cancel", "watcher", "timer")

    def __init__(self, request: Request) -> None:
        self.request = request
        self.cancel = _Cancel(request, asyncio.current_task())
        self.watcher: asyncio.Future[None] | None = None
        self.timer = asyncio.get_running_loop().call_later(WATCH_AFTER_S, self._start)

    def _start(self) -> None:
        if not self.request.finished:
            self.watcher = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        while True:
            message = await self.request.receive()
            if message["type"] == "http.disconnect":
                self.cancel()
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
    heap.release_free_heap()


def create_app(state: AppState, graceful_shutdown_s: float = DEFAULT_GRACE_S) -> GatewayApp:
    return GatewayApp(state, graceful_shutdown_s)


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
    state = AppState.build(config, open_access=open_access, workers=workers)
    return create_app(state, grace_from_env(os.environ))
