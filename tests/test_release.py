"""Tests for labkit.release: solutions/ -> notebooks/, markers, hidden tests, --check, no leaks."""

import shutil
from pathlib import Path

import nbformat
import pytest

from labkit import release
from labkit.release import (BEGIN_HIDDEN, BEGIN_SOLUTION, END_HIDDEN, END_SOLUTION, ReleaseError,
                            nbgrader, read_notebook, release_notebook)

FIXTURES = Path(__file__).parent / "fixtures" / "solutions"
MARKERS = (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN)


def solution_notebooks():
    return sorted(release.SOLUTIONS.glob("*.ipynb")) + sorted(FIXTURES.glob("*.ipynb"))


@pytest.fixture(scope="module")
def fixture_pair():
    solution = read_notebook(FIXTURES / "fixture_lab.ipynb")
    return solution, release_notebook(solution, source="fixture_lab")


def by_id(nb, grade_id):
    return next(c for c in nb.cells if nbgrader(c).get("grade_id") == grade_id)


def test_solution_regions_become_stubs_with_their_indentation(fixture_pair):
    _, student = fixture_pair
    assert by_id(student, "fx_add").source == (
        'def add(a, b):\n    """Return a + b."""\n    # YOUR CODE HERE\n    raise NotImplementedError()')
    assert by_id(student, "fx_squares").source == "# YOUR CODE HERE\nraise NotImplementedError()"


def test_hidden_tests_are_removed_and_visible_checks_kept(fixture_pair):
    solution, student = fixture_pair
    assert "assert count_vowels" in by_id(solution, "fx_vowels_test").source
    assert by_id(student, "fx_vowels_test").source == 'assert count_vowels("banana") == 3'
    assert by_id(student, "fx_add_test").source == 'assert add(1, 2) == 3, "add(1, 2) should be 3"'
    text = release.render(student)
    for marker in MARKERS:
        assert marker not in text


def test_written_answers_are_replaced(fixture_pair):
    solution, student = fixture_pair
    assert "secret model answer" in by_id(solution, "fx_why").source
    assert by_id(student, "fx_why").source == "YOUR ANSWER HERE"
    assert nbgrader(by_id(student, "fx_why")) == nbgrader(by_id(solution, "fx_why"))  # nbgrader can grade it


def test_check_cells_are_locked_and_the_source_is_recorded(fixture_pair):
    _, student = fixture_pair
    cell = by_id(student, "fx_add_test")
    assert cell.metadata["deletable"] is False and cell.metadata["editable"] is False
    assert nbgrader(cell)["points"] == 1 and nbgrader(cell)["schema_version"] == 3
    assert "deletable" not in by_id(student, "fx_add").metadata
    assert student.metadata["labkit"] == {"source": "fixture_lab"}


def test_outputs_and_execution_counts_are_cleared():
    solution = read_notebook(FIXTURES / "fixture_lab.ipynb")
    for cell in solution.cells:
        if cell.cell_type == "code":
            cell.execution_count = 7
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="secret output\n")]
            cell.metadata["execution"] = {"iopub.execute_input": "2024-01-01"}
    solution.metadata["widgets"] = {"state": {}}
    student = release_notebook(solution, source="fixture_lab")
    for cell in student.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None and "execution" not in cell.metadata
    assert "secret output" not in release.render(student) and "widgets" not in student.metadata
    assert solution.cells[1].outputs, "release_notebook must not change its input"


def test_rendering_is_deterministic(tmp_path):
    release.release(FIXTURES, tmp_path / "a")
    release.release(FIXTURES, tmp_path / "b")
    a, b = (tmp_path / "a" / "fixture_lab.ipynb").read_bytes(), (tmp_path / "b" / "fixture_lab.ipynb").read_bytes()
    assert a == b and a.endswith(b"\n")
    nbformat.validate(nbformat.reads(a.decode(), as_version=4))


@pytest.mark.parametrize("path", solution_notebooks(), ids=lambda p: p.name)
def test_no_solution_text_leaks(path):
    """Every line between markers is absent from the student version unless it is also outside them."""
    solution = read_notebook(path)
    inside, outside = set(), set()
    for cell in solution.cells:
        where, solution_answer = outside, cell.cell_type == "markdown" and nbgrader(cell).get("solution")
        for line in cell.source.split("\n"):
            text = line.strip()
            if text in (BEGIN_SOLUTION, BEGIN_HIDDEN):
                where = inside
            elif text in (END_SOLUTION, END_HIDDEN):
                where = outside
            elif text:
                (inside if solution_answer else where).add(text)
    student = release.render(release_notebook(solution, source=path.stem))
    student_lines = {line.strip() for cell in nbformat.reads(student, as_version=4).cells
                     for line in cell.source.split("\n")}
    leaks = sorted((inside - outside) & student_lines)
    assert not leaks, f"solution text leaks into the student version of {path.name}: {leaks}"
    if path.parent == FIXTURES:
        assert inside, "the fixture should have solution text to hide"


def copy_tree(tmp_path):
    source, dest = tmp_path / "solutions", tmp_path / "notebooks"
    shutil.copytree(FIXTURES, source)
    assert release.main(["--source", str(source), "--dest", str(dest)]) == 0
    return source, dest


def test_check_passes_when_in_sync(tmp_path, capsys):
    source, dest = copy_tree(tmp_path)
    assert release.main(["--check", "--source", str(source), "--dest", str(dest)]) == 0
    assert "up to date" in capsys.readouterr().out


