"""`metadata.allow_client_side_credentials` on keys, teams and users is a boolean (issue 13):
"false", 0 or null used to leave client-side credentials on, since only JSON false turned the
switch off. Every admin route that takes metadata now answers 400 naming the field instead."""

from __future__ import annotations

import pytest

from tests.keys.conftest import Admin

FIELD = "metadata.allow_client_side_credentials"


@pytest.mark.parametrize("value", ["false", "False", 0, 1, None, "no", [], {}])
def test_non_boolean_switches_are_refused_on_every_route(keys_gateway, admin: Admin, value) -> None:
    key = admin.new_key()["key"]
    team = admin.ok("POST", "/team/new", team_alias="switch-team")["team_id"]
    user = admin.ok("POST", "/user/new", user_id=f"switch-user-{abs(hash(repr(value)))}")["user_id"]
    metadata = {"allow_client_side_credentials": value}
    calls = [
        ("/key/generate", {}),
        ("/key/update", {"key": key}),
        ("/team/new", {"team_alias": "t"}),
        ("/team/update", {"team_id": team}),
        ("/user/new", {"user_id": "never-made"}),
        ("/user/update", {"user_id": user}),
    ]
    for path, body in calls:
        response = admin.post(path, **body, metadata=metadata)
        assert response.status_code == 400, (path, response.text)
        error = response.json()["error"]
        assert error["param"] == FIELD and "true or false" in error["message"], (path, error)


def test_booleans_are_stored_and_other_metadata_is_untouched(keys_gateway, admin: Admin) -> None:
    made = admin.new_key(metadata={"allow_client_side_credentials": False, "owner": "x"})
    info = admin.ok("GET", "/key/info", key=made["key"])
    assert info["info"]["metadata"] == {"allow_client_side_credentials": False, "owner": "x"}
    updated = admin.post("/key/update", key=made["key"], metadata={"allow_client_side_credentials": True})
    assert updated.status_code == 200, updated.text
    assert admin.new_key(metadata={"owner": "no switch at all"})["key"]
