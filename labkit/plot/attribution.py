"""Feature attribution plots: a map over its image, a table of maps, deletion/insertion curves.

Maps come raw from the methods (``occlusion``, ``gradients``, ``cam``,
``lime_shap``); here they get their colour scale (signed or not, see
:mod:`labkit.plot._base`), their colour bar and their overlay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from numpy.typing import ArrayLike

from labkit.plot._base import (
    SIGNED_CMAP, UNSIGNED_CMAP, _axes, _colorbar, _display_image, _gray, _is_signed, _norm, _show_image,
)
from labkit.validate import as_array, check_flag, check_names, check_number

__all__ = ["heatmap", "attribution_grid", "curves"]


def heatmap(image: ArrayLike | None, map: ArrayLike, *, ax: Axes | None = None, cmap=None, alpha: float = 0.8,
            title: str | None = None, colorbar: bool = True, signed: bool | None = None,
            percentile: float = 99.0) -> Axes:
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
    values = as_array(map, "map", dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"map must be one (h, w) map, got shape {values.shape}; pass maps[i] for image i")
    alpha = check_number(alpha, "alpha", low=0, high=1)
    percentile = check_number(percentile, "percentile", low=0, high=100, low_open=True, what="in (0, 100]")
    colorbar = check_flag(colorbar, "colorbar")
    shown = None if image is None else _gray(image)
    signed = _is_signed(values) if signed is None else check_flag(signed, "signed")
    cmap = plt.get_cmap(cmap or (SIGNED_CMAP if signed else UNSIGNED_CMAP))
    norm = _norm(values, signed, percentile)
    ax = _axes(ax)
    height, width = values.shape
    if shown is not None:
        _show_image(shown, ax, None)
        height, width = shown.shape[:2]
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


def attribution_grid(images: ArrayLike, maps_by_method: Mapping[str, ArrayLike], *,
                     titles: Sequence[str] | None = None, cmap=None, alpha: float = 0.8,
                     colorbar: bool = True, percentile: float = 99.0, size: float = 2.1) -> np.ndarray:
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
    batch = as_array(images, "images", ndim=(3, 4), shape="(N, H, W, C) or (H, W, C)")
    batch = batch[None] if batch.ndim == 3 else batch
    if not isinstance(maps_by_method, Mapping) or not maps_by_method:
        raise TypeError("maps_by_method must be a non-empty dict {method name: maps (N, h, w)}")
    maps = {name: _per_image(name, value, len(batch)) for name, value in maps_by_method.items()}
    if titles is not None:
        titles = check_names(titles, len(batch), name="titles", expected=f"there are {len(batch)} images")
    size = check_number(size, "size", low=0, low_open=True, what="a positive number of inches")
    for image in batch:
        _display_image(image, "images")  # (H, W, 1) or (H, W, 3): checked before any figure is made
    signed = {name: _is_signed(values) for name, values in maps.items()}  # one display per method
    columns = 1 + len(maps)
    figure, axes = plt.subplots(len(batch), columns, figsize=(size * columns * 1.15, size * len(batch)),
                                squeeze=False, layout="constrained")
    for row, img in enumerate(batch):
        _show_image(img, axes[row, 0], None if titles is None else titles[row])
        for column, (name, values) in enumerate(maps.items(), start=1):
            heatmap(img, values[row], ax=axes[row, column], cmap=cmap, alpha=alpha, signed=signed[name],
                    title=name if row == 0 else None, colorbar=colorbar, percentile=percentile)
    if titles is None:
        axes[0, 0].set_title("image", fontsize=9)
    return axes


def _per_image(name: str, value, n: int) -> np.ndarray:
    """Maps for one method as (N, h, w), checked against the number of images."""
    array = as_array(value, f"maps for {name!r} in maps_by_method", dtype=np.float64)
    array = array[None] if array.ndim == 2 else array
    if array.ndim != 3 or len(array) != n:
        raise ValueError(f"maps for {name!r} must have shape ({n}, h, w), got {np.shape(value)} (in maps_by_method)")
    return array


def curves(curves_by_method: Mapping[str, ArrayLike | tuple[ArrayLike, ArrayLike]], *, ax: Axes | None = None,
           x: ArrayLike | None = None, title: str | None = None, xlabel: str = "fraction of pixels removed",
           ylabel: str = "target probability", auc: bool = True) -> Axes:
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
    points = {name: _curve_points(name, curve, x) for name, curve in curves_by_method.items()}
    auc = check_flag(auc, "auc")
    ax = _axes(ax, (4.5, 3.2))
    for name, (xs, ys) in points.items():
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
    ys = as_array(curve, f"curve {name!r} in curves_by_method", dtype=np.float64)
    ys = ys[None] if ys.ndim == 1 else ys
    if ys.ndim != 2 or ys.shape[1] < 2:
        raise ValueError(f"curve {name!r} must have shape (steps,) or (N, steps), got {np.shape(curve)} "
                         f"(in curves_by_method)")
    xs = np.linspace(0.0, 1.0, ys.shape[1]) if x is None else as_array(x, "x", dtype=np.float64)
    if xs.shape != (ys.shape[1],):
        raise ValueError(f"curve {name!r} has {ys.shape[1]} points but x has shape {xs.shape}")
    return xs, ys
