"""Distillation and fairness plots: surrogate models, approval rates, importances, one decision explained.

The lecture's third section: a global surrogate (a tree, a linear model)
read as the model's rule book, and the bank-loan questions asked of it.
Red means "for" the explained class (e.g. approval), blue "against", as in
the signed attribution maps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes

from labkit.plot._base import _axes
from labkit.validate import check_positive_int

if TYPE_CHECKING:
    from labkit.distill import Surrogate
    from labkit.fairness import Explanation, GroupRate, Importance

__all__ = ["tree", "coefficients", "approval_rates", "importances", "explanation"]

FOR_COLOUR, AGAINST_COLOUR = "#b2182b", "#2166ac"  # RdBu ends: for / against the class


def tree(surrogate: Surrogate, *, ax: Axes | None = None, max_depth: int | None = None, fontsize: int = 8,
         title: str | None = None) -> Axes:
    """A surrogate decision tree, readable: feature and class names, filled by class.

    Parameters
    ----------
    surrogate : labkit.distill.Surrogate
        From ``distill.surrogate_tree``.
    ax : matplotlib.axes.Axes, optional
    max_depth : int, optional
        Draw only the top levels of a deeper tree.
    fontsize : int
    title : str, optional
        Default: depth, leaves and held-out fidelity.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> plot.tree(distill.surrogate_tree(model, loan.X, loan.y, feature_names=loan.feature_names))  # doctest: +SKIP
    """
    from sklearn.tree import DecisionTreeClassifier, plot_tree

    if not isinstance(getattr(surrogate, "estimator", None), DecisionTreeClassifier):
        raise TypeError(f"surrogate must be a tree surrogate from distill.surrogate_tree, got "
                        f"{type(getattr(surrogate, 'estimator', surrogate)).__name__}; for "
                        f"distill.surrogate_linear use plot.coefficients")
    max_depth = None if max_depth is None else check_positive_int(max_depth, "max_depth")
    fontsize = check_positive_int(fontsize, "fontsize")
    estimator = surrogate.tree
    depth = min(estimator.get_depth(), max_depth or estimator.get_depth())
    ax = _axes(ax, (min(3.2 * 2 ** depth, 22), 2.0 + 1.4 * depth))
    plot_tree(estimator, feature_names=list(surrogate.feature_names), class_names=list(surrogate.class_names),
              filled=True, impurity=False, proportion=True, rounded=True, fontsize=fontsize,
              max_depth=max_depth, ax=ax)
    accuracy = "" if surrogate.accuracy is None else f", accuracy {surrogate.accuracy:.2f}"
    ax.set_title(title or f"surrogate tree: depth {estimator.get_depth()}, {estimator.get_n_leaves()} leaves, "
                          f"fidelity {surrogate.fidelity:.2f}{accuracy} (held out)", fontsize=10)
    return ax


def coefficients(surrogate: Surrogate, *, ax: Axes | None = None, top: int = 12, title: str | None = None) -> Axes:
    """The weights of a linear surrogate (``distill.surrogate_linear``), largest magnitude first.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if not hasattr(getattr(surrogate, "estimator", None), "coef_"):
        raise TypeError(f"surrogate must be a linear surrogate from distill.surrogate_linear, got "
                        f"{type(getattr(surrogate, 'estimator', surrogate)).__name__}; for a tree use plot.tree")
    top = check_positive_int(top, "top")
    weights = np.asarray(surrogate.estimator.coef_[0], float)
    order = np.argsort(-np.abs(weights))[:top][::-1]
    ax = _axes(ax, (5.5, 0.8 + 0.3 * len(order)))
    ax.barh(np.arange(len(order)), weights[order], color=[FOR_COLOUR if w > 0 else AGAINST_COLOUR
                                                          for w in weights[order]])
    ax.set_yticks(np.arange(len(order)), [surrogate.feature_names[i] for i in order], fontsize=8)
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_xlabel(f"weight (log-odds of {surrogate.class_names[-1]!r} per unit)")
    ax.set_title(title or f"linear surrogate: fidelity {surrogate.fidelity:.2f} (held out)", fontsize=10)
    return ax


def _records(values, name: str, fields: tuple, source: str) -> list:
    """A non-empty list of result records (GroupRate, Importance) with the given fields."""
    if values is None or isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be what {source} returns, got {type(values).__name__}")
    records = list(values)
    if not records:
        raise ValueError(f"{name} is empty; pass what {source} returns")
    if not all(all(hasattr(r, f) for f in fields) for r in records):
        raise TypeError(f"{name} must be what {source} returns (records with {', '.join(fields)})")
    return records


# --- the bank-loan questions ---------------------------------------------------------------


