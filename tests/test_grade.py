"""Tests for labkit.grade on the tiny fixture lab (3 exercises, 4 points, no TensorFlow): the honest cases.

One module-scoped run grades a folder of submissions with --jobs 1 and the same
folder again with --jobs 2 (sandboxed where bubblewrap works, else with the
loud warning); the tests read the CSVs, feedback files and the tutor's report
they wrote. The re-run tests then change one file or type a mark and grade the
folder again: only what changed runs a kernel.
"""

import csv
import os
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from labkit import grade, gradebook, release, sandbox
from labkit.release import nbgrader, read_notebook, release_notebook

FIXTURES = Path(__file__).parent / "fixtures" / "solutions"
SOLUTION = FIXTURES / "fixture_lab.ipynb"
TIMEOUT = 5   # seconds per cell: the fixture's cells take milliseconds
SANDBOXED = sandbox.unavailable() is None

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


def fixture_two() -> nbformat.NotebookNode:
    """A second, one-exercise solution notebook, for the file-name/content mismatch."""
    return release.new_notebook([
        release.code_cell("import numpy as np"),
        release.solution_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
                              "f2_double"),
        release.tests_cell("assert double(2) == 4", "f2_double_test", 1),
    ])


def make_submissions(root: Path) -> dict:
    subs = {}
    subs["solution"] = root / "solution" / "fixture_lab.ipynb"
    with_output = read_notebook(SOLUTION)
    with_output.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="my own output 42\n")]
    write(with_output, subs["solution"])
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

    moved = solved("fx_add")                                      # the check pasted above the imports
    check = cell(moved, "fx_add_test")
    moved.cells.remove(check)
    moved.cells.insert(0, check)
    subs["mover"] = write(moved, root / "mover" / "fixture_lab.ipynb")

    subs["misnamed"] = write(solved("fx_add"), root / "misnamed" / "fixture_two.ipynb")   # 02 holding 04

    subs["bob_old"] = write(student_notebook(), root / "bob" / "fixture_lab.ipynb")
    subs["bob_new"] = write(solved("fx_vowels"), root / "bob" / "fixture_lab (1).ipynb")
    os.utime(subs["bob_old"], (time.time() - 3600, time.time() - 3600))

    subs["garbage"] = root / "garbage" / "fixture_lab.ipynb"
    subs["garbage"].parent.mkdir()
    subs["garbage"].write_text("this is not a notebook")
    stranger = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    subs["stranger"] = write(stranger, root / "stranger" / "unknown.ipynb")
    return subs


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def run(root, out, *extra):
    return grade.main([str(root / "submitted"), "--out", str(root / out), "--solutions", str(root / "solutions"),
                       "--timeout", str(TIMEOUT), "--max-seconds", "60", *extra])


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("grading")
    (root / "solutions").mkdir()
    shutil.copy(SOLUTION, root / "solutions")
    release.write_notebook(fixture_two(), root / "solutions" / "fixture_two.ipynb")
    subs = make_submissions(root / "submitted")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in subs.values()}
    rc1 = run(root, "grades1.csv", "--feedback", str(root / "feedback"), "--lms", str(root / "lms.csv"))
    rc2 = run(root, "grades2.csv", "--jobs", "2", "--no-html")
    rows = {r["student"]: r for r in read_csv(root / "grades1.csv")}
    return dict(root=root, subs=subs, before=before, rc=(rc1, rc2), rows=rows)


def points(row):
    return {k: row[k] for k in ("fx_add_test", "fx_squares_test", "fx_vowels_test", "total", "max")}


def test_one_row_per_student_and_notebook_with_a_column_per_exercise(graded):
    header = next(csv.reader(open(graded["root"] / "grades1.csv")))
    assert header == ["student", "notebook", "fx_add_test", "fx_squares_test", "fx_vowels_test", "fx_why", "total", "max", "not_attempted", "errors", "warnings", "flags",
                      "submission", "sha256", "graded_with"]
    assert sorted(graded["rows"]) == sorted(["solution", "untouched", "one_solved", "cheater", "looper", "crasher",
                                             "mover", "misnamed", "bob", "garbage", "stranger"])
    assert [r["student"] for r in read_csv(graded["root"] / "grades1.csv")] == sorted(graded["rows"])


def test_solution_scores_full_marks(graded):
    row = graded["rows"]["solution"]
    assert points(row) == {"fx_add_test": "1", "fx_squares_test": "2", "fx_vowels_test": "1",
                           "total": "4", "max": "4"}
    assert row["errors"] == "" and row["fx_why"] == "" and row["flags"] == ""   # written answer: the tutor's


def test_untouched_student_notebook_scores_zero_and_is_not_attempted(graded):
    row = graded["rows"]["untouched"]
    assert points(row) == {"fx_add_test": "0", "fx_squares_test": "0", "fx_vowels_test": "0",
                           "total": "0", "max": "4"}
    assert row["not_attempted"] == "fx_add_test fx_squares_test fx_vowels_test"


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
    assert "fx_add_test: wrong (AssertionError)" in row["errors"]           # wrong, not "not attempted"
    assert row["not_attempted"] == "fx_vowels_test"


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


