"""Plots for the lab kit: the only labkit module that imports matplotlib.

Methods return raw numbers; colour maps, scaling and overlays happen here.
Every function draws on a matplotlib ``ax`` (made when not given) and
returns it, gives the plot a title and, for maps, a colour bar. Nothing
here calls ``plt.show()``: Jupyter shows the figure, scripts save it.

Sections (add new plots to their section, or start a new one):

- figures: :func:`close`, :func:`save`, :func:`use_files`
- the toy world: :func:`toy_world_grid`, :func:`concept_grid`
- images: :func:`image`
- feature attribution: :func:`heatmap`, :func:`attribution_grid`, :func:`curves`
- feature visualization: :func:`filters`, :func:`activation_grid`,
  :func:`visualizations`, :func:`top_examples`, :func:`embedding`, :func:`objective_trace`
- concepts and distillation: :func:`tcav_bars`, :func:`tree`, :func:`coefficients`,
  :func:`approval_rates`, :func:`importances`, :func:`explanation`
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import cm, colors
from matplotlib.offsetbox import AnnotationBbox, OffsetImage

__all__ = ["close", "image", "heatmap", "attribution_grid", "curves",
           "filters", "activation_grid", "visualizations", "top_examples", "embedding", "objective_trace",
           "tcav_bars", "tree", "coefficients", "approval_rates", "importances", "explanation",
           "toy_world_grid", "concept_grid", "save", "use_files"]

SIGNED_CMAP = "RdBu_r"  # diverging, centred at 0: red = evidence for the class, blue = against
UNSIGNED_CMAP = "inferno"  # sequential, perceptually uniform, dark = 0


# --- helpers ---------------------------------------------------------------------------------


def _axes(ax, size: tuple[float, float] = (3.6, 3.0)):
    """``ax`` itself, or a new figure's single axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def _display_image(img) -> np.ndarray:
    """An image as (H, W, 3) or (H, W) floats in [0, 1] for imshow.

    Images already in [0, 1] are shown as they are; others (0-255 values,
    mean-centred or [-1, 1] model inputs) are min-max scaled for display only.
    """
    array = np.asarray(img, dtype=np.float64)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]  # grayscale (H, W, 1) -> (H, W)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ValueError(f"image must have shape (H, W), (H, W, 1) or (H, W, 3), got {array.shape}")
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > 1:
        array = (array - low) / (high - low) if high > low else np.zeros_like(array)
    return array


def _is_signed(values: np.ndarray) -> bool:
    """A map is signed when it has negative values that are not just rounding noise."""
    scale = float(np.max(np.abs(values))) if values.size else 0.0
    return bool(scale > 0 and values.min() < -1e-3 * scale)


def _norm(values: np.ndarray, signed: bool, percentile: float) -> colors.Normalize:
    """Colour scale: symmetric around 0 for signed maps, from min(0, minimum) for unsigned ones.

    The top of the scale is the ``percentile`` of ``|values|`` (signed) or of
    the values (unsigned), so a few extreme pixels, common in gradient maps,
    do not make everything else invisible; larger values show in the top colour.
    """
    high = float(np.percentile(np.abs(values) if signed else values, percentile))
    low = -high if signed else min(float(values.min()), 0.0)
    if not high > low:  # constant or nearly empty map: fall back to the full range
        high = float(np.max(np.abs(values))) if signed else float(values.max())
        low = -high if signed else low
    if not high > low:
        high = low + 1.0
    return colors.Normalize(vmin=low, vmax=high)


def _gray(img) -> np.ndarray:
    """The image as a light grayscale backdrop (H, W) in [0.25, 1], for overlays."""
    shown = _display_image(img)
    luminance = shown[..., :3] @ np.array([0.299, 0.587, 0.114]) if shown.ndim == 3 else shown
    return 0.25 + 0.75 * luminance


