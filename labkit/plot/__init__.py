"""Plots for the lab kit: the only labkit package that imports matplotlib.

Methods return raw numbers; colour maps, scaling and overlays happen here.
Nothing here calls ``plt.show()``: Jupyter shows the figure, scripts save it.

One convention for every plot:

- ``ax`` is keyword-only: ``plot.heatmap(image, map, ax=axes[1])``. Without
  it a plot makes its own figure.
- Every plot returns the matplotlib Axes it drew on. The three grids, which
  make their own figure of many panels (:func:`attribution_grid`,
  :func:`toy_world_grid`, :func:`concept_grid`), return the (rows, columns)
  array of Axes; their figure is ``axes[0, 0].figure``.
- :func:`save` and :func:`close` take a Figure, an Axes or an array of Axes.

Modules, by topic (add a new plot to its topic's module):

- ``_base``: colour maps and scales, colour bars, tiles, :func:`close`, :func:`save`, :func:`use_files`
- ``images``: :func:`image`
- ``attribution``: :func:`heatmap`, :func:`attribution_grid`, :func:`curves`
- ``featureviz``: :func:`filters`, :func:`activation_grid`, :func:`visualizations`,
  :func:`objective_trace`, :func:`top_examples`, :func:`embedding`
- ``concepts``: :func:`tcav_bars`
- ``distill``: :func:`tree`, :func:`coefficients`, :func:`approval_rates`, :func:`importances`,
  :func:`explanation`
- ``figures``: :func:`toy_world_grid`, :func:`concept_grid`, and :func:`save_figures`, which
  ``make figures`` runs (``python -m labkit.plot figures/``, see ``__main__``)

Examples
--------
>>> from labkit import plot
>>> ax = plot.heatmap(images[0], grad_cam(model, images[0]), title="Grad-CAM")  # doctest: +SKIP
"""

from labkit.plot._base import SIGNED_CMAP, UNSIGNED_CMAP, close, save, use_files
from labkit.plot.attribution import attribution_grid, curves, heatmap
from labkit.plot.concepts import tcav_bars
from labkit.plot.distill import approval_rates, coefficients, explanation, importances, tree
from labkit.plot.featureviz import activation_grid, embedding, filters, objective_trace, top_examples, visualizations
from labkit.plot.figures import concept_grid, save_figures, toy_world_grid
from labkit.plot.images import image

__all__ = ["SIGNED_CMAP", "UNSIGNED_CMAP", "close", "save", "use_files",
           "image", "heatmap", "attribution_grid", "curves",
           "filters", "activation_grid", "visualizations", "objective_trace", "top_examples", "embedding",
           "tcav_bars", "tree", "coefficients", "approval_rates", "importances", "explanation",
           "toy_world_grid", "concept_grid", "save_figures"]
