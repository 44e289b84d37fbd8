"""Exercise checks for notebook 02, feature attribution (re-exported by :mod:`labkit.checks`).

Four exercises, each checked on fresh inputs against the labkit reference,
with diagnoses of the typical mistakes:

- :func:`check_saliency`: ``saliency(model, images, target)`` with a
  ``tf.GradientTape``: ``|dS_c/dx|`` of the target's *logit*, max over RGB
  (Simonyan et al. 2013), against :func:`labkit.gradients.saliency`.
- :func:`check_occlusion_map`: ``occlusion_map(model, image, target, patch,
  stride)``, a loop over windows filled with 0; the mean drop of the target's
  *probability* over the windows covering each pixel (Zeiler & Fergus 2014),
  against :func:`labkit.occlusion.occlusion` with ``output="probability"``.
- :func:`check_cam_from_weights`: ``cam_from_weights(feature_maps,
  dense_weights, target)``, the class activation map ``sum_k W[k, c] A_k``
  (Zhou et al. 2016), which is what :func:`labkit.cam.cam` computes.
- :func:`check_pointing_game`: ``pointing_game(maps, masks)``, 1.0 when a
  map's maximum lies on the object (Zhang et al. 2016), against
  :func:`labkit.metrics.pointing_game`.

The models are tiny random CNNs (16x16 or 12x12 inputs), so each check takes
well under a few seconds. Only numpy is imported at module level;
TensorFlow and labkit's methods are imported inside the functions that need them.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from labkit.checks.engine import Case, CheckResult, Mismatch, add_hint, check_function, matches

__all__ = ["check_saliency", "check_occlusion_map", "check_cam_from_weights", "check_pointing_game"]


# --------------------------------------------------------------------------
# shared: tiny models with varied, not saturated, predictions
_MODELS: dict = {}


def _tiny_model(seed: int, size: int = 16, classes: int = 3):
    """A small random CNN (conv1 -> pool -> conv2 -> pool -> conv3 -> gap -> logits), cached.

    He-normal weights from ``seed``; the logits layer is scaled so that the
    logits of random images spread over a few units (probabilities between
    about 0.05 and 0.9: occlusion then changes them visibly).
    """
    key = (seed, size, classes)
    if key not in _MODELS:
        from labkit import zoo

        rng = np.random.default_rng(seed)
        model = zoo.build_cnn((size, size, 3), classes, widths=(4, 8, 8), name=f"tiny_cnn_{seed}")
        weights = [rng.normal(scale=np.sqrt(2.0 / np.prod(w.shape[:-1])), size=w.shape) if w.ndim > 1
                   else rng.normal(scale=0.05, size=w.shape) for w in model.get_weights()]
        model.set_weights([w.astype(np.float32) for w in weights])
        head = model.get_layer("logits")
        kernel, bias = head.get_weights()
        head.set_weights([kernel, np.zeros_like(bias)])
        logits = _logits(model, _images(rng, 32, size))                     # (32, classes)
        scale = 1.5 / (float(logits.std(axis=0).mean()) + 1e-6)
        head.set_weights([kernel * scale, -scale * logits.mean(axis=0)])    # every class gets its turn
        _MODELS[key] = model
    return _MODELS[key]


def _images(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Random images in [0, 1] with a bright square each, so the models see some structure."""
    images = 0.6 * rng.random((n, size, size, 3), dtype=np.float32)
    for image in images:
        y, x = rng.integers(0, size // 2, 2)
        image[y:y + size // 3, x:x + size // 3] += 0.4 * rng.random(3, dtype=np.float32)
    return images.astype(np.float32)


def _logits(model, images) -> np.ndarray:
    return np.asarray(model(np.asarray(images, np.float32), training=False))


def _runner_up(model, image) -> int:
    """The second most probable class of one image: not predicted, but with a visible probability."""
    return int(np.argsort(_logits(model, image[None])[0])[-2])


def _not_predicted(model, images, rng) -> np.ndarray:
    """A target per image that is *not* the predicted class (catches 'used argmax')."""
    predicted = _logits(model, images).argmax(axis=1)
    classes = model.output_shape[-1]
    return ((predicted + rng.integers(1, classes, len(predicted))) % classes).astype(np.int64)


# --------------------------------------------------------------------------
# 1. saliency with a GradientTape
_GRADIENTS: dict = {}


def _input_gradients(model, images, target, *, score: str = "logit") -> np.ndarray:
    """dS/dx (N, H, W, C) for a chosen score: the target's logit, probability, or a wrong one.

    Remembered for the last few inputs: the diagnoses ask for the same gradients many times.
    """
    images, target = np.asarray(images, np.float32), np.asarray(target)
    key = (id(model), score, images.shape, images.tobytes(), target.tobytes())
    if key not in _GRADIENTS:
        if len(_GRADIENTS) > 32:
            _GRADIENTS.clear()
        _GRADIENTS[key] = _compute_input_gradients(model, images, target, score)
    return _GRADIENTS[key].copy()


def _compute_input_gradients(model, images, target, score: str) -> np.ndarray:
    import tensorflow as tf

    x = tf.convert_to_tensor(np.asarray(images, np.float32))
    target = np.asarray(target)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model(x, training=False)                                 # (N, classes)
        if score == "probability":
            chosen = tf.gather(tf.nn.softmax(logits), target, axis=1, batch_dims=1)
        elif score == "predicted":
            chosen = tf.reduce_max(logits, axis=1)
        elif score == "all":
            chosen = tf.reduce_sum(logits, axis=1)
        elif score == "columns":                                          # logits[:, target]
            chosen = tf.gather(logits, target, axis=1)
        elif score == "loss":
            chosen = tf.keras.losses.sparse_categorical_crossentropy(target, logits, from_logits=True)
        else:
            chosen = tf.gather(logits, target, axis=1, batch_dims=1)      # (N,)
        total = tf.reduce_sum(chosen)
    return tape.gradient(total, x).numpy()


def _saliency_variant(score: str = "logit", reduce: Callable = lambda g: np.abs(g).max(axis=-1)) -> Callable:
    return lambda model, images, target: reduce(_input_gradients(model, images, target, score=score))


def _saliency_cases(rng: np.random.Generator) -> list[Case]:
    model, small = _tiny_model(101), _tiny_model(102, size=12, classes=4)
    three, two, one = _images(rng, 3, 16), _images(rng, 2, 12), _images(rng, 1, 16)
    return [
        Case((model, three, _not_predicted(model, three, rng)),
             label="3 images 16x16x3, targets that are not the predicted classes"),
        Case((small, two, _not_predicted(small, two, rng)), label="another model, 2 images 12x12x3"),
        Case((model, one, rng.integers(0, 3, 1)), label="a batch of one image"),
    ]


_TAPE_TROUBLE = ("NoneType", "(None)", "'_id'")
_TAPE_HINT = ("tape.gradient got nothing to differentiate: the tape only follows tensors it watches. "
              "Convert the images with x = tf.convert_to_tensor(images), call tape.watch(x), and run "
              "the model and pick the target's logit inside the `with` block; then tape.gradient(score, x)")


def check_saliency(student_fn: Callable, *, seed: int = 0, raise_on_fail: bool = True) -> CheckResult:
    """Check ``saliency(model, images, target) -> (N, H, W)`` numpy maps.

    The lecture: "compute the gradient of the class score with respect to the
    image pixels; take the absolute value and the max over the RGB channels"
    (Simonyan et al. 2013). The class score is the target's logit (before
    softmax); ``target`` is an (N,) array with one class per image. The
    reference is :func:`labkit.gradients.saliency`. ``seed`` picks the fresh
    inputs (hidden tests use another seed than the visible check).
    """
    __tracebackhide__ = True  # noqa: F841
    from labkit import gradients

    result = check_function(
        student_fn, lambda m, x, t: gradients.saliency(m, x, t),
        _saliency_cases, seed=seed, name="saliency", raise_on_fail=False, rtol=1e-3, atol=1e-5,
        diagnoses=(
            matches(_saliency_variant("probability"),
                    "you differentiated the softmax probability: use the target's logit, the model's "
                    "output before softmax (the zoo models output logits; do not apply tf.nn.softmax)"),
            matches(_saliency_variant("predicted"),
                    "you explained the predicted class (the largest logit): use the `target` class of "
                    "each image, e.g. tf.gather(logits, target, axis=1, batch_dims=1)"),
            # on one case the two can coincide (targets covering every class): the pattern over all
            # cases tells them apart
            matches(_saliency_variant("all"),
                    "you differentiated the sum of all the logits (every class of every image): use only "
                    "each image's target logit, tf.gather(logits, target, axis=1, batch_dims=1)",
                    every_case=True),
            matches(_saliency_variant("columns"),
                    "logits[:, target] picks N columns for every image, an (N, N) array: pick one logit "
                    "per image, e.g. tf.gather(logits, target, axis=1, batch_dims=1)", every_case=True),
            matches(_saliency_variant("loss"),
                    "you differentiated a loss: a saliency map uses the gradient of the class score "
                    "(the target's logit) itself"),
            matches(_saliency_variant(reduce=lambda g: g.max(axis=-1)),
                    "you forgot the absolute value: a large negative gradient matters as much as a "
                    "large positive one, so take the abs before the max over RGB"),
            matches(_saliency_variant(reduce=lambda g: np.abs(g.max(axis=-1))),
                    "you took the max over RGB first and the absolute value after it: take abs first"),
            matches(_saliency_variant(reduce=lambda g: np.abs(g).mean(axis=-1)),
                    "you averaged over the colour channels: the lecture takes the max over RGB"),
            matches(_saliency_variant(reduce=lambda g: np.abs(g).sum(axis=-1)),
                    "you summed over the colour channels: the lecture takes the max over RGB"),
            matches(_saliency_variant(reduce=lambda g: np.square(g).max(axis=-1)),
                    "you squared the gradient: take its absolute value"),
        ))
    return add_hint(result, _TAPE_TROUBLE, _TAPE_HINT, raise_on_fail)


# --------------------------------------------------------------------------
# 2. occlusion loop
def _starts(size: int, patch: int, stride: int, edge: bool = True) -> list[int]:
    """Window starts 0, stride, ... plus one flush with the edge (as labkit.occlusion and the notebook)."""
    starts = list(range(0, size - patch + 1, stride))
    if edge and starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


def _occlusion_variant(*, output: str = "probability", reduce: str = "mean", edge: bool = True,
                       fill: str = "zero", target: str = "given", sign: float = 1.0) -> Callable:
    """A numpy occlusion loop with one thing changed: the mistake a diagnosis looks for."""

    def occlusion_map(model, image, target_class, patch, stride):
        from labkit.targets import softmax

        image = np.asarray(image, np.float32)
        height, width = image.shape[:2]
        value = {"mean": image.mean(), "one": 1.0, "grey": 0.5}.get(fill, 0.0)
        windows = [(y, x) for y in _starts(height, patch, stride, edge) for x in _starts(width, patch, stride, edge)]
        copies = np.repeat(image[None], len(windows) + 1, axis=0)         # copy 0 stays intact
        for k, (y, x) in enumerate(windows, start=1):
            copies[k, y:y + patch, x:x + patch] = value
        logits = _logits(model, copies)
        if output == "softmax0":                                          # over the copies, not the classes
            scores = softmax(logits.T).T
        elif output == "softmax0_apart":                                  # intact alone, then the windows
            scores = np.concatenate([np.ones_like(logits[:1]), softmax(logits[1:].T).T])
        else:
            scores = logits if output == "logit" else softmax(logits)
        c = int(np.argmax(logits[0])) if target == "predicted" else int(target_class)
        drops = sign * (scores[0, c] - scores[1:, c])                     # (windows,)
        total, count = np.zeros((height, width)), np.zeros((height, width))
        for drop, (y, x) in zip(drops, windows):
            total[y:y + patch, x:x + patch] += drop
            count[y:y + patch, x:x + patch] += 1
        if reduce == "sum":
            return total
        if reduce == "last":                                              # assigned, not accumulated
            last = np.zeros((height, width))
            for drop, (y, x) in zip(drops, windows):
                last[y:y + patch, x:x + patch] = drop
            return last
        return np.divide(total, count, out=np.zeros_like(total), where=count > 0)

    return occlusion_map


def _occlusion_cases(rng: np.random.Generator) -> list[Case]:
    model, small = _tiny_model(201), _tiny_model(202, size=12, classes=4)
    image, other = _images(rng, 1, 16)[0], _images(rng, 1, 12)[0]
    return [
        Case((model, image, _runner_up(model, image), 4, 4),
             label="a 16x16 image, patch 4, stride 4 (windows side by side)"),
        Case((model, image, int(_logits(model, image[None]).argmax()), 6, 4),
             label="the same image, patch 6, stride 4 (windows overlap; the last one is flush with the edge)"),
        Case((small, other, _runner_up(small, other), 5, 2),
             label="another model, a 12x12 image, patch 5, stride 2"),
    ]


def check_occlusion_map(student_fn: Callable, *, seed: int = 0, raise_on_fail: bool = True) -> CheckResult:
    """Check ``occlusion_map(model, image, target, patch, stride) -> (H, W)`` numpy map.

    Zeiler & Fergus 2014, as the lecture puts it: "mask part of the image,
    see how much the prediction probability for a class changes". Every
    ``patch`` x ``patch`` window (starts from ``window_starts``) is filled
    with 0; the map at a pixel is the mean of ``p_c(image) - p_c(occluded)``
    over the windows covering it, with ``p`` the softmax of the logits. The
    reference is :func:`labkit.occlusion.occlusion` with
    ``output="probability"``.
    """
    __tracebackhide__ = True  # noqa: F841
    from labkit import occlusion

    def reference(model, image, target, patch, stride):
        return occlusion.occlusion(model, image, target, patch=patch, stride=stride, fill=0.0,
                                   output="probability")

    return check_function(
        student_fn, reference, _occlusion_cases, seed=seed, name="occlusion_map",
        raise_on_fail=raise_on_fail, rtol=1e-3, atol=1e-5, diagnoses=(
            matches(_occlusion_variant(sign=-1.0),
                    "your drops have the opposite sign: compute p(intact image) - p(occluded image), "
                    "so that covering something the model needs gives a positive value"),
            matches(_occlusion_variant(output="logit"),
                    "you measured the drop of the logit: the lecture measures the class *probability*, "
                    "the softmax of the logits (tf.nn.softmax(model(x)))"),
            matches(_occlusion_variant(target="predicted"),
                    "you measured the predicted class: use the `target` class"),
            matches(_occlusion_variant(reduce="sum"),
                    "you added up the drops of the windows covering a pixel: divide by how many windows "
                    "cover it (count them in a second array) to get the mean"),
            matches(_occlusion_variant(reduce="last"),
                    "each pixel keeps only the drop of the last window covering it: add the drops up "
                    "(+=) and divide by the number of windows covering the pixel"),
            _missing_edges,
            matches(_occlusion_variant(fill="mean"),
                    "you filled the window with the image's mean: fill it with 0 (black)"),
            matches(_occlusion_variant(fill="one"),
                    "you filled the window with 1 (white): fill it with 0 (black)"),
            matches(_occlusion_variant(fill="grey"),
                    "you filled the window with 0.5 (grey): this exercise fills it with 0 (black)"),
            *(matches(_occlusion_variant(output=how), _SOFTMAX_AXIS_HINT)
              for how in ("softmax0", "softmax0_apart")),
            _all_zero_map,
        ))


def _missing_edges(m: Mismatch) -> str | None:
    """Windows only at 0, stride, ...: pixels near the bottom/right edge uncovered (0 or NaN there)."""
    if not m.arrays:
        return None
    candidate = _occlusion_variant(edge=False)(*m.case.args)         # 0 where no window covers a pixel
    if m.close(np.nan_to_num(m.got, nan=0.0), candidate):
        return ("the windows flush with the bottom and right edges are missing, so some pixels are "
                "never covered (0/0 = NaN there): use the window_starts(size, patch, stride) helper "
                "for the start positions")
    return None


_SOFTMAX_AXIS_HINT = ("you took the softmax over axis 0, across the images of the batch: the probabilities "
                      "of one image are a softmax over its classes, the last axis (tf.nn.softmax's default, "
                      "axis=-1)")


class _RecordingModel:
    """Wraps a keras model and keeps every batch of images the student's function gives it."""

    def __init__(self, model):
        self._model, self.seen = model, []

    def _record(self, x):
        self.seen.append(np.array(x, np.float32).reshape(-1, *np.shape(x)[-3:]))

    def __call__(self, x, *args, **kwargs):
        self._record(x)
        return self._model(x, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        self._record(x)
        return self._model.predict(x, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._model, name)


def _all_zero_map(m: Mismatch) -> str | None:
    """Every drop 0: either nothing was occluded, or the 'probabilities' were all 1 (softmax over axis 0)."""
    if not m.arrays or np.abs(m.got).max() > 1e-7:
        return None
    model, image, *rest = m.case.args
    recorder = _RecordingModel(model)
    m.student(recorder, image.copy(), *rest)
    seen = np.concatenate(recorder.seen) if recorder.seen else np.empty((0, *image.shape))
    occluded = [x for x in seen if not np.array_equal(x, image)]
    if not occluded:
        return ("your map is all zeros and the model never saw an occluded image: every image you passed "
                "it was the intact one. Occlude a copy, `occluded = image.copy()`, set its window to 0, "
                "and give the model `occluded`")
    return ("your map is all zeros although the model saw the occluded images: the probability never "
            "changed. A softmax over axis 0 of a batch of one image is 1.0 for every class; take it over "
            "the classes, the last axis (tf.nn.softmax's default, axis=-1)")


# --------------------------------------------------------------------------
# 3. CAM from the dense weights
def _cam(feature_maps: np.ndarray, dense_weights: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Zhou et al. 2016: ``CAM_c[i, j] = sum_k W[k, c] A_k[i, j]``; (N, h, w, K) -> (N, h, w)."""
    weights = dense_weights[:, np.asarray(target)].T                     # (N, K): column c of W per image
    return np.einsum("nhwk,nk->nhw", feature_maps, weights)


def _cam_cases(rng: np.random.Generator) -> list[Case]:
    from labkit import layers

    model = _tiny_model(301, classes=4)
    images = _images(rng, 2, 16)
    real_maps = layers.activations(model, images, "conv3")               # (2, 4, 4, 8) after ReLU
    real_weights = model.get_layer("logits").get_weights()[0]            # (8, 4)

    def relu_maps(*shape):
        return np.maximum(rng.normal(size=shape), 0).astype(np.float32)

    return [
        Case((relu_maps(2, 4, 5, 6), rng.normal(size=(6, 3)).astype(np.float32), np.array([2, 0])),
             label="feature maps (2, 4, 5, 6), dense weights (6, 3), targets [2, 0]"),
        Case((relu_maps(3, 3, 3, 7), rng.normal(size=(7, 5)).astype(np.float32), np.array([4, 4, 1])),
             label="feature maps (3, 3, 3, 7), dense weights (7, 5), targets [4, 4, 1]"),
        Case((real_maps, real_weights, _not_predicted(model, images, rng)),
             label="a CNN's last conv maps (2, 4, 4, 8) and its logits layer's kernel (8, 4)"),
    ]


def _returned_scores(m: Mismatch) -> str | None:
    got = np.asarray(m.got) if m.got is not None else None
    if got is not None and got.shape == m.expected.shape[:1]:
        return ("you returned one number per image (the mean over positions is the class logit, "
                "minus the bias): CAM keeps the (h, w) map, so do not average over the positions")
    return None


def check_cam_from_weights(student_fn: Callable, *, seed: int = 0, raise_on_fail: bool = True) -> CheckResult:
    """Check ``cam_from_weights(feature_maps, dense_weights, target) -> (N, h, w)``.

    Zhou et al. 2016: for ``A (N, h, w, K) -> GAP -> Dense(W (K, classes))``
    the class activation map of class ``c`` is ``sum_k W[k, c] A_k``, signed
    (no ReLU, no normalisation), at the feature maps' resolution. This is
    what :func:`labkit.cam.cam` computes from a model.
    """
    __tracebackhide__ = True  # noqa: F841

    def wrong(combine: Callable) -> Callable:
        return lambda a, w, t: combine(a, w, np.asarray(t))

    return check_function(
        student_fn, _cam, _cam_cases, seed=seed, name="cam_from_weights", raise_on_fail=raise_on_fail,
        diagnoses=(
            matches(wrong(lambda a, w, t: np.maximum(_cam(a, w, t), 0)),
                    "you applied a ReLU: CAM (Zhou et al.) keeps the negative values, evidence against "
                    "the class; the ReLU belongs to Grad-CAM"),
            matches(wrong(lambda a, w, t: _cam(a, w, t) / a.shape[-1]),
                    "you averaged over the K channels: CAM is the weighted *sum* over the channels"),
            matches(wrong(lambda a, w, t: _cam(a, w, np.full_like(t, t[0]))),
                    "every image got the class of the first image: use target[i] for image i"),
            matches(wrong(lambda a, w, t: _cam(a, w, t) / a.shape[1] / a.shape[2]),
                    "you divided by h * w: that is Grad-CAM's weight (the mean gradient); CAM uses the "
                    "dense weights W[k, c] themselves"),
            _every_class,
            _returned_scores,
        ))


def _every_class(m: Mismatch) -> str | None:
    """(N, h, w, classes): the maps of every class, not the target's."""
    feature_maps, dense_weights, target = m.case.args
    got = m.got
    if not isinstance(got, np.ndarray) or got.shape != (*m.expected.shape, dense_weights.shape[1]):
        return None
    if m.close(got[np.arange(len(got)), ..., np.asarray(target)], m.expected):
        return (f"you computed the map of every class, shape {got.shape}: CAM explains one class per image, "
                f"so use only column target[i] of the dense weights, dense_weights[:, target] (K, N)")
    return ("your result has one map per class (a last axis of size "
            f"{dense_weights.shape[1]}, the number of classes): use only column target[i] of the dense "
            "weights for image i")

def _pointing_cases(rng: np.random.Generator) -> list[Case]:
    def masks(n: int, size: int) -> np.ndarray:
        out = np.zeros((n, size, size), bool)
        for mask in out:
            y, x = rng.integers(0, size // 2, 2)
            mask[y:y + size // 2, x:x + size // 3] = True                # a tall rectangle
        return out

    def maps_hitting(m: np.ndarray, hits: np.ndarray) -> np.ndarray:
        out = rng.random(m.shape).astype(np.float32)
        for i, hit in enumerate(hits):
            where = np.argwhere(m[i] if hit else ~m[i])
            y, x = where[rng.integers(len(where))]
            out[i, y, x] = 2.0                                            # the unique maximum
        return out

    first, second = masks(6, 8), masks(4, 10)
    return [
        Case((maps_hitting(first, np.array([1, 0, 1, 1, 0, 0])), first), label="6 maps 8x8, some hit, some miss"),
        Case((maps_hitting(second, np.array([0, 1, 0, 1])) - 3.0, second),
             label="4 maps 10x10 with negative values"),
    ]


def _transposed_hit(maps, masks) -> np.ndarray:
    flat = np.asarray(maps).reshape(len(maps), -1).argmax(axis=1)
    rows, cols = np.unravel_index(flat, maps.shape[1:])
    return np.asarray(masks)[np.arange(len(maps)), cols, rows].astype(float)


def check_pointing_game(student_fn: Callable, *, seed: int = 0, raise_on_fail: bool = True) -> CheckResult:
    """Check ``pointing_game(maps, masks) -> (N,)``: 1.0 where a map's maximum is on the object.

    Zhang et al. 2016; ``maps`` (N, H, W) floats, ``masks`` (N, H, W)
    booleans of the same size. The reference is
    :func:`labkit.metrics.pointing_game` (the fresh maps have a unique maximum).
    """
    __tracebackhide__ = True  # noqa: F841
    from labkit import metrics

    def argmin_hit(maps, masks):
        flat = np.asarray(maps).reshape(len(maps), -1).argmin(axis=1)
        return np.asarray(masks).reshape(len(maps), -1)[np.arange(len(maps)), flat].astype(float)

    def abs_hit(maps, masks):
        flat = np.abs(np.asarray(maps)).reshape(len(maps), -1).argmax(axis=1)
        return np.asarray(masks).reshape(len(maps), -1)[np.arange(len(maps)), flat].astype(float)

    def batch_max_hit(maps, masks):
        return np.full(len(maps), float(np.asarray(masks).ravel()[np.argmax(maps)]))

    return check_function(
        student_fn, lambda maps, masks: metrics.pointing_game(maps, masks), _pointing_cases, seed=seed,
        name="pointing_game", raise_on_fail=raise_on_fail, diagnoses=(
            # on all-negative maps |map| and the minimum point at the same pixel: the pattern over
            # all cases tells them apart
            matches(abs_hit, "you took the largest |value| (np.abs): a large negative value is evidence "
                             "*against* the class; the game asks whether the largest value itself is on the "
                             "object, so argmax the map as it is", every_case=True),
            matches(argmin_hit, "you looked at each map's minimum: the game asks whether the *maximum* is on "
                                "the object", every_case=True),
            matches(_transposed_hit, "you swapped rows and columns: np.unravel_index(flat_index, (H, W)) "
                                     "gives (row, column), and masks[i, row, column] is the pixel"),
            matches(batch_max_hit, "you took one maximum over the whole batch: find the maximum of each map "
                                   "separately (reshape to (N, H*W) and argmax over axis 1)"),
            _pointing_rate,
        ))


def _pointing_rate(m: Mismatch) -> str | None:
    got = np.asarray(m.got) if m.got is not None else None
    if got is not None and got.ndim == 0 and np.isclose(float(got), np.nanmean(m.expected)):
        return "you returned the hit rate (the mean): return one score per image, shape (N,)"
    return None
