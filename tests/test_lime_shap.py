"""Tests for labkit.lime_shap: the lime and shap packages against hand-computed references."""

import warnings

import keras
import numpy as np
import pytest

from labkit.lime_shap import lime_map, predict_fn, shap_map

SIZE = 8
W = np.random.default_rng(0).normal(size=(SIZE * SIZE * 3, 3)).astype(np.float32)  # (pixels*C, classes)


@pytest.fixture(scope="module")
def linear():
    """logits = flatten(x) @ W on 8x8x3 images: every pixel's contribution is known."""
    x = inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(3, use_bias=False, name="logits")(x)
    model = keras.Model(inputs, outputs, name="linear")
    model.get_layer("logits").set_weights([W])
    return model


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).uniform(0, 1, (2, SIZE, SIZE, 3)).astype(np.float32)


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def quadrants(image):
    """Four 4x4 superpixels, labels 0..3."""
    y, x = np.mgrid[:SIZE, :SIZE]
    return (y >= SIZE // 2) * 2 + (x >= SIZE // 2)


def test_predict_fn_batches_and_softmax(linear, images):
    many = np.random.default_rng(2).uniform(0, 1, (7, SIZE, SIZE, 3)).astype(np.float32)
    logits = many.reshape(7, -1) @ W
    np.testing.assert_allclose(predict_fn(linear, batch_size=3, softmax=False)(many), logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(predict_fn(linear, batch_size=2)(many.astype(np.float64)), softmax(logits),
                               rtol=1e-5, atol=1e-6)
    # a softmax model is explained on its logits, with a warning
    probs = keras.Model(linear.inputs, keras.layers.Softmax()(linear.outputs[0]))
    with pytest.warns(UserWarning, match="pre-softmax logits"):
        f = predict_fn(probs, softmax=False)
    np.testing.assert_allclose(f(many), logits, rtol=1e-5, atol=1e-5)


def reference_lime(image, target, segments, num_samples, seed, hide_color=0.0, log_odds=False):
    """LIME written out: the same random draws as lime, then a weighted ridge solved by hand."""
    k = segments.max() + 1
    visible = np.random.RandomState(seed).randint(0, 2, num_samples * k).reshape(num_samples, k)
    visible[0] = 1  # the first sample is the image itself
    pixels_on = visible[:, segments]  # (S, H, W)
    copies = np.where(pixels_on[..., None] == 1, image[None], hide_color)  # (S, H, W, C)
    p = softmax(copies.reshape(num_samples, -1).astype(np.float64) @ W.astype(np.float64))[:, target]
    y = np.log(p / (1 - p)) if log_odds else p  # the target's probability, or its log-odds
    cosine = 1 - visible.sum(1) / (np.sqrt(visible.sum(1)) * np.sqrt(k) + 1e-300)
    weights = np.sqrt(np.exp(-(cosine**2) / 0.25**2))  # lime's kernel, width 0.25
    # weighted ridge with intercept (alpha = 1): centre with weighted means, then solve
    xm = np.average(visible, axis=0, weights=weights)
    ym = np.average(y, weights=weights)
    xc, yc = visible - xm, y - ym
    a = xc.T @ (weights[:, None] * xc) + np.eye(k)
    coef = np.linalg.solve(a, xc.T @ (weights * yc))
    return coef[segments]  # every pixel gets its superpixel's weight


def test_lime_matches_reference(linear, images):
    maps = lime_map(linear, images, [0, 2], num_samples=300, segmentation=quadrants, seed=5, hide_color=0.0)
    assert maps.shape == (2, SIZE, SIZE)
    for i, target in enumerate([0, 2]):
        expected = reference_lime(images[i].astype(np.float64), target, quadrants(None), 300, 5)
        np.testing.assert_allclose(maps[i], expected, rtol=1e-5, atol=1e-7)  # float32 model
    one = lime_map(linear, images[0], 0, num_samples=300, segmentation=quadrants, seed=5, hide_color=0.0)
    np.testing.assert_allclose(one, maps[0], rtol=1e-6)


def test_lime_finds_the_only_region_that_matters():
    """A model that looks only at the top-left quadrant: LIME must put its weight there."""
    colours = np.random.default_rng(3).uniform(0.2, 1, (2, 4, 3)).astype(np.float32)
    images = colours[:, quadrants(None)]  # (2, 8, 8, 3): four flat colour blocks, which SLIC finds
    w = np.zeros((SIZE, SIZE, 3, 2), np.float32)
    w[: SIZE // 2, : SIZE // 2, :, 1] = 1.0
    x = inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, use_bias=False)(x))
    model.layers[-1].set_weights([w.reshape(-1, 2)])
    # flat blocks: hiding one with its own mean colour (lime's default) would change nothing
    maps = lime_map(model, images, 1, num_samples=200, segmentation="slic", n_segments=4, seed=0, hide_color=0.0)
    for m in maps:
        top_left = m[: SIZE // 2, : SIZE // 2].mean()
        assert top_left > 0 and top_left > 5 * np.abs(m[SIZE // 2 :, SIZE // 2 :]).max()
    noisy = images + np.random.default_rng(4).normal(0, 0.05, images.shape).astype(np.float32)
    a = lime_map(model, noisy, 1, num_samples=200, segmentation="quickshift", seed=3)
    b = lime_map(model, noisy, 1, num_samples=200, segmentation="quickshift", seed=3)
    np.testing.assert_array_equal(a, b)  # seeded


def test_shap_partition_is_exact_on_a_linear_model(images):
    """For an additive model the Owen values are exactly w * (x - fill) once every block is split."""
    w = np.random.default_rng(4).normal(size=(16, 2)).astype(np.float32)
    x = inputs = keras.Input((4, 4, 1))
    model = keras.Model(inputs, keras.layers.Dense(2, use_bias=False)(keras.layers.Flatten()(x)))
    model.layers[-1].set_weights([w])
    small = images[:, :4, :4, :1]
    fill = 0.25
    maps = shap_map(model, small, [1, 0], max_evals=16 * 15 + 2, fill=fill)  # enough to split all 16
    for i, target in enumerate([1, 0]):
        expected = (small[i, ..., 0] - fill) * w[:, target].reshape(4, 4)
        np.testing.assert_allclose(maps[i], expected, rtol=1e-4, atol=1e-5)


def test_shap_partition_completeness_and_seed(linear, images):
    """With a small budget the values are coarse, but still add up to S_c(x) - S_c(fill)."""
    logits = images.reshape(2, -1) @ W
    predicted = logits.argmax(1)
    maps = shap_map(linear, images, max_evals=200, seed=3)
    np.testing.assert_allclose(maps.sum((1, 2)), logits[[0, 1], predicted], rtol=1e-4)
    np.testing.assert_array_equal(maps, shap_map(linear, images, max_evals=200, seed=3))


def test_shap_gradient_is_exact_on_a_linear_model(linear, images):
    """Expected gradients with one reference image b: (x - b) * w for a linear model."""
    reference = np.full((SIZE, SIZE, 3), 0.5, np.float32)
    state = np.random.get_state()
    maps = shap_map(linear, images, 0, explainer="gradient", background=reference, nsamples=8, seed=1)
    assert np.random.get_state()[1][0] == state[1][0]  # numpy's global generator untouched
    expected = ((images - reference) * W[:, 0].reshape(SIZE, SIZE, 3)).sum(-1)
    np.testing.assert_allclose(maps, expected, rtol=1e-4, atol=1e-5)


def test_bad_input(linear, images):
    with pytest.raises(ValueError, match="segmentation must be one of"):
        lime_map(linear, images, segmentation="watershed")
    with pytest.raises(ValueError, match="explainer must be one of"):
        shap_map(linear, images, explainer="kernel")
    with pytest.raises(ValueError, match="fill must be a number, a colour"):
        shap_map(linear, images, fill=np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="target 3 is out of range"):
        lime_map(linear, images, 3)
    with pytest.raises(ValueError, match="num_samples must be a positive int"):
        lime_map(linear, images, num_samples=0)
    with pytest.raises(ValueError, match="images has the wrong channels"):
        shap_map(linear, images[..., :1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no stray warnings from the packages on a plain model
        lime_map(linear, images[0], num_samples=20, segmentation=quadrants)


def test_fills_and_backgrounds_are_checked(linear, images):
    with pytest.raises(ValueError, match="hide_color must be a finite number, got nan"):
        lime_map(linear, images, hide_color=float("nan"), num_samples=10)
    with pytest.raises(ValueError, match="fill must be a finite number|fill contains NaN"):
        shap_map(linear, images, fill=float("nan"), max_evals=50)
    with pytest.raises(ValueError, match="fill has integer dtype uint8"):
        shap_map(linear, images, fill=(images[0] * 255).astype("uint8"), max_evals=50)
    with pytest.raises(ValueError, match="background contains NaN"):
        shap_map(linear, images, explainer="gradient", background=np.full(images.shape, np.nan, "float32"))
    with pytest.raises(ValueError, match="images contains NaN"):
        predict_fn(linear)(np.full(images.shape, np.nan, "float32"))


def test_lime_explains_the_log_odds_when_asked(linear, images):
    maps = lime_map(linear, images, [1, 0], num_samples=300, segmentation=quadrants, seed=2, hide_color=0.0,
                    output="log_odds")
    for i, target in enumerate([1, 0]):
        expected = reference_lime(images[i].astype(np.float64), target, quadrants(None), 300, 2, log_odds=True)
        np.testing.assert_allclose(maps[i], expected, rtol=1e-4, atol=1e-5)
    probability = lime_map(linear, images[0], 1, num_samples=300, segmentation=quadrants, seed=2, hide_color=0.0)
    assert not np.allclose(probability, maps[0])          # a different quantity, not a rescaled copy
    with pytest.raises(ValueError, match="output"):
        lime_map(linear, images[0], 1, output="logits")


def test_log_odds_from_logits_stay_finite_where_the_softmax_saturates():
    from labkit.lime_shap import _log_odds_of
    z = np.array([[40.0, 0.0, -3.0], [1.0, 2.0, 3.0]])
    got = _log_odds_of(lambda images: z)(None)
    two = np.array([[40 - np.log(1 + np.exp(-3.0))], [1 - np.log(np.exp(2.0) + np.exp(3.0))]])
    np.testing.assert_allclose(got[:, :1], two, rtol=1e-12)            # z_t - logsumexp(the others), by hand
    p = softmax(z[1:])
    np.testing.assert_allclose(got[1], np.log(p / (1 - p))[0], rtol=1e-9)
    assert np.isfinite(got).all()                                      # p = 1 - 4e-18 would give inf
