"""Exercise checks for notebook 01, feature visualization (re-exported by :mod:`labkit.checks`).

Four exercises, each with a reference implementation, fresh inputs made from
a seed, and diagnoses of the typical mistakes:

- :func:`check_normalize_filters`: a Conv2D kernel (kh, kw, C, K) -> one
  display image per filter (K, kh, kw, C) in [0, 1], zero weight = mid-grey,
  as ``units.filters(model)`` shows them.
- :func:`check_top_k_images`: one channel's maps for many images (N, h, w)
  -> the indices of the k images that excite it most, strongest first
  ("observing a particular filter for many inputs").
- :func:`check_gradient_ascent_step`: one step of plain gradient ascent on a
  channel's mean activation (Simonyan et al. 2013), with a GradientTape.
- :func:`check_total_variation`: the total-variation regularizer R(I)
  (Mahendran & Vedaldi 2015) that ``ascent.visualize(regularizers=("tv",))`` uses.

Only numpy is imported at module level; TensorFlow and labkit's methods are
imported inside the checks that need them.
"""
from __future__ import annotations

import warnings
from typing import Callable

import numpy as np

from labkit.checks.engine import Case, CheckResult, Mismatch, add_hint, check_function, matches

__all__ = [
    "check_normalize_filters",
    "check_top_k_images",
    "check_gradient_ascent_step",
    "check_total_variation",
]


# --------------------------------------------------------------------------
# 1. first-layer filters as images
def _normalize_filters(kernel: np.ndarray) -> np.ndarray:
    """(kh, kw, C, K) kernel -> (K, kh, kw, C) in [0, 1]: 0.5 + w / (2 max|w| of the filter)."""
    weights = np.transpose(kernel, (3, 0, 1, 2))                       # (K, kh, kw, C)
    largest = np.abs(weights).max(axis=(1, 2, 3), keepdims=True)       # (K, 1, 1, 1)
    return 0.5 + weights / (2 * np.maximum(largest, 1e-12))


def _filter_cases(rng: np.random.Generator) -> list[Case]:
    rgb = rng.normal(scale=0.3, size=(3, 3, 3, 8)).astype(np.float32)
    strengths = np.array([0.05, 0.2, 1.0, 3.0], np.float32)            # filters of very different size
    positive = (rng.normal(size=(7, 7, 3, 4)) + 0.8).astype(np.float32) * strengths
    grey = rng.normal(size=(5, 5, 1, 3)).astype(np.float32)
    grey[..., 1] = 0.0                                                 # a dead filter: all weights zero
    return [Case((rgb,), label="a kernel of 8 filters, 3x3x3, shape (3, 3, 3, 8)"),
            Case((positive,), label="4 mostly positive 7x7x3 filters of very different strengths"),
            Case((grey,), label="3 grey 5x5 filters, filter 1 all zeros (a dead filter)")]


def _filters_not_transposed(m: Mismatch) -> str | None:
    kernel = m.case.args[0]
    shape = getattr(m.got, "shape", None)
    if shape is not None and shape != m.expected.shape and shape in (kernel.shape, kernel.T.shape):
        how = "as keras stores it" if shape == kernel.shape else "reversed by .T"
        return (f"your result has the kernel's axis order {shape} ({how}); keras stores a Conv2D "
                f"kernel as (kh, kw, C, K): move the filter axis K to the front with "
                f"np.transpose(kernel, (3, 0, 1, 2)) to get one (kh, kw, C) image per filter")
    return None


def _dead_filter(m: Mismatch) -> str | None:
    got = m.got
    if not isinstance(got, np.ndarray) or got.shape != m.expected.shape or got.dtype.kind != "f":
        return None
    kernel = np.transpose(m.case.args[0], (3, 0, 1, 2))
    dead = np.all(kernel == 0, axis=(1, 2, 3))
    bad = ~np.all(np.isfinite(got), axis=(1, 2, 3))
    if dead.any() and bad.any() and np.all(dead[bad]):
        return ("the all-zero filter came out as NaN: its largest |w| is 0 and you divided by it. "
                "Guard the division, e.g. np.maximum(largest, 1e-12), so a dead filter shows "
                "mid-grey (0.5)")
    return None


