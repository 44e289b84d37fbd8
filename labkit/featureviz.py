"""Feature visualization: what has the network learned? (the lecture's first section)

The lecture's steps, one function each:

- :func:`filters`: "First layer: visualize filters", the kernels of a conv
  layer as small images (ResNet50V2's 64 filters of 7x7x3, the zoo's 8 of 3x3x3).
- Activations of a middle layer for one image ("forward propagate, extract the
  output at any layer and plot each channel separately") are
  :func:`labkit.layers.activations`; ``plot.activation_grid`` draws them.
- :func:`top_examples`: "observing a particular filter for many inputs": the
  images (and the receptive-field crops, :func:`receptive_field`) that excite
  one channel most.
- :func:`visualize`: "gradient ascent": synthesise the image that maximises a
  channel, a neuron or a class logit,
  ``I* = argmax_I f_(l,c)(I) - R(I)``. Two recipes:

  * Simonyan, Vedaldi & Zisserman (2013), "Deep inside convolutional
    networks": plain gradient ascent on the pixels with an L2 penalty (here
    also a blur penalty), ``param="pixel", decorrelate=False, transforms=(),
    regularizers=("l2", "blur")``. Drives the unit hard, looks like noise.
  * Olah, Mordvintsev & Schubert (2017), "Feature Visualization", Distill:
    the image is parameterised by its Fourier spectrum scaled by 1/frequency
    (so gradient steps favour smooth, low-frequency images), in a decorrelated
    colour space, and randomly jittered, scaled and rotated at every step (so
    the result must work wherever it sits): the default.

  An objective is a fixed weighting of one layer's output, so a whole batch of
  channels, neurons and classes is one linear read-out; the ReLU of the chosen
  layer passes a "redirected" gradient (as in lucid) so that channels that are
  off for the starting noise can still be switched on.

- :func:`embed`: the lecture's t-SNE of the penultimate features (and PCA).

Everything random takes a ``seed``; the whole ascent runs as compiled
TensorFlow programs over a batch of images, one image per objective.
"""

from __future__ import annotations

import numbers
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from labkit.validate import as_images, check_choice, check_positive_int, check_seed
from labkit.layers import LayerRef, activations, feature_model, iter_layers, resolve_layer

__all__ = [
    "filters",
    "Objective",
    "channel",
    "neuron",
    "class_logit",
    "class_probability",
    "Visualization",
    "visualize",
    "ReceptiveField",
    "receptive_field",
    "TopExamples",
    "top_examples",
    "embed",
    "COLOR_CORRELATION_SVD_SQRT",
]

# --- first layer: the filters ------------------------------------------------------


def _first_conv2d(model: keras.Model) -> keras.layers.Layer:
    for layer in iter_layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            return layer
    raise ValueError(f"model {model.name!r} has no Conv2D layer, so no filters to show")


def filters(model: keras.Model, layer: LayerRef | None = None, *, scale: str | None = "filter") -> np.ndarray:
    """The kernels of a 2-D convolution layer as small images.

    The lecture's first feature visualization: plot each filter of the first
    convolution layer (ResNet50V2: 64 filters, 7x7 with 3 colour channels)
    and see edge and colour detectors.

    Parameters
    ----------
    model : keras.Model
        Nested models are searched too (e.g. ``Sequential([ResNet50V2, ...])``).
    layer : str, int, Layer or None
        A Conv2D layer; None = the model's first Conv2D (``conv1`` in the zoo,
        ``conv1_conv`` in ResNet50V2).
    scale : {"filter", "layer", None}
        How weights become display values in [0, 1]: ``0.5 + w / (2 m)``, so a
        zero weight is mid-grey, positive weights are brighter and negative
        darker. ``m`` is the largest ``|w|`` of each filter ("filter": every
        filter uses the full range) or of the whole layer ("layer": filters
        keep their relative strength). None returns the raw weights.

    Returns
    -------
    np.ndarray
        (K, kh, kw, C): one (kh, kw, C) image per output channel K.

    Examples
    --------
    >>> filters(zoo.load("shapes")).shape  # doctest: +SKIP
    (8, 3, 3, 3)
    """
    check_choice(scale, "scale", ("filter", "layer", None))
    layer = _first_conv2d(model) if layer is None else resolve_layer(model, layer)
    if not isinstance(layer, keras.layers.Conv2D):
        raise ValueError(
            f"layer {layer.name!r} ({type(layer).__name__}) is not a Conv2D layer, so it has no "
            f"filters to show; pick one of {[l.name for l in iter_layers(model) if isinstance(l, keras.layers.Conv2D)]}"
        )
    weights = np.transpose(keras.ops.convert_to_numpy(layer.kernel), (3, 0, 1, 2))  # (K, kh, kw, C)
    if scale is None:
        return weights.astype(np.float32)
    axes = (1, 2, 3) if scale == "filter" else (0, 1, 2, 3)
    largest = np.abs(weights).max(axis=axes, keepdims=True)
    return (0.5 + weights / (2 * np.maximum(largest, 1e-12))).astype(np.float32)


