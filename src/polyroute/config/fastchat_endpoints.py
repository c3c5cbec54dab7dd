"""FastChat's API-endpoint JSON (`--register-api-endpoint-file`) as model-list entries.

Format: {"<display name>": {"model_name": ..., "api_type": ..., "api_base": ..., "api_key": ...,
"recommended_config": {...}, "anony_only": ..., "text-arena": ..., "vision-arena": ...}}.
The display name becomes the model name clients use; `model_name` is the provider's model id.

Which provider serves an `api_type` is declared by the providers (`ProviderSpec.fastchat_api_types`).
Every other type FastChat knows is reported by name at start-up with the reason it is not served,
and so is a type FastChat does not know; neither is ever dropped silently.
"""

from __future__ import annotations

from typing import Any

from polyroute.providers.registry import fastchat_api_types, get_spec

# api_types FastChat's web server knows (fastchat/serve/api_provider.py) that no provider here
# declares, with the reason given at start-up.
UNSERVED_API_TYPES: dict[str, str] = {
    "bard": "Bard is retired; use api_type 'gemini' with a Google AI Studio key",
    "openai_assistant": "OpenAI Assistants threads are not served by the gateway",
    "column": "Column's API is not public",
    "metagen": "Meta's internal MetaGen API is not public",
    "bailing": "Ant Group's Bailing API is not supported",
}

# Keys that only steer FastChat's web UI and arena; they are carried as model_info.
UI_KEYS = ("anony_only", "text-arena", "vision-arena", "recommended_config")


class EndpointFileError(ValueError):
    pass


def entries_from_endpoint_file(data: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Model-list entries (LiteLLM shape) and warnings for entries that cannot be served."""
    if not isinstance(data, dict):
        raise EndpointFileError("an API endpoint file must be a JSON object of name -> endpoint")
    entries: list[dict[str, Any]] = []
    warnings: list[str] = []
    for name, spec in data.items():
        if not isinstance(spec, dict):
            raise EndpointFileError(f"endpoint '{name}' must be an object")
        api_type = spec.get("api_type")
        model_id = spec.get("model_name") or name
        provider = fastchat_api_types().get(str(api_type))
        if provider is None:
            warnings.append(f"endpoint '{name}': {_why_unserved(api_type)}; skipped")
            continue
        # FastChat switched to Azure when the model name mentioned azure.
        if provider == "openai" and "azure" in str(model_id).lower():
            provider = "azure"
        params: dict[str, Any] = {"model": f"{provider}/{model_id}"}
        if spec.get("api_base"):
            params["api_base"] = spec["api_base"]
        if spec.get("api_key"):
            params["api_key"] = spec["api_key"]
        # Provider settings FastChat reads from the entry (YandexGPT's folder_id, ...).
        settings = get_spec(provider).setting_prefixes
        if settings:
            params.update({k: v for k, v in spec.items() if k.startswith(settings)})
        recommended = spec.get("recommended_config")
        if isinstance(recommended, dict):
            # FastChat applied these as sampling defaults; so do we (the request still wins).
            params.update(
                {k: v for k, v in recommended.items() if k in ("temperature", "top_p", "max_tokens")}
            )
        info = {k: spec[k] for k in UI_KEYS if k in spec}
        info["fastchat_api_type"] = api_type
        entries.append({"model_name": name, "litellm_params": params, "model_info": info})
    return entries, warnings


def _why_unserved(api_type: Any) -> str:
    reason = UNSERVED_API_TYPES.get(str(api_type))
    if reason is not None:
        return f"api_type '{api_type}' is not served: {reason}"
    return f"api_type '{api_type}' is not one FastChat or polyroute knows"