def _filters_rearranged(m: Mismatch) -> str | None:
    """The right normalisation of a wrongly arranged kernel: a reshape, or another transpose order."""
    import itertools

    kernel = np.asarray(m.case.args[0], np.float64)
    kh, kw, c, k = kernel.shape

    def normalised(w):
        return _normalize_filters(np.transpose(w, (1, 2, 3, 0)))    # _normalize_filters moves axis 3 first

    if m.close(m.got, normalised(kernel.reshape(k, kh, kw, c))):
        return ("you reshaped the kernel to (K, kh, kw, C): reshape keeps the numbers in their memory "
                "order and only regroups them, so each of your 'filters' mixes weights of several filters. "
                "Move the filter axis instead: np.transpose(kernel, (3, 0, 1, 2))")
    names = ("kh", "kw", "C", "K")
    for order in itertools.permutations(range(4)):
        if order in ((3, 0, 1, 2), (3, 2, 1, 0)):                  # right, or .T (its own hint)
            continue
        if m.close(m.got, normalised(np.transpose(kernel, order))):
            axes = ", ".join(names[i] for i in order)
            return (f"you transposed with the axis order {order}, which arranges the kernel as ({axes}); "
                    f"one display image per filter is (K, kh, kw, C): np.transpose(kernel, (3, 0, 1, 2))")
    return None


def _filter_wrong(fn: Callable) -> Callable:
    """A wrong normalisation applied to the transposed kernel."""
    return lambda kernel: fn(np.transpose(kernel, (3, 0, 1, 2)).astype(np.float64))


def _safe(x: np.ndarray) -> np.ndarray:
    return np.where(x == 0, 1.0, x)


def check_normalize_filters(student_fn: Callable, *, seed: int = 0, raise_on_fail: bool = True) -> CheckResult:
    """Check ``normalize_filters(kernel) -> (K, kh, kw, C)`` in [0, 1], zero weight = 0.5.

    The convention of ``units.filters(model)`` (its ``scale="filter"``):
    ``0.5 + w / (2 m)`` with ``m`` the largest ``|w|`` of each filter, so a
    zero weight is mid-grey, positive weights brighter, negative darker, and
    an all-zero filter is all 0.5.
    """
    __tracebackhide__ = True  # noqa: F841
    per_filter = (1, 2, 3)
    result = check_function(student_fn, _normalize_filters, _filter_cases, seed=seed, name="normalize_filters",
                            raise_on_fail=False, diagnoses=(
        _filters_not_transposed,
        _dead_filter,
        matches(lambda kernel: _normalize_filters(np.transpose(kernel.T, (1, 2, 3, 0))),
                "you used kernel.T, which reverses all axes to (K, C, kw, kh): rows, columns and colour "
                "channels get mixed up. Move only the filter axis to the front: "
                "np.transpose(kernel, (3, 0, 1, 2))"),
        _filters_rearranged,
        matches(_filter_wrong(lambda w: (w - w.min(axis=per_filter, keepdims=True))
                              / _safe(np.ptp(w, axis=per_filter, keepdims=True))),
                "you stretched each filter from its minimum to its maximum, so mid-grey is no longer a "
                "zero weight. Keep zero at 0.5: 0.5 + w / (2 * largest |w| of the filter)"),
        matches(_filter_wrong(lambda w: (w - w.min()) / _safe(np.ptp(w))),
                "you stretched the whole layer from its minimum to its maximum, so mid-grey is no longer "
                "a zero weight. Use 0.5 + w / (2 m), m = the largest |w| of each filter"),
        matches(_filter_wrong(lambda w: 0.5 + w / (2 * _safe(np.abs(w).max()))),
                "you divided by the largest |w| of the whole layer (that is units.filters' "
                "scale='layer'); this exercise scales each filter by its own largest |w|: "
                "np.abs(w).max(axis=(1, 2, 3), keepdims=True)"),
        matches(_filter_wrong(lambda w: 0.5 + w / (2 * _safe(np.abs(w).max(axis=(1, 2), keepdims=True)))),
                "you scaled each colour channel of a filter separately, which changes its colours; use "
                "one m per filter, over all its (kh, kw, C) weights: axis=(1, 2, 3)"),
        matches(_filter_wrong(lambda w: 0.5 + w / (2 * _safe(w.max(axis=per_filter, keepdims=True)))),
                "you divided by the largest weight, not the largest absolute weight: a filter whose "
                "strongest weight is negative then leaves [0, 1]. Use np.abs(w).max(...)"),
        matches(_filter_wrong(lambda w: w / (2 * _safe(np.abs(w).max(axis=per_filter, keepdims=True)))),
                "your values lie in [-0.5, 0.5]: add 0.5 so that a zero weight is mid-grey"),
        matches(_filter_wrong(lambda w: 0.5 + w / _safe(np.abs(w).max(axis=per_filter, keepdims=True))),
                "your values reach -0.5 and 1.5: divide by 2 m (not m) so they stay in [0, 1]"),
        matches(_filter_wrong(lambda w: w / _safe(np.abs(w).max(axis=per_filter, keepdims=True))),
                "your values lie in [-1, 1]: map them to [0, 1] with 0.5 + w / (2 m)"),
    ))
    return add_hint(result, "could not be broadcast",
                    "the largest |w| per filter has shape (K,), which does not broadcast against "
                    "(K, kh, kw, C); keep the reduced axes: np.abs(w).max(axis=(1, 2, 3), keepdims=True) "
                    "has shape (K, 1, 1, 1)", raise_on_fail)


