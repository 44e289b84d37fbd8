"""Answers to notebook 02: occlusion_map, saliency, cam_from_weights, pointing_game."""
import numpy as np

from answers import correct, wrong

OCCLUSION, SALIENCY, CAM, POINTING = "check_occlusion_map", "check_saliency", "check_cam_from_weights", \
    "check_pointing_game"


def window_starts(size, patch, stride):
    """The helper the notebook gives."""
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


# --------------------------------------------------------------------------
# occlusion_map(model, image, target, patch, stride) -> (H, W)
def _occlusion(model, image, target, patch, stride, *, fill=0.0, prob=None, accumulate=True,
               starts=window_starts, drop=lambda p0, p: p0 - p, divide=True, occlude_copy=True):
    import tensorflow as tf
    prob = prob or (lambda batch: tf.nn.softmax(model(batch)).numpy()[:, target])
    height, width = image.shape[:2]
    windows = [(y, x) for y in starts(height, patch, stride) for x in starts(width, patch, stride)]
    copies = [image]
    for y, x in windows:
        occluded = image.copy() if occlude_copy else image
        occluded[y:y + patch, x:x + patch] = fill
        copies.append(occluded)
    p = prob(np.stack(copies))
    total, count = np.zeros((height, width)), np.zeros((height, width))
    for d, (y, x) in zip(drop(p[0], p[1:]), windows):
        if accumulate:
            total[y:y + patch, x:x + patch] += d
        else:
            total[y:y + patch, x:x + patch] = d
        count[y:y + patch, x:x + patch] += 1
    return total / count if divide else total


@correct(OCCLUSION)
def occlusion_batched(model, image, target, patch, stride):
    return _occlusion(model, image, target, patch, stride)


@correct(OCCLUSION)
def occlusion_one_window_at_a_time(model, image, target, patch, stride):
    import tensorflow as tf
    height, width = image.shape[:2]
    p0 = float(tf.nn.softmax(model(image[None]))[0, target])
    total, count = np.zeros((height, width)), np.zeros((height, width))
    for y in window_starts(height, patch, stride):
        for x in window_starts(width, patch, stride):
            occluded = np.copy(image)
            occluded[y:y + patch, x:x + patch] = 0
            p = np.asarray(model(occluded[None]))
            p = np.exp(p - p.max()) / np.exp(p - p.max()).sum()
            total[y:y + patch, x:x + patch] += p0 - p[0, target]
            count[y:y + patch, x:x + patch] += 1
    return total / count


@correct(OCCLUSION)
def occlusion_scipy_softmax_float64(model, image, target, patch, stride):
    from scipy.special import softmax
    image = image.astype(np.float64)
    return _occlusion(model, image, target, patch, stride,
                      prob=lambda batch: softmax(np.asarray(model(batch.astype(np.float32))), axis=-1)[:, target])


@wrong(OCCLUSION, "opposite sign")
def occlusion_sign(model, image, target, patch, stride):
    return _occlusion(model, image, target, patch, stride, drop=lambda p0, p: p - p0)


@wrong(OCCLUSION, "drop of the logit")
def occlusion_logit(model, image, target, patch, stride):
    return _occlusion(model, image, target, patch, stride, prob=lambda b: np.asarray(model(b))[:, target])


@wrong(OCCLUSION, "measured the predicted class")
def occlusion_predicted(model, image, target, patch, stride):
    import tensorflow as tf
    predicted = int(np.argmax(model(image[None])))
    return _occlusion(model, image, target, patch, stride,
                      prob=lambda b: tf.nn.softmax(model(b)).numpy()[:, predicted])


@wrong(OCCLUSION, "added up the drops")
def occlusion_sum(model, image, target, patch, stride):
    return _occlusion(model, image, target, patch, stride, divide=False)


@wrong(OCCLUSION, "drop of the last window")
def occlusion_assigned(model, image, target, patch, stride):
    return _occlusion(model, image, target, patch, stride, accumulate=False, divide=False)


@wrong(OCCLUSION, "flush with the bottom and right edges are missing")
def occlusion_no_edge_windows(model, image, target, patch, stride):
    with np.errstate(all="ignore"):
        return _occlusion(model, image, target, patch, stride,
                          starts=lambda size, patch, stride: list(range(0, size - patch + 1, stride)))