# --- objectives: what gradient ascent maximises ------------------------------------


@dataclass(frozen=True)
class Objective:
    """One thing to maximise: a channel, a neuron or a class logit.

    Build it with :func:`channel`, :func:`neuron` or :func:`class_logit`, or
    pass the tuple shorthand to :func:`visualize`:
    ``("conv4", 5)`` channel 5 of conv4 (a unit, for a dense layer),
    ``("conv4", 5, (4, 4))`` the neuron at row 4, column 4 of that channel,
    ``("logits", 2)`` the logit of class 2 (pre-softmax, also for softmax models).
    """

    kind: str  # "channel" | "neuron" | "logit" | "probability"
    layer: LayerRef
    index: int
    position: tuple[int, int] | None = None

    def __str__(self) -> str:
        name = getattr(self.layer, "name", self.layer)
        where = "" if self.position is None else f" at {tuple(self.position)}"
        return f"{self.kind} {self.index}" if self.kind in ("logit", "probability") else f"{name}:{self.index}{where}"


def channel(layer: LayerRef, index: int) -> Objective:
    """Mean activation of channel ``index`` of a conv layer over all positions (Olah et al. 2017)."""
    return Objective("channel", layer, index)


def neuron(layer: LayerRef, index: int, position: tuple[int, int] | None = None) -> Objective:
    """One unit: ``layer[row, col, index]`` of a conv map, or unit ``index`` of a dense layer."""
    return Objective("neuron", layer, index, None if position is None else tuple(position))


def class_logit(index: int) -> Objective:
    """The logit (pre-softmax score) of class ``index``, as in Simonyan et al. (2013)."""
    return Objective("logit", "logits", index)


def class_probability(index: int) -> Objective:
    """The log softmax probability of class ``index``: its logit minus logsumexp of all logits.

    Raises the class *and* lowers the others. Simonyan et al. (2013) and
    Olah et al. (2017) prefer the logit, which only raises the class; the
    probability helps when a class is recognised partly by the absence of
    the others' features.
    """
    return Objective("probability", "logits", index)


def _is_layer_ref(value) -> bool:
    return isinstance(value, (str, keras.layers.Layer)) or (
        isinstance(value, numbers.Integral) and not isinstance(value, bool)
    )


def _from_tuple(spec: tuple) -> list[Objective]:
    """``(layer, index[, position])`` with an int index or several (range, list, array)."""
    if len(spec) not in (2, 3):
        raise ValueError(
            f"objective {spec!r} must be (layer, index) or (layer, index, (row, col)), "
            f"e.g. ('conv4', 5), ('conv4', 5, (4, 4)) or ('logits', 2)"
        )
    layer, index = spec[0], spec[1]
    indices = [index] if isinstance(index, numbers.Integral) else list(np.asarray(index).ravel())
    if len(spec) == 3:
        return [neuron(layer, i, spec[2]) for i in indices]
    return [Objective("auto", layer, i) for i in indices]


def _objective_list(objective) -> list[Objective]:
    """Flatten one objective, a tuple shorthand, or a list of them, into Objectives."""
    if isinstance(objective, Objective):
        return [objective]
    if isinstance(objective, tuple) and objective and _is_layer_ref(objective[0]):
        return _from_tuple(objective)
    if isinstance(objective, (list, tuple)) and objective:
        return [item for part in objective for item in _objective_list(part)]
    raise TypeError(
        f"objective must be an Objective, a tuple like ('conv4', 5), ('conv4', 5, (4, 4)) or "
        f"('logits', 2), or a list of them; got {objective!r}"
    )


