"""POST /v1/rerank (and /rerank): LiteLLM's rerank route, Cohere's request and answer shape.

Request: `model`, `query`, `documents` (strings, or objects with `rank_fields`), `top_n`,
`return_documents`, plus provider-native keys. Answer: `{"id", "results": [{"index",
"relevance_score", "document"?}], "meta"}`. Served by deployments whose provider offers rerank
(spec capability `rerank`); others answer 400 `unsupported_model`. Routing, retries, fallbacks,
budgets and spend rows work as for embeddings. Cohere bills rerank in search units: the cost is
the search units reported (`meta.billed_units.search_units`) times `input_cost_per_query`
(model_info, else the provider's price table), plus any tokens reported (`meta.tokens`).
"""

from __future__ import annotations

from typing import Any

import orjson

from polyroute.errors import InvalidRequestError
from polyroute.protocol.openai_params import GATEWAY_KEYS
from polyroute.protocol.validate import require_model
from polyroute.router.deployment import Deployment
from polyroute.router.engine import AttemptInfo, AttemptOutcome
from polyroute.router.pricing import query_price
from polyroute.server.client_scope import client_scope
from polyroute.server.http import Request
from polyroute.server.relay import call_json
from polyroute.server.routes.common import attempt_limit, cost_headers, router_options, served_headers
from polyroute.server.state import AppState

#: more documents than this in one request is a client error (Cohere's own advice is 1,000)
MAX_DOCUMENTS = 10_000


def validate_rerank(body: dict[str, Any]) -> None:
    require_model(body)
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise InvalidRequestError("'query' must be a non-empty string", param="query")
    documents = body.get("documents")
    if not isinstance(documents, list) or not documents:
        raise InvalidRequestError("'documents' must be a non-empty list", param="documents")
    if len(documents) > MAX_DOCUMENTS:
        raise InvalidRequestError(f"'documents' holds more than {MAX_DOCUMENTS} items", param="documents")
    for i, document in enumerate(documents):
        if not isinstance(document, str | dict):
            raise InvalidRequestError("each document must be a string or an object", param=f"documents[{i}]")
    top_n = body.get("top_n")
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
        raise InvalidRequestError("'top_n' must be a positive integer", param="top_n")


def search_units(data: dict[str, Any]) -> int:
    """Billed search units (Cohere's `meta.billed_units.search_units`), 0 when not reported."""
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    billed = meta.get("billed_units") if isinstance(meta.get("billed_units"), dict) else {}
    units = billed.get("search_units")
    return int(units) if isinstance(units, int | float) and not isinstance(units, bool) and units > 0 else 0


def rerank_usage(data: dict[str, Any]) -> dict[str, Any]:
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    tokens = meta.get("tokens") if isinstance(meta.get("tokens"), dict) else {}
    prompt = int(tokens.get("input_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": 0, "total_tokens": prompt}


async def rerank(request: Request, state: AppState, body: dict[str, Any]) -> None:
    validate_rerank(body)
    options = router_options(body, request.request_id)
    payload = {k: v for k, v in body.items() if k not in GATEWAY_KEYS}
    scope = client_scope(request, state, body)

    async def attempt(deployment: Deployment, info: AttemptInfo) -> AttemptOutcome:
        if scope is not None:
            deployment = scope.prepare(deployment)
        adapter, call = deployment.adapter, deployment.call
        wire = adapter.rerank_request(call, payload)
        data, _, _ = await call_json(state, deployment, wire, attempt_limit(state, deployment, info))
        out = adapter.rerank_response(call, data, payload)
        usage = rerank_usage(data)
        searches = search_units(data) * query_price(deployment)
        headers = cost_headers(
            request, deployment, usage, served_headers(deployment, info), extra_usd=searches
        )
        await request.respond(200, orjson.dumps(out), headers)
        return AttemptOutcome(usage=usage)

    router = scope.router if scope is not None else state.router
    await router.execute(body["model"], options, request.account.watching(attempt))
