"""The per-phase progress bar shows done/total, a rate and the time left."""

from __future__ import annotations

import io

from rich.console import Console

from polyroute.eval.progress import PhaseProgress


def test_a_phase_bar_counts_items_with_rate_and_eta() -> None:
    out = io.StringIO()
    progress = PhaseProgress(Console(file=out, width=120, force_terminal=False))
    with progress.phase("answers", 3) as advance:
        for _ in range(3):
            advance()
    text = out.getvalue()
    assert "answers" in text and "3/3" in text and "/s" in text and "eta" in text


def test_an_empty_phase_says_there_is_nothing_to_do_and_quiet_says_nothing() -> None:
    out = io.StringIO()
    with PhaseProgress(Console(file=out, width=120)).phase("judgments", 0) as advance:
        advance()
    assert "judgments: nothing to do" in out.getvalue()
    quiet = io.StringIO()
    with PhaseProgress(Console(file=quiet), quiet=True).phase("answers", 5) as advance:
        advance()
    assert quiet.getvalue() == ""
