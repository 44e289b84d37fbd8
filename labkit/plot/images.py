"""Showing images: one picture, ticks off, display-scaled without changing the data."""

from __future__ import annotations

from matplotlib.axes import Axes
from numpy.typing import ArrayLike

from labkit.plot._base import _axes, _show_image

__all__ = ["image"]


def image(img: ArrayLike, *, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Show one image (H, W, 3) or grayscale (H, W[, 1]) without axis ticks.

    Values outside [0, 1] are min-max scaled for display (the data are not changed).

    Parameters
    ----------
    img : array-like
        (H, W, 3), (H, W, 1) or (H, W).
    ax : matplotlib.axes.Axes, optional
        Where to draw; default a new figure.
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = plot.image(data.images[0], title=data.class_names[data.labels[0]])  # doctest: +SKIP
    """
    return _show_image(img, _axes(ax, (3.0, 3.0)), title, "img: the image")
