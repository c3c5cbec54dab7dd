"""OpenAI embeddings <-> Gemini `models/{model}:batchEmbedContents`.

One OpenAI request becomes one batch: an EmbedContentRequest per input string, each naming the
model (Gemini requires every request's model to match the URL's). Gemini's answer carries no
token count, so usage is an estimate: total input characters / 4, rounded up. The estimate needs
the request's inputs, so pass the client's body as `request_body`; without it usage is 0 unless
the upstream reports a count (Vertex-style `usageMetadata.promptTokenCount`).
"""

from __future__ import annotations

from typing import Any

from polyroute.errors import InvalidRequestError, UpstreamError
from polyroute.protocol.openai_params import EMBEDDING_PARAMS, GATEWAY_KEYS

#: Gemini EmbedContentRequest fields clients may send in snake_case.
_NATIVE_ALIASES = {"task_type": "taskType", "output_dimensionality": "outputDimensionality"}


def embedding_inputs(body: dict[str, Any]) -> list[str]:
    """The input strings; token arrays are refused (Gemini embeds text only)."""
    value = body.get("input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return list(value)
    if isinstance(value, list) and not value:
        raise InvalidRequestError("'input' must not be empty", param="input")
    raise InvalidRequestError(
        "gemini embeddings take a string or a list of strings; token arrays are not supported", param="input"
    )


def to_batch_embed_body(model: str, body: dict[str, Any]) -> dict[str, Any]:
    """The batchEmbedContents body for one OpenAI embeddings request."""
    inputs = embedding_inputs(body)
    shared: dict[str, Any] = {}
    if body.get("dimensions") is not None:
        shared["outputDimensionality"] = body["dimensions"]
    for key, value in body.items():
        if key in EMBEDDING_PARAMS or key in GATEWAY_KEYS:
            continue
        shared[_NATIVE_ALIASES.get(key, key)] = value  # taskType, title, ...
    name = f"models/{model}"
    return {
        "requests": [{"model": name, "content": {"parts": [{"text": text}]}, **shared} for text in inputs]
    }


def estimate_tokens(inputs: list[str]) -> int:
    """Roughly 4 characters per token: Gemini reports no embedding token count."""
    return -(-sum(len(text) for text in inputs) // 4)


def to_openai_embeddings(
    data: dict[str, Any], model: str, request_body: dict[str, Any] | None = None
) -> dict[str, Any]:
    embeddings = data.get("embeddings")
    if not isinstance(embeddings, list):
        raise UpstreamError("gemini embeddings answer has no 'embeddings' list", provider="gemini")
    items = []
    for index, embedding in enumerate(embeddings):
        values = embedding.get("values") if isinstance(embedding, dict) else None
        if not isinstance(values, list):
            raise UpstreamError(f"gemini embedding {index} has no values", provider="gemini")
        items.append({"object": "embedding", "index": index, "embedding": values})
    tokens = _reported_tokens(data)
    if tokens is None:
        tokens = estimate_tokens(embedding_inputs(request_body)) if request_body else 0
    return {
        "object": "list",
        "data": items,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _reported_tokens(data: dict[str, Any]) -> int | None:
    metadata = data.get("usageMetadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("promptTokenCount"), int):
        return metadata["promptTokenCount"]
    return None
