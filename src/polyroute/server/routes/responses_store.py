"""The stored Responses' routes: GET and DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items.

Not hot paths (POST /v1/responses is the pipeline's). The caller sees only what its own key
stored (store/responses_store.py `owner_of`): any other id is the same 404 as an unknown one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from polyroute.errors import InvalidRequestError, NotFoundError
from polyroute.server.http import Request
from polyroute.server.state import AppState

if TYPE_CHECKING:
    from polyroute.store.responses_store import ResponsesStore

PREFIXES = ("/v1/responses/", "/responses/")
METHODS = frozenset({"GET", "DELETE"})


async def stored_response(request: Request, state: AppState, rest: str) -> None:
    """`rest` is the path after /responses/: `{id}` or `{id}/input_items`."""
    from polyroute.store.responses_store import owner_of  # SQLAlchemy's ORM: loaded by the store

    store: ResponsesStore | None = state.responses
    if store is None:
        raise NotFoundError("stored responses are not enabled on this gateway", code="unknown_route")
    owner = owner_of(request.principal)
    response_id, _, tail = rest.partition("/")
    query = _query(request)
    if tail == "":
        if request.method == "DELETE":
            await request.respond_json(200, await store.delete(response_id, owner))
            return
        if query.get("stream") in ("true", "1"):
            raise InvalidRequestError(
                "'stream': a stored response is answered whole; the gateway does not replay streams",
                param="stream",
            )
        await request.respond_json(200, await store.get(response_id, owner))
        return
    if tail == "input_items" and request.method == "GET":
        limit_text = query.get("limit", "20")
        try:
            limit = int(limit_text)
        except ValueError:
            raise InvalidRequestError("'limit' must be an integer from 1 to 100", param="limit") from None
        page = await store.input_items(
            response_id, owner, after=query.get("after"), limit=limit, order=query.get("order", "desc")
        )
        await request.respond_json(200, page)
        return
    raise NotFoundError(f"no route {request.method} {request.path}", code="unknown_route")


def _query(request: Request) -> dict[str, str]:
    raw = request.scope.get("query_string") or b""
    if not raw:
        return {}
    # `include[]` is accepted and unused: the stored object already holds all there is.
    try:
        parsed = parse_qs(raw.decode("latin-1"), max_num_fields=20)
    except ValueError:
        raise InvalidRequestError("too many query parameters (20 at most)") from None
    return {key: values[-1] for key, values in parsed.items()}
