"""Bad options stop `polyroute eval` before any request, with exit status 2 and the option named."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from polyroute.cli.main import app


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["mt-bench", "--models", "a", "--mode", "bogus"], "--mode must be"),
        (["mt-bench", "--models", "a,b", "--mode", "pairwise-baseline"], "--baseline is required"),
        (["mt-bench", "--models", "a", "--mode", "pairwise-all"], "needs at least two --models"),
        (["mt-bench", "--models", "a,a"], "--models names a model twice"),
        (["mt-bench", "--models", "a/b,a_b"], "would share the file"),
        (["mt-bench", "--models", "a", "--question-ids", "81,7"], "--question-ids: no question with id 7"),
        (["mt-bench", "--models", "a", "--parallel", "0"], "--parallel must be at least 1"),
        (["mt-bench", "--models", "a", "--questions", "/nonexistent/q.jsonl"], "cannot be read"),
    ],
)
def test_bad_options(args: list[str], message: str, tmp_path: Path) -> None:
    # Port 9 (discard) on loopback: nothing listens, and nothing must be asked anyway.
    result = CliRunner().invoke(
        app, ["eval", *args, "--out", str(tmp_path), "--no-store", "--gateway-url", "http://127.0.0.1:9"]
    )
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert not (tmp_path / "model_answer").exists()
