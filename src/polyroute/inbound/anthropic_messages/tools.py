"""Anthropic `tools` and `tool_choice` -> OpenAI function tools and `tool_choice`.

A custom tool `{name, description, input_schema}` becomes `{type: function, function: {name,
description, parameters}}`, its `cache_control` kept on the tool (the Anthropic adapter reads it
there). A server tool (`web_search_20250305`, `bash_20250124`, ...: a `type` other than
"custom") passes on unchanged: the Anthropic adapter sends native tools as they are.
"""

from __future__ import annotations

from typing import Any

from polyroute.inbound.anthropic_messages.fields import invalid, need_dict, need_list, need_str, path


def convert_tools(tools: Any) -> list[dict[str, Any]]:
    return [_tool(tool, path("tools", i)) for i, tool in enumerate(need_list(tools, "tools"))]


def _tool(tool: Any, at: str) -> dict[str, Any]:
    tool = need_dict(tool, at)
    kind = tool.get("type")
    if kind is not None and kind != "custom":
        need_str(kind, path(at, "type"))
        need_str(tool.get("name"), path(at, "name"), non_empty=True)
        return dict(tool)
    name = need_str(tool.get("name"), path(at, "name"), non_empty=True)
    schema = need_dict(tool.get("input_schema"), path(at, "input_schema"))
    function: dict[str, Any] = {"name": name, "parameters": schema}
    description = tool.get("description")
    if description is not None:
        function["description"] = need_str(description, path(at, "description"))
    out: dict[str, Any] = {"type": "function", "function": function}
    if tool.get("cache_control") is not None:
        out["cache_control"] = tool["cache_control"]
    return out


def convert_tool_choice(choice: Any) -> tuple[Any, bool]:
    """(OpenAI tool_choice, parallel tool use disabled)."""
    choice = need_dict(choice, "tool_choice")
    kind = choice.get("type")
    disable = choice.get("disable_parallel_tool_use", False)
    if not isinstance(disable, bool):
        raise invalid("tool_choice.disable_parallel_tool_use", "Input should be a valid boolean")
    if kind == "auto":
        return "auto", disable
    if kind == "any":
        return "required", disable
    if kind == "none":
        return "none", False
    if kind == "tool":
        name = need_str(choice.get("name"), "tool_choice.name", non_empty=True)
        return {"type": "function", "function": {"name": name}}, disable
    raise invalid("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'")
