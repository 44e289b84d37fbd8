"""Checks of notebook 02: the model answers pass, typical mistakes get their specific hint."""
import numpy as np
import pytest
import tensorflow as tf

from labkit import cam, checks, layers, occlusion, zoo
from labkit.checks import CheckFailed
from labkit.checks import nb02_feature_attribution as ca
from answers.nb02_feature_attribution import window_starts   # the helper notebook 02 gives


# --------------------------------------------------------------------------
# the model answers of the notebook
def saliency(model, images, target):
    x = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model(x)                                              # (N, classes)
        score = tf.gather(logits, target, axis=1, batch_dims=1)       # (N,)
    grads = tape.gradient(score, x)                                    # (N, H, W, C)
    return tf.reduce_max(tf.abs(grads), axis=-1).numpy()


def occlusion_map(model, image, target, patch, stride, *, fill=0.0, use_logits=False, edge=True,
                  mean=True, sign=1.0):
    """The model answer (all occluded copies in one batch), with switches for the typical mistakes."""
    height, width = image.shape[:2]
    starts = window_starts if edge else (lambda size, p, s: list(range(0, size - p + 1, s)))
    windows = [(y, x) for y in starts(height, patch, stride) for x in starts(width, patch, stride)]
    copies = [image]
    for y, x in windows:
        occluded = image.copy()
        occluded[y:y + patch, x:x + patch] = fill
        copies.append(occluded)
    logits = model(np.stack(copies))
    scores = (logits if use_logits else tf.nn.softmax(logits)).numpy()[:, target]
    total, count = np.zeros((height, width)), np.zeros((height, width))
    for drop, (y, x) in zip(sign * (scores[0] - scores[1:]), windows):
        total[y:y + patch, x:x + patch] += drop
        count[y:y + patch, x:x + patch] += 1
    with np.errstate(invalid="ignore", divide="ignore"):      # edge=False leaves pixels uncovered: 0/0
        return total / count if mean else total


def occlusion_loop(model, image, target, patch, stride):
    """The simplest loop a student may write: one model call per window."""
    def p(x):
        return float(tf.nn.softmax(model(x[None]))[0, target])

    height, width = image.shape[:2]
    clean, total, count = p(image), np.zeros((height, width)), np.zeros((height, width))
    for y in window_starts(height, patch, stride):
        for x in window_starts(width, patch, stride):
            occluded = image.copy()
            occluded[y:y + patch, x:x + patch] = 0.0
            total[y:y + patch, x:x + patch] += clean - p(occluded)
            count[y:y + patch, x:x + patch] += 1
    return total / count


def cam_from_weights(feature_maps, dense_weights, target):
    return np.einsum("nhwk,nk->nhw", feature_maps, dense_weights[:, target].T)


def pointing_game(maps, masks):
    n = len(maps)
    rows, cols = np.unravel_index(maps.reshape(n, -1).argmax(axis=1), maps.shape[1:])
    return masks[np.arange(n), rows, cols].astype(float)


def feedback(check, student):
    """The message of a failing check (and make sure it fails)."""
    result = check(student, raise_on_fail=False)
    assert not result.passed, f"{check.__name__} should have failed"
    return repr(result)


def not_attempted(*args):
    # YOUR CODE HERE
    raise NotImplementedError()


# --------------------------------------------------------------------------
@pytest.mark.parametrize("check, answer", [
    (checks.check_saliency, saliency), (checks.check_occlusion_map, occlusion_map),
    (checks.check_cam_from_weights, cam_from_weights), (checks.check_pointing_game, pointing_game)])
def test_model_answers_pass_the_visible_and_hidden_checks(check, answer):
    for seed in (0, 1):
        result = check(answer, seed=seed)
        assert result.passed and "passed" in repr(result)


@pytest.mark.parametrize("check", [checks.check_saliency, checks.check_occlusion_map,
                                   checks.check_cam_from_weights, checks.check_pointing_game])
def test_not_implemented_is_not_attempted(check):
    with pytest.raises(CheckFailed, match="not attempted yet"):
        check(not_attempted)


def test_a_plain_loop_with_one_model_call_per_window_passes_too():
    assert checks.check_occlusion_map(occlusion_loop).passed


def test_checks_are_exported_by_labkit_checks():
    assert set(ca.__all__) <= set(dir(checks))


