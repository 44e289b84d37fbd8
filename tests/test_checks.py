"""Tests for labkit.checks: each typical mistake gets its specific, friendly diagnosis."""

import subprocess
import sys

import numpy as np
import pytest

from labkit import checks
from labkit.checks import Case, CheckFailed, check_function, check_value, matches

RNG = np.random.default_rng(0)
GRADS = RNG.normal(size=(2, 4, 5, 3)).astype(np.float32)
LOGITS = RNG.normal(size=(4, 3)).astype(np.float32) * 3


def saliency(g):
    return np.abs(g).max(axis=-1)


def logits_fn(x):
    return x * 1.0


def message(student, reference=saliency, cases=((GRADS,),), **kw):
    """The feedback text a failing check gives (and make sure it does fail)."""
    result = check_function(student, reference, list(cases), raise_on_fail=False, **kw)
    assert not result.passed, "the check should have failed"
    return repr(result)


def test_correct_function_passes_and_shows_one_line():
    result = check_function(lambda g: np.abs(g).max(-1), saliency, [(GRADS,), (GRADS[:1],)], name="sal")
    assert result.passed and bool(result) and result.cases == 2
    assert repr(result) == "✓ sal: passed 2 checks on fresh inputs"


def test_failure_raises_checkfailed_with_the_feedback():
    with pytest.raises(CheckFailed, match=r"(?s)my_fn: your result has shape \(2, 4, 5, 3\).*\(2, 4, 5\)"):
        check_function(lambda g: np.abs(g), saliency, [(GRADS,)], name="my_fn")
    assert issubclass(CheckFailed, AssertionError)  # plain `assert`-style test cells treat it alike


def test_not_implemented_means_not_attempted():
    def student(g):
        # YOUR CODE HERE
        raise NotImplementedError()
    text = message(student)
    assert "not attempted yet" in text and "raise NotImplementedError()" in text
    assert "case 1" not in text  # no case details for an exercise nobody has written yet


def test_shape_mismatch_names_both_shapes_and_the_channel_axis():
    text = message(lambda g: np.abs(g))
    assert "(2, 4, 5, 3)" in text and "(2, 4, 5)" in text
    assert "extra last axis of size 3" in text and "max(axis=-1)" in text


def test_reduced_the_wrong_axis():
    text = message(lambda g: np.abs(g).max(axis=1))
    assert "reduced over axis 1" in text and "use axis=-1" in text


def test_missing_batch_axis():
    text = message(lambda g: np.abs(g[0]).max(-1))
    assert "batch" in text and "(4, 5)" in text


def test_sign_flipped():
    assert "opposite sign" in message(lambda g: -np.abs(g).max(-1))


def test_missing_abs_generic():
    # without the exercise's own diagnosis the generic one still spots negative values
    text = message(lambda g: g.max(-1))
    assert "absolute value" in text and "never negative" in text


def test_missing_abs_exact():
    x = RNG.normal(size=(3, 4))
    assert "take the absolute value" in message(lambda a: a, lambda a: np.abs(a), [(x,)])


def test_softmax_instead_of_logits():
    probs = lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True)  # noqa: E731
    text = message(probs, logits_fn, [(LOGITS,)])
    assert "probabilities" in text and "logits" in text


def test_constant_factor():
    text = message(lambda g: 0.5 * np.abs(g).max(-1))
    assert "times 0.5" in text


def test_constant_offset():
    assert "plus a constant 1" in message(lambda g: np.abs(g).max(-1) + 1)


def test_normalised_to_unit_range():
    def normalised(g):
        s = np.abs(g).max(-1)
        return (s - s.min()) / (s.max() - s.min())
    assert "rescaled to [0, 1]" in message(normalised)


@pytest.mark.filterwarnings("ignore:divide by zero")
@pytest.mark.filterwarnings("ignore:invalid value")
def test_nan_is_explained():
    def with_nan(g):
        s = np.abs(g).max(-1)
        return s / (s * 0)
    text = message(with_nan)
    assert "NaN or inf" in text and "division by zero" in text


def test_returned_none():
    def forgot_return(g):
        np.abs(g).max(-1)
    text = message(forgot_return)
    assert "returned None" in text and "`return`" in text


def test_a_tensor_list_tuple_or_float64_result_is_compared_by_its_values():
    import tensorflow as tf
    for student in (lambda g: tf.reduce_max(tf.abs(g), axis=-1), lambda g: [np.abs(x).max(-1) for x in g],
                    lambda g: tuple(np.abs(g).max(-1).astype(np.float64))):
        assert check_function(student, saliency, [(GRADS,)], name="sal").passed
    text = message(lambda g: tf.reduce_max(g, axis=-1))      # a wrong tensor gets the hint for its mistake
    assert "forgot the absolute value" in text or "absolute value" in text
    assert "TensorFlow tensor" not in text


