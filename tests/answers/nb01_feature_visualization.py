"""Answers to notebook 01: normalize_filters, top_k_images, gradient_ascent_step, total_variation."""
import numpy as np

from answers import correct, wrong

FILTERS, TOP, ASCENT, TV = "check_normalize_filters", "check_top_k_images", "check_gradient_ascent_step", \
    "check_total_variation"


# --------------------------------------------------------------------------
# normalize_filters(kernel (kh, kw, C, K)) -> (K, kh, kw, C)
@correct(FILTERS)
def filters_vectorised(kernel):
    w = np.transpose(kernel, (3, 0, 1, 2))
    m = np.abs(w).max(axis=(1, 2, 3), keepdims=True)
    return 0.5 + w / (2 * np.maximum(m, 1e-12))


@correct(FILTERS)
def filters_loop(kernel):
    out = []
    for k in range(kernel.shape[-1]):
        w = kernel[..., k]
        m = np.abs(w).max()
        out.append(np.full(w.shape, 0.5) if m == 0 else 0.5 + w / (2 * m))
    return np.stack(out)


@correct(FILTERS)
def filters_moveaxis_float64(kernel):
    w = np.moveaxis(kernel.astype(np.float64), -1, 0)
    m = np.abs(w).reshape(len(w), -1).max(axis=1)[:, None, None, None]
    m[m == 0] = 1.0
    return 0.5 + w / (2 * m)


@correct(FILTERS)
def filters_tf(kernel):
    import tensorflow as tf
    w = tf.transpose(kernel, (3, 0, 1, 2))
    m = tf.reduce_max(tf.abs(w), axis=(1, 2, 3), keepdims=True)
    return 0.5 + tf.math.divide_no_nan(w, 2 * m)


@correct(FILTERS)
def filters_list(kernel):
    return [0.5 + f / (2 * max(np.abs(f).max(), 1e-12)) for f in np.transpose(kernel, (3, 0, 1, 2))]


@wrong(FILTERS, "you reshaped the kernel")
def filters_reshape(kernel):
    kh, kw, c, k = kernel.shape
    w = kernel.reshape(k, kh, kw, c)
    m = np.abs(w).max(axis=(1, 2, 3), keepdims=True)
    return 0.5 + w / (2 * np.maximum(m, 1e-12))


@wrong(FILTERS, "you transposed with the axis order (3, 1, 0, 2)")
def filters_swapped_rows_cols(kernel):
    w = np.transpose(kernel, (3, 1, 0, 2))
    m = np.abs(w).max(axis=(1, 2, 3), keepdims=True)
    return 0.5 + w / (2 * np.maximum(m, 1e-12))


@wrong(FILTERS, "kernel.T")
def filters_dot_t(kernel):
    w = kernel.T
    m = np.abs(w).max(axis=(1, 2, 3), keepdims=True)
    return 0.5 + w / (2 * np.maximum(m, 1e-12))


@wrong(FILTERS, "keras stores a Conv2D")
def filters_no_transpose(kernel):
    m = np.abs(kernel).max(axis=(0, 1, 2), keepdims=True)
    return 0.5 + kernel / (2 * np.maximum(m, 1e-12))


@wrong(FILTERS, "stretched each filter")
def filters_minmax(kernel):
    w = np.transpose(kernel, (3, 0, 1, 2))
    low, high = w.min(axis=(1, 2, 3), keepdims=True), w.max(axis=(1, 2, 3), keepdims=True)
    return (w - low) / np.where(high > low, high - low, 1.0)


@wrong(FILTERS, "stretched the whole layer")
def filters_minmax_layer(kernel):
    w = np.transpose(kernel, (3, 0, 1, 2))
    return (w - w.min()) / (w.max() - w.min())


@wrong(FILTERS, "scale='layer'")
def filters_layer_max(kernel):
    w = np.transpose(kernel, (3, 0, 1, 2))
    return 0.5 + w / (2 * np.abs(w).max())


@wrong(FILTERS, "each colour channel")
def filters_per_channel(kernel):
    w = np.transpose(kernel, (3, 0, 1, 2))
    m = np.abs(w).max(axis=(1, 2), keepdims=True)
    return 0.5 + w / (2 * np.where(m == 0, 1.0, m))


