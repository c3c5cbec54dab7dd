"""schemathesis against the admin API's own OpenAPI schema, on a real loopback gateway with the
master key: generated requests (valid and not) to every admin route must never get a 5xx, and
what is answered must match the schema the API publishes (status codes, content types, bodies)."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from tests.conftest import MASTER_KEY
from tests.gateway import GatewayServer

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


@pytest.fixture(scope="module")
def admin_schema(tmp_path_factory):
    config = {
        "model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m"}}],
        "general_settings": {"master_key": MASTER_KEY, "proxy_batch_write_at": 0.1},
    }
    with GatewayServer(config, tmp_path_factory.mktemp("admin-schema")) as gateway:
        # a key, a team and a user exist, so lookups of real ids reach past "not found"
        for path, body in (("/team/new", {"team_alias": "t"}), ("/user/new", {"user_id": "u1"}),
                           ("/key/generate", {"key_alias": "k"})):
            assert httpx.post(gateway.url + path, json=body, headers=AUTH).status_code == 200
        schema = schemathesis.openapi.from_url(gateway.url + "/openapi.json", headers=AUTH)
        schema.config.base_url = gateway.url  # noqa: B010
        yield schema


def test_out_of_range_integers_are_400s_naming_the_field(admin_schema):
    """What schemathesis found as 500s (SQLite's OverflowError): a page past 64-bit offsets and
    limits past 64-bit integers."""
    base = admin_schema.config.base_url
    answer = httpx.get(base + "/key/list", params={"page": 3080943725266740224}, headers=AUTH)
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "page"
    answer = httpx.get(base + "/user/list", params={"page_size": 1000}, headers=AUTH)
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "page_size"
    for path in ("/team/new", "/key/generate", "/user/new"):
        answer = httpx.post(base + path, json={"rpm_limit": 2**67}, headers=AUTH)
        assert answer.status_code == 400, (path, answer.text)
        assert "rpm_limit" in answer.text


CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda m: m.value)
def test_admin_api_follows_its_schema_and_never_fails(admin_schema, mode):
    """Every operation, a bounded number of generated cases each (schemathesis's pytest plugin
    is not used: its fixture loader does not run on this pytest)."""
    operations = [result.ok() for result in admin_schema.get_all_operations()]
    assert len(operations) >= 20  # keys, teams, users, spend: all published
    for operation in operations:

        @given(operation.as_strategy(generation_mode=mode))
        @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call(case):
            case.call_and_validate(headers=AUTH, checks=CHECKS)

        try:
            call()
        except Unsatisfiable:  # an operation with nothing to get wrong (no params, no body)
            assert mode is schemathesis.GenerationMode.NEGATIVE
