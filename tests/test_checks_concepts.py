"""Checks of notebooks 03 (TCAV) and 04 (distillation, the bank loan): model answers pass,
typical mistakes get their specific hint."""
import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from labkit import checks, distill, fairness
from labkit.checks import CheckFailed
from labkit.checks import nb03_concepts as concepts
from labkit.checks import nb04_distillation_and_fairness as distillation

CHECK_NAMES = [*concepts.__all__, *distillation.__all__]


def feedback(check, fn, seed=0) -> str:
    """The text a failing check shows (and make sure it fails)."""
    result = check(fn, seed=seed, raise_on_fail=False)
    assert not result.passed, f"{check.__name__} should have failed for {fn.__name__}"
    return repr(result)


def not_attempted(*args, **kwargs):
    # YOUR CODE HERE
    raise NotImplementedError()


ALL_CHECKS = [checks.check_concept_activation_vector, checks.check_tcav_score, checks.check_is_significant,
              checks.check_fidelity, checks.check_surrogate_tree, checks.check_approval_rate_by_group,
              checks.check_flip_rate]


@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda c: c.__name__)
def test_not_implemented_is_not_attempted(check):
    with pytest.raises(CheckFailed, match="not attempted yet"):
        check(not_attempted)


def test_checks_are_exported_by_labkit_checks():
    assert set(CHECK_NAMES) <= set(dir(checks))
    assert len(CHECK_NAMES) == len(ALL_CHECKS)


def test_a_value_instead_of_a_function_is_explained():
    with pytest.raises(CheckFailed, match="without calling it"):
        checks.check_surrogate_tree(np.zeros(3))


# --------------------------------------------------------------------------
# notebook 03, exercise 1: the CAV
def _xy(acts_concept, acts_random):
    x = np.concatenate([acts_concept.reshape(len(acts_concept), -1), acts_random.reshape(len(acts_random), -1)])
    return x, np.r_[np.ones(len(acts_concept)), np.zeros(len(acts_random))]


def concept_activation_vector(acts_concept, acts_random, seed=0):
    x, y = _xy(acts_concept, acts_random)
    w = LogisticRegression(random_state=seed).fit(x, y).coef_[0]   # default max_iter=100 is enough
    return w / np.linalg.norm(w)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cav_model_answer_passes(seed):
    assert checks.check_concept_activation_vector(concept_activation_vector, seed=seed)


def test_cav_reference_matches_labkit_tcav_direction():
    """The check's reference is the lecture's step d, what labkit.tcav fits (there on 2/3 of the rows)."""
    rng = np.random.default_rng(3)
    concept = np.maximum(rng.normal(size=(60, 12)) + np.r_[np.ones(4), np.zeros(8)], 0)
    random = np.maximum(rng.normal(size=(60, 12)), 0)
    reference = concepts._cav(concept, random)
    assert np.isclose(np.linalg.norm(reference), 1)
    assert reference[:4].min() > 0 and reference @ (concept.mean(0) - random.mean(0)) > 0   # points to the concept


def cav_flipped(acts_concept, acts_random, seed=0):
    return -concept_activation_vector(acts_concept, acts_random, seed)


def cav_not_unit(acts_concept, acts_random, seed=0):
    x, y = _xy(acts_concept, acts_random)
    return LogisticRegression().fit(x, y).coef_[0]


def cav_coef_matrix(acts_concept, acts_random, seed=0):
    x, y = _xy(acts_concept, acts_random)
    w = LogisticRegression().fit(x, y).coef_
    return w / np.linalg.norm(w)


def cav_with_intercept(acts_concept, acts_random, seed=0):
    x, y = _xy(acts_concept, acts_random)
    fitted = LogisticRegression().fit(x, y)
    w = np.r_[fitted.coef_[0], fitted.intercept_]
    return w / np.linalg.norm(w)


