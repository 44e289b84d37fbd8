"""Exercise checks for notebooks 03 (concepts, TCAV) and 04 (distillation and fairness).

Re-exported by :mod:`labkit.checks`. Each check runs the student's function
and a reference on fresh inputs and explains the typical mistakes.

Notebook 03, TCAV (Kim et al., ICML 2018):

- :func:`check_concept_activation_vector`: ``concept_activation_vector(acts_concept,
  acts_random, seed)``, step d: scikit-learn's ``LogisticRegression`` on the
  flattened activations (concept = 1, random = 0); its weights, as a unit
  vector pointing towards the concept. Passes when the cosine with the
  reference CAV is above 0.99.
- :func:`check_tcav_score`: ``tcav_score(gradients, cav)``, step e: the share
  of class images whose directional derivative ``S = grad . v_C`` is > 0.
- :func:`check_is_significant`: ``is_significant(concept_scores, random_scores,
  alpha, n_tests)``: two-sided t-test of concept vs random TCAV scores with a
  Bonferroni correction, as :mod:`labkit.tcav` does.

Notebook 04, distillation and the bank loan:

- :func:`check_fidelity`: ``fidelity(model_predictions, surrogate_predictions)``.
- :func:`check_surrogate_tree`: ``surrogate_tree(X, y, model_predictions, max_depth)``,
  a scikit-learn decision tree fitted to the model's predictions, not to the labels.
- :func:`check_approval_rate_by_group`: ``approval_rate_by_group(approved, groups)``.
- :func:`check_flip_rate`: ``flip_rate(model, X, column)``, the counterfactual flip test.

Only numpy is imported at module level; scikit-learn, scipy, keras and
labkit's methods are imported inside the functions that need them.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .checks import Case, CheckResult, add_hint, Mismatch, _as_array, _fresh, check_function, matches

__all__ = [
    "check_concept_activation_vector", "check_tcav_score", "check_is_significant",
    "check_fidelity", "check_surrogate_tree", "check_approval_rate_by_group", "check_flip_rate",
]




def _flat(array) -> np.ndarray:
    array = np.asarray(array)
    return array.reshape(len(array), -1)  # (N, D)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _cosine(a, b) -> float:
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    norms = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / norms) if norms > 0 else 0.0


# ==========================================================================
# notebook 03, exercise 1: the concept activation vector (step d)
def _labelled(acts_concept, acts_random) -> tuple[np.ndarray, np.ndarray]:
    x = np.concatenate([_flat(acts_concept), _flat(acts_random)]).astype(np.float64)  # (n_c + n_r, D)
    y = np.r_[np.ones(len(acts_concept)), np.zeros(len(acts_random))]                 # 1 = concept
    return x, y


def _cav(acts_concept, acts_random, seed=0) -> np.ndarray:
    """Reference: unit normal of a logistic regression's boundary, pointing to the concept."""
    from sklearn.linear_model import LogisticRegression

    x, y = _labelled(acts_concept, acts_random)
    weights = LogisticRegression(C=1.0, max_iter=5000, random_state=seed).fit(x, y).coef_[0]  # (D,)
    return _unit(weights)


