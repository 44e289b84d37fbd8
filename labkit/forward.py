"""Running a model forward: compiled once, in batches, numpy out.

Two things every method needs and that live here only:

- :func:`cached` is labkit's one cache of compiled functions. Entries are
  keyed *weakly* by a model (usually a labkit feature model), so they vanish
  with it, and nothing is ever stored on the user's model. What an entry
  holds must not keep its model alive either (a ``tf.function`` closing over
  the model would: the model could never be collected), so the function
  that builds an entry receives a weak proxy of the model, not the model.
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

from labkit.validate import as_model_inputs, check_batch_size, check_model

__all__ = ["cached", "predict_batched"]

# owner (a model) -> {key: value}; an owner's entries go when the owner is garbage-collected.
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# owner -> the weak proxy its builders receive, and back: id(proxy) -> weakref to the owner.
_PROXIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_OWNERS: dict[int, weakref.ref] = {}


def _proxy(owner: keras.Model):
    """The one weak proxy of ``owner`` (a builder may pass it back to :func:`cached`)."""
    proxy = _PROXIES.get(owner)
    if proxy is None:
        proxy = weakref.proxy(owner)
        _PROXIES[owner] = proxy  # lives exactly as long as the owner
        key = id(proxy)
        _OWNERS[key] = weakref.ref(owner, lambda _, key=key: _OWNERS.pop(key, None))
    return proxy


def _owner(owner):
    """The model itself, also when ``owner`` is the proxy a builder received."""
    if isinstance(owner, weakref.ProxyTypes):
        ref = _OWNERS.get(id(owner))
        model = ref() if ref is not None else None
        if model is None:
            raise ReferenceError("the model of this cached function no longer exists")
        return model
    return owner


def cached(owner: keras.Model, key: Hashable, make: Callable[[keras.Model], object]):
    """Return the value cached for ``(owner, key)``, calling ``make(owner_proxy)`` the first time.

    The one compile cache of labkit: methods keep their ``tf.function`` here,
    keyed by the model they trace and by whatever else decides the trace
    (the method, an option). Weak in ``owner``: never keeps a model alive,
    never writes an attribute on it. ``make`` receives a
    ``weakref.proxy`` of the owner and must build the value from it (not
    from the owner itself), so that the value does not keep the owner
    alive: ``tf.function(lambda x: proxy(x))`` traces the model just the
    same. The proxy may be passed back to :func:`cached`.

    Parameters
    ----------
    owner : keras.Model
        The model the cached value belongs to (or the proxy of it that a builder received).
    key : hashable
        What distinguishes values for the same model, e.g. ``("grad_cam",)``.
    make : callable
        ``make(proxy) -> value``; called once per (owner, key).

    Examples
    --------
    >>> f = cached(net, ("saliency",), lambda net: tf.function(lambda x: net(x)))  # doctest: +SKIP
    """
    owner = _owner(owner)
    if not callable(make):
        raise TypeError(f"make must be a function building the value from the model, got {type(make).__name__}")
    try:
        entries = _CACHE.setdefault(owner, {})
    except TypeError:  # not weakly referenceable: None, a string, a number
        raise TypeError(f"owner must be a model (weakly referenceable), got {type(owner).__name__}") from None
    try:
        found = key in entries
    except TypeError:
        raise TypeError(f"key must be hashable (e.g. a tuple of strings), got {type(key).__name__}") from None
    if not found:
        entries[key] = make(_proxy(owner))
    return entries[key]


def _call_function(model: keras.Model):
    """``model(x, training=False)`` as one tf.function for any batch size: a list of outputs."""

    def make(model):
        spec = tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32)
        return tf.function(lambda x: tf.nest.flatten(model(x, training=False)), input_signature=[spec])

    return cached(model, ("call",), make)


def predict_batched(model: keras.Model, batch, *, batch_size: int = 64) -> list[np.ndarray]:
    """Run ``model`` over a batch in chunks of ``batch_size``; numpy out.

    One compiled ``tf.function`` call per chunk, no Python loop per image;
    each chunk's outputs go to the host before the next chunk runs.

    Parameters
    ----------
    model : keras.Model
        Typically a :func:`labkit.layers.feature_model`; any built
        Functional or Sequential model with one input.
    batch : array-like
        (N, ...) inputs of the model's input shape, e.g. (N, H, W, C) float32
        images (checked like every labkit image argument) or (N, D) table rows.
    batch_size : int
        Inputs per forward pass.

    Returns
    -------
    list[np.ndarray]
        One array (N, ...) per model output.

    Examples
    --------
    >>> maps, logits = predict_batched(feature_model(model, "conv2"), batch)  # doctest: +SKIP
    """
    model = check_model(model, kind=None, one_output=False)
    batch = as_model_inputs(batch, model, name="batch")
    batch_size = check_batch_size(batch_size, len(batch))
    function = _call_function(model)
    chunks = [[output.numpy() for output in function(tf.constant(batch[start : start + batch_size]))]
              for start in range(0, len(batch), batch_size)]  # per chunk, not per image
    return [np.concatenate(parts, axis=0) for parts in zip(*chunks)]
