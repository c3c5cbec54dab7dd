"""A request's user_config is parsed once: admission parses it to price a budget reservation
(server/client_scope.py's `budget_deployments`) and the route's scope reuses that parse from the
request's account instead of splitting the body field again."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import polyroute.server.client_scope as client_scope_module
from polyroute.server.client_scope import budget_deployments, client_scope
from tests.auth.test_open_access_user_config import LOOPBACK, USER_CONFIG, caller, state_with

BODY = {"model": "mine", "messages": [{"role": "user", "content": "hi"}], "user_config": USER_CONFIG}


async def test_the_scope_reuses_the_parse_admission_made(tmp_path, monkeypatch) -> None:
    state = state_with(tmp_path)
    _, auth = await caller(LOOPBACK)
    group, parsed = budget_deployments(state, auth, dict(BODY))
    assert parsed is not None and [d.model_name for d in group] == ["mine"]

    def parse_again(*args):
        raise AssertionError("user_config parsed a second time")

    monkeypatch.setattr(client_scope_module, "split_user_config", parse_again)
    request = SimpleNamespace(auth=auth, request_id="req-1", account=SimpleNamespace(user_config=parsed))
    scope = client_scope(request, state, dict(BODY))  # type: ignore[arg-type]
    assert scope is not None and [d.model_name for d in scope.router.resolve("mine")] == ["mine"]
    # Without a parse at admission (a key without a budget), the scope parses it itself.
    unparsed = SimpleNamespace(auth=auth, request_id="req-2", account=SimpleNamespace(user_config=None))
    with pytest.raises(AssertionError, match="parsed a second time"):
        client_scope(unparsed, state, dict(BODY))  # type: ignore[arg-type]


async def test_a_request_without_user_config_has_nothing_to_reuse(tmp_path) -> None:
    state = state_with(tmp_path)
    _, auth = await caller(LOOPBACK)
    group, parsed = budget_deployments(state, auth, {"model": "m", "messages": []})
    assert parsed is None and [d.model_name for d in group] == ["m"]