def test_a_moved_check_cell_is_put_back_with_a_warning(graded):
    row = graded["rows"]["mover"]
    assert row["fx_add_test"] == "1" and row["total"] == "1"        # no point lost for pasting it above the imports
    assert "'fx_add_test' had been moved above 'fx_add'" in row["warnings"]


def test_a_file_named_for_another_notebook_is_graded_by_its_content_with_a_warning(graded):
    row = graded["rows"]["misnamed"]
    assert row["notebook"] == "fixture_lab" and row["fx_add_test"] == "1" and row["total"] == "1"
    assert "the file name says fixture_two but the notebook is fixture_lab" in row["warnings"]


def test_two_files_of_one_student_give_one_row_the_newest(graded):
    row = graded["rows"]["bob"]
    assert row["submission"].endswith("fixture_lab (1).ipynb") and row["fx_vowels_test"] == "1"
    assert "also handed in" in row["warnings"] and "not graded" in row["warnings"]


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
    students = ["solution", "untouched", "one_solved", "cheater", "looper", "crasher", "mover", "misnamed", "bob"]
    assert names == sorted([f"{s}__fixture_lab.{ext}" for s in students for ext in ("md", "html")]
                           + ["garbage__fixture_lab.md", "stranger__unknown.md"])
    text = (feedback / "one_solved__fixture_lab.md").read_text()
    assert "**Score: 2 / 4**" in text and "| fx_squares_test | 2 / 2 | passed |" in text
    assert "| fx_add_test | 0 / 1 | not attempted |" in text and "replace `raise NotImplementedError()`" in text
    assert "fx_why (2 points)" in text
    cheat = (feedback / "cheater__fixture_lab.md").read_text()
    assert "| fx_add_test | 0 / 1 | wrong |" in cheat
    assert "hidden: add(-4, 10) should be 6" in cheat                  # the hidden test's own message
    assert "'fx_squares_test' was missing and has been put back" in cheat
    loop = (feedback / "looper__fixture_lab.md").read_text()
    assert "did not finish within 5 s" in loop and "| fx_vowels_test | 1 / 1 | passed |" in loop
    crash = (feedback / "crasher__fixture_lab.md").read_text()
    assert "- cell 5: `` DeadKernelError: the kernel died" in crash
    everything = "".join(p.read_text() for p in feedback.iterdir() if not p.name.startswith("solution_"))
    assert "secret model answer" not in everything and "assert add(-4, 10) == 6" not in everything


def test_html_feedback_shows_the_students_own_outputs_and_the_verdicts(graded):
    page = (graded["root"] / "feedback" / "solution__fixture_lab.html").read_text()
    assert "my own output 42" in page                                  # saved by the student, not the grader
    assert "fx_add_test: passed" in page and "Score: 4 / 4" in page
    cheat = (graded["root"] / "feedback" / "cheater__fixture_lab.html").read_text()
    assert "fx_add_test: wrong" in cheat and "hidden: add(-4, 10) should be 6" in cheat
    assert "assert add(-4, 10) == 6" not in cheat and "BEGIN HIDDEN" not in cheat   # the student version's cells


def test_lms_csv_has_one_row_per_student(graded):
    rows = read_csv(graded["root"] / "lms.csv")
    assert list(rows[0]) == ["student", "fixture_lab", "total", "ungraded"]
    by_student = {r["student"]: r for r in rows}
    assert by_student["solution"]["fixture_lab"] == "4" and by_student["solution"]["ungraded"] == "fx_why"
    assert by_student["one_solved"]["total"] == "2"


def test_the_tutors_report_lists_warnings(graded):
    report = (graded["root"] / "grades1.report.md").read_text()
    assert "## mover / fixture_lab" in report and "had been moved" in report
    assert "## misnamed / fixture_lab" in report


# --------------------------------------------------------------------------
# re-running: nothing typed is lost, only what changed is graded
def test_rerun_keeps_unchanged_rows_and_the_tutors_columns(graded, tmp_path):
    root = graded["root"]
    out = tmp_path / "grades.csv"
    shutil.copy(root / "grades1.csv", out)
    rows = read_csv(out)
    for row in rows:                              # the tutor marks a written answer and adds a column
        row["fx_why"] = "2" if row["student"] == "solution" else row["fx_why"]
        row["comment"] = "good work" if row["student"] == "solution" else ""
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*rows[0]])
        writer.writeheader()
        writer.writerows(rows)
    # one student hands in again
    changed = root / "submitted" / "one_solved" / "fixture_lab.ipynb"
    original = changed.read_bytes()
    try:
        write(solved("fx_squares", "fx_add"), changed)
        start = time.perf_counter()
        rc = grade.main([str(root / "submitted"), "--out", str(out), "--solutions", str(root / "solutions"),
                         "--timeout", str(TIMEOUT)])
        seconds = time.perf_counter() - start
    finally:
        changed.write_bytes(original)
    after = {r["student"]: r for r in read_csv(out)}
    assert rc == 1                                             # stranger has no solution: graded every time
    assert after["one_solved"]["total"] == "3" and after["one_solved"]["fx_add_test"] == "1"
    assert after["solution"]["fx_why"] == "2" and after["solution"]["comment"] == "good work"
    assert {k: after["cheater"][k] for k in after["cheater"]} == {**{r["student"]: r for r in rows}["cheater"]}
    assert list(after["solution"])[-1] == "comment"            # the tutor's column stays, at the end
    assert (tmp_path / "grades.csv.bak").exists()              # the previous file, once
    assert seconds < 60                                        # one kernel, not ten


