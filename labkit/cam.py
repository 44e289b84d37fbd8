"""Class activation maps: CAM, Grad-CAM, Grad-CAM++.

All three weight the K feature maps ``A_k`` (h, w) of a convolutional layer
and add them up, ``M = sum_k w_k A_k``; they differ in the weights:

- :func:`cam` (Zhou et al. 2016): for a model ending in
  ``conv maps -> GlobalAveragePooling2D -> Dense``, the class score is
  ``S_c = sum_k W[k, c] mean_ij A_k[i, j] + b_c``, so ``w_k = W[k, c]``.
  The map then adds up (averaged) to the score, minus the bias.
- :func:`grad_cam` (Selvaraju et al. 2017): any conv layer, with
  ``w_k = mean_ij dS_c/dA_k[i, j]``, followed by a ReLU. For a GAP+Dense
  head ``dS_c/dA_k[i, j] = W[k, c] / (h w)``, so Grad-CAM = CAM / (h w)
  (before the ReLU).
- :func:`grad_cam_pp` (Chattopadhay et al. 2018): pixel-wise weighted
  positive gradients, which helps when a class appears several times.

Maps come out at the layer's resolution (h, w); ``upsample=True`` resizes
them bilinearly to the input size. Intermediate outputs come from
:func:`labkit.layers.feature_model` (nested models included); the user's
model is never modified.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from labkit.forward import cached, predict_batched
from labkit.layers import feature_model, iter_layers, last_conv_layer, logits_layer_and_softmax, producer, resolve_layer
from labkit.targets import resolve_in_graph, target_logit, targets_or_predicted
from labkit.validate import as_images, check_batch_size, check_flag, check_model

__all__ = ["cam", "grad_cam", "grad_cam_pp"]

_MAX_LISTED = 20  # layer names shown in an error message


# --- shared plumbing ----------------------------------------------------------------------------


def _finish(maps: np.ndarray, batch: np.ndarray, single: bool, upsample: bool) -> np.ndarray:
    """Optionally resize (N, h, w) maps to the input size (bilinear); drop N for one image."""
    if upsample:
        maps = tf.image.resize(maps[..., None], batch.shape[1:3], method="bilinear")[..., 0].numpy()
    return maps[0] if single else maps


def _rank(layer: keras.layers.Layer) -> int | None:
    try:
        return len(layer.output.shape)
    except (AttributeError, ValueError, RuntimeError, TypeError):  # no single output
        return None


def _feature_layer(model: keras.Model, layer) -> keras.layers.Layer:
    """The layer given (default: the last conv feature map), checked to output (N, h, w, K)."""
    found = last_conv_layer(model) if layer is None else resolve_layer(model, layer)
    if _rank(found) != 4:
        maps = [f"{candidate.name!r}" for candidate in iter_layers(model)
                if not isinstance(candidate, keras.Model) and _rank(candidate) == 4]
        listed = ", ".join(maps[-_MAX_LISTED:])
        more = f"(the last {_MAX_LISTED} of {len(maps)}) " if len(maps) > _MAX_LISTED else ""
        shape = getattr(getattr(found, "output", None), "shape", "?")
        raise ValueError(
            f"layer {found.name!r} outputs shape {shape}, not convolutional feature maps "
            f"(N, h, w, K); Grad-CAM weights the channels of a conv-like layer. Layers with "
            f"feature maps {more}in model {model.name!r}: {listed or 'none'}; layer=None "
            f"uses the last conv feature map, {last_conv_layer(model).name!r}"
        )
    return found


# --- CAM ------------------------------------------------------------------------------------------


def _cam_head(model: keras.Model) -> tuple[keras.layers.Layer, keras.layers.Dense]:
    """(feature-map layer, Dense) of a ``maps -> GlobalAveragePooling2D -> Dense`` head, or a ValueError."""
    head, softmax = logits_layer_and_softmax(model)
    dense = producer(head.input) if softmax == "layer" else head
    pooling = producer(dense.input) if isinstance(dense, keras.layers.Dense) else None
    if isinstance(pooling, keras.layers.GlobalAveragePooling2D) and not pooling.keepdims:
        return producer(pooling.input), dense
    found = f"{type(pooling).__name__} {pooling.name!r} feeding " if pooling is not None else ""
    raise ValueError(
        f"CAM is undefined for model {model.name!r}: it needs the last conv feature maps to go "
        f"through GlobalAveragePooling2D straight into the final Dense layer, so that the class "
        f"score is a weighted sum of averaged maps and the same weights can be applied to the maps "
        f"themselves (Zhou et al. 2016). Here the output comes from {found}"
        f"{type(dense).__name__} {dense.name!r}. Use grad_cam(model, images), which works for any "
        f"conv layer (and equals CAM up to a constant on such a head)."
    )


def cam(model: keras.Model, images, target=None, *, layer=None, upsample: bool = False,
        batch_size: int = 64) -> np.ndarray:
    """Class activation map: the last conv maps weighted by the class's dense weights.

    ``CAM_c[i, j] = sum_k W[k, c] A_k[i, j]`` for a model ending in
    ``A -> GlobalAveragePooling2D -> Dense(W, b)`` (Zhou et al. 2016,
    "Learning deep features for discriminative localization"). Its mean over
    (i, j) plus ``b_c`` is the class logit ``S_c``.

    Parameters
    ----------
    model : keras.Model
        Classifier with a GAP -> Dense head (a softmax on it is fine).
    images : array-like
        (N, H, W, C) float32 batch or one (H, W, C) image, preprocessed.
    target : int, array-like of N ints, or None
        Class to explain per image; None = the predicted class.
    layer : str, int, Layer or None
        Must be (and defaults to) the layer feeding the global average pooling.
    upsample : bool
        Resize the (h, w) maps to the input's (H, W), bilinearly.
    batch_size : int
        Images per forward pass.

    Returns
    -------
    np.ndarray
        (N, h, w) signed maps ((N, H, W) with ``upsample=True``); no N axis for one image.

    Raises
    ------
    ValueError
        The model has no GAP -> Dense head (use :func:`grad_cam`), or ``layer`` is another layer.

    Examples
    --------
    >>> maps = cam(zoo.load("shapes"), data.images[:4])  # (4, 8, 8) on conv4  # doctest: +SKIP
    """
    model = check_model(model, kind=None)  # the CAM head's error before "not an image model"
    upsample = check_flag(upsample, "upsample")
    maps_layer, dense = _cam_head(model)
    if layer is not None and resolve_layer(model, layer) is not maps_layer:
        raise ValueError(
            f"CAM is defined only on the feature maps feeding the global average pooling "
            f"({maps_layer.name!r}), got layer={layer!r}; for other layers use grad_cam"
        )
    batch, single = as_images(images, model=model)
    targets = targets_or_predicted(model, target, len(batch))  # (N,), -1 = predicted
    features = feature_model(model, [maps_layer])  # image -> [A (N, h, w, K), logits]
    maps, logits = predict_batched(features, batch, batch_size=check_batch_size(batch_size, len(batch)))
    classes = resolve_in_graph(tf.constant(logits), tf.constant(targets)).numpy()  # (N,): c per image
    weights = dense.kernel.numpy()[:, classes].T  # (N, K): W[:, c] per image
    return _finish(np.einsum("nhwk,nk->nhw", maps, weights), batch, single, upsample)


# --- Grad-CAM and Grad-CAM++ --------------------------------------------------------------------


def _grad_cam_weights(maps: tf.Tensor, gradients: tf.Tensor) -> tf.Tensor:
    """Selvaraju et al. eq. 1: ``w_k = mean_ij dS_c/dA_k[i, j]``; (N, h, w, K) -> (N, K)."""
    return tf.reduce_mean(gradients, axis=(1, 2))


def _grad_cam_pp_weights(maps: tf.Tensor, gradients: tf.Tensor) -> tf.Tensor:
    """Chattopadhay et al.'s closed form for an exponential score: (N, h, w, K) -> (N, K).

    With ``Y = exp(S_c)`` the higher derivatives become powers of ``g = dS_c/dA``:
    ``alpha_kij = g^2 / (2 g^2 + sum_ab A_kab g^3)`` and
    ``w_k = sum_ij alpha_kij relu(g_kij)``, dropping the common factor
    ``exp(S_c)`` (it only scales the map). Where ``g = 0``, ``alpha = 0``.
    """
    g2, g3 = gradients**2, gradients**3
    totals = tf.reduce_sum(maps, axis=(1, 2), keepdims=True)  # (N, 1, 1, K): sum_ab A_k[a, b]
    denominator = 2.0 * g2 + totals * g3
    alphas = tf.math.divide_no_nan(g2, denominator)  # (N, h, w, K)
    return tf.reduce_sum(alphas * tf.nn.relu(gradients), axis=(1, 2))


def _weighted_maps_function(features: keras.Model, weigh):
    """tf.function(images, targets) -> sum_k w_k A_k (N, h, w), with w from ``weigh(A, dS_c/dA)``."""

    def run(images, targets):
        with tf.GradientTape() as tape:
            maps, logits = features(images, training=False)  # (N, h, w, K), (N, classes)
            score = target_logit(logits, targets)  # (N,): S_c, -1 = the predicted class
        gradients = tape.gradient(score, maps)  # (N, h, w, K)
        weights = weigh(maps, gradients)  # (N, K)
        return tf.einsum("nhwk,nk->nhw", maps, weights)

    signature = [tf.TensorSpec((None, *features.inputs[0].shape[1:]), tf.float32),
                 tf.TensorSpec((None,), tf.int32)]
    return tf.function(run, input_signature=signature)


def _weighted_maps(features: keras.Model, weigh, batch: np.ndarray, targets: np.ndarray,
                   batch_size: int) -> np.ndarray:
    """Run the cached tf.function over the batch in chunks of ``batch_size``: (N, h, w)."""
    function = cached(features, ("weighted_maps", weigh.__name__),
                      lambda features: _weighted_maps_function(features, weigh))
    parts = [function(batch[s : s + batch_size], targets[s : s + batch_size]).numpy()
             for s in range(0, len(batch), batch_size)]  # over chunks, not images; each on the host when done
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def grad_cam(model: keras.Model, images, target=None, *, layer=None, upsample: bool = False,
             relu: bool = True, batch_size: int = 64) -> np.ndarray:
    """Grad-CAM: feature maps weighted by their spatially averaged gradients, then ReLU.

    ``M = relu(sum_k w_k A_k)`` with ``w_k = 1/(h w) sum_ij dS_c/dA_k[i, j]``
    (Selvaraju et al. 2017, "Grad-CAM: visual explanations from deep
    networks via gradient-based localization"). Works on any conv-like layer,
    also inside nested models.

    Parameters
    ----------
    model : keras.Model
        Convolutional classifier, explained on its logits.
    images : array-like
        (N, H, W, C) float32 batch or one (H, W, C) image, preprocessed.
    target : int, array-like of N ints, or None
        Class to explain per image; None = the predicted class.
    layer : str, int, Layer or None
        Layer with (N, h, w, K) output; None = ``layers.last_conv_layer(model)``.
    upsample : bool
        Resize the (h, w) maps to the input's (H, W), bilinearly.
    relu : bool
        Keep only positive evidence, as in the paper; False returns the signed sum.
    batch_size : int
        Images per forward/backward pass.

    Returns
    -------
    np.ndarray
        (N, h, w) maps ((N, H, W) with ``upsample=True``); no N axis for one image.

    Examples
    --------
    >>> maps = grad_cam(model, images, layer="conv3", upsample=True)  # (N, 64, 64)  # doctest: +SKIP
    """
    return _gradient_cam(model, images, target, _grad_cam_weights, layer, upsample, relu, batch_size)


def grad_cam_pp(model: keras.Model, images, target=None, *, layer=None, upsample: bool = False,
                relu: bool = True, batch_size: int = 64) -> np.ndarray:
    """Grad-CAM++: feature maps weighted by pixel-wise weighted positive gradients.

    ``M = relu(sum_k w_k A_k)``, ``w_k = sum_ij alpha_kij relu(dS_c/dA_k[i, j])``
    (Chattopadhay et al. 2018, "Grad-CAM++: generalized gradient-based visual
    explanations for deep convolutional networks"). The alphas use the
    paper's closed form for an exponential score ``Y = exp(S_c)``, whose
    second and third derivatives are ``g^2`` and ``g^3`` times ``Y``:
    ``alpha_kij = g^2 / (2 g^2 + sum_ab A_kab g^3)``, as pytorch-grad-cam
    computes it. The common factor ``exp(S_c)`` is dropped (it only scales
    the map) and the alphas are not renormalised; tf-keras-vis (following
    the authors' released code) also divides them by their sum per
    channel, and xplique uses the mean of ``A`` where the paper sums, so
    their maps differ slightly.

    Parameters
    ----------
    model, images, target, layer, upsample, relu, batch_size
        As in :func:`grad_cam`.

    Returns
    -------
    np.ndarray
        (N, h, w) maps ((N, H, W) with ``upsample=True``); no N axis for one image.

    Examples
    --------
    >>> maps = grad_cam_pp(model, images, upsample=True)  # doctest: +SKIP
    """
    return _gradient_cam(model, images, target, _grad_cam_pp_weights, layer, upsample, relu, batch_size)


def _gradient_cam(model, images, target, weigh, layer, upsample, relu, batch_size) -> np.ndarray:
    """Shared body of grad_cam and grad_cam_pp."""
    model = check_model(model, kind=None)  # "no 2-D convolution layer" says more than "not an image model"
    maps_layer = _feature_layer(model, layer)
    batch, single = as_images(images, model=model)
    relu, upsample = check_flag(relu, "relu"), check_flag(upsample, "upsample")
    features = feature_model(model, [maps_layer])  # image -> [A (N, h, w, K), logits]
    targets = targets_or_predicted(model, target, len(batch))  # (N,), -1 = predicted: resolved in the graph
    maps = _weighted_maps(features, weigh, batch, targets, check_batch_size(batch_size, len(batch)))
    return _finish(np.maximum(maps, 0.0) if relu else maps, batch, single, upsample)
