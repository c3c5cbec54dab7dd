"""OpenAI embeddings <-> Cohere `/v2/embed`, and LiteLLM's rerank shape <-> Cohere `/v2/rerank`.

Embeddings: the inputs become `texts`; Cohere's v3+ models require an `input_type`, so it
defaults to `search_document` (as LiteLLM sends) unless the client names one; `dimensions` is
`output_dimension`; float vectors are asked for (`embedding_types: ["float"]`). Cohere reports
the billed input tokens in `meta.billed_units.input_tokens`.

Rerank: LiteLLM's `/v1/rerank` request is Cohere's own shape (`query`, `documents`, `top_n`,
`return_documents`, `rank_fields`, `max_tokens_per_doc`). v2 takes documents as strings only, so
a document given as an object is written as `key: value` lines (of its `rank_fields` when named),
the form Cohere recommends for structured documents; `return_documents`, which v2 dropped, is
served here from the request's own documents.
"""

from __future__ import annotations

import secrets
from typing import Any

from polyroute.errors import InvalidRequestError, UpstreamError
from polyroute.protocol.openai_params import EMBEDDING_PARAMS, GATEWAY_KEYS

PROVIDER = "cohere"
DEFAULT_INPUT_TYPE = "search_document"
#: rerank request keys of LiteLLM's shape that are translated, not passed through
RERANK_PARAMS = frozenset({"model", "query", "documents", "top_n", "return_documents", "rank_fields"})


def embedding_inputs(body: dict[str, Any]) -> list[str]:
    value = body.get("input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return list(value)
    if isinstance(value, list) and not value:
        raise InvalidRequestError("'input' must not be empty", param="input")
    raise InvalidRequestError(
        "cohere embeddings take a string or a list of strings; token arrays are not supported", param="input"
    )


def to_embed_body(model: str, body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model": model,
        "texts": embedding_inputs(body),
        "input_type": DEFAULT_INPUT_TYPE,
        "embedding_types": ["float"],
    }
    if body.get("dimensions") is not None:
        out["output_dimension"] = body["dimensions"]
    for key, value in body.items():
        if key not in EMBEDDING_PARAMS and key not in GATEWAY_KEYS:
            out[key] = value  # input_type, truncate, ...
    return out


def to_openai_embeddings(data: dict[str, Any], model: str) -> dict[str, Any]:
    embeddings = data.get("embeddings")
    vectors = embeddings.get("float") if isinstance(embeddings, dict) else embeddings
    if not isinstance(vectors, list):
        raise UpstreamError("cohere embed answer has no float embeddings", provider=PROVIDER)
    tokens = int(_billed(data).get("input_tokens") or 0)
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": vector} for i, vector in enumerate(vectors)
        ],
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def to_rerank_body(model: str, body: dict[str, Any]) -> dict[str, Any]:
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise InvalidRequestError("'query' must be a non-empty string", param="query")
    out: dict[str, Any] = {"model": model, "query": query, "documents": _documents(body)}
    if body.get("top_n") is not None:
        out["top_n"] = body["top_n"]
    for key, value in body.items():
        if key not in RERANK_PARAMS and key not in GATEWAY_KEYS:
            out[key] = value  # max_tokens_per_doc, ...
    return out


def to_rerank_response(data: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    results = data.get("results")
    if not isinstance(results, list):
        raise UpstreamError("cohere rerank answer has no results", provider=PROVIDER)
    documents = body.get("documents") or []
    out_results = []
    for result in results:
        index = result.get("index") if isinstance(result, dict) else None
        if not isinstance(index, int) or not 0 <= index < len(documents):
            raise UpstreamError("cohere rerank result names no document of the request", provider=PROVIDER)
        item: dict[str, Any] = {
            "index": index,
            "relevance_score": float(result.get("relevance_score") or 0.0),
        }
        if body.get("return_documents"):
            document = documents[index]
            item["document"] = {"text": document} if isinstance(document, str) else document
        out_results.append(item)
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    return {"id": str(data.get("id") or secrets.token_hex(16)), "results": out_results, "meta": meta}


def _billed(data: dict[str, Any]) -> dict[str, Any]:
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    billed = meta.get("billed_units")
    return billed if isinstance(billed, dict) else {}


def _documents(body: dict[str, Any]) -> list[str]:
    documents = body.get("documents")
    if not isinstance(documents, list) or not documents:
        raise InvalidRequestError("'documents' must be a non-empty list", param="documents")
    fields = body.get("rank_fields")
    texts = []
    for i, document in enumerate(documents):
        if isinstance(document, str):
            texts.append(document)
        elif isinstance(document, dict):
            keys = [k for k in fields if k in document] if isinstance(fields, list) else list(document)
            texts.append("\n".join(f"{key}: {document[key]}" for key in keys))
        else:
            raise InvalidRequestError("each document must be a string or an object", param=f"documents[{i}]")
    return texts