def test_rerun_regrades_what_is_named(graded, tmp_path, capsys):
    root = graded["root"]
    out = tmp_path / "grades.csv"
    shutil.copy(root / "grades2.csv", out)
    capsys.readouterr()
    grade.main([str(root / "submitted"), "--out", str(out), "--solutions", str(root / "solutions"),
                "--timeout", str(TIMEOUT), "--regrade", "mover"])
    progress = capsys.readouterr().err
    assert progress.count("[kept]") == 9                       # everyone with a solution but mover
    assert "[1/2]" in progress and "[3/" not in progress      # mover, and stranger (no solution: no kernel)
    assert read_csv(out) == read_csv(root / "grades2.csv")     # same file, same grade


def test_an_old_csv_of_one_row_per_file_is_merged(tmp_path):
    old = tmp_path / "grades.csv"
    old.write_text("submission,notebook,fx_add_test,fx_why,total,max,errors\n"
                   "sub/alice/fixture_lab.ipynb,fixture_lab,1,2,1,4,\n")
    book = gradebook.Gradebook(old, ["fx_add_test", "fx_why"], {"fx_why"})
    assert book.row("alice", "fixture_lab")["fx_why"] == "2"


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


@pytest.mark.parametrize("path, root, pattern, expected", [
    ("sub/alice/fixture_lab.ipynb", "sub", None, "alice"),                       # a folder per student
    ("sub/alice/02/fixture_lab.ipynb", "sub", None, "alice"),                    # nbgrader's collect layout
    ("sub/bob_fixture_lab (1).ipynb", "sub", None, "bob"),                       # a renamed download
    ("sub/fixture_lab.ipynb", "sub", None, "fixture_lab"),
    ("sub/Smith John_1234_assignsubmission_file_fixture_lab.ipynb", "sub",
     r"^(?P<student>[^_]+_\d+)_assignsubmission", "Smith John_1234"),            # Moodle
    ("sub/smithjohn_12345_678_fixture_lab.ipynb", "sub", r"_(\d+)_", "12345"),  # Canvas: the numeric id
    ("sub/x.ipynb", "sub", r"^nomatch", ""),
    ("sub/=cmd_fixture_lab.ipynb", "sub", None, "cmd"),                        # never a spreadsheet formula
])
def test_student_id(path, root, pattern, expected, tmp_path):
    assert gradebook.student_id(tmp_path / path, tmp_path / root, "fixture_lab", pattern) == expected


def test_bad_arguments(tmp_path, capsys):
    assert grade.main([str(tmp_path / "nope.ipynb"), "--out", str(tmp_path / "g.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(ValueError, match="jobs must be a positive int"):
        grade.grade([SOLUTION], tmp_path / "g.csv", solutions=FIXTURES, jobs=0)
    with pytest.raises(FileNotFoundError, match="not a directory"):
        grade.grade([SOLUTION], tmp_path / "g.csv", solutions=tmp_path / "missing")
    with pytest.raises(ValueError, match="max_seconds must be a positive number"):
        sandbox.Limits(max_seconds=0)


def test_a_kernel_that_ignores_the_interrupt_stops_grading(monkeypatch):
    from labkit import runner
    monkeypatch.setattr(runner, "INTERRUPT_GRACE", 2)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in (
        "x = 1",
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
        "y = 2")])
    runs = grade.run_notebook(nb, timeout=3)
    assert [r.status for r in runs] == ["ok", "timeout"]
    assert "did not respond to the interrupt" in runs[1].evalue


def test_check_cells_end_without_a_value():
    """nbgrader's autograde takes a cell with an execute_result as partial credit: checks print instead."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import numpy as np\nfrom labkit import checks\n"
        "checks.check_function(lambda x: 2 * x, lambda x: 2 * x, [(np.arange(3.0),)], name='double')")])
    grade.run_notebook(nb, timeout=60, keep_outputs=True)
    outputs = nb.cells[0].outputs
    assert [o.output_type for o in outputs] == ["stream"] and outputs[0].name == "stdout"
    assert "✓ double: passed 1 checks" in outputs[0].text
