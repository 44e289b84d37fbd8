"""Every solution notebook runs end to end, and notebooks/ is exactly what release writes.

Each ``solutions/*.ipynb`` runs in its own fresh kernel (the current Python),
cell by cell, with a 120 s limit per cell; the first failing cell is reported
with its source and traceback. Cell durations go to
``benchmarks/results/notebook_times.md`` (slowest cells first) and to the
terminal at the end of this module. New notebooks are picked up automatically.
With ``LABKIT_EXECUTED_DIR=DIR`` the executed notebooks, outputs and all, are
also written to DIR (to look at their figures: ``jupyter nbconvert --to html``).
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labkit import grade, release
from labkit.release import read_notebook

CELL_TIMEOUT = 120
NOTEBOOKS = sorted(release.SOLUTIONS.glob("*.ipynb"))
TIMES_FILE = release.ROOT / "benchmarks" / "results" / "notebook_times.md"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_times: dict = {}      # notebook name -> (total seconds, [(seconds, cell index, first line)])


def _first_line(source: str) -> str:
    lines = [line for line in source.splitlines() if line.strip() and not line.startswith(("import", "from"))]
    return (lines or source.splitlines() or [""])[0].strip()[:70]


def _failure(path: Path, nb, run) -> str:
    cell = nb.cells[run.index]
    trace = next((o.get("traceback", []) for o in cell.get("outputs", []) if o.get("output_type") == "error"), [])
    trace = _ANSI.sub("", "\n".join(trace)).splitlines()[-25:]
    source = "\n".join("    " + line for line in cell.source.splitlines()[:15])
    return (f"{path.name}: cell {run.index} {run.status} after {run.seconds:.1f} s: {run.error}\n"
            f"  source:\n{source}\n  traceback (last lines):\n" + "\n".join(trace))


def _write_times(reporter) -> None:
    if not _times:
        return
    slowest = sorted(((s, name, i, line) for name, (_, cells) in _times.items() for s, i, line in cells),
                     reverse=True)[:15]
    lines = ["# Notebook cell times", "",
             f"`tests/test_notebooks.py`, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPU cores; "
             f"per-cell limit {CELL_TIMEOUT} s.", "", "| notebook | total (s) | cells |", "|---|---|---|"]
    lines += [f"| {name} | {total:.1f} | {len(cells)} |" for name, (total, cells) in sorted(_times.items())]
    lines += ["", "Slowest cells:", "", "| seconds | notebook | cell | starts with |", "|---|---|---|---|"]
    lines += [f"| {s:.1f} | {name} | {i} | `{line}` |" for s, name, i, line in slowest]
    TIMES_FILE.parent.mkdir(parents=True, exist_ok=True)
    TIMES_FILE.write_text("\n".join(lines) + "\n")
    reporter.section("slowest notebook cells")
    for s, name, i, line in slowest[:5]:
        reporter.write_line(f"{s:6.1f} s  {name} cell {i}: {line}")
    reporter.write_line(f"(all cell times in {TIMES_FILE.relative_to(release.ROOT)})")


class _TimesReport:
    """A pytest plugin registered by this module: prints the slowest cells in the terminal summary."""

    def pytest_terminal_summary(self, terminalreporter):
        _write_times(terminalreporter)


@pytest.fixture(scope="module", autouse=True)
def cell_times(request):
    manager = request.config.pluginmanager
    if not manager.has_plugin("labkit-notebook-times"):
        manager.register(_TimesReport(), "labkit-notebook-times")
    return _times


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_solution_notebook_runs_end_to_end(path):
    nb = read_notebook(path)
    start = time.perf_counter()
    runs = grade.run_notebook(nb, timeout=CELL_TIMEOUT, cwd=path.parent, stop_on_error=True,
                              keep_outputs=True)
    _times[path.stem] = (time.perf_counter() - start,
                         [(r.seconds, r.index, _first_line(nb.cells[r.index].source)) for r in runs])
    if os.environ.get("LABKIT_EXECUTED_DIR"):
        import nbformat

        out = Path(os.environ["LABKIT_EXECUTED_DIR"])
        out.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out / path.name)
    failed = [r for r in runs if r.status != "ok"]
    if failed:
        pytest.fail(_failure(path, nb, failed[0]), pytrace=False)
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
    assert [r.index for r in runs] == code_cells


def test_solutions_have_no_saved_outputs():
    unclean = [p.name for p in NOTEBOOKS if not release._is_clean(read_notebook(p))]
    assert not unclean, f"{unclean} saved with outputs: run `python -m labkit.release --clean-solutions`"


def test_release_check_passes():
    done = subprocess.run([sys.executable, "-m", "labkit.release", "--check"], capture_output=True, text=True,
                          cwd=release.ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, f"notebooks/ is out of date; run `make release`\n{done.stdout}{done.stderr}"
