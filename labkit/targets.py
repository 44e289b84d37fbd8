"""Which class is explained: the logits, the predicted class, the target's score.

Every labkit method explains one class per image. The argument is the same
everywhere: ``target`` is an int, one int per image, or None, meaning "the
class the model predicts for this (clean) image". Inside compiled code that
"predicted" is written as :data:`PREDICTED` (-1) and resolved on the device
by :func:`target_logit`; outside, :func:`explained_classes` resolves it with
one forward pass. Methods work on logits: :func:`logits_model` gives them,
also for a model that ends in a softmax (with a warning, the model untouched).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from labkit.forward import predict_batched
from labkit.layers import feature_model
from labkit.validate import as_array, as_model_inputs, as_targets, check_batch_size, check_int, check_model

__all__ = ["PREDICTED", "logits_model", "num_classes", "targets_or_predicted", "explained_classes",
           "resolve_in_graph", "target_logit", "softmax"]

PREDICTED = -1
"""Target index meaning "the class the model predicts for this image"."""


def logits_model(model: keras.Model) -> keras.Model:
    """image -> pre-softmax logits (N, classes), sharing ``model``'s weights; cached."""
    return feature_model(check_model(model, kind=None), [], logits=True)


def num_classes(model: keras.Model) -> int:
    """Number of classes (logits) of ``model``."""
    return int(logits_model(model).output_shape[-1])


def targets_or_predicted(model: keras.Model, target, n: int) -> np.ndarray:
    """Validated targets (N,) int32, with :data:`PREDICTED` (-1) where ``target`` is None.

    For compiled code that resolves the predicted class itself (:func:`target_logit`).
    """
    classes = num_classes(model)
    targets = as_targets(target, check_int(n, "n", low=1), classes)
    return np.full(n, PREDICTED, np.int32) if targets is None else targets.astype(np.int32)


def explained_classes(model: keras.Model, batch: np.ndarray, target, *, batch_size: int = 64) -> np.ndarray:
    """The class explained for each image: ``target``, or the predicted class where it is None.

    Parameters
    ----------
    model : keras.Model
    batch : np.ndarray
        (N, H, W, C) validated images.
    target : int, array-like (N,), or None
        As every labkit method takes it; None costs one forward pass.
    batch_size : int
        Images per forward pass.

    Returns
    -------
    np.ndarray
        (N,) int32 class indices.
    """
    batch = as_model_inputs(batch, check_model(model, kind=None), name="batch")
    targets = targets_or_predicted(model, target, len(batch))
    batch_size = check_batch_size(batch_size, len(batch))
    if np.all(targets >= 0):
        return targets
    logits = predict_batched(logits_model(model), batch, batch_size=batch_size)[-1]  # (N, classes)
    return np.where(targets >= 0, targets, logits.argmax(axis=1)).astype(np.int32)


def resolve_in_graph(logits: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
    """In TensorFlow (compiled or eager): each row's target class, the argmax where it is :data:`PREDICTED`. (B,)"""
    predicted = tf.argmax(logits, axis=-1, output_type=targets.dtype)  # (B,)
    return tf.where(targets < 0, predicted, targets)


def target_logit(logits: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
    """S_c(x) per row: the logit of each row's target class; :data:`PREDICTED` = the argmax. (B,)"""
    return tf.gather(logits, resolve_in_graph(logits, targets), axis=1, batch_dims=1)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Class probabilities from logits (..., classes), numerically stable, in numpy."""
    logits = as_array(logits, "logits", dtype=None)
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)
