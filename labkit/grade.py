"""Grade student notebooks: ``python -m labkit.grade SUBMISSION.ipynb... --out grades.csv``.

For each submission the grader

1. finds its solution notebook in ``solutions/`` (by file name, e.g.
   ``alice_02_feature_attribution.ipynb`` -> ``02_feature_attribution``, else by
   ``metadata.labkit.source``, which :mod:`labkit.release` writes);
2. restores every locked cell (the check cells, with their hidden tests) from
   the solution by nbgrader ``grade_id``, so edited or deleted checks do not
   matter and the points always come from the solution;
3. executes a copy in a fresh kernel (the current Python's ``python3``
   kernel, ``TF_CPP_MIN_LOG_LEVEL=2``), cell by cell, in a temporary working
   directory; the submission file itself is only read, never written;
4. gives each graded cell its points if it ran without error.

Errors do not stop grading: every cell runs, as in ``allow_errors``. A cell
that runs longer than ``--timeout`` seconds is interrupted (it counts as an
error, ``CellTimeout``) and grading continues with the next cell, keeping the
kernel and its variables. If the kernel does not answer within 10 s of the
interrupt, or dies (a crash, ``os._exit``, out of memory), grading of that
submission stops: it keeps the points of the cells that passed so far.

One CSV row per submission: ``submission, notebook``, one column per
``grade_id`` (points; written answers are left blank for the tutor), ``total``
and ``max`` (automatically graded points) and ``errors`` (a short summary).
Rows are written as submissions finish (``--jobs N`` grades N at a time in
worker processes, each with its own kernel) and sorted by submission at the end.
``--feedback DIR`` writes one markdown file per submission for the student.
"""
from __future__ import annotations

import argparse
import csv
import functools
import importlib.util
import math
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Literal, Optional

import nbformat
from nbformat import NotebookNode

from .release import SOLUTIONS, nbgrader, read_notebook

__all__ = ["CellRun", "ItemResult", "SubmissionResult", "run_notebook", "restore_locked_cells", "match_solution",
           "grade_submission", "grade", "feedback_markdown", "main", "KERNEL", "INTERRUPT_GRACE"]

KERNEL = "python3"
INTERRUPT_GRACE = 10      # seconds a kernel gets to answer after a timeout interrupt
_MAX_MESSAGE = 1200       # characters of an error message kept in feedback


# --------------------------------------------------------------------------
# running a notebook cell by cell
@dataclass
class CellRun:
    """How one code cell ran: ``status`` is "ok", "error", "timeout" or "dead"."""

    index: int
    status: str
    ename: str = ""
    evalue: str = ""
    seconds: float = 0.0

    @property
    def error(self) -> str:
        """``"Name: message"`` (empty when the cell ran fine)."""
        return f"{self.ename}: {self.evalue}".strip(": ") if self.status != "ok" else ""


