"""Write the student notebooks (``notebooks/``) from the tutor notebooks (``solutions/``).

``solutions/NN_topic.ipynb`` is the single source of every notebook. Inside it,
exercise code sits between markers, exactly as in nbgrader::

    def saliency(model, images):
        ### BEGIN SOLUTION
        ...the tutor's answer...
        ### END SOLUTION

and tutor-only tests sit at the end of a graded check cell::

    checks.check_saliency(saliency)           # the student sees this check
    ### BEGIN HIDDEN TESTS
    assert ...                                 # only the tutor (and the grader) sees this
    ### END HIDDEN TESTS

and tutor-only claims (checks that the notebook's prose is true of what it
computed, see :mod:`labkit.checks.claims`) sit in their own regions::

    ### BEGIN CLAIMS
    checks.claim(first_split == "education_num", "the tree asks about education first")
    ### END CLAIMS

Release turns every solution region into ``# YOUR CODE HERE`` +
``raise NotImplementedError()`` (at the marker's indentation), removes hidden
tests and claims (a cell left empty by that is dropped), replaces written answers (markdown cells marked as nbgrader solutions)
with ``YOUR ANSWER HERE``, clears outputs and execution counts, locks the
check cells against deletion, records the source in ``metadata.labkit.source``
and writes deterministic JSON, so that ``--check`` can compare byte for byte.

Command line::

    python -m labkit.release                 # solutions/ -> notebooks/
    python -m labkit.release --check         # exit 1 if notebooks/ is stale
    python -m labkit.release --clean-solutions   # clear outputs saved in solutions/

The small ``*_cell`` helpers build cells with the nbgrader metadata that
:mod:`labkit.grade` (and nbgrader) read, for scripts that write notebooks.
"""
from __future__ import annotations

import argparse
import copy
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from .cells import BEGIN_CLAIMS, END_CLAIMS, skip_dependents, without_claims

__all__ = [
    "BEGIN_SOLUTION", "END_SOLUTION", "BEGIN_HIDDEN", "END_HIDDEN", "BEGIN_CLAIMS", "END_CLAIMS",
    "CODE_STUB", "ANSWER_STUB", "SKIP_TAG", "skip_dependents", "without_claims",
    "ReleaseError", "nbgrader", "validate", "release_notebook", "clean_notebook", "render",
    "read_notebook", "write_notebook", "release", "markdown_cell", "code_cell", "solution_cell",
    "tests_cell", "readonly_cell", "answer_cell", "new_notebook", "SOLUTIONS", "NOTEBOOKS", "main",
]

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
NOTEBOOKS = ROOT / "notebooks"

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
SKIP_TAG = "skip-grading"   # a cell tag: nothing graded depends on this cell (a demo, an explorer, a gallery)
ANSWER_STUB = "YOUR ANSWER HERE"
SCHEMA_VERSION = 3
_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class ReleaseError(ValueError):
    """A solution notebook that cannot be released: unbalanced markers, missing metadata, ..."""


# --------------------------------------------------------------------------
# nbgrader metadata
def nbgrader(cell) -> dict:
    """The cell's nbgrader metadata (``{}`` for an ordinary cell)."""
    return dict(cell.get("metadata", {}).get("nbgrader", {}))


def _nbgrader_metadata(grade_id: str, *, solution: bool, grade: bool, locked: bool,
                       points: float = 0) -> dict:
    """nbgrader's cell metadata (schema 3); ``points`` only on graded cells."""
    if not isinstance(grade_id, str) or not _ID.match(grade_id):
        raise ValueError(f"grade_id must be 1-64 letters, digits, '-' or '_', got {grade_id!r}")
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked,
            "schema_version": SCHEMA_VERSION, "solution": solution, "task": False}
    if grade:
        if not isinstance(points, (int, float)) or points <= 0:
            raise ValueError(f"points must be a number > 0 for graded cell {grade_id!r}, got {points!r}")
        meta["points"] = points
    return meta


def markdown_cell(source: str) -> NotebookNode:
    """An ordinary markdown cell."""
    return nbformat.v4.new_markdown_cell(source.strip("\n"))


