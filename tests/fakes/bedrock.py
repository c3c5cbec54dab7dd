"""A protocol-faithful fake of the Bedrock runtime's Converse and ConverseStream APIs.

Routes: `POST /model/{modelId}/converse` (JSON) and `/model/{modelId}/converse-stream` (AWS's
binary event-stream, `application/vnd.amazon.eventstream`: each message a prelude of total
length, headers length and their CRC32, typed headers, the JSON payload and a CRC32 of the whole
message, as botocore's parser demands).

Auth is SigV4, checked for real: the `Authorization` header's shape (`AWS4-HMAC-SHA256
Credential=<key id>/<date>/<region>/bedrock/aws4_request, SignedHeaders=..., Signature=...`),
the key id (unknown: 403 UnrecognizedClientException), the region and service in the credential
scope, and the signature itself, recomputed with botocore from the bytes received (wrong: 403
InvalidSignatureException). A session token, when the key was issued with one, must come in
`X-Amz-Security-Token`.

Errors are Bedrock's: the status, `x-amzn-ErrorType: <Name>:http://internal.amazon.com/coral/
com.amazon.bedrock/`, `x-amzn-RequestId` and `{"message": ...}`. `Error(status, type=<Name>)`
names the exception (the natural one for the status otherwise). In a stream, `error_after=N`
sends an `exception` message (`:exception-type` `modelStreamErrorException`, or the Error's type
given as `Reply.extra["stream_exception"]`) after N events. Requests the real API refuses
cheaply (no messages, roles not alternating, a first turn not from the user, tool results
answering no earlier toolUse, an image not base64) get 400 ValidationException.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import struct
import uuid
from typing import Any

import orjson
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.fakes.base import Error, FakeUpstream, RecordedRequest, Reply, json_response, stream_events

ERROR_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
NATURAL_ERRORS = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)"
    r"/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})$"
)


class BedrockInvalid(Exception):
    """A request the real API refuses with 400 ValidationException."""


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: string-typed (7) headers, the payload, both CRCs."""
    encoded = b""
    for name, value in headers.items():
        name_bytes, value_bytes = name.encode(), value.encode()
        encoded += struct.pack("!B", len(name_bytes)) + name_bytes + b"\x07"
        encoded += struct.pack("!H", len(value_bytes)) + value_bytes
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack("!II", total, len(encoded))
    prelude += struct.pack("!I", binascii.crc32(prelude))
    body = prelude + encoded + payload
    return body + struct.pack("!I", binascii.crc32(body))


def event(event_type: str, payload: dict[str, Any]) -> bytes:
    # The real service pads each event's JSON with a "p" field (hides lengths): kept, as clients see it.
    padded = {**payload, "p": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"[: 4 + len(event_type) % 20]}
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, orjson.dumps(padded))


def exception(exception_type: str, message: str) -> bytes:
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_message(headers, orjson.dumps({"message": message}))


