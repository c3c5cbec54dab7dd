"""POST /v1/messages/count_tokens: Anthropic's token count, for any model behind the gateway.

An Anthropic deployment counts with Anthropic's own endpoint (exact, the client's tools and
system included); any other model gets the gateway's estimate (router/tokens.py), which is what
its budgets and tpm limits reserve. Not billed: no spend row, no limiter ticket; model access is
checked as on every model route.
"""

from __future__ import annotations

from typing import Any

from polyroute.errors import NotFoundError
from polyroute.inbound.anthropic_messages import MessagesProtocol, count_tokens_local, native_count_request
from polyroute.inbound.anthropic_messages import to_chat as messages_to_chat
from polyroute.protocol.validate import check_model_names
from polyroute.server.http import Request
from polyroute.server.pipeline import without_gateway_keys
from polyroute.server.relay import call_json
from polyroute.server.state import DEFAULT_TIMEOUT, AppState


class CountTokensProtocol(MessagesProtocol):
    """Messages' shapes, for a body without `max_tokens` (count_tokens takes none)."""

    def to_chat(self, body: dict[str, Any]) -> dict[str, Any]:
        return messages_to_chat(body, count_tokens=True)


COUNT_TOKENS = CountTokensProtocol()


async def count_tokens(
    request: Request, state: AppState, chat: dict[str, Any], original: dict[str, Any], _native: Any
) -> None:
    check_model_names(chat)
    request.principal.check_models(chat, state.config.router.model_group_alias)
    deployments = state.router.reachable_deployments(chat["model"])
    if not deployments:
        raise NotFoundError(
            f"model '{chat.get('model')}' is not served here", param="model", code="model_not_found"
        )
    first = deployments[0]
    if first.provider == "anthropic":
        wire = native_count_request(
            first.call, without_gateway_keys(original), request.headers.get("anthropic-beta")
        )
        timeout = float(first.timeout or state.config.request_timeout or DEFAULT_TIMEOUT)
        _, raw, _ = await call_json(state, first, wire, timeout)
        await request.respond(200, raw)
        return
    await request.respond_json(200, count_tokens_local(original))