@wrong(OCCLUSION, "image's mean")
def occlusion_mean_fill(model, image, target, patch, stride):
    return _occlusion(model, image, target, patch, stride, fill=image.mean())


@wrong(OCCLUSION, "1 (white)")
def occlusion_white(model, image, target, patch, stride):
    return _occlusion(model, image, target, patch, stride, fill=1.0)


@wrong(OCCLUSION, "0.5 (grey)")
def occlusion_grey(model, image, target, patch, stride):
    return _occlusion(model, image, target, patch, stride, fill=0.5)


@wrong(OCCLUSION, "softmax over axis 0")
def occlusion_softmax_axis0(model, image, target, patch, stride):
    import tensorflow as tf
    return _occlusion(model, image, target, patch, stride,
                      prob=lambda b: tf.nn.softmax(model(b), axis=0).numpy()[:, target])


@wrong(OCCLUSION, "batch of one image is 1.0 for every class")
def occlusion_softmax_axis0_one_at_a_time(model, image, target, patch, stride):
    import tensorflow as tf
    return _occlusion(model, image, target, patch, stride,
                      prob=lambda b: np.array([float(tf.nn.softmax(model(x[None]), axis=0)[0, target]) for x in b]))


@wrong(OCCLUSION, "never saw an occluded image")
def occlusion_compared_with_itself(model, image, target, patch, stride):
    import tensorflow as tf
    return _occlusion(model, image, target, patch, stride,
                      prob=lambda b: tf.nn.softmax(model(np.stack([image] * len(b)))).numpy()[:, target])


@wrong(OCCLUSION, "changed its input")
def occlusion_view(model, image, target, patch, stride):
    return _occlusion(model, image, target, patch, stride, occlude_copy=False)


@wrong(OCCLUSION, "rescaled to [0, 1]")
def occlusion_normalised(model, image, target, patch, stride):
    m = _occlusion(model, image, target, patch, stride)
    return (m - m.min()) / (m.max() - m.min())


# --------------------------------------------------------------------------
# saliency(model, images, target) -> (N, H, W)
def _gradients(model, images, pick):
    import tensorflow as tf
    x = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = pick(model(x))
    return tape.gradient(score, x).numpy()


def _target_logit(target):
    import tensorflow as tf
    return lambda logits: tf.gather(logits, target, axis=1, batch_dims=1)


@correct(SALIENCY)
def saliency_gather(model, images, target):
    return np.abs(_gradients(model, images, _target_logit(target))).max(axis=-1)


@correct(SALIENCY)
def saliency_one_hot_tf(model, images, target):
    import tensorflow as tf
    x = tf.Variable(images)
    with tf.GradientTape() as tape:
        logits = model(x)
        score = tf.reduce_sum(logits * tf.one_hot(target, logits.shape[-1]))
    return tf.reduce_max(tf.abs(tape.gradient(score, x)), axis=-1)          # a tf.Tensor


@correct(SALIENCY)
def saliency_loop(model, images, target):
    import tensorflow as tf
    maps = []
    for image, t in zip(images, target):
        x = tf.convert_to_tensor(image[None])
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = model(x)[0, int(t)]
        maps.append(np.abs(tape.gradient(score, x)[0].numpy()).max(axis=-1))
    return np.stack(maps).astype(np.float64)


@correct(SALIENCY)
def saliency_gather_nd(model, images, target):
    import tensorflow as tf
    index = np.stack([np.arange(len(images)), target], axis=1)
    return np.abs(_gradients(model, images, lambda logits: tf.gather_nd(logits, index))).max(axis=-1)


@wrong(SALIENCY, "softmax probability")
def saliency_probability(model, images, target):
    import tensorflow as tf
    return np.abs(_gradients(model, images,
                             lambda logits: _target_logit(target)(tf.nn.softmax(logits)))).max(axis=-1)


@wrong(SALIENCY, "explained the predicted class")
def saliency_predicted(model, images, target):
    import tensorflow as tf
    return np.abs(_gradients(model, images, lambda logits: tf.reduce_max(logits, axis=1))).max(axis=-1)


