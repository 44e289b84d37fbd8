"""The gradebook: what grading found (typed records) and the CSV that keeps every mark.

One row per student per notebook, keyed by ``(student, notebook)``. The
student id comes from the submission's path (:func:`student_id`: the folder
per student, or an LMS download name, or a pattern of your own). Re-running
the grader **merges** (:class:`Gradebook`): rows of unchanged submissions are
kept as they are, changed or named ones are regraded, and every column the
grader does not own (written answers, comments, adjustments a tutor typed) is
kept on every row. The file is rewritten atomically after each submission
(and the previous version saved once as ``<name>.bak``), so an interrupted run
or a crash never loses a mark.
"""
from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

__all__ = ["CellRun", "ItemResult", "SubmissionResult", "Status", "Gradebook", "student_id", "sha256",
           "write_lms", "KEY_COLUMNS", "TAIL_COLUMNS", "number"]

Status = Literal["passed", "wrong", "not attempted", "not run", "manual"]
KEY_COLUMNS = ["student", "notebook"]
TAIL_COLUMNS = ["total", "max", "not_attempted", "errors", "warnings", "flags", "submission", "sha256",
                "graded_with"]


@dataclass
class CellRun:
    """How one code cell ran: ``status`` is "ok", "error", "timeout", "dead" or "skipped"."""

    index: int
    status: str
    ename: str = ""
    evalue: str = ""
    seconds: float = 0.0

    @property
    def error(self) -> str:
        """``"Name: message"`` (empty when the cell ran fine)."""
        return f"{self.ename}: {self.evalue}".strip(": ") if self.status not in ("ok", "skipped") else ""


@dataclass
class ItemResult:
    """The points of one graded item (an nbgrader ``grade_id``) of a submission, and why."""

    grade_id: str
    max_points: float
    manual: bool                 # a written answer, graded by the tutor
    points: Optional[float]      # None for a written answer: the tutor's mark, left blank
    status: Status
    message: str = ""            # the check's message (the kit's words only), or why the cell did not run


@dataclass
class SubmissionResult:
    """Everything grading found out about one submission (no notebook in it, so it pickles small).

    ``errors``: the CSV's short summary; ``cell_errors``: failing cells outside the exercises;
    ``notes``: what the student should know (a restored or moved check cell); ``warnings``: what
    the tutor should know (file name and content disagree, a duplicate); ``flags``: findings of
    :mod:`labkit.scan` and of the kernel's guard, for the tutor only; ``gradable``: False without
    a solution, or when it cannot be read or run at all.
    """

    submission: str
    notebook: str                # the solution's name, "" when none matched
    student: str = ""
    items: list[ItemResult] = field(default_factory=list)
    total: float = 0.0           # automatically graded points
    max_total: float = 0.0       # the most automatically graded points possible
    errors: list[str] = field(default_factory=list)
    cell_errors: list[CellRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0     # CPU time of its kernel's processes
    gradable: bool = True
    sha256: str = ""
    graded_with: str = ""


def number(value) -> str:
    """A CSV cell for a number: ``2``, ``0.5``, or empty for None."""
    if value is None or value == "":
        return ""
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:g}"