# -- saliency
def _saliency_with(score="logit", reduce=lambda g: tf.reduce_max(tf.abs(g), axis=-1)):
    def student(model, images, target):
        x = tf.convert_to_tensor(images)
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = model(x)
            if score == "probability":
                logits = tf.nn.softmax(logits)
            chosen = (tf.reduce_max(logits, axis=1) if score == "predicted"
                      else tf.gather(logits, target, axis=1, batch_dims=1))
        return np.asarray(reduce(tape.gradient(chosen, x)))
    return student


@pytest.mark.parametrize("student, words", [
    (_saliency_with("probability"), "softmax probability"),
    (_saliency_with("predicted"), "explained the predicted class"),
    (_saliency_with(reduce=lambda g: tf.reduce_max(g, axis=-1)), "forgot the absolute value"),
    (_saliency_with(reduce=lambda g: tf.reduce_mean(tf.abs(g), axis=-1)), "averaged over the colour channels"),
    (_saliency_with(reduce=lambda g: tf.abs(g)), "extra last axis of size 3"),
])
def test_saliency_mistakes_are_named(student, words):
    assert words in feedback(checks.check_saliency, student)


def test_saliency_returning_a_tensor_passes():
    assert checks.check_saliency(lambda m, x, t: tf.convert_to_tensor(saliency(m, x, t)))


def test_saliency_without_watch_gets_the_tape_hint_and_the_line():
    def student(model, images, target):
        with tf.GradientTape() as tape:
            logits = model(images)
            score = tf.gather(logits, target, axis=1, batch_dims=1)
        grads = tape.gradient(score, images)                             # None: nothing watched
        return tf.reduce_max(tf.abs(grads), axis=-1).numpy()
    text = feedback(checks.check_saliency, student)
    assert "tape.watch" in text and "line 5 of your function" in text


# -- occlusion
@pytest.mark.parametrize("options, words", [
    (dict(use_logits=True), "drop of the logit"),
    (dict(sign=-1.0), "opposite sign"),
    (dict(mean=False), "divide by how many windows"),
    (dict(edge=False), "flush with the bottom and right edges"),
    (dict(fill=1.0), "fill it with 0"),
])
def test_occlusion_mistakes_are_named(options, words):
    text = feedback(checks.check_occlusion_map,
                    lambda model, image, target, patch, stride: occlusion_map(model, image, target, patch,
                                                                              stride, **options))
    assert words in text


def test_occlusion_variant_without_mistakes_is_labkit_occlusion():
    """The diagnoses' numpy loop is the reference itself when nothing is changed."""
    model = ca._tiny_model(202, size=12, classes=4)
    image = ca._images(np.random.default_rng(3), 1, 12)[0]
    for patch, stride in ((5, 2), (4, 4), (6, 3)):
        np.testing.assert_allclose(ca._occlusion_variant()(model, image, 2, patch, stride),
                                   occlusion.occlusion(model, image, 2, patch=patch, stride=stride),
                                   atol=1e-5)


# -- CAM
@pytest.mark.parametrize("student, words", [
    (lambda a, w, t: np.maximum(cam_from_weights(a, w, t), 0), "applied a ReLU"),
    (lambda a, w, t: cam_from_weights(a, w, t) / a.shape[-1], "averaged over the K channels"),
    (lambda a, w, t: cam_from_weights(a, w, np.full_like(t, t[0])), "class of the first image"),
    (lambda a, w, t: cam_from_weights(a, w, t).mean(axis=(1, 2)), "one number per image"),
    (lambda a, w, t: cam_from_weights(a, w, t) / a.shape[1] / a.shape[2], "divided by h * w"),
])
def test_cam_mistakes_are_named(student, words):
    assert words in feedback(checks.check_cam_from_weights, student)


def test_cam_formula_is_labkit_cam_on_the_shapes_model():
    model = zoo.load("shapes")
    images = np.random.default_rng(0).random((3, 64, 64, 3), dtype=np.float32)
    maps = layers.activations(model, images, "conv4")                   # (3, 8, 8, 64)
    kernel = model.get_layer("logits").get_weights()[0]                  # (64, 4)
    target = np.array([0, 3, 1])
    np.testing.assert_allclose(ca._cam(maps, kernel, target), cam.cam(model, images, target),
                               rtol=1e-4, atol=1e-4)


# -- pointing game
@pytest.mark.parametrize("student, words", [
    (lambda maps, masks: pointing_game(-maps, masks), "minimum"),
    (lambda maps, masks: pointing_game(np.swapaxes(maps, 1, 2), masks), "swapped rows and columns"),
    (lambda maps, masks: pointing_game(maps, masks).mean(), "the hit rate"),
])
def test_pointing_game_mistakes_are_named(student, words):
    assert words in feedback(checks.check_pointing_game, student)
