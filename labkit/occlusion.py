"""Occlusion: cover part of the image and see how much the class score drops.

The lecture's first attribution method (Zeiler & Fergus 2014, "Visualizing
and understanding convolutional networks"): slide a grey (or black) square
over the image; wherever covering the image makes the target class's
probability drop a lot, the model was looking there.

For a window ``w``, ``drop_w = p_c(x) - p_c(x with w filled)``; the map at
a pixel is the average drop over all windows covering that pixel. Windows
start every ``stride`` pixels, plus one flush with the right/bottom edge, so
every pixel is covered at least once.

How it runs: a window is the outer product of a row interval and a column
interval, so the masks are built on the device from two small 0/1 tables,
``rows`` (P_r, H) and ``cols`` (P_c, W). All N * P_r * P_c occluded copies
are made inside one ``tf.function`` and pushed through the model in chunks
of ``batch_size``, one chunk at a time (so ``batch_size`` bounds the
memory); the map is ``rows^T @ drops @ cols`` divided by the
number of windows covering each pixel.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from labkit.forward import cached, predict_batched
from labkit.targets import logits_model, resolve_in_graph, targets_or_predicted
from labkit.validate import (
    INT32_MAX, as_images, check_batch_size, check_choice, check_int, check_memory, check_model, check_positive_int,
)

__all__ = ["occlusion"]


# --- windows ---------------------------------------------------------------------------------


def _pair(value, name: str) -> tuple[int, int]:
    """An int or an (int, int) pair as (rows, cols), each a positive int."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2:
        raise ValueError(f"{name} must be an int or a (height, width) pair, got {value!r}")
    return check_positive_int(pair[0], name), check_positive_int(pair[1], name)


def _window_starts(size: int, patch: int, stride: int) -> np.ndarray:
    """First pixel of each window along one axis: 0, stride, 2 stride, ..., and ``size - patch``.

    Examples
    --------
    >>> _window_starts(10, 4, 4).tolist()
    [0, 4, 6]
    """
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)  # one window flush with the edge: every pixel covered
    return np.array(starts)


def _window_table(size: int, patch: int, stride: int) -> np.ndarray:
    """(P, size) 0/1 table: row p marks the pixels covered by window p along this axis."""
    starts = _window_starts(size, patch, stride)[:, None]  # (P, 1)
    pixels = np.arange(size)[None, :]  # (1, size)
    return ((pixels >= starts) & (pixels < starts + patch)).astype(np.float32)