def test_a_helper_in_the_students_cell_is_not_shown_as_a_negative_line():
    def helper(g):
        raise ValueError("boom")

    def student(g):
        return helper(g)
    text = message(student)
    assert "line -" not in text and "line 2 of your function: `return helper(g)`" in text


def test_maps_normalised_one_by_one_are_named():
    def normalised(g):
        s = np.abs(g).max(-1)
        return s / s.max(axis=(1, 2), keepdims=True)
    assert "each of your maps is divided by its maximum" in message(normalised)


def test_exception_in_student_code_shows_its_line():
    def broken(g):
        s = np.abs(g)
        return s.max(axis=7)
    text = message(broken)
    assert "AxisError" in text or "ValueError" in text
    assert "line 3 of your function: `return s.max(axis=7)`" in text


def test_changing_the_input_in_place_is_reported():
    def in_place(g):
        np.abs(g, out=g)
        return g.max(-1)
    text = message(in_place)
    assert "changed its input (argument 1) in place" in text


def test_changing_the_model_weights_is_reported():
    from labkit import zoo
    model = zoo.build_cnn((8, 8, 3), 2, widths=(4,))
    x = RNG.random((2, 8, 8, 3)).astype(np.float32)
    reference = lambda m, images: m(images).numpy()  # noqa: E731

    def trains(m, images):
        m.get_layer("logits").kernel.assign_add(np.ones((4, 2), np.float32))
        return reference(m, images)
    text = message(trains, reference, [(model, x)])
    assert "changed the model's weights" in text
    assert check_function(reference, reference, [(zoo.build_cnn((8, 8, 3), 2, widths=(4,)), x)]).passed


def test_reference_and_student_get_separate_copies():
    seen = []

    def reference(g):
        seen.append(g)
        return saliency(g)

    def student(g):
        g[...] = 0  # vandalises its own copy only
        return saliency(seen[-1])
    text = message(student, reference)
    assert "in place" in text
    assert not np.all(GRADS == 0)


def test_passing_the_result_instead_of_the_function():
    text = repr(check_function(saliency(GRADS), saliency, [(GRADS,)], name="saliency", raise_on_fail=False))
    assert "expected a function" in text and "without calling it" in text


def test_custom_diagnosis_comes_before_the_built_in_ones():
    seen = []

    def my_diagnosis(m: checks.Mismatch):
        seen.append((m.name, m.case.label, m.got.shape, m.expected.shape))
        return "the exercise's own hint"
    text = message(lambda g: -np.abs(g).max(-1), cases=[Case((GRADS,), label="two images")],
                   name="sal", diagnoses=(my_diagnosis,))
    assert "Hint: the exercise's own hint" in text and "opposite sign" not in text
    assert seen == [("sal", "two images", (2, 4, 5), (2, 4, 5))]


def test_a_diagnosis_that_declines_or_crashes_falls_through():
    def crashes(m):
        raise RuntimeError("bug in a diagnosis")
    text = message(lambda g: -np.abs(g).max(-1), diagnoses=(lambda m: None, crashes))
    assert "opposite sign" in text


def test_matches_recognises_a_known_wrong_implementation():
    mean_instead = matches(lambda g: np.abs(g).mean(-1), "use max, not mean")
    text = message(lambda g: np.abs(g).mean(-1), diagnoses=(mean_instead,))
    assert "Hint: use max, not mean" in text
    # a different mistake is not claimed by it
    text = message(lambda g: np.abs(g).sum(-1), diagnoses=(mean_instead,))
    assert "use max, not mean" not in text


