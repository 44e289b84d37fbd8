"""Tests for labkit.fairness: the bank-loan questions, global (group rates, permutation
importance, flip test) and local (SHAP and LIME on one applicant).

Hand-checkable models are plain functions of the columns (a threshold on
one feature, a linear score), so every number has a known answer; the
shipped ``loan`` model checks the lecture's bank-loan story.
"""

import json
import re

import numpy as np
import pytest
from sklearn.inspection import permutation_importance as sklearn_permutation_importance

from labkit import datasets, distill, fairness, zoo
from tabular_models import X, linear_keras_model, threshold_model


# --- global: is the model biased? -----------------------------------------------------


def test_group_rates_by_hand():
    decisions = np.array([1, 0, 1, 1, 0, 0, 1, 1])
    groups = np.array(["a", "a", "a", "a", "b", "b", "b", "b"])
    merit = np.array([0, 0, 5, 5, 0, 0, 0, 5])  # two merit bins: low (0) and high (5)
    a, b = fairness.group_rates(decisions, groups, merit=merit, n_bins=2)
    assert (a.group, a.n, a.rate, b.rate) == ("a", 4, 0.75, 0.5)
    # bins: low has 5 of 8 rows, high 3 of 8. a: low 1/2, high 2/2; b: low 1/3, high 1/1
    assert a.matched_rate == pytest.approx(5 / 8 * 0.5 + 3 / 8 * 1.0)
    assert b.matched_rate == pytest.approx(5 / 8 * (1 / 3) + 3 / 8 * 1.0)
    assert fairness.group_rates(decisions, groups)[0].matched_rate is None


def test_permutation_importance_matches_sklearn_and_ignores_unused_columns():
    names = ("x0", "x1", "colour=red", "colour=blue")
    ours = {r.feature: r for r in fairness.permutation_importance(threshold_model, X, feature_names=names,
                                                                 grouped=False, n_repeats=5)}
    assert ours["x0"].mean == ours["x1"].mean == ours["colour=blue"].mean == 0.0  # the model ignores them

    class Wrapped:  # sklearn's implementation, scoring agreement with the model's own decisions
        def fit(self, X, y):
            return self

        def predict(self, X):
            return threshold_model(X)

        def score(self, X, y):
            return np.mean(self.predict(X) == y)

    reference = sklearn_permutation_importance(Wrapped(), X, threshold_model(X), n_repeats=5, random_state=0)
    assert ours["colour=red"].mean == pytest.approx(reference.importances_mean[2], abs=0.02)
    assert ours["colour=red"].mean == pytest.approx(2 * np.mean(X[:, 2] > 0.3) * np.mean(X[:, 2] <= 0.3), abs=0.02)
    grouped = fairness.permutation_importance(threshold_model, X, feature_names=names, n_repeats=5)
    assert [r.feature for r in grouped][0] == "colour" and len(grouped) == 3  # x0, x1, colour


def test_flip_test_counts_changed_decisions():
    Xb = X.copy()
    Xb[:, 3] = (X[:, 3] > 0).astype("float32")  # a 0/1 column, e.g. "sex=female"
    biased = lambda X: (np.asarray(X)[:, 3] == 0).astype(int)  # noqa: E731  approves only when it is 0
    result = fairness.flip_test(biased, Xb, "f", feature_names=("a", "b", "c", "f"))
    ones = int(Xb[:, 3].sum())
    assert result.column == "f" and result.changed == len(X)  # every decision depends on it
    assert result.by_value[1] == {"n": ones, "gained": ones, "lost": 0}
    assert result.by_value[0] == {"n": len(X) - ones, "gained": 0, "lost": len(X) - ones}
    fair = fairness.flip_test(threshold_model, Xb, 3)
    assert fair.changed == 0 and fair.gained == fair.lost == 0


# --- local: why was my loan not approved? ---------------------------------------------