def _kernel_env() -> dict:
    """This process's environment, TensorFlow quiet, and matplotlib's inline backend as in Jupyter."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("MPLBACKEND", None)   # e.g. Agg from a test run would hide every figure
    return env


def _client(nb: NotebookNode, timeout: float, cwd: str, replies: dict):
    from nbclient import NotebookClient

    def on_cell_executed(cell, cell_index, execute_reply):
        replies[cell_index] = (execute_reply or {}).get("content", {})

    return NotebookClient(
        nb, kernel_name=KERNEL, timeout=timeout, allow_errors=True, interrupt_on_timeout=True,
        error_on_timeout={"ename": "CellTimeout", "traceback": [],
                          "evalue": f"the cell did not finish within {timeout:g} s and was "
                                    f"interrupted (an infinite loop?)"},
        startup_timeout=120, shutdown_kernel="immediate", record_timing=False,
        on_cell_executed=on_cell_executed, resources={"metadata": {"path": cwd}})


def _responsive(client) -> bool:
    """Whether the kernel answers a no-op within INTERRUPT_GRACE seconds (after an interrupt)."""
    old = client.timeout, client.shell_timeout_interval
    client.timeout, client.shell_timeout_interval = INTERRUPT_GRACE, 1
    try:
        reply = client.wait_for_reply(client.kc.execute("", silent=True, store_history=False))
    except Exception:  # DeadKernelError and friends
        return False
    finally:
        client.timeout, client.shell_timeout_interval = old
    return reply is not None


def run_notebook(nb: NotebookNode, *, timeout: float = 120, cwd: str | os.PathLike | None = None,
                 stop_on_error: bool = False, keep_outputs: bool = False) -> list[CellRun]:
    """Execute ``nb`` (in place) in a fresh kernel, one code cell at a time.

    Parameters
    ----------
    nb : the notebook; its cells receive outputs only with ``keep_outputs=True``
    timeout : seconds per cell; a longer cell is interrupted and recorded as "timeout"
    cwd : working directory of the kernel (default: a new temporary directory)
    stop_on_error : stop at the first failing cell (notebook tests) instead of
        running every cell (grading)
    keep_outputs : keep each cell's outputs (default: drop them to save memory)

    Returns
    -------
    list of CellRun, one per code cell that ran, in order. Grading stops early
    if the kernel dies or ignores the interrupt after a timeout.
    """
    from nbclient.exceptions import DeadKernelError

    timeout = int(math.ceil(timeout))          # nbclient wants whole seconds
    replies: dict = {}
    runs: list[CellRun] = []
    with tempfile.TemporaryDirectory(prefix="labkit-grade-") as tmp:
        client = _client(nb, timeout, str(cwd or tmp), replies)
        with client.setup_kernel(env=_kernel_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code" or not cell.source.strip():
                    continue
                start = time.perf_counter()
                try:
                    client.execute_cell(cell, index)
                except DeadKernelError:
                    runs.append(CellRun(index, "dead", "DeadKernelError",
                                        "the kernel died (a crash, os._exit or out of memory); "
                                        "grading stopped here", time.perf_counter() - start))
                    break
                run = _cell_run(index, replies.pop(index, {}), time.perf_counter() - start)
                runs.append(run)
                if not keep_outputs:
                    cell.outputs = []
                if run.status == "timeout" and not _responsive(client):
                    run.evalue += "; the kernel did not respond to the interrupt, so grading stopped here"
                    break
                if stop_on_error and run.status != "ok":
                    break
    return runs


def _cell_run(index: int, reply: dict, seconds: float) -> CellRun:
    if reply.get("status", "ok") == "ok":
        return CellRun(index, "ok", seconds=seconds)
    ename = reply.get("ename") or "Error"
    status = "timeout" if ename == "CellTimeout" else "error"
    return CellRun(index, status, ename, str(reply.get("evalue", "")), seconds)


# --------------------------------------------------------------------------
# solutions: which notebook, which cells are graded, restoring locked cells
@dataclass(frozen=True)
class Graded:
    """One graded item of a solution notebook."""

    grade_id: str
    points: float
    manual: bool          # a written answer, graded by the tutor


@functools.lru_cache(maxsize=32)
def _solution(path: str, mtime: float) -> NotebookNode:
    return read_notebook(path)


def load_solution(path: Path | str) -> NotebookNode:
    """The solution notebook at ``path`` (cached per process while the file is unchanged)."""
    path = Path(path)
    return _solution(str(path), path.stat().st_mtime)


def graded_items(solution: NotebookNode) -> list[Graded]:
    """The graded cells of a solution notebook, in order."""
    items = []
    for cell in solution.cells:
        meta = nbgrader(cell)
        if meta.get("grade"):
            manual = cell.cell_type == "markdown"
            items.append(Graded(meta["grade_id"], float(meta.get("points", 0)), manual))
    return items


def match_solution(submission: Path | str, solutions: Path | str = SOLUTIONS) -> Path | None:
    """The solution notebook a submission belongs to, or None.

    Tries, in order: the same file name; the longest solution name contained
    in the submission's name (``alice_02_feature_attribution``); the
    ``metadata.labkit.source`` that release writes into every student notebook.
    """
    submission, solutions = Path(submission), Path(solutions)
    stems = sorted((p.stem for p in solutions.glob("*.ipynb")), key=len, reverse=True)
    if submission.stem in stems:
        return solutions / f"{submission.stem}.ipynb"
    for stem in stems:
        if stem in submission.stem:
            return solutions / f"{stem}.ipynb"
    try:
        source = read_notebook(submission).metadata.get("labkit", {}).get("source")
    except Exception:  # unreadable: reported when it is graded
        return None
    return solutions / f"{source}.ipynb" if source in stems else None


def _restored_cell(source_cell: NotebookNode, cell_id: str) -> NotebookNode:
    cell = nbformat.from_dict({k: v for k, v in source_cell.items() if k != "outputs"})
    cell["id"] = cell_id
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    return cell


def restore_locked_cells(submission: NotebookNode, solution: NotebookNode) -> tuple[NotebookNode, list[str]]:
    """The submission with every locked cell (check cells, hidden tests) taken from the solution.

    Cells are matched by nbgrader ``grade_id``. A locked cell the student
    deleted is put back after the cell that precedes it in the solution.
    nbgrader metadata the solution does not know, or a duplicated grade_id,
    is dropped, so only the solution decides what is graded and for how much.
    Returns ``(notebook, notes)``; ``submission`` itself is not changed.
    """
    nb = nbformat.from_dict(submission)
    known = {nbgrader(c)["grade_id"]: c for c in solution.cells if nbgrader(c).get("grade_id")}
    seen: set = set()
    for cell in nb.cells:                     # forget unknown or duplicated grade_ids
        grade_id = nbgrader(cell).get("grade_id")
        if grade_id is not None and (grade_id not in known or grade_id in seen):
            cell.metadata.pop("nbgrader", None)
        seen.add(grade_id)
    notes, anchor = [], -1
    for grade_id, source_cell in known.items():
        position = next((i for i, c in enumerate(nb.cells) if nbgrader(c).get("grade_id") == grade_id), None)
        meta = nbgrader(source_cell)
        locked = meta.get("locked") or (meta.get("grade") and not meta.get("solution"))
        if position is None:
            if not locked:
                continue                      # a deleted answer cell: its test will fail
            position = anchor + 1
            nb.cells.insert(position, _restored_cell(source_cell, f"restored-{grade_id}"[:64]))
            notes.append(f"the cell {grade_id!r} was missing and has been put back")
        elif locked:
            nb.cells[position] = _restored_cell(source_cell, nb.cells[position].get("id", f"cell-{position}"))
        else:
            nb.cells[position].metadata["nbgrader"] = dict(meta)
        anchor = position
    return nb, notes


# --------------------------------------------------------------------------
# grading one submission
Status = Literal["passed", "failed", "not attempted", "not run", "manual"]


@dataclass
class ItemResult:
    """The points of one graded item (an nbgrader ``grade_id``) of a submission, and why."""

    grade_id: str
    max_points: float
    manual: bool                 # a written answer, graded by the tutor
    points: Optional[float]      # None for a written answer: the tutor's mark, left blank
    status: Status
    message: str = ""            # the check's error, or why the cell did not run


@dataclass
class SubmissionResult:
    """Everything grading found out about one submission (no notebook in it, so it pickles small).

    ``errors``: the CSV's short summary; ``cell_errors``: failing cells outside the exercises;
    ``gradable``: False without a solution, or when it cannot be read or run at all.
    """

    submission: str
    notebook: str                # the solution's name, "" when none matched
    items: list[ItemResult] = field(default_factory=list)
    total: float = 0.0           # automatically graded points
    max_total: float = 0.0       # the most automatically graded points possible
    errors: list[str] = field(default_factory=list)
    cell_errors: list[CellRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    gradable: bool = True


def _not_attempted(run: CellRun | None) -> bool:
    return run is not None and (run.ename == "NotImplementedError" or "not attempted" in run.evalue)


def _answer_cells(nb: NotebookNode) -> dict:
    """{index of a graded cell: indices of the answer cells since the previous graded cell}."""
    owners, pending = {}, []
    for index, cell in enumerate(nb.cells):
        meta = nbgrader(cell)
        if meta.get("grade"):
            owners[index], pending = pending, []
        elif meta.get("solution") and cell.cell_type == "code":
            pending.append(index)
    return owners


def grade_submission(path: Path | str, solution_path: Path | str | None, *,
                     timeout: float = 120) -> SubmissionResult:
    """Grade one submission: its points per graded item, errors and notes (no notebook in the result)."""
    start = time.perf_counter()
    result = SubmissionResult(str(path), Path(solution_path).stem if solution_path else "")
    if solution_path is None:
        result.errors.append("no matching solution notebook (check the file name)")
        result.gradable = False
        return result
    solution = load_solution(solution_path)
    items = graded_items(solution)
    result.max_total = sum(item.points for item in items if not item.manual)
    try:
        submitted = nbformat.reads(Path(path).read_text(encoding="utf-8"), as_version=4)
    except Exception as err:  # not JSON, not a notebook, unreadable
        submitted = None
        result.errors.append(f"could not read the notebook: {type(err).__name__}: {err}")
        result.gradable = False
    runs: dict[int, CellRun] = {}
    positions: dict[str, int] = {}
    answers: dict[int, list[int]] = {}
    if submitted is not None:
        nb, result.notes = restore_locked_cells(submitted, solution)
        del submitted
        positions = {nbgrader(c)["grade_id"]: i for i, c in enumerate(nb.cells) if nbgrader(c).get("grade_id")}
        answers = _answer_cells(nb)
        try:
            runs = {run.index: run for run in run_notebook(nb, timeout=timeout)}
        except Exception as err:  # the kernel did not start, ...
            result.errors.append(f"could not run the notebook: {type(err).__name__}: {err}")
            result.gradable = False
        _summarize_runs(result, runs, {*answers, *(i for cells in answers.values() for i in cells)})
    _score(result, items, runs, positions, answers)
    result.seconds = round(time.perf_counter() - start, 2)
    return result


def _summarize_runs(result: SubmissionResult, runs: dict[int, CellRun], exercise_cells: set[int]) -> None:
    """Timeouts and a dead kernel go to ``errors``; failing cells outside exercises to ``cell_errors``."""
    for run in runs.values():
        if run.status in ("timeout", "dead"):
            result.errors.append(f"{run.ename} in cell {run.index}")
        if run.status != "ok" and run.index not in exercise_cells:
            result.cell_errors.append(run)


def _item_result(item: Graded, index: int | None, runs: dict[int, CellRun], answers: dict[int, list[int]],
                 last_run: int) -> ItemResult:
    """The points of one graded item: from the run of its cell (and of the exercise cells before it)."""
    run = runs.get(index)
    if item.manual:
        return ItemResult(item.grade_id, item.points, True, None, "manual")
    if run is not None and run.status == "ok":
        return ItemResult(item.grade_id, item.points, False, item.points, "passed")
    if run is not None:
        answer_runs = [runs[i] for i in answers.get(index, ()) if i in runs]
        attempted = not any(_not_attempted(r) for r in [run, *answer_runs])
        causes = [f"(your exercise cell {r.index} raised {(r.error.splitlines() or [''])[0]})"
                  for r in answer_runs if r.status != "ok" and not _not_attempted(r)]
        return ItemResult(item.grade_id, item.points, False, 0.0, "failed" if attempted else "not attempted",
                          "\n".join([run.error, *causes]))
    reason = ("the cell is missing" if index is None else
              "not run: grading stopped before this cell" if index > last_run else "not run")
    return ItemResult(item.grade_id, item.points, False, 0.0, "not run", reason)


def _score(result: SubmissionResult, items: list[Graded], runs: dict[int, CellRun], positions: dict[str, int],
           answers: dict[int, list[int]]) -> None:
    last_run = max(runs) if runs else -1
    for item in items:
        index = positions.get(item.grade_id)
        entry = _item_result(item, index, runs, answers, last_run)
        if entry.status in ("failed", "not attempted"):
            result.errors.append(f"{item.grade_id}: {runs[index].ename}")
        elif entry.status == "not run" and result.gradable:
            result.errors.append(f"{item.grade_id}: not run")
        result.items.append(entry)
    result.total = sum(e.points for e in result.items if e.points is not None)


# --------------------------------------------------------------------------
# feedback and CSV
def _number(value) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _short(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + " ..."


def feedback_markdown(result: SubmissionResult) -> str:
    """The student's feedback: score, a table of exercises, and what went wrong."""
    name = result.notebook or Path(result.submission).stem
    auto = [e for e in result.items if not e.manual]
    manual = [e for e in result.items if e.manual]
    lines = [f"# Feedback on {name}", "", f"Submission: `{result.submission}`", "",
             f"**Score: {_number(result.total)} / {_number(result.max_total)}** automatically graded points"
             + (" (written answers are graded by your tutor)" if manual else ""), ""]
    if auto:
        lines += ["| exercise | points | result |", "|---|---|---|"]
        lines += [f"| {e.grade_id} | {_number(e.points)} / {_number(e.max_points)} | {e.status} |" for e in auto]
        lines.append("")
    failed = [e for e in auto if e.status != "passed"]
    if failed:
        lines += ["## What to fix", ""]
        for e in failed:
            lines += [f"### {e.grade_id} ({e.status})", ""]
            if e.status == "not attempted":
                lines += ["You have not written this exercise yet: replace `raise NotImplementedError()` "
                          "with your code, then run the check cell below it.", ""]
            lines += ["```", _short(e.message) or "(no message)", "```", ""]
    if result.cell_errors:
        lines += ["## Other cells that raised an error", ""]
        for run in result.cell_errors:
            first = (run.error.splitlines() or [""])[0]
            lines.append(f"- cell {run.index}: `` {first[:200]} ``")
        lines.append("")
    if manual:
        lines += ["## Written answers", "", "Graded by your tutor: "
                  + ", ".join(f"{e.grade_id} ({_number(e.max_points)} points)" for e in manual), ""]
    if result.notes or not result.gradable:
        lines += ["## Notes", ""] + [f"- {n}" for n in result.notes]
        lines += [f"- {e}" for e in result.errors if not result.gradable]
        lines.append("")
    return "\n".join(lines)


