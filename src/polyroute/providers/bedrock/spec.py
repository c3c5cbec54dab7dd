"""The bedrock provider's facts (its `ProviderSpec`), kept apart from the adapter's code: the
registry reads every provider's spec at start-up and imports an adapter only for the
deployments that use it (providers/registry.py)."""

from __future__ import annotations

from polyroute.providers.bedrock.eventstream import EventStreamDecoder
from polyroute.providers.spec import ProviderSpec

# List prices (on-demand, us-east-1) as published on 2026-12-02, USD per token; model_info
# overrides any of them per deployment.
PRICES = {
    "anthropic.claude-3-5-haiku-20241022-v1:0": {
        "input_cost_per_token": 8e-07,
        "output_cost_per_token": 4e-06,
        "max_output_tokens": 8192,
    },
    "anthropic.claude-sonnet-4-5-20250929-v1:0": {
        "input_cost_per_token": 3e-06,
        "output_cost_per_token": 1.5e-05,
        "cache_read_input_token_cost": 3e-07,
        "cache_creation_input_token_cost": 3.75e-06,
        "max_output_tokens": 64000,
    },
    "amazon.nova-lite-v1:0": {
        "input_cost_per_token": 6e-08,
        "output_cost_per_token": 2.4e-07,
        "max_output_tokens": 10000,
    },
    "amazon.nova-pro-v1:0": {
        "input_cost_per_token": 8e-07,
        "output_cost_per_token": 3.2e-06,
        "max_output_tokens": 10000,
    },
    "meta.llama3-1-70b-instruct-v1:0": {
        "input_cost_per_token": 9.9e-07,
        "output_cost_per_token": 9.9e-07,
        "max_output_tokens": 2048,
    },
}

SPEC = ProviderSpec(
    name="bedrock",
    label="AWS Bedrock",
    api="Bedrock Converse",
    key_optional=True,  # SigV4 credentials, not an API key
    default_api_base="https://bedrock-runtime.{region}.amazonaws.com",
    capabilities=frozenset({"chat", "tools", "vision"}),
    stream_decoder=EventStreamDecoder,
    setting_prefixes=("aws_",),
    route_env=("AWS_ACCESS_KEY_ID", "AWS_PROFILE"),
    setting_env=(("aws_region_name", ("AWS_REGION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION")),),
    otel_name="aws.bedrock",
    docs="docs/providers/bedrock.md",
    notes=(
        "SigV4 with botocore's credential chain (`aws_*` params, `AWS_ACCESS_KEY_ID`, profiles, roles); "
        "region: `aws_region_name` or `AWS_REGION_NAME` / `AWS_REGION`; install extra `bedrock`"
    ),
    prices=PRICES,
)
