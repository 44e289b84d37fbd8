"""Running a model forward: compiled once, in batches, numpy out.

Two things every method needs and that live here only:

- :func:`cached` is labkit's one cache of compiled functions. Entries are
  keyed *weakly* by a model (usually a labkit feature model), so they vanish
  with it, and nothing is ever stored on the user's model.
- :func:`predict_batched` runs a model over a batch in chunks of
  ``batch_size``, one compiled call per chunk, and moves each chunk's
  outputs to the host as soon as it is done, so ``batch_size`` bounds the
  device memory.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable

import keras
import numpy as np
import tensorflow as tf

from labkit.validate import check_positive_int

__all__ = ["cached", "predict_batched"]

# owner (a model) -> {key: value}; an owner's entries go when the owner is garbage-collected.
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def cached(owner: keras.Model, key: Hashable, make: Callable[[], object]):
    """Return the value cached for ``(owner, key)``, calling ``make()`` the first time.

    The one compile cache of labkit: methods keep their ``tf.function`` here,
    keyed by the model they trace and by whatever else decides the trace
    (the method, an option). Weak in ``owner``: never keeps a model alive,
    never writes an attribute on it.

    Parameters
    ----------
    owner : keras.Model
        The model the cached value belongs to.
    key : hashable
        What distinguishes values for the same model, e.g. ``("grad_cam",)``.
    make : callable
        Builds the value; called once per (owner, key).

    Examples
    --------
    >>> f = cached(logits_model, ("saliency",), lambda: tf.function(...))  # doctest: +SKIP
    """
    entries = _CACHE.setdefault(owner, {})
    if key not in entries:
        entries[key] = make()
    return entries[key]


def _call_function(model: keras.Model):
    """``model(x, training=False)`` as one tf.function for any batch size: a list of outputs."""

    def make():
        spec = tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32)
        return tf.function(lambda x: tf.nest.flatten(model(x, training=False)), input_signature=[spec])

    return cached(model, ("call",), make)


def predict_batched(model: keras.Model, batch: np.ndarray, *, batch_size: int = 64) -> list[np.ndarray]:
    """Run ``model`` over a float32 batch in chunks of ``batch_size``; numpy out.

    One compiled ``tf.function`` call per chunk, no Python loop per image;
    each chunk's outputs go to the host before the next chunk runs.

    Parameters
    ----------
    model : keras.Model
        Typically a :func:`labkit.layers.feature_model`.
    batch : np.ndarray
        (N, H, W, C) float32, already validated (see :func:`labkit.validate.as_images`).
    batch_size : int
        Images per forward pass.

    Returns
    -------
    list[np.ndarray]
        One array (N, ...) per model output.

    Examples
    --------
    >>> maps, logits = predict_batched(feature_model(model, "conv2"), batch)  # doctest: +SKIP
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    function = _call_function(model)
    chunks = [[output.numpy() for output in function(tf.constant(batch[start : start + batch_size]))]
              for start in range(0, len(batch), batch_size)]  # per chunk, not per image
    return [np.concatenate(parts, axis=0) for parts in zip(*chunks)]
