"""Claims: the notebooks' prose is checked against their outputs, and each claim quotes real prose.

The claims themselves run when nbval executes ``solutions/`` (``make test``);
here: ``checks.claim`` fails loudly and clearly, release strips claims from the
student notebooks, and every sentence a claim quotes stands in its notebook's
markdown (so prose and claim cannot drift apart).
"""
import ast
import re

import numpy as np
import pytest

from labkit import release
from labkit.checks import ClaimFailed, claim, claims_hold
from labkit.release import read_notebook

NOTEBOOKS = sorted(release.SOLUTIONS.glob("*.ipynb"))


def _plain(text: str) -> str:
    """Markdown without emphasis/code marks, whitespace folded: what a reader reads."""
    text = re.sub(r"[*_`]", "", text)
    return re.sub(r"\s+", " ", text).strip().lower()


def _claims(nb) -> list[tuple[int, str]]:
    """(cell index, quoted sentence) of every checks.claim(...) in a CLAIMS region."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or release.BEGIN_CLAIMS not in cell.source:
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "claim"
                    and len(node.args) >= 2):
                sentence = node.args[1]
                assert isinstance(sentence, ast.Constant) and isinstance(sentence.value, str), \
                    f"cell {index}: the sentence of a claim must be a string literal (quoted from the prose)"
                found.append((index, sentence.value))
    return found


def test_a_true_claim_is_silent_and_false_ones_are_all_named_together():
    assert claim(0.2 < 0.274 < 0.33, "about a quarter of the decisions change", flip_rate=0.274)
    assert claim(np.bool_(True), "numpy bools are fine")
    claims_hold()  # nothing false: silent
    assert not claim(0.274 > 1 / 3, "more than a third of the decisions change", flip_rate=0.274)
    assert not claim(False, "the tree asks about sex first", first_split="education_num")
    with pytest.raises(ClaimFailed) as failed:
        claims_hold()
    message = str(failed.value)
    assert message.startswith("2 sentence(s)")
    assert '"more than a third of the decisions change" (flip_rate = 0.274)' in message
    assert "\"the tree asks about sex first\" (first_split = 'education_num')" in message
    claims_hold()  # reported once, then cleared


def test_a_claim_needs_a_bool_and_a_sentence():
    with pytest.raises(TypeError, match="needs a bool"):
        claim(0.274, "a number is not a verdict")
    with pytest.raises(TypeError, match="sentence"):
        claim(True, "")


def test_release_removes_claims_and_drops_cells_of_claims_alone():
    nb = release.new_notebook([
        release.markdown_cell("The tree asks about education first."),
        release.code_cell("x = 1\n### BEGIN CLAIMS\nchecks.claim(x == 1, 'x is one')\nchecks.claims_hold()\n"
                          "### END CLAIMS"),
        release.code_cell("### BEGIN CLAIMS\nchecks.claim(True, 'always')\nchecks.claims_hold()\n### END CLAIMS"),
    ])
    student = release.release_notebook(nb, source="fixture")
    sources = [cell.source for cell in student.cells]
    assert sources == ["The tree asks about education first.", "x = 1"]


def test_claims_are_refused_in_exercise_cells():
    nb = release.new_notebook([release.solution_cell(
        "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n"
        "### BEGIN CLAIMS\nchecks.claim(f() == 1, 'f is one')\n### END CLAIMS", grade_id="nb99_f")])
    assert any("plain code cell" in problem for problem in release.validate(nb))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_claim_quotes_the_notebook_prose(path):
    nb = read_notebook(path)
    prose = _plain(" ".join(cell.source for cell in nb.cells if cell.cell_type == "markdown"))
    missing = [(index, sentence) for index, sentence in _claims(nb) if _plain(sentence) not in prose]
    assert not missing, f"{path.name}: these claims quote words that are not in its markdown: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_claims_region_ends_by_reporting_its_false_sentences(path):
    nb = read_notebook(path)
    for index, cell in enumerate(nb.cells):
        lines = cell.source.split("\n")
        for i, line in enumerate(lines):
            if line.strip() == release.END_CLAIMS:
                last = [l for l in lines[:i] if l.strip()][-1].strip()
                assert last == "checks.claims_hold()", (
                    f"{path.name} cell {index}: end each CLAIMS region with checks.claims_hold(), "
                    f"or its false sentences are never reported")
