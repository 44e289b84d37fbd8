"""Is the model fair? The lecture's bank-loan questions, global and local.

Global, "is the model biased?" (the lecture's local vs global slide):

- :func:`group_rates`: approval rates by group, raw and at matched merit;
- :func:`permutation_importance`: how many decisions change when a feature
  is shuffled (Breiman 2001; Fisher et al. 2019);
- :func:`flip_test`: the same applicants with one attribute flipped.

Local, "why was my loan not approved?": :func:`explain_applicant`, SHAP's
KernelExplainer (Lundberg & Lee, NIPS 2017) or LIME's tabular explainer
(Ribeiro et al., KDD 2016) on the model's batched predictions.

Every function takes any model that :func:`labkit.distill.predict_classes`
takes (keras, scikit-learn, or a function). The global surrogate, a
readable tree or linear model fitted to the model's decisions, is in
:mod:`labkit.distill`.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from labkit.distill import model_scores, predict_classes
from labkit.targets import softmax
from labkit.validate import (
    as_array, check_batch_size, check_choice, check_class, check_flag, check_memory, check_names,
    check_positive_int, check_predictor, check_seed,
)

__all__ = [
    "GroupRate", "group_rates", "Importance", "permutation_importance", "FlipResult", "flip_test",
    "Contribution", "Explanation", "explain_applicant",
]


# --- global: is the model biased? ----------------------------------------------------


@dataclass(frozen=True)
class GroupRate:
    """Approval (positive-decision) rate of one group.

    ``matched_rate`` is the rate the group would have if its members were
    spread over the merit bins like the whole population (direct
    standardisation): a gap there is not explained by merit.
    """

    group: str
    n: int
    rate: float
    matched_rate: float | None


def _matched_rate(decisions, in_group, bins, n_bins) -> float:
    """sum_b P(bin b) * rate of the group in bin b, over the bins the group occupies."""
    weights, rates = [], []
    for b in range(n_bins):
        members = in_group & (bins == b)
        if members.any():
            weights.append(np.mean(bins == b))
            rates.append(decisions[members].mean())
    return float(np.dot(weights, rates) / np.sum(weights))


def group_rates(decisions, groups, *, merit=None, n_bins: int = 5) -> tuple:
    """Positive-decision rate per group, raw and at matched merit.

    Parameters
    ----------
    decisions : array-like
        (N,) 0/1 decisions (the model's predictions, or historical labels).
    groups : array-like
        (N,) group of each row, e.g. ``loan.raw["sex"]``.
    merit : array-like, optional
        (N,) what a decision *should* depend on (``loan.merit``); rows are
        put into ``n_bins`` merit quantile bins and each group's rate is
        averaged over the bins with the population's weights.
    n_bins : int

    Returns
    -------
    tuple of GroupRate
        One per group, sorted by group name.

    Examples
    --------
    >>> group_rates(predict_classes(model, loan.X), loan.raw["sex"], merit=loan.merit)  # doctest: +SKIP
    (GroupRate(group='female', n=..., rate=0.3, matched_rate=0.33), GroupRate(group='male', ...))
    """
    decisions = as_array(decisions, "decisions", ndim=1, shape="(N,)", allow_bool=True, dtype=np.float64)
    if not np.isin(decisions, (0, 1)).all():
        raise ValueError("decisions must be 0/1 (declined/approved)")
    if groups is None or isinstance(groups, (str, bytes, dict)):
        raise TypeError(f"groups must be an array (N,) with the group of each row, got {type(groups).__name__}")
    groups = np.asarray(groups)
    if groups.shape != decisions.shape:
        raise ValueError(f"decisions and groups must both have shape (N,), got {decisions.shape} and {groups.shape}")
    bins, n_bins = None, check_positive_int(n_bins, "n_bins")
    if merit is not None:
        merit = as_array(merit, "merit", ndim=1, shape=f"{decisions.shape}", dtype=np.float64)
        if merit.shape != decisions.shape:
            raise ValueError(f"merit must have shape {decisions.shape}, got {merit.shape}")
        edges = np.quantile(merit, np.linspace(0, 1, n_bins + 1)[1:-1])
        bins = np.searchsorted(edges, merit, side="left")  # (N,) in 0..n_bins-1; ties go down
    return tuple(
        GroupRate(str(g), int(np.sum(groups == g)), float(decisions[groups == g].mean()),
                  None if bins is None else _matched_rate(decisions, groups == g, bins, n_bins))
        for g in np.unique(groups)
    )


@dataclass(frozen=True)
class Importance:
    """How many of the model's decisions change when a feature is shuffled (mean, std over repeats)."""

    feature: str
    mean: float
    std: float


def _feature_groups(names: tuple, grouped: bool) -> dict:
    """{feature: column indices}; one-hot columns "race=white", ... form one feature "race"."""
    groups: dict = {}
    for i, name in enumerate(names):
        groups.setdefault(name.split("=")[0] if grouped else name, []).append(i)
    return groups


def permutation_importance(
    model,
    X,
    *,
    feature_names: Sequence[str] | None = None,
    grouped: bool = True,
    n_repeats: int = 10,
    seed: int = 0,
    batch_size: int = 1024,
) -> tuple:
    """Permutation importance on the model's own decisions (Breiman 2001; Fisher et al. 2019).

    For each feature, shuffle its column(s) across rows and count the share
    of decisions that change: 0 means the model ignores the feature. One-hot
    columns of one variable ("race=white", "race=black", ...) are shuffled
    together (``grouped=True``), so every shuffled row stays a valid row.
    All shuffled copies go through the model in one batched prediction.

    Parameters
    ----------
    model : keras.Model, scikit-learn estimator or callable
    X : array-like
        (N, D) rows.
    feature_names : sequence of str, optional
    grouped : bool
        Shuffle "name=value" columns of one variable together.
    n_repeats : int
        Shuffles per feature.
    seed : int
    batch_size : int

    Returns
    -------
    tuple of Importance
        Sorted from most to least important.

    Examples
    --------
    >>> permutation_importance(model, loan.X, feature_names=loan.feature_names)[:2]  # doctest: +SKIP
    (Importance(feature='education_num', mean=0.2, std=0.01), Importance(feature='sex', mean=0.1, std=0.01))
    """
    model, X = _table(model, X)
    names = check_names(feature_names, X.shape[1])
    n_repeats, seed = check_positive_int(n_repeats, "n_repeats"), check_seed(seed)
    groups = _feature_groups(names, check_flag(grouped, "grouped"))
    batch_size = check_batch_size(batch_size)
    check_memory(2 * X.nbytes * len(groups) * n_repeats, f"permutation_importance(n_repeats={n_repeats})",
                 "use fewer repeats or rows")  # every shuffled copy, and their predictions
    rng = np.random.default_rng(seed)
    copies = np.repeat(X[None], len(groups) * n_repeats, axis=0)  # (F * R, N, D)
    shuffles = [columns for columns in groups.values() for _ in range(n_repeats)]
    for copy, columns in zip(copies, shuffles):
        copy[:, columns] = X[rng.permutation(len(X))][:, columns]  # shuffle rows of these columns
    reference = predict_classes(model, X, batch_size=batch_size)  # (N,)
    shuffled = predict_classes(model, copies.reshape(-1, X.shape[1]), batch_size=batch_size)
    changed = (shuffled.reshape(len(groups), n_repeats, len(X)) != reference).mean(axis=2)  # (F, R)
    rows = [Importance(f, float(c.mean()), float(c.std())) for f, c in zip(groups, changed)]
    return tuple(sorted(rows, key=lambda r: -r.mean))


@dataclass(frozen=True)
class FlipResult:
    """Decisions before and after flipping one 0/1 column for every row.

    ``by_value`` maps the column's original value (0 or 1) to a dict with
    ``n`` rows, ``gained`` (declined -> approved) and ``lost`` (approved ->
    declined). ``changed`` = all gains and losses.
    """

    column: str
    n: int
    changed: int
    gained: int
    lost: int
    by_value: dict


def flip_test(model, X, column, *, feature_names: Sequence[str] | None = None, batch_size: int = 1024) -> FlipResult:
    """The same rows with one binary attribute flipped: how many decisions change?

    A counterfactual test of direct discrimination: an unbiased model gives
    the same decision to an applicant whatever their sex, so ``changed``
    should be 0.

    Parameters
    ----------
    model : keras.Model, scikit-learn estimator or callable
    X : array-like
        (N, D) rows.
    column : str or int
        The 0/1 column to flip, by name (needs ``feature_names``) or index.
    feature_names : sequence of str, optional
    batch_size : int

    Returns
    -------
    FlipResult

    Examples
    --------
    >>> flip_test(model, loan.X, "sex=female", feature_names=loan.feature_names).by_value[1]  # doctest: +SKIP
    {'n': 450, 'gained': 80, 'lost': 0}
    """
    model, X = _table(model, X)
    names = check_names(feature_names, X.shape[1])
    j = _column_index(column, names)
    batch_size = check_batch_size(batch_size)
    values = X[:, j]
    if not np.isin(values, (0, 1)).all():
        raise ValueError(f"column {names[j]!r} must hold only 0 and 1 to be flipped, "
                         f"got values {np.unique(values)[:5]}")
    flipped = X.copy()
    flipped[:, j] = 1 - values
    before, after = (predict_classes(model, np.concatenate([X, flipped]), batch_size=batch_size)
                     .reshape(2, len(X)))
    gained, lost = (before == 0) & (after == 1), (before == 1) & (after == 0)
    by_value = {int(v): {"n": int(np.sum(values == v)), "gained": int(np.sum(gained & (values == v))),
                         "lost": int(np.sum(lost & (values == v)))} for v in (0, 1)}
    return FlipResult(names[j], len(X), int(gained.sum() + lost.sum()), int(gained.sum()), int(lost.sum()), by_value)


def _table(model, X, name: str = "X") -> tuple:
    """(model, X) checked: any model of predict_classes, and X an (N, D) table it takes."""
    model, X = check_predictor(model, X, x_name=name)
    if X.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D), a table of rows, got shape {X.shape}")
    return model, X