def _cav_standardised(acts_concept, acts_random, seed=0) -> np.ndarray:
    """The mistake: a CAV fitted on standardised activations (a direction in another space)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x, y = _labelled(acts_concept, acts_random)
    return _unit(LogisticRegression(max_iter=5000).fit(StandardScaler().fit_transform(x), y).coef_[0])


def _cav_mean_difference(acts_concept, acts_random, seed=0) -> np.ndarray:
    return _unit(_flat(acts_concept).mean(axis=0) - _flat(acts_random).mean(axis=0))


def _relu_acts(rng, n: int, shape: tuple, shift: np.ndarray | None = None) -> np.ndarray:
    """ReLU-like activations (>= 0), shifted along a concept direction when ``shift`` is given."""
    x = rng.normal(size=(n, *shape))
    if shift is not None:
        x = x + shift.reshape(shape)
    return np.maximum(x, 0).astype(np.float32)


def _cav_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for n_c, n_r, shape, label in (
        (30, 30, (24,), "30 concept and 30 random activation vectors of 24 units"),
        (20, 25, (200,), "20 concept and 25 random activations of 200 units (more units than images, as in a CNN)"),
        (25, 25, (3, 3, 8), "activations of shape (25, 3, 3, 8): a conv layer's feature maps, to flatten"),
    ):
        d = int(np.prod(shape))
        shift = rng.normal(size=d) * (rng.random(d) < 0.3)                 # the concept raises some units
        cases.append(Case((_relu_acts(rng, n_c, shape, shift), _relu_acts(rng, n_r, shape)),
                          {"seed": int(rng.integers(0, 100))}, label))
    return cases


def _compare_cav(got, expected) -> str | None:
    if got is None:
        return "your function returned None"
    g = _as_array(got)
    if g is None or g.dtype.kind not in "biuf":
        return f"your function returned a {type(got).__name__}; return the CAV as a numpy array of shape {expected.shape}"
    if g.shape != expected.shape:
        return (f"your CAV has shape {g.shape} but the expected shape is {expected.shape} "
                f"(one weight per activation of the flattened layer)")
    if not np.all(np.isfinite(g)):
        return "your CAV contains NaN or inf"
    length = float(np.linalg.norm(g))
    if length == 0:
        return "your CAV is all zeros"
    cosine = _cosine(g, expected)
    if cosine < 0.99:
        return f"the cosine similarity between your CAV and the reference CAV is {cosine:.3f} (it should be above 0.99)"
    if abs(length - 1) > 1e-3:
        return f"your CAV points the right way but its length is {length:.4g}, not 1"
    return None


def _cav_shape_hint(m: Mismatch) -> str | None:
    got = _as_array(m.got)
    if got is None or m.expected is None:
        return None
    d = m.expected.shape[0]
    if got.shape == (1, d):
        return "you returned `coef_` itself, shape (1, D): take its only row, `coef_[0]`"
    if got.shape == (d + 1,):
        return ("there is one number too many: did you append the intercept? The CAV is only the weights "
                "(`coef_[0]`), the normal of the decision boundary")
    if got.ndim == 2 and got.shape[1] == d:
        return "return one vector of shape (D,), not one row per image"
    return None


def _cav_flipped(m: Mismatch) -> str | None:
    got = _as_array(m.got)
    if got is not None and got.shape == m.expected.shape and _cosine(got, m.expected) < -0.99:
        return ("your CAV points from the concept towards the random images: label the concept activations 1 "
                "and the random ones 0, so that it points to the concept (step e asks whether moving towards "
                "the concept raises the class score, so the sign matters)")
    return None


def _cav_not_unit(m: Mismatch) -> str | None:
    got = _as_array(m.got)
    if got is not None and got.shape == m.expected.shape and _cosine(got, m.expected) >= 0.99:
        return "divide the weights by their length, `w / np.linalg.norm(w)`: a CAV is a unit vector"
    return None


def _cav_like(wrong: Callable, message: str) -> Callable:
    """A diagnosis: the student's CAV points where ``wrong`` points (cosine > 0.99)."""
    def diagnosis(m: Mismatch) -> str | None:
        got = _as_array(m.got)
        if got is None or got.shape != m.expected.shape:
            return None
        return message if _cosine(got, wrong(*m.case.args, **m.case.kwargs)) > 0.99 else None
    return diagnosis


def _cav_fallback(m: Mismatch) -> str | None:
    return ("fit `LogisticRegression()` (default C=1.0) on all the flattened concept and random activations, "
            "with labels 1 for the concept and 0 for random, and return `coef_[0]` divided by its norm; "
            "do not hold images out or change the regularisation")


def check_concept_activation_vector(student_fn: Callable, *, seed: int = 0,
                                    raise_on_fail: bool = True) -> CheckResult:
    """Check ``concept_activation_vector(acts_concept, acts_random, seed) -> (D,) unit vector``.

    The lecture's step d: logistic regression on the activations of concept
    vs random images; the CAV is the unit normal of the decision boundary,
    pointing towards the concept. It passes when its cosine with the
    reference (scikit-learn's ``LogisticRegression`` with C=1 on all the
    images) is above 0.99 and its length is 1.
    """
    __tracebackhide__ = True  # noqa: F841
    result = check_function(
        student_fn, _cav, _cav_cases, seed=seed, name="concept_activation_vector", raise_on_fail=False,
        compare=_compare_cav, diagnoses=(
            _cav_shape_hint, _cav_flipped, _cav_not_unit,
            _cav_like(_cav_mean_difference,
                      "your CAV is (nearly) the difference of the mean activations, concept minus random: what you "
                      "get with that shortcut, or with a very strong regularisation (small C); the lecture's CAV "
                      "is the normal of a logistic regression (default C=1.0) on the activations"),
            _cav_like(_cav_standardised,
                      "you standardised the activations: the CAV must live in the layer's own activation space, "
                      "where step e takes the gradients; fit on the raw (flattened) activations"),
            _cav_fallback,
        ))
    return add_hint(result, ("dim 3", "dim 4", "dim 5", "expected <= 2"),
                     "flatten the activations to (n, D) first: `acts.reshape(len(acts), -1)`", raise_on_fail)


