"""What every stage shares: loading params with overrides, logging, progress."""

from __future__ import annotations

import logging
import sys
from typing import Sequence

from rich.console import Console
from rich.logging import RichHandler

from g3an.config import Config, load_config

# Under `dvc repro` (or any pipe) there is no terminal and rich would wrap at 80 columns, splitting
# values and paths: logs then get a wide line; a terminal keeps its own width.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


def setup(params: str, overrides: Sequence[str]) -> Config:
    """Load and validate params before any work starts; set up logging."""
    cfg = load_config(params, overrides)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s", datefmt="[%X]",
                            handlers=[RichHandler(console=console, show_path=False, rich_tracebacks=False)])
    return cfg


class Progress:
    """A rich progress bar on stderr: ``update(task, done, total)`` creates tasks on first use.
    When stderr is not a terminal (``dvc repro`` logs) rich prints only the final state."""

    def __init__(self):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        self._bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)
        self._tasks: dict[str, int] = {}

    def __enter__(self):
        self._bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self._bar.__exit__(*exc)

    def update(self, task: str, done: int, total: int | None = None, **fields) -> None:
        if task not in self._tasks:
            self._tasks[task] = self._bar.add_task(task, total=total)
        self._bar.update(self._tasks[task], completed=done, total=total, **fields)
