"""Tests for labkit.grade on the tiny fixture lab (3 exercises, 4 points, no TensorFlow).

One module-scoped run grades a set of submissions with --jobs 1 and another
with --jobs 2; the tests read the CSVs and feedback files they wrote.
"""

import csv
import shutil
from pathlib import Path

import nbformat
import pytest

from labkit import grade, release
from labkit.release import nbgrader, read_notebook, release_notebook

FIXTURES = Path(__file__).parent / "fixtures" / "solutions"
SOLUTION = FIXTURES / "fixture_lab.ipynb"
TIMEOUT = 5   # seconds per cell: the fixture's cells take milliseconds

ANSWERS = {
    "fx_add": 'def add(a, b):\n    return a + b',
    "fx_squares": 'def squares(x):\n    return np.asarray(x, dtype=float) ** 2',
    "fx_vowels": 'def count_vowels(text):\n    return sum(c in "aeiou" for c in text.lower())',
}


def student_notebook():
    return release_notebook(read_notebook(SOLUTION), source="fixture_lab")


def cell(nb, grade_id):
    return next(c for c in nb.cells if nbgrader(c).get("grade_id") == grade_id)


def solved(*grade_ids):
    nb = student_notebook()
    for grade_id in grade_ids:
        cell(nb, grade_id).source = ANSWERS[grade_id]
    return nb


def write(nb, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    release.write_notebook(nb, path)
    return path


def make_submissions(root: Path) -> dict:
    subs = {}
    subs["solution"] = root / "solution" / "fixture_lab.ipynb"
    subs["solution"].parent.mkdir(parents=True)
    shutil.copy(SOLUTION, subs["solution"])
    subs["untouched"] = write(student_notebook(), root / "untouched" / "fixture_lab.ipynb")
    subs["one_solved"] = write(solved("fx_squares"), root / "one_solved" / "fixture_lab.ipynb")

    cheat = solved("fx_squares")
    cell(cheat, "fx_add").source = "def add(a, b):\n    return 3   # passes the visible check only"
    cell(cheat, "fx_add_test").metadata["nbgrader"]["points"] = 100
    cell(cheat, "fx_vowels_test").source = "pass  # the student 'fixed' the check"
    cheat.cells.remove(cell(cheat, "fx_squares_test"))          # and deleted another
    subs["cheater"] = write(cheat, root / "cheater" / "alice_fixture_lab.ipynb")

    loop = solved("fx_add", "fx_vowels")
    cell(loop, "fx_squares").source = "while True:\n    pass"
    subs["looper"] = write(loop, root / "looper" / "homework.ipynb")   # found by metadata.labkit.source

    crash = solved("fx_add", "fx_vowels")
    crash.cells.insert(5, nbformat.v4.new_code_cell("import os\nos._exit(1)"))
    subs["crasher"] = write(crash, root / "crasher" / "fixture_lab.ipynb")

    subs["garbage"] = root / "garbage" / "fixture_lab.ipynb"
    subs["garbage"].parent.mkdir()
    subs["garbage"].write_text("this is not a notebook")
    stranger = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    subs["stranger"] = write(stranger, root / "stranger" / "unknown.ipynb")
    return subs


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("grading")
    subs = make_submissions(root / "submitted")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in subs.values()}
    rc1 = grade.main([str(root / "submitted"), "--out", str(root / "grades1.csv"), "--feedback",
                      str(root / "feedback"), "--solutions", str(FIXTURES), "--timeout", str(TIMEOUT)])
    rc2 = grade.main([*map(str, subs.values()), "--out", str(root / "grades2.csv"), "--jobs", "2",
                      "--solutions", str(FIXTURES), "--timeout", str(TIMEOUT)])
    rows = {Path(r["submission"]).parent.name: r for r in read_csv(root / "grades1.csv")}
    return dict(root=root, subs=subs, before=before, rc=(rc1, rc2), rows=rows)


def points(row):
    return {k: row[k] for k in ("fx_add_test", "fx_squares_test", "fx_vowels_test", "total", "max")}


def test_csv_has_a_column_per_exercise(graded):
    header = next(csv.reader(open(graded["root"] / "grades1.csv")))
    assert header == ["submission", "notebook", "fx_add_test", "fx_squares_test", "fx_vowels_test", "fx_why",
                      "total", "max", "errors"]
    assert len(graded["rows"]) == len(graded["subs"])
    assert [r["submission"] for r in read_csv(graded["root"] / "grades1.csv")] == sorted(
        str(p) for p in graded["subs"].values())


def test_solution_scores_full_marks(graded):
    row = graded["rows"]["solution"]
    assert points(row) == {"fx_add_test": "1", "fx_squares_test": "2", "fx_vowels_test": "1",
                           "total": "4", "max": "4"}
    assert row["errors"] == "" and row["fx_why"] == ""   # the written answer is left to the tutor


def test_untouched_student_notebook_scores_zero(graded):
    row = graded["rows"]["untouched"]
    assert points(row) == {"fx_add_test": "0", "fx_squares_test": "0", "fx_vowels_test": "0",
                           "total": "0", "max": "4"}


def test_one_solved_exercise_scores_exactly_its_points(graded):
    assert points(graded["rows"]["one_solved"]) == {"fx_add_test": "0", "fx_squares_test": "2",
                                                    "fx_vowels_test": "0", "total": "2", "max": "4"}


def test_hidden_tests_and_check_cells_come_from_the_solution(graded):
    row = graded["rows"]["cheater"]
    assert row["notebook"] == "fixture_lab"                       # matched inside the file name
    # add() passes the visible check but not the hidden test; the edited check and the
    # points the student wrote into the metadata are replaced; the deleted check is put back
    assert points(row) == {"fx_add_test": "0", "fx_squares_test": "2", "fx_vowels_test": "0",
                           "total": "2", "max": "4"}