def _check_index(index, count: int, what: str, layer_name: str) -> int:
    if isinstance(index, (bool, np.bool_)) or not isinstance(index, numbers.Integral):
        raise TypeError(f"the {what} index must be an int, got {index!r}")
    if not 0 <= index < count:
        raise ValueError(
            f"{what} {int(index)} is out of range for layer {layer_name!r} with {count} "
            f"{what}s (valid: 0..{count - 1})"
        )
    return int(index)


def _unit_weights(objective: Objective, shape: tuple, layer_name: str) -> np.ndarray:
    """The objective as weights on one image's layer output: score = sum(weights * output).

    A channel objective is the mean over positions (weight 1/(h w) on the
    channel), a neuron or a logit a single 1.
    """
    weights = np.zeros(shape, np.float32)  # (h, w, K) or (K,)
    index = _check_index(objective.index, shape[-1], "channel" if len(shape) == 3 else "unit", layer_name)
    if len(shape) == 1:
        if objective.kind == "channel" or objective.position is not None:
            raise ValueError(
                f"layer {layer_name!r} has no spatial axes (output (N, {shape[0]})), so a "
                f"{'position' if objective.position is not None else 'channel objective'} makes no "
                f"sense there; use neuron({layer_name!r}, {index}) or the shorthand "
                f"({layer_name!r}, {index}) for a unit of a dense layer"
            )
        weights[index] = 1.0
    elif objective.position is None:
        weights[..., index] = 1.0 / (shape[0] * shape[1])
    else:
        row, col = objective.position
        if not (0 <= row < shape[0] and 0 <= col < shape[1]):
            raise ValueError(
                f"position {tuple(objective.position)} is outside the {shape[0]}x{shape[1]} "
                f"feature map of layer {layer_name!r} (rows 0..{shape[0] - 1}, cols 0..{shape[1] - 1})"
            )
        weights[row, col, index] = 1.0
    return weights


def _layer_or_logits(model: keras.Model, objective: Objective):
    """The layer an objective reads, "logits" for the model's (pre-softmax) logits or "log_softmax"."""
    if objective.kind in ("logit", "probability"):
        return "logits" if objective.kind == "logit" else "log_softmax"
    if objective.layer == "logits" and not any(l.name == "logits" for l in iter_layers(model)):
        return "logits"  # ("logits", k) means the class logit when no layer has that name
    return resolve_layer(model, objective.layer)


# --- reading activations with a redirected ReLU gradient ------------------------------


@tf.custom_gradient
def _redirected_relu(z: tf.Tensor):
    """ReLU whose gradient is redirected for images where it would block everything.

    A channel that is off (z < 0) everywhere for the starting noise passes no
    gradient through its ReLU, so plain ascent never switches it on. As in
    lucid (Olah et al. 2017), for such an image the gradient passes through
    anyway, except where it would push a negative z lower still; once any
    unit is on, the true ReLU gradient is used. The value is the true ReLU.
    """

    def grad(upstream):
        plain = tf.where(z > 0, upstream, tf.zeros_like(upstream))
        redirected = tf.where((z < 0) & (upstream > 0), tf.zeros_like(upstream), upstream)
        alive = tf.reduce_any(tf.reshape(plain, (tf.shape(z)[0], -1)) != 0, axis=1)  # (B,)
        alive = tf.reshape(alive, [-1] + [1] * (len(z.shape) - 1))
        return tf.where(alive, plain, redirected)

    return tf.nn.relu(z), grad


def _parents(layer: keras.layers.Layer) -> list:
    """The operations feeding the layer's first (original) call."""
    nodes = getattr(layer, "_inbound_nodes", [])
    return [node.operation for node in nodes[0].parent_nodes] if nodes else []


def _is_relu(function) -> bool:
    return getattr(function, "__name__", None) == "relu"


def _model_input_layer(model: keras.Model):
    try:
        return model.inputs[0]._keras_history.operation
    except (AttributeError, IndexError, ValueError):
        return None


@dataclass(frozen=True)
class _Slot:
    """How the program reads one objective layer: ``relu(affine(fetch))``, or ``fetch`` itself."""

    fetch: object  # a layer in the feature model, "image" (the model's input) or "logits"
    affine: keras.layers.Layer | None = None  # Conv2D/Dense whose pre-activation is recomputed
    relu: bool = False  # apply the redirected ReLU
    log_softmax: bool = False  # log probabilities from the logits


