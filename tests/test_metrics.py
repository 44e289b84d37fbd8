"""Tests for labkit.metrics: hand-computed cases on 4x4 maps and a tiny linear model."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from labkit import metrics, zoo
from labkit.datasets import toy_world
from labkit.metrics import (
    auc,
    deletion_curve,
    insertion_curve,
    mask_energy,
    pointing_game,
    random_baseline,
    randomization_check,
)

# --- pointing game and mask energy: 4x4 by hand --------------------------------------

MASK = np.zeros((4, 4), bool)
MASK[1:3, 1:3] = True  # the object: the centre 2x2 block


def test_pointing_game_hand_computed():
    hit = np.zeros((4, 4), np.float32)
    hit[2, 1] = 5.0  # maximum on the object
    miss = np.zeros((4, 4), np.float32)
    miss[0, 3] = 5.0  # maximum in the corner
    tie = np.zeros((4, 4), np.float32)
    tie[1, 1] = tie[0, 0] = tie[3, 3] = tie[2, 2] = 1.0  # four tied maxima, two on the object
    scores = pointing_game(np.stack([hit, miss, tie]), np.stack([MASK] * 3))
    np.testing.assert_allclose(scores, [1.0, 0.0, 0.5])


def test_pointing_game_tolerance_and_constant_map():
    near = np.zeros((4, 4), np.float32)
    near[0, 1] = 1.0  # one pixel above the object
    far = np.zeros((4, 4), np.float32)
    far[0, 3] = 1.0  # diagonal neighbour of (1, 2): distance sqrt(2) > 1
    maps, masks = np.stack([near, far]), np.stack([MASK, MASK])
    np.testing.assert_allclose(pointing_game(maps, masks), [0.0, 0.0])
    np.testing.assert_allclose(pointing_game(maps, masks, tolerance=1), [1.0, 0.0])
    np.testing.assert_allclose(pointing_game(maps, masks, tolerance=2), [1.0, 1.0])
    # a constant map ties everywhere: the expected hit is the object's area share
    assert pointing_game(np.ones((4, 4)), MASK) == pytest.approx(4 / 16)


def test_pointing_game_one_map_empty_mask_and_small_maps():
    one = np.zeros((4, 4), np.float32)
    one[1, 2] = 1.0
    assert pointing_game(one, MASK) == 1.0  # one map in: a float out
    assert np.isnan(pointing_game(one, np.zeros((4, 4), bool)))  # nothing to point at
    # a 2x2 map (like an un-upsampled Grad-CAM) is resized bilinearly to 4x4 first:
    # the top-right cell becomes a ramp peaking at pixel (0, 3), off the object
    coarse = np.array([[0.0, 1.0], [0.0, 0.0]], np.float32)
    assert pointing_game(coarse, MASK) == 0.0
    corner = MASK.copy()
    corner[0, 3] = True
    assert pointing_game(coarse, corner) == 1.0


def test_mask_energy_hand_computed():
    m = np.array(
        [[1, 0, 0, -4],
         [0, 2, 1, 0],
         [0, 3, -1, 0],
         [0, 0, 0, 3]], np.float32)
    # positive parts: inside 2 + 1 + 3 = 6 (the -1 does not count), outside 1 + 3 = 4
    assert mask_energy(m, MASK) == pytest.approx(6 / 10)
    assert mask_energy(m, ~MASK) == pytest.approx(4 / 10)  # regions add up to 1
    uniform = np.ones((4, 4), np.float32)
    none_positive = -np.ones((4, 4), np.float32)
    energy = mask_energy(np.stack([m, uniform, none_positive]), MASK)
    np.testing.assert_allclose(energy[:2], [0.6, 0.25])
    assert np.isnan(energy[2])
    # 2x2 map upsampled to 4x4: a constant map stays constant
    assert mask_energy(np.ones((2, 2)), MASK) == pytest.approx(0.25)


def test_random_baseline_matches_area_share():
    masks = np.stack([MASK, np.pad(np.ones((1, 4), bool), ((0, 3), (0, 0)))])  # areas 4/16, 4/16
    masks[1, 3, 3] = True  # 5/16
    pointing, energy = random_baseline(masks, n_maps=3000, seed=1)
    np.testing.assert_allclose(pointing, [4 / 16, 5 / 16], atol=0.03)
    np.testing.assert_allclose(energy, [4 / 16, 5 / 16], atol=0.01)
    smooth_pointing, _ = random_baseline(masks, n_maps=100, smooth=1.0, seed=1)
    assert smooth_pointing.shape == (2,)
    a, b = random_baseline(masks, n_maps=5, seed=3), random_baseline(masks, n_maps=5, seed=3)
    np.testing.assert_array_equal(a[0], b[0])  # seeded


def test_localisation_bad_input():
    with pytest.raises(ValueError, match="maps must have shape"):
        pointing_game(np.zeros((2, 2, 4, 4)), MASK)
    with pytest.raises(ValueError, match="maps contains NaN"):
        mask_energy(np.full((4, 4), np.nan), MASK)
    with pytest.raises(ValueError, match="masks must have shape .* N=2"):
        pointing_game(np.zeros((2, 4, 4)), np.zeros((3, 4, 4), bool))
    with pytest.raises(TypeError, match="masks must be boolean"):
        mask_energy(np.zeros((4, 4)), np.full((4, 4), 0.5))
    with pytest.raises(ValueError, match="tolerance must be"):
        pointing_game(np.zeros((4, 4)), MASK, tolerance=-1)
    with pytest.raises(TypeError, match="maps must be a numeric array"):
        pointing_game(None, MASK)


# --- deletion / insertion on a tiny linear model ----------------------------------

W = np.random.default_rng(42).normal(size=(16, 2)).astype(np.float32)  # (pixels, classes)


@pytest.fixture(scope="module")
def linear():
    """logits = flatten(x) @ W on 4x4x1 images: every pixel's effect is known."""
    x = inputs = keras.Input((4, 4, 1))
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(2, use_bias=False, name="logits")(x)
    model = keras.Model(inputs, outputs)
    model.get_layer("logits").set_weights([W])
    return model