def test_infinite_loop_is_stopped_by_the_timeout_and_later_cells_still_count(graded):
    row = graded["rows"]["looper"]
    assert row["notebook"] == "fixture_lab"                       # matched by metadata.labkit.source
    assert points(row) == {"fx_add_test": "1", "fx_squares_test": "0", "fx_vowels_test": "1",
                           "total": "2", "max": "4"}
    assert "CellTimeout in cell 6" in row["errors"]


def test_a_dying_kernel_keeps_the_points_so_far(graded):
    row = graded["rows"]["crasher"]
    assert points(row) == {"fx_add_test": "1", "fx_squares_test": "0", "fx_vowels_test": "0",
                           "total": "1", "max": "4"}
    assert "DeadKernelError in cell 5" in row["errors"] and "fx_vowels_test: not run" in row["errors"]


def test_unreadable_and_unknown_notebooks_get_an_error_row(graded):
    assert "could not read the notebook" in graded["rows"]["garbage"]["errors"]
    assert graded["rows"]["stranger"]["errors"] == "no matching solution notebook (check the file name)"
    assert graded["rows"]["stranger"]["total"] == "0"
    assert graded["rc"] == (1, 1)   # exit status 1: some submissions could not be graded


def test_jobs_2_gives_the_same_csv_as_jobs_1(graded):
    assert (graded["root"] / "grades1.csv").read_text() == (graded["root"] / "grades2.csv").read_text()


def test_submissions_are_never_modified(graded):
    for path, (data, mtime) in graded["before"].items():
        assert path.read_bytes() == data and path.stat().st_mtime_ns == mtime, path
    assert sorted(p.name for p in graded["root"].joinpath("submitted").rglob("*") if p.is_file()) == sorted(
        p.name for p in graded["subs"].values())


def test_feedback_files_say_what_passed_and_what_failed(graded):
    feedback = graded["root"] / "feedback"
    names = sorted(p.name for p in feedback.iterdir())
    assert names == sorted(["solution__fixture_lab.md", "untouched__fixture_lab.md", "one_solved__fixture_lab.md",
                            "cheater__alice_fixture_lab.md", "looper__homework.md", "crasher__fixture_lab.md",
                            "garbage__fixture_lab.md", "stranger__unknown.md"])
    text = (feedback / "one_solved__fixture_lab.md").read_text()
    assert "**Score: 2 / 4**" in text and "| fx_squares_test | 2 / 2 | passed |" in text
    assert "| fx_add_test | 0 / 1 | not attempted |" in text and "replace `raise NotImplementedError()`" in text
    assert "fx_why (2 points)" in text
    cheat = (feedback / "cheater__alice_fixture_lab.md").read_text()
    assert "hidden: add(-4, 10) should be 6" in cheat                  # the hidden test's message
    assert "'fx_squares_test' was missing and has been put back" in cheat
    loop = (feedback / "looper__homework.md").read_text()
    assert "did not finish within 5 s" in loop and "| fx_vowels_test | 1 / 1 | passed |" in loop
    crash = (feedback / "crasher__fixture_lab.md").read_text()
    assert "- cell 5: `` DeadKernelError: the kernel died" in crash
    assert "secret model answer" not in "".join(p.read_text() for p in feedback.iterdir())


# --------------------------------------------------------------------------
# pieces, without kernels
def test_restore_locked_cells_by_grade_id():
    solution = read_notebook(SOLUTION)
    sub = solved("fx_add")
    cell(sub, "fx_add_test").source = "pass"
    sub.cells.remove(cell(sub, "fx_vowels_test"))
    sub.cells.append(release.tests_cell("pass", "my_own_points", 50))
    restored, notes = grade.restore_locked_cells(sub, solution)
    assert cell(restored, "fx_add_test").source == cell(solution, "fx_add_test").source
    ids = [nbgrader(c).get("grade_id") for c in restored.cells]
    assert ids.index("fx_vowels_test") == ids.index("fx_vowels") + 1
    assert "my_own_points" not in ids
    assert cell(restored, "fx_add").source == ANSWERS["fx_add"]             # the student's answer stays
    assert notes == ["the cell 'fx_vowels_test' was missing and has been put back"]
    assert cell(sub, "fx_add_test").source == "pass"                        # input unchanged


def test_match_solution(tmp_path):
    assert grade.match_solution(tmp_path / "fixture_lab.ipynb", FIXTURES) == SOLUTION
    assert grade.match_solution(tmp_path / "bob-fixture_lab (1).ipynb", FIXTURES) == SOLUTION
    renamed = write(student_notebook(), tmp_path / "hw.ipynb")
    assert grade.match_solution(renamed, FIXTURES) == SOLUTION
    other = write(nbformat.v4.new_notebook(), tmp_path / "other.ipynb")
    assert grade.match_solution(other, FIXTURES) is None


def test_bad_arguments(tmp_path, capsys):
    assert grade.main([str(tmp_path / "nope.ipynb"), "--out", str(tmp_path / "g.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(ValueError, match="jobs must be a positive int"):
        grade.grade([SOLUTION], tmp_path / "g.csv", solutions=FIXTURES, jobs=0)
    with pytest.raises(FileNotFoundError, match="not a directory"):
        grade.grade([SOLUTION], tmp_path / "g.csv", solutions=tmp_path / "missing")


def test_a_kernel_that_ignores_the_interrupt_stops_grading(monkeypatch):
    monkeypatch.setattr(grade, "INTERRUPT_GRACE", 2)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in (
        "x = 1",
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
        "y = 2")])
    runs = grade.run_notebook(nb, timeout=3)
    assert [r.status for r in runs] == ["ok", "timeout"]
    assert "did not respond to the interrupt" in runs[1].evalue