def _colorbar(ax, norm: colors.Normalize, cmap, values: np.ndarray | None = None, label: str | None = None):
    """A slim colour bar beside ``ax`` showing the raw map values (arrows: values beyond the scale)."""
    mappable = cm.ScalarMappable(norm=norm, cmap=cmap)
    extend = "neither"
    if values is not None:
        above, below = values.max() > norm.vmax, values.min() < norm.vmin
        extend = {(True, True): "both", (True, False): "max", (False, True): "min"}.get((above, below), "neither")
    bar = ax.figure.colorbar(mappable, ax=ax, fraction=0.046, pad=0.03, extend=extend)
    bar.ax.tick_params(labelsize=7)
    bar.ax.yaxis.get_offset_text().set_fontsize(7)
    if label:
        bar.set_label(label, fontsize=7)
    return bar


# --- figures ---------------------------------------------------------------------------------


def close(figure=None) -> None:
    """Free a figure's memory once it is saved or shown (None: the current figure).

    Code outside this module (widgets drawing many frames) calls this instead of
    importing matplotlib.
    """
    if figure is None:
        plt.close()
    else:
        plt.close(figure)


# --- images ----------------------------------------------------------------------------------


def image(img, ax=None, *, title: str | None = None):
    """Show one image (H, W, 3) or grayscale (H, W[, 1]) without axis ticks.

    Values outside [0, 1] are min-max scaled for display (the data are not changed).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = plot.image(data.images[0], title=data.class_names[data.labels[0]])  # doctest: +SKIP
    """
    return _show_image(img, _axes(ax, (3.0, 3.0)), title)


def _show_image(img, ax, title: str | None):
    shown = _display_image(img)
    ax.imshow(shown, cmap="gray" if shown.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=9)
    return ax


# --- feature attribution -------------------------------------------------------------------------


def heatmap(image, map, ax=None, *, cmap=None, alpha: float = 0.8, title: str | None = None,
            colorbar: bool = True, signed: bool | None = None, percentile: float = 99.0):
    """Overlay an attribution map on its image, with a colour bar of the raw values.

    The image is drawn in light grayscale so the map's colours stand out.
    The map may be smaller than the image (e.g. an 8x8 CAM on a 64x64
    image): it is stretched over the image with bilinear smoothing. Opacity
    grows with ``|map|``, so the image shows through where attribution is
    near 0. Signed maps use a diverging colour map centred at 0 (red
    positive, blue negative); unsigned maps a sequential one.

    Parameters
    ----------
    image : array-like or None
        (H, W, 3) or (H, W[, 1]) image; None draws the map alone.
    map : array-like
        (h, w) attribution map, raw values.
    ax : matplotlib.axes.Axes, optional
        Where to draw; default a new figure.
    cmap : str or Colormap, optional
        Default "RdBu_r" for signed maps, "inferno" for unsigned ones.
    alpha : float
        Opacity of the strongest attribution, in [0, 1].
    title : str, optional
    colorbar : bool
        Draw a colour bar of the map's raw values.
    signed : bool, optional
        Force the signed or unsigned display; None decides from the values
        (signed when some are clearly negative).
    percentile : float
        Top of the colour scale as a percentile of ``|map|``; 100 = the maximum.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = plot.heatmap(images[0], grad_cam(model, images[0]), title="Grad-CAM")  # doctest: +SKIP
    """
    values = np.asarray(map, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"map must be one (h, w) map, got shape {values.shape}; pass maps[i] for image i")
    if not np.isfinite(values).all():
        raise ValueError("map contains NaN or inf values")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    signed = _is_signed(values) if signed is None else bool(signed)
    cmap = plt.get_cmap(cmap or (SIGNED_CMAP if signed else UNSIGNED_CMAP))
    norm = _norm(values, signed, percentile)
    ax = _axes(ax)
    height, width = values.shape
    if image is not None:
        _show_image(_gray(image), ax, None)
        height, width = np.shape(image)[:2]
    extent = (-0.5, width - 0.5, height - 0.5, -0.5)  # stretch the map over the image's pixels
    strength = np.abs(values) / max(abs(norm.vmin), abs(norm.vmax))  # 0..1 (more beyond the scale)
    opacity = alpha * np.clip(strength, 0, 1) if image is not None else 1.0
    smooth = "bilinear" if values.shape[0] < height or values.shape[1] < width else "nearest"
    ax.imshow(values, cmap=cmap, norm=norm, alpha=opacity, extent=extent, interpolation=smooth)
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=9)
    if colorbar:
        _colorbar(ax, norm, cmap, values)
    return ax