def _column_index(column, names: tuple) -> int:
    if isinstance(column, str):
        if column not in names:
            raise ValueError(f"no column named {column!r}; columns are {', '.join(names)}")
        return names.index(column)
    if isinstance(column, numbers.Integral) and not isinstance(column, bool) and -len(names) <= column < len(names):
        return int(column) % len(names)
    raise ValueError(f"column must be a column name or an index in 0..{len(names) - 1}, got {column!r}")


# --- local: why was my loan not approved? -------------------------------------------


@dataclass(frozen=True)
class Contribution:
    """One feature's part in one decision: its value and its contribution."""

    feature: str
    value: float
    contribution: float


@dataclass(frozen=True)
class Explanation:
    """A local explanation of one row.

    For SHAP, ``base`` + the sum of ``contributions`` equals ``prediction``,
    the log-odds of the target class (logit_target - logit_other; for more
    than two classes, the target logit). For LIME, ``base`` is the local
    linear model's intercept and ``prediction`` the model's probability of
    the target class; the contributions are the weights of LIME's readable
    conditions (``feature`` then holds the condition, e.g. "sex=female > 0.50").
    """

    method: str
    target: int
    base: float
    prediction: float
    contributions: tuple


def _log_odds_function(model, target: int, batch_size: int) -> Callable:
    """f(X) -> (N,) log-odds of ``target``: its logit minus the other class's for two classes."""

    def f(X):
        scores = model_scores(model, np.asarray(X, np.float32), batch_size=batch_size)
        if scores.shape[1] == 2:
            return (scores[:, target] - scores[:, 1 - target]).astype(np.float64)
        return scores[:, target].astype(np.float64)

    return f


