"""OpenAI embeddings <-> Vertex AI text embeddings (`publishers/google/models/{model}:predict`).

The request is `{"instances": [{"content": text, "task_type"?}], "parameters":
{"outputDimensionality"?, "autoTruncate"?}}`; the answer `{"predictions": [{"embeddings":
{"values": [...], "statistics": {"token_count", "truncated"}}}]}`, whose token counts are the
usage. OpenAI's `dimensions` is `outputDimensionality`; `task_type` and `auto_truncate` may be
sent as extra body keys.
"""

from __future__ import annotations

from typing import Any

from polyroute.errors import InvalidRequestError, UpstreamError
from polyroute.providers.gemini.embeddings import embedding_inputs

MAX_INSTANCES = 250  # Vertex's documented limit per predict call


def to_predict_body(body: dict[str, Any]) -> dict[str, Any]:
    texts = embedding_inputs(body)
    if len(texts) > MAX_INSTANCES:
        raise InvalidRequestError(
            f"vertex_ai embeds at most {MAX_INSTANCES} inputs per request", param="input"
        )
    task_type = body.get("task_type")
    instances = [{"content": text, **({"task_type": task_type} if task_type else {})} for text in texts]
    parameters: dict[str, Any] = {}
    if body.get("dimensions") is not None:
        parameters["outputDimensionality"] = body["dimensions"]
    if body.get("auto_truncate") is not None:
        parameters["autoTruncate"] = bool(body["auto_truncate"])
    return {"instances": instances, **({"parameters": parameters} if parameters else {})}


def to_openai_embeddings(data: dict[str, Any], model: str) -> dict[str, Any]:
    predictions = data.get("predictions")
    if not isinstance(predictions, list):
        raise UpstreamError("vertex_ai returned an answer without predictions", provider="vertex_ai")
    items, tokens = [], 0
    for index, prediction in enumerate(predictions):
        embeddings = prediction.get("embeddings") if isinstance(prediction, dict) else None
        values = embeddings.get("values") if isinstance(embeddings, dict) else None
        if not isinstance(values, list):
            raise UpstreamError(
                f"vertex_ai prediction {index} has no embeddings.values", provider="vertex_ai"
            )
        statistics = embeddings.get("statistics") or {}
        tokens += int(statistics.get("token_count") or 0)
        items.append({"object": "embedding", "index": index, "embedding": values})
    return {
        "object": "list",
        "data": items,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