def attribution_grid(images, maps_by_method: Mapping[str, np.ndarray], *,
                     titles: Sequence[str] | None = None, cmap=None, alpha: float = 0.8,
                     colorbar: bool = True, percentile: float = 99.0, size: float = 2.1):
    """A table of heatmaps: one row per image, the image then one column per method.

    Parameters
    ----------
    images : array-like
        (N, H, W, C) images, or one (H, W, C) image.
    maps_by_method : dict
        ``{method name: maps (N, h, w)}`` (or (h, w) for one image), e.g.
        ``{"saliency": saliency(model, x), "Grad-CAM": grad_cam(model, x)}``.
    titles : sequence of N str, optional
        Row labels, e.g. the true class and the prediction.
    cmap, alpha, colorbar, percentile
        As in :func:`heatmap`. Each panel keeps its own colour scale; a
        method's maps are all shown signed or all unsigned.
    size : float
        Panel size in inches.

    Returns
    -------
    np.ndarray of matplotlib.axes.Axes
        Shape (N, 1 + number of methods); the figure is ``axes[0, 0].figure``.

    Examples
    --------
    >>> axes = plot.attribution_grid(x[:3], {"occlusion": occ, "Grad-CAM": gc},
    ...                              titles=["circle", "square", "cross"])  # doctest: +SKIP
    """
    batch = np.asarray(images)
    batch = batch[None] if batch.ndim == 3 else batch
    if batch.ndim != 4:
        raise ValueError(f"images must have shape (N, H, W, C) or (H, W, C), got {np.shape(images)}")
    if not isinstance(maps_by_method, Mapping) or not maps_by_method:
        raise TypeError("maps_by_method must be a non-empty dict {method name: maps (N, h, w)}")
    maps = {name: _per_image(name, value, len(batch)) for name, value in maps_by_method.items()}
    if titles is not None and len(titles) != len(batch):
        raise ValueError(f"titles has {len(titles)} entries for {len(batch)} images")
    signed = {name: _is_signed(values) for name, values in maps.items()}  # one display per method
    columns = 1 + len(maps)
    figure, axes = plt.subplots(len(batch), columns, figsize=(size * columns * 1.15, size * len(batch)),
                                squeeze=False, layout="constrained")
    for row, img in enumerate(batch):
        _show_image(img, axes[row, 0], None if titles is None else titles[row])
        for column, (name, values) in enumerate(maps.items(), start=1):
            heatmap(img, values[row], axes[row, column], cmap=cmap, alpha=alpha, signed=signed[name],
                    title=name if row == 0 else None, colorbar=colorbar, percentile=percentile)
    if titles is None:
        axes[0, 0].set_title("image", fontsize=9)
    return axes


def _per_image(name: str, value, n: int) -> np.ndarray:
    """Maps for one method as (N, h, w), checked against the number of images."""
    array = np.asarray(value, dtype=np.float64)
    array = array[None] if array.ndim == 2 else array
    if array.ndim != 3 or len(array) != n:
        raise ValueError(f"maps for {name!r} must have shape ({n}, h, w), got {np.shape(value)}")
    return array


