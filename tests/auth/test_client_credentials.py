"""The per-model policy: which credential params a client may set, matched on normalised values,
and the rule that the operator's key never goes to a client-chosen URL."""

from __future__ import annotations

import pytest

from polyroute.auth.client_credentials import ClientValue, compile_policy, parse_client_params
from polyroute.errors import InvalidRequestError, RefusedParamError
from polyroute.providers.base import ProviderCall
from polyroute.providers.registry import get_adapter
from polyroute.router.client_credentials import apply_client_params, check_allowed
from polyroute.router.deployment import Deployment
from polyroute.secrets import Secret

OPERATOR_KEY = "sk-operator-0123456789abcdef"
CLIENT_KEY = "sk-client-fedcba9876543210"
# The seed's regex (LiteLLM docs), as an operator would paste it.
SEED_REGEX = r"^https://litellm.*direct\.fireworks\.ai/v1$"


def deployment(entries, opt_in: bool = False, **call) -> Deployment:
    policy, warnings = compile_policy(entries, opt_in, "model 'm'")
    assert warnings == []
    adapter = get_adapter("openai")
    assert adapter is not None
    defaults = {
        "api_base": "https://operator.example/v1",
        "api_key": Secret(OPERATOR_KEY),
        "organization": "org-operator",
        "extra_headers": {"x-operator-auth": "operator-header-secret"},
        "extras": {"aws_secret_access_key": "operator-aws-secret", "mock_seed": 1},
    }
    return Deployment(
        id="d1",
        model_name="m",
        adapter=adapter,
        call=ProviderCall(provider="openai", model="gpt-x", **{**defaults, **call}),
        client_policy=policy,
    )


def params(**body):
    return parse_client_params(body, list(body))


def test_names_and_regexes_compile_and_unknown_names_warn():
    policy, warnings = compile_policy(
        ["api_key", {"api_base": SEED_REGEX}, "base_url", "vertex_ai_location", "made_up"], False, "model 'm'"
    )
    assert policy is not None
    assert set(policy.patterns) == {"api_key", "api_base", "vertex_location"}
    assert policy.patterns["api_key"] == ()
    assert [p.pattern for p in policy.patterns["api_base"]] == [SEED_REGEX]  # a bare name never widens it
    assert warnings == [
        "model 'm': configurable_clientside_auth_params entry 'made_up' is not a credential param "
        "polyroute knows; ignored"
    ]
    assert compile_policy(None, False, "m") == (None, [])


@pytest.mark.parametrize(
    ("entries", "opt_in", "message"),
    [
        ([{"api_base": "(unclosed"}], False, "invalid regex for 'api_base'"),
        ([{"api_base": 5}], False, "must be a regex string"),
        ([5], False, "entries must be names"),
        (["api_base"], True, "needs a regex for api_base"),
        ([{"api_key": "sk-.*"}], True, "needs a regex for api_base"),
        (None, True, "needs a regex for api_base"),
    ],
)
def test_bad_policies_are_config_errors(entries, opt_in, message):
    with pytest.raises(ValueError, match=message):
        compile_policy(entries, opt_in, "model 'm'")


def test_allowed_params_pass_and_the_client_key_replaces_everything_of_the_operator():
    d = deployment(["api_key", {"api_base": SEED_REGEX}, "api_version", "vertex_location"])
    sent = params(
        api_key=CLIENT_KEY,
        api_base="HTTPS://LiteLLM-dev.direct.fireworks.ai/v1/",
        api_version="2024-10-21",
        vertex_ai_location="us-east1",
    )
    check_allowed(d, sent, "m")
    used = apply_client_params(d, sent).call
    assert used.api_base == "https://litellm-dev.direct.fireworks.ai/v1"
    assert used.api_key is not None and used.api_key.reveal() == CLIENT_KEY
    assert used.client_url_param == "api_base"
    assert used.api_version == "2024-10-21"
    assert used.organization is None and used.extra_headers == {}
    assert used.extras == {"mock_seed": 1, "vertex_location": "us-east1"}
    assert d.call.api_key is not None and d.call.api_key.reveal() == OPERATOR_KEY  # the original is untouched


def test_a_client_key_alone_keeps_the_operator_base_and_headers():
    d = deployment(["api_key"])
    sent = params(api_key=CLIENT_KEY)
    check_allowed(d, sent, "m")
    used = apply_client_params(d, sent).call
    assert used.api_base == "https://operator.example/v1" and used.client_url_param is None
    assert used.api_key.reveal() == CLIENT_KEY and used.organization is None
    assert used.extra_headers == {"x-operator-auth": "operator-header-secret"}


@pytest.mark.parametrize(
    "bypass",
    [
        "https://litellm-dev.direct.fireworks.ai/v1\n",
        "https://litellm.evil.example/x.direct.fireworks.ai/v1#",
        "https://litellm.direct.fireworks.ai@evil.example/v1",
        "https://evil.example#litellm.direct.fireworks.ai/v1",
        "https://litellm.direct.fireworks.ai/v1/../../evil/v1",
        "https://litellm%2edirect.fireworks.ai/v1",
        "https://litellm.direct.fireworks.ai/v1?x=https://litellm.direct.fireworks.ai/v1",
    ],
)
def test_regex_bypass_spellings_are_refused_before_matching(bypass):
    d = deployment(["api_key", {"api_base": SEED_REGEX}])
    with pytest.raises(InvalidRequestError) as caught:
        check_allowed(d, params(api_key=CLIENT_KEY, api_base=bypass), "m")
    assert caught.value.param == "api_base"


