"""The gateway entries for the cloud providers (issue 15's "cloud" part: AWS Bedrock, Google
Vertex AI), pointed at their fakes: the shared gateway (tests/conftest.py) adds them to its
model list and `MATRIX_MODELS` beside tests/api_providers.py's, so the parity matrix of
tests/server/test_providers_e2e.py runs over them as over the others. Their own e2e files
(test_bedrock_e2e.py, test_vertex_e2e.py) cover signing, tokens, errors and throttling."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.bedrock import FakeBedrock
from tests.fakes.vertex import FakeVertex, service_account_info

AWS_KEY_ID = "AKIAFAKEMATRIX000001"
AWS_SECRET = "matrix/fake/aws/secret+0123456789abcdefgh"
VERTEX_PROJECT = "fake-matrix-project"
#: the Vertex fake's service-account key: made once, so the config can name it before the fake runs
VERTEX_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SECRETS = (AWS_SECRET,)

MODELS = {
    "bedrock": ("bedrock-claude", "fake_bedrock"),
    "vertex_ai": ("vertex-gemini", "fake_vertex"),
    "vertex_claude": ("vertex-claude", "fake_vertex"),
}
FAKES = ("fake_bedrock", "fake_vertex")


def fake_bedrock() -> FakeBedrock:
    return FakeBedrock(keys={AWS_KEY_ID: (AWS_SECRET, None)})


def fake_vertex() -> FakeVertex:
    return FakeVertex(project=VERTEX_PROJECT, key=VERTEX_KEY)


def model_list(urls: dict[str, str]) -> list[dict[str, Any]]:
    """Config entries; `urls` maps each fake's fixture name to its base URL."""
    import json

    vertex = {
        "api_base": urls["fake_vertex"],
        "vertex_project": VERTEX_PROJECT,
        "vertex_credentials": json.dumps(
            service_account_info(urls["fake_vertex"], VERTEX_KEY, VERTEX_PROJECT)
        ),
    }
    return [
        {
            "model_name": "bedrock-claude",
            "litellm_params": {
                "model": "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0",
                "api_base": urls["fake_bedrock"],
                "aws_region_name": "us-east-1",
                "aws_access_key_id": AWS_KEY_ID,
                "aws_secret_access_key": AWS_SECRET,
            },
        },
        {"model_name": "vertex-gemini", "litellm_params": {"model": "vertex_ai/gemini-2.5-flash", **vertex}},
        {
            "model_name": "vertex-claude",
            "litellm_params": {"model": "vertex_ai/claude-sonnet-4-5@20250929", **vertex},
        },
    ]
