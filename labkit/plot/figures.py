"""Pictures of the data: toy-world grids, concept sets, and ``make figures`` which saves them.

``python -m labkit.plot figures/`` (what ``make figures`` runs) writes one PNG
per toy-world scenario and split (images with their ground-truth masks) and
one of the TCAV concept sets, without a screen.
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from labkit.plot._base import save, use_files
from labkit.toyworld import CONCEPTS, SCENARIOS, ImageSet, concept_images, toy_world
from labkit.validate import as_array, check_positive_int

__all__ = ["toy_world_grid", "concept_grid", "save_figures"]


def toy_world_grid(data: ImageSet, *, n: int = 8, title: str | None = None) -> np.ndarray:
    """The first ``n`` images of a toy-world ImageSet with their class names, and their masks below.

    Returns
    -------
    np.ndarray of matplotlib.axes.Axes
        Shape (2, min(n, len(data))): images on top, masks below; the figure is ``axes[0, 0].figure``.

    Examples
    --------
    >>> axes = plot.toy_world_grid(datasets.toy_world("tanks", "train", n=8))  # doctest: +SKIP
    """
    if not isinstance(data, ImageSet):
        raise TypeError(f"data must be a toy-world ImageSet (datasets.toy_world(...)), got {type(data).__name__}")
    n = min(check_positive_int(n, "n"), len(data.images))
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
    return axes


def concept_grid(sets: Mapping[str, np.ndarray], *, title: str = "concept sets for TCAV") -> np.ndarray:
    """One row of images per concept set (``{name: (n, H, W, 3) images}``).

    Returns
    -------
    np.ndarray of matplotlib.axes.Axes
        Shape (number of sets, largest n); the figure is ``axes[0, 0].figure``.

    Examples
    --------
    >>> axes = plot.concept_grid({c: datasets.concept_images(c, 8) for c in ("red", "random")})  # doctest: +SKIP
    """
    if not isinstance(sets, Mapping) or not sets:
        raise TypeError("sets must be a non-empty dict {concept name: images (n, H, W, 3)}")
    sets = {name: as_array(images, f"sets[{name!r}]", ndim=4, shape="(n, H, W, C)") for name, images in sets.items()}
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
    return axes


def save_figures(out_dir: str | PathLike = "figures") -> list[Path]:
    """Draw a grid of every scenario (images and masks) and of the concept sets as PNGs in ``out_dir``.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    if not isinstance(out_dir, (str, PathLike)):
        raise TypeError(f"out_dir must be a folder name (str or pathlib.Path), got {type(out_dir).__name__}")
    use_files()  # no screen needed
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for scenario, spec in SCENARIOS.items():
        for split in spec["splits"]:
            axes = toy_world_grid(toy_world(scenario, split, n=8, seed=0), title=f"toy world: {scenario} / {split}")
            written.append(save(axes, out / f"toy_{scenario}_{split}.png", dpi=80))
    axes = concept_grid({concept: concept_images(concept, 8) for concept in CONCEPTS})
    written.append(save(axes, out / "concepts.png", dpi=70))
    return written
