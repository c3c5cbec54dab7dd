"""The built-in providers. Adding a provider is one module plus one line here.

OpenAI-compatible services differ only in name, key variable and base URL, so they are
instances of one adapter. Names follow LiteLLM's provider prefixes so configs carry over.
"""

from __future__ import annotations

from polyroute.providers.azure import AzureOpenAIAdapter
from polyroute.providers.mock import MockAdapter
from polyroute.providers.openai_compat import OpenAICompatibleAdapter
from polyroute.providers.registry import register

# name, key env var, default base URL, key optional
_OPENAI_COMPATIBLE: list[tuple[str, str | None, str | None, bool]] = [
    ("mistral", "MISTRAL_API_KEY", "https://api.mistral.ai/v1", False),
    ("nvidia_nim", "NVIDIA_API_KEY", "https://integrate.api.nvidia.com/v1", False),
    ("deepseek", "DEEPSEEK_API_KEY", "https://api.deepseek.com/v1", False),
    ("groq", "GROQ_API_KEY", "https://api.groq.com/openai/v1", False),
    ("together_ai", "TOGETHERAI_API_KEY", "https://api.together.xyz/v1", False),
    ("fireworks_ai", "FIREWORKS_AI_API_KEY", "https://api.fireworks.ai/inference/v1", False),
    ("openrouter", "OPENROUTER_API_KEY", "https://openrouter.ai/api/v1", False),
    ("xai", "XAI_API_KEY", "https://api.x.ai/v1", False),
    ("perplexity", "PERPLEXITYAI_API_KEY", "https://api.perplexity.ai", False),
    # Self-hosted servers: no key, base URL from the config.
    ("hosted_vllm", "HOSTED_VLLM_API_KEY", None, True),
    ("openai_like", None, None, True),
    ("ollama_chat", None, "http://127.0.0.1:11434/v1", True),
    ("llamacpp", None, "http://127.0.0.1:8080/v1", True),
    ("sglang", None, None, True),
]


def _register_all() -> None:
    register(OpenAICompatibleAdapter(), "text-completion-openai", "custom_openai")
    register(AzureOpenAIAdapter(), "azure_openai")
    register(MockAdapter())
    for name, env_key, base, key_optional in _OPENAI_COMPATIBLE:
        aliases = {
            "nvidia_nim": ("nvidia",),
            "ollama_chat": ("ollama",),
            "openai_like": ("openai_compatible",),
        }
        register(OpenAICompatibleAdapter(name, env_key, base, key_optional), *aliases.get(name, ()))
    # Translating adapters live in their own packages.
    from polyroute.providers.anthropic import AnthropicAdapter
    from polyroute.providers.gemini import GeminiAdapter

    register(AnthropicAdapter())
    register(GeminiAdapter(), "google_ai_studio")
    # Model workers registered with the controller: FastChat's worker protocol, and polyroute's
    # own workers, which serve the OpenAI API (see docs/serving_plane.md).
    from polyroute.providers.fastchat_worker import FastChatWorkerAdapter

    register(FastChatWorkerAdapter())
    register(OpenAICompatibleAdapter("polyroute_worker", None, None, True))


_register_all()