def test_values_outside_the_pattern_are_refused_with_403():
    d = deployment(["api_key", {"api_base": r"^https://api\.example\.com/v1$"}])
    for url in (
        "https://api.example.com.evil.example/v1",
        "https://api.example.com/v2",
        "http://api.example.com/v1",
    ):
        with pytest.raises(RefusedParamError) as caught:
            check_allowed(d, params(api_key=CLIENT_KEY, api_base=url), "m")
        assert caught.value.status == 403 and caught.value.param == "api_base"
    # fullmatch: a pattern without anchors still has to match the whole value
    loose = deployment(["api_key", {"api_base": r"https://api\.example\.com/v1"}])
    with pytest.raises(RefusedParamError):
        check_allowed(loose, params(api_key=CLIENT_KEY, api_base="https://api.example.com/v1/x"), "m")
    check_allowed(loose, params(api_key=CLIENT_KEY, api_base="https://API.example.com:443/v1/"), "m")


def test_params_the_model_does_not_list_are_refused_naming_them():
    d = deployment(["api_key"])
    for body in (
        {"api_base": "https://a.example/v1"},
        {"base_url": "https://a.example/v1"},
        {"vertex_project": "project-1"},
    ):
        with pytest.raises(RefusedParamError) as caught:
            check_allowed(d, params(api_key=CLIENT_KEY, **body), "m")
        assert caught.value.param == next(iter(body))
    with pytest.raises(RefusedParamError) as caught:
        check_allowed(deployment(None), params(api_key=CLIENT_KEY), "m")
    assert caught.value.param == "api_key"


def test_aliases_are_one_setting():
    d = deployment(["api_key", "base_url"])
    check_allowed(d, params(api_key=CLIENT_KEY, api_base="https://a.example/v1"), "m")
    with pytest.raises(InvalidRequestError, match="only one of"):
        params(api_base="https://a.example/v1", base_url="https://b.example/v1")


def test_a_client_base_needs_the_client_key_while_the_operator_holds_one():
    d = deployment(["api_key", "api_base"])
    with pytest.raises(InvalidRequestError) as caught:
        check_allowed(d, params(api_base="https://a.example/v1"), "m")
    assert caught.value.status == 400 and caught.value.param == "api_key"
    # Nothing to leak: a keyless deployment may be pointed elsewhere without a key.
    keyless = deployment(["api_base"], api_key=None, extra_headers={}, extras={})
    sent = params(api_base="https://a.example/v1")
    check_allowed(keyless, sent, "m")
    assert apply_client_params(keyless, sent).call.api_key is None
    # Headers and credential settings count as credentials too.
    headers_only = deployment(["api_base"], api_key=None, extras={})
    with pytest.raises(InvalidRequestError):
        check_allowed(headers_only, sent, "m")


def test_the_operator_key_goes_to_a_client_base_only_by_opt_in_and_a_pinning_regex():
    d = deployment([{"api_base": r"^https://[a-z0-9-]+\.direct\.example\.com/v1$"}], opt_in=True)
    sent = params(api_base="https://tenant-1.direct.example.com/v1")
    check_allowed(d, sent, "m")
    used = apply_client_params(d, sent).call
    assert used.api_key.reveal() == OPERATOR_KEY and used.extra_headers  # the operator asked for this
    # The seed's regex lets `.*` run into the path: the host is not pinned, so no operator key.
    seed = deployment([{"api_base": SEED_REGEX}], opt_in=True)
    attack = params(api_base="https://litellm.evil.example/direct.fireworks.ai/v1")
    with pytest.raises(RefusedParamError, match="does not pin the host"):
        check_allowed(seed, attack, "m")
    # ...while the same regex is fine when the client brings its own key.
    check_allowed(
        deployment(["api_key", {"api_base": SEED_REGEX}]),
        params(api_key=CLIENT_KEY, api_base="https://litellm.evil.example/direct.fireworks.ai/v1"),
        "m",
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"api_key": "sk-with\nnewline"}, "api_key"),
        ({"api_key": "sk with space"}, "api_key"),
        ({"api_key": ""}, "api_key"),
        ({"api_key": 12345}, "api_key"),
        ({"api_version": "2024-10-21/../../x"}, "api_version"),
        ({"api_version": "v1?x=1"}, "api_version"),
        ({"vertex_project": "p\r\nX: y"}, "vertex_project"),
        ({"organization": "a" * 200}, "organization"),
        ({"aws_region_name": ["us-east-1"]}, "aws_region_name"),
        ({"vertex_credentials": 5}, "vertex_credentials"),
    ],
)
def test_values_are_checked_before_any_policy(body, param):
    with pytest.raises(InvalidRequestError) as caught:
        params(**body)
    assert caught.value.status == 400 and caught.value.param == param


def test_client_values_never_show_secrets():
    sent = params(api_key=CLIENT_KEY, aws_secret_access_key="aws-secret-value-123", vertex_project="proj-1")
    assert CLIENT_KEY not in repr(sent) and "aws-secret-value-123" not in repr(sent)
    assert "proj-1" in repr(sent)
    assert sorted(sent.secret_values()) == sorted([CLIENT_KEY, "aws-secret-value-123"])
    assert repr(ClientValue("api_key", Secret(CLIENT_KEY))) == "ClientValue(api_key=****)"