@wrong(FILTERS, "not the largest absolute weight")
def filters_no_abs(kernel):
    w = np.transpose(kernel, (3, 0, 1, 2))
    m = w.max(axis=(1, 2, 3), keepdims=True)
    return 0.5 + w / (2 * np.where(m == 0, 1.0, m))


@wrong(FILTERS, "[-0.5, 0.5]")
def filters_no_half(kernel):
    w = np.transpose(kernel, (3, 0, 1, 2))
    return w / (2 * np.maximum(np.abs(w).max(axis=(1, 2, 3), keepdims=True), 1e-12))


@wrong(FILTERS, "-0.5 and 1.5")
def filters_no_two(kernel):
    w = np.transpose(kernel, (3, 0, 1, 2))
    return 0.5 + w / np.maximum(np.abs(w).max(axis=(1, 2, 3), keepdims=True), 1e-12)


@wrong(FILTERS, "came out as NaN")
def filters_unguarded(kernel):
    w = np.transpose(kernel, (3, 0, 1, 2))
    with np.errstate(all="ignore"):
        return 0.5 + w / (2 * np.abs(w).max(axis=(1, 2, 3), keepdims=True))


@wrong(FILTERS, "keepdims=True")
def filters_no_keepdims(kernel):
    w = np.transpose(kernel, (3, 0, 1, 2))
    return 0.5 + w / (2 * np.maximum(np.abs(w).max(axis=(1, 2, 3)), 1e-12))


# --------------------------------------------------------------------------
# top_k_images(maps (N, h, w), k) -> (k,)
@correct(TOP)
def top_argsort(maps, k):
    return np.argsort(-maps.reshape(len(maps), -1).max(axis=1))[:k]


@correct(TOP)
def top_loop(maps, k):
    scores = [m.max() for m in maps]
    return sorted(range(len(maps)), key=lambda i: -scores[i])[:k]      # a list


@correct(TOP)
def top_reversed(maps, k):
    return np.argsort(maps.max(axis=(1, 2)), kind="stable")[::-1][:k]


@correct(TOP)
def top_tf(maps, k):
    import tensorflow as tf
    return tf.math.top_k(tf.reduce_max(maps, axis=(1, 2)), k=k).indices    # int32 tensor


@wrong(TOP, "*weakest* images")
def top_weakest(maps, k):
    return np.argsort(maps.max(axis=(1, 2)))[:k]


@wrong(TOP, "the weakest of them first")
def top_weakest_first(maps, k):
    return np.argsort(maps.max(axis=(1, 2)))[-k:]


@wrong(TOP, "by the mean")
def top_mean(maps, k):
    return np.argsort(-maps.mean(axis=(1, 2)))[:k]


@wrong(TOP, "returned the activations")
def top_scores(maps, k):
    return np.sort(maps.max(axis=(1, 2)))[::-1][:k]


@wrong(TOP, "not in order")
def top_sorted_indices(maps, k):
    return np.sort(np.argsort(-maps.max(axis=(1, 2)))[:k])


# --------------------------------------------------------------------------
# gradient_ascent_step(model, image, layer, channel, lr) -> (H, W, C)
def _score_gradient(model, image, layer, channel, score=None):
    import tensorflow as tf

    from labkit import layers
    score = score or (lambda a, c: tf.reduce_mean(a[..., c]))
    fmodel = layers.feature_model(model, layer, logits=False)
    x = tf.convert_to_tensor(image[None])
    with tf.GradientTape() as tape:
        tape.watch(x)
        s = score(fmodel(x), channel)
    return tape.gradient(s, x)[0].numpy()


@correct(ASCENT)
def ascent_feature_model(model, image, layer, channel, lr):
    return image + lr * _score_gradient(model, image, layer, channel)


@correct(ASCENT)
def ascent_keras_model_variable(model, image, layer, channel, lr):
    import keras
    import tensorflow as tf
    fmodel = keras.Model(model.input, model.get_layer(layer).output)
    x = tf.Variable(image[None])
    with tf.GradientTape() as tape:
        score = tf.reduce_mean(fmodel(x)[0, :, :, channel])
    return (x + lr * tape.gradient(score, x))[0]                          # a tf.Tensor


@correct(ASCENT)
def ascent_float64(model, image, layer, channel, lr):
    return image.astype(np.float64) + lr * _score_gradient(model, image, layer, channel).astype(np.float64)


