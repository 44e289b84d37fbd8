"""Tests for notebook 01's exercise checks (labkit/checks/nb01_feature_visualization.py).

The references are checked against the kit's methods and hand-computed
values; every typical wrong answer must fail with its specific hint.
"""

import numpy as np
import pytest

import keras
import tensorflow as tf

from labkit import ascent, checks, units, zoo
from labkit.checks import nb01_feature_visualization as cf

CHECKS = {
    "normalize_filters": (checks.check_normalize_filters, cf._normalize_filters),
    "top_k_images": (checks.check_top_k_images, cf._top_k_images),
    "gradient_ascent_step": (checks.check_gradient_ascent_step, cf._gradient_ascent_step),
    "total_variation": (checks.check_total_variation, cf._total_variation),
}


def feedback(check, student, **kw) -> str:
    """The message of a failing check (and make sure it fails)."""
    result = check(student, raise_on_fail=False, **kw)
    assert not result.passed, "the check should have failed"
    return repr(result)


# --- the references are right ----------------------------------------------------------------


@pytest.mark.parametrize("name", list(CHECKS))
@pytest.mark.parametrize("seed", [0, 1])
def test_reference_passes(name, seed):
    check, reference = CHECKS[name]
    result = check(reference, seed=seed)
    assert result.passed and repr(result).startswith(f"✓ {name}: passed 3 checks")


def test_exported_from_checks():
    assert set(cf.__all__) <= set(dir(checks))
    assert all(name.startswith("check_") for name in cf.__all__)


@pytest.mark.parametrize("name", list(CHECKS))
def test_not_implemented_is_not_attempted(name):
    def student(*args):
        # YOUR CODE HERE
        raise NotImplementedError()

    text = feedback(CHECKS[name][0], student)
    assert "not attempted yet" in text and "case 1" not in text


@pytest.mark.parametrize("name", list(CHECKS))
def test_failure_raises_checkfailed(name):
    with pytest.raises(checks.CheckFailed, match=name):
        CHECKS[name][0](lambda *args: None)


def test_normalize_filters_matches_units_filters():
    model = zoo.build_cnn((16, 16, 3), 3, widths=(5, 4))
    kernel = model.get_layer("conv1").get_weights()[0]  # (3, 3, 3, 5)
    np.testing.assert_allclose(cf._normalize_filters(kernel), units.filters(model), rtol=1e-6, atol=1e-7)


def test_normalize_filters_by_hand():
    kernel = np.zeros((1, 2, 1, 2), np.float32)  # two 1x2 grey filters
    kernel[0, :, 0, 0] = (2.0, -1.0)  # largest |w| = 2
    kernel[0, :, 0, 1] = (-0.5, 0.25)  # largest |w| = 0.5
    out = cf._normalize_filters(kernel)
    assert out.shape == (2, 1, 2, 1)
    np.testing.assert_allclose(out[..., 0], [[[1.0, 0.25]], [[0.0, 0.75]]])
    dead = cf._normalize_filters(np.zeros((3, 3, 3, 2), np.float32))
    np.testing.assert_array_equal(dead, 0.5)  # a dead filter is mid-grey


def test_top_k_images_matches_units_top_examples():
    model = zoo.build_cnn((16, 16, 3), 3, widths=(4, 8))
    images = np.random.default_rng(0).uniform(size=(40, 16, 16, 3)).astype(np.float32)
    maps = keras.Model(model.input, model.get_layer("conv2").output)(images).numpy()[..., 3]  # (40, 8, 8)
    top = units.top_examples(model, "conv2", 3, images, k=6)
    np.testing.assert_array_equal(cf._top_k_images(maps, 6), top.indices)


def test_top_k_images_by_hand():
    maps = np.zeros((4, 2, 2), np.float32)
    maps[0, 0, 0], maps[1] = 3.0, 1.0  # image 0: one strong spot; image 1: weak everywhere
    maps[2, 1, 1], maps[3, 0, 1] = 2.0, 0.5
    np.testing.assert_array_equal(cf._top_k_images(maps, 3), [0, 2, 1])