# --------------------------------------------------------------------------
# 2. observing a filter for many inputs
def _top_k_images(maps: np.ndarray, k: int) -> np.ndarray:
    """(N, h, w) maps of one channel -> (k,) indices, strongest max activation first."""
    scores = maps.reshape(len(maps), -1).max(axis=1)                  # (N,)
    return np.argsort(-scores, kind="stable")[:k]


def _top_cases(rng: np.random.Generator) -> list[Case]:
    def relu_maps(n, h, w):
        return np.maximum(rng.normal(size=(n, h, w)) - 1.0, 0.0).astype(np.float32)  # sparse, like ReLU maps
    many = relu_maps(200, 4, 4)
    one_spot = np.zeros((6, 5, 5), np.float32)
    one_spot[:, 1:4, 1:4] = rng.uniform(0.1, 1.0, size=(6, 1, 1))     # broad, weak activations ...
    one_spot[4, 0, 0] = 5.0                                            # ... and one strong spot
    return [Case((relu_maps(50, 8, 8), 5), label="50 maps of 8x8, k=5"),
            Case((many, 9), label="200 sparse maps of 4x4, k=9"),
            Case((one_spot, 3), label="6 maps, image 4 has one strong spot and a weak rest, k=3")]


def _scores(maps: np.ndarray, how: str = "max") -> np.ndarray:
    flat = maps.reshape(len(maps), -1)
    return flat.max(axis=1) if how == "max" else flat.mean(axis=1)


def _same_set_wrong_order(m: Mismatch) -> str | None:
    got = m.got
    if (isinstance(got, np.ndarray) and got.shape == m.expected.shape and got.dtype.kind in "iu"
            and set(got.tolist()) == set(m.expected.tolist())):
        return ("you found the right images, but not in order: sort them strongest first "
                "(e.g. np.argsort(-scores)[:k])")
    return None


def _returned_scores(m: Mismatch) -> str | None:
    got = m.got
    if isinstance(got, np.ndarray) and got.dtype.kind == "f" and got.shape == m.expected.shape:
        maps = m.case.args[0]
        if m.close(np.sort(got)[::-1], _scores(maps)[m.expected]) or m.close(got, _scores(maps)[m.expected]):
            return "you returned the activations; return the indices of the images (np.argsort gives indices)"
    return None


