"""A protocol-faithful fake of YandexGPT's text generation API (Yandex Cloud Foundation Models).

Route: `POST /foundationModels/v1/completion`. Auth is `Authorization: Api-Key <key>` or `Bearer
<IAM token>`; none or an unknown one (when `valid_keys` is set) is `401` with grpcCode 16.
Errors are Yandex Cloud's `{"error": {"grpcCode", "httpCode", "message", "httpStatus",
"details"}}`. Checks the real API makes: `modelUri` of the form `gpt://<folder>/<model>`, the
folder matching `x-folder-id` when both are given, each message holding exactly one of `text`,
`toolCallList`, `toolResultList`, a known role, `maxTokens` an integer (it is an int64, sent as a
string), tool results naming a function the model called.

Streams (`completionOptions.stream: true`) are JSON lines, each a whole answer whose text is all
of it so far, status ALTERNATIVE_STATUS_PARTIAL until the last (FINAL, or TOOL_CALLS with the calls
whole). `error_after=N` sends a `{"error": ...}` line (grpcCode 14) after N lines.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.base import Error, FakeUpstream, RecordedRequest, Reply, json_response, stream_events

MODEL_URI = re.compile(r"^gpt://(?P<folder>[a-z0-9]+)/(?P<model>[\w.-]+(?:/[\w.-]+)?)$")
CONTENT_FIELDS = ("text", "toolCallList", "toolResultList")
ROLES = frozenset({"system", "user", "assistant"})
HTTP_STATUS = {
    400: ("Bad Request", 3),
    401: ("Unauthorized", 16),
    403: ("Forbidden", 7),
    404: ("Not Found", 5),
    429: ("Too Many Requests", 8),
    500: ("Internal Server Error", 13),
    503: ("Service Unavailable", 14),
    504: ("Gateway Timeout", 4),
}
STATUS_BY_FINISH = {"stop": "ALTERNATIVE_STATUS_FINAL", "length": "ALTERNATIVE_STATUS_TRUNCATED_FINAL"}


class YandexInvalid(Exception):
    """A request the real API refuses with 400 INVALID_ARGUMENT."""


class FakeYandexGPT(FakeUpstream):
    def __init__(self, *, valid_keys: set[str] | None = None) -> None:
        super().__init__()
        self.valid_keys = valid_keys

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/foundationModels/v1/completion", self.handler(self._completion))]

    async def _completion(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme not in ("Api-Key", "Bearer") or not key:
            return error_response(401, "The token is invalid")
        if self.valid_keys is not None and key not in self.valid_keys:
            return error_response(401, f"Unknown api key '{key[:4]}****'")
        try:
            body = orjson.loads(rec.body) if rec.body else None
            if not isinstance(body, dict):
                raise YandexInvalid("Request body must be a JSON object")
            validate(body, request.headers.get("x-folder-id"))
        except orjson.JSONDecodeError:
            return error_response(400, "Invalid JSON")
        except YandexInvalid as exc:
            return error_response(400, str(exc))
        behaviour = self.next_behaviour()
        if isinstance(behaviour, Error):
            return await render_error(behaviour)
        model = MODEL_URI.match(body["modelUri"]).group("model")
        if (body.get("completionOptions") or {}).get("stream"):
            lines = [orjson.dumps(line) + b"\n" for line in render_stream(behaviour, model)]
            error_line = orjson.dumps(error_payload(503, "Service is temporarily unavailable")) + b"\n"
            return await stream_events(
                request,
                lines,
                behaviour,
                error_line,
                headers={"Content-Type": "application/json", **behaviour.headers},
            )
        if behaviour.ttfb:
            await asyncio.sleep(behaviour.ttfb)
        if behaviour.malformed:
            return web.Response(body=b'{"result": {"alternatives": [', content_type="application/json")
        return json_response(
            render_answer(behaviour, model, final=True, text=behaviour.text), headers=behaviour.headers
        )


def validate(body: dict[str, Any], folder_header: str | None) -> None:
    match = MODEL_URI.match(str(body.get("modelUri") or ""))
    if match is None:
        raise YandexInvalid("modelUri must be gpt://<folder_id>/<model>")
    if folder_header and folder_header != match.group("folder"):
        raise YandexInvalid("Folder in modelUri does not match x-folder-id")
    options = body.get("completionOptions") or {}
    if "maxTokens" in options and not str(options["maxTokens"]).isdigit():
        raise YandexInvalid("completionOptions.maxTokens: invalid int64 value")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise YandexInvalid("messages must not be empty")
    called: set[str] = set()
    for i, message in enumerate(messages):
        if message.get("role") not in ROLES:
            raise YandexInvalid(f"messages[{i}].role: unknown role {message.get('role')!r}")
        present = [field for field in CONTENT_FIELDS if field in message]
        if len(present) != 1:
            raise YandexInvalid(
                f"messages[{i}]: exactly one of text, toolCallList, toolResultList is required"
            )
        for call in (message.get("toolCallList") or {}).get("toolCalls", []):
            if not isinstance(call["functionCall"].get("arguments"), dict):
                raise YandexInvalid(f"messages[{i}]: functionCall.arguments must be an object")
            called.add(call["functionCall"]["name"])
        for result in (message.get("toolResultList") or {}).get("toolResults", []):
            if result["functionResult"].get("name") not in called:
                raise YandexInvalid(f"messages[{i}]: result for a function that was not called")


def error_payload(status: int, message: str) -> dict[str, Any]:
    name, grpc = HTTP_STATUS.get(status, ("Error", 2))
    return {
        "error": {"grpcCode": grpc, "httpCode": status, "message": message, "httpStatus": name, "details": []}
    }


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_response(error_payload(status, message), status=status, headers=headers)


async def render_error(err: Error) -> web.Response:
    if err.ttfb:
        await asyncio.sleep(err.ttfb)
    if err.body is not None:
        return web.Response(
            body=err.body, status=err.status, headers=err.headers, content_type="application/json"
        )
    return error_response(err.status, err.message, err.headers)


def render_answer(reply: Reply, model: str, *, final: bool, text: str | None) -> dict[str, Any]:
    if final and reply.tool_calls:
        calls = [{"functionCall": {"name": c.name, "arguments": c.arguments}} for c in reply.tool_calls]
        message: dict[str, Any] = {"role": "assistant", "toolCallList": {"toolCalls": calls}}
        status = "ALTERNATIVE_STATUS_TOOL_CALLS"
    else:
        message = {"role": "assistant", "text": text or ""}
        status = (reply.finish or STATUS_BY_FINISH["stop"]) if final else "ALTERNATIVE_STATUS_PARTIAL"
    completion = reply.completion_tokens if final else 0
    usage = {
        "inputTextTokens": str(reply.prompt_tokens),
        "completionTokens": str(completion),
        "totalTokens": str(reply.prompt_tokens + completion),
    }
    if reply.reasoning_tokens and final:
        usage["completionTokensDetails"] = {"reasoningTokens": str(reply.reasoning_tokens)}
    return {
        "result": {
            "alternatives": [{"message": message, "status": status}],
            "usage": usage,
            "modelVersion": "23.10.2024",
        }
    }


def render_stream(reply: Reply, model: str) -> list[dict[str, Any]]:
    lines, text = [], ""
    for piece in reply.pieces():
        text += piece
        lines.append(render_answer(reply, model, final=False, text=text))
    lines.append(render_answer(reply, model, final=True, text=text))
    return lines