def sha256(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --------------------------------------------------------------------------
# who handed it in
_SEPARATORS = " _-.()[]"


def student_id(path: Path | str, root: Path | str | None, notebook: str, pattern: str | None = None) -> str:
    """The student a submission belongs to.

    ``pattern``: a regular expression searched in the path relative to
    ``root`` (the folder given on the command line, ``/`` between parts); its
    group ``student`` (or its first group) is the id, e.g.
    ``^(?P<student>[^_]+)_`` for ``smithj_12345_02_feature_attribution.ipynb``.
    Without a pattern: the first folder below ``root`` (``submitted/<student>/...``,
    as nbgrader collects), else the file name without the notebook's name
    (``alice_02_feature_attribution (1).ipynb`` -> ``alice``), else the file name.
    Leading ``= + - @`` are dropped, so a spreadsheet never reads an id as a formula.
    """
    return _found_id(Path(path), root, notebook, pattern).lstrip("=+-@\t\r ")   # no spreadsheet formulas


def _found_id(path: Path, root, notebook: str, pattern: str | None) -> str:
    try:
        relative = path.resolve().relative_to(Path(root).resolve()) if root is not None else Path(path.name)
    except ValueError:
        relative = Path(path.name)
    if pattern:
        match = re.search(pattern, relative.as_posix())
        if match:
            groups = match.groupdict()
            value = groups.get("student") or (match.group(1) if match.groups() else match.group(0))
            if value:
                return value.strip()
        return ""
    if len(relative.parts) > 1:
        return relative.parts[0]
    stem = path.stem
    if notebook and notebook in stem:
        before, after = stem.split(notebook, 1)
        rest = (before.strip(_SEPARATORS) or re.sub(r"\(\d+\)", "", after).strip(_SEPARATORS))
        if rest:
            return rest
    return stem


# --------------------------------------------------------------------------
# the CSV
def _read(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), [dict(r) for r in reader]


class Gradebook:
    """The grades CSV, merged with what is already in it.

    Parameters
    ----------
    path : the CSV (read if it exists)
    grade_ids : the graded items' columns, in order; ``manual`` those the tutor fills in
    """

    def __init__(self, path: Path | str, grade_ids: list[str], manual: set[str]):
        self.path = Path(path)
        self.grade_ids, self.manual = list(grade_ids), set(manual)
        self.rows: dict[tuple[str, str], dict] = {}
        self.extra: list[str] = []        # columns the grader does not own (the tutor's, other notebooks')
        self.legacy = False
        if self.path.exists() and self.path.stat().st_size:
            header, rows = _read(self.path)
            if "student" not in header:              # written by an older grader: one row per file
                self.legacy = True
                for row in rows:
                    row["student"] = Path(row.get("submission", "")).parent.name or row.get("submission", "")
            ours = {*KEY_COLUMNS, *TAIL_COLUMNS, *self.grade_ids}
            self.extra = [c for c in header if c and c not in ours]
            for row in rows:
                self.rows[(row.get("student", ""), row.get("notebook", ""))] = row
        self._backed_up = False

    def header(self) -> list[str]:
        return [*KEY_COLUMNS, *self.grade_ids, *TAIL_COLUMNS, *self.extra]

    def row(self, student: str, notebook: str) -> dict | None:
        return self.rows.get((student, notebook))

    def needs_grading(self, student: str, notebook: str, digest: str, graded_with: str) -> bool:
        """Whether a submission must be graded: new, changed, or graded with another solution/kit."""
        row = self.row(student, notebook)
        return row is None or row.get("sha256") != digest or row.get("graded_with") != graded_with

    def update(self, result: SubmissionResult) -> None:
        """Put a result into its row: the grader's columns replaced, every other column kept."""
        key = (result.student, result.notebook)
        row = dict(self.rows.get(key, {}))
        row.update({"student": result.student, "notebook": result.notebook,
                    "total": number(result.total), "max": number(result.max_total),
                    "not_attempted": " ".join(e.grade_id for e in result.items if e.status == "not attempted"),
                    "errors": "; ".join(result.errors), "warnings": "; ".join(result.warnings),
                    "flags": " ".join(sorted({f.split(":", 1)[0] for f in result.flags})),
                    "submission": result.submission, "sha256": result.sha256, "graded_with": result.graded_with})
        for item in result.items:
            if item.manual:
                row.setdefault(item.grade_id, "")    # the tutor's mark: never overwritten
            else:
                row[item.grade_id] = number(item.points)
        self.rows[key] = row

    def note(self, student: str, notebook: str, warning: str) -> None:
        """Add a warning to a row that is kept without regrading."""
        row = self.rows.get((student, notebook))
        if row is not None and warning not in row.get("warnings", ""):
            row["warnings"] = "; ".join(w for w in (row.get("warnings", ""), warning) if w)

    def save(self) -> None:
        """Write the CSV atomically (a temporary file renamed over it), sorted by student and notebook."""
        if not self._backed_up and self.path.exists() and self.path.stat().st_size:
            shutil.copy2(self.path, self.path.with_name(self.path.name + ".bak"))
        self._backed_up = True
        header = self.header()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=header, extrasaction="ignore")
            writer.writeheader()
            for key in sorted(self.rows):
                writer.writerow({k: self.rows[key].get(k, "") for k in header})
        os.replace(tmp, self.path)


def write_lms(gradebook: Gradebook, path: Path | str, notebooks: list[str], points: dict[str, dict]) -> None:
    """A CSV for an LMS import: one row per student, one column per notebook (points, written answers included).

    ``points``: {notebook: {grade_id: max points}}, to sum each notebook's
    columns; an empty written-answer mark counts as 0 and is listed in
    ``ungraded`` so nothing is uploaded unnoticed.
    """
    students = sorted({s for s, _ in gradebook.rows})
    header = ["student", *notebooks, "total", "ungraded"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for student in students:
            values, ungraded, total = [], [], 0.0
            for notebook in notebooks:
                row = gradebook.row(student, notebook)
                if row is None:
                    values.append("")
                    continue
                score = 0.0
                for grade_id in points.get(notebook, {}):
                    text = (row.get(grade_id) or "").strip()
                    try:
                        score += float(text) if text else 0.0
                    except ValueError:
                        ungraded.append(f"{grade_id}={text!r}")
                    if not text and grade_id in gradebook.manual:
                        ungraded.append(grade_id)
                values.append(number(score))
                total += score
            writer.writerow([student, *values, number(total), " ".join(ungraded)])