def _header(solution_paths) -> list[str]:
    columns = []
    for path in sorted(set(solution_paths)):
        for item in graded_items(load_solution(path)):
            if item.grade_id not in columns:
                columns.append(item.grade_id)
    return ["submission", "notebook", *columns, "total", "max", "errors"]


def _row(result: SubmissionResult) -> dict[str, str]:
    """The CSV row of a submission: {column: text}."""
    row = {"submission": result.submission, "notebook": result.notebook,
           "total": _number(result.total), "max": _number(result.max_total), "errors": "; ".join(result.errors)}
    row.update({e.grade_id: _number(e.points) for e in result.items})
    return row


def _feedback_names(paths: list[Path]) -> dict:
    """A unique feedback file name per submission: its path below their common folder."""
    resolved = [p.resolve() for p in paths]
    common = Path(os.path.commonpath([str(p.parent) for p in resolved])) if resolved else Path()
    return {p: "__".join(r.relative_to(common).with_suffix("").parts) + ".md" for p, r in zip(paths, resolved)}


def _submissions(arguments) -> list[Path]:
    """Notebook files from the arguments; folders are searched recursively."""
    found = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"submission {argument!r} does not exist")
    return list(dict.fromkeys(found))


def _grade_task(task: tuple) -> SubmissionResult:
    path, solution_path, timeout = task
    try:
        return grade_submission(path, solution_path, timeout=timeout)
    except Exception as err:  # never lose a whole batch to one notebook
        return SubmissionResult(str(path), Path(solution_path).stem if solution_path else "", gradable=False,
                                errors=[f"grading failed: {type(err).__name__}: {err}"])


