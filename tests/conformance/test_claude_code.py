"""Claude Code as a client, against an OpenAI model behind the gateway.

Claude Code is pointed at the gateway with ANTHROPIC_BASE_URL and ANTHROPIC_AUTH_TOKEN (sent as
`Authorization: Bearer`); its request shapes (tests/protocol/fixtures/claude_code/: system blocks
with cache_control, sixteen tools, streamed tool_use, thinking, metadata.user_id, count_tokens)
are sent as they are, through the anthropic SDK, to model names Claude Code uses, which this
gateway serves with an OpenAI deployment. The fixtures are reconstructed from Claude Code's known
request shape, not recorded (their README says so)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import anthropic
import pytest

from tests.conftest import MASTER_KEY, OPENAI_KEY
from tests.fakes.base import Reply, ToolCall
from tests.gateway import GatewayServer

FIXTURES = Path(__file__).parent.parent / "protocol" / "fixtures" / "claude_code"


def fixture(name: str) -> dict:
    """The fixture as SDK arguments; fields this SDK version has no argument for (Claude Code's
    own client sends them) go as they are in extra_body."""
    body = json.loads((FIXTURES / f"{name}.json").read_text())
    known = set(inspect.signature(anthropic.resources.Messages.create).parameters)
    extra = {k: v for k, v in body.items() if k not in known}
    args = {k: v for k, v in body.items() if k in known}
    return {**args, "extra_body": extra} if extra else args


@pytest.fixture(scope="module")
def claude_code_gateway(fake_openai, tmp_path_factory):
    def openai_model(name: str) -> dict:
        return {
            "model_name": name,
            "litellm_params": {
                "model": "openai/gpt-4o",
                "api_base": fake_openai.url + "/v1",
                "api_key": OPENAI_KEY,
            },
        }

    config = {
        "model_list": [openai_model("claude-sonnet-4-5-20250929"), openai_model("claude-haiku-4-5-20251001")],
        "general_settings": {"master_key": MASTER_KEY},
        "router_settings": {"num_retries": 0},
    }
    with GatewayServer(config, Path(tmp_path_factory.mktemp("claude-code"))) as server:
        yield server


def client(gateway) -> anthropic.Anthropic:
    # What Claude Code does with ANTHROPIC_AUTH_TOKEN: a bearer token, no x-api-key.
    return anthropic.Anthropic(base_url=gateway.url, api_key=None, auth_token=MASTER_KEY, max_retries=0)


def events_of(stream) -> list:
    return list(stream)


def test_first_turn_streams_anthropic_events_from_an_openai_model(claude_code_gateway, fake_openai) -> None:
    fake_openai.script(
        Reply(text="I'll look at the repository first.", prompt_tokens=9000, completion_tokens=9)
    )
    events = events_of(client(claude_code_gateway).messages.create(**fixture("first_turn")))
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_delta" in kinds and "message_delta" in kinds
    text = "".join(
        e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert text == "I'll look at the repository first."
    (delta,) = [e for e in events if e.type == "message_delta"]
    assert delta.delta.stop_reason == "end_turn" and delta.usage.output_tokens == 9
    sent = fake_openai.requests[-1].json
    assert len(sent["tools"]) == len(fixture("first_turn")["tools"])  # every tool reached the model
    assert sent["temperature"] == 1
    assert sent["messages"][0]["role"] == "system"
    assert sent["user"] == fixture("first_turn")["metadata"]["user_id"]


def test_a_streamed_tool_call_ends_with_tool_use(claude_code_gateway, fake_openai) -> None:
    fake_openai.script(
        Reply(text=None, tool_calls=[ToolCall("Bash", {"command": "git status", "description": "Status"})])
    )
    events = events_of(client(claude_code_gateway).messages.create(**fixture("tool_loop_with_thinking")))
    starts = [e for e in events if e.type == "content_block_start" and e.content_block.type == "tool_use"]
    assert [s.content_block.name for s in starts] == ["Bash"]
    arguments = "".join(
        e.delta.partial_json
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    )
    assert json.loads(arguments) == {"command": "git status", "description": "Status"}
    (delta,) = [e for e in events if e.type == "message_delta"]
    assert delta.delta.stop_reason == "tool_use"
    # The history's tool_use / tool_result pairs reached the model as tool calls and tool messages.
    sent = fake_openai.requests[-1].json
    assert any(m["role"] == "tool" for m in sent["messages"])
    assert any(m.get("tool_calls") for m in sent["messages"] if m["role"] == "assistant")


def test_the_quota_check_and_count_tokens(claude_code_gateway, fake_openai) -> None:
    fake_openai.script(Reply(text="ok", prompt_tokens=3, completion_tokens=1))
    answer = client(claude_code_gateway).messages.create(**fixture("quota_check"))
    assert answer.content[0].text == "ok" and answer.stop_reason == "end_turn"
    counted = client(claude_code_gateway).messages.count_tokens(**fixture("count_tokens"))
    assert counted.input_tokens > 100  # sixteen tools and a long history: the gateway's estimate
