"""Grade student notebooks: ``python -m labkit.grade SUBMISSIONS... --out grades.csv``.

For each submission the grader

1. finds its solution notebook (:func:`labkit.submission.identify`: file
   name, ``metadata.labkit.source`` and the graded cells, with a warning when
   they disagree) and the student (:func:`labkit.gradebook.student_id`);
2. restores every locked cell (the check cells, with their hidden tests) from
   the solution by nbgrader ``grade_id``, putting back deleted or moved ones;
3. reads the student's code for the tutor (:mod:`labkit.scan`: rebinding
   ``checks``, assigning into ``labkit``, the kit's own implementation as the
   answer, ...);
4. executes a copy in a fresh kernel inside a sandbox (:mod:`labkit.sandbox`:
   read-only system, no network, own PID namespace, memory/process/time
   limits), cell by cell, skipping cells the solution tags ``skip-grading``;
   the kernel first loads the grader's agent (:mod:`labkit.guard`), which runs
   each graded check cell against a private copy of the checks;
5. gives each graded cell its points if it ran without error.

Errors do not stop grading: every cell runs, as in ``allow_errors``. A cell
that runs longer than ``--timeout`` seconds is interrupted (``CellTimeout``)
and grading continues in the same kernel; if the kernel does not answer
within 10 s of the interrupt, dies (a crash, ``os._exit``, out of memory), or
the submission passes ``--max-seconds``, grading of that submission stops and
it keeps the points of the cells that passed so far.

The CSV (:class:`labkit.gradebook.Gradebook`) has one row per student per
notebook and is merged on every run: unchanged submissions keep their row,
changed or named ones (``--regrade``) are regraded, and columns the grader
does not own (written answers, comments) are never touched. ``--feedback DIR``
writes ``<student>__<notebook>.md`` and ``.html`` per submission, in the kit's
words only (:mod:`labkit.feedback`); the tutor's report
(``<out>.report.md``) lists warnings and flags with cell and line.
"""
from __future__ import annotations

import argparse
import importlib.util
import re
import secrets
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from . import feedback as feedback_module
from . import sandbox as sandbox_module
from . import scan as scan_module
from .gradebook import CellRun, Gradebook, ItemResult, SubmissionResult, number, sha256, student_id, write_lms
from .release import SOLUTIONS, nbgrader, release_notebook
from .runner import INTERRUPT_GRACE, KERNEL, _Run, run_notebook
from .submission import (Graded, fingerprint, graded_items, identify, load_solution, match_solution,
                         restore_locked_cells, skippable_cells)

__all__ = ["CellRun", "ItemResult", "SubmissionResult", "Options", "run_notebook", "restore_locked_cells",
           "match_solution", "grade_submission", "grade", "feedback_markdown", "main", "KERNEL", "INTERRUPT_GRACE"]

feedback_markdown = feedback_module.feedback_markdown


@dataclass(frozen=True)
class Options:
    """How to grade: per-cell ``timeout``, the sandbox and its :class:`~labkit.sandbox.Limits`, skipping."""

    timeout: float = 120
    sandbox: bool = True
    limits: sandbox_module.Limits = field(default_factory=sandbox_module.Limits)
    skip: bool = True
    html: bool = True
    protected: tuple = ()


# --------------------------------------------------------------------------
# grading one submission
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


def _safe_name(ename: str) -> str:
    """An exception's name if Python or the kit defines it, else ``Error`` (a student can name a class anything)."""
    import builtins
    known = {"CellTimeout", "DeadKernelError", "SubmissionTimeout", "CheckFailed", "ClaimFailed"}
    if ename in known or (isinstance(getattr(builtins, ename, None), type)
                          and issubclass(getattr(builtins, ename), BaseException)):
        return ename
    return "Error"


def _sanitized(run: CellRun, phrases: frozenset) -> CellRun:
    if run.status in ("ok", "skipped"):
        return run
    return CellRun(run.index, run.status, _safe_name(run.ename), feedback_module.kit_words(run.evalue, phrases),
                   run.seconds)