# ==========================================================================
# notebook 03, exercise 2: the TCAV score from gradients (step e)
def _tcav_score(gradients, cav) -> float:
    """Reference: share of images whose directional derivative grad . v is positive."""
    return float(np.mean(_flat(gradients) @ np.ravel(cav) > 0))


def _tcav_cases(rng: np.random.Generator) -> list[Case]:
    cav = _unit(rng.normal(size=16)).astype(np.float32)
    skewed = (rng.normal(size=(40, 16)) + 0.5 * cav).astype(np.float32)     # about 70 % positive
    cav4 = _unit(rng.normal(size=48)).astype(np.float32)
    conv = (rng.normal(size=(25, 4, 4, 3)) - 0.3 * cav4.reshape(4, 4, 3)).astype(np.float32)
    cav10 = _unit(rng.normal(size=10)).astype(np.float32)
    dead = (rng.normal(size=(30, 10)) + 0.8 * cav10).astype(np.float32)
    dead[rng.choice(30, 9, replace=False)] = 0.0                            # images with all ReLUs dead
    return [Case((skewed, cav), label="gradients of 40 images, 16 activations each"),
            Case((conv, cav4), label="gradients of shape (25, 4, 4, 3) from a conv layer, and a CAV of 48 numbers"),
            Case((dead, cav10), label="30 images, 9 of them with an all-zero gradient (every ReLU dead)")]


def _directional(gradients, cav) -> np.ndarray:
    return _flat(gradients) @ np.ravel(cav)  # (N,)


def _per_image(m: Mismatch) -> str | None:
    got = _as_array(m.got)
    n = len(m.case.args[0])
    if got is not None and got.shape == (n,):
        return ("you returned one value per image; the TCAV score is one number, the share of images with "
                "S > 0: `np.mean(S > 0)`")
    return None


def check_tcav_score(student_fn: Callable, *, seed: int = 0, raise_on_fail: bool = True) -> CheckResult:
    """Check ``tcav_score(gradients, cav) -> float``.

    ``gradients`` (N, ...) are the gradients of the class score with respect
    to a layer's activations for N class images; ``cav`` (D,) is a unit CAV
    of the same layer (D = the flattened size). The score is the share of
    images with ``S = grad . cav > 0`` (Kim et al. 2018, eq. 2).
    """
    __tracebackhide__ = True  # noqa: F841
    result = check_function(
        student_fn, _tcav_score, _tcav_cases, seed=seed, name="tcav_score", raise_on_fail=False,
        diagnoses=(
            _per_image,
            matches(lambda g, v: float(np.sum(_directional(g, v) > 0)),
                    "you counted the images; the TCAV score is a share: divide by the number of images "
                    "(`np.mean(S > 0)`)"),
            matches(lambda g, v: float(np.mean(_directional(g, v) < 0)),
                    "you counted the images with S < 0; the score counts those whose class score grows "
                    "when the activations move towards the concept, S > 0"),
            matches(lambda g, v: float(np.mean(_directional(g, v) >= 0)),
                    "an image whose gradient is exactly 0 (all its ReLUs dead) does not move towards the "
                    "concept: count S > 0, not S >= 0"),
            matches(lambda g, v: float(np.mean(_directional(g, v))),
                    "you averaged the directional derivatives S themselves; the TCAV score is the share of "
                    "images with S > 0, which a few large gradients cannot dominate"),
            matches(lambda g, v: float(np.mean(_directional(g, v) / (np.linalg.norm(_flat(g), axis=1) + 1e-12))),
                    "you averaged cosine similarities; the paper makes the lecture's 'similarity' precise as "
                    "the share of images with a positive directional derivative, `np.mean(S > 0)`"),
        ))
    return add_hint(result, ("matmul", "not aligned", "mismatch in its core dimension", "shapes"),
                     "flatten the gradients to (N, D) first, `gradients.reshape(len(gradients), -1)`, "
                     "then S = flat @ cav", raise_on_fail)


# ==========================================================================
# notebook 03, exercise 3: is a concept significant? (t-test + Bonferroni)
def _is_significant(concept_scores, random_scores, alpha=0.05, n_tests=1) -> bool:
    """Reference: two-sided Student t-test, p x n_tests < alpha."""
    from scipy import stats

    p = stats.ttest_ind(np.asarray(concept_scores, np.float64), np.asarray(random_scores, np.float64)).pvalue
    return bool(p * n_tests < alpha)


