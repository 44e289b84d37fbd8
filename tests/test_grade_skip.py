"""Skipping cells changes no score: the real notebooks, solved and half solved, graded with skipping.

The grader skips the cells a solution tags ``skip-grading`` (demos,
explorers, galleries) and everything after the last graded cell. The
solutions are taken as they are, or, while they carry no tag yet, tagged the
way ``.tmp_tools/issue15_notebooks.py`` tags them (into a temporary copy).
For every notebook with graded cells, a student version with all exercises
solved must score full marks; for notebooks 02 and 04 one with every other
exercise solved exactly the points of those, and notebook 04's half-solved one
graded without skipping gives the same row. One run, ``--jobs 2``.
"""

import csv
import importlib.util
import shutil
from pathlib import Path

import pytest

from labkit import cells, grade, release
from labkit.release import SKIP_TAG, nbgrader, read_notebook, release_notebook
from labkit.submission import graded_items, skippable_cells

ROOT = Path(__file__).resolve().parent.parent
TAGGER = ROOT / ".tmp_tools" / "issue15_notebooks.py"
HALF = ("02", "04")     # half-solved versions of these (the most tagged cells, and the fastest notebook)


def tagged_solutions(dest: Path) -> Path:
    dest.mkdir()
    for path in sorted(release.SOLUTIONS.glob("*.ipynb")):
        shutil.copy(path, dest)
    already = any(SKIP_TAG in c.get("metadata", {}).get("tags", ())
                  for p in dest.glob("*.ipynb") for c in read_notebook(p).cells)
    if not already and TAGGER.exists():
        spec = importlib.util.spec_from_file_location("issue15_notebooks", TAGGER)
        tagger = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(tagger)
        assert tagger.main(["--source", str(dest)]) == 0
    return dest


def student(solution_path: Path, solve) -> release.NotebookNode:
    """The released notebook with the exercises in ``solve`` answered with the model answer."""
    solution = read_notebook(solution_path)
    answers = {nbgrader(c)["grade_id"]: c.source for c in solution.cells
               if c.cell_type == "code" and nbgrader(c).get("solution")}
    nb = release_notebook(solution, source=solution_path.stem)
    for cell in nb.cells:
        if nbgrader(cell).get("grade_id") in answers and nbgrader(cell)["grade_id"] in solve:
            cell.source = answers[nbgrader(cell)["grade_id"]]
    return nb


def exercises(solution) -> list[str]:
    return [nbgrader(c)["grade_id"] for c in solution.cells if c.cell_type == "code" and nbgrader(c).get("solution")]


def checks_of(solution) -> list[tuple[str, list[str]]]:
    """[(check grade_id, exercise grade_ids since the previous check)] in order."""
    found, pending = [], []
    for cell in solution.cells:
        meta = nbgrader(cell)
        if meta.get("grade") and cell.cell_type == "code":
            found.append((meta["grade_id"], pending))
            pending = []
        elif meta.get("solution") and cell.cell_type == "code":
            pending.append(meta["grade_id"])
    return found


@pytest.fixture(scope="module")
def skipped(tmp_path_factory):
    root = tmp_path_factory.mktemp("skip")
    solutions = tagged_solutions(root / "solutions")
    expected = {}
    for path in sorted(solutions.glob("*.ipynb")):
        solution = read_notebook(path)
        checks = checks_of(solution)
        if not checks:
            continue
        half = {e for k, (_, exs) in enumerate(checks) if k % 2 == 0 for e in exs}
        for name, solve in (("full", set(exercises(solution))), ("half", half)):
            if name == "half" and path.stem[:2] not in HALF:
                continue
            target = root / "submitted" / f"{name}_{path.stem[:2]}" / path.name
            target.parent.mkdir(parents=True)
            release.write_notebook(student(path, solve), target)
            points = {i.grade_id: i.points for i in graded_items(solution)}
            expected[(name, path.stem)] = {c: (points[c] if set(exs) <= solve else 0.0) for c, exs in checks}
    no_skip = root / "no_skip" / "half_04" / "04_distillation_and_fairness.ipynb"
    no_skip.parent.mkdir(parents=True)
    shutil.copy(root / "submitted" / "half_04" / no_skip.name, no_skip)
    common = ["--solutions", str(solutions), "--timeout", "120", "--jobs", "2", "--no-html"]
    rc = grade.main([str(root / "submitted"), "--out", str(root / "skip.csv"), *common])
    rc2 = grade.main([str(root / "no_skip"), "--out", str(root / "no_skip.csv"), "--no-skip", *common])
    rows = {(r["student"].split("_")[0], r["notebook"]): r for r in csv.DictReader(open(root / "skip.csv"))}
    return dict(root=root, solutions=solutions, rows=rows, expected=expected, rc=(rc, rc2),
                no_skip=next(csv.DictReader(open(root / "no_skip.csv"))))


