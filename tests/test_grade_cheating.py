"""Checks a notebook cannot switch off, feedback it cannot use to get text out, flags for the tutor.

``tests/fixtures/hostile/switch_off.ipynb`` replaces every ``check_*``, the
engine's functions (and one function's code), numpy's ``allclose`` and the
``sys.modules`` entry, and rebinds ``checks``; its answers are wrong.
``leak.ipynb`` raises the ``In`` history and a file's content from its
answers, names an exception class after a secret, and looks for the hidden
tests in every history IPython keeps. Both are graded in one run (in the
sandbox where there is one: the guard does not need it). The static scan is
also tested on the real notebook 02 without a kernel.
"""

import csv
import shutil
from pathlib import Path

import nbformat
import pytest

from labkit import grade, sandbox, scan
from labkit.release import nbgrader, read_notebook, release_notebook

HERE = Path(__file__).parent
HOSTILE = HERE / "fixtures" / "hostile"
SOLUTION = HERE / "fixtures" / "solutions" / "fixture_lab.ipynb"
REPO_SOLUTIONS = HERE.parent / "solutions"


@pytest.fixture(scope="module")
def cheats(tmp_path_factory):
    root = tmp_path_factory.mktemp("cheats")
    for case in ("switch_off", "leak"):
        (root / "submitted" / case).mkdir(parents=True)
        shutil.copy(HOSTILE / f"{case}.ipynb", root / "submitted" / case / "fixture_lab.ipynb")
    args = [str(root / "submitted"), "--out", str(root / "grades.csv"), "--feedback", str(root / "feedback"),
            "--solutions", str(SOLUTION.parent), "--timeout", "10", "--jobs", "2"]
    rc = grade.main(args if sandbox.unavailable() is None else [*args, "--no-sandbox"])
    rows = {r["student"]: r for r in csv.DictReader(open(root / "grades.csv", newline=""))}
    return dict(root=root, rc=rc, rows=rows)


def test_switched_off_checks_still_fail_wrong_answers(cheats):
    row = cheats["rows"]["switch_off"]
    assert (row["fx_add_test"], row["fx_squares_test"], row["fx_vowels_test"], row["total"]) == ("0", "0", "0", "0")
    assert "fx_squares_test: wrong (CheckFailed)" in row["errors"]          # the private checks ran


def test_switching_checks_off_is_flagged_for_the_tutor_only(cheats):
    flags = set(cheats["rows"]["switch_off"]["flags"].split())
    assert {"rebinds-kit", "assigns-into-labkit", "patches-module", "touches-sys-modules", "dynamic-code",
            "runtime"} <= flags
    report = (cheats["root"] / "grades.report.md").read_text()
    assert "the grader put back labkit.checks.check_function" in report
    assert "labkit.checks.engine.compare_values (its code)" in report and "numpy.allclose" in report
    feedback = (cheats["root"] / "feedback" / "switch_off__fixture_lab.md").read_text()
    assert "rebinds" not in feedback and "flag" not in feedback.lower()


def test_feedback_never_carries_text_the_students_code_made(cheats):
    for name in ("leak__fixture_lab.md", "leak__fixture_lab.html"):
        text = (cheats["root"] / "feedback" / name).read_text()
        assert "XYZZY" not in text, name
    md = (cheats["root"] / "feedback" / "leak__fixture_lab.md").read_text()
    assert "your function raised …" in md or "ValueError: …" in md                # the kit's words stay
    assert "Error" in cheats["rows"]["leak"]["errors"] and "XYZZY" not in cheats["rows"]["leak"]["errors"]


def test_the_hidden_tests_are_in_no_history_a_later_cell_can_read(cheats):
    md = (cheats["root"] / "feedback" / "leak__fixture_lab.md").read_text()
    assert "Other cells that raised an error" not in md          # the probe found nothing
    assert cheats["rows"]["leak"]["fx_vowels_test"] == "1"
    assert "touches-history" in cheats["rows"]["leak"]["flags"]


