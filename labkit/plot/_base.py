"""What every plot shares: colour maps and scales, the ``ax`` helper, colour bars, tiles, files.

The one place that decides how numbers become colours: signed maps on a
diverging colour map centred at 0, unsigned maps on a sequential one, the top
of the scale at a percentile so a few extreme pixels do not hide the rest.
Also the figure housekeeping (:func:`close`, :func:`save`, :func:`use_files`)
that code outside ``labkit.plot`` calls instead of importing matplotlib.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import cm, colors
from matplotlib.axes import Axes
from matplotlib.colorbar import Colorbar
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from labkit.validate import as_array, check_positive_int

SIGNED_CMAP = "RdBu_r"  # diverging, centred at 0: red = evidence for the class, blue = against
UNSIGNED_CMAP = "inferno"  # sequential, perceptually uniform, dark = 0


# --- axes and figures ------------------------------------------------------------------------


def _axes(ax: Axes | None, size: tuple[float, float] = (3.6, 3.0)) -> Axes:
    """``ax`` itself, or a new figure's single axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    elif not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes (e.g. from fig, ax = plt.subplots()) or None, "
                        f"got {type(ax).__name__}")
    return ax


def _labels(labels, name: str = "labels") -> list[str]:
    """Tile or line labels as strings; one string is refused (it would label letter by letter)."""
    if labels is None:
        return []
    if isinstance(labels, (str, bytes)):
        raise TypeError(f"{name} is one string {labels[:40]!r}; pass a list of labels, one per item")
    try:
        return [str(label) for label in labels]
    except TypeError:
        raise TypeError(f"{name} must be a list of labels, got {type(labels).__name__}") from None


def _figure_of(drawn: Figure | Axes | np.ndarray) -> Figure:
    """The figure of a Figure, of an Axes, or of an array of Axes (what the grid plots return)."""
    if isinstance(drawn, Figure):
        return drawn
    if isinstance(drawn, np.ndarray):
        drawn = drawn.flat[0]
    if isinstance(drawn, Axes):
        return drawn.figure
    raise TypeError(f"figure must be a matplotlib Figure, Axes or array of Axes, got {type(drawn).__name__}")


def close(figure: Figure | Axes | np.ndarray | None = None) -> None:
    """Free a figure's memory once it is saved or shown (None: the current figure).

    ``figure`` may also be an Axes or an array of Axes, as the plots return.
    Code outside ``labkit.plot`` (widgets drawing many frames) calls this
    instead of importing matplotlib.
    """
    if figure is None:
        plt.close()
    else:
        plt.close(_figure_of(figure))


def save(figure: Figure | Axes | np.ndarray, path: str | PathLike, *, dpi: int = 80) -> str | PathLike:
    """Save the figure (or the figure of an Axes / array of Axes) to ``path``, close it, return ``path``."""
    figure = _figure_of(figure)
    dpi = check_positive_int(dpi, "dpi")
    if not isinstance(path, (str, PathLike)):
        raise TypeError(f"path must be a file name (str or pathlib.Path), got {type(path).__name__}")
    from pathlib import Path

    if not Path(path).parent.is_dir():
        raise ValueError(f"path {str(path)!r}: the folder {str(Path(path).parent)!r} does not exist; create it first")
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
    return path


def use_files() -> None:
    """Draw into files only (matplotlib's Agg backend), e.g. in ``make figures`` without a screen."""
    import matplotlib

    matplotlib.use("Agg")


# --- images ------------------------------------------------------------------------------------


def _display_image(img, name: str = "image") -> np.ndarray:
    """An image as (H, W, 3) or (H, W) floats in [0, 1] for imshow.

    Images already in [0, 1] are shown as they are; others (0-255 values,
    mean-centred or [-1, 1] model inputs) are min-max scaled for display only.
    """
    array = as_array(img, name, dtype=np.float64)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]  # grayscale (H, W, 1) -> (H, W)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ValueError(f"{name} must have shape (H, W), (H, W, 1) or (H, W, 3), got {array.shape}")
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > 1:
        array = (array - low) / (high - low) if high > low else np.zeros_like(array)
    return array


def _show_image(img, ax: Axes, title: str | None, name: str = "image") -> Axes:
    """Draw one image on ``ax`` without ticks (display-scaled, see :func:`_display_image`)."""
    shown = _display_image(img, name)
    ax.imshow(shown, cmap="gray" if shown.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=9)
    return ax


def _gray(img, name: str = "image") -> np.ndarray:
    """The image as a light grayscale backdrop (H, W) in [0.25, 1], for overlays."""
    shown = _display_image(img, name)
    luminance = shown[..., :3] @ np.array([0.299, 0.587, 0.114]) if shown.ndim == 3 else shown
    return 0.25 + 0.75 * luminance


# --- colour scales ------------------------------------------------------------------------------


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


def _colorbar(ax: Axes, norm: colors.Normalize, cmap, values: np.ndarray | None = None,
              label: str | None = None) -> Colorbar:
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


# --- tiles: many small images as one mosaic on one Axes ------------------------------------------


def _mosaic(tiles: np.ndarray, ncols: int, pad: int = 1, fill: float = np.nan) -> np.ndarray:
    """(n, h, w[, c]) tiles -> one (rows*(h+pad)-pad, cols*(w+pad)-pad[, c]) image."""
    ncols = check_positive_int(ncols, "ncols")
    n, h, w = tiles.shape[:3]
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    out = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad, *tiles.shape[3:]), fill, np.float32)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, ncols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = tile
    return out


def _label_tiles(ax: Axes, labels: Sequence, n: int, h: int, w: int, ncols: int, pad: int = 1, **style) -> None:
    """Write each tile's label in its top-left corner, white on a dark box."""
    ncols = max(1, min(ncols, n))
    for i, text in enumerate(list(labels)[:n]):
        r, c = divmod(i, ncols)
        ax.text(c * (w + pad) + 1, r * (h + pad) + 1, str(text), va="top", ha="left", fontsize=7,
                color="white", bbox=dict(boxstyle="square,pad=0.1", fc="black", alpha=0.5, lw=0), **style)


def _show_tiles(ax: Axes, tiles, ncols: int, *, labels: Sequence = (), cmap="viridis", vmin=None, vmax=None,
                colorbar: str | None = None, pad: int = 1) -> AxesImage:
    """Draw image tiles as one mosaic; RGB tiles as they are, scalar tiles with one shared colour map."""
    tiles = as_array(tiles, "tiles")
    labels = _labels(labels)
    rgb = tiles.ndim == 4 and tiles.shape[-1] == 3
    if tiles.ndim == 4 and tiles.shape[-1] == 1:
        tiles = tiles[..., 0]
    mosaic = _mosaic(np.clip(tiles, 0, 1) if rgb else tiles, ncols, pad=pad, fill=1.0 if rgb else np.nan)
    if rgb:
        image = ax.imshow(mosaic, interpolation="nearest")
    else:
        colour_map = plt.get_cmap(cmap).with_extremes(bad="white")
        image = ax.imshow(mosaic, cmap=colour_map, vmin=vmin, vmax=vmax, interpolation="nearest")
        if colorbar:
            ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.03, label=colorbar)
    _label_tiles(ax, labels, len(tiles), tiles.shape[1], tiles.shape[2], ncols, pad)
    ax.set_xticks([])
    ax.set_yticks([])
    return image
