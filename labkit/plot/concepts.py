"""Concept plots: TCAV scores per layer and concept beside the random baseline."""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.colors as mcolors
import numpy as np
from matplotlib.axes import Axes

from labkit.plot._base import _axes

if TYPE_CHECKING:
    from labkit.tcav import TCAVResult

__all__ = ["tcav_bars"]

RANDOM_COLOUR = "0.7"  # the random-CAV baseline bars

_NEUTRAL = ("#4c72b0", "#55a868", "#8172b2", "#937860", "#64b5cd", "#8c8c8c")


def _concept_style(concept: str, j: int) -> dict:
    """A colour concept in its own colour, the calibration concept "random" hatched, the rest neutral."""
    if concept == "random":
        return {"color": "white", "hatch": "///"}
    if concept in mcolors.CSS4_COLORS and concept not in ("white", "black"):
        return {"color": concept if concept != "yellow" else "gold"}
    return {"color": _NEUTRAL[j % len(_NEUTRAL)]}


def tcav_bars(result: TCAVResult, *, ax: Axes | None = None, class_name: str | None = None,
              title: str | None = None) -> Axes:
    """TCAV scores per layer and concept, with the random baseline, as in Kim et al. (2018), fig. 4.

    One group of bars per layer: a bar per concept (mean TCAV score over its
    CAVs, error bar = standard deviation) and a grey bar for the random CAVs.
    Each bar is labelled above its error bar with its mean; "*" marks concepts
    whose scores differ significantly from the random ones after the
    Bonferroni correction, "n.s." the others, "random" the baseline. Error
    bars stop at 0 and 1 (scores cannot leave them); a score of 0 is marked
    on the axis. Colour concepts ("red", "yellow", ...) are drawn in their
    colour, the calibration concept "random" hatched, the baseline grey.

    Parameters
    ----------
    result : labkit.tcav.TCAVResult
    ax : matplotlib.axes.Axes, optional
    class_name : str, optional
        Name of the explained class for the title (default: its index).
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> plot.tcav_bars(tcav.tcav(model, ("conv3", "gap"), 1, ("red", "dots"), engines))  # doctest: +SKIP
    """
    if not all(hasattr(result, field) for field in ("rows", "target", "alpha", "n_tests")) or not result.rows:
        raise TypeError(f"result must be what tcav.tcav returns (a TCAVResult with rows), got {type(result).__name__}")
    rows = list(result.rows)
    layers = list(dict.fromkeys(r.layer for r in rows))
    concepts = list(dict.fromkeys(r.concept for r in rows))
    ax = _axes(ax, (max(4.5, 1.2 + len(layers) * (len(concepts) + 1) * 0.55), 3.6))
    width = 0.8 / (len(concepts) + 1)
    offsets = (np.arange(len(concepts) + 1) - len(concepts) / 2) * width  # the group's bars centred on the tick
    baseline = [next(r for r in rows if r.layer == layer) for layer in layers]
    bars = [(concept, [next(r for r in rows if r.layer == layer and r.concept == concept) for layer in layers])
            for concept in concepts] + [(None, baseline)]
    for j, (concept, picked) in enumerate(bars):
        x = np.arange(len(layers)) + offsets[j]
        if concept is None:  # the random-vs-random baseline
            means, stds = [r.random_mean for r in picked], [r.random_std for r in picked]
            labels = [f"{m:.2f}\nrandom" for m in means]
            style = dict(color=RANDOM_COLOUR, label="random CAVs (baseline)")
        else:
            means, stds = [r.mean for r in picked], [r.std for r in picked]
            labels = [f"{r.mean:.2f}\n" + ("*" if r.significant else "n.s.") for r in picked]
            style = dict(label=concept, **_concept_style(concept, j))
        means, stds = np.asarray(means, float), np.asarray(stds, float)
        # a score lives in [0, 1]: the error bar (one standard deviation) is cut at both ends
        low, high = np.minimum(stds, means), np.minimum(stds, 1.0 - means)
        ax.bar(x, means, width, yerr=np.stack([low, high]), capsize=2, edgecolor="0.25", linewidth=0.6,
               error_kw=dict(elinewidth=1, ecolor="0.15"), **style)
        for xi, mean, top, label in zip(x, means, means + high, labels):
            if mean < 0.01:  # a bar of height 0 would be invisible: a thin slab on the axis marks it
                ax.bar(xi, 0.02, width * 0.9, bottom=-0.01, edgecolor="0.25", linewidth=0.6, zorder=3,
                       **{k: v for k, v in style.items() if k != "label"})
            ax.text(xi, top + 0.03, label, ha="center", va="bottom", fontsize=8, linespacing=0.95,
                    bbox=dict(boxstyle="square,pad=0.1", facecolor="white", edgecolor="none", alpha=0.8))
    ax.axhline(0.5, color="0.4", lw=0.8, ls=":")
    ax.set_xticks(np.arange(len(layers)), layers)
    ax.set_ylim(-0.03, 1.3)
    ax.set_ylabel("TCAV score")
    ax.legend(fontsize=8, ncols=min(len(concepts) + 1, 4), loc="upper center", bbox_to_anchor=(0.5, -0.12),
              frameon=False)
    name = class_name if class_name is not None else f"class {result.target}"
    ax.set_title(title or f"TCAV for {name} (* significant, alpha={result.alpha:g}, "
                          f"Bonferroni x{result.n_tests})", fontsize=10)
    return ax