class FakeBedrock(FakeUpstream):
    def __init__(self, *, keys: dict[str, tuple[str, str | None]], region: str = "us-east-1") -> None:
        """`keys`: access key id -> (secret, session token or None)."""
        super().__init__()
        self.keys = keys
        self.region = region

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/model/{model}/{action}", self.handler(self._dispatch))]

    async def _dispatch(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        action = request.match_info["action"]
        if action not in ("converse", "converse-stream"):
            return error_response(Error(404, "UnknownOperationException", "Unknown operation"))
        refused = self._check_signature(request, rec)
        if refused is not None:
            return refused
        try:
            body = orjson.loads(rec.body) if rec.body else None
            validate(body)
        except orjson.JSONDecodeError:
            return error_response(Error(400, "ValidationException", "Malformed input request."))
        except BedrockInvalid as exc:
            return error_response(Error(400, "ValidationException", str(exc)))
        behaviour = self.next_behaviour()
        if isinstance(behaviour, Error):
            if behaviour.ttfb:
                await asyncio.sleep(behaviour.ttfb)
            return error_response(behaviour)
        if action == "converse":
            if behaviour.ttfb:
                await asyncio.sleep(behaviour.ttfb)
            if behaviour.malformed:
                return web.Response(body=b'{"output": {"message": ', content_type="application/json")
            return json_response(render_response(behaviour), headers=self._headers(behaviour))
        frames = render_stream(behaviour)
        failure = exception(
            str(behaviour.extra.get("stream_exception") or "modelStreamErrorException"),
            "The model stream failed mid-answer.",
        )
        headers = {"Content-Type": "application/vnd.amazon.eventstream", **self._headers(behaviour)}
        return await stream_events(request, frames, behaviour, failure, headers=headers)

    def _headers(self, reply: Reply) -> dict[str, str]:
        return {"x-amzn-RequestId": str(uuid.uuid4()), **reply.headers}

    # -- SigV4 -----------------------------------------------------------------------------------
    def _check_signature(self, request: web.Request, rec: RecordedRequest) -> web.Response | None:
        found = _AUTH.match(request.headers.get("authorization", ""))
        if found is None:
            return error_response(
                Error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
            )
        if found["key"] not in self.keys:
            return error_response(
                Error(
                    403,
                    "UnrecognizedClientException",
                    "The security token included in the request is invalid.",
                )
            )
        secret, token = self.keys[found["key"]]
        amz_date = request.headers.get("x-amz-date", "")
        if (
            found["service"] != "bedrock"
            or found["region"] != self.region
            or not amz_date.startswith(found["date"])
        ):
            return error_response(
                Error(403, "InvalidSignatureException", "Credential should be scoped correctly.")
            )
        if token is not None and request.headers.get("x-amz-security-token") != token:
            return error_response(
                Error(
                    403,
                    "UnrecognizedClientException",
                    "The security token included in the request is invalid.",
                )
            )
        signed = found["signed"].split(";")
        if "host" not in signed or "x-amz-date" not in signed:
            return error_response(
                Error(403, "InvalidSignatureException", "Host and x-amz-date must be signed.")
            )
        headers = {name: request.headers.get(name, "") for name in signed if name != "host"}
        url = f"http://{request.headers['host']}{request.raw_path}"
        aws_request = AWSRequest(method=request.method, url=url, data=rec.body, headers=headers)
        aws_request.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(found["key"], secret, token), "bedrock", self.region)
        canonical = signer.canonical_request(aws_request)
        expected = signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
        if expected != found["signature"]:
            return error_response(
                Error(
                    403,
                    "InvalidSignatureException",
                    "The request signature we calculated does not match the signature you provided. "
                    "Check your AWS Secret Access Key and signing method.",
                )
            )
        return None


# ---- validation ----------------------------------------------------------------------------------


START_USER = (
    "A conversation must start with a user message. Try again with a conversation that starts with a "
    "user message."
)
ALTERNATE = (
    "A conversation must alternate between user and assistant roles. Make sure the conversation "
    "alternates between user and assistant roles and try again."
)
TOO_MANY_RESULTS = (
    "The number of toolResult blocks at messages.{i}.content exceeds the number of toolUse blocks of "
    "previous turn."
)


