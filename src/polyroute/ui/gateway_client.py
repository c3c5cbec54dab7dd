"""The UI's only way to the gateway: its public OpenAI API (`GET /v1/models`, streamed
`POST /v1/chat/completions`) over HTTP, with the signed-in user's key.

Errors come back as `GatewayCallError` carrying the gateway's own message (OpenAI's error JSON:
rate limits, budgets, unknown models), which the pages show as they are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from polyroute.protocol.sse import DONE, SSEDecoder
from polyroute.secrets import Secret


class GatewayCallError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclass
class StreamResult:
    """What one streamed answer left behind, filled in as it arrives."""

    request_id: str | None = None
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    text_parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.text_parts)


def _headers(key: Secret | None) -> dict[str, str]:
    headers = {"content-type": "application/json", "accept": "application/json"}
    if key is not None:
        headers["authorization"] = f"Bearer {key.reveal()}"
    return headers


# FastChat's words for a moderation refusal, which its users know; the gateway's message follows
# (which guardrail, which category).
INPUT_REFUSAL = "YOUR INPUT VIOLATES OUR CONTENT MODERATION GUIDELINES."
ANSWER_REFUSAL = "THE ANSWER VIOLATES OUR CONTENT MODERATION GUIDELINES."


def _call_error(status: int, error: dict[str, Any], fallback: str) -> GatewayCallError:
    message, code = str(error.get("message") or fallback), error.get("code")
    if code == "content_policy_violation":
        # A refused prompt names the messages (param); a withheld answer does not.
        headline = INPUT_REFUSAL if error.get("param") == "messages" else ANSWER_REFUSAL
        message = f"{headline} {message}"
    return GatewayCallError(status, message, code)


def _error_from(status: int, body: bytes) -> GatewayCallError:
    try:
        error = orjson.loads(body)["error"]
        return _call_error(status, error, "error")
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return GatewayCallError(status, f"the gateway answered HTTP {status}")


class GatewayClient:
    def __init__(self, base_url: str, timeout_s: float) -> None:
        self._base = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=10)
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=self._timeout)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    @property
    def http(self) -> aiohttp.ClientSession:
        assert self._http is not None, "GatewayClient.start() was not awaited"
        return self._http

    async def list_models(self, key: Secret | None) -> list[str]:
        try:
            async with self.http.get(self._base + "/v1/models", headers=_headers(key)) as response:
                body = await response.read()
                if response.status != 200:
                    raise _error_from(response.status, body)
        except aiohttp.ClientError as exc:
            raise GatewayCallError(502, f"the gateway cannot be reached ({type(exc).__name__})") from None
        return sorted(str(item["id"]) for item in orjson.loads(body).get("data", []))

    async def stream_chat(
        self, key: Secret | None, payload: dict[str, Any], result: StreamResult
    ) -> AsyncIterator[str]:
        """Yields text deltas of a streamed chat completion, filling `result` on the way.
        Closing the generator early closes the connection: the gateway cancels the upstream."""
        body = orjson.dumps({**payload, "stream": True, "stream_options": {"include_usage": True}})
        try:
            async with self.http.post(
                self._base + "/v1/chat/completions", data=body, headers=_headers(key)
            ) as response:
                result.request_id = response.headers.get("x-request-id")
                if response.status != 200:
                    raise _error_from(response.status, await response.read())
                decoder = SSEDecoder()
                try:
                    async for chunk in response.content.iter_any():
                        for event in decoder.feed(chunk):
                            if event.data == DONE:
                                return
                            delta = _delta_of(event.json(), result)
                            if delta:
                                result.text_parts.append(delta)
                                yield delta
                except BaseException:
                    # Stopped or failed mid-answer: drop the connection (never back to the pool
                    # half read), which is what tells the gateway to cancel the upstream call.
                    response.close()
                    raise
        except aiohttp.ClientError as exc:
            raise GatewayCallError(
                502, f"the connection to the gateway broke ({type(exc).__name__})"
            ) from None


def _delta_of(chunk: Any, result: StreamResult) -> str:
    if not isinstance(chunk, dict):
        return ""
    if "error" in chunk:
        error = chunk["error"] if isinstance(chunk["error"], dict) else {}
        raise _call_error(502, error, "the stream failed")
    if chunk.get("usage"):
        result.usage = chunk["usage"]
    text = ""
    for choice in chunk.get("choices") or []:
        if choice.get("finish_reason"):
            result.finish_reason = choice["finish_reason"]
        content = (choice.get("delta") or {}).get("content")
        if isinstance(content, str):
            text += content
    return text
