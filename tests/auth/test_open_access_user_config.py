"""user_config is on by default for authenticated callers (issue 12). A gateway without a master
key serving remote callers (--allow-unauthenticated) has none: their user_config is refused
unless general_settings.allow_user_config is explicitly true (it would make the gateway an open
relay to any public URL). Loopback callers of such a gateway keep it, as they keep everything.

Remote callers cannot be produced over loopback HTTP, so the authenticator is called with a
documentation address and the request scope with the resulting caller."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import yaml

from polyroute.auth.authenticator import Authenticator
from polyroute.auth.context import auth_context_for
from polyroute.auth.principal import ANONYMOUS, OPEN_ACCESS
from polyroute.config.loader import load_config
from polyroute.errors import RefusedParamError
from polyroute.server.client_scope import client_scope
from polyroute.server.state import AppState

REMOTE, LOOPBACK = "203.0.113.7", "127.0.0.1"
USER_CONFIG = {
    "model_list": [
        {
            "model_name": "mine",
            "litellm_params": {
                "model": "openai/gpt-4o-mini",
                "api_key": "sk-client-000000000000",
                "api_base": "https://llm.example.com/v1",
            },
        }
    ]
}


def state_with(tmp_path, **general) -> AppState:
    path = tmp_path / "config.yaml"
    config = {
        "model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m"}}],
        "general_settings": general,
    }
    path.write_text(yaml.safe_dump(config))
    return AppState.build(load_config(path, {"POLYROUTE_DATA_DIR": str(tmp_path / "data")}), open_access=True)


async def caller(host: str):
    principal = await Authenticator(None, open_access=True, keys=None).authenticate({}, host)  # type: ignore[arg-type]
    return principal, auth_context_for(principal)


async def test_remote_callers_of_an_open_gateway_are_not_authenticated() -> None:
    principal, auth = await caller(REMOTE)
    assert principal.role == OPEN_ACCESS and principal.is_admin  # what an open gateway always allowed
    assert auth.authenticated is False and auth.principal == "open"
    principal, auth = await caller(LOOPBACK)
    assert principal.role == ANONYMOUS and auth.authenticated is True


@pytest.mark.parametrize(("setting", "remote_allowed"), [({}, False), ({"allow_user_config": True}, True)])
async def test_user_config_from_remote_unauthenticated_callers_needs_the_explicit_switch(
    tmp_path, setting, remote_allowed
) -> None:
    state = state_with(tmp_path, **setting)
    body = {"model": "mine", "messages": [{"role": "user", "content": "hi"}], "user_config": USER_CONFIG}
    for host in (REMOTE, LOOPBACK):
        _, auth = await caller(host)
        request = SimpleNamespace(auth=auth, request_id="req-1")
        if host == REMOTE and not remote_allowed:
            with pytest.raises(RefusedParamError) as caught:
                client_scope(request, state, dict(body))  # type: ignore[arg-type]
            assert caught.value.param == "user_config" and "allow_user_config: true" in caught.value.message
        else:
            assert client_scope(request, state, dict(body)) is not None  # type: ignore[arg-type]