def validate(body: Any) -> None:
    if not isinstance(body, dict):
        raise BedrockInvalid("Malformed input request.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BedrockInvalid(START_USER)
    tool_uses: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            raise BedrockInvalid(
                f"1 validation error detected: Value at 'messages.{i + 1}.member.role' failed to "
                "satisfy constraint"
            )
        if i == 0 and role != "user":
            raise BedrockInvalid(START_USER)
        if i and messages[i - 1].get("role") == role:
            raise BedrockInvalid(ALTERNATE)
        content = message.get("content")
        if not isinstance(content, list) or not content:
            raise BedrockInvalid(f"The content field in the Message object at messages.{i} is empty.")
        for block in content:
            _check_block(block, i, tool_uses)


def _check_block(block: Any, i: int, tool_uses: set[str]) -> None:
    if not isinstance(block, dict) or len(block) != 1:
        raise BedrockInvalid(f"messages.{i}: a content block must hold exactly one member")
    if "toolUse" in block:
        tool_uses.add(block["toolUse"].get("toolUseId"))
    elif "toolResult" in block:
        if block["toolResult"].get("toolUseId") not in tool_uses:
            raise BedrockInvalid(TOO_MANY_RESULTS.format(i=i))
    elif "image" in block:
        image = block["image"]
        try:
            base64.b64decode(image["source"]["bytes"], validate=True)
        except (KeyError, TypeError, ValueError):
            raise BedrockInvalid(f"messages.{i}: the image's source.bytes is not valid base64") from None
        if image.get("format") not in ("png", "jpeg", "gif", "webp"):
            raise BedrockInvalid(f"messages.{i}: unsupported image format")
    elif "text" not in block:
        raise BedrockInvalid(f"messages.{i}: unknown content block {sorted(block)}")


# ---- rendering -----------------------------------------------------------------------------------


def stop_reason(reply: Reply) -> str:
    return reply.finish or ("tool_use" if reply.tool_calls else "end_turn")


def usage(reply: Reply) -> dict[str, int]:
    prompt = reply.prompt_tokens - reply.cached_tokens
    out = {
        "inputTokens": prompt,
        "outputTokens": reply.completion_tokens,
        "totalTokens": reply.prompt_tokens + reply.completion_tokens,
    }
    if reply.cached_tokens:
        out["cacheReadInputTokens"] = reply.cached_tokens
    return out


def tool_id(call: Any, n: int) -> str:
    return call.id or f"tooluse_{n:02d}{uuid.uuid4().hex[:18]}"


def render_response(reply: Reply) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"text": reply.text}] if reply.text else []
    for n, call in enumerate(reply.tool_calls):
        content.append(
            {"toolUse": {"toolUseId": tool_id(call, n), "name": call.name, "input": call.arguments}}
        )
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason(reply),
        "usage": usage(reply),
        "metrics": {"latencyMs": 321},
        **reply.extra,
    }


def render_stream(reply: Reply) -> list[bytes]:
    frames = [event("messageStart", {"role": "assistant"})]
    block = 0
    if reply.text:
        for piece in reply.pieces():
            frames.append(event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}}))
        frames.append(event("contentBlockStop", {"contentBlockIndex": 0}))
        block = 1
    for n, call in enumerate(reply.tool_calls):
        index = block + n
        start = {"toolUse": {"toolUseId": tool_id(call, n), "name": call.name}}
        frames.append(event("contentBlockStart", {"contentBlockIndex": index, "start": start}))
        arguments = orjson.dumps(call.arguments).decode()
        middle = len(arguments) // 2
        for piece in (arguments[:middle], arguments[middle:]):
            delta = {"toolUse": {"input": piece}}
            frames.append(event("contentBlockDelta", {"contentBlockIndex": index, "delta": delta}))
        frames.append(event("contentBlockStop", {"contentBlockIndex": index}))
    frames.append(event("messageStop", {"stopReason": stop_reason(reply)}))
    frames.append(event("metadata", {"usage": usage(reply), "metrics": {"latencyMs": 321}}))
    return frames


def error_response(error: Error) -> web.Response:
    name = error.type or NATURAL_ERRORS.get(error.status, "InternalServerException")
    headers = {
        "x-amzn-ErrorType": name + ERROR_TYPE_SUFFIX,
        "x-amzn-RequestId": str(uuid.uuid4()),
        **error.headers,
    }
    body = error.body if error.body is not None else orjson.dumps({"message": error.message})
    return web.Response(body=body, status=error.status, headers=headers, content_type="application/json")
