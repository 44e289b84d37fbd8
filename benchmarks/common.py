"""Small pieces shared by the benchmarks and their peer scripts.

Standard library only: the peer scripts run in `.venv-peers` and import this
file as a sibling module (``from common import best``).
"""

from __future__ import annotations

import time
from collections.abc import Callable


def best(run: Callable, repeats: int) -> tuple[float, object]:
    """Warm up once (tracing), then the best wall time of ``repeats`` calls, and the last result."""
    result = run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def section_span(text: str, heading: str) -> tuple[int, int]:
    """Start and end of the markdown section whose "## ..." line starts with ``heading``.

    It ends where the next level-2 heading begins (or at the end of the text).
    """
    start = text.index(heading)
    following = text.find("\n## ", start + 1)
    return start, len(text) if following < 0 else following + 1


def replace_section(text: str, heading: str, section: str) -> str:
    """``text`` with the section starting with ``heading`` replaced by ``section`` (which ends in a newline)."""
    start, end = section_span(text, heading)
    return text[:start] + section + text[end:]
