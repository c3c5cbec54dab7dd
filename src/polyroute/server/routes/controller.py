"""FastChat's controller endpoints, served by the gateway (and by `polyroute controller`).

Request and response shapes are FastChat's, so unmodified FastChat workers and clients work
(`worker_status` is {model_names, speed, queue_length}):

| endpoint | body | answer | who may call |
|---|---|---|---|
| POST /register_worker | {worker_name, check_heart_beat, worker_status?, multimodal?} | null | worker token |
| POST /receive_heart_beat | {worker_name, queue_length} | {exist} | the registering worker token |
| POST /deregister_worker (polyroute) | {worker_name} | {removed} | the registering worker token |
| POST /list_models | - | {models} | master key |
| POST /list_language_models | - | {models} (workers registered without `multimodal`) | master key |
| POST /list_multimodal_models | - | {models} (workers registered with `multimodal: true`) | master key |
| POST /get_worker_address | {model} | {address} ("" when none) | master key |
| POST /worker_get_status | - | {model_names, speed, queue_length} (all workers) | master key |
| POST /refresh_all_workers | - | {refreshed, removed} | master key |
| GET /test_connection | - | "success" | anyone |

polyroute adds `protocol: "openai"` to a registration for workers that serve the OpenAI API at
/v1 (polyroute's own); FastChat workers send no such key and are spoken to in FastChat's protocol.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from typing import Any

import orjson

from polyroute.controller.directory import PROTOCOLS
from polyroute.controller.security import (
    check_address,
    check_owner,
    check_resolved,
    check_scope,
    normalise_address,
    owner_of,
    presented_worker_token,
    worker_credentials,
)
from polyroute.controller.settings import WorkerToken
from polyroute.errors import GatewayError, InvalidRequestError, UpstreamError
from polyroute.providers.base import WireRequest
from polyroute.router.worker_dispatch import DISPATCH_METHODS
from polyroute.server.http import Request
from polyroute.server.state import AppState
from polyroute.state.base import WorkerRecord

log = logging.getLogger("polyroute.controller")

MAX_MODEL_NAMES = 64
MAX_MODEL_NAME_LENGTH = 256
MAX_QUEUE_LENGTH = 1_000_000
STATUS_TIMEOUT_S = 5.0  # FastChat's controller gives /worker_get_status 5 s


# -- validation --------------------------------------------------------------------------------------


def _model_names(value: Any, param: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or len(value) > MAX_MODEL_NAMES:
        raise InvalidRequestError(
            f"{param} must be a list of 1 to {MAX_MODEL_NAMES} model names", param=param
        )
    names: list[str] = []
    for name in value:
        if (
            not isinstance(name, str)
            or not name.strip()
            or len(name) > MAX_MODEL_NAME_LENGTH
            or any(ord(c) < 32 for c in name)
        ):
            raise InvalidRequestError(f"{param} holds an invalid model name", param=param)
        if name not in names:
            names.append(name)
    return tuple(names)


def _queue_length(value: Any, param: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_QUEUE_LENGTH:
        raise InvalidRequestError(f"{param} must be a number of requests (0 or more)", param=param)
    return int(value)


def _speed(value: Any) -> float:
    if value is None:
        return 1.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise InvalidRequestError("worker_status.speed must be a number >= 0", param="worker_status.speed")
    return float(value)


def _record(address: str, status: Any, protocol: str, multimodal: bool, owner: str = "") -> WorkerRecord:
    if not isinstance(status, dict):
        raise InvalidRequestError("worker_status must be an object", param="worker_status")
    return WorkerRecord(
        address=address,
        model_names=_model_names(status.get("model_names"), "worker_status.model_names"),
        speed=_speed(status.get("speed")),
        queue_length=_queue_length(status.get("queue_length", 0), "worker_status.queue_length"),
        protocol=protocol,
        multimodal=multimodal,
        owner=owner,
    )


def authenticate_worker(request: Request, state: AppState) -> WorkerToken | None:
    """The caller's worker token, from its headers alone (before its body is read)."""
    presented = presented_worker_token(request.headers.get("authorization"))
    return worker_credentials(
        state.config.controller, state.config.master_key, presented, request.client_host
    )


async def fetch_status(state: AppState, address: str) -> dict[str, Any]:
    """A worker's own /worker_get_status (only ever called on an accepted address).

    Every failure is one error: a caller must not learn whether the address is a closed port,
    a database or another HTTP service. The reason goes to the log for the operator.
    """
    status: Any = None
    reason = ""
    try:
        async with asyncio.timeout(STATUS_TIMEOUT_S):
            response = await state.http.send(WireRequest(address + "/worker_get_status", {}, b""))
            body = await response.read()
        if response.status == 200:
            status = orjson.loads(body)
        else:
            reason = f"HTTP {response.status}"
    except TimeoutError:
        reason = "no answer in time"
    except orjson.JSONDecodeError:
        reason = "invalid JSON"
    except (GatewayError, OSError) as exc:
        reason = type(exc).__name__
    if not isinstance(status, dict):
        log.info("worker status call failed: address=%s reason=%s", address, reason or "not an object")
        raise UpstreamError(
            f"worker {address} did not answer /worker_get_status with a worker status",
            code="worker_unreachable",
        )
    return status


# -- worker endpoints (worker token) -----------------------------------------------------------------