class _NothingToRun(Exception):
    pass


def _guard_config(solution: NotebookNode) -> dict:
    bindings = scan_module.kit_bindings(solution)
    return {"name": f"_labkit_grader_{secrets.token_hex(6)}", "imports": bindings,
            "preload": sorted({m for m in bindings.values() if m.startswith("labkit")})}


def grade_submission(path: Path | str, solution_path: Path | str | None, *, timeout: float = 120,
                     options: Options | None = None) -> SubmissionResult:
    """Grade one submission: points per graded item, errors, notes, warnings and flags (no notebook in it)."""
    options = options or Options(timeout=timeout, sandbox=False)
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
        result.errors.append(f"could not read the notebook: {type(err).__name__}")
        result.gradable = False
    runs: dict[int, CellRun] = {}
    positions: dict[str, int] = {}
    answers: dict[int, list[int]] = {}
    phrases = feedback_module.solution_phrases(solution)
    if submitted is not None:
        nb, result.notes = restore_locked_cells(submitted, solution)
        result.warnings += [n for n in result.notes if "had been moved" in n]
        del submitted
        positions = {nbgrader(c)["grade_id"]: i for i, c in enumerate(nb.cells) if nbgrader(c).get("grade_id")}
        answers = _answer_cells(nb)
        result.flags += [str(f) for f in scan_module.scan(nb, solution)]
        checks = {i: nbgrader(c)["grade_id"] for i, c in enumerate(nb.cells)
                  if c.cell_type == "code" and nbgrader(c).get("grade") and not nbgrader(c).get("solution")}
        state = _Run()
        box = None
        try:
            if not any(c.cell_type == "code" and nbgrader(c).get("grade") for c in nb.cells):
                raise _NothingToRun
            if options.sandbox:
                box = sandbox_module.Sandbox(options.limits, protected=options.protected, submission=path)
            run_notebook(nb, timeout=options.timeout, sandbox=box, limits=options.limits,
                         guard=_guard_config(solution), checks=checks,
                         skip=skippable_cells(nb, solution) if options.skip else set(), _run=state)
        except _NothingToRun:                  # no automatically graded cell: nothing to run
            pass
        except Exception as err:  # the kernel did not start, ...
            result.errors.append(f"could not run the notebook: {type(err).__name__}: {err}")
            result.gradable = False
        finally:
            if box is not None:
                box.cleanup()
        if state.problem:
            result.errors.append(state.problem)
            result.gradable = False
        result.flags += [f"runtime: the grader put back {r}" for r in state.restored]
        result.cpu_seconds = round(state.cpu, 2)
        runs = {run.index: _sanitized(run, phrases) for run in state.runs}
        _summarize_runs(result, runs, {*answers, *(i for cells in answers.values() for i in cells)})
    _score(result, items, runs, positions, answers)
    result.seconds = round(time.perf_counter() - start, 2)
    return result


