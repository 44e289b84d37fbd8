"""Model distillation and the lecture's bank-loan questions.

*Global surrogate* (the lecture's "Model Distillation: how can we explain a
neural network with a simpler model?"): fit an intrinsically interpretable
model, a shallow decision tree (:func:`surrogate_tree`) or a logistic
regression (:func:`surrogate_linear`), to the network's *predictions* (not
to the true labels), and report its *fidelity*, the share of held-out
inputs on which surrogate and network agree. A faithful surrogate is a
readable summary of what the network does, biases included (Craven &
Shavlik, "Extracting tree-structured representations of trained networks",
NIPS 1996; Molnar, "Interpretable Machine Learning", ch. "Global
Surrogate"). The price of readability shows in the fidelity: a decision
that weighs many features at once needs a deep tree.

The bank-loan questions (the lecture's local vs global slide):

- Global, "is the model biased?": :func:`group_rates` (approval rates by
  group, raw and at matched merit), :func:`permutation_importance` (how many
  decisions change when a feature is shuffled), :func:`flip_test` (the same
  applicants with one attribute flipped).
- Local, "why was my loan not approved?": :func:`explain_applicant`, SHAP's
  KernelExplainer (Lundberg & Lee, NIPS 2017) or LIME's tabular explainer
  (Ribeiro et al., KDD 2016) on the model's batched predictions.

And *knowledge distillation* of an image model (Hinton, Vinyals & Dean,
"Distilling the Knowledge in a Neural Network", 2015): :func:`distill_cnn`
trains a smaller student CNN on the teacher's softened outputs.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier, export_text

from labkit.validate import check_choice, check_positive_int, check_seed

__all__ = [
    "Surrogate", "predict_classes", "surrogate_tree", "surrogate_linear", "fidelity",
    "GroupRate", "group_rates", "Importance", "permutation_importance",
    "FlipResult", "flip_test", "Contribution", "Explanation", "explain_applicant",
    "distill_cnn", "agreement",
]


# --- predictions of any model ------------------------------------------------------


def _as_table(X, name: str = "X") -> np.ndarray:
    """Validate a feature table: (N, D) finite float32 with N >= 1."""
    if isinstance(X, (str, bytes, dict)) or X is None:
        raise TypeError(f"{name} must be a numeric array of shape (N, D), got {type(X).__name__}")
    array = np.asarray(X.numpy() if hasattr(X, "numpy") else X)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D), got shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}); pass at least one row")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or inf values")
    return np.ascontiguousarray(array, dtype=np.float32)


def _model_scores(model, X: np.ndarray, batch_size: int) -> np.ndarray:
    """(N, K) logits of a keras model, or the output of a callable: (N, K) scores or (N,) classes."""
    import keras

    if isinstance(model, keras.Model):
        from labkit.layers import feature_model, predict_batched

        return predict_batched(feature_model(model, [], logits=True), X, batch_size=batch_size)[0]
    if hasattr(model, "predict") and hasattr(model, "fit"):  # a scikit-learn estimator: classes
        return np.asarray(model.predict(X))
    if callable(model):
        return np.asarray(model(X))
    raise TypeError(f"model must be a keras.Model, a scikit-learn estimator or a function, got {type(model).__name__}")


def predict_classes(model, X, *, batch_size: int = 256) -> np.ndarray:
    """The model's predicted class for every row: (N,) int64.

    Parameters
    ----------
    model : keras.Model, scikit-learn estimator or callable
        A keras model is run in batches on its logits; a callable may return
        (N, K) scores or (N,) classes.
    X : array-like
        (N, D) features (or (N, H, W, C) images for an image model).
    batch_size : int

    Returns
    -------
    np.ndarray
        (N,) int64 class indices.

    Examples
    --------
    >>> predict_classes(zoo.load("loan"), loan.X)[:5]  # doctest: +SKIP
    array([1, 0, 0, 1, 1])
    """
    X = np.asarray(X, np.float32)
    scores = _model_scores(model, X, check_positive_int(batch_size, "batch_size"))
    if scores.ndim == 2:
        return np.argmax(scores, axis=1).astype(np.int64)
    if scores.ndim == 1 and len(scores) == len(X):
        return scores.astype(np.int64)
    raise ValueError(f"the model returned shape {scores.shape} for {len(X)} inputs; expected (N, K) or (N,)")


# --- the global surrogate ------------------------------------------------------------


@dataclass(frozen=True)
class Surrogate:
    """An interpretable model fitted to another model's predictions.

    Attributes
    ----------
    estimator : fitted scikit-learn classifier
        A ``DecisionTreeClassifier`` (:func:`surrogate_tree`, also as
        ``.tree``) or a ``LogisticRegression`` (:func:`surrogate_linear`).
    fidelity : float
        Share of held-out rows on which the surrogate predicts what the model predicts.
    accuracy : float or None
        The surrogate's accuracy against the true labels on the held-out rows (None without labels).
    model_accuracy : float or None
        The model's own held-out accuracy, for comparison.
    feature_names, class_names : tuple of str
    n_train, n_test : int
        Rows used to fit the surrogate and to measure it.
    """

    estimator: object
    fidelity: float
    accuracy: float | None
    model_accuracy: float | None
    feature_names: tuple
    class_names: tuple
    n_train: int
    n_test: int

    @property
    def tree(self) -> DecisionTreeClassifier:
        """The decision tree of a :func:`surrogate_tree`."""
        if not isinstance(self.estimator, DecisionTreeClassifier):
            raise AttributeError("this surrogate is not a tree; its weights are in .estimator.coef_")
        return self.estimator

    def describe(self) -> str:
        """The tree as indented rules, or the linear weights, largest first, as text."""
        if isinstance(self.estimator, DecisionTreeClassifier):
            return export_text(self.estimator, feature_names=list(self.feature_names),
                               class_names=list(self.class_names))
        weights = self.estimator.coef_[0]
        order = np.argsort(-np.abs(weights))
        lines = [f"{self.feature_names[i]:>32s} {weights[i]:+.2f}" for i in order]
        return "\n".join([f"{'intercept':>32s} {self.estimator.intercept_[0]:+.2f}"] + lines)


def _names(names, d: int, prefix: str, name: str) -> tuple:
    if names is None:
        return tuple(f"{prefix}{i}" for i in range(d))
    names = tuple(str(n) for n in names)
    if len(names) != d:
        raise ValueError(f"{name} has {len(names)} entries but there are {d}")
    return names


def _labels(y, n: int, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one label per row, got {y.shape}")
    return y.astype(np.int64)


def _split(X, y, X_test, y_test, test_size: float, seed: int):
    """(X_train, y_train, X_held, y_held): the given X_test, or a seeded split of X."""
    if X_test is not None:
        X_held = _as_table(X_test, "X_test")
        if X_held.shape[1] != X.shape[1]:
            raise ValueError(f"X_test has {X_held.shape[1]} columns but X has {X.shape[1]}")
        return X, y, X_held, None if y_test is None else _labels(y_test, len(X_held), "y_test")
    if len(X) < 4:
        raise ValueError(f"X has {len(X)} rows; pass at least 4 (or an X_test) to hold some out for the fidelity")
    if y is None:
        X_train, X_held = train_test_split(X, test_size=test_size, random_state=seed)
        return X_train, None, X_held, None
    X_train, X_held, y_train, y_held = train_test_split(X, y, test_size=test_size, random_state=seed)
    return X_train, y_train, X_held, y_held


def _fit_surrogate(estimator, model, X, y, *, feature_names, class_names, X_test, y_test, test_size, seed,
                   batch_size) -> Surrogate:
    """Fit ``estimator`` to the model's predictions on the training rows, measure it on the held-out rows."""
    X = _as_table(X)
    y = None if y is None else _labels(y, len(X), "y")
    X_train, y_train, X_held, y_held = _split(X, y, X_test, y_test, test_size, check_seed(seed))
    teacher_train = predict_classes(model, X_train, batch_size=batch_size)  # the model's decisions, not y
    teacher_held = predict_classes(model, X_held, batch_size=batch_size)
    if len(np.unique(teacher_train)) < 2:
        raise ValueError(f"the model predicts only class {teacher_train[0]} on X; a surrogate needs both decisions")
    predicted = estimator.fit(X_train, teacher_train).predict(X_held)
    n_classes = int(max(teacher_train.max(), teacher_held.max(), 0 if y is None else y.max())) + 1
    return Surrogate(
        estimator, float(np.mean(predicted == teacher_held)),
        None if y_held is None else float(np.mean(predicted == y_held)),
        None if y_held is None else float(np.mean(teacher_held == y_held)),
        _names(feature_names, X.shape[1], "x", "feature_names"),
        _names(class_names, n_classes, "class ", "class_names"),
        len(X_train), len(X_held),
    )


