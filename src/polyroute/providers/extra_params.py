"""Provider-specific request params a config may set in `litellm_params` as request defaults.

LiteLLM forwards any `litellm_params` key it does not know into the provider's request body, so a
misspelled `api_kye: sk-...` leaves the gateway as a body field. polyroute forwards only what a
provider documents: the OpenAI params (every provider), the extras listed here for the
deployment's provider, and anything under `litellm_params.extra_body` (the explicit
pass-through). Any other key is reported at start-up and never sent.

The lists come from each provider's API reference (vLLM's and SGLang's sampling and
structured-output params for self-hosted OpenAI-compatible servers; Mistral's `safe_prompt`,
`random_seed`; Fireworks', Together's, OpenRouter's and Perplexity's own fields; Anthropic's
`top_k`, `thinking`; Gemini's `top_k`, `safety_settings`).
"""

from __future__ import annotations

# What self-hosted OpenAI-compatible servers (vLLM, SGLang, llama.cpp, Ollama) accept beyond
# OpenAI's params.
_SELF_HOSTED = frozenset(
    {
        "top_k",
        "min_p",
        "repetition_penalty",
        "length_penalty",
        "use_beam_search",
        "min_tokens",
        "ignore_eos",
        "skip_special_tokens",
        "spaces_between_special_tokens",
        "include_stop_str_in_output",
        "stop_token_ids",
        "truncate_prompt_tokens",
        "guided_json",
        "guided_regex",
        "guided_choice",
        "guided_grammar",
        "guided_decoding_backend",
        "guided_whitespace_pattern",
        "structured_outputs",
        "chat_template",
        "chat_template_kwargs",
        "add_generation_prompt",
        "continue_final_message",
        "priority",
        "regex",
        "json_schema",
        "ebnf",
        "mirostat",
        "mirostat_tau",
        "mirostat_eta",
        "typical_p",
        "tfs_z",
        "repeat_penalty",
        "repeat_last_n",
        "num_ctx",
        "keep_alive",
    }
)

EXTRA_PARAMS: dict[str, frozenset[str]] = {
    # `openai/` with an api_base is how LiteLLM configs reach any OpenAI-compatible server.
    "openai": _SELF_HOSTED,
    "openai_like": _SELF_HOSTED,
    "hosted_vllm": _SELF_HOSTED,
    "sglang": _SELF_HOSTED,
    "llamacpp": _SELF_HOSTED,
    "ollama_chat": _SELF_HOSTED,
    "polyroute_worker": _SELF_HOSTED,
    "fastchat_worker": frozenset({"top_k", "repetition_penalty", "echo", "stop_token_ids"}),
    "mistral": frozenset({"safe_prompt", "random_seed", "prompt_mode"}),
    "fireworks_ai": frozenset(
        {"top_k", "min_p", "repetition_penalty", "context_length_exceeded_behavior", "mirostat_target"}
    ),
    "together_ai": frozenset({"top_k", "min_p", "repetition_penalty", "safety_model"}),
    "openrouter": frozenset(
        {"top_k", "min_p", "top_a", "repetition_penalty", "transforms", "models", "route", "provider"}
    ),
    "perplexity": frozenset(
        {
            "search_domain_filter",
            "return_images",
            "return_related_questions",
            "search_recency_filter",
            "search_mode",
            "top_k",
        }
    ),
    "deepseek": frozenset({"thinking"}),
    "groq": frozenset({"reasoning_format"}),
    "xai": frozenset({"search_parameters"}),
    "nvidia_nim": frozenset({"top_k", "repetition_penalty"}),
    "anthropic": frozenset({"top_k", "thinking"}),
    "gemini": frozenset({"top_k", "safety_settings", "thinking"}),
}


def documented_extras(provider: str) -> frozenset[str]:
    """The provider-specific params a deployment of `provider` may take as defaults."""
    return EXTRA_PARAMS.get(provider, frozenset())