def test_unsandboxed_grading_warns_once_and_loudly(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(sandbox, "unavailable", lambda: "pretend bubblewrap is missing")
    monkeypatch.setattr(sandbox, "_warned", False)
    for student in ("ann", "ben"):
        (tmp_path / "sub" / student).mkdir(parents=True)
        shutil.copy(SOLUTION, tmp_path / "sub" / student / "fixture_lab.ipynb")
    rc = grade.main([str(tmp_path / "sub"), "--out", str(tmp_path / "g.csv"), "--solutions", str(SOLUTION.parent),
                     "--timeout", "10"])
    captured = capsys.readouterr()
    assert rc == 0 and "UNSANDBOXED" in captured.out
    assert captured.err.count("WARNING: grading WITHOUT a sandbox: pretend bubblewrap is missing") == 1
    assert "bubblewrap" in captured.err and "Dockerfile" in captured.err
    with pytest.raises(RuntimeError, match="no sandbox"):
        grade.grade([tmp_path / "sub"], tmp_path / "g2.csv", solutions=SOLUTION.parent, sandbox="require")


# --------------------------------------------------------------------------
# the scan alone, on the real notebook 02 (no kernel)
def _student_02(answers: dict):
    solution = read_notebook(REPO_SOLUTIONS / "02_feature_attribution.ipynb")
    nb = release_notebook(solution, source="02_feature_attribution")
    for grade_id, source in answers.items():
        next(c for c in nb.cells if nbgrader(c).get("grade_id") == grade_id).source = source
    return nb, solution


def test_the_solution_itself_raises_no_flag():
    nb, solution = _student_02({})
    assert scan.scan(solution, solution) == []


def test_answering_with_the_kits_own_implementation_is_flagged():
    nb, solution = _student_02({
        "nb02_saliency": "def saliency(model, images, target):\n    return gradients.saliency(model, images, target)",
        "nb02_pointing_game": "from labkit.metrics import pointing_game",
        "nb02_occlusion_map": "def occlusion_map(model, image, target, patch, stride):\n"
                              "    from labkit import occlusion as o\n"
                              "    return o.occlusion(model, image, target, patch=patch, stride=stride)",
        "nb02_cam": "cam_from_weights = cam.cam",
    })
    found = {(f.kind, nb.cells[f.cell].metadata["nbgrader"]["grade_id"]) for f in scan.scan(nb, solution)}
    assert found == {("calls-kit-implementation", g) for g in
                     ("nb02_saliency", "nb02_pointing_game", "nb02_occlusion_map", "nb02_cam")}


def test_honest_use_of_the_kit_is_not_flagged():
    nb, solution = _student_02({
        "nb02_saliency": "def saliency(model, images, target):\n"
                         "    x = tf.convert_to_tensor(images)\n"
                         "    with tf.GradientTape() as tape:\n"
                         "        tape.watch(x)\n"
                         "        score = tf.gather(model(x), target, axis=1, batch_dims=1)\n"
                         "    return tf.reduce_max(tf.abs(tape.gradient(score, x)), axis=-1).numpy()",
    })
    nb.cells.append(nbformat.v4.new_code_cell("mine = saliency(model, x4, target4)\n"
                                              "kit = gradients.saliency(model, x4, target4)   # comparing is fine"))
    assert scan.scan(nb, solution) == []


def test_settings_are_not_patches():
    """Every notebook's first cell sets an environment variable; students set plot and pandas options."""
    nb, solution = _student_02({})
    nb.cells.append(nbformat.v4.new_code_cell(
        "import os\nimport matplotlib\nimport pandas as pd\n"
        "os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\nplt.rcParams['figure.dpi'] = 100\n"
        "matplotlib.rcParams['font.size'] = 9\npd.options.display.max_rows = 20"))
    assert scan.scan(nb, solution) == []


@pytest.mark.parametrize("source, kind", [
    ("checks = None", "rebinds-kit"),
    ("import numpy as checks", "rebinds-kit"),
    ("def gradients(): pass", "rebinds-kit"),
    ("labkit.checks.check_saliency = print", "assigns-into-labkit"),
    ("setattr(checks, 'check_saliency', print)", "assigns-into-labkit"),
    ("from unittest import mock\nmock.patch('labkit.checks.check_saliency').start()", "assigns-into-labkit"),
    ("np.allclose = lambda *a, **k: True", "patches-module"),
    ("import os\nos.environ = {}", "patches-module"),                  # replacing the mapping, not a setting
    ("import os\nos.path.join = print", "patches-module"),
    ("import sys\nsys.modules.pop('labkit.checks')", "touches-sys-modules"),
    ("import builtins\nbuiltins.len = lambda x: 0", "touches-builtins"),
    ("print(In[-1])", "touches-history"),
    ("%history -n", "touches-history"),
    ("import linecache", "touches-history"),
    ("class Always:\n    def __eq__(self, other):\n        return True", "fakes-results"),
    ("exec('checks = None')", "dynamic-code"),
    ("import gc", "dynamic-code"),
])
def test_each_kind_of_flag(source, kind):
    nb, solution = _student_02({})
    nb.cells.append(nbformat.v4.new_code_cell(source))
    kinds = {f.kind for f in scan.scan(nb, solution)}
    assert kind in kinds, (source, kinds)


def test_kit_words_keep_the_kits_phrases_and_numbers_only():
    from labkit.feedback import kit_words
    names = frozenset({"saliency"})
    kept = ("saliency: case 1 of 3:\n  your result has shape (2, 5, 6, 3) but the expected shape is (2, 5, 6).\n"
            "  Hint: there is an extra last axis of size 3 (the colour channels?): reduce it, e.g. with "
            ".max(axis=-1) as the lecture's saliency map takes the max over RGB")
    assert kit_words(kept, names) == kept
    assert kit_words("your result 'qwzx plonk' differs from the expected 'x'", names) == \
        "your result '…' differs from the expected '…'"
    assert kit_words("ValueError: s e c r e t", names) == "ValueError: …"        # no spelling letter by letter
    assert kit_words(" ".join(["7"] * 40), names).count("7") == 16               # a few numbers, not a file
