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


def _as_maps(maps, name: str = "maps") -> tuple[np.ndarray, bool]:
    """(N, h, w) float32 maps and whether one (h, w) map was given."""
    array = validate._to_numpy(maps, name)
    if array.ndim not in (2, 3):
        raise ValueError(f"{name} must have shape (N, h, w) or one map (h, w); got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or inf values")
    single = array.ndim == 2
    return np.asarray(array[None] if single else array, np.float32), single


def _as_masks(masks, n: int, name: str = "masks") -> np.ndarray:
    """(N, H, W) bool masks; one (H, W) mask is used for every map."""
    array = np.asarray(masks)
    if array.dtype != bool:
        if array.dtype.kind not in "iuf" or not np.isin(array, (0, 1)).all():
            raise TypeError(f"{name} must be boolean (or 0/1) ground-truth masks, got dtype {array.dtype}")
        array = array.astype(bool)
    if array.ndim == 2:
        array = np.broadcast_to(array, (n, *array.shape))
    if array.ndim != 3 or array.shape[0] != n:
        raise ValueError(f"{name} must have shape (N, H, W) with N={n} like the maps; got shape {array.shape}")
    return array


def _resize(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize (N, h, w) -> (N, H, W); a no-op when the size already matches."""
    if maps.shape[1:] == tuple(size):
        return maps
    resized = tf.image.resize(maps[..., None], size, method="bilinear")  # (N, H, W, 1)
    return resized.numpy()[..., 0]


def _maps_and_masks(maps, masks) -> tuple[np.ndarray, np.ndarray, bool]:
    maps, single = _as_maps(maps)
    masks = _as_masks(masks, len(maps))
    return _resize(maps, masks.shape[1:]), masks, single


def _dilate(masks: np.ndarray, tolerance: int) -> np.ndarray:
    """Grow every mask by ``tolerance`` pixels (a disc), as the pointing game allows."""
    if tolerance == 0:
        return masks
    r = np.arange(-tolerance, tolerance + 1)
    disc = (r[:, None] ** 2 + r[None, :] ** 2) <= tolerance**2  # (2t+1, 2t+1)
    return ndimage.binary_dilation(masks, structure=disc[None])  # one image at a time


def _check_tolerance(tolerance) -> int:
    if isinstance(tolerance, (bool, np.bool_)) or not isinstance(tolerance, (int, np.integer)) or tolerance < 0:
        raise ValueError(f"tolerance must be a whole number of pixels >= 0, got {tolerance!r}")
    return int(tolerance)


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
    rng = np.random.default_rng(validate.check_seed(seed))
    masks = np.asarray(masks)
    masks = _as_masks(masks[None] if masks.ndim == 2 else masks, 1 if masks.ndim == 2 else len(masks))
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
    """tf.function(images, ranks, counts, canvas, targets): target scores with pixels deleted/inserted.

    ``net`` is the logits model; images, canvas (n, H, W, C); ranks (n, H, W):
    0 = most important pixel; counts (S,); returns (S, n), the score with the
    first ``counts[s]`` pixels deleted/inserted. All S*n perturbed images are
    built on the device and go through the model as one batch.
    """

    def run(images, ranks, counts, canvas, targets):
        changed = ranks[None] < counts[:, None, None, None]  # (S, n, H, W)
        changed = changed[..., None]  # (S, n, H, W, 1)
        if insertion:
            x = tf.where(changed, images[None], canvas[None])  # (S, n, H, W, C)
        else:
            x = tf.where(changed, canvas[None], images[None])
        s, n = tf.shape(changed)[0], tf.shape(changed)[1]
        logits = net(tf.reshape(x, tf.concat([[s * n], tf.shape(images)[1:]], 0)), training=False)
        if probability:
            logits = tf.nn.softmax(logits, axis=-1)
        logits = tf.reshape(logits, [s, n, -1])  # (S, n, K)
        chosen = tf.one_hot(targets, tf.shape(logits)[-1], dtype=logits.dtype)  # (n, K)
        return tf.reduce_sum(logits * chosen[None], axis=-1)  # (S, n)

    height, width, channels = net.inputs[0].shape[1:]
    image = tf.TensorSpec((None, height, width, channels), tf.float32)
    signature = [image, tf.TensorSpec((None, height, width), tf.int32), tf.TensorSpec((None,), tf.int32), image,
                 tf.TensorSpec((None,), tf.int32)]
    return tf.function(run, input_signature=signature)


def _pixel_ranks(maps: np.ndarray) -> np.ndarray:
    """Rank of every pixel, 0 = highest attribution; ties in raster order. (N, H, W) int32."""
    n, h, w = maps.shape
    order = np.argsort(-maps.reshape(n, -1), axis=1, kind="stable")  # (N, HW)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(h * w)[None], axis=1)
    return ranks.reshape(n, h, w).astype(np.int32)


def _curve(model, images, maps, target, steps, fill, batch_size, score, insertion):
    """Shared body of deletion_curve and insertion_curve."""
    steps = validate.check_positive_int(steps, "steps")
    batch_size = validate.check_positive_int(batch_size, "batch_size")
    validate.check_choice(score, "score", ("probability", "logit"))
    batch, single = validate.as_images(images, model=model)
    n, h, w, c = batch.shape
    maps, single_map = _as_maps(maps)
    if len(maps) != n:
        raise ValueError(f"maps has {len(maps)} maps but there are {n} images; pass one map per image")
    ranks = _pixel_ranks(_resize(maps, (h, w)))  # (N, H, W)
    canvas = np.broadcast_to(np.asarray(fill, np.float32), batch.shape)  # (N, H, W, C)
    net = logits_model(model)
    targets = explained_classes(model, batch, target, batch_size=batch_size)  # class of the intact image
    counts = np.round(np.linspace(0, h * w, steps + 1)).astype(np.int32)  # (S,)
    per_call = max(1, batch_size // len(counts))  # images per forward pass of S*n images
    probability = score == "probability"
    function = cached(net, ("curve", insertion, probability), lambda: _curve_function(net, insertion, probability))
    scores = [function(batch[i : i + per_call], ranks[i : i + per_call], counts, canvas[i : i + per_call],
                       targets[i : i + per_call])
              for i in range(0, n, per_call)]  # one call per chunk of images, every step at once
    scores = tf.concat(scores, axis=1).numpy().T  # (N, S)
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
        Images per forward pass (at least ``steps + 1``).

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
    fractions = np.asarray(fractions, np.float64)
    scores = np.asarray(scores, np.float64)
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
    seed = validate.check_seed(seed)
    batch, _ = validate.as_images(images, model=model)
    chosen = _weighted_layers(model) if layers is None else [resolve_layer(model, ref) for ref in layers]
    if not chosen:
        raise ValueError("the model has no layers with weights to re-initialise")
    targets = explained_classes(model, batch, target, batch_size=256)  # kept fixed for every randomized model
    clone = _clone(model)
    original, copies = list(iter_layers(model)), list(iter_layers(clone))
    position = {id(layer): i for i, layer in enumerate(original)}
    trained = _finish(method(clone, batch, targets, **method_kwargs), absolute)  # (N, h, w)
    maps = []
    for step, layer in enumerate(chosen):
        _reinitialise(copies[position[id(layer)]], seed + 1000 * step)
        maps.append(_finish(method(clone, batch, targets, **method_kwargs), absolute))
    maps = np.stack(maps)  # (L, N, h, w)
    correlations = np.stack([_spearman(trained, step_maps) for step_maps in maps])  # (L, N)
    return RandomizationResult(tuple(layer.name for layer in chosen), correlations, trained, maps)


def _finish(maps, absolute: bool) -> np.ndarray:
    maps = np.asarray(maps, np.float32)
    return np.abs(maps) if absolute else maps