def manual_curve(image, rank_order, target, steps, fill, insertion, probability=True):
    """Deletion/insertion the slow way: one image, one step at a time, in numpy."""
    flat, canvas = image.reshape(-1), np.broadcast_to(fill, image.shape).reshape(-1)
    out = []
    for k in np.round(np.linspace(0, 16, steps + 1)).astype(int):
        x = canvas.copy() if insertion else flat.copy()
        x[rank_order[:k]] = flat[rank_order[:k]] if insertion else canvas[rank_order[:k]]
        z = x @ W
        p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        out.append(p[target] if probability else z[target])
    return np.array(out)


def test_deletion_and_insertion_match_manual_computation(linear):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (3, 4, 4, 1)).astype(np.float32)
    maps = rng.normal(size=(3, 4, 4)).astype(np.float32)
    fill = np.float32(0.5)
    for steps in (4, 16):
        fractions, deleted = deletion_curve(linear, images, maps, 1, steps=steps, fill=fill, batch_size=10)
        _, inserted = insertion_curve(linear, images, maps, 1, steps=steps, fill=fill, batch_size=10)
        np.testing.assert_allclose(fractions, np.linspace(0, 1, steps + 1), atol=1e-6)
        for i in range(3):
            order = np.argsort(-maps[i].ravel(), kind="stable")
            np.testing.assert_allclose(
                deleted[i], manual_curve(images[i], order, 1, steps, fill, False), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(
                inserted[i], manual_curve(images[i], order, 1, steps, fill, True), rtol=1e-5, atol=1e-6)
    # logits instead of probabilities, and per-image fill images
    canvases = rng.uniform(0, 1, images.shape).astype(np.float32)
    _, logits = deletion_curve(linear, images, maps, [0, 1, 0], steps=4, fill=canvases, score="logit")
    for i, t in enumerate([0, 1, 0]):
        order = np.argsort(-maps[i].ravel(), kind="stable")
        expected = manual_curve(images[i], order, t, 4, canvases[i], False, probability=False)
        np.testing.assert_allclose(logits[i], expected, rtol=1e-5, atol=1e-5)


def test_deletion_ends_and_auc(linear):
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 1, (2, 4, 4, 1)).astype(np.float32)
    # exact contributions to the log-odds of class 1: (w1 - w0) * x
    good = (W[:, 1] - W[:, 0]).reshape(4, 4)[None] * images[..., 0]
    fractions, good_scores = deletion_curve(linear, images, good, 1, steps=16)
    _, bad_scores = deletion_curve(linear, images, -good, 1, steps=16)
    # both end at the empty image, both start at the intact one
    np.testing.assert_allclose(good_scores[:, [0, -1]], bad_scores[:, [0, -1]], rtol=1e-6)
    assert np.all(auc(fractions, good_scores) < auc(fractions, bad_scores))  # the right map deletes faster
    assert auc([0.0, 0.5, 1.0], [1.0, 0.5, 0.0]) == pytest.approx(0.5)
    np.testing.assert_allclose(auc([0.0, 1.0], [[1.0, 1.0], [0.0, 1.0]]), [1.0, 0.5])
    # one image in, one curve out; predicted class by default
    _, one = deletion_curve(linear, images[0], good[0], steps=16)
    predicted = int(np.argmax(images[0].reshape(-1) @ W))
    _, batch = deletion_curve(linear, images[:1], good[:1], predicted, steps=16)
    np.testing.assert_allclose(one, batch[0], rtol=1e-6)