def curves(curves_by_method: Mapping[str, object], ax=None, *, x=None, title: str | None = None,
           xlabel: str = "fraction of pixels removed", ylabel: str = "target probability",
           auc: bool = True):
    """Deletion or insertion curves, one line per method, with the area under each.

    Parameters
    ----------
    curves_by_method : dict
        ``{method name: curve}`` where a curve is (steps,) values, (N, steps)
        values for N images (the mean is drawn, with the 25-75% band of the
        images), or an ``(x, y)`` tuple with its own x positions.
    ax : matplotlib.axes.Axes, optional
    x : array-like, optional
        Common x positions (steps,); default evenly spaced from 0 to 1.
    title, xlabel, ylabel : str
        Labels; for insertion curves use e.g. ``xlabel="fraction of pixels inserted"``.
    auc : bool
        Add the area under the (mean) curve, trapezoid rule over x, to each legend entry.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = plot.curves({"Grad-CAM": gc_curve, "random": random_curve},
    ...                  title="deletion (lower is better)")  # doctest: +SKIP
    """
    if not isinstance(curves_by_method, Mapping) or not curves_by_method:
        raise TypeError("curves_by_method must be a non-empty dict {method name: curve}")
    ax = _axes(ax, (4.5, 3.2))
    for name, curve in curves_by_method.items():
        xs, ys = _curve_points(name, curve, x)
        mean = ys.mean(axis=0)
        label = f"{name} (AUC {np.trapezoid(mean, xs):.3f})" if auc else name
        (line,) = ax.plot(xs, mean, label=label, linewidth=1.6)
        if len(ys) > 1:
            low, high = np.percentile(ys, [25, 75], axis=0)
            ax.fill_between(xs, low, high, color=line.get_color(), alpha=0.15, linewidth=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title if title is not None else "deletion / insertion curves", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def _curve_points(name: str, curve, x) -> tuple[np.ndarray, np.ndarray]:
    """(x (steps,), y (N, steps)) from a curve given as values or as an (x, y) tuple."""
    if isinstance(curve, tuple) and len(curve) == 2:
        x, curve = curve
    ys = np.asarray(curve, dtype=np.float64)
    ys = ys[None] if ys.ndim == 1 else ys
    if ys.ndim != 2 or ys.shape[1] < 2:
        raise ValueError(f"curve {name!r} must have shape (steps,) or (N, steps), got {np.shape(curve)}")
    xs = np.linspace(0.0, 1.0, ys.shape[1]) if x is None else np.asarray(x, dtype=np.float64)
    if xs.shape != (ys.shape[1],):
        raise ValueError(f"curve {name!r} has {ys.shape[1]} points but x has shape {xs.shape}")
    return xs, ys



# --- the toy world: pictures of data sets (make figures) --------------------------------------


def use_files() -> None:
    """Draw into files only (matplotlib's Agg backend), e.g. in ``make figures`` without a screen."""
    import matplotlib

    matplotlib.use("Agg")


def save(figure, path, *, dpi: int = 80):
    """Save ``figure`` to ``path``, close it, and return the path."""
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
    return path


def toy_world_grid(data, *, n: int = 8, title: str | None = None):
    """The first ``n`` images of a toy-world ImageSet with their class names, and their masks below."""
    n = min(n, len(data.images))
    figure, axes = plt.subplots(2, n, figsize=(2 * n, 4.4), squeeze=False)
    for i in range(n):
        axes[0, i].imshow(data.images[i])
        axes[0, i].set_title(data.class_names[data.labels[i]], fontsize=9)
        axes[1, i].imshow(data.masks[i], cmap="gray", vmin=0, vmax=1)
        axes[1, i].set_title("ground-truth mask", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    figure.suptitle(title or data.name)
    figure.tight_layout()
    return figure


def concept_grid(sets: Mapping[str, np.ndarray], *, title: str = "concept sets for TCAV"):
    """One row of images per concept set ({name: (n, H, W, 3) images})."""
    n = max(len(images) for images in sets.values())
    figure, axes = plt.subplots(len(sets), n, figsize=(1.5 * n, 1.6 * len(sets)), squeeze=False)
    for row, (name, images) in enumerate(sets.items()):
        for i in range(n):
            if i < len(images):
                axes[row, i].imshow(images[i])
            axes[row, i].axis("off")
        axes[row, 0].set_title(name, fontsize=10, loc="left")
    figure.suptitle(title)
    figure.tight_layout()
    return figure

# === feature visualization (the lecture's first section) =====================================


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


# === concepts (TCAV) and distillation (the lecture's third section) ==========================


RANDOM_COLOUR = "0.7"  # the random-CAV baseline bars
FOR_COLOUR, AGAINST_COLOUR = "#b2182b", "#2166ac"  # RdBu ends: for / against the class


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
