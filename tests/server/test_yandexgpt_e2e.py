"""YandexGPT through the gateway with the openai SDK: what the parity matrix of
test_providers_e2e.py does not cover (text-only refusal, the folder, documented errors, errors
inside a JSON-lines stream)."""

from __future__ import annotations

import openai
import pytest

from polyroute.config.loader import load_config
from tests import api_providers
from tests.fakes.base import Error, Reply
from tests.gateway import GatewayServer

QUESTION = [{"role": "user", "content": "Привет"}]


def test_folder_and_api_key_reach_yandex(gateway, fake_yandexgpt):
    gateway.client().chat.completions.create(model="yandexgpt", messages=QUESTION, max_tokens=30)
    sent = fake_yandexgpt.requests[-1]
    assert sent.json["modelUri"] == f"gpt://{api_providers.YANDEX_FOLDER}/yandexgpt/latest"
    assert sent.json["completionOptions"] == {"stream": False, "maxTokens": "30"}
    assert sent.headers["authorization"] == f"Api-Key {api_providers.YANDEX_KEY}"
    assert sent.headers["x-folder-id"] == api_providers.YANDEX_FOLDER


def test_stream_sends_only_what_each_line_adds(gateway, fake_yandexgpt):
    fake_yandexgpt.script(Reply(text="раз два три четыре", prompt_tokens=9, completion_tokens=4))
    stream = gateway.client().chat.completions.create(
        model="yandexgpt", messages=QUESTION, stream=True, stream_options={"include_usage": True}
    )
    pieces, usage = [], None
    for chunk in stream:
        usage = chunk.usage or usage
        pieces += [c.delta.content for c in chunk.choices if c.delta.content]
    assert pieces == ["раз ", "два ", "три ", "четыре"]
    assert (usage.prompt_tokens, usage.completion_tokens) == (9, 4)


def test_images_are_refused_naming_the_part(gateway, fake_yandexgpt):
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().chat.completions.create(
            model="yandexgpt",
            messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,x"}}]}],
        )
    assert caught.value.param == "messages[0].content"
    assert fake_yandexgpt.requests == []


@pytest.mark.parametrize(
    ("error", "expected", "status"),
    [
        (Error(400, message="Request validation error"), openai.BadRequestError, 400),
        (Error(401, message="Unknown api key"), openai.AuthenticationError, 401),
        (Error(403, message="Permission denied"), openai.PermissionDeniedError, 403),
        (Error(404, message="Model not found"), openai.NotFoundError, 404),
        (Error(429, message="quota limit exceed"), openai.RateLimitError, 429),
        (Error(500, message="Internal error"), openai.InternalServerError, 502),
        (Error(503, message="Service is temporarily unavailable"), openai.InternalServerError, 503),
    ],
)
def test_documented_errors_map_to_openai_errors(gateway, fake_yandexgpt, error, expected, status):
    fake_yandexgpt.script(error)
    with pytest.raises(expected) as caught:
        gateway.client().chat.completions.create(model="yandexgpt", messages=QUESTION)
    assert caught.value.status_code == status and error.message in caught.value.message


def test_context_too_long_is_a_context_window_error(gateway, fake_yandexgpt):
    fake_yandexgpt.script(Error(400, message="Number of input tokens must be no more than 8192, got 9000"))
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().chat.completions.create(model="yandexgpt", messages=QUESTION)
    assert caught.value.code == "context_length_exceeded"


def test_error_line_mid_stream_fails_the_stream(gateway, fake_yandexgpt):
    fake_yandexgpt.script(Reply(text="one two three four", error_after=2))
    with pytest.raises(openai.APIError):
        list(gateway.client().chat.completions.create(model="yandexgpt", messages=QUESTION, stream=True))


def test_folder_from_yandexgpt_folder_id_when_the_config_has_none(fake_yandexgpt, tmp_path):
    config = {
        "model_list": [
            {
                "model_name": "ya",
                "litellm_params": {
                    "model": "yandexgpt/yandexgpt-lite/latest",
                    "api_base": fake_yandexgpt.url,
                },
            }
        ]
    }
    env = {"YANDEXGPT_API_KEY": api_providers.YANDEX_KEY, "YANDEXGPT_FOLDER_ID": "b1genvfolder"}
    with GatewayServer(config, tmp_path, env=env, open_access=True) as gateway:
        gateway.client().chat.completions.create(model="ya", messages=QUESTION)
    assert fake_yandexgpt.requests[-1].json["modelUri"] == "gpt://b1genvfolder/yandexgpt-lite/latest"


def test_no_config_start_up_routes_yandexgpt_with_the_folder_variable():
    env = {"YANDEXGPT_API_KEY": "AQVN-k", "YANDEXGPT_FOLDER_ID": "b1genvfolder"}
    loaded = load_config(None, env)
    (deployment,) = [d for d in loaded.models.deployments if d.provider == "yandexgpt"]
    assert deployment.call.extras["folder_id"] == "b1genvfolder"