def test_gradient_ascent_step_by_hand():
    """1x1 conv, positive weights and image: d mean(conv[..., c]) / d x[i, j, k] = w[k, c] / (H W)."""
    inputs = keras.Input((4, 4, 3))
    conv = keras.layers.Conv2D(2, 1, activation="relu", name="conv")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(conv)))
    w = np.array([[0.5, 1.0], [2.0, 0.1], [0.3, 0.7]], np.float32)  # (C=3, K=2)
    model.get_layer("conv").set_weights([w[None, None], np.zeros(2, np.float32)])
    image = np.full((4, 4, 3), 0.5, np.float32)
    new = cf._gradient_ascent_step(model, image, "conv", 1, lr=16.0)
    np.testing.assert_allclose(new, image + w[:, 1], rtol=1e-6)


def test_gradient_ascent_step_raises_the_activation():
    model = cf._tiny_model(np.random.default_rng(3))
    image = np.random.default_rng(4).uniform(size=(16, 16, 3)).astype(np.float32)
    fmodel = keras.Model(model.input, model.get_layer("conv2").output)
    before = float(tf.reduce_mean(fmodel(image[None])[..., 0]))
    after = float(tf.reduce_mean(fmodel(cf._gradient_ascent_step(model, image, "conv2", 0, 0.05)[None])[..., 0]))
    assert before > 0 and after > before