def _slot(model: keras.Model, target) -> _Slot:
    """Read a ReLU layer (fused into a Conv2D/Dense or separate) from its input, to redirect its gradient."""
    if isinstance(target, str):
        return _Slot("logits", log_softmax=target == "log_softmax")
    fused = isinstance(target, (keras.layers.Conv2D, keras.layers.Dense)) and _is_relu(target.activation)
    fused = fused and getattr(target, "data_format", "channels_last") == "channels_last"
    separate = (isinstance(target, keras.layers.Activation) and _is_relu(target.activation)) or (
        isinstance(target, keras.layers.ReLU)
        and target.max_value is None and not target.negative_slope and not target.threshold
    )
    parents = _parents(target)
    if not (fused or separate) or len(parents) != 1:
        return _Slot(target)
    parent = parents[0]
    if parent is _model_input_layer(model):
        fetch = "image"
    elif isinstance(parent, (keras.Model, keras.layers.InputLayer)) or not any(l is parent for l in iter_layers(model)):
        return _Slot(target)  # e.g. the first layer of a nested model: read it plainly
    else:
        fetch = parent
    return _Slot(fetch, target if fused else None, True)


def _pre_activation(layer: keras.layers.Layer, x: tf.Tensor) -> tf.Tensor:
    """The affine part of a Conv2D/Dense, with its own (shared) weights."""
    z = layer.convolution_op(x, layer.kernel) if isinstance(layer, keras.layers.Conv2D) else tf.matmul(x, layer.kernel)
    return z + layer.bias if layer.use_bias else z


def _reader(model: keras.Model, slots: list[_Slot]) -> Callable:
    """images -> one activation tensor per slot, in one forward pass of a feature model."""
    fetched = list({id(s.fetch): s.fetch for s in slots if isinstance(s.fetch, keras.layers.Layer)}.values())
    logits = any(s.fetch == "logits" for s in slots)
    fmodel = feature_model(model, fetched, logits=logits) if fetched or logits else None
    position = {id(layer): i for i, layer in enumerate(fetched)}

    def read(images):
        outputs = tf.nest.flatten(fmodel(images, training=False)) if fmodel is not None else []
        values = []
        for slot in slots:
            if slot.fetch == "image":
                x = images
            else:
                x = outputs[-1] if slot.fetch == "logits" else outputs[position[id(slot.fetch)]]
            if slot.affine is not None:
                x = _pre_activation(slot.affine, x)
            x = tf.nn.log_softmax(x) if slot.log_softmax else x
            values.append(_redirected_relu(x) if slot.relu else x)
        return values

    return read


def _target_key(target) -> object:
    return target if isinstance(target, str) else id(target)


