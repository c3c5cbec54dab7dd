"""FastChat prompts: for every template fschat 0.2.36 registers, the prompt polyroute renders from
the template's wire form equals the one fschat's own Conversation.get_prompt() rendered (the
fixture was recorded by running fschat 0.2.36, system message and multi-turn cases included)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polyroute.errors import InvalidRequestError, UpstreamError
from polyroute.providers.fastchat_worker.adapter import gen_params
from polyroute.providers.fastchat_worker.conversation import Conversation

CASES = json.loads(
    (Path(__file__).parent / "fixtures" / "fastchat" / "conv_prompts_fschat_0_2_36.json").read_text()
)


def test_fixture_covers_every_released_style():
    styles = {Conversation.from_template(c["template"]).style for c in CASES}
    assert len(CASES) > 150 and len(styles) >= 17


@pytest.mark.parametrize("case", CASES, ids=[f"{c['template']['name']}-{len(c['messages'])}" for c in CASES])
def test_prompt_matches_fschat(case):
    conv = Conversation.from_template(case["template"])
    conv.add_openai_messages(case["messages"])
    assert conv.prompt() == case["prompt"]


def test_git_main_templates_use_the_newer_numbering():
    template = {
        "name": "llama-3",
        "roles": ["user", "assistant"],
        "sep_style": 8,
        "system_message_vision": "",
    }
    conv = Conversation.from_template(template)
    assert conv.style == "LLAMA3"
    conv.add_openai_messages([{"role": "user", "content": "hi"}])
    assert conv.prompt() == (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    assert (
        Conversation.from_template({**template, "system_message_vision": None, "sep_style": 8}).style
        == "LLAMA3"
    )
    del template["system_message_vision"]
    assert Conversation.from_template(template).style == "CHATGLM"  # 0.2.36's 8


def test_gen_params_follow_fastchats_api_server():
    template = CASES[0]["template"]
    params = gen_params(
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "stop": "END", "top_k": 5},
        template,
        "m",
    )
    assert params["max_new_tokens"] == 512 and params["echo"] is False
    assert params["stop"][0] == "END" and params["top_k"] == 5  # worker-specific keys pass through
    with pytest.raises(InvalidRequestError) as caught:
        gen_params({"messages": [{"role": "tool", "content": "x"}]}, template, "m")
    assert caught.value.param == "messages[0].role"
    with pytest.raises(InvalidRequestError):
        gen_params({"messages": [], "n": 2}, template, "m")
    with pytest.raises(UpstreamError):
        Conversation.from_template({"roles": ["a"], "sep_style": 99})
