"""A submission against its solution: which solution, which cells are graded, and the cells put back.

- :func:`identify` finds the solution notebook of a submission (file name,
  ``metadata.labkit.source``, and its graded cells) and warns when they disagree;
- :func:`restore_locked_cells` takes every locked cell (check cells with their
  hidden tests) from the solution by ``grade_id``: deleted ones are put back,
  edited ones replaced, and one moved above its exercise goes back after it;
- :func:`skippable_cells`: cells the grader may skip (after the last graded
  cell; tagged ``skip-grading`` in the solution, unchanged by the student and
  needed by no later cell of the submission);
- :func:`fingerprint`: what a grade depends on besides the submission (the
  solution and the kit's check code), so a re-run knows what to regrade.
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from .cells import skip_dependents, without_claims
from .release import SKIP_TAG, SOLUTIONS, nbgrader, read_notebook

__all__ = ["Graded", "graded_items", "load_solution", "match_solution", "identify", "restore_locked_cells",
           "skippable_cells", "fingerprint", "SKIP_TAG"]

PACKAGE = Path(__file__).resolve().parent


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
            items.append(Graded(meta["grade_id"], float(meta.get("points", 0)), cell.cell_type == "markdown"))
    return items


def _grade_ids(nb) -> set[str]:
    return {nbgrader(c)["grade_id"] for c in nb.cells if nbgrader(c).get("grade_id")}


def match_solution(submission: Path | str, solutions: Path | str = SOLUTIONS) -> Path | None:
    """The solution notebook a submission belongs to, or None (see :func:`identify`)."""
    return identify(submission, solutions)[0]


def identify(submission: Path | str, solutions: Path | str = SOLUTIONS) -> tuple[Path | None, list[str]]:
    """``(solution path or None, warnings)`` for a submission.

    Tries the same file name, then the longest solution name inside the file
    name (``alice_02_feature_attribution``), then ``metadata.labkit.source``
    (release writes it). When the name and the notebook disagree (a file
    named for 02 holding notebook 04), the notebook's graded cells decide, and
    a warning says so.
    """
    submission, solutions = Path(submission), Path(solutions)
    stems = sorted((p.stem for p in solutions.glob("*.ipynb")), key=len, reverse=True)
    by_name = submission.stem if submission.stem in stems else next((s for s in stems if s in submission.stem), None)
    try:
        nb = read_notebook(submission)
    except Exception:  # unreadable: reported when it is graded
        return (solutions / f"{by_name}.ipynb" if by_name else None), []
    source = nb.metadata.get("labkit", {}).get("source")
    by_meta = source if source in stems else None
    ids = _grade_ids(nb)
    overlap = {s: len(ids & _grade_ids(load_solution(solutions / f"{s}.ipynb"))) for s in {by_name, by_meta} - {None}}
    warnings = []
    chosen = by_name or by_meta
    if by_name and by_meta and by_name != by_meta:
        chosen = max((by_name, by_meta), key=lambda s: (overlap[s], s == by_name))
        warnings.append(f"the file name says {by_name} but the notebook is {by_meta} (its metadata"
                        f"{' and cells' if overlap[by_meta] > overlap[by_name] else ''}); graded against {chosen}")
    elif chosen and ids and not overlap.get(chosen):
        warnings.append(f"none of the notebook's graded cells belong to {chosen}: is it the right file?")
    return (solutions / f"{chosen}.ipynb" if chosen else None), warnings


def _restored_cell(source_cell: NotebookNode, cell_id: str) -> NotebookNode:
    cell = nbformat.from_dict({k: v for k, v in source_cell.items() if k != "outputs"})
    cell["id"] = cell_id
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    return cell


def _locked(meta: dict) -> bool:
    return bool(meta.get("locked") or (meta.get("grade") and not meta.get("solution")))


def restore_locked_cells(submission: NotebookNode, solution: NotebookNode) -> tuple[NotebookNode, list[str]]:
    """The submission with every locked cell (check cells, hidden tests) taken from the solution.

    Cells are matched by nbgrader ``grade_id``. A locked cell the student
    deleted is put back after the cell that precedes it in the solution; one
    the student moved above that cell (e.g. a check cell pasted above the
    imports) is moved back after it. nbgrader metadata the solution does not
    know, or a duplicated grade_id, is dropped, so only the solution decides
    what is graded and for how much. Returns ``(notebook, notes)``;
    ``submission`` itself is not changed.
    """
    nb = nbformat.from_dict(submission)
    known = {nbgrader(c)["grade_id"]: c for c in solution.cells if nbgrader(c).get("grade_id")}
    seen: set = set()
    for cell in nb.cells:                     # forget unknown or duplicated grade_ids
        grade_id = nbgrader(cell).get("grade_id")
        if grade_id is not None and (grade_id not in known or grade_id in seen):
            cell.metadata.pop("nbgrader", None)
        seen.add(grade_id)
    notes, anchor, anchors = [], -1, {}
    previous = None
    for grade_id, source_cell in known.items():
        position = _position(nb, grade_id)
        meta = nbgrader(source_cell)
        anchors[grade_id] = previous
        if position is None:
            if not _locked(meta):
                previous = grade_id
                continue                      # a deleted answer cell: its test will fail
            position = anchor + 1
            nb.cells.insert(position, _restored_cell(source_cell, f"restored-{grade_id}"[:64]))
            notes.append(f"the cell {grade_id!r} was missing and has been put back")
        elif _locked(meta):
            nb.cells[position] = _restored_cell(source_cell, nb.cells[position].get("id", f"cell-{position}"))
        else:
            nb.cells[position].metadata["nbgrader"] = dict(meta)
        anchor, previous = position, grade_id
    for grade_id, source_cell in known.items():   # a locked cell moved above the cell it follows
        before = anchors.get(grade_id)
        position, after = _position(nb, grade_id), _position(nb, before) if before else None
        if _locked(nbgrader(source_cell)) and position is not None and after is not None and position < after:
            cell = nb.cells.pop(position)
            nb.cells.insert(_position(nb, before) + 1, cell)
            notes.append(f"the check cell {grade_id!r} had been moved above {before!r}; it has been put "
                         f"back after it")
    return nb, notes


def _position(nb, grade_id) -> int | None:
    return next((i for i, c in enumerate(nb.cells) if nbgrader(c).get("grade_id") == grade_id), None)


def skippable_cells(nb: NotebookNode, solution: NotebookNode) -> set[int]:
    """Indices of ``nb``'s cells the grader may skip.

    Cells after the last graded cell (nothing graded can depend on them),
    and cells tagged ``skip-grading`` in the solution that the student left
    unchanged, unless a later cell of *this* notebook (the student's own code
    included) reads a name such a cell sets: then it runs.
    """
    graded = [i for i, c in enumerate(nb.cells) if nbgrader(c).get("grade") and c.cell_type == "code"]
    if not graded:
        return set()
    tagged = {c.get("id"): without_claims(c.source).strip() for c in solution.cells
              if c.cell_type == "code" and SKIP_TAG in c.get("metadata", {}).get("tags", ())}
    candidates = {i for i, c in enumerate(nb.cells)
                  if c.cell_type == "code" and not nbgrader(c) and c.get("id") in tagged
                  and c.source.strip() == tagged[c.get("id")]}
    never_run = set(range(max(graded) + 1, len(nb.cells)))
    while True:
        needed = set(skip_dependents(nb, candidates | never_run)) & candidates
        if not needed:
            break
        candidates -= needed
    return candidates | never_run


@functools.lru_cache(maxsize=32)
def _fingerprint(path: str, mtime: float) -> str:
    digest = hashlib.sha256(Path(path).read_bytes())
    for module in sorted((PACKAGE / "checks").glob("*.py")):
        digest.update(module.read_bytes())
    return digest.hexdigest()[:16]


def fingerprint(solution_path: Path | str) -> str:
    """A short hash of the solution and the kit's check code: a grade made with another one is regraded."""
    path = Path(solution_path)
    return _fingerprint(str(path), path.stat().st_mtime)