@wrong(SALIENCY, "picks N columns")
def saliency_columns(model, images, target):
    import tensorflow as tf
    return np.abs(_gradients(model, images, lambda logits: tf.gather(logits, target, axis=1))).max(axis=-1)


@wrong(SALIENCY, "sum of all the logits")
def saliency_all_logits(model, images, target):
    import tensorflow as tf
    return np.abs(_gradients(model, images, lambda logits: tf.reduce_sum(logits))).max(axis=-1)


@wrong(SALIENCY, "differentiated a loss")
def saliency_loss(model, images, target):
    import tensorflow as tf
    loss = lambda logits: tf.keras.losses.sparse_categorical_crossentropy(target, logits, from_logits=True)  # noqa: E731
    return np.abs(_gradients(model, images, loss)).max(axis=-1)


@wrong(SALIENCY, "forgot the absolute value")
def saliency_no_abs(model, images, target):
    return _gradients(model, images, _target_logit(target)).max(axis=-1)


@wrong(SALIENCY, "max over RGB first")
def saliency_max_then_abs(model, images, target):
    return np.abs(_gradients(model, images, _target_logit(target)).max(axis=-1))


@wrong(SALIENCY, "averaged over the colour channels")
def saliency_mean(model, images, target):
    return np.abs(_gradients(model, images, _target_logit(target))).mean(axis=-1)


@wrong(SALIENCY, "summed over the colour channels")
def saliency_sum(model, images, target):
    return np.abs(_gradients(model, images, _target_logit(target))).sum(axis=-1)


@wrong(SALIENCY, "squared the gradient")
def saliency_squared(model, images, target):
    return (_gradients(model, images, _target_logit(target)) ** 2).max(axis=-1)


@wrong(SALIENCY, "extra last axis of size 3 (the colour channels?)")
def saliency_kept_channels(model, images, target):
    return np.abs(_gradients(model, images, _target_logit(target)))


@wrong(SALIENCY, "each of your maps is rescaled to [0, 1]")
def saliency_normalised(model, images, target):
    s = np.abs(_gradients(model, images, _target_logit(target))).max(axis=-1)
    low, high = s.min(axis=(1, 2), keepdims=True), s.max(axis=(1, 2), keepdims=True)
    return (s - low) / (high - low)


@wrong(SALIENCY, "each of your maps is divided by its maximum")
def saliency_divided_by_max(model, images, target):
    s = np.abs(_gradients(model, images, _target_logit(target))).max(axis=-1)
    return s / s.max(axis=(1, 2), keepdims=True)


@wrong(SALIENCY, "tape.gradient got nothing to differentiate")
def saliency_no_watch(model, images, target):
    import tensorflow as tf
    with tf.GradientTape() as tape:
        score = tf.gather(model(images), target, axis=1, batch_dims=1)
    return np.abs(tape.gradient(score, tf.convert_to_tensor(images)).numpy()).max(axis=-1)


# --------------------------------------------------------------------------
# cam_from_weights(feature_maps (N, h, w, K), dense_weights (K, classes), target (N,)) -> (N, h, w)
@correct(CAM)
def cam_einsum(feature_maps, dense_weights, target):
    return np.einsum("nhwk,kn->nhw", feature_maps, dense_weights[:, target])


@correct(CAM)
def cam_loop(feature_maps, dense_weights, target):
    out = []
    for a, t in zip(feature_maps, target):
        cam = np.zeros(a.shape[:2])
        for k in range(a.shape[-1]):
            cam += dense_weights[k, t] * a[:, :, k]
        out.append(cam)
    return np.array(out)


@correct(CAM)
def cam_broadcast(feature_maps, dense_weights, target):
    return (feature_maps * dense_weights[:, target].T[:, None, None, :]).sum(axis=-1)


@correct(CAM)
def cam_tensordot_then_pick(feature_maps, dense_weights, target):
    every = np.tensordot(feature_maps, dense_weights, axes=([3], [0]))         # (N, h, w, classes)
    return every[np.arange(len(target)), :, :, target]


@correct(CAM)
def cam_tf(feature_maps, dense_weights, target):
    import tensorflow as tf
    w = tf.gather(tf.constant(dense_weights, tf.float64), target, axis=1)       # (K, N)
    return tf.einsum("nhwk,kn->nhw", tf.constant(feature_maps, tf.float64), w)


