"""Plots for feature visualization (to be merged into ``labkit.plot``).

Self-contained: imports matplotlib, nothing from ``labkit.plot``. Every
function draws into one ``ax`` (created when not given) and returns it;
grids of images are drawn as one mosaic, so a single colour bar covers all
panels. Values are scaled for display here, never in the methods.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.offsetbox import AnnotationBbox, OffsetImage

__all__ = ["filters", "activation_grid", "visualizations", "top_examples", "embedding", "objective_trace"]


def _axes(ax, size=(6, 6)):
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def _mosaic(tiles: np.ndarray, ncols: int, pad: int = 1, fill: float = np.nan) -> np.ndarray:
    """(n, h, w[, c]) tiles -> one (rows*(h+pad)-pad, cols*(w+pad)-pad[, c]) image."""
    n, h, w = tiles.shape[:3]
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    out = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad, *tiles.shape[3:]), fill, np.float32)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, ncols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = tile
    return out


def _label_tiles(ax, labels: Sequence[str], n: int, h: int, w: int, ncols: int, pad: int = 1, **style) -> None:
    ncols = max(1, min(ncols, n))
    for i, text in enumerate(list(labels)[:n]):
        r, c = divmod(i, ncols)
        ax.text(c * (w + pad) + 1, r * (h + pad) + 1, str(text), va="top", ha="left", fontsize=7,
                color="white", bbox=dict(boxstyle="square,pad=0.1", fc="black", alpha=0.5, lw=0), **style)


def _show_tiles(ax, tiles, ncols, *, labels=(), cmap="viridis", vmin=None, vmax=None, colorbar=None, pad=1):
    """Draw image tiles as one mosaic; RGB tiles as they are, scalar tiles with one shared colour map."""
    tiles = np.asarray(tiles, np.float32)
    rgb = tiles.ndim == 4 and tiles.shape[-1] == 3
    if tiles.ndim == 4 and tiles.shape[-1] == 1:
        tiles = tiles[..., 0]
    mosaic = _mosaic(np.clip(tiles, 0, 1) if rgb else tiles, ncols, pad=pad, fill=1.0 if rgb else np.nan)
    if rgb:
        image = ax.imshow(mosaic, interpolation="nearest")
    else:
        cm = plt.get_cmap(cmap).with_extremes(bad="white")
        image = ax.imshow(mosaic, cmap=cm, vmin=vmin, vmax=vmax, interpolation="nearest")
        if colorbar:
            ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.03, label=colorbar)
    _label_tiles(ax, labels, len(tiles), tiles.shape[1], tiles.shape[2], ncols, pad)
    ax.set_xticks([])
    ax.set_yticks([])
    return image


def _filter_labels(weights: np.ndarray) -> range | tuple:
    """Index labels on filters big enough to carry them (a label would hide a 3x3 filter)."""
    return range(len(weights)) if weights.shape[1] >= 12 else ()


def _weight_colorbar(ax, low: str = "-max|w|", high: str = "+max|w|") -> None:
    """Colour bar for display-scaled RGB filters: each colour channel maps -m..m to 0..1."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    bar = ax.figure.colorbar(ScalarMappable(Normalize(0, 1), "gray"), ax=ax, fraction=0.046, pad=0.03,
                             ticks=(0, 0.5, 1))
    bar.ax.set_yticklabels((low, "0", high))
    bar.set_label("weight, per colour channel")