def code_cell(source: str) -> NotebookNode:
    """An ordinary code cell."""
    return nbformat.v4.new_code_cell(source.strip("\n"))


def solution_cell(source: str, grade_id: str) -> NotebookNode:
    """A code cell the student completes: put the answer between the SOLUTION markers."""
    cell = code_cell(source)
    cell.metadata["nbgrader"] = _nbgrader_metadata(grade_id, solution=True, grade=False, locked=False)
    return cell


def tests_cell(source: str, grade_id: str, points: float) -> NotebookNode:
    """A locked, graded check cell: worth ``points`` if it runs without error."""
    cell = code_cell(source)
    cell.metadata["nbgrader"] = _nbgrader_metadata(grade_id, solution=False, grade=True, locked=True,
                                                   points=points)
    return cell


def readonly_cell(source: str, grade_id: str) -> NotebookNode:
    """A locked code cell without points (an ungraded check): restored from the solution at grading."""
    cell = code_cell(source)
    cell.metadata["nbgrader"] = _nbgrader_metadata(grade_id, solution=False, grade=False, locked=True)
    return cell


def answer_cell(source: str, grade_id: str, points: float) -> NotebookNode:
    """A markdown cell for a written answer, graded by hand; ``source`` is the model answer."""
    cell = markdown_cell(source)
    cell.metadata["nbgrader"] = _nbgrader_metadata(grade_id, solution=True, grade=True, locked=False,
                                                   points=points)
    return cell


def new_notebook(cells) -> NotebookNode:
    """A notebook with the python3 kernel and stable cell ids (``cell-000``, ``cell-001``, ...)."""
    nb = nbformat.v4.new_notebook(cells=list(cells))
    nb.metadata = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                  "name": "python3"},
                   "language_info": {"name": "python"}}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:03d}"
    return nb


# --------------------------------------------------------------------------
# reading and writing, deterministically
def read_notebook(path: Path | str) -> NotebookNode:
    """Read a notebook as nbformat 4."""
    return nbformat.read(str(path), as_version=4)


def render(nb: NotebookNode) -> str:
    """The notebook as text: nbformat's JSON (indent 1, sorted keys) plus a final newline."""
    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def write_notebook(nb: NotebookNode, path: Path | str) -> None:
    """Write ``nb`` to ``path`` exactly as :func:`render` formats it."""
    Path(path).write_bytes(render(nb).encode("utf-8"))


def _ensure_ids(nb: NotebookNode) -> None:
    """Give cells without a (valid, unique) id a stable one, and mark the notebook 4.5."""
    seen = set()
    for i, cell in enumerate(nb.cells):
        cell_id = cell.get("id")
        if not isinstance(cell_id, str) or not _ID.match(cell_id) or cell_id in seen:
            cell_id = f"cell-{i:03d}"
        cell["id"] = cell_id
        seen.add(cell_id)
    nb.nbformat, nb.nbformat_minor = 4, max(5, nb.get("nbformat_minor", 5))