def test_shap_on_a_linear_keras_model_is_exact():
    w, b = np.array([1.5, -2.0, 0.5, 0.0]), 0.2
    model = linear_keras_model(w, b)
    background = X[:40]
    row = X[123]
    e = fairness.explain_applicant(model, row, background, feature_names=("a", "b", "c", "d"), n_samples=200)
    contribution = {c.feature: c.contribution for c in e.contributions}
    expected = w * (row - background.mean(axis=0))  # Shapley values of a linear function
    np.testing.assert_allclose([contribution[f] for f in "abcd"], expected, atol=1e-4)
    assert e.base == pytest.approx(float(background.mean(axis=0) @ w + b), abs=1e-4)
    assert e.prediction == pytest.approx(float(row @ w + b), abs=1e-4)
    assert e.base + sum(contribution.values()) == pytest.approx(e.prediction, abs=1e-4)
    assert [c.feature for c in e.contributions][:2] == sorted("abcd", key=lambda f: -abs(expected["abcd".index(f)]))[:2]


def test_lime_ranks_the_feature_the_model_uses():
    model = linear_keras_model(np.array([0.0, 3.0, 0.0, 0.0]), 0.0)
    e = fairness.explain_applicant(model, X[7], X[:200], feature_names=("a", "b", "c", "d"), method="lime",
                                  n_samples=500, seed=0)
    assert e.method == "lime" and re.search(r"(^| )b( |$)", e.contributions[0].feature)  # e.g. "-0.01 < b <= 0.64"
    logit = 3.0 * X[7, 1]
    assert e.prediction == pytest.approx(1 / (1 + np.exp(-logit)), abs=1e-5)


# --- bad input --------------------------------------------------------------------------


def test_bad_input_gets_clear_errors():
    with pytest.raises(ValueError, match="must hold only 0 and 1"):
        fairness.flip_test(threshold_model, X, 0)
    with pytest.raises(ValueError, match="no column named 'sex'"):
        fairness.flip_test(threshold_model, X, "sex", feature_names=("a", "b", "c", "d"))
    with pytest.raises(ValueError, match="method must be one of 'shap', 'lime'"):
        fairness.explain_applicant(threshold_model, X[0], X[:10], method="anchors")
    with pytest.raises(ValueError, match="row has 3 features but background has 4"):
        fairness.explain_applicant(threshold_model, X[0, :3], X[:10])
    with pytest.raises(ValueError, match="decisions must be 0/1"):
        fairness.group_rates(np.array([0.5, 1.0]), np.array(["a", "b"]))


# --- the lecture's bank-loan story on the shipped model -----------------------------------


@pytest.fixture(scope="module")
def loan():
    path = zoo.MODEL_DIR / "MANIFEST.json"
    if not path.exists() or "loan" not in json.loads(path.read_text())["models"]:
        pytest.skip("zoo model 'loan' not trained yet (make train)")
    return zoo.load("loan"), datasets.loan_table("test", 2000, seed=1)


def test_the_loan_model_is_biased_against_women_not_by_race(loan):
    model, data = loan
    names = data.feature_names
    tree = distill.surrogate_tree(model, data.X, data.y, max_depth=3, feature_names=names)
    ranked = [names[i] for i in np.argsort(-tree.tree.feature_importances_)]
    assert "sex=female" in ranked[:2]  # the tree exposes the planted bias
    assert tree.fidelity >= 0.9  # and a depth-3 tree is faithful enough to be believed
    linear = distill.surrogate_linear(model, data.X, data.y, feature_names=names)
    assert linear.fidelity >= 0.9
    weights = np.abs(linear.estimator.coef_[0])
    assert "sex=female" in [names[i] for i in np.argsort(-weights)[:2]]  # next to education, the merit's core
    assert linear.estimator.coef_[0][names.index("sex=female")] < 0
    decisions = distill.predict_classes(model, data.X)
    female, male = fairness.group_rates(decisions, data.raw["sex"], merit=data.merit)
    assert male.matched_rate - female.matched_rate > 0.25
    races = fairness.group_rates(decisions, data.raw["race"], merit=data.merit)
    assert max(r.matched_rate for r in races) - min(r.matched_rate for r in races) < 0.15
    sex = fairness.flip_test(model, data.X, "sex=female", feature_names=names)
    race = fairness.flip_test(model, data.X, "race=white", feature_names=names)
    assert sex.changed / sex.n > 0.25 and race.changed / race.n < 0.1
    assert sex.by_value[1]["lost"] == 0 and sex.by_value[1]["gained"] > 0.25 * sex.by_value[1]["n"]


