"""Exercise checks for notebook 03, concepts and TCAV (re-exported by :mod:`labkit.checks`).

Each check runs the student's function and a reference on fresh inputs and
explains the typical mistakes (TCAV: Kim et al., ICML 2018):

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

Only numpy is imported at module level; scikit-learn and scipy are imported
inside the functions that need them.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from labkit.checks.engine import Case, CheckResult, Mismatch, _as_array, add_hint, check_function, matches

__all__ = ["check_concept_activation_vector", "check_tcav_score", "check_is_significant"]


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


_CAVS: dict = {}


def _cav(acts_concept, acts_random, seed=0) -> np.ndarray:
    """Reference: unit normal of a logistic regression's boundary, pointing to the concept.

    Remembered for the last few inputs (a check run needs it again for each diagnosis).
    """
    from sklearn.linear_model import LogisticRegression

    x, y = _labelled(acts_concept, acts_random)
    key = (x.shape, x.tobytes(), y.tobytes(), seed)
    if key not in _CAVS:
        if len(_CAVS) > 32:
            _CAVS.clear()
        _CAVS[key] = _unit(LogisticRegression(C=1.0, max_iter=5000, random_state=seed).fit(x, y).coef_[0])  # (D,)
    return _CAVS[key].copy()


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


def _same_direction(got, wrong_cav) -> bool:
    """For :func:`matches`: the student's CAV points where ``wrong_cav`` points (cosine > 0.99)."""
    got = _as_array(got)
    return got is not None and got.shape == np.shape(wrong_cav) and _cosine(got, wrong_cav) > 0.99


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
            matches(_cav_mean_difference,
                    "your CAV is (nearly) the difference of the mean activations, concept minus random: what you "
                    "get with that shortcut, or with a very strong regularisation (small C); the lecture's CAV "
                    "is the normal of a logistic regression (default C=1.0) on the activations",
                    same=_same_direction),
            matches(_cav_standardised,
                    "you standardised the activations: the CAV must live in the layer's own activation space, "
                    "where step e takes the gradients; fit on the raw (flattened) activations",
                    same=_same_direction),
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
    def case(p, sign, alpha, n_tests, label, spread=0.12, centre=0.5):
        concept, random = _samples_with_p(rng, p, sign, spread=spread, centre=centre)
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
        case(0.5, +1, 0.05, 1, "concept and random scores both around 0.3 (p = 0.5, not significant: "
                               "both are far from 0.5, but not from each other)", centre=0.3),
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


def _same_answer(got, wrong_answer) -> bool:
    """For :func:`matches`: the student's True/False equals the wrong test's."""
    return _compare_bool(got, wrong_answer) is None


def _p_one_sample(concept, popmean=0.5) -> float:
    from scipy import stats

    return float(stats.ttest_1samp(concept, popmean).pvalue)


_SIGNIFICANCE_MISTAKES = (
    (lambda c, r, alpha=0.05, n_tests=1: _p_one_sample(c) * n_tests < alpha,
     "you tested the concept's scores against 0.5 (a one-sample t-test): the baseline is not 0.5 but the "
     "TCAV scores of the random CAVs, which can sit anywhere; compare the two samples with the two-sample "
     "test `stats.ttest_ind(concept_scores, random_scores)`"),
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
    # with True/False answers a single case cannot tell the mistakes apart, the pattern over all cases can
    return check_function(
        student_fn, _is_significant, _significance_cases, seed=seed, name="is_significant",
        raise_on_fail=raise_on_fail, compare=_compare_bool, diagnoses=(
            _returned_p_value,
            *(matches(wrong, message, same=_same_answer, every_case=True)
              for wrong, message in _SIGNIFICANCE_MISTAKES),
            lambda m: ("use `scipy.stats.ttest_ind(concept_scores, random_scores).pvalue` (two-sided), multiply "
                       "it by n_tests (Bonferroni) and return whether the result is below alpha; a difference "
                       "of means alone does not say whether it could be chance"),
        ))