def _check_windows(shape: tuple, patch, stride) -> tuple[tuple[int, int], tuple[int, int]]:
    height, width = shape
    patch = _pair(patch, "patch")
    stride = (max(1, patch[0] // 2), max(1, patch[1] // 2)) if stride is None else _pair(stride, "stride")
    if patch[0] > height or patch[1] > width:
        raise ValueError(
            f"patch {patch[0]}x{patch[1]} is larger than the images ({height}x{width}); "
            f"use a patch of at most {height}x{width} pixels"
        )
    if stride[0] > patch[0] or stride[1] > patch[1]:
        raise ValueError(
            f"stride {stride} is larger than patch {patch}: some pixels would never be "
            f"occluded; use stride <= patch (default: patch // 2)"
        )
    return patch, stride


def _fill_values(fill, batch: np.ndarray) -> np.ndarray:
    """The fill colour per image as (N, C) float32: a number, C numbers, or "mean"."""
    n, channels = len(batch), batch.shape[-1]
    if isinstance(fill, str) and fill == "mean":
        return batch.mean(axis=(1, 2)).astype(np.float32)  # each image's own mean colour
    values = None if isinstance(fill, str) else np.asarray(fill, dtype=np.float32)
    if values is None or values.ndim > 1 or values.size not in (1, channels) or not np.isfinite(values).all():
        raise ValueError(f'fill must be a number, {channels} numbers (one per channel) or "mean", got {fill!r}')
    return np.broadcast_to(values.reshape(1, -1), (n, channels)).copy()


# --- the tensor program ------------------------------------------------------------------------


def _score(logits: tf.Tensor, targets: tf.Tensor, output: str) -> tf.Tensor:
    """The target's probability (softmax of the logits) or its logit, per row: (B,)."""
    values = tf.nn.softmax(logits) if output == "probability" else logits
    return tf.gather(values, targets, axis=1, batch_dims=1)


def _occlusion_function(net: keras.Model, output: str):
    """tf.function(images, targets, clean, rows, cols, fill, batch_size) -> maps (N, H, W)."""

    def run(images, targets, clean, rows, cols, fill, batch_size):
        n_cols = tf.shape(cols)[0]
        n_windows = tf.shape(rows)[0] * n_cols
        total = tf.shape(images)[0] * n_windows
        scores = tf.TensorArray(tf.float32, size=0, dynamic_size=True, infer_shape=False)
        for start in tf.range(0, total, batch_size):  # in-graph loop over chunks
            tf.autograph.experimental.set_loop_options(parallel_iterations=1)  # one chunk at a time
            k = tf.range(start, tf.minimum(start + batch_size, total))  # flat index: (image, window)
            i, window = k // n_windows, k % n_windows
            mask = tf.gather(rows, window // n_cols)[:, :, None] * tf.gather(cols, window % n_cols)[:, None, :]
            mask = mask[..., None]  # (B, H, W, 1): 1 inside the window
            colour = tf.gather(fill, i)[:, None, None, :]  # (B, 1, 1, C)
            occluded = tf.gather(images, i) * (1.0 - mask) + colour * mask  # (B, H, W, C)
            logits = tf.nest.flatten(net(occluded, training=False))[-1]
            scores = scores.write(start // batch_size, _score(logits, tf.gather(targets, i), output))
        drops = clean[:, None] - tf.reshape(scores.concat(), (-1, n_windows))  # (N, P)
        drops = tf.reshape(drops, (-1, tf.shape(rows)[0], n_cols))  # (N, P_r, P_c)
        summed = tf.einsum("nij,ih,jw->nhw", drops, rows, cols)  # sum of drops over covering windows
        covering = tf.einsum("ih,jw->hw", rows, cols)  # (H, W) windows covering each pixel, >= 1
        return summed / covering

    height, width, channels = net.inputs[0].shape[1:]
    spec = tf.TensorSpec
    signature = [spec((None, height, width, channels), tf.float32), spec((None,), tf.int32),
                 spec((None,), tf.float32), spec((None, height), tf.float32), spec((None, width), tf.float32),
                 spec((None, channels), tf.float32), spec((), tf.int32)]
    return tf.function(run, input_signature=signature)


# --- the method ------------------------------------------------------------------------------


def occlusion(model: keras.Model, images, target=None, *, patch: int | tuple[int, int] = 8,
              stride: int | tuple[int, int] | None = None, fill: float | tuple | str = 0.0,
              output: str = "probability", batch_size: int = 256) -> np.ndarray:
    """Occlusion map: how much the target's probability drops when a patch is covered.

    Zeiler & Fergus 2014, "Visualizing and understanding convolutional
    networks". Each window of ``patch`` pixels, every ``stride`` pixels, is
    filled with ``fill``; the map at a pixel is the mean drop
    ``p_c(x) - p_c(x_occluded)`` over the windows covering it. Positive:
    covering this region lowers the class score; negative: it raises it.

    Parameters
    ----------
    model : keras.Model
        Image classifier; probabilities are the softmax of its logits.
    images : array-like
        (N, H, W, C) float32 batch or one (H, W, C) image, preprocessed.
    target : int, array-like of N ints, or None
        Class to explain per image; None = the predicted class.
    patch : int or (int, int)
        Window height and width in pixels.
    stride : int or (int, int), optional
        Step between windows; default ``patch // 2``. At most ``patch``.
    fill : float, sequence of C floats, or "mean"
        Value written into the window: 0.0 is black for [0, 1] images (and
        the mean for mean-centred inputs); "mean" uses each image's own
        mean colour. On the ``shapes`` model a black square is itself a
        "square" and misleads the map (pointing game ~10%); the mean colour
        does not (~95%).
    output : {"probability", "logit"}
        Score whose drop is measured: softmax probability or raw logit.
    batch_size : int
        Occluded images per forward pass.

    Returns
    -------
    np.ndarray
        (N, H, W) signed maps, or (H, W) for one image.

    Examples
    --------
    >>> maps = occlusion(zoo.load("shapes"), data.images[:4], patch=12, stride=4)  # doctest: +SKIP
    """
    model = check_model(model)
    check_choice(output, "output", ("probability", "logit"))
    batch, single = as_images(images, model=model)
    targets = targets_or_predicted(model, target, len(batch))  # (N,), -1 = predicted
    patch, stride = _check_windows(batch.shape[1:3], patch, stride)
    rows = _window_table(batch.shape[1], patch[0], stride[0])  # (P_r, H)
    cols = _window_table(batch.shape[2], patch[1], stride[1])  # (P_c, W)
    total = check_int(len(batch) * len(rows) * len(cols), "the number of occluded images (images x windows)",
                      high=INT32_MAX, what="at most 2**31 - 1: use fewer images or a larger stride")
    check_memory(12 * total, f"occlusion of {len(batch)} images x {len(rows) * len(cols)} windows",
                 "use fewer images or a larger stride")  # the scores of every occluded image
    batch_size = check_batch_size(batch_size, total)
    fill = _fill_values(fill, batch)  # (N, C)
    net = logits_model(model)  # image -> logits; shares the weights
    logits = tf.constant(predict_batched(net, batch, batch_size=batch_size)[-1])  # (N, classes), intact images
    targets = resolve_in_graph(logits, tf.constant(targets))  # (N,): the intact image's class where -1
    clean = _score(logits, targets, output)  # (N,)
    function = cached(net, ("occlusion", output), lambda net: _occlusion_function(net, output))
    maps = function(batch, targets, clean, rows, cols, fill, batch_size).numpy()
    return maps[0] if single else maps
