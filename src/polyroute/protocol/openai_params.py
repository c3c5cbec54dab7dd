"""The OpenAI request parameters the gateway knows, and the gateway's own request keys.

Adapters declare which OpenAI params their provider can take; a known param a provider cannot
take is dropped (with `drop_params`) or refused with a 400 naming it. Keys that are neither
OpenAI params nor gateway keys are provider-specific and pass through to the provider's body.
"""

from __future__ import annotations

CHAT_PARAMS: frozenset[str] = frozenset(
    {
        "model",
        "messages",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "temperature",
        "top_p",
        "n",
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "seed",
        "user",
        "reasoning_effort",
        "service_tier",
        "stream",
        "stream_options",
        "functions",
        "function_call",
        "modalities",
        "audio",
        "prediction",
        "store",
        "metadata",
        "web_search_options",
        "verbosity",
        "prompt_cache_key",
        "safety_identifier",
    }
)

COMPLETION_PARAMS: frozenset[str] = frozenset(
    {
        "model",
        "prompt",
        "suffix",
        "max_tokens",
        "temperature",
        "top_p",
        "n",
        "stream",
        "stream_options",
        "logprobs",
        "echo",
        "stop",
        "presence_penalty",
        "frequency_penalty",
        "best_of",
        "logit_bias",
        "user",
        "seed",
    }
)

EMBEDDING_PARAMS: frozenset[str] = frozenset({"model", "input", "encoding_format", "dimensions", "user"})

# Keys the gateway itself consumes (LiteLLM's request-level router and credential params).
# They never reach a provider. Issue-specific handlers read them before translation.
GATEWAY_KEYS: frozenset[str] = frozenset(
    {
        "fallbacks",
        "context_window_fallbacks",
        "content_policy_fallbacks",
        "num_retries",
        "timeout",
        "stream_timeout",
        "user_config",
        "api_key",
        "api_base",
        "base_url",
        "api_version",
        "mock_response",
        "mock_testing_fallbacks",
        "drop_params",
        "allowed_openai_params",
        "additional_drop_params",
        "litellm_metadata",
        "tags",
        "caching",
        "cache",
        "no-log",
        "max_retries",
    }
)