def _probability_function(model, batch_size: int) -> Callable:
    """f(X) -> (N, K) softmax of the model's logits, what LIME asks for."""

    def f(X):
        return softmax(model_scores(model, np.asarray(X, np.float32), batch_size=batch_size).astype(np.float64))

    return f


def _shap(model, row, background, names, target, n_samples, seed, batch_size) -> Explanation:
    with warnings.catch_warnings():  # shap 0.51's colour maps use matplotlib calls due for deprecation
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap

    f = _log_odds_function(model, target, batch_size)
    explainer = shap.KernelExplainer(f, background)
    state = np.random.get_state()  # KernelExplainer samples coalitions with numpy's global generator
    np.random.seed(seed)
    try:
        values = np.asarray(explainer.shap_values(row[None], nsamples=n_samples, silent=True)).reshape(-1)  # (D,)
    finally:
        np.random.set_state(state)
    contributions = [Contribution(n, float(v), float(c)) for n, v, c in zip(names, row, values)]
    return Explanation("shap", target, float(explainer.expected_value), float(f(row[None])[0]),
                       tuple(sorted(contributions, key=lambda c: -abs(c.contribution))))


def _lime(model, row, background, names, target, n_samples, seed, batch_size) -> Explanation:
    from lime.lime_tabular import LimeTabularExplainer

    categorical = [i for i, n in enumerate(names) if "=" in n]  # one-hot columns
    explainer = LimeTabularExplainer(background, feature_names=list(names), categorical_features=categorical,
                                     discretize_continuous=True, random_state=seed)
    f = _probability_function(model, batch_size)
    result = explainer.explain_instance(row, f, labels=(target,), num_features=len(names), num_samples=n_samples)
    value = dict(result.as_map()[target])  # {column: weight}
    contributions = [Contribution(text, float(row[j]), float(value[j]))
                     for (text, _), j in zip(result.as_list(label=target), [j for j, _ in result.as_map()[target]])]
    return Explanation("lime", target, float(result.intercept[target]), float(f(row[None])[0, target]),
                       tuple(contributions))