def test_matches_options_nan_own_equality_and_every_case():
    nan_cases = [(np.array([1.0, 0.0, 2.0]),)]
    share = lambda x: x / x.sum()  # noqa: E731
    undefined = lambda x: np.where(x > 0, 0.5 * x, np.nan)  # noqa: E731  # the mistake, with NaN where x is 0
    assert "Hint: halved" not in message(undefined, share, nan_cases, diagnoses=(matches(undefined, "halved"),))
    assert "Hint: halved" in message(undefined, share, nan_cases,
                                     diagnoses=(matches(undefined, "halved", equal_nan=True),))
    same_sum = matches(lambda x: x[::-1], "reversed", same=lambda got, wrong: np.sum(got) == np.sum(wrong))
    assert "Hint: reversed" in message(lambda x: x[::-1] + 0 * x, lambda x: x + 1.0, nan_cases, diagnoses=(same_sum,))
    # a yes/no answer: one case cannot tell the mistakes apart, all the cases together can
    positive, at_least = (lambda x: bool(x > 0)), (lambda x: bool(x >= 0))
    cases = [(1.0,), (-1.0,), (0.0,)]
    strict = matches(lambda x: bool(x > 0), "strictly positive", every_case=True)
    loose = matches(lambda x: bool(x >= 0), "zero counts too", every_case=True)
    text = message(at_least, lambda x: bool(x < 0), cases, diagnoses=(strict, loose))
    assert "Hint: zero counts too" in text and "strictly" not in text
    assert "Hint: strictly positive" in message(positive, lambda x: bool(x < 0), cases, diagnoses=(strict, loose))


def test_importing_the_checks_does_not_import_tensorflow():
    # the grader starts a kernel per submission: `from labkit import checks` must stay quick
    code = "import sys, labkit.checks; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_cases_function_gets_a_seeded_rng_and_case_forms():
    drawn = []

    def cases(rng):
        x = rng.normal(size=3)
        drawn.append(x)
        return [(x,), {"a": x}, Case(kwargs={"a": x}, label="keyword")]
    square = lambda a: a ** 2  # noqa: E731
    assert check_function(square, square, cases, seed=3).cases == 3
    check_function(square, square, cases, seed=3)
    np.testing.assert_array_equal(drawn[0], drawn[1])
    assert not np.array_equal(drawn[0], np.random.default_rng(4).normal(size=3))


def test_second_case_is_named_when_it_fails():
    cases = [Case((np.ones((1, 2, 2, 3)),), label="ones"), Case((GRADS,), label="random")]
    text = message(lambda g: g.max(-1), cases=cases)   # right on all-positive inputs only
    assert "case 2 of 2 (random)" in text


def test_custom_compare():
    def compare(got, expected):
        return None if got.sum() == expected.sum() else "sums differ"
    assert check_function(lambda g: saliency(g)[::-1], saliency, [(GRADS,)], compare=compare).passed
    assert "sums differ" in message(lambda g: 2 * saliency(g), compare=compare)


def test_check_value_for_a_computed_number():
    assert check_value(0.75, 0.75, name="accuracy").passed
    with pytest.raises(CheckFailed, match=r"^accuracy: your result is 0\.25 but the expected value is 0\.75\.$"):
        check_value(0.25, 0.75, name="accuracy")
    with pytest.raises(CheckFailed, match="probabilities"):
        check_value(np.full((2, 2), 0.5), np.array([[1.0, -1.0], [2.0, 0.0]]), name="logits")


def test_empty_cases_is_an_error():
    with pytest.raises(ValueError, match="cases is empty"):
        check_function(saliency, saliency, [])


def test_broken_reference_is_not_blamed_on_the_student():
    def reference(g):
        raise KeyError("oops")
    with pytest.raises(RuntimeError, match="tell your tutor"):
        check_function(saliency, reference, [(GRADS,)])


# --------------------------------------------------------------------------
# notebook 00's check
@pytest.mark.parametrize("student, hint", [
    (lambda g: g.max(axis=-1), "you forgot the absolute value"),
    (lambda g: np.abs(g.max(axis=-1)), "max first and the absolute value after"),
    (lambda g: np.abs(g).mean(axis=-1), "you averaged over the channels"),
    (lambda g: np.abs(g).sum(axis=-1), "you summed over the channels"),
    (lambda g: np.abs(g).max(), "max over everything"),
    (lambda g: np.abs(g), "extra last axis of size 3"),
    (lambda g: np.abs(g).max(axis=0), "reduced over axis 0"),
])
def test_saliency_from_gradients_diagnoses(student, hint):
    result = checks.check_saliency_from_gradients(student, raise_on_fail=False)
    assert not result.passed and hint in repr(result)


def test_saliency_from_gradients_accepts_correct_answers():
    assert checks.check_saliency_from_gradients(lambda g: np.abs(g).max(axis=-1)).passed
    assert checks.check_saliency_from_gradients(lambda g: np.max(np.abs(g), axis=3)).passed
    assert checks.check_saliency_from_gradients(lambda g: np.maximum(g.max(-1), -g.min(-1))).passed


def test_string_array_arguments_are_compared_for_changes():
    from labkit import checks

    def count(groups):
        return np.array([np.sum(groups == "a")], dtype=float)

    result = checks.check_function(count, count, [Case(args=(np.array(["a", "b", "a"]),))], name="count")
    assert result.passed