def check_top_k_images(student_fn: Callable, *, seed: int = 0, raise_on_fail: bool = True) -> CheckResult:
    """Check ``top_k_images(maps, k) -> (k,)`` indices, ranked by each map's max, strongest first.

    As ``units.top_examples(..., reduce="max")``: an image scores the
    activation of its strongest position; ties keep the lower index first.
    """
    __tracebackhide__ = True  # noqa: F841
    return check_function(student_fn, _top_k_images, _top_cases, seed=seed, name="top_k_images",
                          raise_on_fail=raise_on_fail, diagnoses=(
        _returned_scores,
        matches(lambda maps, k: np.argsort(_scores(maps))[:k],
                "these are the k *weakest* images: np.argsort sorts ascending, so sort by -scores "
                "(or reverse the order) to get the strongest first"),
        matches(lambda maps, k: np.argsort(_scores(maps))[-k:],
                "the right images, but the weakest of them first: put the strongest first "
                "(np.argsort(-scores)[:k], or reverse with [::-1])"),
        matches(lambda maps, k: np.argsort(-_scores(maps, "mean"), kind="stable")[:k],
                "you ranked the images by the mean (or sum) of the map; rank them by its strongest "
                "position, the max over (h, w): a small object that excites one position strongly "
                "should count"),
        _same_set_wrong_order,
    ))


# --------------------------------------------------------------------------
# 3. one step of gradient ascent
def _tiny_model(rng: np.random.Generator):
    """A 16x16 RGB CNN (conv1: 4 channels, conv2: 8) with weights drawn from ``rng``."""
    from labkit import zoo
    model = zoo.build_cnn((16, 16, 3), 3, widths=(4, 8), name="tiny_cnn")
    model.set_weights([(rng.normal(size=w.shape) * (0.5 if w.ndim > 1 else 0.1)).astype(np.float32)
                       for w in model.get_weights()])
    return model


def _channel_gradient(model, image: np.ndarray, layer: str, channel: int, *, reduce: str = "mean",
                      whole_layer: bool = False) -> np.ndarray:
    """d mean(layer[..., channel]) / d image for one (H, W, C) image -> (H, W, C)."""
    import tensorflow as tf

    from labkit import layers
    fmodel = layers.feature_model(model, layer, logits=False)
    x = tf.convert_to_tensor(image[None])                            # (1, H, W, C)
    with tf.GradientTape() as tape:
        tape.watch(x)
        maps = fmodel(x, training=False)                              # (1, h, w, K)
        chosen = maps if whole_layer else maps[..., channel]
        score = tf.reduce_mean(chosen) if reduce == "mean" else tf.reduce_sum(chosen)
    return tape.gradient(score, x)[0].numpy()                        # (H, W, C)


def _gradient_ascent_step(model, image: np.ndarray, layer: str, channel: int, lr: float) -> np.ndarray:
    """image + lr * d mean(layer[..., channel]) / d image (unclipped, unnormalised)."""
    return image + lr * _channel_gradient(model, image, layer, channel)


def _ascent_cases(rng: np.random.Generator) -> list[Case]:
    from labkit import layers
    model = _tiny_model(rng)
    cases = []
    for layer, label in (("conv2", "conv2 of a tiny 16x16 CNN"), ("conv1", "conv1 of the same CNN"),
                         ("conv2", "another image, another conv2 channel")):
        image = rng.uniform(0, 1, size=(16, 16, 3)).astype(np.float32)
        maps = layers.feature_model(model, layer, logits=False)(image[None], training=False)  # (1, h, w, K)
        means = np.asarray(maps)[0].mean(axis=(0, 1))                 # (K,)
        alive = np.flatnonzero(means > 0)
        channel = int(rng.choice(alive)) if len(alive) else int(np.argmax(means))
        grad = _channel_gradient(model, image, layer, channel)
        lr = float(np.round(0.2 / max(np.abs(grad).max(), 1e-6), 3))  # largest step about 0.2
        cases.append(Case((model, image, layer, channel, lr), label=f"{label}, channel {channel}, lr={lr:g}"))
    return cases


def _step_wrong(grad_fn: Callable, combine: Callable) -> Callable:
    def wrong(model, image, layer, channel, lr):
        return combine(image, lr, grad_fn(model, image, layer, channel))
    return wrong


