"""Gradient ascent: synthesise the image a unit of the network responds to most.

The lecture's feature visualization by optimisation, ``I* = argmax_I f(I) - R(I)``:
initialise the image to random noise, then repeat: forward the image,
backprop the objective f to the pixels, update the pixels. Two recipes:

- :func:`pixel_ascent`: the slide itself, a short plain loop in pixel space
  (Simonyan, Vedaldi & Zisserman 2013, "Deep inside convolutional networks":
  gradient steps with L2 decay, plus an occasional blur as in Yosinski et al.
  2015). Drives the unit hard, looks like noise. Read this one first.
- :func:`visualize`: the same loop, batched and compiled, with Adam steps on
  a better parameterisation (Olah, Mordvintsev & Schubert 2017, "Feature
  Visualization", Distill, the default): the image is its Fourier spectrum
  scaled by 1/frequency (gradient steps favour smooth images), in
  decorrelated colour, randomly jittered, scaled and rotated at every step
  (the result must work wherever it sits). ``param="pixel",
  decorrelate=False, transforms=(), regularizers=("l2", "blur")`` is
  Simonyan's recipe again.

What to maximise is an objective from :mod:`labkit.objectives`: a tuple
such as ``("conv4", 5)``, ``("conv4", 5, (4, 4))`` or ``("logits", 2)``, or
``objectives.channel``, ``neuron``, ``class_logit``, ``class_probability``;
a list of them gives one image each. Looking at units without optimising
(filters, top examples, t-SNE) is :mod:`labkit.units`. Everything random
takes a ``seed``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from labkit.forward import cached
from labkit.objectives import as_objectives, objective_reader, objective_scores
# What a notebook writes next to visualize(): ascent.channel("conv4", 3), ascent.class_probability(2).
from labkit.objectives import Objective, channel, class_logit, class_probability, neuron  # noqa: F401
from labkit.validate import (
    check_batch_size, check_callable, check_choice, check_flag, check_int, check_memory, check_model, check_number,
    check_positive_int, check_seed,
)

__all__ = ["Visualization", "pixel_ascent", "visualize", "COLOR_CORRELATION_SVD_SQRT",
           "Objective", "channel", "neuron", "class_logit", "class_probability"]


# --- the plain recipe: the lecture's loop in pixel space -------------------------------


class Visualization(NamedTuple):
    """What :func:`pixel_ascent` and :func:`visualize` return (unpacks as ``images, trace = ...``)."""

    images: np.ndarray  # (B, size, size, C) in [0, 1], one per objective
    trace: np.ndarray  # (steps, B) objective at every step, before that step's update


def _model_image_shape(model: keras.Model, size: int | None) -> tuple[int, int, int | None]:
    """(size to optimise, size the model reads, channels)."""
    shape = tuple(check_model(model).inputs[0].shape)
    if shape[1] is not None and shape[1] != shape[2]:
        raise ValueError(f"gradient ascent needs square model inputs, got {shape}")
    model_size = shape[1]
    size = (model_size or 64) if size is None else check_positive_int(size, "size")
    return size, model_size or size, shape[3]


def _check_lr(lr, what: str) -> float:
    return check_number(lr, "lr", low=0, low_open=True, what=f"a positive number ({what})")


def _check_steps(steps, images: int, per_step: int) -> int:
    """A positive number of steps whose trace (``per_step`` bytes a step) fits in memory."""
    steps = check_positive_int(steps, "steps")
    check_memory(steps * (per_step + 4 * images), f"steps={steps}", "use fewer steps (a few hundred are plenty)")
    return steps


def _box_blur(images: tf.Tensor) -> tf.Tensor:
    """Each pixel replaced by the mean of its 3x3 neighbourhood (edges mirrored): (B, H, W, C)."""
    kernel = tf.constant(np.full((3, 3, images.shape[-1], 1), 1 / 9, np.float32))
    padded = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")  # (B, H+2, W+2, C)
    return tf.nn.depthwise_conv2d(padded, kernel, [1, 1, 1, 1], "VALID")


def _pixel_step(read: Callable):
    """One step of :func:`pixel_ascent` for a batch of images, compiled."""

    @tf.function
    def step(images, weights, lr, l2):
        with tf.GradientTape() as tape:
            tape.watch(images)
            scores = objective_scores(read(images), weights)  # (B,) 1. forward: each image's objective
            loss = -tf.reduce_sum(scores)  # maximising the objectives = minimising minus them
        grad = tape.gradient(loss, images)  # (B, H, W, C) 2. backprop to the pixels
        grad /= tf.sqrt(tf.reduce_mean(tf.square(grad), axis=(1, 2, 3), keepdims=True)) + 1e-8  # RMS 1 per image
        images = images - lr * grad  # 3. update: a step down the loss, up the objective
        images = 0.5 + (1 - l2) * (images - 0.5)  # L2 decay: every pixel a little towards grey
        return tf.clip_by_value(images, 0.0, 1.0), scores  # pixels stay valid

    return step


def pixel_ascent(
    model: keras.Model,
    objective,
    *,
    steps: int = 100,
    lr: float = 0.05,
    l2: float = 0.05,
    blur_every: int = 4,
    seed: int = 0,
) -> Visualization:
    """Plain gradient ascent on the pixels: the lecture's slide, step by step.

    Start from random noise around mid-grey; then, at every step, forward
    the image, backprop the objective to the pixels and take a step up the
    gradient (Simonyan, Vedaldi & Zisserman 2013), shrink every pixel's
    distance to grey by ``l2`` (the step of an L2 penalty, "L2 decay") and
    every ``blur_every`` steps blur the image a little (Yosinski et al. 2015,
    "Understanding neural networks through deep visualization"). Pixels are
    kept in [0, 1]; the objective's ReLU passes the redirected gradient (see
    :mod:`labkit.objectives`). :func:`visualize` is the full recipe.

    Parameters
    ----------
    model : keras.Model
    objective : tuple, Objective, or a list of them
        As for :func:`visualize`, e.g. ``("conv4", 5)`` or ``("logits", range(4))``:
        one image per objective.
    steps : int
        Gradient steps.
    lr : float
        Step size: ``image + lr * gradient / RMS(gradient)``, so the pixels
        change by ``lr`` on average whatever the scale of the objective.
    l2 : float
        L2 decay in [0, 1): ``0.5 + (1 - l2) * (image - 0.5)`` after each step.
    blur_every : int
        Blur with a 3x3 mean filter every this many steps; 0 = never.
    seed : int or None
        Seeds the starting noise (image i's depends on ``(seed, i)`` only);
        None = new noise every call.

    Returns
    -------
    Visualization
        ``images`` (B, H, W, C) in [0, 1] at the model's input size (64 x 64
        when the model takes any size) and
        ``trace`` (steps, B): the objective before each step's update.

    Examples
    --------
    >>> images, trace = pixel_ascent(zoo.load("shapes"), ("conv4", 5))  # doctest: +SKIP
    """
    size, _, channels = _model_image_shape(model, None)
    seed, lr = check_seed(seed), _check_lr(lr, "the step size")
    l2 = check_number(l2, "l2", low=0, high=1, high_open=True,
                      what="a number in [0, 1), the share of the distance to grey removed per step")
    blur_every = check_int(blur_every, "blur_every", low=0, what="an int >= 0 (0 = never blur)")
    objectives = as_objectives(objective)
    steps = _check_steps(steps, len(objectives), 512)  # a small tensor per step
    read, key, weights = objective_reader(model, objectives, (size, size, channels))
    step = cached(model, ("pixel_ascent", key), lambda model: _pixel_step(read))
    weights, lr, l2 = [tf.constant(w) for w in weights], tf.constant(lr), tf.constant(float(l2))
    noise = [np.random.default_rng(None if seed is None else [seed, i]).standard_normal((size, size, channels))
             for i in range(len(objectives))]
    images = tf.constant(np.clip(0.5 + 0.1 * np.stack(noise), 0, 1), tf.float32)  # start: noise around grey
    trace = []
    for i in range(steps):
        images, scores = step(images, weights, lr, l2)  # forward, backprop, update
        if blur_every and (i + 1) % blur_every == 0:
            images = _box_blur(images)  # now and then, smooth away the finest noise
        trace.append(scores)
    return Visualization(images.numpy(), tf.stack(trace).numpy())


# --- the image parameterisations (Olah et al. 2017, section "Preconditioning") -------

# Square root of the colour covariance of ImageNet pixels (via its SVD), from lucid
# (github.com/tensorflow/lucid, lucid/optvis/param/color.py), the Distill article's
# library. Optimising in these coordinates decorrelates the colour channels.
COLOR_CORRELATION_SVD_SQRT = np.asarray(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float32
)
_COLOR = COLOR_CORRELATION_SVD_SQRT / np.max(np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0))


def _spectrum_scale(h: int, w: int, decay_power: float = 1.0) -> np.ndarray:
    """1 / |frequency| for each rfft2 coefficient (h, w // 2 + 1): boosts low frequencies."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    frequency = np.sqrt(fx * fx + fy * fy)
    return (np.sqrt(h * w) / np.maximum(frequency, 1.0 / max(h, w)) ** decay_power).astype(np.float32)


def _fft_image(spectrum: tf.Tensor, scale: np.ndarray, size: int) -> tf.Tensor:
    """Image from its Fourier coefficients (2, B, C, h, w//2+1): the inverse real FFT."""
    coefficients = tf.complex(spectrum[0], spectrum[1]) * tf.cast(scale, tf.complex64)
    image = tf.signal.irfft2d(coefficients, fft_length=[size, size]) / 4.0  # (B, C, h, w)
    return tf.transpose(image, (0, 2, 3, 1))  # (B, h, w, C)


def _to_rgb(t: tf.Tensor, decorrelate: bool) -> tf.Tensor:
    """Unconstrained image t -> valid pixels in [0, 1]: decorrelated colour, then a sigmoid."""
    if decorrelate and t.shape[-1] == 3:
        t = tf.einsum("bhwc,dc->bhwd", t, _COLOR)  # (B, h, w, 3)
    return tf.sigmoid(t)


def _initial_params(param: str, batch: int, size: int, channels: int, seed: int) -> np.ndarray:
    """Random start: small Fourier coefficients, or pixel noise (the lecture's "random noise").

    Image i's start depends only on (seed, i), not on the other objectives.
    """
    shape = (2, channels, size, size // 2 + 1) if param == "fft" else (size, size, channels)
    sd = 0.01 if param == "fft" else 0.1
    starts = [sd * np.random.default_rng([seed, i]).standard_normal(shape) for i in range(batch)]
    return np.stack(starts, axis=1 if param == "fft" else 0).astype(np.float32)  # (2, B, C, h, w') or (B, h, w, C)


# --- transforms: random jitter, scale and rotation at every step ---------------------

_TRANSFORMS = {"jitter": None, "scale": 0.1, "rotate": 10.0}  # None: size // 16 pixels
_REGULARIZERS = {"l2": 1.0, "tv": 1.0, "blur": 1.0}


def _named_amounts(items, known: dict, name: str, size: int) -> tuple:
    """("jitter", ("scale", 0.2)) -> (("jitter", 4.0), ("scale", 0.2)) with defaults filled in."""
    if isinstance(items, str):
        items = (items,)
    if not isinstance(items, (tuple, list)):
        raise TypeError(f"{name} must be a tuple of names or (name, amount) pairs, "
                        f"e.g. (\"jitter\", (\"scale\", 0.2)), got {items!r}")
    out = []
    for item in items:
        if not isinstance(item, str) and not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise TypeError(f"{name} must hold names or (name, amount) pairs, got {item!r}")
        key, amount = (item, None) if isinstance(item, str) else tuple(item)
        check_choice(key, name, tuple(known))
        if amount is None:
            amount = known[key] if known[key] is not None else max(1, size // 16)
        amount = check_number(amount, f"{name} {key!r}", low=0, what="an amount >= 0 (a finite number)")
        out.append((key, amount))
    return tuple(out)


def _random_affine(batch, size: int, transforms: dict, seed, out_size: int, offset=0) -> tf.Tensor:
    """(B, 8) projective transforms: rotate and scale about the centre, then shift.

    Maps each output pixel to the input pixel it reads (what
    ``ImageProjectiveTransformV3`` expects); ``out_size`` also resizes to the
    model's input size. Image i of the whole run (``offset`` + row) always
    gets the same draws at a given step (stateless Philox fills rows in order).
    """
    u = tf.random.stateless_uniform((offset + batch, 4), seed=seed, minval=-1.0, maxval=1.0)[offset:]  # (B, 4)
    shift = u[:, :2] * transforms.get("jitter", 0.0)
    zoom = 1.0 + u[:, 2] * transforms.get("scale", 0.0)
    angle = u[:, 3] * transforms.get("rotate", 0.0) * (np.pi / 180.0)
    ratio = size / out_size  # input pixels per output pixel
    a, b = tf.cos(angle) * ratio / zoom, tf.sin(angle) * ratio / zoom
    c_out, c_in = (out_size - 1) / 2.0, (size - 1) / 2.0
    tx = c_in + shift[:, 0] - a * c_out + b * c_out
    ty = c_in + shift[:, 1] - b * c_out - a * c_out
    zeros = tf.zeros_like(a)
    return tf.stack([a, -b, tx, b, a, ty, zeros, zeros], axis=1)  # (B, 8)


def _transform(images: tf.Tensor, transforms: dict, seed, out_size: int, offset=0) -> tf.Tensor:
    """Random jitter/scale/rotation of a batch (B, size, size, C) -> (B, out, out, C), on the device."""
    batch, size = tf.shape(images)[0], images.shape[1]
    if not transforms and size == out_size:
        return images
    matrix = _random_affine(batch, size, transforms, seed, out_size, offset)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=matrix, output_shape=[out_size, out_size],
        fill_value=0.5, interpolation="BILINEAR", fill_mode="REFLECT",
    )


# --- regularizers R(I): penalties per image ------------------------------------------


def _l2(images: tf.Tensor) -> tf.Tensor:
    """Simonyan et al.: lambda ||I||^2, here around mid-grey. (B,)"""
    return tf.reduce_mean(tf.square(images - 0.5), axis=(1, 2, 3))


def _tv(images: tf.Tensor) -> tf.Tensor:
    """Total variation (Mahendran & Vedaldi 2015): mean |difference| of neighbouring pixels. (B,)"""
    dy = tf.abs(images[:, 1:] - images[:, :-1])
    dx = tf.abs(images[:, :, 1:] - images[:, :, :-1])
    return tf.reduce_mean(dy, axis=(1, 2, 3)) + tf.reduce_mean(dx, axis=(1, 2, 3))


def _blur(images: tf.Tensor) -> tf.Tensor:
    """Pull each pixel towards its 3x3 neighbourhood mean (lucid's blur_input_each_step). (B,)"""
    blurred = tf.stop_gradient(_box_blur(images))
    return 0.5 * tf.reduce_mean(tf.square(images - blurred), axis=(1, 2, 3))


_PENALTIES = {"l2": _l2, "tv": _tv, "blur": _blur}


def _penalty(images: tf.Tensor, regularizers: tuple) -> tf.Tensor:
    total = tf.zeros(tf.shape(images)[:1])
    for name, weight in regularizers:
        total += weight * _PENALTIES[name](images)
    return total  # (B,)


# --- the optimisation ----------------------------------------------------------------


def _adam(params, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """One Adam step (Kingma & Ba 2015) descending ``grad``."""
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * tf.square(grad)
    step = lr * (m / (1 - beta1**t)) / (tf.sqrt(v / (1 - beta2**t)) + eps)
    return params - step, m, v


@dataclass(frozen=True)
class _Recipe:
    param: str
    decorrelate: bool
    transforms: tuple
    regularizers: tuple
    size: int
    model_size: int
    preprocess: Callable | None


def _image_fn(recipe: _Recipe):
    """params -> images (B, size, size, C) in [0, 1]."""
    scale = _spectrum_scale(recipe.size, recipe.size) if recipe.param == "fft" else None

    def image(params):
        t = _fft_image(params, scale, recipe.size) if recipe.param == "fft" else params
        return _to_rgb(t, recipe.decorrelate)

    return image


def _ascent_program(read: Callable, recipe: _Recipe):
    """A tf.function running ``n_steps`` of gradient ascent on a batch, trace included."""
    to_image = _image_fn(recipe)
    transforms = dict(recipe.transforms)

    @tf.function(reduce_retracing=True)
    def run(params, m, v, weights, first_step, n_steps, lr, seed, offset):
        trace = tf.TensorArray(tf.float32, size=n_steps)
        for i in tf.range(n_steps):
            step = first_step + i
            with tf.GradientTape() as tape:
                tape.watch(params)
                images = to_image(params)  # (B, size, size, C)
                seen = _transform(images, transforms, tf.stack([seed, step]), recipe.model_size, offset)
                if recipe.preprocess is not None:
                    seen = recipe.preprocess(seen)
                scores = objective_scores(read(seen), weights)  # (B,)
                loss = tf.reduce_sum(_penalty(images, recipe.regularizers) - scores)
            grad = tape.gradient(loss, params)
            params, m, v = _adam(params, grad, m, v, tf.cast(step + 1, tf.float32), lr)
            trace = trace.write(i, scores)
        return params, m, v, trace.stack()  # trace (n_steps, B)

    return run


def _check_size(size: int, transforms: tuple) -> None:
    amounts = dict(transforms)
    smallest = max(16, 4 * amounts.get("jitter", 0)) if transforms else 4
    if size < smallest:
        raise ValueError(
            f"size={size} is too small for the transforms {tuple(k for k, _ in transforms)} "
            f"(jitter {amounts.get('jitter', 0):g} px): use size >= {smallest:g} or transforms=()"
            if transforms else f"size={size} is too small: use size >= {smallest}"
        )


def visualize(
    model: keras.Model,
    objective,
    *,
    steps: int = 256,
    size: int | None = None,
    lr: float = 0.05,
    param: str = "fft",
    decorrelate: bool = True,
    transforms: tuple = ("jitter", "scale", "rotate"),
    regularizers: tuple = (),
    seed: int = 0,
    progress: bool = True,
    batch_size: int | None = None,
    preprocess: Callable | None = None,
    steps_per_call: int | None = None,
) -> Visualization:
    """Synthesise the images that maximise channels, neurons or class logits.

    ``I* = argmax_I f(I) - R(I)`` by gradient ascent (the lecture: "initialize
    the image to random noise; forward; backprop; update"), one image per
    objective, all optimised together as one batch in compiled TensorFlow.
    The same loop as :func:`pixel_ascent`, with Adam steps on a chosen
    parameterisation of the image, random transforms and penalties.

    Parameters
    ----------
    model : keras.Model
    objective : tuple, Objective, or a list of them
        ``("conv4", 5)``: mean of channel 5 of conv4 (for a dense layer:
        unit 5); ``("conv4", 5, (4, 4))``: the neuron at row 4, col 4;
        ``("logits", 2)``: class 2's logit (pre-softmax, also when the model
        ends in a softmax). An index may be a range or list,
        ``("conv4", range(8))``, giving one image per index. Also
        ``objectives.channel``, ``neuron``, ``class_logit``,
        ``class_probability`` (log softmax: raises the class and lowers
        the others), in any mix (see :mod:`labkit.objectives`).
    steps : int
        Adam steps.
    size : int or None
        Side of the optimised image; None = the model's input size. Resized
        to the model's input inside the transform when they differ.
    lr : float
        Adam learning rate.
    param : {"fft", "pixel"}
        "fft": Fourier coefficients scaled by 1/frequency (Olah et al. 2017);
        "pixel": the pixels themselves (Simonyan et al. 2013). Both end in a
        sigmoid, so images stay in [0, 1].
    decorrelate : bool
        Optimise in decorrelated colour (ImageNet's colour correlation, from
        lucid); only for 3-channel images.
    transforms : tuple
        Random ``"jitter"`` (default size // 16 px), ``"scale"`` (+-0.1) and
        ``"rotate"`` (+-10 degrees) at every step; ``("jitter", 2)`` sets an amount.
    regularizers : tuple
        Penalties R(I): ``"l2"`` (Simonyan), ``"tv"`` (total variation),
        ``"blur"`` (distance to the 3x3-blurred image); ``("l2", 0.5)`` sets a weight.
    seed : int
        Seeds the starting noise and the transforms: same seed, same images.
    progress : bool
        Show a tqdm progress bar.
    batch_size : int or None
        Images optimised together; None = all objectives at once.
    preprocess : callable or None
        Maps the [0, 1] image to the model's input inside the graph, e.g.
        ``lambda x: x * 2 - 1`` for ResNet50V2. The compiled program is
        reused for the same function object; a new lambda traces again.
    steps_per_call : int or None
        Steps per call of the compiled program; None = all of them in one
        call (8 calls with a progress bar, to update it). Results do not
        depend on it; ``benchmarks/bench_featureviz.py`` times 1 against all.

    Returns
    -------
    Visualization
        ``images`` (B, size, size, C) in [0, 1] and ``trace`` (steps, B): the
        objective at each step, measured on that step's transformed image
        before the update (without the penalties).

    Examples
    --------
    >>> images, trace = visualize(zoo.load("shapes"), ("conv4", range(8)), steps=256)  # doctest: +SKIP
    >>> images.shape, trace.shape  # doctest: +SKIP
    ((8, 64, 64, 3), (256, 8))
    """
    size, model_size, channels = _model_image_shape(model, size)
    seed = check_int(seed, "seed", low=0)
    check_choice(param, "param", ("fft", "pixel"))
    lr = _check_lr(lr, "Adam's learning rate")
    decorrelate, progress = check_flag(decorrelate, "decorrelate"), check_flag(progress, "progress")
    transforms = _named_amounts(transforms, _TRANSFORMS, "transforms", size)
    regularizers = _named_amounts(regularizers, _REGULARIZERS, "regularizers", size)
    _check_size(size, transforms)
    if preprocess is not None:
        check_callable(preprocess, "preprocess", "a function of the image tensor, e.g. lambda x: x * 2 - 1")
    objectives = as_objectives(objective)
    steps = _check_steps(steps, len(objectives), 0)
    check_memory(16 * len(objectives) * max(size, model_size) ** 2 * channels * 4, f"visualize(size={size})",
                 "use a smaller size")  # parameters, Adam's moments, images, transformed images
    read, key, weights = objective_reader(model, objectives, (model_size, model_size, channels))
    recipe = _Recipe(param, bool(decorrelate), transforms, regularizers, size, model_size, preprocess)
    run = cached(model, ("visualize", key, recipe), lambda model: _ascent_program(read, recipe))
    params = _initial_params(param, len(objectives), size, channels, seed)
    batch_size = len(objectives) if batch_size is None else check_batch_size(batch_size, len(objectives))
    if steps_per_call is None:
        steps_per_call = max(1, steps // 8) if progress else steps
    steps_per_call = check_positive_int(steps_per_call, "steps_per_call")
    images, traces = _ascend(run, _image_fn(recipe), params, weights, param, steps, steps_per_call, lr, seed,
                             batch_size, progress)
    return Visualization(images, traces)


def _ascend(run, to_image, params, weights, param, steps, every, lr, seed, batch_size, progress):
    """Run the compiled program over chunks of objectives, ``every`` steps per call."""
    from tqdm.auto import tqdm

    axis = 1 if param == "fft" else 0  # the batch axis of the parameters
    total = params.shape[axis]
    bar = tqdm(total=steps * -(-total // batch_size), desc="gradient ascent", unit="step", disable=not progress)
    images, traces = [], []
    for start in range(0, total, batch_size):
        chunk = slice(start, start + batch_size)
        p = tf.constant(params[:, chunk] if axis else params[chunk])
        m, v = tf.zeros_like(p), tf.zeros_like(p)
        w = [tf.constant(x[chunk]) for x in weights]
        parts = []
        for first in range(0, steps, every):
            n = min(every, steps - first)
            p, m, v, trace = run(p, m, v, w, tf.constant(first), tf.constant(n), tf.constant(lr), tf.constant(seed),
                                 tf.constant(start))
            parts.append(trace)
            bar.update(n)
        images.append(to_image(p).numpy())
        traces.append(tf.concat(parts, axis=0).numpy())
    bar.close()
    return np.concatenate(images), np.concatenate(traces, axis=1)