async def register_worker(request: Request, state: AppState, body: dict[str, Any]) -> None:
    token: WorkerToken | None = request.worker_token
    owner = owner_of(token)
    address = normalise_address(body.get("worker_name"))
    controller = state.config.controller
    check_address(address, controller)
    protocol = body.get("protocol", "fastchat")
    if protocol not in PROTOCOLS:
        raise InvalidRequestError(f"protocol must be one of {', '.join(PROTOCOLS)}", param="protocol")
    status = body.get("worker_status")
    # Refuse a token scoped to other models before any outbound call or DNS lookup: a scoped
    # token must say what it serves, or it could make the gateway call any allowed address.
    if status is None and token is not None and token.models is not None:
        raise InvalidRequestError(
            "a worker token limited to model names must send worker_status with the registration",
            param="worker_status",
        )
    if status is not None:
        check_scope(token, _record(address, status, protocol, False).model_names)
    # Registering again replaces the worker at this address: only its registrant may.
    known = await state.directory.lookup(address)
    if known is not None:
        check_owner(token, known, "register again")
    await state.directory.admit(owner, address)
    await check_resolved(address)
    if status is None:  # FastChat then asks the worker itself
        status = await fetch_status(state, address)
    record = _record(address, status, protocol, bool(body.get("multimodal", False)), owner)
    check_scope(token, record.model_names)
    await state.directory.register(record)
    log.info(
        "worker registered: address=%s models=%s protocol=%s speed=%g",
        address,
        ",".join(record.model_names),
        protocol,
        record.speed,
    )
    await request.respond(200, b"null")


async def receive_heart_beat(request: Request, state: AppState, body: dict[str, Any]) -> None:
    address = normalise_address(body.get("worker_name"))
    queue_length = _queue_length(body.get("queue_length", 0), "queue_length")
    known = await state.directory.lookup(address)
    if known is None:
        await request.respond_json(200, {"exist": False})  # FastChat's worker registers again
        return
    check_owner(request.worker_token, known, "heartbeat")
    alive = await state.directory.heartbeat(address, queue_length)
    await request.respond_json(200, {"exist": alive is not None})


async def deregister_worker(request: Request, state: AppState, body: dict[str, Any]) -> None:
    address = normalise_address(body.get("worker_name"))
    known = await state.directory.lookup(address)
    if known is None:
        await request.respond_json(200, {"removed": False})
        return
    check_owner(request.worker_token, known, "deregister")
    removed = await state.directory.remove(address)
    log.info("worker deregistered: address=%s", address)
    await request.respond_json(200, {"removed": removed})


# -- read-only and maintenance endpoints (master key) ------------------------------------------------


async def list_models(request: Request, state: AppState) -> None:
    await request.respond_json(200, {"models": state.directory.model_names()})


async def list_language_models(request: Request, state: AppState) -> None:
    """What fschat's web server offers in its chat tab (it reads `models`)."""
    await request.respond_json(200, {"models": _worker_models(state, multimodal=False)})


async def list_multimodal_models(request: Request, state: AppState) -> None:
    """What fschat's web server offers in its vision tab."""
    await request.respond_json(200, {"models": _worker_models(state, multimodal=True)})


def _worker_models(state: AppState, multimodal: bool) -> list[str]:
    workers = state.directory.workers()
    return sorted({name for w in workers if w.multimodal == multimodal for name in w.model_names})


async def get_worker_address(request: Request, state: AppState, body: dict[str, Any]) -> None:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequestError("model must be a model name", param="model")
    group = [d for d in state.router.table.resolve(model) if d.worker is not None]
    address = ""
    if group:
        dispatch = DISPATCH_METHODS[state.config.controller.dispatch_method]
        ordered = await dispatch(group, state.shared, state.router.rng, state.router.clock())
        chosen = ordered[0].worker
        if chosen is not None and chosen.speed > 0:
            address = chosen.address
    await request.respond_json(200, {"address": address})


async def worker_get_status(request: Request, state: AppState) -> None:
    """The controller answering as one big worker (FastChat's hierarchical set-up), from the
    registry: no call goes out to the workers."""
    workers = state.directory.workers()
    await request.respond_json(
        200,
        {
            "model_names": state.directory.model_names(),
            "speed": sum(w.speed for w in workers),
            "queue_length": sum(w.queue_length for w in workers),
        },
    )


async def refresh_all_workers(request: Request, state: AppState) -> None:
    """Asks every registered worker for its status: live ones get their speed and queue length
    updated (their model names stay those their token allowed), silent ones are removed."""
    workers = state.directory.workers()
    results = await asyncio.gather(*(fetch_status(state, w.address) for w in workers), return_exceptions=True)
    refreshed, removed = [], []
    for worker, result in zip(workers, results, strict=True):
        if isinstance(result, GatewayError):
            await state.directory.remove(worker.address)
            removed.append(worker.address)
            log.info("worker removed by refresh: address=%s reason=%s", worker.address, result.message)
            continue
        if isinstance(result, BaseException):
            raise result
        try:
            speed = _speed(result.get("speed", worker.speed))
            queue_length = _queue_length(result.get("queue_length", 0), "queue_length")
        except InvalidRequestError:
            speed, queue_length = worker.speed, worker.queue_length
        await state.directory.register(dataclasses.replace(worker, speed=speed, queue_length=queue_length))
        refreshed.append(worker.address)
    await request.respond_json(200, {"refreshed": refreshed, "removed": removed})


async def test_connection(request: Request, state: AppState) -> None:
    await request.respond_json(200, "success")
