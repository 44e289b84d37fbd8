"""Look at units: what has a trained network learned? (the lecture's first section)

No optimisation here, only the model's weights and real images:

- :func:`filters`: "First layer: visualize filters", the kernels of a conv
  layer as small images (ResNet50V2's 64 filters of 7x7x3, the zoo's 8 of 3x3x3).
- Activations of a middle layer for one image ("forward propagate, extract the
  output at any layer and plot each channel separately") are
  :func:`labkit.layers.activations`; ``plot.activation_grid`` draws them.
- :func:`top_examples`: "observing a particular filter for many inputs": the
  images (and the receptive-field crops, :func:`receptive_field`) that excite
  one channel most.
- :func:`embed`: the lecture's t-SNE of the penultimate features (and PCA).

Synthesising the image a unit likes best (gradient ascent) is :mod:`labkit.ascent`.
"""

from __future__ import annotations

from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from labkit.forward import cached
from labkit.layers import LayerRef, activations, feature_model, iter_layers, parents, resolve_layer
from labkit.objectives import check_unit
from labkit.validate import (
    as_images, check_batch_size, check_choice, check_int, check_model, check_number, check_positive_int,
)

__all__ = ["filters", "ReceptiveField", "receptive_field", "TopExamples", "top_examples", "embed"]

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
    model = check_model(model, kind=None)
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


# --- receptive fields and top examples -----------------------------------------------


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
    feeding = parents(layer)
    if len(feeding) != 1:
        return False
    parent = feeding[0]
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
    model = check_model(model)
    target = resolve_layer(model, layer)
    if input_size is None:
        n = tuple(model.inputs[0].shape[1:3])
    elif isinstance(input_size, (tuple, list)) and len(input_size) == 2:
        n = tuple(check_positive_int(v, "input_size") for v in input_size)
    else:
        raise TypeError(f"input_size must be a (height, width) pair of ints, got {input_size!r}")
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


def _channel_function(fmodel: keras.Model):
    """(images, channel) -> that channel of the layer, compiled once per feature model (any channel)."""

    def make(fmodel):  # a weak proxy: the compiled function must not keep the model alive
        spec = tf.TensorSpec((None, *fmodel.inputs[0].shape[1:]), tf.float32)
        return tf.function(lambda x, index: tf.nest.flatten(fmodel(x, training=False))[0][..., index],
                           input_signature=[spec, tf.TensorSpec((), tf.int32)])

    return cached(fmodel, ("channel",), make)


def _channel_maps(fmodel: keras.Model, batch: np.ndarray, index: int, batch_size: int) -> np.ndarray:
    """One channel of a layer for many images, in compiled chunks: (N, h, w) or (N,)."""
    run, channel = _channel_function(fmodel), tf.constant(index, tf.int32)
    chunks = [run(tf.constant(batch[i : i + batch_size]), channel).numpy()
              for i in range(0, len(batch), batch_size)]  # each chunk on the host when done
    return np.concatenate(chunks)


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
    model = check_model(model)
    target = resolve_layer(model, layer)
    batch, _ = as_images(images, model=model)
    k, batch_size = min(check_positive_int(k, "k"), len(batch)), check_batch_size(batch_size, len(batch))
    check_choice(reduce, "reduce", ("max", "mean"))
    fmodel = feature_model(model, target, logits=False)
    shape = tuple(fmodel.outputs[0].shape[1:])
    if len(shape) not in (1, 3):
        raise ValueError(f"layer {target.name!r} has output shape (N, {shape}); need (N, h, w, K) or (N, K)")
    index = check_unit(channel, shape[-1], "channel" if len(shape) == 3 else "unit", target.name)
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
    model = check_model(model)
    check_choice(method, "method", ("tsne", "pca"))
    seed = check_int(seed, "seed", low=0)
    perplexity = check_number(perplexity, "perplexity", low=0, low_open=True)
    batch, _ = as_images(images, model=model)
    resolve_layer(model, layer)
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
