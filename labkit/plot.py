"""Plots for the lab kit: the only labkit module that imports matplotlib.

Methods return raw numbers; colour maps, scaling and overlays happen here.
Every function draws on a matplotlib ``ax`` (made when not given) and
returns it, gives the plot a title and, for maps, a colour bar. Nothing
here calls ``plt.show()``: Jupyter shows the figure, scripts save it.

Sections (add new plots to their section, or start a new one):

- figures: :func:`close`
- images: :func:`image`
- feature attribution: :func:`heatmap`, :func:`attribution_grid`, :func:`curves`
- feature visualization, concepts and TCAV: written in ``_plot_featureviz.py``
  and ``_plot_concepts.py`` and re-exported here (end of this file)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import cm, colors

__all__ = ["close", "image", "heatmap", "attribution_grid", "curves"]

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


# --- feature visualization and concept plots -------------------------------------------------
# They live in two private parts of this module (one file per lecture section), so that
# `labkit.plot` stays the one place notebooks and widgets get their pictures from.
from ._plot_featureviz import *  # noqa: E402,F401,F403
from ._plot_featureviz import __all__ as _featureviz_all  # noqa: E402
from ._plot_concepts import *  # noqa: E402,F401,F403
from ._plot_concepts import __all__ as _concepts_all  # noqa: E402

__all__ = __all__ + _featureviz_all + _concepts_all