def explain_applicant(
    model,
    row,
    background,
    *,
    feature_names: Sequence[str] | None = None,
    method: str = "shap",
    target: int = 1,
    n_samples: int = 2000,
    seed: int = 0,
    batch_size: int = 4096,
) -> Explanation:
    """Why did (not) this applicant get the loan? SHAP or LIME on one row.

    SHAP (Lundberg & Lee 2017) with ``shap.KernelExplainer``: Shapley values
    of the log-odds of ``target``, relative to the average over
    ``background``; they add up exactly to the applicant's log-odds minus
    the background's mean. (With many features, KernelExplainer's default
    keeps the 10 largest and gives the others 0.) LIME (Ribeiro et al. 2016) with
    ``lime.lime_tabular``: a weighted linear model fitted to perturbed
    copies of the row, on readable conditions like "education_num <= -0.38".
    Both call the model on large batches (``batch_size`` rows per pass).

    Parameters
    ----------
    model : keras.Model, scikit-learn estimator or callable
    row : array-like
        (D,) the applicant's features.
    background : array-like
        (M, D) typical rows (e.g. 100 training rows): what "average" means.
    feature_names : sequence of str, optional
    method : {"shap", "lime"}
    target : int
        The class to explain (1 = approved).
    n_samples : int
        Model evaluations SHAP/LIME may spend.
    seed : int
    batch_size : int

    Returns
    -------
    Explanation
        Contributions sorted from the largest to the smallest magnitude.

    Examples
    --------
    >>> e = explain_applicant(model, loan.X[7], loan.X[:100], feature_names=loan.feature_names)  # doctest: +SKIP
    >>> e.contributions[0]  # doctest: +SKIP
    Contribution(feature='sex=female', value=1.0, contribution=-0.9)
    """
    check_choice(method, "method", ("shap", "lime"))
    model, background = _table(model, background, "background")
    row = as_array(row, "row", ndim=1, shape="(D,): one applicant's features (pass X[i], not X[i:i+1])")
    if row.shape[0] != background.shape[1]:
        raise ValueError(f"row has {row.shape[0]} features but background has {background.shape[1]} columns")
    names = check_names(feature_names, len(row))
    batch_size = check_batch_size(batch_size)
    scores = model_scores(model, row[None], batch_size=batch_size)  # (1, K) scores, or (1,) a class
    if scores.ndim != 2:
        raise ValueError("explain_applicant needs a model that returns scores per class (a keras model or a "
                         "function returning (N, K)), not only the predicted class")
    target = check_class(target, scores.shape[1])
    explain = _shap if method == "shap" else _lime
    return explain(model, row, background, names, target, check_positive_int(n_samples, "n_samples"),
                   check_seed(seed), batch_size)
