"""Admin API details a LiteLLM user or an attacker with a virtual key notices (issue 13, small
ones): LiteLLM's key header on admin routes, the answer to a custom key that exists, user roles
normalised, the daily spend range bounded, readiness details for the master key only."""

from __future__ import annotations

import httpx

from tests.conftest import MASTER_KEY
from tests.keys.conftest import Admin


def test_litellm_key_header_works_on_admin_routes(keys_gateway) -> None:
    """LiteLLM clients send the gateway key in x-litellm-api-key (Authorization may carry
    something else); it works on the admin routes as on the model routes."""
    for value in (MASTER_KEY, f"Bearer {MASTER_KEY}"):
        response = httpx.get(
            keys_gateway.url + "/key/list",
            headers={"x-litellm-api-key": value, "authorization": "Bearer something-for-another-hop"},
        )
        assert response.status_code == 200, response.text
    wrong = httpx.get(keys_gateway.url + "/key/list", headers={"x-litellm-api-key": "sk-wrong-0000000000"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"


def test_a_custom_key_that_exists_is_named_as_such(keys_gateway, admin: Admin) -> None:
    own = "sk-my-own-key-for-the-conflict-test-01"
    admin.new_key(key=own)
    again = admin.post("/key/generate", key=own)
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["param"] == "key" and "None" not in error["message"] and "already exists" in error["message"]
    assert own not in again.text
    # An alias clash still names the alias.
    admin.new_key(key_alias="taken-alias")
    clash = admin.post("/key/generate", key_alias="taken-alias")
    assert clash.status_code == 409 and clash.json()["error"]["param"] == "key_alias"
    assert "taken-alias" in clash.json()["error"]["message"]


def test_user_roles_are_normalised_and_validated(keys_gateway, admin: Admin) -> None:
    # "Proxy_Admin " is LiteLLM's proxy_admin: refused like it, not stored as given.
    for role in ("Proxy_Admin ", " ORG_ADMIN"):
        response = admin.post("/user/new", user_id=f"spelled-{role.strip()}", user_role=role)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == "user_role"
    made = admin.ok("POST", "/user/new", user_id="spelled-internal", user_role=" Internal_User ")
    assert made["user_role"] == "internal_user"
    assert (
        admin.ok("GET", "/user/info", user_id="spelled-internal")["user_info"]["user_role"] == "internal_user"
    )
    unknown = admin.post("/user/update", user_id="spelled-internal", user_role="superuser")
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "user_role"


def test_daily_spend_logs_range_is_bounded(keys_gateway, admin: Admin) -> None:
    year = admin.get("/spend/logs", start_date="2024-01-01", end_date="2024-12-31")
    assert year.status_code == 200 and len(year.json()) == 366  # a leap year, every day listed
    too_long = admin.get("/spend/logs", start_date="2024-01-01", end_date="2025-01-01")
    assert too_long.status_code == 400 and too_long.json()["error"]["param"] == "end_date"
    huge = admin.get("/spend/logs", start_date="0001-01-01", end_date="9999-12-31")
    assert huge.status_code == 400 and huge.json()["error"]["param"] == "end_date"
    backwards = admin.get("/spend/logs", start_date="2024-02-01", end_date="2024-01-01")
    assert backwards.status_code == 400 and backwards.json()["error"]["param"] == "end_date"


def test_readiness_details_are_for_the_master_key_only(keys_gateway, admin: Admin) -> None:
    key = admin.new_key(models=["mock-gpt"])["key"]
    as_key = httpx.get(keys_gateway.url + "/health/readiness", headers={"authorization": f"Bearer {key}"})
    assert as_key.status_code == 200 and as_key.json() == {"status": "healthy"}
    as_master = admin.ok("GET", "/health/readiness")
    assert as_master["status"] == "healthy"
    assert {"models", "db", "cache", "version"} <= set(as_master)