def clean_notebook(nb: NotebookNode) -> NotebookNode:
    """A copy without outputs, execution counts, timing metadata or widget state."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in ("execution", "collapsed", "scrolled", "ExecuteTime"):
            cell.metadata.pop(key, None)
    nb.metadata.pop("widgets", None)
    _ensure_ids(nb)
    return nb


def _is_clean(nb: NotebookNode) -> bool:
    return all(not cell.get("outputs") and cell.get("execution_count") is None
               for cell in nb.cells if cell.cell_type == "code")


# --------------------------------------------------------------------------
# the markers
def _lines(source: str) -> list[str]:
    return source.split("\n")


def _regions(lines: list[str], begin: str, end: str, where: str) -> list[tuple[int, int]]:
    """(start, stop) line indices of each begin..end region, markers included."""
    regions, start = [], None
    for i, line in enumerate(lines):
        text = line.strip()
        if text == begin:
            if start is not None:
                raise ReleaseError(f"{where}: '{begin}' on line {i + 1} inside another region "
                                   f"(opened on line {start + 1}); close it with '{end}' first")
            start = i
        elif text == end:
            if start is None:
                raise ReleaseError(f"{where}: '{end}' on line {i + 1} without a '{begin}' before it")
            regions.append((start, i))
            start = None
    if start is not None:
        raise ReleaseError(f"{where}: '{begin}' on line {start + 1} is never closed with '{end}'")
    return regions


def _replace_regions(source: str, begin: str, end: str, stub, where: str) -> tuple[str, bool]:
    """Replace every region by ``stub(indent)`` lines; returns (source, whether any was found)."""
    lines = _lines(source)
    regions = _regions(lines, begin, end, where)
    for start, stop in reversed(regions):
        indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
        lines[start:stop + 1] = stub(indent)
    return "\n".join(lines), bool(regions)


def _strip_blank_tail(source: str) -> str:
    return "\n".join(line.rstrip() for line in _lines(source)).rstrip("\n")


def _student_source(cell, where: str) -> str:
    """The student's version of one cell's source."""
    meta, source = nbgrader(cell), cell.source
    source, _ = _replace_regions(source, BEGIN_HIDDEN, END_HIDDEN, lambda indent: [], where)
    source, _ = _replace_regions(source, BEGIN_CLAIMS, END_CLAIMS, lambda indent: [], where)
    if cell.cell_type == "markdown":
        source, found = _replace_regions(source, BEGIN_SOLUTION, END_SOLUTION,
                                         lambda indent: [indent + ANSWER_STUB], where)
        if meta.get("solution") and not found:
            source = ANSWER_STUB
        return source
    source, found = _replace_regions(source, BEGIN_SOLUTION, END_SOLUTION,
                                     lambda indent: [indent + line for line in CODE_STUB], where)
    if meta.get("solution") and not found:   # nbgrader: a solution cell without markers is all answer
        source = "\n".join(CODE_STUB)
    return _strip_blank_tail(source)


# --------------------------------------------------------------------------
# validation
def validate(nb: NotebookNode, name: str = "notebook") -> list[str]:
    """Problems that stop ``nb`` from being released and graded (empty list = fine).

    Checks balanced markers, that exercise cells carry nbgrader solution
    metadata and hidden tests sit in graded cells with points, complete
    nbgrader metadata (schema 3) and unique grade_ids.
    """
    problems, seen = [], {}
    for index, cell in enumerate(nb.cells):
        where = f"{name} cell {index}"
        meta, source = nbgrader(cell), cell.get("source", "")
        try:
            has_solution = bool(_regions(_lines(source), BEGIN_SOLUTION, END_SOLUTION, where))
            has_hidden = bool(_regions(_lines(source), BEGIN_HIDDEN, END_HIDDEN, where))
            has_claims = bool(_regions(_lines(source), BEGIN_CLAIMS, END_CLAIMS, where))
        except ReleaseError as err:
            problems.append(str(err))
            continue
        if has_solution and not meta.get("solution"):
            problems.append(f"{where}: has '{BEGIN_SOLUTION}' but no nbgrader metadata with "
                            f"solution: true (use release.solution_cell or answer_cell)")
        if has_hidden and not (meta.get("grade") and cell.cell_type == "code"):
            problems.append(f"{where}: has '{BEGIN_HIDDEN}' but is not a graded code cell "
                            f"(nbgrader grade: true with points; use release.tests_cell)")
        if has_claims and (cell.cell_type != "code" or meta.get("solution") or meta.get("grade")):
            problems.append(f"{where}: '{BEGIN_CLAIMS}' belongs in a plain code cell, not in an "
                            f"exercise or graded cell (a student's answer must not decide a claim)")
        if meta:
            problems += _validate_metadata(meta, cell.cell_type, where)
            grade_id = meta.get("grade_id")
            if grade_id in seen:
                problems.append(f"{where}: grade_id {grade_id!r} is already used by cell {seen[grade_id]}")
            seen.setdefault(grade_id, index)
    return problems + _skip_problems(nb, name)


# --------------------------------------------------------------------------
# cells tagged skip-grading: the grader skips them, so nothing later may need them (labkit.cells)
def _skip_problems(nb: NotebookNode, name: str) -> list[str]:
    """A skip-grading cell must be plain code that no later cell needs."""
    problems, tagged = [], set()
    for index, cell in enumerate(nb.cells):
        if SKIP_TAG in cell.get("metadata", {}).get("tags", ()):
            if cell.cell_type != "code" or nbgrader(cell):
                problems.append(f"{name} cell {index}: only a plain code cell can be tagged {SKIP_TAG!r} (not an "
                                f"exercise, a check or markdown)")
            else:
                tagged.add(index)
    graded = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and nbgrader(c).get("grade")]
    never_run = set(range(max(graded) + 1, len(nb.cells))) if graded else set()   # after the last graded cell
    for index, readers in sorted(skip_dependents(nb, tagged | never_run).items()):
        for reader, var in readers:
            problems.append(f"{name} cell {reader}: uses `{var}`, which cell {index} (tagged {SKIP_TAG!r}) sets: "
                            f"the grader would skip that cell; untag it or set `{var}` elsewhere")
    return problems


def _validate_metadata(meta: dict, cell_type: str, where: str) -> list[str]:
    problems = []
    missing = [k for k in ("grade_id", "grade", "solution", "locked", "schema_version") if k not in meta]
    if missing:
        problems.append(f"{where}: nbgrader metadata lacks {', '.join(missing)}")
    if meta.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
        problems.append(f"{where}: nbgrader schema_version must be {SCHEMA_VERSION}")
    if "grade_id" in meta and not _ID.match(str(meta["grade_id"])):
        problems.append(f"{where}: grade_id {meta['grade_id']!r} must be 1-64 letters, digits, '-' or '_'")
    if meta.get("grade"):
        points = meta.get("points")
        if isinstance(points, bool) or not isinstance(points, (int, float)) or points <= 0:
            problems.append(f"{where}: graded cell {meta.get('grade_id')!r} needs points > 0, got {points!r}")
    if cell_type == "markdown" and meta.get("grade") and not meta.get("solution"):
        problems.append(f"{where}: a graded markdown cell must be a written answer (solution: true)")
    if meta.get("solution") and meta.get("locked"):
        problems.append(f"{where}: a solution cell cannot be locked")
    return problems


# --------------------------------------------------------------------------
# one notebook
def release_notebook(nb: NotebookNode, *, source: str = "") -> NotebookNode:
    """The student version of a solution notebook (a new object; ``nb`` is unchanged).

    Parameters
    ----------
    nb : the solution notebook
    source : its name (file stem), stored as ``metadata.labkit.source`` so
        that :mod:`labkit.grade` finds the solution of a renamed submission

    Raises
    ------
    ReleaseError
        listing every problem :func:`validate` finds.
    """
    problems = validate(nb, source or "notebook")
    if problems:
        raise ReleaseError("cannot release " + (source or "notebook") + ":\n  " + "\n  ".join(problems))
    student = clean_notebook(nb)
    kept = []
    for index, cell in enumerate(student.cells):
        had_claims = BEGIN_CLAIMS in cell.source
        cell.source = _student_source(cell, f"{source} cell {index}")
        if had_claims and not cell.source.strip():
            continue  # a cell of claims alone is the tutor's: the student never sees it
        if nbgrader(cell).get("locked"):
            cell.metadata["deletable"] = False
            cell.metadata["editable"] = False
        kept.append(cell)
    student.cells = kept
    keep = {k: student.metadata[k] for k in ("kernelspec", "language_info") if k in student.metadata}
    student.metadata = NotebookNode({**keep, "labkit": {"source": source}})
    return student


# --------------------------------------------------------------------------
# the whole directory
@dataclass
class Report:
    """What :func:`release` did or found: names of notebooks per category."""

    written: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)
    stale: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    extra: list = field(default_factory=list)
    unclean: list = field(default_factory=list)
    problems: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when notebooks/ is exactly what release writes and solutions/ is clean."""
        return not (self.stale or self.missing or self.extra or self.unclean or self.problems)


