"""Progress bars per phase (answers, judgments) with rate and time left, drawn by rich on stderr.

On a terminal the bars redraw in place; piped (a log, a test), rich prints each finished phase
once. `quiet` shows nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    """Items per second (requests are the slow part, so a per-item rate is what matters)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-/s" if speed is None else f"{speed:.2f}/s", style="progress.data.speed")


class PhaseProgress:
    def __init__(self, console: Console | None = None, quiet: bool = False) -> None:
        self.console = console or Console(stderr=True)
        self.quiet = quiet

    @contextlib.contextmanager
    def phase(self, name: str, total: int) -> Iterator[Callable[[], None]]:
        """A bar for one phase; the yielded callable marks one item done."""
        if self.quiet or total == 0:
            if not self.quiet:
                self.console.print(f"{name}: nothing to do (all {name} are in the files)")
            yield lambda: None
            return
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        task = progress.add_task(name, total=total)
        with progress:
            yield lambda: progress.advance(task)
