"""Timing shared by the benchmarks and their peer scripts (standard library only: the
peer scripts run in `.venv-peers` and import it as a sibling module)."""

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
