"""Gradient attribution: saliency, SmoothGrad, Integrated Gradients, gradient x input.

Every map here is built from one quantity, the gradient of the target
class's logit ``S_c(x)`` with respect to the input pixels ``x``:

- :func:`saliency` (Simonyan et al. 2013), the lecture's "which pixels
  matter": ``|dS_c/dx|``, max over the colour channels.
- :func:`smoothgrad` (Smilkov et al. 2017): the same gradient averaged over
  noisy copies of the image, which removes much of its speckle.
- :func:`integrated_gradients` (Sundararajan et al. 2017): the gradient
  averaged along the straight path from a baseline to the image, times
  ``(x - baseline)``; its attributions add up to ``S_c(x) - S_c(baseline)``
  (completeness).
- :func:`gradient_x_input`: ``x * dS_c/dx``, one backward pass.

How it runs: the many gradients a method needs (noisy copies, path points)
are generated on the device inside one ``tf.function`` and pushed through
the model in chunks of ``batch_size`` images, each chunk one batched
forward and backward pass, one chunk at a time (so ``batch_size`` bounds the
memory); there is no Python loop per sample or step. The compiled functions
are cached (:func:`labkit.forward.cached`), so only the first call on a model
traces.
"""

from __future__ import annotations

import numbers

import keras
import numpy as np
import tensorflow as tf

from labkit.forward import cached
from labkit.targets import explained_classes, logits_model, target_logit, targets_or_predicted
from labkit.validate import (
    as_images, check_batch_size, check_choice, check_int, check_memory, check_model, check_number,
    check_positive_int, check_seed,
)

__all__ = ["saliency", "smoothgrad", "integrated_gradients", "gradient_x_input"]


# --- shared plumbing ----------------------------------------------------------------
# ``net`` below is labkit's logits model of the user's model (image -> S, pre-softmax,
# shared weights, see labkit.targets.logits_model); compiled functions are cached on it.


def _prepare(model: keras.Model, images, target) -> tuple[np.ndarray, bool, keras.Model, np.ndarray]:
    """Validate the inputs; return (batch, single, logits model, targets with -1 = predicted)."""
    model = check_model(model)
    batch, single = as_images(images, model=model)
    return batch, single, logits_model(model), targets_or_predicted(model, target, len(batch))


