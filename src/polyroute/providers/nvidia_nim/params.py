"""Which OpenAI chat params each NVIDIA NIM model takes, from NVIDIA's API reference
(docs.api.nvidia.com/nim/reference, as LiteLLM encodes it): most models take the usual sampling
params, tools and response_format; a few documented models take fewer. A param a model does not
take follows drop_params (refused with a 400 naming it, or dropped), as for any provider.
"""

from __future__ import annotations

BASE = frozenset({"model", "messages", "stream", "stream_options", "n", "user"})
DEFAULT = BASE | {
    "temperature",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "seed",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "logprobs",
    "top_logprobs",
}
#: documented exceptions, by NIM model id
BY_MODEL: dict[str, frozenset[str]] = {
    **dict.fromkeys(
        ("google/recurrentgemma-2b", "google/gemma-2-27b-it", "google/gemma-2-9b-it", "gemma-2-9b-it"),
        BASE | {"temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed"},
    ),
    "nvidia/nemotron-4-340b-instruct": BASE | {"temperature", "top_p", "max_tokens", "max_completion_tokens"},
    "nvidia/nemotron-4-340b-reward": BASE,
    "google/codegemma-1.1-7b": DEFAULT
    - {"seed", "tools", "tool_choice", "parallel_tool_calls", "response_format"},
}


def supported_params(model: str) -> frozenset[str]:
    return BY_MODEL.get(model, DEFAULT)