@wrong(CAM, "applied a ReLU")
def cam_relu(feature_maps, dense_weights, target):
    return np.maximum(np.einsum("nhwk,kn->nhw", feature_maps, dense_weights[:, target]), 0)


@wrong(CAM, "averaged over the K channels")
def cam_mean(feature_maps, dense_weights, target):
    return (feature_maps * dense_weights[:, target].T[:, None, None, :]).mean(axis=-1)


@wrong(CAM, "class of the first image")
def cam_first_target(feature_maps, dense_weights, target):
    return feature_maps @ dense_weights[:, target[0]]


@wrong(CAM, "divided by h * w")
def cam_divided(feature_maps, dense_weights, target):
    n, h, w, k = feature_maps.shape
    return np.einsum("nhwk,kn->nhw", feature_maps, dense_weights[:, target]) / (h * w)


@wrong(CAM, "map of every class")
def cam_every_class(feature_maps, dense_weights, target):
    return feature_maps @ dense_weights


@wrong(CAM, "one number per image")
def cam_scores(feature_maps, dense_weights, target):
    return np.einsum("nhwk,kn->nhw", feature_maps, dense_weights[:, target]).mean(axis=(1, 2))


@wrong(CAM, "each of your maps is rescaled to [0, 1]")
def cam_normalised(feature_maps, dense_weights, target):
    cam = np.einsum("nhwk,kn->nhw", feature_maps, dense_weights[:, target])
    low, high = cam.min(axis=(1, 2), keepdims=True), cam.max(axis=(1, 2), keepdims=True)
    return (cam - low) / (high - low)


# --------------------------------------------------------------------------
# pointing_game(maps (N, H, W), masks (N, H, W)) -> (N,)
@correct(POINTING)
def pointing_unravel(maps, masks):
    n = len(maps)
    rows, cols = np.unravel_index(maps.reshape(n, -1).argmax(axis=1), maps.shape[1:])
    return masks[np.arange(n), rows, cols].astype(float)


@correct(POINTING)
def pointing_list(maps, masks):
    hits = []
    for m, mask in zip(maps, masks):
        y, x = np.unravel_index(np.argmax(m), m.shape)
        hits.append(1.0 if mask[y, x] else 0.0)
    return hits                                                            # a list


@correct(POINTING)
def pointing_flat_bool(maps, masks):
    n = len(maps)
    flat = maps.reshape(n, -1).argmax(axis=1)
    return np.take_along_axis(masks.reshape(n, -1), flat[:, None], axis=1)[:, 0]   # bool


@correct(POINTING)
def pointing_tf_tuple(maps, masks):
    import tensorflow as tf
    n = len(maps)
    flat = tf.argmax(tf.reshape(maps, (n, -1)), axis=1).numpy()
    return tuple(float(masks.reshape(n, -1)[i, j]) for i, j in enumerate(flat))


@wrong(POINTING, "largest |value| (np.abs)")
def pointing_abs(maps, masks):
    n = len(maps)
    rows, cols = np.unravel_index(np.abs(maps).reshape(n, -1).argmax(axis=1), maps.shape[1:])
    return masks[np.arange(n), rows, cols].astype(float)


@wrong(POINTING, "each map's minimum")
def pointing_argmin(maps, masks):
    n = len(maps)
    rows, cols = np.unravel_index(maps.reshape(n, -1).argmin(axis=1), maps.shape[1:])
    return masks[np.arange(n), rows, cols].astype(float)


@wrong(POINTING, "swapped rows and columns")
def pointing_swapped(maps, masks):
    n = len(maps)
    rows, cols = np.unravel_index(maps.reshape(n, -1).argmax(axis=1), maps.shape[1:])
    return masks[np.arange(n), cols, rows].astype(float)


@wrong(POINTING, "one maximum over the whole batch")
def pointing_batch_max(maps, masks):
    return np.full(len(maps), float(masks.ravel()[np.argmax(maps)]))


@wrong(POINTING, "returned the hit rate")
def pointing_rate(maps, masks):
    n = len(maps)
    rows, cols = np.unravel_index(maps.reshape(n, -1).argmax(axis=1), maps.shape[1:])
    return masks[np.arange(n), rows, cols].mean()
