"""The vertex provider's facts (its `ProviderSpec`), kept apart from the adapter's code: the
registry reads every provider's spec at start-up and imports an adapter only for the
deployments that use it (providers/registry.py)."""

from __future__ import annotations

from polyroute.providers.gemini.spec import PRICES as GEMINI_PRICES
from polyroute.providers.spec import ProviderSpec

# List prices as published on 2026-12-02, USD per token (the same as Google's and Anthropic's own
# APIs for these models); model_info overrides any of them per deployment.
PRICES = {
    # Gemini on Vertex costs what it costs on Google's own API: one table, the Gemini spec's.
    **{name: GEMINI_PRICES[name] for name in ("gemini-2.5-flash", "gemini-2.5-pro")},
    "claude-sonnet-4-5@20250929": {
        "input_cost_per_token": 3e-06,
        "output_cost_per_token": 1.5e-05,
        "cache_read_input_token_cost": 3e-07,
        "cache_creation_input_token_cost": 3.75e-06,
        "max_output_tokens": 64000,
    },
    "claude-3-5-haiku@20241022": {
        "input_cost_per_token": 8e-07,
        "output_cost_per_token": 4e-06,
        "max_output_tokens": 8192,
    },
    "text-embedding-005": {"input_cost_per_token": 2.5e-08},
}

SPEC = ProviderSpec(
    name="vertex_ai",
    label="Google Vertex AI",
    api="Vertex AI generateContent, Anthropic rawPredict, predict",
    aliases=("vertex_ai_beta",),
    key_optional=True,  # OAuth tokens from google-auth, not an API key
    default_api_base="https://{location}-aiplatform.googleapis.com",
    capabilities=frozenset({"chat", "embeddings", "tools", "vision", "reasoning"}),
    setting_prefixes=("vertex_",),
    route_env=("GCP_PROJECT_ID", "VERTEXAI_PROJECT"),
    setting_env=(
        ("vertex_project", ("GCP_PROJECT_ID", "VERTEXAI_PROJECT")),
        ("vertex_location", ("GCP_LOCATION", "VERTEXAI_LOCATION")),
    ),
    fastchat_api_types=("vertex", "anthropic_message_vertex"),
    otel_name="gcp.vertex_ai",
    docs="docs/providers/vertex.md",
    notes=(
        "google-auth: `vertex_credentials` or `GOOGLE_APPLICATION_CREDENTIALS` / ADC; project: "
        "`vertex_project` or `GCP_PROJECT_ID`; location: `vertex_location` or `GCP_LOCATION`; "
        "install extra `vertex`"
    ),
    prices=PRICES,
)
