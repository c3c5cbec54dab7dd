"""FastChat's Google variables as `polyroute check-config` reports them: a real process."""

from __future__ import annotations

from tests.cli.test_cli import run

NO_GOOGLE_KEYS = {"GEMINI_API_KEY": "", "GENAI_API_KEY": "", "GOOGLE_API_KEY": "", "BARD_API_KEY": ""}


def test_bard_api_key_alone_is_one_warning_line_and_no_secret():
    result = run(["check-config"], env={**NO_GOOGLE_KEYS, "BARD_API_KEY": "bard-secret-4242"})
    assert result.returncode == 0, result.stderr
    notices = [line for line in result.stderr.splitlines() if "BARD_API_KEY" in line]
    assert notices == [
        "warning: BARD_API_KEY is set but Bard is retired: set GEMINI_API_KEY to reach gemini/<model>"
    ]
    assert "gemini/*" not in result.stdout
    assert "bard-secret-4242" not in result.stdout + result.stderr


def test_genai_api_key_serves_gemini_models():
    result = run(["check-config"], env={**NO_GOOGLE_KEYS, "GENAI_API_KEY": "AIza-genai-4242"})
    assert result.returncode == 0, result.stderr
    assert "gemini/*" in result.stdout and "BARD" not in result.stderr
    assert "AIza-genai-4242" not in result.stdout + result.stderr
