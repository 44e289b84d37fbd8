"""Answers to notebook 00's warm-up, saliency_from_gradients(grads) -> (N, H, W)."""
import numpy as np

from answers import correct, wrong

CHECK = "check_saliency_from_gradients"


@correct(CHECK)
def vectorised(grads):
    return np.abs(grads).max(axis=-1)


@correct(CHECK)
def loops(grads):
    n, h, w, c = grads.shape
    out = np.zeros((n, h, w))
    for i in range(n):
        for y in range(h):
            for x in range(w):
                out[i, y, x] = max(abs(v) for v in grads[i, y, x])
    return out


@correct(CHECK)
def float64_axis3(grads):
    return np.max(np.abs(grads.astype(np.float64)), axis=3)


@correct(CHECK)
def tf_ops(grads):
    import tensorflow as tf
    return tf.reduce_max(tf.abs(grads), axis=-1)              # a tf.Tensor


@correct(CHECK)
def list_of_maps(grads):
    return [np.abs(g).max(axis=-1) for g in grads]


@wrong(CHECK, "took the max first")
def max_then_abs(grads):
    return np.abs(grads.max(axis=-1))


@wrong(CHECK, "forgot the absolute value")
def forgot_abs(grads):
    return grads.max(axis=-1)


@wrong(CHECK, "averaged over the channels")
def mean_channels(grads):
    return np.abs(grads).mean(axis=-1)


@wrong(CHECK, "summed over the channels")
def sum_channels(grads):
    return np.abs(grads).sum(axis=-1)


@wrong(CHECK, "extra last axis of size")
def kept_channels(grads):
    return np.abs(grads)


@wrong(CHECK, "max over everything")
def max_everything(grads):
    return np.abs(grads).max()


@wrong(CHECK, "you reduced over axis 0")
def batch_axis(grads):
    return np.abs(grads).max(axis=0)


@wrong(CHECK, "each of your maps is rescaled to [0, 1]")
def normalised_maps(grads):
    s = np.abs(grads).max(axis=-1)
    low, high = s.min(axis=(1, 2), keepdims=True), s.max(axis=(1, 2), keepdims=True)
    return (s - low) / (high - low)