def _results(tasks: list, jobs: int):
    """Yield results as they finish: in this process for jobs=1, else in worker processes."""
    if jobs == 1:
        yield from map(_grade_task, tasks)
        return
    # fork (Linux) starts workers instantly: this process has imported everything and runs no
    # kernel itself; elsewhere spawn, the safe default
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context(method)) as pool:
        for future in as_completed([pool.submit(_grade_task, task) for task in tasks]):
            yield future.result()


def _sort_csv(path: Path) -> None:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header, rows = reader.fieldnames, sorted(reader, key=lambda r: r["submission"])
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def grade(submissions, out: Path | str, *, solutions: Path | str = SOLUTIONS,
          feedback: Path | str | None = None, jobs: int = 1, timeout: float = 120,
          progress=None) -> dict:
    """Grade notebooks and write the CSV (and feedback files); returns a summary dict.

    ``submissions`` are notebook paths or folders (searched recursively). The
    CSV gets a row as each submission finishes and is sorted at the end.
    Summary keys: ``graded``, ``ungradable`` (submissions without a
    solution or unreadable), ``seconds``.
    """
    if importlib.util.find_spec("ipykernel") is None:
        raise RuntimeError("ipykernel is not installed in this Python; install the kit with "
                           "`pip install -e .` (it comes with jupyterlab)")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive int, got {jobs!r}")
    if not timeout or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    solutions = Path(solutions)
    if not solutions.is_dir():
        raise FileNotFoundError(f"solutions={str(solutions)!r} is not a directory of solution notebooks")
    paths = _submissions(submissions)
    if not paths:
        raise FileNotFoundError("no submissions found")
    matched = {p: match_solution(p, solutions) for p in paths}
    names = _feedback_names(paths)
    tasks = [(str(p), str(matched[p]) if matched[p] else None, timeout) for p in paths]
    out = Path(out)
    start, done, ungradable = time.perf_counter(), 0, 0
    if feedback is not None:
        Path(feedback).mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=_header(s for s in matched.values() if s))
        writer.writeheader()
        for result in _results(tasks, jobs):
            writer.writerow(_row(result))
            f.flush()
            done += 1
            ungradable += not result.gradable
            if feedback is not None:
                target = Path(feedback) / names[Path(result.submission)]
                target.write_text(feedback_markdown(result), encoding="utf-8")
            if progress:
                progress(f"[{done}/{len(tasks)}] {result.submission}: {_number(result.total)}"
                         f"/{_number(result.max_total)} ({result.seconds:.1f} s)"
                         + (f"  {'; '.join(result.errors)}" if result.errors else ""))
    _sort_csv(out)
    return {"graded": done, "ungradable": ungradable, "seconds": round(time.perf_counter() - start, 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m labkit.grade",
        description="Grade student notebooks: hidden tests restored from the solutions, "
                    "each submission in its own kernel, points per exercise in a CSV.")
    parser.add_argument("submissions", nargs="+", help="submitted notebooks or folders of them")
    parser.add_argument("--out", required=True, type=Path, help="CSV file to write (one row per submission)")
    parser.add_argument("--feedback", type=Path, help="folder for one markdown feedback file per submission")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded in parallel (default 1)")
    parser.add_argument("--timeout", type=int, default=120, help="seconds per cell (default 120)")
    parser.add_argument("--solutions", type=Path, default=SOLUTIONS, help="solution notebooks (default solutions/)")
    args = parser.parse_args(argv)
    try:
        summary = grade(args.submissions, args.out, solutions=args.solutions, feedback=args.feedback,
                        jobs=args.jobs, timeout=args.timeout,
                        progress=lambda line: print(line, file=sys.stderr, flush=True))
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"graded {summary['graded']} submissions in {summary['seconds']:.0f} s with {args.jobs} "
          f"job(s); grades in {args.out}" + (f", feedback in {args.feedback}/" if args.feedback else ""))
    if summary["ungradable"]:
        print(f"warning: {summary['ungradable']} submission(s) could not be graded; see the errors "
              f"column", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
