"""The conformance matrix's axes and the cells that do not apply (with the reason, printed in
docs/protocols.md). `python -m tests.conformance.cases` prints the matrix as Markdown."""

from __future__ import annotations

from tests import api_providers
from tests.conftest import MATRIX_MODELS

#: targets whose API reports no token usage (the gateway estimates it; the row says so)
NO_USAGE = frozenset({"ai2"})
#: targets whose API has no JSON output mode: `response_format` is refused with a 400
NO_JSON_OUTPUT = frozenset({"ai2", "reka", "bedrock"})

PROTOCOLS = ("chat", "messages", "responses")
TARGETS = (*MATRIX_MODELS, "mock")
CASES = (
    "text",
    "stream",
    "tool_stream",
    "json_output",
    "error_before_stream",
    "error_mid_stream",
    "spend_row",
)


def skip_reason(protocol: str, target: str, case: str) -> str | None:
    """Why a cell does not apply, or None when it runs."""
    if case == "tool_stream" and target in api_providers.NO_TOOLS:
        return f"{target} has no tool calling"
    if case == "json_output" and protocol == "messages":
        return "Anthropic's Messages request has no JSON-output field the gateway maps"
    if target == "mock" and case in ("tool_stream", "error_before_stream", "error_mid_stream"):
        return "the mock's tool calls and errors are asked for per request (tests/server/test_mock_*.py)"
    return None


def markdown() -> str:
    lines = []
    for protocol in PROTOCOLS:
        lines.append(f"\n### Inbound: {protocol}\n")
        lines.append("| target | " + " | ".join(CASES) + " |")
        lines.append("|---" * (len(CASES) + 1) + "|")
        for target in TARGETS:
            cells = ["n/a" if skip_reason(protocol, target, case) else "tested" for case in CASES]
            lines.append(f"| {target} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