def test_curve_resizes_small_maps_and_bad_input(linear):
    images = np.random.default_rng(2).uniform(0, 1, (2, 4, 4, 1)).astype(np.float32)
    coarse = np.array([[[1.0, 0.0], [0.0, 0.0]]] * 2, np.float32)  # top-left block first
    _, scores = deletion_curve(linear, images, coarse, 0, steps=16, score="logit")
    first = np.argsort(-metrics._resize(coarse, (4, 4))[0].ravel(), kind="stable")[0]
    assert first == 0
    np.testing.assert_allclose(scores[0, 1] - scores[0, 0], -images[0].ravel()[0] * W[0, 0], rtol=1e-5)
    with pytest.raises(ValueError, match="maps has 1 maps but there are 2 images"):
        deletion_curve(linear, images, coarse[:1])
    with pytest.raises(ValueError, match="steps must be a positive int"):
        deletion_curve(linear, images, coarse, steps=0)
    with pytest.raises(ValueError, match="score must be one of"):
        insertion_curve(linear, images, coarse, score="prob")
    with pytest.raises(ValueError, match="target 5 is out of range"):
        deletion_curve(linear, images, coarse, 5)
    with pytest.raises(ValueError, match="images has the wrong height"):
        deletion_curve(linear, np.zeros((2, 5, 4, 1), np.float32), coarse)
    with pytest.raises(ValueError, match="scores must have shape"):
        auc([0.0, 1.0], [[1.0, 2.0, 3.0]])


# --- randomization check (Adebayo et al. 2018) ------------------------------------


@pytest.fixture(scope="module")
def shapes_model():
    return zoo.load("shapes")


@pytest.fixture(scope="module")
def shape_images():
    return toy_world("shapes", "test", 6, seed=11).images


def edge_map(model, images, target=None):
    """Explains the image, not the model: gradient magnitude of the grey image."""
    grey = np.asarray(images).mean(-1)
    return np.hypot(np.diff(grey, axis=1, append=0), np.diff(grey, axis=2, append=0))


def input_gradient(model, images, target):
    """|d logit_target / d x| max over channels (reference saliency, independent of labkit)."""
    x = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model(x, training=False)
        score = tf.gather(logits, np.asarray(target), axis=1, batch_dims=1)
    return tf.reduce_max(tf.abs(tape.gradient(score, x)), axis=-1).numpy()


def weights_of(model):
    return [w.copy() for w in model.get_weights()]