@wrong(ASCENT, "stepped *down* the gradient")
def ascent_descent(model, image, layer, channel, lr):
    return image - lr * _score_gradient(model, image, layer, channel)


@wrong(ASCENT, "you returned the gradient")
def ascent_gradient(model, image, layer, channel, lr):
    return _score_gradient(model, image, layer, channel)


@wrong(ASCENT, "*sum* of the channel")
def ascent_sum(model, image, layer, channel, lr):
    import tensorflow as tf
    g = _score_gradient(model, image, layer, channel, lambda a, c: tf.reduce_sum(a[..., c]))
    return image + lr * g


@wrong(ASCENT, "mean of the whole layer")
def ascent_whole_layer(model, image, layer, channel, lr):
    import tensorflow as tf
    return image + lr * _score_gradient(model, image, layer, channel, lambda a, c: tf.reduce_mean(a))


@wrong(ASCENT, "you clipped the image")
def ascent_clipped(model, image, layer, channel, lr):
    return np.clip(image + lr * _score_gradient(model, image, layer, channel), 0, 1)


@wrong(ASCENT, "normalised the gradient")
def ascent_normalised(model, image, layer, channel, lr):
    g = _score_gradient(model, image, layer, channel)
    return image + lr * g / np.linalg.norm(g)


@wrong(ASCENT, "sign of the gradient")
def ascent_sign(model, image, layer, channel, lr):
    return image + lr * np.sign(_score_gradient(model, image, layer, channel))


@wrong(ASCENT, "did not watch the image")
def ascent_no_watch(model, image, layer, channel, lr):
    import tensorflow as tf

    from labkit import layers
    fmodel = layers.feature_model(model, layer, logits=False)
    with tf.GradientTape() as tape:
        score = tf.reduce_mean(fmodel(image[None])[..., channel])
    return image + lr * tape.gradient(score, tf.convert_to_tensor(image[None]))[0]


# --------------------------------------------------------------------------
# total_variation(images (N, H, W, C)) -> (N,)
@correct(TV)
def tv_slices(images):
    dy = np.abs(images[:, 1:] - images[:, :-1]).mean(axis=(1, 2, 3))
    dx = np.abs(images[:, :, 1:] - images[:, :, :-1]).mean(axis=(1, 2, 3))
    return dy + dx


@correct(TV)
def tv_diff_loop(images):
    return [float(np.abs(np.diff(im, axis=0)).mean() + np.abs(np.diff(im, axis=1)).mean()) for im in images]


@correct(TV)
def tv_tf(images):
    import tensorflow as tf
    x = tf.constant(images, tf.float64)
    return (tf.reduce_mean(tf.abs(x[:, 1:] - x[:, :-1]), axis=(1, 2, 3))
            + tf.reduce_mean(tf.abs(x[:, :, 1:] - x[:, :, :-1]), axis=(1, 2, 3)))


@wrong(TV, "only compared vertical neighbours")
def tv_vertical(images):
    return np.abs(images[:, 1:] - images[:, :-1]).mean(axis=(1, 2, 3))


@wrong(TV, "only compared horizontal neighbours")
def tv_horizontal(images):
    return np.abs(np.diff(images, axis=2)).mean(axis=(1, 2, 3))


@wrong(TV, "you squared the differences")
def tv_squared(images):
    return (np.diff(images, axis=1) ** 2).mean(axis=(1, 2, 3)) + (np.diff(images, axis=2) ** 2).mean(axis=(1, 2, 3))


@wrong(TV, "you summed the differences")
def tv_sum(images):
    return np.abs(np.diff(images, axis=1)).sum(axis=(1, 2, 3)) + np.abs(np.diff(images, axis=2)).sum(axis=(1, 2, 3))


@wrong(TV, "one number for the whole batch")
def tv_one_number(images):
    return np.abs(np.diff(images, axis=1)).mean() + np.abs(np.diff(images, axis=2)).mean()


@wrong(TV, "differences along axes 2 and 3")
def tv_channels_first(images):
    return np.abs(np.diff(images, axis=2)).mean(axis=(1, 2, 3)) + np.abs(np.diff(images, axis=3)).mean(axis=(1, 2, 3))