# --- the plots --------------------------------------------------------------------------


def test_plots_draw_the_numbers_with_titles():
    import matplotlib.pyplot as plt

    from labkit import plot

    names = ("x0", "x1", "x2", "x3")
    s = distill.surrogate_tree(threshold_model, X, max_depth=2, feature_names=names, class_names=("no", "yes"))
    ax = plot.tree(s)
    assert "fidelity" in ax.get_title() and any("x2 <=" in t.get_text() for t in ax.texts)
    rates = fairness.group_rates(threshold_model(X), np.where(X[:, 0] > 0, "a", "b"), merit=X[:, 2])
    ax = plot.approval_rates(rates, title="rates")
    assert [p.get_height() for p in ax.patches][:2] == pytest.approx([r.rate for r in rates])
    ax = plot.importances(fairness.permutation_importance(threshold_model, X, feature_names=names, n_repeats=2))
    assert ax.get_title() == "permutation importance" and len(ax.patches) == 4
    ax = plot.coefficients(distill.surrogate_linear(threshold_model, X, feature_names=names))
    assert ax.get_yticklabels()[-1].get_text() == "x2"  # the largest weight on top
    scores = lambda X: np.stack([np.zeros(len(X)), 2 * X[:, 1]], 1)  # noqa: E731
    e = fairness.explain_applicant(scores, X[0], X[:20], feature_names=names, n_samples=100)
    ax = plot.explanation(e, top=2)
    assert len(ax.patches) == 2 and ax.get_title().startswith("SHAP")
    plt.close("all")


def test_explanations_are_seeded():
    """12 features, 60 samples: SHAP samples coalitions (2^12 > 60), so the seed matters."""
    rng = np.random.default_rng(2)
    X12 = rng.normal(size=(40, 12)).astype("float32")
    model = linear_keras_model(rng.normal(size=12), 0.0)
    for method in ("shap", "lime"):
        runs = [fairness.explain_applicant(model, X12[3], X12, method=method, n_samples=60, seed=s) for s in (4, 4, 5)]
        assert runs[0] == runs[1] and runs[0] != runs[2]
    state = np.random.get_state()[1].copy()
    fairness.explain_applicant(model, X12[3], X12, n_samples=60, seed=9)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # numpy's global generator is left alone


def test_targets_rows_and_tables_are_checked():
    model = linear_keras_model(np.array([1.0, 0, 0, 0], "float32"), 0.0)
    with pytest.raises(TypeError, match="target must be one class index \\(int\\), got float 1.5"):
        fairness.explain_applicant(model, X[0], X[:10], target=1.5)  # was truncated to 1
    with pytest.raises(ValueError, match="target 2 is out of range; valid class indices are 0..1"):
        fairness.explain_applicant(model, X[0], X[:10], target=2)
    with pytest.raises(ValueError, match=r"row must have shape \(D,\)"):
        fairness.explain_applicant(model, X[:2], X[:10])
    with pytest.raises(ValueError, match="background contains NaN"):
        fairness.explain_applicant(model, X[0], np.full((3, 4), np.nan))
    with pytest.raises(ValueError, match="X has 3 columns but 4 are expected"):
        fairness.permutation_importance(model, X[:, :3])
    with pytest.raises(ValueError, match="merit contains NaN"):
        fairness.group_rates(np.array([0, 1]), np.array(["a", "b"]), merit=np.array([0.0, np.nan]))


def test_encode_loan_refuses_unknown_categories():
    raw = datasets.loan_table("test", 20, seed=3).raw
    with pytest.raises(ValueError, match=r"raw\['sex'\] must be a column \(N,\) of 'female', 'male'; got 'F'"):
        datasets.encode_loan({**raw, "sex": np.array(["F"] * 20)})  # was encoded as male
    with pytest.raises(ValueError, match="raw is missing the column\\(s\\) age"):
        datasets.encode_loan({k: v for k, v in raw.items() if k != "age"})
    with pytest.raises(ValueError, match=r"raw\['age'\] contains NaN"):
        datasets.encode_loan({**raw, "age": np.full(20, np.nan)})
