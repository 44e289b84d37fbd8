"""Distillation and fairness plots: surrogate models, approval rates, importances, one decision explained.

The lecture's third section: a global surrogate (a tree, a linear model)
read as the model's rule book, and the bank-loan questions asked of it.
Red means "for" the explained class (e.g. approval), blue "against", as in
the signed attribution maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes

from labkit.plot._base import _axes

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
    from sklearn.tree import plot_tree

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


# --- the bank-loan questions ---------------------------------------------------------------


def approval_rates(rates: Sequence[GroupRate], *, ax: Axes | None = None, title: str | None = None,
                   label: str = "approval rate") -> Axes:
    """Approval rate per group (``fairness.group_rates``), raw and at matched merit.

    Returns
    -------
    matplotlib.axes.Axes
    """
    rates = list(rates)
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
    rows = list(rows)[::-1]  # most important at the top
    ax = _axes(ax, (5.0, 0.8 + 0.3 * len(rows)))
    ax.barh(np.arange(len(rows)), [r.mean for r in rows], xerr=[r.std for r in rows], color="0.45", capsize=2)
    ax.set_yticks(np.arange(len(rows)), [r.feature for r in rows], fontsize=8)
    ax.set_xlabel("share of the model's decisions that change when shuffled")
    ax.set_title(title or "permutation importance", fontsize=10)
    return ax


def explanation(result: Explanation, *, ax: Axes | None = None, top: int = 10, title: str | None = None) -> Axes:
    """A local explanation (``fairness.explain_applicant``): each feature's push for or against.

    Red bars push towards the explained class (e.g. approval), blue bars against.

    Returns
    -------
    matplotlib.axes.Axes
    """
    parts = list(result.contributions)[:top][::-1]
    ax = _axes(ax, (5.5, 0.9 + 0.3 * len(parts)))
    values = [c.contribution for c in parts]
    ax.barh(np.arange(len(parts)), values, color=[FOR_COLOUR if v > 0 else AGAINST_COLOUR for v in values])
    labels = [c.feature if result.method == "lime" else f"{c.feature} = {c.value:.2g}" for c in parts]
    ax.set_yticks(np.arange(len(parts)), labels, fontsize=8)
    ax.axvline(0, color="0.3", lw=0.8)
    unit = "log-odds" if result.method == "shap" else "weight in LIME's local linear model"
    ax.set_xlabel(f"contribution ({unit})")
    ax.set_title(title or f"{result.method.upper()}: why this decision (prediction {result.prediction:.2f}, "
                          f"base {result.base:.2f})", fontsize=10)
    return ax
