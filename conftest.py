"""pytest settings for the whole repository, and the notebook cell-time report.

The solution notebooks run through nbval (``make test`` passes
``--nbval-lax`` and ``solutions/``): every code cell is a test item, run in
order in one kernel per notebook, with a per-cell timeout. This plugin
collects the cells' durations and, at the end of the run, prints the
slowest and writes them all to ``benchmarks/results/notebook_times.md``.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # quiet TensorFlow, here and in nbval's kernels
os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parent
TIMES_FILE = ROOT / "benchmarks" / "results" / "notebook_times.md"
_cells: dict[str, list[tuple[float, str, str]]] = {}   # notebook -> [(seconds, cell, first line)]


def _first_line(item) -> str:
    source = getattr(getattr(item, "cell", None), "source", "") or ""
    lines = [line for line in source.splitlines() if line.strip() and not line.startswith(("import", "from"))]
    return (lines or source.splitlines() or [""])[0].strip()[:70]


def pytest_runtest_makereport(item, call):
    if call.when == "call" and item.nodeid.split("::")[0].endswith(".ipynb"):
        notebook = Path(item.nodeid.split("::")[0]).stem
        _cells.setdefault(notebook, []).append((call.duration, item.name, _first_line(item)))


def pytest_terminal_summary(terminalreporter, config):
    if not _cells:
        return
    timeout = config.getoption("nbval_cell_timeout", None)
    slowest = sorted(((s, nb, cell, line) for nb, cells in _cells.items() for s, cell, line in cells),
                     reverse=True)[:15]
    lines = ["# Notebook cell times", "",
             f"nbval run, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPU cores; "
             f"per-cell limit {timeout} s.", "", "| notebook | total (s) | cells |", "|---|---|---|"]
    lines += [f"| {nb} | {sum(s for s, _, _ in cells):.1f} | {len(cells)} |" for nb, cells in sorted(_cells.items())]
    lines += ["", "Slowest cells:", "", "| seconds | notebook | cell | starts with |", "|---|---|---|---|"]
    lines += [f"| {s:.1f} | {nb} | {cell} | `{line}` |" for s, nb, cell, line in slowest]
    TIMES_FILE.parent.mkdir(parents=True, exist_ok=True)
    TIMES_FILE.write_text("\n".join(lines) + "\n")
    terminalreporter.section("slowest notebook cells")
    for s, nb, cell, line in slowest[:5]:
        terminalreporter.write_line(f"{s:6.1f} s  {nb} {cell}: {line}")
    terminalreporter.write_line(f"(all cell times in {TIMES_FILE.relative_to(ROOT)})")