def cav_not_flattened(acts_concept, acts_random, seed=0):
    x = np.concatenate([acts_concept, acts_random])
    y = np.r_[np.ones(len(acts_concept)), np.zeros(len(acts_random))]
    w = LogisticRegression().fit(x, y).coef_[0]
    return w / np.linalg.norm(w)


def cav_mean_difference(acts_concept, acts_random, seed=0):
    x, y = _xy(acts_concept, acts_random)
    w = x[y == 1].mean(0) - x[y == 0].mean(0)
    return w / np.linalg.norm(w)


def cav_standardised(acts_concept, acts_random, seed=0):
    x, y = _xy(acts_concept, acts_random)
    w = LogisticRegression().fit(StandardScaler().fit_transform(x), y).coef_[0]
    return w / np.linalg.norm(w)


def cav_half_the_data(acts_concept, acts_random, seed=0):
    x, y = _xy(acts_concept, acts_random)
    w = LogisticRegression().fit(x[::2], y[::2]).coef_[0]
    return w / np.linalg.norm(w)


@pytest.mark.parametrize("wrong, words", [
    (cav_flipped, ["cosine similarity", "-1.000", "label the concept activations 1"]),
    (cav_not_unit, ["length is", "np.linalg.norm"]),
    (cav_coef_matrix, ["shape (1, 24)", "coef_[0]"]),
    (cav_with_intercept, ["shape (25,)", "intercept"]),
    (cav_not_flattened, ["case 3 of 3", "Found array with dim 4", "reshape(len(acts), -1)"]),
    (cav_mean_difference, ["difference of the mean activations"]),
    (cav_standardised, ["standardised", "raw (flattened) activations"]),
    (cav_half_the_data, ["above 0.99", "do not hold images out"]),
])
def test_cav_mistakes_get_their_hint(wrong, words):
    text = feedback(checks.check_concept_activation_vector, wrong)
    for word in words:
        assert word in text, f"{word!r} not in:\n{text}"


def test_cav_error_points_at_the_students_line():
    def typo(acts_concept, acts_random, seed=0):
        x, y = _xy(acts_concept, acts_random)
        return LogisticRegresion().fit(x, y).coef_[0]  # noqa: F821
    assert "line 3 of your function" in feedback(checks.check_concept_activation_vector, typo)


# --------------------------------------------------------------------------
# notebook 03, exercise 2: the TCAV score
def tcav_score(gradients, cav):
    s = gradients.reshape(len(gradients), -1) @ cav
    return np.mean(s > 0)


@pytest.mark.parametrize("seed", [0, 1])
def test_tcav_score_model_answer_passes(seed):
    assert checks.check_tcav_score(tcav_score, seed=seed)


def test_tcav_score_reference_is_labkit_tcav_step_e():
    """The same share of positive directional derivatives as labkit.tcav's batched scores."""
    from labkit import tcav
    rng = np.random.default_rng(0)
    gradients = rng.normal(size=(30, 8)) + 0.4
    cavs = [tcav.CAV(v / np.linalg.norm(v), "l", 1.0, "c", "r") for v in rng.normal(size=(3, 8))]
    expected = tcav._scores(gradients, cavs)
    got = [concepts._tcav_score(gradients, c.vector) for c in cavs]
    np.testing.assert_allclose(got, expected)


def score_count(gradients, cav):
    return np.sum(gradients.reshape(len(gradients), -1) @ cav > 0)


def score_negative(gradients, cav):
    return np.mean(gradients.reshape(len(gradients), -1) @ cav < 0)


def score_at_least_zero(gradients, cav):
    return np.mean(gradients.reshape(len(gradients), -1) @ cav >= 0)


def score_mean_derivative(gradients, cav):
    return np.mean(gradients.reshape(len(gradients), -1) @ cav)


def score_per_image(gradients, cav):
    return gradients.reshape(len(gradients), -1) @ cav > 0