def surrogate_tree(
    model,
    X,
    y=None,
    *,
    max_depth: int = 3,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    X_test=None,
    y_test=None,
    test_size: float = 0.25,
    seed: int = 0,
    batch_size: int = 1024,
) -> Surrogate:
    """Fit a shallow decision tree to the model's predictions (a global surrogate).

    The tree learns ``predict_classes(model, X)``, not ``y``: it explains the
    model, mistakes and biases included. Its fidelity (agreement with the
    model on held-out rows) says how far to trust that explanation. Trees
    split on one feature at a time, so a model whose decision is a weighted
    sum of several features needs a deep tree for a high fidelity; compare
    :func:`surrogate_linear`.

    Parameters
    ----------
    model : keras.Model, scikit-learn estimator or callable
    X : array-like
        (N, D) features.
    y : array-like, optional
        (N,) true labels, only to report accuracies.
    max_depth : int
        Depth of the tree: 2-4 stays readable.
    feature_names, class_names : sequence of str, optional
    X_test, y_test : array-like, optional
        Held-out rows; without them a seeded ``test_size`` share of X is held out.
    test_size : float
    seed : int
        Seeds the split and the tree.
    batch_size : int

    Returns
    -------
    Surrogate
        The tree (``.tree``), its held-out fidelity and accuracies; draw it with ``plot.tree``.

    Examples
    --------
    >>> loan = datasets.loan_table("test", 4000)  # doctest: +SKIP
    >>> s = surrogate_tree(zoo.load("loan"), loan.X, loan.y, feature_names=loan.feature_names)  # doctest: +SKIP
    >>> s.fidelity, s.tree.get_depth()  # doctest: +SKIP
    (0.92, 3)
    """
    tree = DecisionTreeClassifier(max_depth=check_positive_int(max_depth, "max_depth"), random_state=check_seed(seed))
    return _fit_surrogate(tree, model, X, y, feature_names=feature_names, class_names=class_names, X_test=X_test,
                          y_test=y_test, test_size=test_size, seed=seed, batch_size=batch_size)