def _summarize_runs(result: SubmissionResult, runs: dict[int, CellRun], exercise_cells: set[int]) -> None:
    """Timeouts and a dead kernel go to ``errors``; failing cells outside exercises to ``cell_errors``."""
    for run in runs.values():
        if run.status in ("timeout", "dead"):
            result.errors.append(f"{run.ename} in cell {run.index}")
        if run.status not in ("ok", "skipped") and run.index not in exercise_cells:
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
                  for r in answer_runs if r.status not in ("ok", "skipped") and not _not_attempted(r)]
        return ItemResult(item.grade_id, item.points, False, 0.0, "wrong" if attempted else "not attempted",
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
        if entry.status == "wrong":
            result.errors.append(f"{item.grade_id}: wrong ({runs[index].ename})")
        elif entry.status == "not attempted":
            result.errors.append(f"{item.grade_id}: not attempted")
        elif entry.status == "not run" and result.gradable:
            result.errors.append(f"{item.grade_id}: not run")
        result.items.append(entry)
    result.total = sum(e.points for e in result.items if e.points is not None)


# --------------------------------------------------------------------------
# a class of submissions
def _submissions(arguments) -> list[tuple[Path, Path]]:
    """(notebook, the folder it was found in) for each argument; folders are searched recursively."""
    found = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            found += [(p, path) for p in sorted(path.rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts]
        elif path.is_file():
            found.append((path, path.parent))
        else:
            raise FileNotFoundError(f"submission {argument!r} does not exist")
    return list(dict(found).items())


def _file_name(student: str, notebook: str) -> str:
    return re.sub(r"[^\w.@+-]+", "_", student or "unknown") + "__" + (notebook or "unknown")


def _grade_task(task: tuple) -> tuple:
    """Grade one submission in a worker; returns the result and its feedback (markdown, HTML)."""
    path, solution_path, student, warnings, options, want_feedback = task
    try:
        result = grade_submission(path, solution_path, options=options)
    except Exception as err:  # never lose a whole batch to one notebook
        result = SubmissionResult(str(path), Path(solution_path).stem if solution_path else "", gradable=False,
                                  errors=[f"grading failed: {type(err).__name__}: {err}"])
    result.student, result.warnings = student, [*warnings, *result.warnings]
    markdown = html = None
    if want_feedback:
        markdown = feedback_module.feedback_markdown(result)
        if options.html and solution_path and result.gradable:
            try:
                solution = load_solution(solution_path)
                html = feedback_module.feedback_html(nbformat.read(str(path), as_version=4),
                                                     release_notebook(solution, source=Path(solution_path).stem),
                                                     result)
            except Exception as err:  # feedback is a courtesy: never lose the grade over it
                result.warnings.append(f"no HTML feedback: {type(err).__name__}")
    return result, markdown, html


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


def _named(regrade, student: str, notebook: str, path: Path) -> bool:
    return any(n in ("all", student, notebook, str(path), path.name) or f"{student}/{notebook}" == n
               for n in regrade)


def _tutor_report(results: list[SubmissionResult], out: Path) -> str:
    lines = [f"# Grading report for {out.name}", "",
             "For the tutor only: warnings (file and notebook disagree, duplicates, moved check cells) and "
             "flags (code that tries to switch checks off or answers with the kit's own implementation). "
             "A flag is a reason to look at the notebook, not a verdict: the grade is unchanged.", ""]
    for r in sorted(results, key=lambda r: (r.student, r.notebook)):
        if r.warnings or r.flags or not r.gradable:
            lines += [f"## {r.student} / {r.notebook or '?'}", "", f"`{r.submission}`", ""]
            lines += [f"- warning: {w}" for w in r.warnings]
            lines += [f"- flag {f}" for f in r.flags]
            lines += [f"- error: {e}" for e in r.errors if not r.gradable]
            lines.append("")
    if len(lines) == 4:
        lines.append("Nothing to report.")
    return "\n".join(lines) + "\n"


def grade(submissions, out: Path | str, *, solutions: Path | str = SOLUTIONS,
          feedback: Path | str | None = None, jobs: int = 1, timeout: float = 120, progress=None,
          sandbox: bool | str = True, limits: sandbox_module.Limits | None = None, skip: bool = True,
          html: bool = True, student_pattern: str | None = None, regrade=(), lms: Path | str | None = None) -> dict:
    """Grade notebooks into the CSV ``out`` (merged with what it holds); returns a summary dict.

    ``submissions`` are notebook paths or folders (searched recursively).
    ``sandbox``: True (the default: sandboxed where possible, else a loud
    warning), "require" (an error where it is not possible) or False.
    ``regrade``: student ids, notebook names or paths (or "all") to grade
    again although unchanged. Summary keys: ``graded``, ``kept`` (unchanged
    rows left as they were), ``ungradable``, ``sandboxed``, ``seconds``.
    """
    if importlib.util.find_spec("ipykernel") is None:
        raise RuntimeError("ipykernel is not installed in this Python; install the kit with "
                           "`pip install -e .` (it comes with jupyterlab)")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive int, got {jobs!r}")
    if not timeout or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if student_pattern:
        re.compile(student_pattern)
    limits = limits or sandbox_module.Limits()
    solutions = Path(solutions)
    if not solutions.is_dir():
        raise FileNotFoundError(f"solutions={str(solutions)!r} is not a directory of solution notebooks")
    found = _submissions(submissions)
    if not found:
        raise FileNotFoundError("no submissions found")
    reason = sandbox_module.unavailable() if sandbox else "you asked for it (--no-sandbox)"
    if reason and sandbox == "require":
        raise RuntimeError(f"no sandbox: {reason}; {sandbox_module.HOW_TO_GET_IT}")
    if reason:
        sandbox_module.warn_unsandboxed(reason)
    out = Path(out)
    protected = (solutions, out, out.with_name(out.name + ".bak"), *(root for _, root in found),
                 *([Path(feedback)] if feedback else []))
    options = Options(timeout=timeout, sandbox=not reason, limits=limits, skip=skip, html=html,
                      protected=tuple(str(p) for p in protected))

    # who handed in what, against which solution
    entries = {}
    for path, root in found:
        solution_path, warnings = identify(path, solutions)
        notebook = solution_path.stem if solution_path else ""
        student = student_id(path, root, notebook, student_pattern)
        if not student:
            student, warnings = path.stem, [*warnings, f"the student pattern does not match {path.name}"]
        key = (student, notebook if solution_path else str(path))
        entry = (path, solution_path, student, warnings)
        if key in entries:                            # a second file for the same notebook: the newest counts
            older, newer = sorted([entries[key], entry], key=lambda e: e[0].stat().st_mtime)
            entry = (*newer[:3], [*newer[3], f"also handed in {older[0]} (older; not graded)"])
        entries[key] = entry
    used = sorted({e[1] for e in entries.values() if e[1]})
    items = {p.stem: graded_items(load_solution(p)) for p in used}
    grade_ids = list(dict.fromkeys(i.grade_id for p in used for i in items[p.stem]))
    manual = {i.grade_id for p in used for i in items[p.stem] if i.manual}
    book = Gradebook(out, grade_ids, manual)

    tasks, kept = [], 0
    for (student, _), (path, solution_path, student, warnings) in sorted(entries.items()):
        digest = sha256(path)
        graded_with = fingerprint(solution_path) if solution_path else ""
        notebook = solution_path.stem if solution_path else ""
        if solution_path and not _named(regrade, student, notebook, path) and \
                not book.needs_grading(student, notebook, digest, graded_with):
            kept += 1
            if progress:
                progress(f"[kept] {student} / {notebook}: unchanged since it was graded")
            continue
        tasks.append(((str(path), str(solution_path) if solution_path else None, student, warnings, options,
                       feedback is not None), digest, graded_with))
    if feedback is not None:
        Path(feedback).mkdir(parents=True, exist_ok=True)
    start, done, ungradable, results = time.perf_counter(), 0, 0, []
    digests = {t[0][0]: (t[1], t[2]) for t in tasks}
    book.save()
    for result, markdown, page in _results([t[0] for t in tasks], jobs):
        result.sha256, result.graded_with = digests[result.submission]
        book.update(result)
        book.save()
        results.append(result)
        done += 1
        ungradable += not result.gradable
        if feedback is not None:
            name = _file_name(result.student, result.notebook or Path(result.submission).stem)
            (Path(feedback) / f"{name}.md").write_text(markdown, encoding="utf-8")
            if page is not None:
                (Path(feedback) / f"{name}.html").write_text(page, encoding="utf-8")
        if progress:
            progress(f"[{done}/{len(tasks)}] {result.submission}: {number(result.total)}"
                     f"/{number(result.max_total)} ({result.seconds:.1f} s, {result.cpu_seconds:.1f} s CPU)"
                     + (f"  {'; '.join(result.errors)}" if result.errors else "")
                     + (f"  FLAGS: {' '.join(sorted({f.split(':', 1)[0] for f in result.flags}))}"
                        if result.flags else ""))
    out.with_name(out.stem + ".report.md").write_text(_tutor_report(results, out), encoding="utf-8")
    if lms is not None:
        write_lms(book, lms, sorted({n for _, n in book.rows if n}),
                  {p.stem: {i.grade_id: i.points for i in items[p.stem]} for p in used})
    return {"graded": done, "kept": kept, "ungradable": ungradable, "sandboxed": options.sandbox,
            "seconds": round(time.perf_counter() - start, 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m labkit.grade",
        description="Grade student notebooks: hidden tests restored from the solutions, each submission in "
                    "its own sandboxed kernel, one CSV row per student and notebook, merged on re-runs.")
    parser.add_argument("submissions", nargs="+", help="submitted notebooks or folders of them")
    parser.add_argument("--out", required=True, type=Path,
                        help="CSV to write or update (rows of unchanged submissions and your own columns are kept)")
    parser.add_argument("--feedback", type=Path, help="folder for <student>__<notebook>.md/.html feedback")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded in parallel (default 1)")
    parser.add_argument("--timeout", type=int, default=120, help="seconds per cell (default 120)")
    parser.add_argument("--max-seconds", type=float, default=900, help="seconds per submission (default 900)")
    parser.add_argument("--memory-mb", type=int, default=4096, help="memory per kernel in MB (default 4096)")
    parser.add_argument("--processes", type=int, default=256,
                        help="processes and threads per kernel (default 256)")
    parser.add_argument("--solutions", type=Path, default=SOLUTIONS, help="solution notebooks (default solutions/)")
    parser.add_argument("--student-pattern", help="regular expression with a group 'student', searched in the "
                                                  "path below the folder given (default: the first folder, else "
                                                  "the file name without the notebook's name)")
    parser.add_argument("--regrade", nargs="*", default=(), metavar="NAME",
                        help="grade again although unchanged: student ids, notebook names, files, or 'all'")
    parser.add_argument("--lms", type=Path, help="also write an LMS import CSV: one row per student, one column "
                                                 "per notebook")
    sandboxing = parser.add_mutually_exclusive_group()
    sandboxing.add_argument("--no-sandbox", action="store_true",
                            help="run student code with your permissions (only for notebooks you trust)")
    sandboxing.add_argument("--require-sandbox", action="store_true",
                            help="fail instead of grading unsandboxed where bubblewrap is missing")
    parser.add_argument("--no-skip", action="store_true", help="also run the cells tagged skip-grading")
    parser.add_argument("--no-html", action="store_true", help="markdown feedback only")
    args = parser.parse_args(argv)
    try:
        limits = sandbox_module.Limits(memory_mb=args.memory_mb, processes=args.processes,
                                       max_seconds=args.max_seconds)
        summary = grade(args.submissions, args.out, solutions=args.solutions, feedback=args.feedback,
                        jobs=args.jobs, timeout=args.timeout, limits=limits, skip=not args.no_skip,
                        html=not args.no_html, student_pattern=args.student_pattern, regrade=args.regrade,
                        lms=args.lms, sandbox="require" if args.require_sandbox else not args.no_sandbox,
                        progress=lambda line: print(line, file=sys.stderr, flush=True))
    except (FileNotFoundError, ValueError, RuntimeError, re.error) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"graded {summary['graded']} submissions in {summary['seconds']:.0f} s with {args.jobs} job(s)"
          + (f", kept {summary['kept']} unchanged" if summary["kept"] else "")
          + ("" if summary["sandboxed"] else ", UNSANDBOXED")
          + f"; grades in {args.out}, tutor's report in {args.out.with_name(args.out.stem + '.report.md')}"
          + (f", feedback in {args.feedback}/" if args.feedback else ""))
    if summary["ungradable"]:
        print(f"warning: {summary['ungradable']} submission(s) could not be graded; see the errors "
              f"column", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
