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

from labkit.plot._base import _axes, _labels, _show_tiles
from labkit.validate import as_array, as_labels, check_int, check_names, check_number, check_positive_int, check_seed

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
    bar.ax.set_yticklabels((f"{low} \u2192 0", "weight 0 \u2192 0.5 (grey)", f"{high} \u2192 1"), fontsize=8)
    bar.set_label("weight \u2192 shown value, per colour channel", fontsize=8)


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
    weights = as_array(weights, "weights", ndim=4, shape="(K, kh, kw, C)")
    ncols = check_positive_int(ncols, "ncols")
    if channel is not None:
        channel = check_int(channel, "channel", low=0, high=weights.shape[-1] - 1,
                            what=f"an input channel index 0..{weights.shape[-1] - 1}")
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
    maps = as_array(maps, "maps")
    if maps.ndim != 3:
        raise ValueError(f"maps must have shape (h, w, K) for one image, got {maps.shape}; pass maps[0] for a batch")
    ncols = check_positive_int(ncols, "ncols")
    if channels is None:
        channels = list(range(maps.shape[-1]))
    else:
        if isinstance(channels, (str, bytes)) or not hasattr(channels, "__iter__"):
            raise TypeError(f"channels must be a list of channel indices, got {channels!r}")
        channels = [check_int(c, "channels", low=0, high=maps.shape[-1] - 1,
                              what=f"channel indices 0..{maps.shape[-1] - 1}") for c in channels]
    if not channels:
        raise ValueError("channels is empty; pass at least one channel index (or None for all)")
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
    images = as_array(images, "images", ndim=4, shape="(B, H, W, C)")
    ncols, labels = check_positive_int(ncols, "ncols"), _labels(labels)
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
    trace = as_array(trace, "trace", ndim=2, shape="(steps, B)")
    labels = _labels(labels)
    ax = _axes(ax, (6, 3.5))
    labels = labels + [str(i) for i in range(len(labels), trace.shape[1])]
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
    if not all(hasattr(top, field) for field in ("indices", "activations", "crops")):
        raise TypeError(f"top must be what units.top_examples returns (a TopExamples), got {type(top).__name__}")
    ncols = check_positive_int(ncols, "ncols")
    if top.crops is None and images is None:
        raise ValueError("top has no receptive-field crops (not a plain conv chain): pass the candidate images too, "
                         "plot.top_examples(top, images)")
    tiles = top.crops if top.crops is not None else as_array(images, "images", ndim=4)[top.indices]
    ax = _axes(ax, (1.3 * min(ncols, len(tiles)), 1.3 * -(-len(tiles) // ncols) + 0.5))
    labels = [f"{a:.2f}" for a in top.activations]
    _show_tiles(ax, tiles, ncols, labels=labels, cmap="gray", vmin=0, vmax=1)
    what = "receptive-field crops" if top.crops is not None else "images"
    ax.set_title(f"{title} ({what}, labelled with the activation)", fontsize=9)
    return ax


def _groups(labels, n: int, class_names: tuple) -> list[tuple[str, np.ndarray]]:
    """(legend name, mask) per label value: class indices (named by ``class_names``) or names themselves."""
    array = np.asarray(labels)
    if array.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), one per point, got shape {array.shape}")
    if array.dtype.kind in "USO":  # names, e.g. ["circle", "square", ...]
        names = array.astype(str)
        return [(value, names == value) for value in np.unique(names)]
    indices = as_labels(array, n)
    return [(class_names[value] if value < len(class_names) else str(value), indices == value)
            for value in np.unique(indices)]


def _spread_out(coords: np.ndarray, groups, n: int, seed: int, gap: float = 0.08) -> list[int]:
    """Up to ``n`` point indices for thumbnails: classes in turn, random within a class (seeded), each at
    least ``gap`` (a share of the plot's larger side) from the ones already chosen."""
    rng = np.random.default_rng(seed)
    masks = [np.ones(len(coords), bool)] if groups is None else [chosen for _, chosen in groups]
    queues = [list(rng.permutation(np.flatnonzero(chosen))) for chosen in masks]
    spacing = gap * float(np.ptp(coords, axis=0).max() or 1.0)
    picked: list[int] = []
    while len(picked) < n and any(queues):
        for queue in queues:                                      # one candidate per class per round
            while queue and len(picked) < n:
                i = int(queue.pop())
                if not picked or np.hypot(*(coords[picked] - coords[i]).T).min() >= spacing:
                    picked.append(i)
                    break
    return picked


def _group_of(groups, i: int) -> np.ndarray | slice:
    """The mask of the points with point ``i``'s label (all points when there are no labels)."""
    for _, chosen in groups or ():
        if chosen[i]:
            return chosen
    return slice(None)


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
        At most this many images, each drawn just outside its cluster and joined to
        its point by a line: chosen at random (seeded), taking the classes in turn so
        every cluster gets some, and kept apart so they do not pile up; the points
        are drawn over them, so no cluster hides.
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
    >>> plot.embedding(xy, data.labels, class_names=data.class_names,
    ...                images=data.images, thumbnails=40)  # doctest: +SKIP
    """
    coords = as_array(coords, "coords", ndim=2, shape="(N, 2)")
    if coords.shape[1] != 2:
        raise ValueError(f"coords must have shape (N, 2), got {coords.shape}")
    class_names = check_names(class_names, len(class_names) if not isinstance(class_names, (str, bytes)) else 0,
                              name="class_names")
    groups = None if labels is None else _groups(labels, len(coords), class_names)
    thumbnails = check_int(thumbnails, "thumbnails", low=0)
    zoom, seed = check_number(zoom, "zoom", low=0, low_open=True), check_seed(seed)
    if thumbnails:
        if images is None:
            raise ValueError("thumbnails need images=: pass the images the coordinates belong to")
        images = as_array(images, "images", ndim=(3, 4), shape="(N, H, W) or (N, H, W, C)")
        if len(images) != len(coords):
            raise ValueError(f"images has {len(images)} images but coords has {len(coords)} points")
    ax = _axes(ax, (6.5, 6))
    if groups is None:
        ax.scatter(coords[:, 0], coords[:, 1], s=8, alpha=0.7)
    else:
        cmap = plt.get_cmap("tab10")
        for k, (name, chosen) in enumerate(groups):
            ax.scatter(coords[chosen, 0], coords[chosen, 1], s=8, alpha=0.7, color=cmap(k % 10), label=name,
                       zorder=3)                               # over the thumbnails: every cluster stays visible
        ax.legend(fontsize=8, markerscale=2, loc="best")
    if thumbnails:
        side = zoom * float(max(images.shape[1:3]))                   # a thumbnail's size, in points
        for i in _spread_out(coords, groups, thumbnails, seed):
            image = np.clip(images[i], 0, 1)
            image = image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image
            box = OffsetImage(image, zoom=zoom, cmap="gray")
            away = coords[i] - coords[_group_of(groups, i)].mean(axis=0)   # out of its cluster, beside it
            away = away / np.hypot(*away) if np.hypot(*away) > 0 else np.array([1.0, 0.0])
            ax.add_artist(AnnotationBbox(box, coords[i], xybox=tuple(0.9 * side * away), boxcoords="offset points",
                                         frameon=True, pad=0.1, zorder=2,
                                         arrowprops=dict(arrowstyle="-", color="grey", lw=0.6)))
        ax.margins(0.1)            # room for the thumbnails beside the outermost points, off the title
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=10)
    return ax