def score_cosine(gradients, cav):
    flat = gradients.reshape(len(gradients), -1)
    return np.mean(flat @ cav / np.linalg.norm(flat, axis=1))


def score_not_flattened(gradients, cav):
    return np.mean(gradients @ cav > 0)


@pytest.mark.parametrize("wrong, words", [
    (score_count, ["your result is", "divide by the number of images"]),
    (score_negative, ["S < 0"]),
    (score_at_least_zero, ["case 3 of 3", "all-zero gradient", "not S >= 0"]),
    (score_mean_derivative, ["averaged the directional derivatives"]),
    (score_per_image, ["shape (40,)", "one value per image"]),
    (score_cosine, ["cosine similarities"]),
    (score_not_flattened, ["case 2 of 3", "flatten the gradients"]),
])
def test_tcav_score_mistakes_get_their_hint(wrong, words):
    text = feedback(checks.check_tcav_score, wrong)
    for word in words:
        assert word in text, f"{word!r} not in:\n{text}"


# --------------------------------------------------------------------------
# notebook 03, exercise 3: significance
def is_significant(concept_scores, random_scores, alpha=0.05, n_tests=1):
    p = stats.ttest_ind(concept_scores, random_scores).pvalue
    return p * n_tests < alpha


def test_is_significant_model_answer_and_welch_pass():
    def welch(c, r, alpha=0.05, n_tests=1):
        return stats.ttest_ind(c, r, equal_var=False).pvalue * n_tests < alpha
    for seed in (0, 1, 2):
        assert checks.check_is_significant(is_significant, seed=seed)
        assert checks.check_is_significant(welch, seed=seed)


def test_significance_cases_have_the_p_values_their_labels_promise():
    for case in concepts._significance_cases(np.random.default_rng(5)):
        concept, random = case.args
        p = stats.ttest_ind(concept, random).pvalue
        promised = float(case.label.split("p = ")[1].split(")")[0].split(" ")[0].rstrip(","))
        assert np.isclose(p, promised, rtol=1e-6), case.label


def test_is_significant_reference_agrees_with_labkit_tcav():
    from labkit import tcav
    rng = np.random.default_rng(1)
    for _ in range(20):
        concept, random = rng.random(8), rng.random(8) * 0.8
        p = tcav._t_test(concept, random)
        assert concepts._is_significant(concept, random, 0.05, 3) == (min(1.0, 3 * p) < 0.05)


@pytest.mark.parametrize("wrong, words", [
    (lambda c, r, alpha=0.05, n_tests=1: stats.ttest_ind(c, r, alternative="greater").pvalue * n_tests < alpha,
     ["case 2 of 8", "one-sided"]),
    (lambda c, r, alpha=0.05, n_tests=1: stats.ttest_ind(c, r).pvalue < alpha,
     ["case 4 of 8", "forgot the Bonferroni correction"]),
    (lambda c, r, alpha=0.05, n_tests=1: stats.ttest_ind(c, r).pvalue / n_tests < alpha,
     ["case 3 of 8", "divided the p-value"]),
    (lambda c, r, alpha=0.05, n_tests=1: stats.ttest_ind(c, r).pvalue * n_tests < 0.05,
     ["case 5 of 8", "`alpha` argument"]),
    (lambda c, r, alpha=0.05, n_tests=1: stats.ttest_ind(c, r).pvalue * n_tests > alpha,
     ["case 1 of 8", "says False (not significant)", "the other way round"]),
    (lambda c, r, alpha=0.05, n_tests=1: stats.ttest_ind(c, r).pvalue * n_tests,
     ["returned 0.0001", "not the p-value"]),
    (lambda c, r, alpha=0.05, n_tests=1: abs(np.mean(c) - np.mean(r)) > 0.1,
     ["says True (significant)", "difference of means alone"]),
])
def test_is_significant_mistakes_get_their_hint(wrong, words):
    text = feedback(checks.check_is_significant, wrong)
    for word in words:
        assert word in text, f"{word!r} not in:\n{text}"


