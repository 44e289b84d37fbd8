"""The answer corpus (tests/answers/): every answer through its check, on the visible seed, the hidden
tests' seeds and further seeds.

A correct answer (any style: loops, numpy, einsum, tf ops, float64, lists, pandas, ...) must pass on
every seed; a wrong one must fail on every seed with its own hint. So a check change that rejects a
correct answer, misnames a mistake or makes a verdict depend on the seed fails here.
"""
import importlib
import pkgutil

import pytest

import answers
from labkit import checks

for _module in pkgutil.iter_modules(answers.__path__):
    importlib.import_module(f"answers.{_module.name}")

# visible check: seed 0; the hidden tests' seeds (solutions/NN_*.ipynb); two or more further seeds
SEEDS = {
    "nb00": (0, 1, 3, 7),        # no hidden test in notebook 00
    "nb01": (0, 11, 3, 7),
    "nb02": (0, 7, 3, 5),
    "nb03": (0, 1, 2, 3, 7),
    "nb04": (0, 1, 2, 3, 7),
    "nb05": (0, 1, 2, 3, 7),
}


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """The corpus fits hundreds of tiny scikit-learn models: BLAS threads only fight over the cores
    (on a busy 2-core machine a 0.02 s logistic regression takes 0.5 s with them)."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.mark.parametrize("answer", answers.ANSWERS, ids=lambda a: a.id)
def test_answer_gets_the_same_verdict_on_every_seed(answer):
    check = getattr(checks, answer.check)
    problems = []
    for seed in SEEDS[answer.notebook]:
        result = check(answer.fn, seed=seed, raise_on_fail=False)
        text = repr(result)
        if answer.hint is None and not result.passed:
            problems.append(f"seed {seed}: a correct answer was rejected:\n{text}")
        elif answer.hint is not None and result.passed:
            problems.append(f"seed {seed}: a wrong answer passed")
        elif answer.hint is not None and answer.hint not in text:
            problems.append(f"seed {seed}: expected the hint {answer.hint!r}, got:\n{text}")
    assert not problems, "\n".join(problems)


def test_every_exercise_has_correct_and_wrong_answers():
    exercises = {name for name in checks.__all__ if name.startswith("check_")
                 and name not in ("check_function", "check_value")}
    for name in exercises:
        kinds = {a.hint is None for a in answers.ANSWERS if a.check == name}
        assert kinds == {True, False}, f"{name}: the corpus needs correct and wrong answers"