def _cross_notebook_ids(sources: list[Path]) -> list[str]:
    """grade_ids must be unique across notebooks: they are the columns of grades.csv."""
    owner, problems = {}, []
    for path in sources:
        for cell in read_notebook(path).cells:
            grade_id = nbgrader(cell).get("grade_id")
            if grade_id is None:
                continue
            if grade_id in owner and owner[grade_id] != path.stem:
                problems.append(f"{path.stem}: grade_id {grade_id!r} is also used in {owner[grade_id]}")
            owner.setdefault(grade_id, path.stem)
    return problems


def release(source: Path | str = SOLUTIONS, dest: Path | str = NOTEBOOKS, *,
            check: bool = False) -> Report:
    """Write (or with ``check=True`` only compare) the student notebooks.

    Every ``source/*.ipynb`` becomes ``dest/<same name>.ipynb``. With
    ``check=True`` nothing is written; the report lists stale, missing and
    extra notebooks in ``dest`` and solution notebooks saved with outputs.
    """
    source, dest = Path(source), Path(dest)
    if not source.is_dir():
        raise FileNotFoundError(f"source={str(source)!r} is not a directory of solution notebooks")
    sources = sorted(source.glob("*.ipynb"))
    report = Report(problems=_cross_notebook_ids(sources))
    if not check:
        dest.mkdir(parents=True, exist_ok=True)
    for path in sources:
        nb = read_notebook(path)
        if not _is_clean(nb):
            report.unclean.append(path.name)
        try:
            text = render(release_notebook(nb, source=path.stem)).encode("utf-8")
        except ReleaseError as err:
            report.problems.append(str(err))
            continue
        target = dest / path.name
        current = target.read_bytes() if target.exists() else None
        if current == text:
            report.unchanged.append(path.name)
        elif check:
            (report.stale if current is not None else report.missing).append(path.name)
        else:
            target.write_bytes(text)
            report.written.append(path.name)
    names = {p.name for p in sources}
    report.extra = sorted(p.name for p in dest.glob("*.ipynb") if p.name not in names) if dest.is_dir() else []
    return report