# --------------------------------------------------------------------------
# notebook 04, exercise 1: fidelity
def fidelity(model_predictions, surrogate_predictions):
    return np.mean(model_predictions == surrogate_predictions)


@pytest.mark.parametrize("wrong, words", [
    (lambda a, b: np.sum(a == b), ["divide by the number of rows"]),
    (lambda a, b: np.mean(a != b), ["DISagreement"]),
    (lambda a, b: 100 * np.mean(a == b), ["percentage"]),
])
def test_fidelity(wrong, words):
    assert checks.check_fidelity(fidelity) and checks.check_fidelity(fidelity, seed=1)
    text = feedback(checks.check_fidelity, wrong)
    for word in words:
        assert word in text, f"{word!r} not in:\n{text}"


def test_fidelity_reference_is_labkit_distill():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    tree = DecisionTreeClassifier(max_depth=1).fit(X, X[:, 0] > 0)
    predictions = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    assert distillation._fidelity(predictions, tree.predict(X)) == distill.fidelity(predictions, tree, X)


# --------------------------------------------------------------------------
# notebook 04, exercise 2: the surrogate tree
def surrogate_tree(X, y, model_predictions, max_depth=3):
    return DecisionTreeClassifier(max_depth=max_depth).fit(X, model_predictions)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_surrogate_tree_model_answer_passes(seed):
    assert checks.check_surrogate_tree(surrogate_tree, seed=seed)


def test_surrogate_tree_with_entropy_or_another_seed_passes():
    def entropy(X, y, p, max_depth=3):
        return DecisionTreeClassifier(max_depth=max_depth, criterion="entropy", random_state=7).fit(X, p)
    assert checks.check_surrogate_tree(entropy)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_surrogate_tree_on_the_labels_is_diagnosed(seed):
    def on_labels(X, y, model_predictions, max_depth=3):
        return DecisionTreeClassifier(max_depth=max_depth).fit(X, y)
    text = feedback(checks.check_surrogate_tree, on_labels, seed=seed)
    assert "you fitted the true labels instead of the model's predictions" in text


@pytest.mark.parametrize("wrong, words", [
    (lambda X, y, p, max_depth=3: DecisionTreeClassifier().fit(X, p), ["has depth", "max_depth=max_depth"]),
    (lambda X, y, p, max_depth=3: DecisionTreeClassifier(max_depth=max_depth).fit(X, p).predict(X),
     ["array of shape (1200,)", "return the fitted DecisionTreeClassifier"]),
    (lambda X, y, p, max_depth=3: DecisionTreeClassifier(max_depth=max_depth), ["NotFittedError"]),
    (lambda X, y, p, max_depth=3: None, ["returned None"]),
    (lambda X, y, p, max_depth=3: LogisticRegression(max_iter=1000).fit(X, p), ["returned a LogisticRegression"]),
])
def test_surrogate_tree_mistakes_get_their_hint(wrong, words):
    text = feedback(checks.check_surrogate_tree, wrong)
    for word in words:
        assert word in text, f"{word!r} not in:\n{text}"


def test_surrogate_tree_reference_is_labkit_distill():
    """labkit.distill.surrogate_tree fits the same tree on the same predictions."""
    X, y, predictions = distillation._loans(11, 500, "train")
    teacher = DecisionTreeClassifier(max_depth=8, random_state=0).fit(X, predictions)   # a stand-in model
    ours = distillation._reference_tree(X, y, teacher.predict(X), 3)
    theirs = distill.surrogate_tree(teacher, X, max_depth=3, X_test=X)
    np.testing.assert_array_equal(ours.predict(X), theirs.tree.predict(X))
    assert np.isclose(distillation._fidelity(teacher.predict(X), ours.predict(X)), theirs.fidelity)


