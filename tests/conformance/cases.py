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


def cell(protocol: str, target: str, case: str) -> str:
    """What the matrix asserts in one cell, in a word or two."""
    if skip_reason(protocol, target, case):
        return "n/a"
    if case == "json_output" and target in NO_JSON_OUTPUT:
        return "400 (no JSON mode)"
    if case in ("text", "stream", "spend_row") and target in NO_USAGE:
        return "ok (usage estimated)"
    return "ok"


def markdown() -> str:
    lines = []
    for protocol in PROTOCOLS:
        lines.append(f"\n#### Inbound: {protocol}\n")
        lines.append("| target | " + " | ".join(CASES) + " |")
        lines.append("|---" * (len(CASES) + 1) + "|")
        for target in TARGETS:
            cells = [cell(protocol, target, case) for case in CASES]
            lines.append(f"| {target} | " + " | ".join(cells) + " |")
    reasons = sorted(
        {r for p in PROTOCOLS for t in TARGETS for c in CASES if (r := skip_reason(p, t, c))}
    )
    lines.append("\nn/a: " + "; ".join(reasons) + ".")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
