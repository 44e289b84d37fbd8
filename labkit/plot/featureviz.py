"""Feature visualization plots: filters, activations, synthesised images, top examples, embeddings.

The lecture's first section. Many small images share one Axes as a mosaic
(:func:`labkit.plot._base._show_tiles`), so a grid of 64 filters is one
picture with one colour scale, not 64 subplots.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.offsetbox import AnnotationBbox, OffsetImage
from numpy.typing import ArrayLike

from labkit.plot._base import _axes, _show_tiles

if TYPE_CHECKING:
    from labkit.units import TopExamples

__all__ = ["filters", "activation_grid", "visualizations", "objective_trace", "top_examples", "embedding"]


def _filter_labels(weights: np.ndarray) -> range | tuple:
    """Index labels on filters big enough to carry them (a label would hide a 3x3 filter)."""
    return range(len(weights)) if weights.shape[1] >= 12 else ()


def _weight_colorbar(ax: Axes, low: str = "-max|w|", high: str = "+max|w|") -> None:
    """Colour bar for display-scaled RGB filters: each colour channel maps -m..m to 0..1."""
    bar = ax.figure.colorbar(ScalarMappable(Normalize(0, 1), "gray"), ax=ax, fraction=0.046, pad=0.03,
                             ticks=(0, 0.5, 1))
    bar.ax.set_yticklabels((low, "0", high))
    bar.set_label("weight, per colour channel")


def filters(weights: ArrayLike, *, ax: Axes | None = None, ncols: int = 8, channel: int | None = None,
            title: str = "First-layer filters") -> Axes:
    """The filters from ``units.filters`` as a grid of small images.

    Parameters
    ----------
    weights : (K, kh, kw, C)
        Display-scaled filters (``units.filters(model)``: 0.5 = zero
        weight) or raw weights (``scale=None``; shown with a colour bar).
    ax : matplotlib.axes.Axes, optional
    ncols : int
        Filters per row.
    channel : int, optional
        For filters with C not 1 or 3 (a middle layer): which input channel to show.
    title : str

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> plot.filters(units.filters(model))  # doctest: +SKIP
    """
    weights = np.asarray(weights, np.float32)
    if weights.ndim != 4:
        raise ValueError(f"weights must have shape (K, kh, kw, C), got {weights.shape}")
    if channel is not None:
        weights = weights[..., channel : channel + 1]
    elif weights.shape[-1] not in (1, 3):
        raise ValueError(
            f"filters with {weights.shape[-1]} input channels cannot be shown as colour images; "
            f"pass channel= to show one input channel"
        )
    ax = _axes(ax, (1.0 * min(ncols, len(weights)), 1.0 * -(-len(weights) // ncols) + 0.6))
    raw = weights.min() < 0 or weights.max() > 1
    if weights.shape[-1] == 3 and not raw:
        _show_tiles(ax, weights, ncols, labels=_filter_labels(weights))
        _weight_colorbar(ax)
        ax.set_title(f"{title}\n(filters 0..{len(weights) - 1} row by row; grey = 0, brighter = positive weight)",
                     fontsize=9)
    else:
        bound = float(np.abs(weights - (0 if raw else 0.5)).max()) or 1.0
        centre = 0.0 if raw else 0.5
        if weights.shape[-1] == 3:  # raw RGB weights: show them scaled, with the scale in the title
            _show_tiles(ax, 0.5 + weights / (2 * bound), ncols, labels=_filter_labels(weights))
            _weight_colorbar(ax, f"{-bound:.3g}", f"{bound:.3g}")
            ax.set_title(f"{title}\n(raw weights, +-{bound:.3g} mapped to 0..1)", fontsize=9)
        else:
            _show_tiles(ax, weights[..., 0], ncols, labels=_filter_labels(weights), cmap="RdBu_r",
                        vmin=centre - bound, vmax=centre + bound, colorbar="weight" if raw else "scaled weight")
            ax.set_title(title, fontsize=9)
    return ax


def activation_grid(maps: ArrayLike, *, ax: Axes | None = None, ncols: int = 8,
                    channels: Sequence[int] | None = None, cmap: str = "viridis",
                    title: str = "Activations, one panel per channel") -> Axes:
    """One panel per channel of a layer's output for one image, on one shared colour scale.

    Parameters
    ----------
    maps : (h, w, K)
        ``layers.activations(model, image, "conv2")`` for one image.
    ax : matplotlib.axes.Axes, optional
    ncols : int
    channels : sequence of int, optional
        Which channels to show (default all).
    cmap : str
    title : str

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> plot.activation_grid(layers.activations(model, image, "conv2"))  # doctest: +SKIP
    """
    maps = np.asarray(maps, np.float32)
    if maps.ndim != 3:
        raise ValueError(f"maps must have shape (h, w, K) for one image, got {maps.shape}; pass maps[0] for a batch")
    channels = list(range(maps.shape[-1])) if channels is None else list(channels)
    tiles = np.moveaxis(maps[..., channels], -1, 0)  # (K, h, w)
    ax = _axes(ax, (1.1 * min(ncols, len(tiles)) + 1, 1.1 * -(-len(tiles) // ncols) + 0.6))
    vmin = min(0.0, float(tiles.min()))
    _show_tiles(ax, tiles, ncols, labels=channels, cmap=cmap, vmin=vmin, vmax=float(tiles.max()) or 1.0,
                colorbar="activation", pad=max(1, maps.shape[0] // 16))
    ax.set_title(title, fontsize=9)
    return ax


def visualizations(images: ArrayLike, *, ax: Axes | None = None, labels: Sequence[str] = (), ncols: int = 8,
                   title: str = "Feature visualization (gradient ascent)") -> Axes:
    """Images synthesised by ``ascent.visualize``, one tile per objective.

    Parameters
    ----------
    images : (B, H, W, C) in [0, 1]
    ax : matplotlib.axes.Axes, optional
    labels : sequence of str
        One per image, e.g. ``[f"conv4:{c}" for c in range(8)]`` or class names.
    ncols : int
    title : str

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> images, trace = ascent.visualize(model, ("logits", range(4)))  # doctest: +SKIP
    >>> plot.visualizations(images, labels=data.class_names)  # doctest: +SKIP
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 4:
        raise ValueError(f"images must have shape (B, H, W, C), got {images.shape}")
    ax = _axes(ax, (1.6 * min(ncols, len(images)), 1.6 * -(-len(images) // ncols) + 0.5))
    grey = images.shape[-1] == 1
    _show_tiles(ax, images, ncols, labels=labels, cmap="gray", vmin=0, vmax=1,
                colorbar="pixel value" if grey else None, pad=max(1, images.shape[1] // 32))
    ax.set_title(title, fontsize=9)
    return ax


def objective_trace(trace: ArrayLike, *, ax: Axes | None = None, labels: Sequence[str] = (),
                    title: str = "Objective during gradient ascent") -> Axes:
    """The objective of every image against the step: did the ascent converge?

    Parameters
    ----------
    trace : (steps, B)
        ``ascent.visualize(...).trace``.
    ax : matplotlib.axes.Axes, optional
    labels : sequence of str
    title : str

    Returns
    -------
    matplotlib.axes.Axes
    """
    trace = np.asarray(trace, np.float32)
    ax = _axes(ax, (6, 3.5))
    labels = list(labels) + [str(i) for i in range(len(labels), trace.shape[1])]
    for column, label in zip(trace.T, labels):
        ax.plot(column, label=label, lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("objective")
    ax.set_title(title, fontsize=9)
    if trace.shape[1] <= 12:
        ax.legend(fontsize=7, ncol=2)
    return ax


def top_examples(top: TopExamples, images: ArrayLike | None = None, *, ax: Axes | None = None, ncols: int = 9,
                 title: str = "Top examples") -> Axes:
    """The receptive-field crops (or whole images) that excite a channel most.

    Parameters
    ----------
    top : labkit.units.TopExamples
    images : (N, H, W, C), optional
        The candidate images; needed when ``top.crops`` is None.
    ax : matplotlib.axes.Axes, optional
    ncols : int
    title : str

    Returns
    -------
    matplotlib.axes.Axes
    """
    tiles = top.crops if top.crops is not None else np.asarray(images)[top.indices]
    ax = _axes(ax, (1.3 * min(ncols, len(tiles)), 1.3 * -(-len(tiles) // ncols) + 0.5))
    labels = [f"{a:.2f}" for a in top.activations]
    _show_tiles(ax, tiles, ncols, labels=labels, cmap="gray", vmin=0, vmax=1)
    what = "receptive-field crops" if top.crops is not None else "images"
    ax.set_title(f"{title} ({what}, labelled with the activation)", fontsize=9)
    return ax


def embedding(coords: ArrayLike, labels: ArrayLike | None = None, *, ax: Axes | None = None,
              class_names: Sequence[str] = (), images: ArrayLike | None = None,
              thumbnails: int = 0, zoom: float = 0.35, seed: int = 0,
              title: str = "t-SNE of penultimate features") -> Axes:
    """A 2-D embedding (``units.embed``) as a scatter coloured by label, with optional thumbnails.

    Parameters
    ----------
    coords : (N, 2)
    labels : (N,) ints, optional
    ax : matplotlib.axes.Axes, optional
    class_names : sequence of str
        Legend names for the labels.
    images : (N, H, W, C), optional
        Needed for thumbnails.
    thumbnails : int
        How many randomly chosen images (seeded) to draw at their points.
    zoom : float
        Thumbnail size relative to the image's pixels.
    seed : int
    title : str

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> xy = units.embed(model, data.images)  # doctest: +SKIP
    >>> plot.embedding(xy, data.labels, class_names=data.class_names, images=data.images, thumbnails=40)  # doctest: +SKIP
    """
    coords = np.asarray(coords, np.float32)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"coords must have shape (N, 2), got {coords.shape}")
    ax = _axes(ax, (6.5, 6))
    if labels is None:
        ax.scatter(coords[:, 0], coords[:, 1], s=8, alpha=0.7)
    else:
        labels = np.asarray(labels)
        cmap = plt.get_cmap("tab10")
        for value in np.unique(labels):
            name = class_names[value] if value < len(class_names) else str(value)
            chosen = labels == value
            ax.scatter(coords[chosen, 0], coords[chosen, 1], s=8, alpha=0.7, color=cmap(int(value) % 10), label=name)
        ax.legend(fontsize=8, markerscale=2, loc="best")
    if thumbnails:
        if images is None:
            raise ValueError("thumbnails need images=")
        pick = np.random.default_rng(seed).choice(len(coords), size=min(thumbnails, len(coords)), replace=False)
        for i in pick:
            image = np.clip(np.asarray(images[i], np.float32), 0, 1)
            image = image[..., 0] if image.shape[-1] == 1 else image
            box = OffsetImage(image, zoom=zoom, cmap="gray")
            ax.add_artist(AnnotationBbox(box, coords[i], frameon=True, pad=0.1))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=10)
    return ax