# --------------------------------------------------------------------------
# notebook 04, exercise 3: approval rates
def approval_rate_by_group(approved, groups):
    return {g: np.mean(approved[groups == g]) for g in np.unique(groups)}


def test_approval_rates_model_answer_and_pandas_pass():
    import pandas as pd
    assert checks.check_approval_rate_by_group(approval_rate_by_group)
    assert checks.check_approval_rate_by_group(lambda a, g: pd.Series(np.asarray(a, float)).groupby(g).mean(), seed=1)


def test_approval_rates_agree_with_labkit_group_rates():
    rng = np.random.default_rng(0)
    approved, groups = rng.integers(0, 2, 50), np.where(rng.random(50) < 0.5, "female", "male")
    rates = distillation._approval_rates(approved, groups)
    assert rates == {r.group: r.rate for r in fairness.group_rates(approved, groups)}


@pytest.mark.parametrize("wrong, words", [
    (lambda a, g: {k: np.sum(a[g == k]) for k in np.unique(g)}, ["counted the approvals"]),
    (lambda a, g: {k: np.sum(a[g == k]) / np.sum(a) for k in np.unique(g)}, ["P(group | approved)"]),
    (lambda a, g: {k: 1 - np.mean(a[g == k]) for k in np.unique(g)}, ["declined"]),
    (lambda a, g: [np.mean(a[g == k]) for k in np.unique(g)], ["return a dict"]),
    (lambda a, g: {"female": 0.5}, ["groups ['female'] but the groups are ['female', 'male']"]),
])
def test_approval_rate_mistakes_get_their_hint(wrong, words):
    text = feedback(checks.check_approval_rate_by_group, wrong)
    for word in words:
        assert word in text, f"{word!r} not in:\n{text}"


# --------------------------------------------------------------------------
# notebook 04, exercise 4: the flip test
def decisions(model, X):
    return model.predict(X, verbose=0).argmax(axis=1)


def flip_rate(model, X, column):
    flipped = X.copy()
    flipped[:, column] = 1 - flipped[:, column]
    return np.mean(decisions(model, X) != decisions(model, flipped))


def _variant(new_value=None, count=False, only=None, logits=False):
    def student(model, X, column):
        changed = X.copy()
        changed[:, column] = 1 - changed[:, column] if new_value is None else new_value
        if logits:
            return np.mean(np.any(model.predict(X, verbose=0) != model.predict(changed, verbose=0), axis=1))
        before, after = decisions(model, X), decisions(model, changed)
        if only == "gains":
            return np.mean((before == 0) & (after == 1))
        return np.sum(before != after) if count else np.mean(before != after)
    return student


def test_flip_rate_model_answer_passes():
    assert checks.check_flip_rate(flip_rate) and checks.check_flip_rate(flip_rate, seed=1)


def test_flip_rate_cases_change_decisions_both_ways():
    for case in distillation._flip_cases(np.random.default_rng(0)):
        result = fairness.flip_test(*case.args)
        assert result.gained > 0 and result.lost > 0 and 0.1 < result.changed / result.n < 0.9


@pytest.mark.parametrize("wrong, words", [
    (_variant(new_value=1.0), ["set the column to 1"]),
    (_variant(new_value=0.0), ["set the column to 0"]),
    (_variant(only="gains"), ["only the decisions that became approvals"]),
    (_variant(count=True), ["divide by the number of rows"]),
    (_variant(logits=True), ["raw outputs (logits)"]),
])
def test_flip_rate_mistakes_get_their_hint(wrong, words):
    text = feedback(checks.check_flip_rate, wrong)
    for word in words:
        assert word in text, f"{word!r} not in:\n{text}"


def test_flip_rate_in_place_change_is_caught():
    def in_place(model, X, column):
        before = decisions(model, X)
        X[:, column] = 1 - X[:, column]
        return np.mean(before != decisions(model, X))
    assert "changed its input" in feedback(checks.check_flip_rate, in_place)