def clean_solutions(source: Path | str = SOLUTIONS) -> list[str]:
    """Clear outputs saved in the solution notebooks, in place; returns the names changed."""
    changed = []
    for path in sorted(Path(source).glob("*.ipynb")):
        before = path.read_bytes()
        after = render(clean_notebook(read_notebook(path))).encode("utf-8")
        if after != before:
            path.write_bytes(after)
            changed.append(path.name)
    return changed


def _print_report(report: Report, source: Path, dest: Path, check: bool) -> None:
    for text in report.problems:
        print(f"error: {text}", file=sys.stderr)
    for name in report.unclean:
        print(f"{'error' if check else 'warning'}: {source / name} was saved with outputs; "
              f"run `python -m labkit.release --clean-solutions`", file=sys.stderr)
    for label, names in (("stale", report.stale), ("missing", report.missing)):
        for name in names:
            print(f"{label}: {dest / name} (run `python -m labkit.release`)", file=sys.stderr)
    for name in report.extra:
        print(f"extra: {dest / name} has no source in {source}/ (delete it or add the solution)",
              file=sys.stderr)
    for name in report.written:
        print(f"wrote {dest / name}")
    if check and report.ok:
        print(f"{dest}/ is up to date with {source}/ ({len(report.unchanged)} notebooks)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.release",
                                     description="Write the student notebooks from the solution notebooks.")
    parser.add_argument("--source", type=Path, default=SOLUTIONS, help="solution notebooks (default: solutions/)")
    parser.add_argument("--dest", type=Path, default=NOTEBOOKS, help="student notebooks (default: notebooks/)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if dest is stale, has missing or extra notebooks, "
                             "or a solution was saved with outputs")
    parser.add_argument("--clean-solutions", action="store_true",
                        help="clear outputs saved in the solution notebooks (in place) and exit")
    args = parser.parse_args(argv)
    if args.clean_solutions:
        for name in clean_solutions(args.source):
            print(f"cleared outputs in {args.source / name}")
        return 0
    try:
        report = release(args.source, args.dest, check=args.check)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    _print_report(report, args.source, args.dest, args.check)
    if report.problems:
        return 1
    return 0 if (report.ok or not args.check) else 1


if __name__ == "__main__":
    raise SystemExit(main())