def _input_gradient(net: keras.Model, x: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
    """dS_c/dx for a batch (B, H, W, C): one forward and one backward pass.

    The images in a batch do not interact (inference mode), so the gradient of
    the sum of the scores gives every image its own gradient.
    """
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = tf.nest.flatten(net(x, training=False))[-1]  # (B, classes)
        score = target_logit(logits, targets)  # (B,): S_c(x), -1 = the predicted class
    return tape.gradient(score, x)  # (B, H, W, C)


def _signature(net: keras.Model, *extra: tf.TensorSpec) -> list[tf.TensorSpec]:
    """[images (None, H, W, C), targets (None,), *extra]: one trace serves every batch size."""
    image = tf.TensorSpec((None, *net.inputs[0].shape[1:]), tf.float32)
    return [image, tf.TensorSpec((None,), tf.int32), *extra]


def _max_abs_over_channels(gradient: tf.Tensor) -> tf.Tensor:
    """The lecture's reduction: absolute value, then max over the colour channels."""
    return tf.reduce_max(tf.abs(gradient), axis=-1)  # (N, H, W)


def _output(maps: tf.Tensor, single: bool) -> np.ndarray:
    maps = maps.numpy()
    return maps[0] if single else maps


# --- saliency and gradient x input ------------------------------------------------------


def _gradient_function(net: keras.Model):
    """The cached tf.function(images, targets) -> dS_c/dx (B, H, W, C).

    Traced once per model and shared by every method here: SmoothGrad and
    IG call it inside their own tf.functions, so the model's forward and
    backward graph is built only once.
    """

    def make(net):  # a weak proxy: the compiled function must not keep the model alive
        def gradient(x, targets):  # a named function: AutoGraph cannot read nested lambdas
            return _input_gradient(net, x, targets)

        return tf.function(gradient, input_signature=_signature(net))

    return cached(net, ("gradient",), make)


def _per_chunk(net: keras.Model, batch: np.ndarray, targets: np.ndarray, batch_size: int, finish) -> np.ndarray:
    """``finish(x, dS_c/dx)`` for all images, in chunks of ``batch_size``, each moved to the host when done."""
    function = _gradient_function(net)
    parts = [finish(batch[s : s + batch_size], function(batch[s : s + batch_size], targets[s : s + batch_size]))
             .numpy() for s in range(0, len(batch), batch_size)]  # over chunks, not images
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def saliency(model: keras.Model, images, target=None, *, batch_size: int = 64) -> np.ndarray:
    """Gradient saliency map: ``|dS_c/dx|``, max over the colour channels.

    The lecture's "which pixels matter": how strongly a tiny change of each
    pixel would change the class score (Simonyan et al. 2013, "Deep inside
    convolutional networks: visualising image classification models and
    saliency maps").

    Parameters
    ----------
    model : keras.Model
        Image classifier; explained on its logits ``S`` (pre-softmax).
    images : array-like
        (N, H, W, C) float32 batch or one (H, W, C) image, preprocessed.
    target : int, array-like of N ints, or None
        Class to explain per image; None = the predicted class.
    batch_size : int
        Images per forward/backward pass.

    Returns
    -------
    np.ndarray
        (N, H, W) non-negative maps, or (H, W) for one image.

    Examples
    --------
    >>> maps = saliency(zoo.load("shapes"), data.images[:8])  # (8, 64, 64)  # doctest: +SKIP
    """
    batch, single, net, targets = _prepare(model, images, target)
    batch_size = check_batch_size(batch_size, len(batch))
    maps = _per_chunk(net, batch, targets, batch_size, lambda x, gradient: _max_abs_over_channels(gradient))
    return maps[0] if single else maps  # (N, H, W)


def gradient_x_input(model: keras.Model, images, target=None, *, batch_size: int = 64,
                     reduce: str | None = "sum") -> np.ndarray:
    """Gradient times input: ``x * dS_c/dx``, summed over the channels (signed).

    The first-order Taylor contribution of each pixel to the score
    (Shrikumar et al. 2016); equals Integrated Gradients with a zero
    baseline for a linear model.

    Parameters
    ----------
    model, images, target, batch_size
        As in :func:`saliency`.
    reduce : {"sum", None}
        "sum": add the channels, (N, H, W). None: keep them, (N, H, W, C).

    Returns
    -------
    np.ndarray
        (N, H, W) signed maps ((N, H, W, C) with ``reduce=None``); no N axis for one image.

    Examples
    --------
    >>> maps = gradient_x_input(model, images)  # (N, 64, 64)  # doctest: +SKIP
    """
    check_choice(reduce, "reduce", ("sum", None))
    batch, single, net, targets = _prepare(model, images, target)
    batch_size = check_batch_size(batch_size, len(batch))
    maps = _per_chunk(net, batch, targets, batch_size, lambda x, gradient: _reduce_channels(x * gradient, reduce))
    return maps[0] if single else maps  # (N, H, W) or (N, H, W, C)


def _reduce_channels(attributions: tf.Tensor, reduce: str | None) -> tf.Tensor:
    return tf.reduce_sum(attributions, axis=-1) if reduce == "sum" else attributions


# --- SmoothGrad ------------------------------------------------------------------------------


def _noise_scale(batch: np.ndarray, noise: float) -> np.ndarray:
    """sigma per image: ``noise * (max - min)`` of that image, as in the SmoothGrad paper."""
    spread = batch.max(axis=(1, 2, 3)) - batch.min(axis=(1, 2, 3))  # (N,)
    return (noise * spread).astype(np.float32)


_MAGNITUDES = {
    None: tf.identity,  # signed: the paper's definition
    "abs": tf.abs,  # tf-keras-vis' default
    "square": tf.square,  # the authors' `saliency` library, magnitude=True ("SmoothGrad-Squared")
}


def _smoothgrad_function(net: keras.Model, magnitude: str | None):
    """tf.function(images, targets, sigmas, n, seed, batch_size) -> sum over samples, (N, H, W, C).

    Flat index k over all N * n noisy copies: image i = k // n, sample s = k % n.
    Sample s adds the same noise pattern (times sigma_i) to every image, so an
    image's map does not depend on the other images in the batch.
    """
    transform = _MAGNITUDES[magnitude]
    gradient_of = _gradient_function(net)

    def run(images, targets, sigmas, n, seed, batch_size):
        shape = tf.shape(images)
        noise = tf.random.stateless_normal(tf.concat([[n], shape[1:]], 0), seed=[seed, 0])  # (n, H, W, C)
        total = tf.zeros_like(images)  # (N, H, W, C)
        for start in tf.range(0, shape[0] * n, batch_size):  # in-graph loop over chunks
            tf.autograph.experimental.set_loop_options(parallel_iterations=1)  # one chunk at a time
            k = tf.range(start, tf.minimum(start + batch_size, shape[0] * n))
            i, s = k // n, k % n
            x = tf.gather(images, i) + tf.gather(sigmas, i)[:, None, None, None] * tf.gather(noise, s)
            gradient = gradient_of(x, tf.gather(targets, i))  # (B, H, W, C)
            total = tf.tensor_scatter_nd_add(total, i[:, None], transform(gradient))
        return total

    scalars = [tf.TensorSpec((None,), tf.float32)] + [tf.TensorSpec((), tf.int32)] * 3
    return tf.function(run, input_signature=_signature(net, *scalars))


def smoothgrad(model: keras.Model, images, target=None, *, n: int = 32, noise: float = 0.15,
               magnitude: str | None = None, seed: int = 0, batch_size: int = 64) -> np.ndarray:
    """SmoothGrad: the saliency gradient averaged over noisy copies of the image.

    ``M(x) = max_c |1/n sum_s g_c(x + eps_s)|`` with ``g = dS_c/dx``,
    ``eps_s ~ N(0, sigma^2)`` and ``sigma = noise * (max(x) - min(x))`` per
    image (Smilkov et al. 2017, "SmoothGrad: removing noise by adding
    noise"; noise 0.1-0.2 works best there). The average is reduced
    like :func:`saliency`: absolute value, max over channels.

    Convention (``magnitude``): None (default) averages the signed gradients,
    as in the paper's definition, and equals :func:`saliency` when ``noise=0``. "abs"
    averages ``|g|`` (tf-keras-vis' default), so gradients whose sign flips
    under noise do not cancel. "square" averages ``g**2``, what the
    authors' ``saliency`` library calls ``magnitude=True`` (SmoothGrad-Squared;
    squared units).

    Parameters
    ----------
    model, images, target
        As in :func:`saliency`.
    n : int
        Noisy samples per image.
    noise : float
        Noise standard deviation as a fraction of each image's value range, >= 0.
    magnitude : {None, "abs", "square"}
        What is averaged over the samples (see above).
    seed : int or None
        Seed of the stateless noise generator: same seed, same map. None
        draws a new seed on every call.
    batch_size : int
        Noisy images per forward/backward pass.

    Returns
    -------
    np.ndarray
        (N, H, W) non-negative maps, or (H, W) for one image.

    Examples
    --------
    >>> maps = smoothgrad(model, images, n=50, noise=0.2, seed=1)  # doctest: +SKIP
    """
    check_choice(magnitude, "magnitude", tuple(_MAGNITUDES))
    batch, single, net, _ = _prepare(model, images, target)  # target checked here, resolved below
    n = check_positive_int(n, "n")
    check_int(len(batch) * n, "n x the number of images", what="at most 2**31 - 1: use fewer samples n or images")
    check_memory(4 * n * batch[0].size, f"smoothgrad(n={n})", "use fewer samples n")  # the n noise patterns
    batch_size = check_batch_size(batch_size, len(batch) * n)
    seed = check_seed(seed)
    seed = int(np.random.default_rng().integers(2**31 - 1)) if seed is None else seed % (2**31 - 1)
    noise = check_number(noise, "noise", low=0, what="a number >= 0 (a fraction of the image's value range)")
    targets = explained_classes(model, batch, target, batch_size=batch_size)  # class of the clean image
    function = cached(net, ("smoothgrad", magnitude), lambda net: _smoothgrad_function(net, magnitude))
    total = function(batch, targets, _noise_scale(batch, noise), n, seed, batch_size)  # (N, H, W, C)
    return _output(_max_abs_over_channels(total / n), single)


# --- Integrated Gradients ------------------------------------------------------------------------


def _midpoint(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Midpoint rule on [0, 1]: points alpha_j = (j + 1/2) / steps, weights 1 / steps.

    On the zoo's ReLU networks it was 3-5 times more accurate than the
    trapezoid rule and than Gauss-Legendre at the same number of gradients
    (the integrand, a ReLU network's gradient along a line, is piecewise
    constant, so high-order rules gain nothing).
    """
    alphas = (np.arange(steps) + 0.5) / steps
    return alphas.astype(np.float32), np.full(steps, 1.0 / steps, np.float32)


def _path_gradient_function(net: keras.Model):
    """tf.function(images, targets, baselines, alphas, weights, batch_size) -> sum_j w_j dS/dx(x_j).

    Flat index k over all N * J path points: image i = k // J, point j = k % J,
    ``x_ij = baseline_i + alpha_j (x_i - baseline_i)``.
    """
    gradient_of = _gradient_function(net)

    def run(images, targets, baselines, alphas, weights, batch_size):
        n_points = tf.shape(alphas)[0]
        total = tf.zeros_like(images)  # (N, H, W, C)
        for start in tf.range(0, tf.shape(images)[0] * n_points, batch_size):  # in-graph chunks
            tf.autograph.experimental.set_loop_options(parallel_iterations=1)  # one chunk at a time
            k = tf.range(start, tf.minimum(start + batch_size, tf.shape(images)[0] * n_points))
            i, j = k // n_points, k % n_points
            b = tf.gather(baselines, i)
            x = b + tf.gather(alphas, j)[:, None, None, None] * (tf.gather(images, i) - b)  # (B, H, W, C)
            gradient = gradient_of(x, tf.gather(targets, i))  # (B, H, W, C)
            total = tf.tensor_scatter_nd_add(total, i[:, None], tf.gather(weights, j)[:, None, None, None] * gradient)
        return total

    image = tf.TensorSpec((None, *net.inputs[0].shape[1:]), tf.float32)
    vector = tf.TensorSpec((None,), tf.float32)
    return tf.function(run, input_signature=_signature(net, image, vector, vector, tf.TensorSpec((), tf.int32)))


def _baselines(baseline, batch: np.ndarray, model: keras.Model) -> np.ndarray:
    """A float or an array (H, W, C) / (N, H, W, C), broadcast to the batch's shape."""
    if isinstance(baseline, numbers.Real) and not isinstance(baseline, bool):
        return np.full_like(batch, check_number(baseline, "baseline"))
    array, _ = as_images(baseline, name="baseline", model=model)  # (1 or N, H, W, C)
    if len(array) not in (1, len(batch)) or array.shape[1:] != batch.shape[1:]:
        raise ValueError(
            f"baseline must be a number, one image {batch.shape[1:]} or one per image {batch.shape}; "
            f"got shape {np.shape(baseline)}"
        )
    return np.ascontiguousarray(np.broadcast_to(array, batch.shape))


def integrated_gradients(model: keras.Model, images, target=None, *, baseline=0.0, steps: int = 64,
                         reduce: str | None = "sum", batch_size: int = 64) -> np.ndarray:
    """Integrated Gradients: path-averaged gradient times (image - baseline).

    ``IG_p(x) = (x_p - b_p) * integral_0^1 dS_c/dx_p (b + a (x - b)) da``
    (Sundararajan et al. 2017, "Axiomatic attribution for deep networks"),
    the integral taken with the midpoint rule on ``steps`` points.
    Completeness: the attributions of an image sum to ``S_c(x) - S_c(b)`` up
    to the quadrature error, which shrinks roughly like ``1 / steps``. On the
    zoo models at 64 steps the error is 0.1-0.8% of ``|S_c(x) - S_c(b)|``
    summed over a batch (median image 0.06-0.7%), but 0-40% of single images
    are off by more than 1%: the gradient of a ReLU network jumps along the
    path, which no rule with few points integrates exactly. At 256 steps
    95-100% of the images are within 1%.

    Parameters
    ----------
    model, images, target
        As in :func:`saliency`.
    baseline : float or array-like
        The "absence of signal": a number (0.0 = black image), one image
        (H, W, C) or one per image (N, H, W, C).
    steps : int
        Intervals of the path integral.
    reduce : {"sum", None}
        "sum": add the channels, (N, H, W). None: per-channel (N, H, W, C).
    batch_size : int
        Path points per forward/backward pass.

    Returns
    -------
    np.ndarray
        (N, H, W) signed maps ((N, H, W, C) with ``reduce=None``); no N axis for one image.

    Examples
    --------
    >>> maps = integrated_gradients(model, images, baseline=0.0, steps=64)  # doctest: +SKIP
    """
    check_choice(reduce, "reduce", ("sum", None))
    batch, single, net, _ = _prepare(model, images, target)  # target checked here, resolved below
    steps = check_positive_int(steps, "steps")
    total = check_int(len(batch) * steps, "steps x the number of images",
                      what="at most 2**31 - 1: use fewer steps or images")
    check_memory(8 * steps, f"integrated_gradients(steps={steps})", "use fewer steps")  # the path's points
    batch_size = check_batch_size(batch_size, total)
    baselines = _baselines(baseline, batch, model)
    targets = explained_classes(model, batch, target, batch_size=batch_size)  # class of x, not of the path
    alphas, weights = _midpoint(steps)
    function = cached(net, ("path",), lambda net: _path_gradient_function(net))
    mean_gradient = function(batch, targets, baselines, alphas, weights, batch_size)  # (N, H, W, C)
    return _output(_reduce_channels((batch - baselines) * mean_gradient, reduce), single)