def _grad(**kw) -> Callable:
    return lambda model, image, layer, channel: _channel_gradient(model, image, layer, channel, **kw)


def _unchanged(m: Mismatch) -> str | None:
    image = m.case.args[1]
    if m.close(m.got, image):
        return ("your image did not change: add lr * gradient to it, and make sure the gradient is "
                "taken with respect to the image (tape.watch(x) on a tensor made from it)")
    return None


def check_gradient_ascent_step(student_fn: Callable, *, seed: int = 0, raise_on_fail: bool = True) -> CheckResult:
    """Check ``gradient_ascent_step(model, image, layer, channel, lr) -> (H, W, C)``.

    One step of plain gradient ascent (Simonyan et al. 2013), the lecture's
    loop body: forward the image, backprop the mean activation of channel
    ``channel`` of ``layer`` to the pixels, and return ``image + lr * gradient``
    (no clipping, no normalisation), as a numpy array. Checked on a tiny CNN
    with random weights; the model's weights must not change.
    """
    __tracebackhide__ = True  # noqa: F841
    plus = lambda image, lr, g: image + lr * g  # noqa: E731
    result = check_function(student_fn, _gradient_ascent_step, _ascent_cases, seed=seed,
                            name="gradient_ascent_step", raise_on_fail=False, rtol=1e-4, atol=1e-5, diagnoses=(
        _unchanged,
        matches(_step_wrong(_grad(), lambda image, lr, g: image - lr * g),
                "you stepped *down* the gradient (gradient descent, as when minimising a loss): "
                "ascent maximises the activation, so add lr * gradient to the image"),
        matches(_step_wrong(_grad(), lambda image, lr, g: lr * g),
                "you returned the step lr * gradient; return the updated image, image + lr * gradient"),
        matches(_step_wrong(_grad(), lambda image, lr, g: g),
                "you returned the gradient; return the updated image, image + lr * gradient"),
        matches(_step_wrong(_grad(reduce="sum"), plus),
                "you maximised the *sum* of the channel over positions; the objective is its mean "
                "(tf.reduce_mean), so the step does not depend on the size of the feature map"),
        matches(_step_wrong(_grad(whole_layer=True), plus),
                "you maximised the mean of the whole layer (all channels); select the channel first: "
                "activations[..., channel]"),
        matches(_step_wrong(_grad(), lambda image, lr, g: np.clip(image + lr * g, 0, 1)),
                "you clipped the image to [0, 1]; return the unclipped image + lr * gradient "
                "(ascent.visualize keeps images valid with a sigmoid instead)"),
        matches(_step_wrong(_grad(), lambda image, lr, g: image + lr * g / np.linalg.norm(g)),
                "you normalised the gradient (divided by its norm); this exercise takes the plain "
                "step image + lr * gradient"),
        matches(_step_wrong(_grad(), lambda image, lr, g: image + lr * g / np.abs(g).max()),
                "you normalised the gradient (divided by its largest value); this exercise takes the "
                "plain step image + lr * gradient"),
        matches(_step_wrong(_grad(), lambda image, lr, g: image + lr * np.sign(g)),
                "you used the sign of the gradient (as FGSM does); take the plain step image + lr * gradient"),
    ))
    return add_hint(result, "NoneType",
                    "tape.gradient returned None: the tape did not watch the image. Make it a tensor, "
                    "x = tf.convert_to_tensor(image[None]), call tape.watch(x) inside the "
                    "`with tf.GradientTape() as tape:` block, and compute the score from x there",
                    raise_on_fail)


