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

# Credentials a client may send in the body (LiteLLM's clientside auth params, named as in its
# `CredentialLiteLLMParams`). The gateway consumes them (router/client_credentials.py decides whether
# a model lets a client set them); they never reach a provider's body as passthrough params.
CLIENT_URL_PARAMS: frozenset[str] = frozenset(
    {"api_base", "base_url", "aws_bedrock_runtime_endpoint", "aws_sts_endpoint"}
)
CLIENT_SECRET_PARAMS: frozenset[str] = frozenset(
    {
        "api_key",
        "azure_ad_token",
        "vertex_credentials",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "aws_web_identity_token",
    }
)
CLIENT_PLAIN_PARAMS: frozenset[str] = frozenset(
    {
        "api_version",
        "organization",
        "vertex_project",
        "vertex_location",
        "vertex_ai_project",
        "vertex_ai_location",
        "region_name",
        "aws_region_name",
        "aws_profile_name",
        "aws_role_name",
        "aws_session_name",
        "watsonx_region_name",
    }
)
CLIENT_CREDENTIAL_PARAMS: frozenset[str] = CLIENT_URL_PARAMS | CLIENT_SECRET_PARAMS | CLIENT_PLAIN_PARAMS

# Keys the gateway itself consumes (LiteLLM's request-level router and credential params).
# They never reach a provider. Issue-specific handlers read them before translation.
GATEWAY_KEYS: frozenset[str] = CLIENT_CREDENTIAL_PARAMS | frozenset(
    {
        "fallbacks",
        "context_window_fallbacks",
        "content_policy_fallbacks",
        "num_retries",
        "timeout",
        "stream_timeout",
        "user_config",
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
        "guardrails",  # guardrails/engine.py: the guardrails a request adds
    }
)