def test_check_detects_a_stale_notebook(tmp_path, capsys):
    source, dest = copy_tree(tmp_path)
    nb = read_notebook(source / "fixture_lab.ipynb")
    nb.cells[0].source += "\n\nA new paragraph the tutor added."
    release.write_notebook(nb, source / "fixture_lab.ipynb")
    before = (dest / "fixture_lab.ipynb").read_bytes()
    capsys.readouterr()
    assert release.main(["--check", "--source", str(source), "--dest", str(dest)]) == 1
    err = capsys.readouterr().err
    assert "stale" in err and "fixture_lab.ipynb" in err
    assert (dest / "fixture_lab.ipynb").read_bytes() == before, "--check must not write"
    assert release.main(["--source", str(source), "--dest", str(dest)]) == 0
    assert release.main(["--check", "--source", str(source), "--dest", str(dest)]) == 0


def test_check_detects_missing_and_extra_notebooks(tmp_path, capsys):
    source, dest = copy_tree(tmp_path)
    (dest / "fixture_lab.ipynb").rename(dest / "old_lab.ipynb")
    capsys.readouterr()
    assert release.main(["--check", "--source", str(source), "--dest", str(dest)]) == 1
    err = capsys.readouterr().err
    assert "missing:" in err and "fixture_lab.ipynb" in err
    assert "extra:" in err and "old_lab.ipynb" in err


def test_check_fails_on_solutions_saved_with_outputs_and_clean_fixes_it(tmp_path, capsys):
    source, dest = copy_tree(tmp_path)
    nb = read_notebook(source / "fixture_lab.ipynb")
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="hi\n")]
    nb.cells[1].execution_count = 1
    release.write_notebook(nb, source / "fixture_lab.ipynb")
    capsys.readouterr()
    assert release.main(["--check", "--source", str(source), "--dest", str(dest)]) == 1
    assert "saved with outputs" in capsys.readouterr().err
    assert release.main(["--clean-solutions", "--source", str(source)]) == 0
    assert release.main(["--check", "--source", str(source), "--dest", str(dest)]) == 0
    assert (source / "fixture_lab.ipynb").read_bytes() == (FIXTURES / "fixture_lab.ipynb").read_bytes()


def test_repository_notebooks_are_in_sync_and_clean():
    report = release.release(check=True)
    assert report.ok, (f"notebooks/ is out of date: stale {report.stale}, missing {report.missing}, "
                       f"extra {report.extra}, solutions with outputs {report.unclean}, "
                       f"problems {report.problems}; run `make release`")


# --------------------------------------------------------------------------
# mistakes in a solution notebook are reported, not released
def broken(source, meta=None, cell_type="code"):
    cell = nbformat.v4.new_code_cell(source) if cell_type == "code" else nbformat.v4.new_markdown_cell(source)
    if meta is not None:
        cell.metadata["nbgrader"] = meta
    return release.new_notebook([cell])


SOLUTION_META = {"grade": False, "grade_id": "ex", "locked": False, "schema_version": 3, "solution": True,
                 "task": False}
TEST_META = {"grade": True, "grade_id": "ex_test", "locked": True, "points": 1, "schema_version": 3,
             "solution": False, "task": False}


@pytest.mark.parametrize("nb, match", [
    (broken("### BEGIN SOLUTION\nx = 1", SOLUTION_META), "never closed"),
    (broken("x = 1\n### END SOLUTION", SOLUTION_META), "without a '### BEGIN SOLUTION'"),
    (broken("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", SOLUTION_META), "inside another"),
    (broken("### BEGIN SOLUTION\nx = 1\n### END SOLUTION"), "no nbgrader metadata"),
    (broken("### BEGIN HIDDEN TESTS\nassert 1\n### END HIDDEN TESTS", SOLUTION_META), "not a graded code cell"),
    (broken("assert 1", {**TEST_META, "points": 0}), "needs points > 0"),
    (broken("assert 1", {"grade": True, "grade_id": "t"}), "lacks solution, locked, schema_version"),
    (broken("assert 1", {**TEST_META, "grade_id": "has space"}), "letters, digits"),
])
def test_release_refuses_broken_solutions(nb, match):
    with pytest.raises(ReleaseError, match=match):
        release_notebook(nb, source="broken")


def test_duplicate_grade_ids_are_refused():
    nb = release.new_notebook([release.tests_cell("assert 1", "same", 1), release.tests_cell("assert 2", "same", 1)])
    with pytest.raises(ReleaseError, match="'same' is already used by cell 0"):
        release_notebook(nb, source="dup")


def test_grade_ids_must_be_unique_across_notebooks(tmp_path):
    source = tmp_path / "solutions"
    source.mkdir()
    for name in ("01_a", "02_b"):
        release.write_notebook(release.new_notebook([release.tests_cell("assert 1", "ex1", 1)]),
                               source / f"{name}.ipynb")
    report = release.release(source, tmp_path / "notebooks", check=True)
    assert any("'ex1' is also used in 01_a" in p for p in report.problems)


def test_cell_helpers_write_nbgrader_metadata():
    assert nbgrader(release.solution_cell("x", "a")) == {**SOLUTION_META, "grade_id": "a"}
    assert nbgrader(release.tests_cell("x", "ex_test", 1)) == TEST_META
    answer = release.answer_cell("because", "q1", 2)
    assert answer.cell_type == "markdown" and nbgrader(answer) == {
        "grade": True, "grade_id": "q1", "locked": False, "points": 2, "schema_version": 3,
        "solution": True, "task": False}
    with pytest.raises(ValueError, match="points must be a number > 0"):
        release.tests_cell("x", "t", 0)


def test_markers_in_markdown_answer_keep_the_question():
    cell = release.answer_cell("Question stays.\n\n### BEGIN SOLUTION\nThe answer.\n### END SOLUTION", "q", 1)
    student = release_notebook(release.new_notebook([cell]), source="md")
    assert student.cells[0].source == "Question stays.\n\nYOUR ANSWER HERE"