def test_total_variation_matches_ascent_tv_and_hand_values():
    images = np.random.default_rng(0).uniform(size=(3, 6, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(cf._total_variation(images), ascent._tv(tf.constant(images)).numpy(), rtol=1e-5)
    rows, cols = np.indices((4, 4))
    checker = ((rows + cols) % 2).astype(np.float32)[None, ..., None]
    stripes = (cols % 2).astype(np.float32)[None, ..., None]  # vertical stripes: only |dx| = 1
    np.testing.assert_allclose(cf._total_variation(np.concatenate([checker, stripes, 0 * checker])), [2, 1, 0])


# --- typical mistakes get their own hint ------------------------------------------------------

def _transposed(fn):
    return lambda kernel: fn(np.transpose(kernel, (3, 0, 1, 2)))


def _per_filter_max(w):
    return np.abs(w).max(axis=(1, 2, 3), keepdims=True)


FILTER_MISTAKES = {
    "no transpose": (lambda k: 0.5 + k / (2 * np.abs(k).max()), "keras stores a Conv2D kernel as (kh, kw, C, K)"),
    ".T": (lambda k: cf._normalize_filters(np.transpose(k.T, (1, 2, 3, 0))), "you used kernel.T"),
    "min-max per filter": (
        _transposed(lambda w: (w - w.min(axis=(1, 2, 3), keepdims=True)) / np.ptp(w, axis=(1, 2, 3), keepdims=True)),
        "stretched each filter from its minimum to its maximum"),
    "min-max layer": (_transposed(lambda w: (w - w.min()) / np.ptp(w)), "stretched the whole layer"),
    "layer max": (_transposed(lambda w: 0.5 + w / (2 * np.abs(w).max())), "scale='layer'"),
    "per channel": (_transposed(lambda w: 0.5 + w / (2 * np.maximum(np.abs(w).max(axis=(1, 2), keepdims=True), 1e-12))),
                    "each colour channel of a filter separately"),
    "max not abs": (_transposed(lambda w: 0.5 + w / (2 * w.max(axis=(1, 2, 3), keepdims=True))),
                    "not the largest absolute weight"),
    "no offset": (_transposed(lambda w: w / (2 * np.maximum(_per_filter_max(w), 1e-12))), "add 0.5"),
    "no factor 2": (_transposed(lambda w: 0.5 + w / np.maximum(_per_filter_max(w), 1e-12)), "divide by 2 m"),
    "[-1, 1]": (_transposed(lambda w: w / np.maximum(_per_filter_max(w), 1e-12)), "your values lie in [-1, 1]"),
    "dead filter NaN": (_transposed(lambda w: 0.5 + w / (2 * _per_filter_max(w))), "came out as NaN"),
    "no keepdims": (_transposed(lambda w: 0.5 + w / (2 * np.abs(w).max(axis=(1, 2, 3)))), "keepdims=True"),
}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("mistake", list(FILTER_MISTAKES))
def test_normalize_filters_mistakes(mistake):
    wrong, hint = FILTER_MISTAKES[mistake]
    assert hint in feedback(checks.check_normalize_filters, wrong)


def _max_scores(maps):
    return maps.reshape(len(maps), -1).max(axis=1)


TOP_MISTAKES = {
    "ascending": (lambda m, k: np.argsort(_max_scores(m))[:k], "*weakest* images"),
    "weakest first": (lambda m, k: np.argsort(_max_scores(m))[-k:], "weakest of them first"),
    "mean": (lambda m, k: np.argsort(-m.mean(axis=(1, 2)))[:k], "by the mean (or sum)"),
    "sum": (lambda m, k: np.argsort(-m.sum(axis=(1, 2)))[:k], "by the mean (or sum)"),
    "unsorted": (lambda m, k: np.sort(np.argpartition(-_max_scores(m), k - 1)[:k]), "not in order"),
    "scores": (lambda m, k: np.sort(_max_scores(m))[::-1][:k], "you returned the activations"),
    "k + 1": (lambda m, k: np.argsort(-_max_scores(m))[: k + 1], "expected shape is (5,)"),
}


@pytest.mark.parametrize("mistake", list(TOP_MISTAKES))
def test_top_k_images_mistakes(mistake):
    wrong, hint = TOP_MISTAKES[mistake]
    assert hint in feedback(checks.check_top_k_images, wrong)


def _student_step(*, sign=1.0, reduce=tf.reduce_mean, whole=False, post=lambda image, lr, g: image + lr * g,
                  watch=True, numpy=True):
    """A student's gradient_ascent_step with one mistake switched on."""

    def step(model, image, layer, channel, lr):
        fmodel = keras.Model(model.input, model.get_layer(layer).output)
        x = tf.convert_to_tensor(image[None])
        with tf.GradientTape() as tape:
            if watch:
                tape.watch(x)
            maps = fmodel(x)
            score = reduce(maps if whole else maps[..., channel])
        grad = sign * tape.gradient(score, x)[0]
        out = post(image, lr, grad.numpy() if numpy else grad)
        return out

    return step


STEP_MISTAKES = {
    "descent": (_student_step(sign=-1.0), "stepped *down* the gradient"),
    "sum": (_student_step(reduce=tf.reduce_sum), "the *sum* of the channel"),
    "whole layer": (_student_step(whole=True), "the mean of the whole layer"),
    "step only": (_student_step(post=lambda image, lr, g: lr * g), "you returned the step"),
    "gradient only": (_student_step(post=lambda image, lr, g: g), "you returned the gradient"),
    "clipped": (_student_step(post=lambda image, lr, g: np.clip(image + lr * g, 0, 1)), "clipped the image"),
    "l2-normalised": (_student_step(post=lambda image, lr, g: image + lr * g / np.linalg.norm(g)), "divided by its norm"),
    "max-normalised": (_student_step(post=lambda image, lr, g: image + lr * g / np.abs(g).max()), "divided by its largest"),
    "sign": (_student_step(post=lambda image, lr, g: image + lr * np.sign(g)), "the sign of the gradient"),
    "unchanged": (_student_step(post=lambda image, lr, g: image.copy()), "your image did not change"),
    "no watch": (_student_step(watch=False), "tape.gradient returned None"),
    "batch axis": (_student_step(post=lambda image, lr, g: (image + lr * g)[None]), "extra batch axis of size 1"),
}


@pytest.mark.parametrize("mistake", list(STEP_MISTAKES))
def test_gradient_ascent_step_mistakes(mistake):
    wrong, hint = STEP_MISTAKES[mistake]
    assert hint in feedback(checks.check_gradient_ascent_step, wrong)


def test_gradient_ascent_step_returning_a_tensor_passes():
    assert checks.check_gradient_ascent_step(_student_step(numpy=False))


def test_gradient_ascent_step_detects_changed_weights():
    def trains(model, image, layer, channel, lr):
        weights = model.get_layer(layer).get_weights()
        model.get_layer(layer).set_weights([weights[0] + 0.01, weights[1]])
        return cf._gradient_ascent_step(model, image, layer, channel, lr)

    assert "changed the model's weights" in feedback(checks.check_gradient_ascent_step, trains)


def test_gradient_ascent_step_student_variants_pass():
    """The usual correct ways: a Variable instead of watch, keras.Model over get_layer, a float64 step."""

    def with_variable(model, image, layer, channel, lr):
        fmodel = keras.Model(model.input, model.get_layer(layer).output)
        x = tf.Variable(image[None])
        with tf.GradientTape() as tape:
            score = tf.reduce_mean(fmodel(x)[0, :, :, channel])
        return image + lr * tape.gradient(score, x).numpy()[0]

    assert checks.check_gradient_ascent_step(with_variable).passed
    assert checks.check_gradient_ascent_step(_student_step(), seed=1).passed


def _dy(x):
    return x[:, 1:] - x[:, :-1]


def _dx(x):
    return x[:, :, 1:] - x[:, :, :-1]


TV_MISTAKES = {
    "rows only": (lambda x: np.abs(_dy(x)).mean(axis=(1, 2, 3)), "only compared vertical neighbours"),
    "columns only": (lambda x: np.abs(_dx(x)).mean(axis=(1, 2, 3)), "only compared horizontal neighbours"),
    "squared": (lambda x: np.square(_dy(x)).mean(axis=(1, 2, 3)) + np.square(_dx(x)).mean(axis=(1, 2, 3)),
                "you squared the differences"),
    "sum": (lambda x: np.abs(_dy(x)).sum(axis=(1, 2, 3)) + np.abs(_dx(x)).sum(axis=(1, 2, 3)),
            "you summed the differences"),
    "one number": (lambda x: np.abs(_dy(x)).mean() + np.abs(_dx(x)).mean(), "one number for the whole batch"),
    "batch and rows": (lambda x: np.abs(np.diff(x, axis=0)).mean(axis=(1, 2, 3)) + np.abs(_dy(x)).mean(axis=(1, 2, 3)),
                       "differences along axes 0 and 1"),
    "columns and channels": (lambda x: np.abs(np.diff(x, axis=2)).mean(axis=(1, 2, 3))
                             + np.abs(np.diff(x, axis=3)).mean(axis=(1, 2, 3)), "differences along axes 2 and 3"),
    "mean over channels only": (lambda x: np.abs(_dy(x)).mean(axis=(1, 2)).sum(-1) + np.abs(_dx(x)).mean(axis=(1, 2)).sum(-1),
                                "times 3"),
}


@pytest.mark.parametrize("mistake", list(TV_MISTAKES))
def test_total_variation_mistakes(mistake):
    wrong, hint = TV_MISTAKES[mistake]
    assert hint in feedback(checks.check_total_variation, wrong)


def test_total_variation_batch_axis_with_three_images():
    """Differences along the batch axis leave one value too few when they do not broadcast."""

    def batch_diff(x):
        return np.abs(np.diff(x, axis=0)).mean(axis=(1, 2, 3))

    result = checks.check_function(batch_diff, cf._total_variation,
                                   [checks.Case((np.random.default_rng(0).uniform(size=(3, 4, 4, 3)),))],
                                   diagnoses=(cf._tv_batch_axis,), raise_on_fail=False)
    assert "one value too few" in repr(result)
