"""Is an explanation right? Scores for attribution maps.

Four questions, each with the paper that asked it:

- Does the map point at the object? :func:`pointing_game` (Zhang et al.
  2016, "Top-down neural attention by excitation backprop") and
  :func:`mask_energy` (the share of positive attribution on the object),
  checked against the toy world's ground-truth masks; :func:`random_baseline`
  says what a map that knows nothing would score.
- Do the pixels the map ranks first matter to the model?
  :func:`deletion_curve` / :func:`insertion_curve` and their :func:`auc`
  (Petsiuk et al. 2018, "RISE"): delete (insert) the most important pixels
  first and watch the class probability fall (rise).
- Does the map depend on the model at all? :func:`randomization_check`
  (Adebayo et al. 2018, "Sanity checks for saliency maps"): re-initialise the
  layers from the top down and measure how much the maps change.

Maps are (N, h, w) raw attribution maps as every labkit method returns them,
masks (N, H, W) booleans. Maps smaller than the masks (e.g. Grad-CAM without
``upsample=True``: 8x8 for 64x64 images) are resized bilinearly to the mask
size first (``tf.image.resize``, half-pixel centres: each map cell covers its
block of pixels).
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf
from scipy import ndimage, stats

from labkit import validate
from labkit.forward import cached
from labkit.layers import LayerRef, iter_layers, resolve_layer
from labkit.targets import explained_classes, logits_model

__all__ = [
    "pointing_game",
    "mask_energy",
    "random_baseline",
    "deletion_curve",
    "insertion_curve",
    "auc",
    "randomization_check",
    "RandomizationResult",
]


# --- checking and resizing maps ---------------------------------------------------


def _resize(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize (N, h, w) -> (N, H, W); a no-op when the size already matches."""
    if maps.shape[1:] == tuple(size):
        return maps
    resized = tf.image.resize(maps[..., None], size, method="bilinear")  # (N, H, W, 1)
    return resized.numpy()[..., 0]


def _maps_and_masks(maps, masks) -> tuple[np.ndarray, np.ndarray, bool]:
    maps, single = validate.as_maps(maps)
    masks = validate.as_masks(masks, len(maps))
    if maps.shape[1] > masks.shape[1] or maps.shape[2] > masks.shape[2]:
        raise ValueError(f"maps ({maps.shape[1]}x{maps.shape[2]}) are larger than the masks "
                         f"({masks.shape[1]}x{masks.shape[2]}): pass the images' ground-truth masks (N, H, W)")
    return _resize(maps, masks.shape[1:]), masks, single


def _dilate(masks: np.ndarray, tolerance: int) -> np.ndarray:
    """Grow every mask by ``tolerance`` pixels (a disc), as the pointing game allows.

    A pixel is in the grown mask when its Euclidean distance to the mask is
    at most ``tolerance`` (the same as a binary dilation with a disc of that
    radius), at a cost that does not depend on the tolerance.
    """
    if tolerance == 0:
        return masks
    grown = np.zeros_like(masks)
    for i, mask in enumerate(masks):  # one image at a time: distances stay inside an image
        if mask.any():
            grown[i] = ndimage.distance_transform_edt(~mask) <= tolerance
    return grown


def _check_tolerance(tolerance) -> int:
    return validate.check_int(tolerance, "tolerance", low=0, high=None, what="a whole number of pixels >= 0")


def _per_image(values: np.ndarray, single: bool):
    return values[0] if single else values


# --- localisation against ground truth --------------------------------------------


