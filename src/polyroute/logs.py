"""Process-wide logging set-up (one place; modules only ask for named loggers)."""

from __future__ import annotations

import logging
import sys


def configure_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("polyroute")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