def filters(weights: np.ndarray, *, ax=None, ncols: int = 8, channel: int | None = None,
            title: str = "First-layer filters"):
    """The filters from ``featureviz.filters`` as a grid of small images.

    Parameters
    ----------
    weights : (K, kh, kw, C)
        Display-scaled filters (``featureviz.filters(model)``: 0.5 = zero
        weight) or raw weights (``scale=None``; shown with a colour bar).
    ax : matplotlib Axes, optional
    ncols : int
        Filters per row.
    channel : int, optional
        For filters with C not 1 or 3 (a middle layer): which input channel to show.
    title : str

    Returns
    -------
    Axes

    Examples
    --------
    >>> filters(featureviz.filters(model))  # doctest: +SKIP
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


def activation_grid(maps: np.ndarray, *, ax=None, ncols: int = 8, channels: Sequence[int] | None = None,
                    cmap: str = "viridis", title: str = "Activations, one panel per channel"):
    """One panel per channel of a layer's output for one image, on one shared colour scale.

    Parameters
    ----------
    maps : (h, w, K)
        ``layers.activations(model, image, "conv2")`` for one image.
    ax : matplotlib Axes, optional
    ncols : int
    channels : sequence of int, optional
        Which channels to show (default all).
    cmap : str
    title : str

    Returns
    -------
    Axes

    Examples
    --------
    >>> activation_grid(layers.activations(model, image, "conv2"))  # doctest: +SKIP
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


def visualizations(images: np.ndarray, *, ax=None, labels: Sequence[str] = (), ncols: int = 8,
                   title: str = "Feature visualization (gradient ascent)"):
    """Images synthesised by ``featureviz.visualize``, one tile per objective.

    Parameters
    ----------
    images : (B, H, W, C) in [0, 1]
    ax : matplotlib Axes, optional
    labels : sequence of str
        One per image, e.g. ``[f"conv4:{c}" for c in range(8)]`` or class names.
    ncols : int
    title : str

    Returns
    -------
    Axes

    Examples
    --------
    >>> images, trace = featureviz.visualize(model, ("logits", range(4)))  # doctest: +SKIP
    >>> visualizations(images, labels=data.class_names)  # doctest: +SKIP
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


def objective_trace(trace: np.ndarray, *, ax=None, labels: Sequence[str] = (),
                    title: str = "Objective during gradient ascent"):
    """The objective of every image against the step: did the ascent converge?

    Parameters
    ----------
    trace : (steps, B)
        ``featureviz.visualize(...).trace``.
    ax : matplotlib Axes, optional
    labels : sequence of str
    title : str

    Returns
    -------
    Axes
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


def top_examples(top, images: np.ndarray | None = None, *, ax=None, ncols: int = 9,
                 title: str = "Top examples"):
    """The receptive-field crops (or whole images) that excite a channel most.

    Parameters
    ----------
    top : featureviz.TopExamples
    images : (N, H, W, C), optional
        The candidate images; needed when ``top.crops`` is None.
    ax : matplotlib Axes, optional
    ncols : int
    title : str

    Returns
    -------
    Axes
    """
    tiles = top.crops if top.crops is not None else np.asarray(images)[top.indices]
    ax = _axes(ax, (1.3 * min(ncols, len(tiles)), 1.3 * -(-len(tiles) // ncols) + 0.5))
    labels = [f"{a:.2f}" for a in top.activations]
    _show_tiles(ax, tiles, ncols, labels=labels, cmap="gray", vmin=0, vmax=1)
    what = "receptive-field crops" if top.crops is not None else "images"
    ax.set_title(f"{title} ({what}, labelled with the activation)", fontsize=9)
    return ax


def embedding(coords: np.ndarray, labels: np.ndarray | None = None, *, ax=None,
              class_names: Sequence[str] = (), images: np.ndarray | None = None,
              thumbnails: int = 0, zoom: float = 0.35, seed: int = 0,
              title: str = "t-SNE of penultimate features"):
    """A 2-D embedding (``featureviz.embed``) as a scatter coloured by label, with optional thumbnails.

    Parameters
    ----------
    coords : (N, 2)
    labels : (N,) ints, optional
    ax : matplotlib Axes, optional
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
    Axes

    Examples
    --------
    >>> xy = featureviz.embed(model, data.images)  # doctest: +SKIP
    >>> embedding(xy, data.labels, class_names=data.class_names, images=data.images, thumbnails=40)  # doctest: +SKIP
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