def approval_rates(rates: Sequence[GroupRate], *, ax: Axes | None = None, title: str | None = None,
                   label: str = "approval rate") -> Axes:
    """Approval rate per group (``fairness.group_rates``), raw and at matched merit.

    Returns
    -------
    matplotlib.axes.Axes
    """
    rates = _records(rates, "rates", ("group", "n", "rate", "matched_rate"), "fairness.group_rates")
    ax = _axes(ax, (1.5 + 0.9 * len(rates), 3.2))
    x = np.arange(len(rates))
    matched = all(r.matched_rate is not None for r in rates)
    width = 0.4 if matched else 0.7
    ax.bar(x - (width / 2 if matched else 0), [r.rate for r in rates], width, color="0.55", label="all")
    if matched:
        ax.bar(x + width / 2, [r.matched_rate for r in rates], width, color="#4d9221", label="at matched merit")
        ax.legend(fontsize=8, frameon=False)
    ax.set_xticks(x, [f"{r.group}\n(n={r.n})" for r in rates], fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel(label)
    ax.set_title(title or f"{label} by group", fontsize=10)
    return ax


def importances(rows: Sequence[Importance], *, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Permutation importances (``fairness.permutation_importance``) as bars with std error bars.

    Returns
    -------
    matplotlib.axes.Axes
    """
    rows = _records(rows, "rows", ("feature", "mean", "std"), "fairness.permutation_importance")[::-1]  # top first
    ax = _axes(ax, (5.0, 0.8 + 0.3 * len(rows)))
    ax.barh(np.arange(len(rows)), [r.mean for r in rows], xerr=[r.std for r in rows], color="0.45", capsize=2)
    ax.set_yticks(np.arange(len(rows)), [r.feature for r in rows], fontsize=8)
    ax.set_xlabel("share of the model's decisions that change when shuffled")
    ax.set_title(title or "permutation importance", fontsize=10)
    return ax


def _readable(feature: str, value: float, raw: Mapping | None, method: str) -> str:
    """A bar's label: the feature (or LIME's condition) with the row's readable value when ``raw`` has it."""
    name = feature.split(" ")[0] if method == "shap" else _lime_feature(feature)
    column, _, level = name.partition("=")
    key = next((k for k in (name, name.removeprefix("log_"), column) if raw is not None and k in raw), None)
    if key is None:
        return feature if method == "lime" else f"{feature} = {value:.2g}"
    shown = raw[key]
    shown = f"{shown:g}" if isinstance(shown, (int, float, np.number)) else str(shown)
    if level:  # a one-hot column: say the row's category, and which column the bar is about
        return f"{column} = {shown}" + ("" if shown == level else f" (not {level})")
    if method == "lime":  # LIME's condition is in the model's units; add the row's readable value
        return f"{feature}   [{key} = {shown}]"
    return f"{key} = {shown}"


def _lime_feature(condition: str) -> str:
    """The column LIME's condition is about: "0.00 < education_num <= 0.77" -> "education_num"."""
    words = [w for w in condition.replace("<=", " ").replace("<", " ").replace(">", " ").split()
             if not w.lstrip("-").replace(".", "", 1).isdigit()]
    word = words[0] if words else condition
    return word.rsplit("=", 1)[0] if word.count("=") == 2 else word  # "sex=female=1" -> "sex=female"


def explanation(result: Explanation, *, ax: Axes | None = None, top: int = 10, title: str | None = None,
                raw: Mapping | None = None) -> Axes:
    """A local explanation (``fairness.explain_applicant``): each feature's push for or against.

    Red bars push towards the explained class (e.g. approval), blue bars
    against. The title and the axis say the unit: SHAP explains the log-odds
    of the class (its bars add up to prediction - base), LIME its probability
    (its bars are the weights of a local linear model with that intercept).

    Parameters
    ----------
    result : labkit.fairness.Explanation
    ax : matplotlib.axes.Axes, optional
    top : int
        Number of bars (the largest contributions).
    title : str, optional
    raw : mapping, optional
        The row's readable values by column (e.g. ``{"age": 18, "sex": "female", ...}``, one row of
        ``loan_table(...).raw``): labels then show them instead of the model's scaled inputs. A
        feature ``log_x`` is looked up as ``x`` too, a one-hot ``col=level`` as ``col``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if not all(hasattr(result, field) for field in ("method", "base", "prediction", "contributions")):
        raise TypeError(f"result must be what fairness.explain_applicant returns (an Explanation), "
                        f"got {type(result).__name__}")
    if raw is not None and not isinstance(raw, Mapping):
        raise TypeError(f"raw must be a mapping of the row's readable values by column, got {type(raw).__name__}")
    parts = list(result.contributions)[:check_positive_int(top, "top")][::-1]
    ax = _axes(ax, (5.5, 0.9 + 0.3 * len(parts)))
    values = [c.contribution for c in parts]
    ax.barh(np.arange(len(parts)), values, color=[FOR_COLOUR if v > 0 else AGAINST_COLOUR for v in values])
    labels = [_readable(c.feature, c.value, raw, result.method) for c in parts]
    ax.set_yticks(np.arange(len(parts)), labels, fontsize=8)
    ax.axvline(0, color="0.3", lw=0.8)
    if result.method == "shap":
        ax.set_xlabel("contribution to the log-odds (SHAP values; they add up to prediction - base)")
        default = f"SHAP, in log-odds: prediction {result.prediction:.2f}, base {result.base:.2f}"
    else:
        ax.set_xlabel("weight in LIME's local linear model of the probability")
        default = f"LIME, in probability: prediction {result.prediction:.2f}, intercept {result.base:.2f}"
    ax.set_title(title or default, fontsize=10)
    return ax
