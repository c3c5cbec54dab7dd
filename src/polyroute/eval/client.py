"""The eval's one way to the models: the gateway's public OpenAI API, with the official SDK.

Every answer and every verdict is a chat completion sent to the gateway with the user's key, so
routes, fallbacks, key limits, budgets and spend apply to an evaluation as to any client. The
gateway reports each answer's cost in `x-polyroute-response-cost`; the client adds those up (the
run's spend as the gateway billed it), with the usage the answers carry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import openai

COST_HEADER = "x-polyroute-response-cost"


@dataclass
class Usage:
    """What a group of requests cost: requests answered, tokens, and the gateway's cost."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0

    def add(self, other: Usage) -> None:
        self.requests += other.requests
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cost += other.cost

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": round(self.cost, 10),
        }


@dataclass
class Completion:
    texts: list[str]
    usage: Usage = field(default_factory=Usage)


class RequestFailed(Exception):
    """A request the SDK gave up on (after its retries): status and OpenAI error, never a key."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _cost(headers: Any) -> float:
    try:
        return float(headers.get(COST_HEADER) or 0.0)
    except ValueError:
        return 0.0


def describe_error(exc: openai.APIError) -> RequestFailed:
    """The status and the gateway's own error message (OpenAI's body), for the error report."""
    status = getattr(exc, "status_code", None)
    body = getattr(exc, "body", None)
    message = exc.message
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            message = str(error["message"])
    return RequestFailed(status, f"{type(exc).__name__}: {message}")


class GatewayClient:
    """Chat completions through the gateway; the SDK retries 408/409/429/5xx with backoff."""

    def __init__(self, base_url: str, api_key: str, *, max_retries: int = 4, timeout_s: float = 600) -> None:
        self._client = openai.AsyncOpenAI(
            base_url=base_url.rstrip("/") + "/v1", api_key=api_key, max_retries=max_retries, timeout=timeout_s
        )

    async def chat(
        self,
        model: str,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
    ) -> Completion:
        try:
            raw = await self._client.chat.completions.with_raw_response.create(
                model=model, messages=messages, temperature=temperature, max_tokens=max_tokens
            )
        except openai.APIStatusError as exc:
            raise describe_error(exc) from None
        except openai.APIError as exc:  # connection failures, timeouts, bodies that are not JSON
            raise RequestFailed(None, f"{type(exc).__name__}: {exc.message}") from None
        answer = raw.parse()
        if not answer.choices:
            raise RequestFailed(raw.http_response.status_code, "the answer has no choices")
        usage = Usage(requests=1, cost=_cost(raw.headers))
        if answer.usage is not None:
            usage.prompt_tokens = answer.usage.prompt_tokens or 0
            usage.completion_tokens = answer.usage.completion_tokens or 0
        texts = [choice.message.content or "" for choice in sorted(answer.choices, key=lambda c: c.index)]
        return Completion(texts, usage)

    async def close(self) -> None:
        await self._client.close()
