"""OpenAI `response_format` on Anthropic, done the common way: one forced tool.

Anthropic's Messages API has no JSON mode in the `2023-06-01` request shape this adapter sends,
so a `json_schema` (or `json_object`) request becomes one extra tool whose `input_schema` is the
client's schema, and `tool_choice` forces the model to call it. The answer's `tool_use.input` is
then the structured object: the adapter hands it back as the message `content` (a JSON string)
with `finish_reason: "stop"`, as OpenAI would, instead of as a tool call.

The tool has one reserved name, `json_tool_call` (the name LiteLLM uses, so clients migrating
from it already avoid it). It cannot be "named after the schema": `chat_response` only gets the
provider's answer, never the request, so the tool must be recognisable from the answer alone.
The schema's own name and description go into the tool's description instead. A client tool
with the reserved name is refused, so the name always means "structured output".

Anthropic refuses a forced `tool_choice` while extended thinking is on; with thinking, the tool
is offered with `tool_choice: auto` and the model is told to call it.
"""

from __future__ import annotations

from typing import Any

from polyroute.errors import InvalidRequestError

JSON_TOOL_NAME = "json_tool_call"

_ANY_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True}


def structured_output_tool(response_format: Any) -> dict[str, Any] | None:
    """The Anthropic tool carrying the client's schema; None when no JSON output was asked for."""
    if response_format is None:
        return None
    if not isinstance(response_format, dict):
        raise InvalidRequestError("response_format must be an object", param="response_format")
    kind = response_format.get("type")
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        return {
            "name": JSON_TOOL_NAME,
            "description": "Respond with your final answer by calling this tool; its input is a JSON object.",
            "input_schema": dict(_ANY_OBJECT),
        }
    if kind != "json_schema":
        raise InvalidRequestError(
            f"response_format type '{kind}' is not supported by anthropic", param="response_format.type"
        )
    spec = response_format.get("json_schema")
    if not isinstance(spec, dict):
        raise InvalidRequestError(
            "response_format.json_schema must be an object", param="response_format.json_schema"
        )
    schema = spec.get("schema")
    if schema is None:
        schema = dict(_ANY_OBJECT)
    elif not isinstance(schema, dict):
        raise InvalidRequestError(
            "response_format.json_schema.schema must be an object", param="response_format.json_schema.schema"
        )
    description = "Respond with your final answer by calling this tool; its input is the response object"
    if spec.get("name"):
        description += f" '{spec['name']}'"
    if spec.get("description"):
        description += f": {spec['description']}"
    return {"name": JSON_TOOL_NAME, "description": description + ".", "input_schema": schema}
