"""OpenAI and the services that speak its API: one adapter class, one spec per service.

They differ only in name, key variable and base URL (names follow LiteLLM's provider prefixes so
configs carry over; key variables are FastChat's where it names one, else LiteLLM's). Streams
are OpenAI's own SSE chunks, relayed as they are.
"""

from __future__ import annotations

from typing import Any

from polyroute.providers.openai_compat import OPENAI, OpenAICompatibleAdapter
from polyroute.providers.spec import ProviderSpec

_CHAT = frozenset({"chat", "completions", "embeddings", "tools"})


def _compatible(name: str, label: str, key: str | None, base: str | None, **facts: Any) -> ProviderSpec:
    facts.setdefault("capabilities", _CHAT)
    key_env = (key,) if key else ()
    facts.setdefault("api", "OpenAI-compatible")
    return ProviderSpec(name, label, key_env=key_env, default_api_base=base, passthrough_stream=True, **facts)


# List prices as published on 2026-12-02, USD per token (LiteLLM's field names: router/pricing.py);
# model_info overrides any of them per deployment.
DEEPSEEK_PRICES = {
    "deepseek-chat": {
        "input_cost_per_token": 2.7e-07,
        "output_cost_per_token": 1.1e-06,
        "cache_read_input_token_cost": 7e-08,
        "max_output_tokens": 8192,
    },
    "deepseek-reasoner": {
        "input_cost_per_token": 5.5e-07,
        "output_cost_per_token": 2.19e-06,
        "output_cost_per_reasoning_token": 2.19e-06,
        "cache_read_input_token_cost": 1.4e-07,
        "max_output_tokens": 65536,
    },
}

COMPATIBLE = (
    _compatible(
        "deepseek",
        "DeepSeek",
        "DEEPSEEK_API_KEY",
        "https://api.deepseek.com/v1",
        otel_name="deepseek",
        prices=DEEPSEEK_PRICES,
    ),
    _compatible("groq", "Groq", "GROQ_API_KEY", "https://api.groq.com/openai/v1", otel_name="groq"),
    _compatible("together_ai", "Together AI", "TOGETHERAI_API_KEY", "https://api.together.xyz/v1"),
    _compatible(
        "fireworks_ai", "Fireworks AI", "FIREWORKS_AI_API_KEY", "https://api.fireworks.ai/inference/v1"
    ),
    _compatible("openrouter", "OpenRouter", "OPENROUTER_API_KEY", "https://openrouter.ai/api/v1"),
    _compatible("xai", "xAI", "XAI_API_KEY", "https://api.x.ai/v1", otel_name="x_ai"),
    _compatible(
        "perplexity",
        "Perplexity",
        "PERPLEXITYAI_API_KEY",
        "https://api.perplexity.ai",
        otel_name="perplexity",
    ),
    # Self-hosted servers: no key needed, base URL from the config.
    _compatible(
        "hosted_vllm",
        "vLLM server",
        "HOSTED_VLLM_API_KEY",
        None,
        key_optional=True,
        base_env=("HOSTED_VLLM_API_BASE",),  # LiteLLM's name
    ),
    _compatible(
        "openai_like",
        "Any OpenAI-compatible server",
        None,
        None,
        key_optional=True,
        aliases=("openai_compatible",),
    ),
    _compatible(
        "ollama_chat", "Ollama", None, "http://127.0.0.1:11434/v1", key_optional=True, aliases=("ollama",)
    ),
    _compatible("llamacpp", "llama.cpp server", None, "http://127.0.0.1:8080/v1", key_optional=True),
    _compatible("sglang", "SGLang server", None, None, key_optional=True),
)

# polyroute's own model workers serve the OpenAI API under /v1 (docs/serving_plane.md); the
# controller's directory reaches them through this adapter.
POLYROUTE_WORKER = _compatible(
    "polyroute_worker",
    "polyroute model worker",
    None,
    None,
    key_optional=True,
    worker_protocol="openai",
    worker_api_path="/v1",
    notes="registered workers (`polyroute worker`); reached through the controller",
)


def specs() -> list[ProviderSpec]:
    return [OPENAI, *COMPATIBLE, POLYROUTE_WORKER]


def adapters() -> list[OpenAICompatibleAdapter]:
    return [OpenAICompatibleAdapter(spec) for spec in specs()]