def surrogate_linear(
    model,
    X,
    y=None,
    *,
    C: float = 0.1,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    X_test=None,
    y_test=None,
    test_size: float = 0.25,
    seed: int = 0,
    batch_size: int = 1024,
) -> Surrogate:
    """Fit a logistic regression to the model's predictions (a linear global surrogate).

    One weight per feature, in log-odds per unit of the feature: the other
    intrinsically interpretable model of the lecture. Same arguments and
    result as :func:`surrogate_tree`; ``C`` is the inverse L2 penalty.

    Examples
    --------
    >>> s = surrogate_linear(model, loan.X, loan.y, feature_names=loan.feature_names)  # doctest: +SKIP
    >>> print(s.describe())  # doctest: +SKIP
    """
    if not (isinstance(C, numbers.Real) and C > 0):
        raise ValueError(f"C must be a positive number, got {C!r}")
    linear = LogisticRegression(C=float(C), max_iter=5000)
    return _fit_surrogate(linear, model, X, y, feature_names=feature_names, class_names=class_names, X_test=X_test,
                          y_test=y_test, test_size=test_size, seed=seed, batch_size=batch_size)


def fidelity(model_or_predictions, surrogate, X, *, batch_size: int = 1024) -> float:
    """Share of rows on which the surrogate predicts what the model predicts.

    Parameters
    ----------
    model_or_predictions : model or array-like
        A model (see :func:`predict_classes`) or its (N,) predicted classes.
    surrogate : Surrogate or a fitted scikit-learn classifier
    X : array-like
        (N, D) rows to compare on (held-out rows, for an honest number).

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> fidelity(model, s, loan.X)  # doctest: +SKIP
    0.79
    """
    X = _as_table(X)
    estimator = surrogate.estimator if isinstance(surrogate, Surrogate) else surrogate
    if isinstance(model_or_predictions, (np.ndarray, list, tuple)):
        predictions = _labels(model_or_predictions, len(X), "model_or_predictions")
    else:
        predictions = predict_classes(model_or_predictions, X, batch_size=batch_size)
    return float(np.mean(estimator.predict(X) == predictions))


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
    decisions = np.asarray(decisions, np.float64)
    groups = np.asarray(groups)
    if decisions.ndim != 1 or groups.shape != decisions.shape:
        raise ValueError(f"decisions and groups must both have shape (N,), got {decisions.shape} and {groups.shape}")
    if not np.isin(decisions, (0, 1)).all():
        raise ValueError("decisions must be 0/1 (declined/approved)")
    bins = None
    if merit is not None:
        merit = np.asarray(merit, np.float64)
        if merit.shape != decisions.shape:
            raise ValueError(f"merit must have shape {decisions.shape}, got {merit.shape}")
        n_bins = check_positive_int(n_bins, "n_bins")
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
    X = _as_table(X)
    names = _names(feature_names, X.shape[1], "x", "feature_names")
    n_repeats, seed = check_positive_int(n_repeats, "n_repeats"), check_seed(seed)
    groups = _feature_groups(names, grouped)
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
    X = _as_table(X)
    names = _names(feature_names, X.shape[1], "x", "feature_names")
    j = _column_index(column, names)
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
        scores = _model_scores(model, np.asarray(X, np.float32), batch_size)
        if scores.shape[1] == 2:
            return (scores[:, target] - scores[:, 1 - target]).astype(np.float64)
        return scores[:, target].astype(np.float64)

    return f


