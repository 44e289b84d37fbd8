"""Plots for concepts (TCAV) and model distillation (surrogates, the bank-loan questions).

Meant to be merged into :mod:`labkit.plot` (section "concepts, TCAV" and a
new section "distillation and fairness"). Like the rest of ``plot``: every
function draws on a matplotlib ``ax`` (made when not given), gives it a
title, returns it, and never calls ``plt.show()``. The functions read the
result objects of :mod:`labkit.tcav` and :mod:`labkit.distill` by their
attributes only.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["tcav_bars", "tree", "coefficients", "approval_rates", "importances", "explanation"]

RANDOM_COLOUR = "0.7"  # the random-CAV baseline bars
FOR_COLOUR, AGAINST_COLOUR = "#b2182b", "#2166ac"  # RdBu ends: for / against the class


def _axes(ax, size: tuple[float, float] = (6.0, 3.6)):
    """``ax`` itself, or a new figure's single axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


# --- concepts: TCAV ------------------------------------------------------------------------


_NEUTRAL = ("#4c72b0", "#55a868", "#8172b2", "#937860", "#64b5cd", "#8c8c8c")


def _concept_style(concept: str, j: int) -> dict:
    """A colour concept in its own colour, the calibration concept "random" hatched, the rest neutral."""
    import matplotlib.colors as mcolors

    if concept == "random":
        return {"color": "white", "hatch": "///"}
    if concept in mcolors.CSS4_COLORS and concept not in ("white", "black"):
        return {"color": concept if concept != "yellow" else "gold"}
    return {"color": _NEUTRAL[j % len(_NEUTRAL)]}


def tcav_bars(result, ax=None, *, class_name: str | None = None, title: str | None = None):
    """TCAV scores per layer and concept, with the random baseline, as in Kim et al. (2018), fig. 4.

    One group of bars per layer: a bar per concept (mean TCAV score over its
    CAVs, error bar = standard deviation) and a grey bar for the random CAVs.
    Each bar is labelled with its mean; "*" marks concepts whose scores differ
    significantly from the random ones after the Bonferroni correction, "n.s."
    the others. Colour concepts ("red", "yellow", ...) are drawn in their
    colour, the calibration concept "random" hatched, the baseline grey.

    Parameters
    ----------
    result : labkit.tcav.TCAVResult
    ax : matplotlib Axes, optional
    class_name : str, optional
        Name of the explained class for the title (default: its index).
    title : str, optional

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> plot.tcav_bars(tcav.tcav(model, ("conv3", "gap"), 1, ("red", "dots"), engines))  # doctest: +SKIP
    """
    rows = list(result.rows)
    layers = list(dict.fromkeys(r.layer for r in rows))
    concepts = list(dict.fromkeys(r.concept for r in rows))
    ax = _axes(ax, (max(4.5, 1.2 + len(layers) * (len(concepts) + 1) * 0.55), 3.6))
    width = 0.8 / (len(concepts) + 1)
    for j, concept in enumerate(concepts):
        picked = [next(r for r in rows if r.layer == layer and r.concept == concept) for layer in layers]
        x = np.arange(len(layers)) + (j - len(concepts) / 2) * width
        ax.bar(x, [r.mean for r in picked], width, yerr=[r.std for r in picked], capsize=2,
               edgecolor="0.25", linewidth=0.6, label=concept, **_concept_style(concept, j))
        for xi, r in zip(x, picked):
            ax.text(xi, min(r.mean + r.std, 1.0) + 0.03, f"{r.mean:.2f}\n" + ("*" if r.significant else "n.s."),
                    ha="center", va="bottom", fontsize=7, linespacing=0.9)
    baseline = [next(r for r in rows if r.layer == layer) for layer in layers]
    x = np.arange(len(layers)) + (len(concepts) / 2) * width
    ax.bar(x, [r.random_mean for r in baseline], width, yerr=[r.random_std for r in baseline], capsize=2,
           color=RANDOM_COLOUR, label="random CAVs (baseline)")
    ax.axhline(0.5, color="0.4", lw=0.8, ls=":")
    ax.set_xticks(np.arange(len(layers)) - width / 2, layers)
    ax.set_ylim(0, 1.25)
    ax.set_ylabel("TCAV score")
    ax.legend(fontsize=8, ncols=min(len(concepts) + 1, 4), loc="upper center", bbox_to_anchor=(0.5, -0.12),
              frameon=False)
    name = class_name if class_name is not None else f"class {result.target}"
    ax.set_title(title or f"TCAV for {name} (* significant, alpha={result.alpha:g}, "
                          f"Bonferroni x{result.n_tests})", fontsize=10)
    return ax


# --- distillation: surrogate models --------------------------------------------------------


def tree(surrogate, ax=None, *, max_depth: int | None = None, fontsize: int = 8, title: str | None = None):
    """A surrogate decision tree, readable: feature and class names, filled by class.

    Parameters
    ----------
    surrogate : labkit.distill.Surrogate
        From ``distill.surrogate_tree``.
    ax : matplotlib Axes, optional
    max_depth : int, optional
        Draw only the top levels of a deeper tree.
    fontsize : int
    title : str, optional
        Default: depth, leaves and held-out fidelity.

    Returns
    -------
    matplotlib Axes

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


def coefficients(surrogate, ax=None, *, top: int = 12, title: str | None = None):
    """The weights of a linear surrogate (``distill.surrogate_linear``), largest magnitude first.

    Returns
    -------
    matplotlib Axes
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


def approval_rates(rates: Sequence, ax=None, *, title: str | None = None, label: str = "approval rate"):
    """Approval rate per group (``distill.group_rates``), raw and at matched merit.

    Returns
    -------
    matplotlib Axes
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


def importances(rows: Sequence, ax=None, *, title: str | None = None):
    """Permutation importances (``distill.permutation_importance``) as bars with std error bars.

    Returns
    -------
    matplotlib Axes
    """
    rows = list(rows)[::-1]  # most important at the top
    ax = _axes(ax, (5.0, 0.8 + 0.3 * len(rows)))
    ax.barh(np.arange(len(rows)), [r.mean for r in rows], xerr=[r.std for r in rows], color="0.45", capsize=2)
    ax.set_yticks(np.arange(len(rows)), [r.feature for r in rows], fontsize=8)
    ax.set_xlabel("share of the model's decisions that change when shuffled")
    ax.set_title(title or "permutation importance", fontsize=10)
    return ax


def explanation(result, ax=None, *, top: int = 10, title: str | None = None):
    """A local explanation (``distill.explain_applicant``): each feature's push for or against.

    Red bars push towards the explained class (e.g. approval), blue bars against.

    Returns
    -------
    matplotlib Axes
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