def _samples_with_p(rng, p: float, sign: int, n: int = 10, spread: float = 0.12,
                    centre: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Concept and random scores (n each, equal spread) whose t-test gives exactly ``p``."""
    from scipy import stats

    def standard(z):
        return (z - z.mean()) / z.std(ddof=1)

    t = stats.t.isf(p / 2, 2 * n - 2)                                        # two-sided
    shift = sign * t * spread * np.sqrt(2 / n)
    random = centre + spread * standard(rng.normal(size=n))
    concept = centre + shift + spread * standard(rng.normal(size=n))
    return concept, random


def _significance_cases(rng: np.random.Generator) -> list[Case]:
    def case(p, sign, alpha, n_tests, label, spread=0.12):
        concept, random = _samples_with_p(rng, p, sign, spread=spread)
        return Case((concept, random), {"alpha": alpha, "n_tests": n_tests}, label)

    return [
        case(1e-4, +1, 0.05, 1, "concept scores far above the random ones (p = 0.0001), one test"),
        case(1e-4, -1, 0.05, 1, "concept scores far BELOW the random ones (p = 0.0001): a concept that "
                                "lowers the class score also matters"),
        case(0.07, +1, 0.05, 2, "p = 0.07 with n_tests = 2 (Bonferroni: 0.14 > 0.05, not significant)"),
        case(0.02, +1, 0.05, 4, "p = 0.02 with n_tests = 4 (Bonferroni: 0.08 > 0.05, not significant)"),
        case(0.004, +1, 0.01, 6, "p = 0.004 with n_tests = 6 and alpha = 0.01 (0.024 > 0.01, not significant)"),
        case(0.3, +1, 0.05, 1, "means 0.15 apart but widely spread scores (p = 0.3, not significant)", spread=0.4),
        case(0.03, -1, 0.05, 1, "p = 0.03, one test (significant)"),
    ]


def _compare_bool(got, expected) -> str | None:
    g = _as_array(got)
    if g is None or g.shape != ():
        return f"your function returned {type(got).__name__} {got!r}; return True or False"
    if g.dtype.kind == "f" and 0 < float(g) < 1:
        return f"your function returned {float(g):.4g}, but the expected answer is {bool(expected)}"
    if bool(g) == bool(expected):
        return None
    words = {True: "True (significant)", False: "False (not significant)"}
    return f"your function says {words[bool(g)]} but the expected answer is {words[bool(expected)]}"


def _returned_p_value(m: Mismatch) -> str | None:
    got = _as_array(m.got)
    if got is not None and got.shape == () and got.dtype.kind == "f" and 0 < float(got) < 1:
        return "return True or False, whether p x n_tests < alpha, not the p-value itself"
    return None


def _p(concept, random, alternative="two-sided") -> float:
    from scipy import stats

    return float(stats.ttest_ind(concept, random, alternative=alternative).pvalue)


def _behaves_like(student_fn: Callable, cases: list, variants: tuple, compare: Callable | None = None) -> Callable:
    """A diagnosis: the student's answers equal one wrong variant's answers on EVERY case.

    With True/False answers a single case cannot tell mistakes apart (many
    wrong tests say "True" where the answer is "False"), the pattern over
    all cases can.
    """
    def diagnosis(m: Mismatch) -> str | None:
        try:
            answers = [student_fn(*_fresh(c.args), **_fresh(c.kwargs)) for c in cases]
        except Exception:
            return None
        for wrong, message in variants:
            same = compare or _compare_bool
            if all(same(a, wrong(*_fresh(c.args), **_fresh(c.kwargs))) is None for a, c in zip(answers, cases)):
                return message
        return None
    return diagnosis


_SIGNIFICANCE_MISTAKES = (
    (lambda c, r, alpha=0.05, n_tests=1: _p(c, r, "greater") * n_tests < alpha,
     "you used a one-sided test (concept > random); a concept that lowers the class score matters too: use "
     "the two-sided t-test, `stats.ttest_ind(concept_scores, random_scores)`"),
    (lambda c, r, alpha=0.05, n_tests=1: _p(c, r) < alpha,
     "you forgot the Bonferroni correction: with n_tests tests, compare p * n_tests with alpha"),
    (lambda c, r, alpha=0.05, n_tests=1: _p(c, r) / n_tests < alpha,
     "you divided the p-value by n_tests; Bonferroni multiplies it (or divides alpha): `p * n_tests < alpha`"),
    (lambda c, r, alpha=0.05, n_tests=1: _p(c, r) * n_tests < 0.05,
     "use the `alpha` argument instead of a fixed 0.05"),
    (lambda c, r, alpha=0.05, n_tests=1: _p(c, r) * n_tests > alpha,
     "it is the other way round: a concept is significant when the corrected p-value is SMALL, "
     "p x n_tests < alpha"),
)


def check_is_significant(student_fn: Callable, *, seed: int = 0, raise_on_fail: bool = True) -> CheckResult:
    """Check ``is_significant(concept_scores, random_scores, alpha=0.05, n_tests=1) -> bool``.

    TCAV's test (Kim et al. 2018, section 3.2): the TCAV scores of a
    concept's CAVs against the scores of random CAVs, a two-sided t-test
    (``scipy.stats.ttest_ind``), and a Bonferroni correction: significant
    when ``p * n_tests < alpha``.
    """
    __tracebackhide__ = True  # noqa: F841
    cases = _significance_cases(np.random.default_rng(seed))
    return check_function(
        student_fn, _is_significant, cases, name="is_significant", raise_on_fail=raise_on_fail,
        compare=_compare_bool, diagnoses=(
            _returned_p_value,
            _behaves_like(student_fn, cases, _SIGNIFICANCE_MISTAKES),
            lambda m: ("use `scipy.stats.ttest_ind(concept_scores, random_scores).pvalue` (two-sided), multiply "
                       "it by n_tests (Bonferroni) and return whether the result is below alpha; a difference "
                       "of means alone does not say whether it could be chance"),
        ))


# ==========================================================================
# notebook 04, exercise 1: fidelity of a surrogate
def _fidelity(model_predictions, surrogate_predictions) -> float:
    """Reference: share of rows on which the surrogate predicts what the model predicts."""
    return float(np.mean(np.asarray(model_predictions) == np.asarray(surrogate_predictions)))


def _disagree(rng, labels: np.ndarray, share: float, classes: int) -> np.ndarray:
    other = labels.copy()
    flip = rng.random(len(labels)) < share
    other[flip] = (labels[flip] + rng.integers(1, classes, flip.sum())) % classes
    return other


def _fidelity_cases(rng: np.random.Generator) -> list[Case]:
    binary = rng.integers(0, 2, 50)
    three = rng.integers(0, 3, 64)
    return [Case((binary, _disagree(rng, binary, 0.2, 2)), label="50 loan decisions (0/1), the surrogate "
                                                                     "disagrees on about a fifth"),
            Case((three, _disagree(rng, three, 0.35, 3)), label="64 predictions of a 3-class model"),
            Case((binary[:7], binary[:7].copy()), label="7 rows where surrogate and model always agree")]


def check_fidelity(student_fn: Callable, *, seed: int = 0, raise_on_fail: bool = True) -> CheckResult:
    """Check ``fidelity(model_predictions, surrogate_predictions) -> float``: the share of agreement."""
    __tracebackhide__ = True  # noqa: F841
    return check_function(
        student_fn, _fidelity, _fidelity_cases, seed=seed, name="fidelity", raise_on_fail=raise_on_fail,
        diagnoses=(
            matches(lambda a, b: float(np.sum(a == b)),
                    "you counted the rows where they agree; fidelity is a share: divide by the number of rows"),
            matches(lambda a, b: 100 * float(np.mean(a == b)),
                    "you returned a percentage; return the share between 0 and 1"),
            matches(lambda a, b: float(np.mean(a != b)),
                    "you computed the share of DISagreement; fidelity is the share of rows where the surrogate "
                    "predicts what the model predicts, `np.mean(model_predictions == surrogate_predictions)`"),
        ))


# ==========================================================================
# notebook 04, exercise 2: a surrogate tree on the model's predictions
_LOANS: dict = {}


def _loan_rule(data) -> np.ndarray:
    """A stand-in 'network': a stricter, deterministic decision with the planted bias, unlike the noisy labels.

    Stricter than the historical decisions (threshold 1.0 on the log-odds), so
    a tree fitted to the labels splits in the wrong places and is caught.
    """
    female = data.raw["sex"] == "female"
    return (data.merit - 1.6 * female + 0.3 * np.sin(3 * data.X[:, 0]) > 1.0).astype(np.int64)


def _loans(seed: int, n: int, split: str):
    key = (seed, n, split)
    if key not in _LOANS:
        from . import datasets

        data = datasets.loan_table(split, n, seed=seed)
        _LOANS[key] = (data.X, data.y, _loan_rule(data))
    return _LOANS[key]


def _tree(X, labels, max_depth, seed=0):
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(max_depth=max_depth, random_state=seed).fit(X, labels)


def _reference_tree(X, y, model_predictions, max_depth=3):
    """Reference: a decision tree fitted to the model's predictions (not to y)."""
    return _tree(X, model_predictions, max_depth)


class _TreeSummary:
    """Calls a surrogate_tree function and measures its tree on held-out rows.

    Carries the student's ``__code__`` so that an error is shown at the line
    of the student's own function.
    """

    def __init__(self, fn: Callable):
        self.fn = fn
        self.__code__ = getattr(fn, "__code__", None)
        self.__name__ = getattr(fn, "__name__", "surrogate_tree")

    def __call__(self, X, y, model_predictions, max_depth, held_out):
        tree = self.fn(X, y, model_predictions, max_depth)
        X_test, predictions_test, label_tree_test = held_out
        if tree is None:
            return {"problem": "your function returned None: return the fitted tree"}
        if not hasattr(tree, "predict"):
            return {"problem": f"your function returned {_describe_type(tree)}; return the fitted "
                               f"DecisionTreeClassifier itself (something with .predict)"}
        if not hasattr(tree, "get_depth"):
            return {"problem": f"your function returned a {type(tree).__name__}; the exercise asks for a "
                               f"DecisionTreeClassifier, whose splits can be read (and drawn with plot.tree)"}
        try:
            surrogate = np.asarray(tree.predict(X_test)).astype(np.int64)
        except Exception as err:  # e.g. NotFittedError
            return {"problem": f"calling .predict of your tree raised {type(err).__name__}: {err}"}
        depth = tree.get_depth()
        return {"problem": None, "fidelity": float(np.mean(surrogate == predictions_test)),
                "label_tree": float(np.mean(surrogate == label_tree_test)), "depth": depth,
                "max_depth": max_depth}


def _describe_type(value) -> str:
    array = _as_array(value)
    if array is not None and array.ndim > 0:
        return f"an array of shape {array.shape} (predictions?)"
    return f"a {type(value).__name__}"


def _surrogate_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for max_depth, n in ((3, 1200), (2, 900), (4, 1500)):
        data_seed = int(rng.integers(1000, 10**6))
        X, y, predictions = _loans(data_seed, n, "train")
        X_test, y_test, predictions_test = _loans(data_seed + 1, 600, "test")
        label_tree = _tree(X, y, max_depth).predict(X_test)
        cases.append(Case((X, y, predictions, max_depth, (X_test, predictions_test, label_tree)),
                          label=f"{n} fresh loan applicants, max_depth={max_depth}, fidelity measured on "
                                f"600 held-out applicants"))
    return cases


def _compare_surrogate(got, expected) -> str | None:
    if got.get("problem"):
        return got["problem"]
    if got["depth"] > got["max_depth"]:
        return (f"your tree has depth {got['depth']} but max_depth was {got['max_depth']}: pass "
                f"`max_depth=max_depth` to DecisionTreeClassifier (a deep tree may copy the model, but nobody "
                f"can read it)")
    if got["fidelity"] >= expected["fidelity"] - 0.02:
        return None
    text = (f"your tree's fidelity on held-out applicants is {got['fidelity']:.3f}, the reference tree's is "
            f"{expected['fidelity']:.3f}")
    if got["label_tree"] > got["fidelity"] and got["label_tree"] >= 0.97:
        return (text + ".\n  Hint: you fitted the true labels instead of the model's predictions: a surrogate "
                       "explains the model, so it learns what the model says (`model_predictions`), its mistakes "
                       "and biases included")
    return (text + ".\n  Hint: fit `DecisionTreeClassifier(max_depth=max_depth)` to (X, model_predictions), "
                   "all rows, and return the fitted tree")


def check_surrogate_tree(student_fn: Callable, *, seed: int = 0, raise_on_fail: bool = True) -> CheckResult:
    """Check ``surrogate_tree(X, y, model_predictions, max_depth) -> fitted DecisionTreeClassifier``.

    The global surrogate of the lecture's "model distillation": a shallow
    tree fitted to the model's predictions, not to the true labels ``y``.
    Passes when the tree's depth is at most ``max_depth`` and its fidelity to
    the model on held-out applicants is within 0.02 of the reference tree's.
    """
    __tracebackhide__ = True  # noqa: F841
    if not callable(student_fn):
        return check_function(student_fn, _reference_tree, [Case()], name="surrogate_tree",
                              raise_on_fail=raise_on_fail)
    return check_function(_TreeSummary(student_fn), _TreeSummary(_reference_tree), _surrogate_cases, seed=seed,
                          name="surrogate_tree", compare=_compare_surrogate, raise_on_fail=raise_on_fail)


# ==========================================================================
# notebook 04, exercise 3: approval rate by group
def _approval_rates(approved, groups) -> dict:
    """Reference: {group: share of the group's rows that were approved}."""
    approved, groups = np.asarray(approved, np.float64), np.asarray(groups)
    return {str(g): float(approved[groups == g].mean()) for g in np.unique(groups)}


def _group_cases(rng: np.random.Generator) -> list[Case]:
    sex = np.where(rng.random(40) < 0.45, "female", "male")
    approved = (rng.random(40) < np.where(sex == "female", 0.3, 0.7)).astype(np.int64)
    races = np.array(["white", "black", "asian_pac_islander", "amer_indian_eskimo", "other"])
    race = races[rng.choice(5, 60, p=[0.5, 0.2, 0.1, 0.1, 0.1])]
    race[:5] = races                                                         # every group present
    approved_race = rng.random(60) < 0.5
    return [Case((approved, sex.tolist()), label="40 decisions (0/1) and the applicants' sex"),
            Case((approved_race, race.tolist()), label="60 decisions (True/False) and five race groups")]


def _as_mapping(value):
    if hasattr(value, "to_dict"):  # a pandas Series
        value = value.to_dict()
    return value


def _compare_rates(got, expected) -> str | None:
    got = _as_mapping(got)
    if got is None:
        return "your function returned None"
    if not isinstance(got, dict):
        return f"your function returned {_describe_type(got)}; return a dict {{group: approval rate}}"
    mine = {str(k): v for k, v in got.items()}
    if set(mine) != set(expected):
        return (f"your dict has the groups {sorted(mine)} but the groups are {sorted(expected)} "
                f"(one entry per value in np.unique(groups))")
    for group, want in expected.items():
        have = _as_array(mine[group])
        if have is None or have.shape != () or not np.isclose(float(have), want, rtol=1e-6, atol=1e-9):
            return f"for group {group!r} your rate is {mine[group]!r} but the expected rate is {want:.4g}"
    return None


def _rates_like(wrong: Callable, message: str) -> Callable:
    def diagnosis(m: Mismatch) -> str | None:
        got = _as_mapping(m.raw_got)
        if not isinstance(got, dict):
            return None
        candidate = wrong(*m.case.args)
        mine = {str(k): v for k, v in got.items()}
        same = set(mine) == set(candidate) and all(
            np.isclose(float(np.asarray(mine[k])), candidate[k]) for k in candidate)
        return message if same else None
    return diagnosis


def _rates_count(approved, groups):
    approved, groups = np.asarray(approved, np.float64), np.asarray(groups)
    return {str(g): float(approved[groups == g].sum()) for g in np.unique(groups)}


def _rates_share_of_approved(approved, groups):
    approved, groups = np.asarray(approved, np.float64), np.asarray(groups)
    return {str(g): float(approved[groups == g].sum() / approved.sum()) for g in np.unique(groups)}


def _rates_declined(approved, groups):
    return {g: 1 - r for g, r in _approval_rates(approved, groups).items()}


def _rates_group_share(approved, groups):
    groups = np.asarray(groups)
    return {str(g): float(np.mean(groups == g)) for g in np.unique(groups)}


class _WithGroupArray:
    """Calls ``fn(approved, np.asarray(groups))``: the case holds the group names as a list.

    (The checks framework compares array inputs before and after the call to
    catch in-place changes, which does not work for arrays of strings.)
    Carries the student's ``__code__`` so that errors point at their line.
    """

    def __init__(self, fn: Callable):
        self.fn = fn
        self.__code__ = getattr(fn, "__code__", None)
        self.__name__ = getattr(fn, "__name__", "approval_rate_by_group")

    def __call__(self, approved, groups):
        return self.fn(approved, np.asarray(groups))


def check_approval_rate_by_group(student_fn: Callable, *, seed: int = 0,
                                 raise_on_fail: bool = True) -> CheckResult:
    """Check ``approval_rate_by_group(approved, groups) -> {group: rate}``.

    The rate of a group is P(approved | group): its approved rows divided by
    its rows. Keys are the group names (``np.unique(groups)``); a pandas
    Series is accepted as well as a dict.
    """
    __tracebackhide__ = True  # noqa: F841
    if not callable(student_fn):
        return check_function(student_fn, _approval_rates, [Case()], name="approval_rate_by_group",
                              raise_on_fail=raise_on_fail)
    return check_function(
        _WithGroupArray(student_fn), _WithGroupArray(_approval_rates), _group_cases, seed=seed,
        name="approval_rate_by_group", raise_on_fail=raise_on_fail, compare=_compare_rates, diagnoses=(
            _rates_like(_rates_count, "you counted the approvals; divide by the number of applicants in the group"),
            _rates_like(_rates_share_of_approved,
                        "you divided by the number of approved applicants, which gives P(group | approved); "
                        "the approval rate is P(approved | group): divide by the size of the group"),
            _rates_like(_rates_declined, "these are the rates of declined applicants; count the approved ones"),
            _rates_like(_rates_group_share,
                        "these are the shares of each group in the data; use the decisions too"),
        ))


# ==========================================================================
# notebook 04, exercise 4: the counterfactual flip test
_FLIP_MODELS: dict = {}


def _flip_model(seed: int):
    """A tiny linear keras 'loan model' (6 inputs -> 2 logits, no softmax), cached.

    Column 2 (0/1) raises the approval logit a lot, column 5 (0/1) lowers
    it: flipping either changes many decisions, in both directions.
    """
    if seed not in _FLIP_MODELS:
        import keras

        rng = np.random.default_rng(seed)
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2, name="logits")],
                                 name=f"tiny_loan_model_{seed}")
        approve = rng.normal(scale=0.8, size=6)
        approve[2], approve[5] = 2.0, -1.6
        kernel = np.stack([np.zeros(6), approve], axis=1)                     # (6, 2): declined, approved
        model.set_weights([kernel.astype(np.float32), np.array([0.0, -0.2], np.float32)])
        _FLIP_MODELS[seed] = model
    return _FLIP_MODELS[seed]