def _resolve_objectives(model: keras.Model, objectives: list[Objective], input_shape: tuple):
    """A reader of the objectives' layers (images -> activations per slot) and the weights (B, ...) per slot."""
    targets = [_layer_or_logits(model, o) for o in objectives]
    unique = list({_target_key(t): t for t in targets}.values())
    slots = [_slot(model, t) for t in unique]
    read = _reader(model, slots)
    outputs = read(tf.zeros((1, *input_shape)))  # shapes only
    weights = []
    for target, output in zip(unique, outputs):
        shape, name = tuple(output.shape[1:]), getattr(target, "name", "logits")  # log_softmax: logits
        if len(shape) not in (1, 3):
            raise ValueError(
                f"layer {name!r} has output shape {tuple(output.shape)}; objectives need (N, h, w, K) or (N, K)"
            )
        rows = [
            _unit_weights(o, shape, name) if _target_key(t) == _target_key(target) else np.zeros(shape, np.float32)
            for o, t in zip(objectives, targets)
        ]
        weights.append(np.stack(rows))  # (B, h, w, K) or (B, K)
    key = tuple((_target_key(s.fetch), id(s.affine), s.relu, s.log_softmax) for s in slots)
    return read, key, weights


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
    out = []
    for item in items:
        key, amount = (item, None) if isinstance(item, str) else tuple(item)
        check_choice(key, name, tuple(known))
        if amount is None:
            amount = known[key] if known[key] is not None else max(1, size // 16)
        if not isinstance(amount, numbers.Real) or amount < 0:
            raise ValueError(f"{name} {key!r} needs an amount >= 0, got {amount!r}")
        out.append((key, float(amount)))
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
    channels = images.shape[-1]
    kernel = tf.constant(np.full((3, 3, channels, 1), 1 / 9, np.float32))
    padded = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")
    blurred = tf.stop_gradient(tf.nn.depthwise_conv2d(padded, kernel, [1, 1, 1, 1], "VALID"))
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


def _image_fn(recipe: _Recipe, channels: int):
    """params -> images (B, size, size, C) in [0, 1]."""
    scale = _spectrum_scale(recipe.size, recipe.size) if recipe.param == "fft" else None

    def image(params):
        t = _fft_image(params, scale, recipe.size) if recipe.param == "fft" else params
        return _to_rgb(t, recipe.decorrelate)

    return image


def _ascent_program(read: Callable, recipe: _Recipe, channels: int):
    """A tf.function running ``n_steps`` of gradient ascent on a batch, trace included."""
    to_image = _image_fn(recipe, channels)
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
                scores = tf.add_n([
                    tf.reduce_sum(tf.reshape(a * w, (tf.shape(a)[0], -1)), axis=1)  # (B,)
                    for a, w in zip(read(seen), weights)
                ])
                loss = tf.reduce_sum(_penalty(images, recipe.regularizers) - scores)
            grad = tape.gradient(loss, params)
            params, m, v = _adam(params, grad, m, v, tf.cast(step + 1, tf.float32), lr)
            trace = trace.write(i, scores)
        return params, m, v, trace.stack()  # trace (n_steps, B)

    return run


# Steps per call of the compiled program: None = all of them (8 calls with a progress
# bar). benchmarks/bench_featureviz.py compares one call with one call per step.
_STEPS_PER_CALL: int | None = None

# model -> {(layers, recipe): compiled program}; entries vanish with the model.
_PROGRAMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _program(model, read, key, recipe, channels):
    cache = _PROGRAMS.setdefault(model, {})
    key = (key, recipe, channels)
    if key not in cache:
        cache[key] = _ascent_program(read, recipe, channels)
    return cache[key]


class Visualization(NamedTuple):
    """What :func:`visualize` returns (unpacks as ``images, trace = ...``)."""

    images: np.ndarray  # (B, size, size, C) in [0, 1], one per objective
    trace: np.ndarray  # (steps, B) objective at every step (on the transformed image)


def _model_image_shape(model: keras.Model, size: int | None) -> tuple[int, int, int | None]:
    """(size to optimise, size the model reads, channels)."""
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[3] is None:
        raise ValueError(f"model {model.name!r} has input shape {shape}; visualize needs an image model (N, H, W, C)")
    if shape[1] is not None and shape[1] != shape[2]:
        raise ValueError(f"visualize needs square model inputs, got {shape}")
    model_size = shape[1]
    size = (model_size or 64) if size is None else check_positive_int(size, "size")
    return size, model_size or size, shape[3]


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
) -> Visualization:
    """Synthesise the images that maximise channels, neurons or class logits.

    ``I* = argmax_I f(I) - R(I)`` by gradient ascent (the lecture: "initialize
    the image to random noise; forward; backprop; update"), one image per
    objective, all optimised together as one batch in compiled TensorFlow.

    Parameters
    ----------
    model : keras.Model
    objective : tuple, Objective, or a list of them
        ``("conv4", 5)``: mean of channel 5 of conv4 (for a dense layer:
        unit 5); ``("conv4", 5, (4, 4))``: the neuron at row 4, col 4;
        ``("logits", 2)``: class 2's logit (pre-softmax, also when the model
        ends in a softmax). An index may be a range or list,
        ``("conv4", range(8))``, giving one image per index. Also
        :func:`channel`, :func:`neuron`, :func:`class_logit`,
        :func:`class_probability` (log softmax: raises the class and lowers
        the others), in any mix.
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
    steps, seed = check_positive_int(steps, "steps"), check_seed(seed)
    check_choice(param, "param", ("fft", "pixel"))
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not lr > 0:
        raise ValueError(f"lr must be a positive number (Adam's learning rate), got {lr!r}")
    size, model_size, channels = _model_image_shape(model, size)
    transforms = _named_amounts(transforms, _TRANSFORMS, "transforms", size)
    regularizers = _named_amounts(regularizers, _REGULARIZERS, "regularizers", size)
    _check_size(size, transforms)
    objectives = _objective_list(objective)
    read, key, weights = _resolve_objectives(model, objectives, (model_size, model_size, channels))
    recipe = _Recipe(param, bool(decorrelate), transforms, regularizers, size, model_size, preprocess)
    run = _program(model, read, key, recipe, channels)
    params = _initial_params(param, len(objectives), size, channels, seed)
    batch_size = len(objectives) if batch_size is None else check_positive_int(batch_size, "batch_size")
    to_image = _image_fn(recipe, channels)
    images, traces = _ascend(run, to_image, params, weights, param, steps, float(lr), seed, batch_size, progress)
    return Visualization(images, traces)


def _ascend(run, to_image, params, weights, param, steps, lr, seed, batch_size, progress):
    """Run the compiled program over chunks of objectives (and of steps, for the progress bar)."""
    axis = 1 if param == "fft" else 0  # the batch axis of the parameters
    total = params.shape[axis]
    bar = _progress_bar(steps * -(-total // batch_size), progress)
    every = _STEPS_PER_CALL or (max(1, steps // 8) if progress else steps)  # steps per compiled call
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


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress_bar(total: int, show: bool):
    if not show:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="gradient ascent", unit="step")


# --- top examples and receptive fields -----------------------------------------------


class ReceptiveField(NamedTuple):
    """Which input pixels a unit of a layer can see (per axis: rows, cols).

    Unit ``(i, j)`` is centred on pixel ``start + (i, j) * stride`` and sees
    the ``size`` pixels around it (Araujo, Norris & Sim 2019, "Computing
    receptive fields of convolutional neural networks", Distill).
    """

    size: tuple[int, int]
    stride: tuple[int, int]
    start: tuple[float, float]


_POINTWISE = (
    keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.BatchNormalization,
    keras.layers.Dropout, keras.layers.Rescaling, keras.layers.Normalization, keras.layers.Identity,
    keras.layers.LayerNormalization,
)
_POOLS = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)


def _pad_before(n: int | None, k: int, s: int, padding: str) -> tuple[int, int | None]:
    """(padding before, output length) of a conv/pool along one axis, as TensorFlow does it."""
    if n is None:  # "valid" padding does not depend on the size
        return 0, None
    if padding == "same":
        out = -(-n // s)
        return max((out - 1) * s + k - n, 0) // 2, out
    return 0, (n - k) // s + 1


def _follows(layer: keras.layers.Layer, previous, fresh: bool) -> bool:
    """True when ``layer`` reads exactly the output of ``previous``.

    ``fresh``: nothing walked yet in this (nested) model, so reading its input is fine.
    """
    parents = _parents(layer)
    if len(parents) != 1:
        return False
    parent = parents[0]
    if isinstance(parent, keras.layers.InputLayer):
        return fresh
    if isinstance(parent, keras.Model):  # reads a nested model's output, walked just before
        return previous is not None and any(l is previous for l in iter_layers(parent))
    return parent is previous


def _grow(field: tuple, layer, n: tuple) -> tuple:
    """One conv or pool layer's effect on (size, jump, start) and on the spatial size n."""
    size, jump, start = field
    conv = isinstance(layer, keras.layers.Conv2D)
    kernel = np.array(layer.kernel_size if conv else layer.pool_size)
    dilation = np.array(layer.dilation_rate) if conv else np.ones(2, int)
    kernel, stride = dilation * (kernel - 1) + 1, np.array(layer.strides)
    if layer.padding == "same" and None in n:
        raise ValueError("pass input_size=(H, W): 'same' padding depends on the image size")
    pads, n = zip(*(_pad_before(n[a], int(kernel[a]), int(stride[a]), layer.padding) for a in (0, 1)))
    start = start + ((kernel - 1) / 2 - np.array(pads)) * jump
    return (size + (kernel - 1) * jump, jump * stride, start), n


def receptive_field(
    model: keras.Model, layer: LayerRef, *, input_size: tuple[int, int] | None = None
) -> ReceptiveField:
    """Receptive field of the units of ``layer``, for a plain chain of conv/pool layers.

    Walks the layers from the input: a conv or pool with kernel ``k``,
    stride ``s`` (dilation ``d``: ``k = d (k - 1) + 1``) and padding ``p``
    before grows the field by ``(k - 1) * jump``, multiplies the jump by
    ``s`` and shifts the first centre by ``((k - 1) / 2 - p) * jump``.
    For the zoo CNN's conv4 that gives 38x38 pixels with stride 8.

    Parameters
    ----------
    model : keras.Model
    layer : str, int or Layer
    input_size : (H, W), optional
        Needed when the model accepts any size and uses "same" padding.

    Returns
    -------
    ReceptiveField
        ``size``, ``stride`` and ``start`` (centre of unit (0, 0)) per axis.

    Raises
    ------
    ValueError
        The path is not a simple chain of conv, pool and pointwise layers
        (e.g. ResNet's shortcuts and ``Add``): not "easy" to compute.

    Examples
    --------
    >>> receptive_field(zoo.load("shapes"), "conv4")  # doctest: +SKIP
    ReceptiveField(size=(38, 38), stride=(8, 8), start=(3.5, 3.5))
    """
    target = resolve_layer(model, layer)
    n = tuple(input_size) if input_size is not None else tuple(model.input_shape[1:3])
    field, previous, fresh = (np.ones(2), np.ones(2), np.zeros(2)), None, True
    allowed = (keras.Model, keras.layers.Conv2D, *_POOLS, keras.layers.ZeroPadding2D, *_POINTWISE)
    for current in iter_layers(model):
        if not _follows(current, previous, fresh) or not isinstance(current, allowed):
            raise ValueError(
                f"cannot compute the receptive field of {target.name!r} simply: layer {current.name!r} "
                f"({type(current).__name__}) is not part of a plain chain of conv, pool and pointwise layers"
            )
        if isinstance(current, keras.Model):  # step inside: its first layer reads its input
            fresh = True
            continue
        if isinstance(current, (keras.layers.Conv2D, *_POOLS)):
            field, n = _grow(field, current, n)
        elif isinstance(current, keras.layers.ZeroPadding2D):
            (top, bottom), (left, right) = current.padding
            field = (field[0], field[1], field[2] - np.array([top, left]) * field[1])
            n = (n[0] + top + bottom, n[1] + left + right) if None not in n else n
        if current is target:
            size, jump, start = field
            return ReceptiveField(
                tuple(int(v) for v in size), tuple(int(v) for v in jump), tuple(float(v) for v in start)
            )
        previous, fresh = current, False
    raise ValueError(f"layer {target.name!r} is not on a simple path from the input")


class TopExamples(NamedTuple):
    """What :func:`top_examples` returns, strongest first."""

    indices: np.ndarray  # (k,) into images
    activations: np.ndarray  # (k,) the channel's max (or mean) over positions
    positions: np.ndarray | None  # (k, 2) row, col of the strongest unit; None for dense layers
    boxes: np.ndarray | None  # (k, 4) y0, x0, y1, x1 of its receptive field (end exclusive), or None
    crops: np.ndarray | None  # (k, r, r, C) receptive-field crops, 0.5 grey outside the image, or None


def _channel_maps(fmodel: keras.Model, batch: np.ndarray, index: int, batch_size: int) -> np.ndarray:
    """One channel of a layer for many images, in compiled chunks: (N, h, w) or (N,)."""
    run = tf.function(lambda x: tf.nest.flatten(fmodel(x, training=False))[0][..., index])
    chunks = [run(tf.constant(batch[i : i + batch_size])) for i in range(0, len(batch), batch_size)]  # per chunk
    return np.concatenate([chunk.numpy() for chunk in chunks])


def _crops(batch: np.ndarray, centres: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Receptive-field boxes (k, 4) and crops (k, size, size, C) around pixel centres (k, 2)."""
    low = np.round(centres - (size - 1) / 2).astype(int)  # (k, 2) top-left, may be < 0
    padded = np.pad(batch, ((0, 0), (size, size), (size, size), (0, 0)), constant_values=0.5)
    crops = np.stack([padded[i, y + size : y + 2 * size, x + size : x + 2 * size] for i, (y, x) in enumerate(low)])
    h, w = batch.shape[1:3]
    boxes = np.stack([np.clip(low[:, 0], 0, h), np.clip(low[:, 1], 0, w),
                      np.clip(low[:, 0] + size, 0, h), np.clip(low[:, 1] + size, 0, w)], axis=1)
    return boxes, crops


def top_examples(
    model: keras.Model, layer: LayerRef, channel: int, images, k: int = 9, *, reduce: str = "max", batch_size: int = 64
) -> TopExamples:
    """The images that excite one channel most: "observe a filter for many inputs".

    Parameters
    ----------
    model : keras.Model
    layer : str, int or Layer
        A conv layer (N, h, w, K) or a dense layer (N, K).
    channel : int
        Channel (or unit) index.
    images : array-like
        (N, H, W, C) candidates, preprocessed as the model expects.
    k : int
        How many to return.
    reduce : {"max", "mean"}
        Score per image: the strongest unit of the channel, or its mean.
    batch_size : int

    Returns
    -------
    TopExamples
        ``indices`` (k,), ``activations`` (k,), ``positions`` (k, 2) of the
        strongest unit, and for a plain conv/pool chain (see
        :func:`receptive_field`) ``boxes`` (k, 4) and ``crops`` (k, r, r, C)
        of its receptive field in the image; otherwise those are None.

    Examples
    --------
    >>> top = top_examples(model, "conv4", 5, toy_world("shapes", "test", 1000).images)  # doctest: +SKIP
    >>> top.crops.shape  # doctest: +SKIP
    (9, 38, 38, 3)
    """
    batch, _ = as_images(images, model=model)
    k, batch_size = min(check_positive_int(k, "k"), len(batch)), check_positive_int(batch_size, "batch_size")
    check_choice(reduce, "reduce", ("max", "mean"))
    target = resolve_layer(model, layer)
    fmodel = feature_model(model, target, logits=False)
    shape = tuple(fmodel.outputs[0].shape[1:])
    if len(shape) not in (1, 3):
        raise ValueError(f"layer {target.name!r} has output shape (N, {shape}); need (N, h, w, K) or (N, K)")
    index = _check_index(channel, shape[-1], "channel" if len(shape) == 3 else "unit", target.name)
    maps = _channel_maps(fmodel, batch, index, batch_size)  # (N, h, w) or (N,)
    flat = maps.reshape(len(batch), -1)
    scores = flat.max(axis=1) if reduce == "max" else flat.mean(axis=1)
    order = np.argsort(-scores, kind="stable")[:k]
    if len(shape) == 1:
        return TopExamples(order, scores[order], None, None, None)
    positions = np.stack(np.unravel_index(flat[order].argmax(axis=1), shape[:2]), axis=1)  # (k, 2)
    try:
        field = receptive_field(model, target, input_size=batch.shape[1:3])
    except ValueError:
        return TopExamples(order, scores[order], positions, None, None)
    centres = np.asarray(field.start) + positions * np.asarray(field.stride)  # (k, 2) pixel centres
    boxes, crops = _crops(batch[order], centres, field.size[0])
    return TopExamples(order, scores[order], positions, boxes, crops)


# --- t-SNE / PCA of penultimate features ------------------------------------------------


def embed(
    model: keras.Model,
    images,
    *,
    layer: LayerRef = "gap",
    method: str = "tsne",
    seed: int = 0,
    perplexity: float = 30.0,
    batch_size: int = 64,
) -> np.ndarray:
    """2-D map of the images' features: the lecture's t-SNE slide.

    Parameters
    ----------
    model : keras.Model
    images : array-like
        (N, H, W, C) preprocessed images.
    layer : str, int or Layer
        Whose outputs to embed (flattened per image); "gap" is the zoo
        models' penultimate layer, the features the classifier sees.
    method : {"tsne", "pca"}
        t-SNE (van der Maaten & Hinton 2008; scikit-learn, PCA initialisation)
        or PCA.
    seed : int
        t-SNE's random state.
    perplexity : float
        t-SNE's effective number of neighbours; must be below N.
    batch_size : int

    Returns
    -------
    np.ndarray
        (N, 2) coordinates.

    Examples
    --------
    >>> xy = embed(zoo.load("shapes"), toy_world("shapes", "test", 500).images)  # doctest: +SKIP
    """
    check_choice(method, "method", ("tsne", "pca"))
    seed = check_seed(seed)
    batch, _ = as_images(images, model=model)
    features = activations(model, batch, layer, batch_size=batch_size)
    features = features.reshape(len(features), -1)  # (N, features)
    if len(features) < 3:
        raise ValueError(f"images must hold at least 3 images to embed, got {len(features)}")
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(features).astype(np.float32)
    if not 0 < perplexity < len(features):
        raise ValueError(
            f"perplexity={perplexity} must be between 0 and the number of images ({len(features)}); "
            f"typical values are 5..50 and at most N / 3"
        )
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed)
    # One thread: scikit-learn's Barnes-Hut t-SNE runs 1000 short parallel loops,
    # which get 10-20x slower when its threads share the CPU (with TensorFlow's
    # thread pools, other notebooks); for a few thousand points one thread takes seconds.
    with threadpool_limits(limits=1):
        return tsne.fit_transform(features).astype(np.float32)