def test_randomization_weight_independent_method_stays_at_one(shapes_model, shape_images):
    before = weights_of(shapes_model)
    result = randomization_check(edge_map, shapes_model, shape_images)
    assert result.layers == ("logits", "conv4", "conv3", "conv2", "conv1")
    assert result.correlations.shape == (5, 6)
    np.testing.assert_allclose(result.correlations, 1.0, atol=1e-6)
    np.testing.assert_allclose(result.mean, 1.0, atol=1e-6)
    for a, b in zip(before, shapes_model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_randomization_gradients_decorrelate(shapes_model, shape_images):
    before = weights_of(shapes_model)
    predicted = shapes_model.predict(shape_images, verbose=0).argmax(1)
    result = randomization_check(input_gradient, shapes_model, shape_images, seed=3)
    # the trained maps are the trained model's, for its predicted class
    np.testing.assert_allclose(result.trained_maps, input_gradient(shapes_model, shape_images, predicted),
                               rtol=1e-4, atol=1e-6)
    assert result.maps.shape == (5, 6, 64, 64)
    assert result.mean[0] < 0.6  # re-initialising the logits layer already changes the maps
    assert result.mean[-1] < 0.35  # a fully random model: little left of the trained maps
    assert np.all(result.std >= 0)
    for a, b in zip(before, shapes_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    again = randomization_check(input_gradient, shapes_model, shape_images, seed=3)
    np.testing.assert_array_equal(again.correlations, result.correlations)  # seeded
    # chosen layers only, cumulatively in the order given; absolute maps; extra kwargs
    calls = []

    def method(model, images, target, *, scale):
        calls.append(scale)
        return scale * input_gradient(model, images, target)

    chosen = randomization_check(method, shapes_model, shape_images, 0, layers=("conv4", -1),
                                 absolute=True, scale=-2.0)
    assert chosen.layers == ("conv4", "logits") and calls == [-2.0] * 3
    assert np.all(chosen.maps >= 0)


def test_randomization_leaves_model_unchanged_after_exception(shapes_model, shape_images):
    before = weights_of(shapes_model)
    expected = shapes_model.predict(shape_images, verbose=0)
    calls = []

    def failing(model, images, target):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return input_gradient(model, images, target)

    with pytest.raises(RuntimeError, match="boom"):
        randomization_check(failing, shapes_model, shape_images)
    for a, b in zip(before, shapes_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(shapes_model.predict(shape_images, verbose=0), expected)


def test_randomization_bad_input(shapes_model, shape_images):
    with pytest.raises(ValueError, match="no layer named 'conv9'"):
        randomization_check(edge_map, shapes_model, shape_images, layers=("conv9",))
    with pytest.raises(ValueError, match="images has the wrong height"):
        randomization_check(edge_map, shapes_model, shape_images[:, :32])
    with pytest.raises(ValueError, match="seed must be >= 0"):
        randomization_check(edge_map, shapes_model, shape_images, seed=-1)


def test_spearman_matches_scipy():
    from scipy import stats

    rng = np.random.default_rng(4)
    a = rng.normal(size=(3, 5, 5))
    b = a + rng.normal(size=a.shape)
    b[1, 0, :3] = b[1, 0, 3]  # ties
    expected = [stats.spearmanr(a[i].ravel(), b[i].ravel()).statistic for i in range(3)]
    np.testing.assert_allclose(metrics._spearman(a, b), expected, rtol=1e-10)


def test_pointing_game_tolerance_costs_no_more_memory_than_none():
    masks = np.zeros((2, 64, 64), bool)
    masks[0, 10:20, 10:20] = True
    maps = np.zeros((2, 64, 64), "float32")
    maps[:, 50, 50] = 1.0  # the peak far from the object
    np.testing.assert_array_equal(pointing_game(maps, masks, tolerance=1000)[:1], [1.0])  # was a MemoryError
    assert np.isnan(pointing_game(maps, masks, tolerance=1000)[1])  # an empty mask stays NaN
    # from the peak (50, 50) to the mask's nearest pixel (19, 19): sqrt(31**2 + 31**2) = 43.8 pixels
    assert pointing_game(maps[0], masks[0], tolerance=43) == 0.0 and pointing_game(maps[0], masks[0], tolerance=44) == 1.0


def test_deletion_curve_fill_and_steps_are_checked(linear):
    model, images = linear, np.random.default_rng(3).random((3, 4, 4, 1), dtype=np.float32)
    maps = np.random.default_rng(4).random(images.shape[:3]).astype("float32")
    with pytest.raises(ValueError, match="fill must be a finite number, got nan"):
        metrics.deletion_curve(model, images, maps, fill=float("nan"))
    with pytest.raises(ValueError, match="fill contains NaN"):
        metrics.deletion_curve(model, images, maps, fill=np.full(images.shape, np.nan, "float32"))
    with pytest.raises(ValueError, match=r"fill must be a number or an array broadcastable to the images"):
        metrics.deletion_curve(model, images, maps, fill=np.zeros((3, 3)))
    small = metrics.deletion_curve(model, images, maps, steps=8, batch_size=3)[1]  # 3 images per pass, not 9
    np.testing.assert_allclose(small, metrics.deletion_curve(model, images, maps, steps=8)[1], rtol=1e-5, atol=1e-6)


def test_randomizing_layers_without_weights_is_refused(shapes_model, shape_images):
    with pytest.raises(ValueError, match=r"layers \['gap'\] have no weights, so re-initialising them changes nothing"):
        randomization_check(edge_map, shapes_model, shape_images, layers=["gap"])  # reported correlation 1.0
    one = randomization_check(edge_map, shapes_model, shape_images[:2], layers="logits")  # one name is one layer
    assert one.layers == ("logits",)
    with pytest.raises(TypeError, match="method must be an attribution method"):
        randomization_check("saliency", shapes_model, shape_images)
