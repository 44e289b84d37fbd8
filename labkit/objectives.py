"""What gradient ascent maximises: objectives, read with a gradient that can switch units on.

An objective names one unit of a model to maximise: a channel of a conv
layer (its mean over all positions, Olah, Mordvintsev & Schubert 2017), a
neuron (one position of a channel, or one unit of a dense layer), a class
logit (Simonyan, Vedaldi & Zisserman 2013) or a class's log-probability.
Each is a fixed weighting of one layer's output, ``score = sum(weights *
activations)``, so a whole batch of channels, neurons and classes is one
linear read-out of one forward pass (:func:`objective_reader`,
:func:`objective_scores`).

The ReLU of the chosen layer passes a "redirected" gradient (as in lucid):
a channel that is off for the starting noise would otherwise never get a
gradient, and gradient ascent could never switch it on.

Used by :mod:`labkit.ascent` (synthesising images) and :mod:`labkit.units`
(which channel indices a layer has).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from labkit.layers import (
    LayerRef, feature_model, is_activation, iter_layers, model_input_layer, parents, pre_activation, resolve_layer,
)
from labkit.validate import check_int, check_model

__all__ = [
    "Objective", "channel", "neuron", "class_logit", "class_probability", "as_objectives", "check_unit",
    "objective_reader", "objective_scores",
]


# --- objectives: one unit each ---------------------------------------------------------


@dataclass(frozen=True)
class Objective:
    """One thing to maximise: a channel, a neuron or a class logit.

    Build it with :func:`channel`, :func:`neuron`, :func:`class_logit` or
    :func:`class_probability`, or pass the tuple shorthand to
    :func:`labkit.ascent.visualize` (or :func:`as_objectives`):
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


def _layer_ref(layer) -> LayerRef:
    if not _is_layer_ref(layer):
        raise TypeError(f"layer must be a layer name (str), an index (int) or a keras Layer, got "
                        f"{type(layer).__name__} {layer!r}")
    return layer


def _position(position) -> tuple[int, int] | None:
    if position is None:
        return None
    if not isinstance(position, (tuple, list)) or len(position) != 2:
        raise TypeError(f"position must be a (row, col) pair of ints, got {position!r}")
    return tuple(check_int(p, "position", low=0) for p in position)


def channel(layer: LayerRef, index: int) -> Objective:
    """Mean activation of channel ``index`` of a conv layer over all positions (Olah et al. 2017)."""
    return Objective("channel", _layer_ref(layer), check_int(index, "index", low=0))


def neuron(layer: LayerRef, index: int, position: tuple[int, int] | None = None) -> Objective:
    """One unit: ``layer[row, col, index]`` of a conv map, or unit ``index`` of a dense layer."""
    return Objective("neuron", _layer_ref(layer), check_int(index, "index", low=0), _position(position))


def class_logit(index: int) -> Objective:
    """The logit (pre-softmax score) of class ``index``, as in Simonyan et al. (2013)."""
    return Objective("logit", "logits", check_int(index, "index", low=0))


def class_probability(index: int) -> Objective:
    """The log softmax probability of class ``index``: its logit minus logsumexp of all logits.

    Raises the class *and* lowers the others. Simonyan et al. (2013) and
    Olah et al. (2017) prefer the logit, which only raises the class; the
    probability helps when a class is recognised partly by the absence of
    the others' features.
    """
    return Objective("probability", "logits", check_int(index, "index", low=0))


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
    if isinstance(index, numbers.Integral) and not isinstance(index, bool):
        indices = [index]
    elif isinstance(index, (range, list, tuple, np.ndarray)):
        indices = [i.item() if isinstance(i, np.generic) else i for i in np.asarray(index, dtype=object).ravel()]
    else:
        raise TypeError(f"objective {spec!r}: the index must be an int or several (a range, list or array of ints), "
                        f"got {type(index).__name__}")
    if not indices:
        raise ValueError(f"objective {spec!r} selects no unit: its index is empty; pass e.g. ({layer!r}, range(8))")
    indices = [check_int(i, "objective index", low=0) for i in indices]
    if len(spec) == 3:
        return [neuron(layer, i, spec[2]) for i in indices]
    return [Objective("auto", layer, i) for i in indices]