# --------------------------------------------------------------------------
# 4. a regularizer R(I): total variation
def _total_variation(images: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> (N,): mean |vertical neighbour difference| + mean |horizontal difference|."""
    dy = np.abs(images[:, 1:] - images[:, :-1])                       # (N, H-1, W, C)
    dx = np.abs(images[:, :, 1:] - images[:, :, :-1])                 # (N, H, W-1, C)
    return dy.mean(axis=(1, 2, 3)) + dx.mean(axis=(1, 2, 3))


def _tv_cases(rng: np.random.Generator) -> list[Case]:
    noisy = rng.uniform(0, 1, size=(2, 5, 7, 3)).astype(np.float32)
    grey = rng.uniform(0, 1, size=(1, 6, 4, 1)).astype(np.float32)
    rows, cols = np.indices((8, 8))
    checker = np.repeat(((rows + cols) % 2).astype(np.float32)[None, ..., None], 3, axis=-1)
    flat = np.full((8, 8, 3), rng.uniform(0.2, 0.8), np.float32)
    stripes = np.repeat((cols % 2).astype(np.float32)[..., None], 3, axis=-1) * rng.uniform(0.5, 1.0)
    return [Case((noisy,), label="2 noisy 5x7 RGB images"),
            Case((grey,), label="one grey 6x4 image (1 channel)"),
            Case((np.stack([flat, checker[0], stripes]).astype(np.float32),),
                 label="a constant image (TV 0), a 0/1 checkerboard (TV 2) and vertical stripes")]


def _tv_batch_axis(m: Mismatch) -> str | None:
    images = m.case.args[0]
    shape = getattr(m.got, "shape", None)
    if shape == (len(images) - 1,) and len(images) > 1:
        return ("your result has one value too few: you took differences along the batch axis (axis 0). "
                "Neighbouring pixels are along axes 1 (rows) and 2 (columns)")
    return None


def _tv_wrong_axes(m: Mismatch) -> str | None:
    """Differences along another pair of axes than rows and columns (with numpy broadcasting)."""
    images = m.case.args[0].astype(np.float64)
    for a, b in ((0, 1), (0, 2), (1, 3), (2, 3), (0, 3)):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the mean of an empty difference (one image) is NaN
            try:
                candidate = sum(np.abs(np.diff(images, axis=k)).mean(axis=(1, 2, 3)) for k in (a, b))
            except ValueError:  # shapes that do not broadcast
                continue
        if m.close(m.got, candidate):
            return (f"you took differences along axes {a} and {b}; neighbouring pixels are along axes 1 "
                    f"(rows) and 2 (columns), e.g. images[:, 1:] - images[:, :-1]")
    return None


def check_total_variation(student_fn: Callable, *, seed: int = 0, raise_on_fail: bool = True) -> CheckResult:
    """Check ``total_variation(images) -> (N,)``: mean |dy| + mean |dx| per image.

    The regularizer ``ascent.visualize(regularizers=("tv",))`` adds to
    the objective (Mahendran & Vedaldi 2015): for each image, the mean absolute
    difference between vertically neighbouring pixels plus the same for
    horizontal neighbours, each mean over all rows, columns and channels.
    """
    __tracebackhide__ = True  # noqa: F841

    def dy(x):
        return x[:, 1:] - x[:, :-1]

    def dx(x):
        return x[:, :, 1:] - x[:, :, :-1]

    axes = (1, 2, 3)
    return check_function(student_fn, _total_variation, _tv_cases, seed=seed, name="total_variation",
                          raise_on_fail=raise_on_fail, diagnoses=(
        _tv_batch_axis,
        matches(lambda x: np.abs(dy(x)).mean(axis=axes),
                "you only compared vertical neighbours (rows); add the horizontal ones (columns)"),
        matches(lambda x: np.abs(dx(x)).mean(axis=axes),
                "you only compared horizontal neighbours (columns); add the vertical ones (rows)"),
        matches(lambda x: np.square(dy(x)).mean(axis=axes) + np.square(dx(x)).mean(axis=axes),
                "you squared the differences; this total variation takes their absolute value (np.abs), "
                "which allows sharp edges but punishes noise"),
        matches(lambda x: np.abs(dy(x)).sum(axis=axes) + np.abs(dx(x)).sum(axis=axes),
                "you summed the differences; take the mean over rows, columns and channels, "
                "np.mean(..., axis=(1, 2, 3)), so the penalty does not grow with the image size"),
        matches(lambda x: np.mean(np.abs(dy(x))) + np.mean(np.abs(dx(x))),
                "you returned one number for the whole batch; return one value per image (N,): "
                "take the mean over axis=(1, 2, 3) only"),
        _tv_wrong_axes,
    ))