def _decisions(model, X) -> np.ndarray:
    return np.asarray(model(np.asarray(X, np.float32), training=False)).argmax(axis=1)


def _flip_rate(model, X, column) -> float:
    """Reference: share of rows whose decision changes when the 0/1 column is flipped."""
    from . import distill

    return distill.flip_test(model, X, column).changed / len(X)


def _flip_cases(rng: np.random.Generator) -> list[Case]:
    model = _flip_model(int(rng.integers(0, 1000)))
    cases = []
    for n, column in ((80, 2), (50, 5)):
        X = rng.normal(size=(n, 6)).astype(np.float32)
        X[:, 2] = rng.random(n) < 0.45
        X[:, 5] = rng.random(n) < 0.5
        effect = "raises" if column == 2 else "lowers"
        cases.append(Case((model, X, column), label=f"a small keras model, {n} rows, flipping the 0/1 column "
                                                    f"{column} (which {effect} the approval logit)"))
    return cases


def _flip_to(value: float):
    def wrong(model, X, column):
        changed = X.copy()
        changed[:, column] = value
        return float(np.mean(_decisions(model, X) != _decisions(model, changed)))
    return wrong


def _flipped(model, X, column):
    changed = X.copy()
    changed[:, column] = 1 - changed[:, column]
    return _decisions(model, X), _decisions(model, changed)