def as_objectives(objective) -> list[Objective]:
    """Flatten one objective, a tuple shorthand, or a list of them, into Objectives.

    Examples
    --------
    >>> as_objectives([("conv4", range(2)), class_logit(1)])  # doctest: +SKIP
    [Objective(kind='auto', layer='conv4', index=0, ...), ..., Objective(kind='logit', layer='logits', index=1, ...)]
    """
    if isinstance(objective, Objective):
        return [objective]
    if isinstance(objective, tuple) and objective and _is_layer_ref(objective[0]):
        return _from_tuple(objective)
    if isinstance(objective, (list, tuple)) and objective:
        return [item for part in objective for item in as_objectives(part)]
    raise TypeError(
        f"objective must be an Objective, a tuple like ('conv4', 5), ('conv4', 5, (4, 4)) or "
        f"('logits', 2), or a list of them; got {objective!r}"
    )


def check_unit(index, count: int, what: str, layer_name: str) -> int:
    """``index`` as an int if it names one of the ``count`` channels (``what="channel"``) or units of a layer."""
    if isinstance(index, (bool, np.bool_)) or not isinstance(index, numbers.Integral):
        raise TypeError(f"the {what} index must be an int, got {index!r}")
    count = check_int(count, "count", low=0)
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
    index = check_unit(objective.index, shape[-1], "channel" if len(shape) == 3 else "unit", layer_name)
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
    ``upstream`` must be the gradient of a loss to *minimise* (minus the objective).
    """

    def grad(upstream):
        plain = tf.where(z > 0, upstream, tf.zeros_like(upstream))
        redirected = tf.where((z < 0) & (upstream > 0), tf.zeros_like(upstream), upstream)
        alive = tf.reduce_any(tf.reshape(plain, (tf.shape(z)[0], -1)) != 0, axis=1)  # (B,)
        alive = tf.reshape(alive, [-1] + [1] * (len(z.shape) - 1))
        return tf.where(alive, plain, redirected)

    return tf.nn.relu(z), grad


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
    fused = isinstance(target, (keras.layers.Conv2D, keras.layers.Dense)) and is_activation(target.activation, "relu")
    fused = fused and getattr(target, "data_format", "channels_last") == "channels_last"
    separate = (isinstance(target, keras.layers.Activation) and is_activation(target.activation, "relu")) or (
        isinstance(target, keras.layers.ReLU)
        and target.max_value is None and not target.negative_slope and not target.threshold
    )
    feeding = parents(target)
    if not (fused or separate) or len(feeding) != 1:
        return _Slot(target)
    parent = feeding[0]
    if parent is model_input_layer(model):
        fetch = "image"
    elif isinstance(parent, (keras.Model, keras.layers.InputLayer)) or not any(l is parent for l in iter_layers(model)):
        return _Slot(target)  # e.g. the first layer of a nested model: read it plainly
    else:
        fetch = parent
    return _Slot(fetch, target if fused else None, True)


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
                x = pre_activation(slot.affine, x)
            x = tf.nn.log_softmax(x) if slot.log_softmax else x
            values.append(_redirected_relu(x) if slot.relu else x)
        return values

    return read


def _target_key(target) -> object:
    return target if isinstance(target, str) else id(target)


def objective_reader(
    model: keras.Model, objectives: list[Objective], input_shape: tuple
) -> tuple[Callable, tuple, list[np.ndarray]]:
    """How to read a batch of objectives in one forward pass.

    Parameters
    ----------
    model : keras.Model
    objectives : list of Objective
        One per image, e.g. from :func:`as_objectives`.
    input_shape : (H, W, C)
        The images the reader will be called on.

    Returns
    -------
    read : callable
        images (B, H, W, C) tensor -> a list of activation tensors, one per
        layer the objectives read (ReLUs with the redirected gradient).
    key : tuple
        Hashable, the same for objectives that read the same layers: a cache
        key for programs compiled around ``read``.
    weights : list of np.ndarray
        One (B, ...) array per activation: image b's objective is
        ``objective_scores(read(images), weights)[b]``.
    """
    model = check_model(model)
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


def objective_scores(values: list, weights: list) -> tf.Tensor:
    """Each image's objective, ``sum(weights * activations)`` over the read layers: (B,)."""
    return tf.add_n([tf.reduce_sum(tf.reshape(a * w, (tf.shape(a)[0], -1)), axis=1) for a, w in zip(values, weights)])