def _probability_function(model, batch_size: int) -> Callable:
    """f(X) -> (N, K) softmax of the model's logits, what LIME asks for."""

    def f(X):
        scores = _model_scores(model, np.asarray(X, np.float32), batch_size).astype(np.float64)
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        return scores / scores.sum(axis=1, keepdims=True)

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
    background = _as_table(background, "background")
    row = _as_table(np.asarray(row)[None], "row")[0]
    if row.shape[0] != background.shape[1]:
        raise ValueError(f"row has {row.shape[0]} features but background has {background.shape[1]} columns")
    names = _names(feature_names, len(row), "x", "feature_names")
    explain = _shap if method == "shap" else _lime
    return explain(model, row, background, names, int(target), check_positive_int(n_samples, "n_samples"),
                   check_seed(seed), check_positive_int(batch_size, "batch_size"))


# --- knowledge distillation of an image model ----------------------------------------


def agreement(teacher, student, images, *, batch_size: int = 256) -> float:
    """Share of images on which two models predict the same class."""
    return float(np.mean(predict_classes(teacher, images, batch_size=batch_size)
                         == predict_classes(student, images, batch_size=batch_size)))


def distill_cnn(
    teacher,
    images,
    *,
    labels=None,
    temperature: float = 4.0,
    widths: Sequence[int] = (8, 16, 16),
    epochs: int = 20,
    learning_rate: float = 1e-2,
    seed: int = 0,
    batch_size: int = 32,
):
    """Train a small student CNN on a teacher's softened predictions (Hinton et al. 2015).

    The student minimises T^2 * cross-entropy(softmax(z_teacher / T),
    softmax(z_student / T)): at a temperature T > 1 the teacher's soft
    targets also say which wrong classes look alike ("dark knowledge").
    With ``labels`` the same student is trained on hard labels instead, the
    baseline without a teacher. Like the zoo models, the student trains with
    batch normalisation, folded into its convolutions afterwards.

    Parameters
    ----------
    teacher : keras.Model
        Ends in logits, e.g. ``zoo.load("shapes")``.
    images : array-like
        (N, H, W, C) float32 training images.
    labels : array-like, optional
        (N,) class indices: train on these instead of the teacher (baseline).
    temperature : float
    widths : sequence of int
        Channels of the student's conv layers (``zoo.build_cnn``).
    epochs, learning_rate, seed, batch_size : training settings.

    Returns
    -------
    keras.Model
        The student, ending in logits.

    Examples
    --------
    >>> teacher, train = zoo.load("digits"), datasets.digits("train")[:500]  # doctest: +SKIP
    >>> student = distill_cnn(teacher, train.images)  # 3.7k weights, the teacher has 14k  # doctest: +SKIP
    >>> agreement(teacher, student, datasets.digits("test").images)  # doctest: +SKIP
    0.98
    """
    import keras

    from labkit import zoo
    from labkit.validate import as_images

    images, _ = as_images(images, model=teacher)
    if not (isinstance(temperature, numbers.Real) and temperature > 0):
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    classes = int(teacher.outputs[0].shape[-1])
    keras.utils.set_random_seed(check_seed(seed))
    widths = tuple(check_positive_int(w, "widths") for w in widths)
    student = zoo.build_cnn(images.shape[1:], classes, widths=widths, batchnorm=True, name="student")
    if labels is None:
        logits = _model_scores(teacher, images, 256) / temperature  # (N, K)
        targets = np.exp(logits - logits.max(axis=1, keepdims=True))
        targets /= targets.sum(axis=1, keepdims=True)
    else:
        targets = np.eye(classes, dtype=np.float32)[_labels(labels, len(images), "labels")]
        temperature = 1.0
    t = float(temperature)
    loss = lambda y, z: t * t * keras.losses.categorical_crossentropy(y, z / t, from_logits=True)  # noqa: E731
    student.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    student.fit(images, targets.astype(np.float32), batch_size=batch_size, epochs=check_positive_int(epochs, "epochs"),
                shuffle=True, verbose=0)
    return zoo.fold_batchnorm(student, widths=widths, name="student")  # the plain CNN, as in the zoo