_FLIP_MISTAKES = (
    (lambda model, X, column: float(np.sum(np.not_equal(*_flipped(model, X, column)))),
     "you counted the changed decisions; the flip rate is a share: divide by the number of rows"),
    (_flip_to(1.0), "you set the column to 1 for everyone; flip it instead, `1 - X[:, column]`, so that every "
                    "applicant gets the other value"),
    (_flip_to(0.0), "you set the column to 0 for everyone; flip it instead, `1 - X[:, column]`, so that every "
                    "applicant gets the other value"),
    (lambda model, X, column: float(np.mean(np.subtract(*_flipped(model, X, column)[::-1]) > 0)),
     "you counted only the decisions that became approvals; count every changed decision, in both directions"),
    (lambda model, X, column: float(np.mean(np.subtract(*_flipped(model, X, column)[::-1]) < 0)),
     "you counted only the decisions that became refusals; count every changed decision, in both directions"),
    (lambda model, X, column: 1.0,
     "every row changed: did you compare the raw outputs (logits) instead of the decisions? Compare the argmax "
     "over the classes, `.argmax(axis=1)`"),
)


def _same_number(got, expected) -> str | None:
    g = _as_array(got)
    ok = g is not None and g.shape == () and g.dtype.kind in "biuf" and np.isclose(float(g), expected, atol=1e-9)
    return None if ok else "different"


def check_flip_rate(student_fn: Callable, *, seed: int = 0, raise_on_fail: bool = True) -> CheckResult:
    """Check ``flip_rate(model, X, column) -> float``.

    The counterfactual flip test: the same rows with the 0/1 ``column``
    flipped (0 <-> 1) on a copy of X; the share of rows whose decision (the
    argmax of the model's logits) changes. An unbiased model gives 0.
    """
    __tracebackhide__ = True  # noqa: F841
    cases = _flip_cases(np.random.default_rng(seed))
    return check_function(
        student_fn, _flip_rate, cases, name="flip_rate", raise_on_fail=raise_on_fail,
        diagnoses=(_behaves_like(student_fn, cases, _FLIP_MISTAKES, compare=_same_number),))