def _hits(maps: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Share of each map's maximum points inside its target region, (N,)."""
    peaks = maps == maps.max(axis=(1, 2), keepdims=True)  # (N, H, W): ties all count
    return (peaks & targets).sum(axis=(1, 2)) / peaks.sum(axis=(1, 2))


def pointing_game(maps, masks, *, tolerance: int = 0) -> np.ndarray:
    """Does the map's maximum fall on the object? One score per image.

    Zhang et al. 2016, "Top-down neural attention by excitation backprop":
    a hit when the most attributed pixel lies on the object, or within
    ``tolerance`` pixels of it (the paper uses 15 px on ~224 px images).
    The hit rate of a method is the mean over images.

    Parameters
    ----------
    maps : array-like
        (N, h, w) attribution maps or one (h, w) map. Smaller maps are
        resized bilinearly to the mask size first.
    masks : array-like
        (N, H, W) boolean ground-truth object masks (one (H, W) mask is used
        for every map).
    tolerance : int
        Pixels the mask is grown by before checking (0 = must be on the object).

    Returns
    -------
    np.ndarray
        (N,) float: 1.0 hit, 0.0 miss. When several pixels tie for the
        maximum (e.g. a constant map), the share of them that hit, which is
        the expected score when the tie is broken at random. NaN for an
        empty mask (nothing to point at). A float for one map.

    Examples
    --------
    >>> hits = pointing_game(grad_cam(model, data.images), data.masks)  # doctest: +SKIP
    >>> f"hit rate {np.nanmean(hits):.0%}"  # doctest: +SKIP
    'hit rate 97%'
    """
    tolerance = _check_tolerance(tolerance)
    maps, masks, single = _maps_and_masks(maps, masks)
    hits = _hits(maps, _dilate(masks, tolerance))
    hits[~masks.any(axis=(1, 2))] = np.nan  # (N,)
    return _per_image(hits, single)


def _energy_inside(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """sum(relu(map) * mask) / sum(relu(map)) per image; NaN when nothing is positive."""
    positive = np.maximum(maps, 0.0).astype(np.float64)  # (N, H, W)
    total = positive.sum(axis=(1, 2))
    inside = (positive * masks).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / total, np.nan)


def mask_energy(maps, masks) -> np.ndarray:
    """Share of the positive attribution that lies inside the mask, per image.

    The "energy-based pointing game" (Wang et al. 2020, Score-CAM):
    ``sum(relu(map) * mask) / sum(relu(map))``. 1 means all attribution is on
    the object; a map that knows nothing gets about the mask's area share
    (see :func:`random_baseline`). With masks that split the image into
    regions (object, sky, ground) the shares add up to 1.

    Parameters
    ----------
    maps : array-like
        (N, h, w) attribution maps or one (h, w) map; only positive values
        count (for signed maps such as Integrated Gradients: the evidence
        *for* the class). Smaller maps are resized bilinearly to the mask size.
    masks : array-like
        (N, H, W) boolean masks, or one (H, W) mask for every map.

    Returns
    -------
    np.ndarray
        (N,) float in [0, 1]; NaN where a map has no positive value at all.
        A float for one map.

    Examples
    --------
    >>> energy = mask_energy(occlusion(model, data.images), data.masks)  # doctest: +SKIP
    >>> float(np.nanmean(energy))  # doctest: +SKIP
    0.71
    """
    maps, masks, single = _maps_and_masks(maps, masks)
    return _per_image(_energy_inside(maps, masks), single)


def random_baseline(
    masks, *, n_maps: int = 64, smooth: float = 0.0, tolerance: int = 0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Pointing game and mask energy of maps that know nothing about the image.

    Scores ``n_maps`` random maps per mask and averages them. ``smooth=0``:
    independent uniform noise per pixel (the expected pointing game is then
    the mask's area share, the expected mask energy close to it).
    ``smooth > 0``: the noise is blurred with a Gaussian of that sigma in
    pixels first, giving blob-like maps that look like real explanations.

    Parameters
    ----------
    masks : array-like
        (N, H, W) boolean ground-truth masks.
    n_maps : int
        Random maps per mask.
    smooth : float
        Gaussian blur sigma in pixels (0 = none).
    tolerance : int
        As in :func:`pointing_game`.
    seed : int
        Seed of the random maps.

    Returns
    -------
    pointing : np.ndarray
        (N,) expected pointing-game score of a random map per image.
    energy : np.ndarray
        (N,) expected mask energy of a random map per image.

    Examples
    --------
    >>> pointing, energy = random_baseline(data.masks)  # doctest: +SKIP
    >>> f"{np.nanmean(pointing):.0%} by chance"  # doctest: +SKIP
    '13% by chance'
    """
    n_maps = validate.check_positive_int(n_maps, "n_maps")
    smooth = validate.check_number(smooth, "smooth", low=0, what="a blur sigma in pixels >= 0")
    tolerance = _check_tolerance(tolerance)
    rng = np.random.default_rng(validate.check_seed(seed))
    if masks is None or isinstance(masks, (str, bytes, dict)):
        raise TypeError(f"masks must be boolean masks (N, H, W), got {type(masks).__name__}")
    shape = np.shape(masks)
    masks = validate.as_masks(masks, 1 if len(shape) == 2 else (shape[0] if shape else 0))
    pointing, energy = [], []
    for _ in range(n_maps):  # one batch of random maps per round, not per image
        maps = rng.random(masks.shape, dtype=np.float32)  # (N, H, W)
        if smooth > 0:
            maps = ndimage.gaussian_filter(maps, sigma=(0, smooth, smooth))
        pointing.append(pointing_game(maps, masks, tolerance=tolerance))
        energy.append(mask_energy(maps, masks))
    return np.mean(pointing, axis=0), np.mean(energy, axis=0)


# --- deletion and insertion -------------------------------------------------------


def _curve_function(net: keras.Model, insertion: bool, probability: bool):
    """tf.function(images, ranks, counts, canvas, targets, batch_size): scores with pixels deleted/inserted.

    ``net`` is the logits model; images, canvas (n, H, W, C); ranks (n, H, W):
    0 = most important pixel; counts (S,); returns (n, S), the score with the
    first ``counts[s]`` pixels deleted/inserted. The n*S perturbed images are
    built on the device, ``batch_size`` at a time, one chunk after the other
    (flat index k: image k // S, step k % S), so ``batch_size`` bounds the memory.
    """

    def run(images, ranks, counts, canvas, targets, batch_size):
        n_steps = tf.shape(counts)[0]
        total = tf.shape(images)[0] * n_steps
        scores = tf.TensorArray(tf.float32, size=0, dynamic_size=True, infer_shape=False)
        for start in tf.range(0, total, batch_size):  # in-graph loop over chunks
            tf.autograph.experimental.set_loop_options(parallel_iterations=1)  # one chunk at a time
            k = tf.range(start, tf.minimum(start + batch_size, total))
            i, s = k // n_steps, k % n_steps
            changed = (tf.gather(ranks, i) < tf.gather(counts, s)[:, None, None])[..., None]  # (B, H, W, 1)
            image, fill = tf.gather(images, i), tf.gather(canvas, i)  # (B, H, W, C)
            x = tf.where(changed, image, fill) if insertion else tf.where(changed, fill, image)
            logits = tf.nest.flatten(net(x, training=False))[-1]  # (B, K)
            if probability:
                logits = tf.nn.softmax(logits, axis=-1)
            scores = scores.write(start // batch_size, tf.gather(logits, tf.gather(targets, i), axis=1, batch_dims=1))
        return tf.reshape(scores.concat(), (-1, n_steps))  # (n, S)

    height, width, channels = net.inputs[0].shape[1:]
    image = tf.TensorSpec((None, height, width, channels), tf.float32)
    signature = [image, tf.TensorSpec((None, height, width), tf.int32), tf.TensorSpec((None,), tf.int32), image,
                 tf.TensorSpec((None,), tf.int32), tf.TensorSpec((), tf.int32)]
    return tf.function(run, input_signature=signature)


def _pixel_ranks(maps: np.ndarray) -> np.ndarray:
    """Rank of every pixel, 0 = highest attribution; ties in raster order. (N, H, W) int32."""
    n, h, w = maps.shape
    order = np.argsort(-maps.reshape(n, -1), axis=1, kind="stable")  # (N, HW)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(h * w)[None], axis=1)
    return ranks.reshape(n, h, w).astype(np.int32)


def _canvas(fill, batch: np.ndarray) -> np.ndarray:
    """What deleted pixels become (or insertion starts from): a number or arrays broadcastable to the batch."""
    if isinstance(fill, numbers.Real) and not isinstance(fill, bool):
        return np.full_like(batch, validate.check_number(fill, "fill"))
    values = validate.as_array(fill, "fill")
    try:
        return np.ascontiguousarray(np.broadcast_to(values, batch.shape))
    except ValueError:
        raise ValueError(f"fill must be a number or an array broadcastable to the images {batch.shape} "
                         f"(e.g. one blurred copy per image), got shape {values.shape}") from None


def _curve(model, images, maps, target, steps, fill, batch_size, score, insertion):
    """Shared body of deletion_curve and insertion_curve."""
    model = validate.check_model(model)
    steps = validate.check_positive_int(steps, "steps")
    validate.check_choice(score, "score", ("probability", "logit"))
    batch, single = validate.as_images(images, model=model)
    n, h, w, c = batch.shape
    maps, _ = validate.as_maps(maps, n=n)
    total = validate.check_int(n * (steps + 1), "(steps + 1) x the number of images",
                               what="at most 2**31 - 1: use fewer steps or images")
    batch_size = validate.check_batch_size(batch_size, total)
    ranks = _pixel_ranks(_resize(maps, (h, w)))  # (N, H, W)
    canvas = _canvas(fill, batch)  # (N, H, W, C)
    net = logits_model(model)
    targets = explained_classes(model, batch, target, batch_size=batch_size)  # class of the intact image
    counts = np.round(np.linspace(0, h * w, steps + 1)).astype(np.int32)  # (S,)
    probability = score == "probability"
    function = cached(net, ("curve", insertion, probability),
                      lambda net: _curve_function(net, insertion, probability))
    scores = function(batch, ranks, counts, canvas, targets, batch_size).numpy()  # (N, S)
    return counts / (h * w), scores[0] if single else scores


def deletion_curve(
    model: keras.Model,
    images,
    maps,
    target=None,
    *,
    steps: int = 32,
    fill=0.0,
    score: str = "probability",
    batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Class score as the most important pixels are deleted first.

    Petsiuk et al. 2018, "RISE": sort the pixels by attribution, replace the
    top ``k`` with ``fill`` for ``k = 0 .. H*W`` in ``steps`` equal steps and
    record the target's probability. A good map makes it fall fast (low
    :func:`auc`). All perturbed images are made on the device and run as
    large batches.

    Parameters
    ----------
    model : keras.Model
        Classifier ending in logits (a softmax output is explained on its logits).
    images : array-like
        (N, H, W, C) float32 images or one (H, W, C) image.
    maps : array-like
        (N, h, w) attribution maps, one per image (resized bilinearly to
        (H, W) if smaller). Pixels are taken in decreasing order of the map;
        ties in raster order.
    target : int, (N,) ints or None
        Class to score; None = the class predicted for the intact image.
    steps : int
        Number of deletion steps; the curve has ``steps + 1`` points.
    fill : float or array-like
        What a deleted pixel becomes: a value, or images broadcastable to
        (N, H, W, C) (e.g. a blurred copy).
    score : {"probability", "logit"}
        Softmax probability of the target (as in the paper) or its logit.
    batch_size : int
        Perturbed images per forward pass (it bounds the memory).

    Returns
    -------
    fractions : np.ndarray
        (steps + 1,) share of pixels deleted, 0 to 1.
    scores : np.ndarray
        (N, steps + 1) target score after each step ((steps + 1,) for one image).

    Examples
    --------
    >>> fractions, scores = deletion_curve(model, data.images, saliency(model, data.images))  # doctest: +SKIP
    >>> auc(fractions, scores).mean()  # lower is better  # doctest: +SKIP
    0.12
    """
    return _curve(model, images, maps, target, steps, fill, batch_size, score, insertion=False)


def insertion_curve(
    model: keras.Model,
    images,
    maps,
    target=None,
    *,
    steps: int = 32,
    fill=0.0,
    score: str = "probability",
    batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Class score as the most important pixels are inserted first into a blank canvas.

    Petsiuk et al. 2018, "RISE": start from ``fill`` (the paper uses a
    blurred copy of the image; pass it as ``fill``) and put the original
    pixels back in decreasing order of attribution. A good map makes the
    probability rise fast (high :func:`auc`). Same parameters and returns as
    :func:`deletion_curve`, with ``fractions`` the share of pixels inserted.

    Examples
    --------
    >>> blurred = scipy.ndimage.gaussian_filter(images, (0, 5, 5, 0))  # doctest: +SKIP
    >>> fractions, scores = insertion_curve(model, images, maps, fill=blurred)  # doctest: +SKIP
    """
    return _curve(model, images, maps, target, steps, fill, batch_size, score, insertion=True)


def auc(fractions, scores) -> np.ndarray:
    """Area under a deletion or insertion curve (trapezoidal rule), per image.

    Parameters
    ----------
    fractions : array-like
        (S,) x values from :func:`deletion_curve` / :func:`insertion_curve`.
    scores : array-like
        (N, S) or (S,) curve values.

    Returns
    -------
    np.ndarray
        (N,) areas, or a float for one curve. With fractions from 0 to 1 and
        probabilities as scores, the area lies in [0, 1].

    Examples
    --------
    >>> auc([0.0, 0.5, 1.0], [1.0, 0.5, 0.0])
    0.5
    """
    fractions = validate.as_array(fractions, "fractions", ndim=1, shape="(S,)", dtype=np.float64)
    scores = validate.as_array(scores, "scores", ndim=(1, 2), shape="(N, S) or (S,)", dtype=np.float64)
    if fractions.ndim != 1 or scores.shape[-1] != len(fractions):
        raise ValueError(
            f"scores must have shape (N, S) or (S,) with S = len(fractions) = {len(fractions)}; "
            f"got scores of shape {scores.shape}"
        )
    area = np.trapezoid(scores, fractions, axis=-1)
    return float(area) if np.ndim(area) == 0 else area


# --- model randomization (Adebayo et al. 2018) ------------------------------------


@dataclasses.dataclass(frozen=True)
class RandomizationResult:
    """Outcome of :func:`randomization_check`.

    Attributes
    ----------
    layers : tuple[str, ...]
        Names of the re-initialised layers in cascade order (top first);
        row ``i`` has layers ``0 .. i`` re-initialised.
    correlations : np.ndarray
        (L, N) Spearman rank correlation of each image's map with its map
        from the trained model; NaN where a map is constant.
    trained_maps : np.ndarray
        (N, h, w) maps of the trained model.
    maps : np.ndarray
        (L, N, h, w) maps after each cascade step.
    """

    layers: tuple
    correlations: np.ndarray
    trained_maps: np.ndarray
    maps: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        """(L,) mean correlation over images (NaNs ignored)."""
        return np.nanmean(self.correlations, axis=1)

    @property
    def std(self) -> np.ndarray:
        """(L,) standard deviation over images (NaNs ignored)."""
        return np.nanstd(self.correlations, axis=1)


def _spearman(reference: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """Rank correlation of each pair of maps (N, h, w) x (N, h, w) -> (N,); NaN if constant."""
    a = stats.rankdata(reference.reshape(len(reference), -1), axis=1)  # (N, hw), ties averaged
    b = stats.rankdata(maps.reshape(len(maps), -1), axis=1)
    a -= a.mean(axis=1, keepdims=True)
    b -= b.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))


def _weighted_layers(model: keras.Model) -> list:
    """Layers owning weights, top (output side) first; nested models are stepped into."""
    return [layer for layer in iter_layers(model) if layer.weights and not isinstance(layer, keras.Model)][::-1]


def _clone(model: keras.Model) -> keras.Model:
    """An independent copy of the model with the same weights (the user's model is never touched)."""
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def _reinitialise(layer: keras.layers.Layer, seed: int) -> None:
    """Draw fresh values for every variable of ``layer`` from its own initializers.

    A variable ``kernel`` uses ``layer.kernel_initializer`` (``bias`` the
    bias initializer, ``gamma`` ...), seeded; without one, Glorot uniform
    for matrices and zeros for vectors.
    """
    for i, variable in enumerate(layer.weights):
        name = variable.name.split("/")[-1].split(":")[0]
        initializer = getattr(layer, f"{name}_initializer", None)
        if initializer is None:
            initializer = "glorot_uniform" if len(variable.shape) >= 2 else "zeros"
        config = keras.initializers.serialize(keras.initializers.get(initializer))
        initializer = keras.initializers.deserialize(config)  # a fresh copy we may seed
        if hasattr(initializer, "seed"):
            initializer.seed = seed + i
        variable.assign(initializer(variable.shape, dtype=variable.dtype))


def randomization_check(
    method: Callable,
    model: keras.Model,
    images,
    target=None,
    *,
    layers: Sequence[LayerRef] | None = None,
    seed: int = 0,
    absolute: bool = False,
    **method_kwargs,
) -> RandomizationResult:
    """Cascading model randomization: do the maps change when the weights do?

    Adebayo et al. 2018, "Sanity checks for saliency maps": re-initialise
    the layers one after another from the top (logits) down, explain the
    same images with the same ``target`` after each step, and compare with
    the trained model's maps by Spearman rank correlation. A method that
    explains the *model* drops towards 0; one that merely shows the image
    (an edge detector would) stays near 1. Works on a clone: the user's
    model is never changed, also when ``method`` raises.

    Parameters
    ----------
    method : callable
        ``method(model, images, target, **method_kwargs) -> (N, h, w)``,
        e.g. ``labkit.gradients.saliency``.
    model : keras.Model
        The trained model.
    images : array-like
        (N, H, W, C) float32 images or one (H, W, C) image.
    target : int, (N,) ints or None
        Class to explain; None = the trained model's prediction, kept fixed
        for every randomized model.
    layers : sequence of layer names / indices / objects, optional
        Layers to re-initialise, cumulatively, in the order given. Default:
        every layer with weights, from the output down to the input.
    seed : int
        Seed of the new weights (each layer's own initializers).
    absolute : bool
        Compare ``|map|`` instead of the raw maps (the paper shows both).
    **method_kwargs
        Passed to ``method`` (e.g. ``layer="conv4"`` for Grad-CAM).

    Returns
    -------
    RandomizationResult
        ``layers`` (L,), ``correlations`` (L, N), ``mean`` and ``std`` (L,),
        the maps of the trained and each randomized model.

    Examples
    --------
    >>> result = randomization_check(saliency, model, data.images[:16])  # doctest: +SKIP
    >>> dict(zip(result.layers, result.mean.round(2)))  # doctest: +SKIP
    {'logits': 0.31, 'conv4': 0.12, 'conv3': 0.08, 'conv2': 0.05, 'conv1': 0.04}
    """
    model = validate.check_model(model)
    validate.check_callable(method, "method", "an attribution method such as labkit.gradients.saliency")
    seed = validate.check_seed(seed)
    seed = 0 if seed is None else seed
    absolute = validate.check_flag(absolute, "absolute")
    batch, _ = validate.as_images(images, model=model)
    chosen = _weighted_layers(model) if layers is None else _chosen_layers(model, layers)
    if not chosen:
        raise ValueError("the model has no layers with weights to re-initialise")
    targets = explained_classes(model, batch, target, batch_size=256)  # kept fixed for every randomized model
    clone = _clone(model)
    original, copies = list(iter_layers(model)), list(iter_layers(clone))
    position = {id(layer): i for i, layer in enumerate(original)}
    trained = _finish(method(clone, batch, targets, **method_kwargs), absolute)  # (N, h, w)
    maps = []
    for step, layer in enumerate(chosen):
        _reinitialise(copies[position[id(layer)]], (seed + 1000 * step) % validate.INT32_MAX)
        maps.append(_finish(method(clone, batch, targets, **method_kwargs), absolute))
    maps = np.stack(maps)  # (L, N, h, w)
    correlations = np.stack([_spearman(trained, step_maps) for step_maps in maps])  # (L, N)
    return RandomizationResult(tuple(layer.name for layer in chosen), correlations, trained, maps)


def _chosen_layers(model: keras.Model, layers) -> list:
    """The layers to re-initialise: each resolved, each with weights (a layer without any would change nothing)."""
    refs = [layers] if isinstance(layers, (str, int, keras.layers.Layer)) else layers
    if not isinstance(refs, (list, tuple)) or not refs:
        raise ValueError(f"layers must be a non-empty list of layer names, indices or layers, got {layers!r}")
    chosen = [resolve_layer(model, ref, name="layers") for ref in refs]
    empty = [layer.name for layer in chosen if not layer.weights]
    if empty:
        raise ValueError(f"layers {empty} have no weights, so re-initialising them changes nothing (the "
                         f"correlation would stay 1.0); pick layers with weights, e.g. "
                         f"{[layer.name for layer in _weighted_layers(model)][:4]}")
    return chosen


def _finish(maps, absolute: bool) -> np.ndarray:
    maps = validate.as_array(maps, "the maps returned by method", ndim=3, shape="(N, h, w)")
    return np.abs(maps) if absolute else maps