def test_the_solutions_are_tagged_and_valid(skipped):
    tagged = 0
    for path in sorted(skipped["solutions"].glob("*.ipynb")):
        nb = read_notebook(path)
        assert release.validate(nb, path.stem) == []
        tagged += sum(SKIP_TAG in c.get("metadata", {}).get("tags", ()) for c in nb.cells)
    assert tagged > 0 or not TAGGER.exists()


def test_release_keeps_the_tag(skipped):
    for path in sorted(skipped["solutions"].glob("*.ipynb")):
        solution = read_notebook(path)
        student_version = release_notebook(solution, source=path.stem)
        tags = {c["id"] for c in solution.cells if SKIP_TAG in c.get("metadata", {}).get("tags", ())}
        kept = {c["id"] for c in student_version.cells if SKIP_TAG in c.get("metadata", {}).get("tags", ())}
        assert tags == kept, path.stem
        if tags:
            assert skippable_cells(student_version, solution) >= {
                i for i, c in enumerate(student_version.cells) if c["id"] in tags}


def test_skipping_changes_no_score_of_solved_and_half_solved_notebooks(skipped):
    assert skipped["rc"] == (0, 0)
    for (name, notebook), expected in skipped["expected"].items():
        row = skipped["rows"][(name, notebook)]
        got = {grade_id: float(row[grade_id]) for grade_id in expected}
        assert got == expected, (name, notebook, row["errors"])


def test_without_skipping_the_same_row(skipped):
    skip = skipped["rows"][("half", "04_distillation_and_fairness")]
    columns = [c for c in skipped["no_skip"] if c.startswith("nb04_")] + ["total", "not_attempted"]
    assert {c: skipped["no_skip"][c] for c in columns} == {c: skip[c] for c in columns}


def test_a_skipped_cell_runs_when_the_students_own_code_needs_it(skipped):
    path = skipped["solutions"] / "02_feature_attribution.ipynb"
    solution = read_notebook(path)
    nb = student(path, set(exercises(solution)))
    skippable = skippable_cells(nb, solution)
    tagged = sorted(i for i in skippable if SKIP_TAG in nb.cells[i].get("metadata", {}).get("tags", ()))
    if not tagged:
        pytest.skip("notebook 02 has no tagged cell")
    first = tagged[0]
    bound = sorted(cells._names(nb.cells[first].source)[0])
    exercise = next(i for i, c in enumerate(nb.cells) if i > first and nbgrader(c).get("solution"))
    nb.cells[exercise].source += f"\n\n_uses_it = {bound[0]}"          # the student's cell reads it
    assert first not in skippable_cells(nb, solution)


# --------------------------------------------------------------------------
# the tag's rule, without kernels
def test_release_rejects_a_tag_on_a_cell_a_later_cell_needs():
    nb = release.new_notebook([release.code_cell("x = 1\nfig = 'a figure'"), release.code_cell("print(x)"),
                               release.tests_cell("assert True", "t_check", 1), release.code_cell("print(fig)")])
    nb.cells[0].metadata["tags"] = [SKIP_TAG]
    assert [p for p in release.validate(nb, "nb") if "uses" in p] == [
        "nb cell 1: uses `x`, which cell 0 (tagged 'skip-grading') sets: the grader would skip that cell; "
        "untag it or set `x` elsewhere"]                       # cell 3 comes after the last graded cell
    nb.cells[1].source = "x = 2\nprint(x)"                    # binding it first is fine
    assert release.validate(nb, "nb") == []
    nb.cells[1].source = "def f(x):\n    return [x for x in range(3)]"    # parameters and comprehensions
    assert release.validate(nb, "nb") == []
    nb.cells[1].source = "def f():\n    return x"                         # a global read when called
    assert any("uses `x`" in p for p in release.validate(nb, "nb"))
    nb.cells[1].source = "print(1)"
    nb.cells[2].metadata["tags"] = [SKIP_TAG]
    assert any("only a plain code cell" in p for p in release.validate(nb, "nb"))
