"""The semantic cache's embeddings: a model of the gateway's own model_list, called in-process
through the router (its retries, fallbacks, cooldowns and deployment limits), never over HTTP.

What the embedding costs is the operator's, not the caller's: it is not billed to the key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from polyroute.errors import UpstreamError
from polyroute.router.engine import AttemptOutcome, RequestOptions

if TYPE_CHECKING:
    from polyroute.router.deployment import Deployment
    from polyroute.router.engine import AttemptInfo
    from polyroute.server.state import AppState

Embed = Callable[[str], Awaitable[list[float]]]


def gateway_embedder(state: AppState, model: str) -> Embed:
    async def embed(text: str) -> list[float]:
        from polyroute.server.relay import call_json
        from polyroute.server.routes.common import attempt_limit

        vector: list[float] = []

        async def attempt(deployment: Deployment, info: AttemptInfo) -> AttemptOutcome:
            nonlocal vector
            adapter, call = deployment.adapter, deployment.call
            payload = {"model": model, "input": [text]}
            wire = adapter.embeddings_request(call, payload)
            data, _, _ = await call_json(state, deployment, wire, attempt_limit(state, deployment, info))
            out: Any = (
                data if adapter.passthrough_stream else adapter.embeddings_response(call, data, payload)
            )
            try:
                vector = [float(x) for x in out["data"][0]["embedding"]]
            except (KeyError, IndexError, TypeError, ValueError):
                raise UpstreamError(f"{deployment.provider} answered embeddings without a vector") from None
            return AttemptOutcome(usage=out.get("usage"))

        await state.router.execute(model, RequestOptions(prompt_tokens=max(1, len(text) // 4)), attempt)
        return vector

    return embed
