"""Tests for labkit.tcav: CAVs, directional derivatives, TCAV scores and the significance test.

Hand-checkable models: ``gapnet`` averages the colour channels (layer "gap")
and feeds a Dense layer with fixed weights, so the gradient of the class
margin at "gap" is a known constant vector; ``cnn`` is a small random CNN
checked against an independent GradientTape on its head.
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from labkit import datasets, zoo
from labkit.layers import activations
from labkit.tcav import CAV, TCAVResult, directional_derivatives, fit_cav, tcav, tcav_score

SIZE = 16
# logits = gap @ W + b for gap = mean (R, G, B): class 1 likes red, dislikes blue
W = np.array([[0.0, 2.0], [1.0, 0.0], [0.0, -1.0]], np.float32)  # (3 channels, 2 classes)
MARGIN_1 = W[:, 1] - W[:, 0]  # gradient of h_1 - h_0 at gap: (2, -1, -1)


def weights_of(model):
    return [w.copy() for w in model.get_weights()]


def assert_same_weights(before, model):
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def gapnet():
    x = inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(2, name="logits")(x)
    model = keras.Model(inputs, outputs, name="gapnet")
    model.get_layer("logits").set_weights([W, np.array([0.1, -0.2], np.float32)])
    return model


@pytest.fixture(scope="module")
def cnn():
    keras.utils.set_random_seed(1)
    return zoo.build_cnn((SIZE, SIZE, 3), 2, widths=(4, 8))  # conv1, pool1, conv2, gap, logits


@pytest.fixture(scope="module")
def sets():
    rng = np.random.default_rng(0)
    random = rng.uniform(0, 1, (30, SIZE, SIZE, 3)).astype("float32")
    red = rng.uniform(0, 1, (30, SIZE, SIZE, 3)).astype("float32")
    red[..., 0] = np.clip(red[..., 0] + 0.4, 0, 1)  # more red than the random images
    return red, random


# --- step d: the CAV -------------------------------------------------------------


def test_cav_is_a_unit_vector_pointing_to_the_concept(gapnet, sets):
    red, random = sets
    before = weights_of(gapnet)
    cav = fit_cav(gapnet, "gap", red, random, concept="red")
    assert isinstance(cav, CAV) and cav.layer == "gap" and cav.concept == "red"
    assert cav.vector.shape == (3,) and cav.vector.dtype == np.float32
    assert np.linalg.norm(cav.vector) == pytest.approx(1.0, abs=1e-6)
    assert cav.vector[0] > 0.9  # red channel: the only difference between the sets
    assert cav.accuracy == 1.0  # mean red differs by 0.4, far beyond the noise of a 16x16 mean
    assert_same_weights(before, gapnet)


def test_cav_matches_logistic_regression_on_the_raw_activations(cnn, sets):
    """The row-space shortcut gives the same CAV as sklearn on all 8192 dimensions."""
    red, random = sets
    cav = fit_cav(cnn, "conv1", red, random, seed=3)
    acts = activations(cnn, np.concatenate([red, random]), "conv1").reshape(60, -1)  # (60, 16*16*4)
    y = np.r_[np.ones(30), np.zeros(30)]
    x_train, x_test, y_train, y_test = train_test_split(acts, y, test_size=0.33, stratify=y, random_state=3)
    reference = LogisticRegression(C=1.0, max_iter=20000, tol=1e-10).fit(x_train, y_train)
    direction = reference.coef_[0] / np.linalg.norm(reference.coef_[0])
    assert float(direction @ cav.vector) > 0.999
    assert cav.accuracy == pytest.approx(reference.score(x_test, y_test))


def test_sgd_cav_also_points_to_the_concept(gapnet, sets):
    red, random = sets
    cav = fit_cav(gapnet, "gap", red, random, classifier="sgd", seed=0)
    assert cav.classifier == "sgd" and cav.vector[0] > 0.5 and cav.accuracy > 0.9


# --- step e: directional derivatives and scores -------------------------------------


def test_directional_derivative_is_the_margin_gradient_dotted_with_the_cav(gapnet, sets):
    red, random = sets
    cav = fit_cav(gapnet, "gap", red, random)
    images = random[:7]
    np.testing.assert_allclose(directional_derivatives(gapnet, images, 1, cav), MARGIN_1 @ cav.vector, rtol=1e-5)
    np.testing.assert_allclose(directional_derivatives(gapnet, images, 0, cav), -MARGIN_1 @ cav.vector, rtol=1e-5)
    raw = directional_derivatives(gapnet, images, 1, cav, objective="logit")  # the paper's literal h_k
    np.testing.assert_allclose(raw, W[:, 1] @ cav.vector, rtol=1e-5)
    assert tcav_score(gapnet, images, 1, cav) == 1.0  # red raises the class-1 margin for every image
    assert tcav_score(gapnet, images, 0, cav) == 0.0


def test_directional_derivatives_match_an_independent_gradient_tape(cnn, sets):
    """Reference: the head (pool1, conv2, gap, logits) applied eagerly to the conv1 activations."""
    red, random = sets
    cav = fit_cav(cnn, "conv1", red, random)
    images = random[:5]
    maps = tf.constant(activations(cnn, images, "conv1"))  # (5, 16, 16, 4)
    with tf.GradientTape() as tape:
        tape.watch(maps)
        x = maps
        for name in ("pool1", "conv2", "gap", "logits"):
            x = cnn.get_layer(name)(x)
        margin = x[:, 1] - x[:, 0]  # two classes: the margin is the logit difference
    reference = tf.reshape(tape.gradient(margin, maps), (5, -1)).numpy() @ cav.vector
    np.testing.assert_allclose(directional_derivatives(cnn, images, 1, cav), reference, rtol=1e-4, atol=1e-6)
    assert tcav_score(cnn, images, 1, cav) == pytest.approx(np.mean(reference > 0))


def test_one_image_gives_the_batch_entry_and_weights_stay(cnn, sets):
    red, random = sets
    cav = fit_cav(cnn, "conv2", red, random)
    before = weights_of(cnn)
    batch = directional_derivatives(cnn, random[:4], 1, cav)
    one = directional_derivatives(cnn, random[2], 1, cav)
    assert np.ndim(one) == 0
    assert one == pytest.approx(batch[2], rel=1e-5, abs=1e-7)
    none = directional_derivatives(cnn, random[:4], None, cav)  # None = predicted class
    predicted = np.argmax(cnn.predict(random[:4], verbose=0), axis=1)
    np.testing.assert_allclose(none, np.where(predicted == 1, batch, -batch), rtol=1e-5, atol=1e-7)
    assert_same_weights(before, cnn)


def test_softmax_model_is_explained_on_its_logits(gapnet, sets):
    red, random = sets
    x = inputs = keras.Input((SIZE, SIZE, 3))
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(2, activation="softmax", name="probs")(x)
    softmax_model = keras.Model(inputs, outputs)
    softmax_model.get_layer("probs").set_weights(gapnet.get_layer("logits").get_weights())
    cav = fit_cav(gapnet, "gap", red, random)
    with pytest.warns(UserWarning, match="softmax"):
        values = directional_derivatives(softmax_model, random[:3], 1, cav)
    np.testing.assert_allclose(values, MARGIN_1 @ cav.vector, rtol=1e-5)


# --- the significance test ----------------------------------------------------------


@pytest.fixture(scope="module")
def result(gapnet):
    class_images = datasets.concept_images("random", 12, size=SIZE, seed=99)
    return tcav(gapnet, "gap", 1, ("red", "random"), class_images, n_random=16, n_concept=30, seed=0)


def test_tcav_finds_the_concept_the_model_uses_and_not_a_random_one(result):
    red, control = result.row("gap", "red"), result.row("gap", "random")
    assert isinstance(result, TCAVResult) and result.n_tests == 2 and result.target == 1
    assert red.mean == 1.0 and red.significant  # the margin gradient is (2, -1, -1): redness
    assert not control.significant and control.cav_accuracy < 0.8  # a random "concept" is no concept
    assert len(red.scores) == len(red.random_scores) == len(red.cav_accuracies) == 16


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")  # scipy, on a constant sample
def test_p_values_are_scipy_t_tests_with_bonferroni(result):
    for row in result.rows:
        expected = stats.ttest_ind(row.scores, row.random_scores).pvalue
        assert row.p_value == pytest.approx(expected)
        assert row.p_corrected == pytest.approx(min(1.0, expected * result.n_tests))
        assert row.significant == (row.p_corrected < result.alpha)
        assert row.mean == pytest.approx(np.mean(row.scores)) and row.std == pytest.approx(np.std(row.scores))
    assert "| gap | red |" in result.to_markdown()


def test_tcav_scores_are_the_scores_of_fit_cav_and_tcav_score(cnn, sets):
    """tcav's k-th concept score = fit_cav against random set k, then tcav_score."""
    red, _ = sets
    class_images = datasets.concept_images("random", 10, size=SIZE, seed=5)
    res = tcav(cnn, ("conv2",), 1, red[:12], class_images, n_random=3, n_concept=12, seed=2)
    for k in (1, 3):
        random_k = datasets.concept_images("random", 12, size=SIZE, seed=1000 * 2 + k)
        cav = fit_cav(cnn, "conv2", red[:12], random_k, seed=2)
        row = res.row("conv2", "concept")
        assert row.scores[k - 1] == tcav_score(cnn, class_images, 1, cav)
        assert row.cav_accuracies[k - 1] == cav.accuracy


def test_same_seed_same_result_other_seed_other_sets(cnn):
    class_images = datasets.concept_images("random", 8, size=SIZE, seed=7)
    run = dict(n_random=2, n_concept=6)
    first = tcav(cnn, ("conv1", "gap"), 0, ("red", "dots"), class_images, seed=4, **run)
    again = tcav(cnn, ("conv1", "gap"), 0, ("red", "dots"), class_images, seed=4, **run)
    other = tcav(cnn, ("conv1", "gap"), 0, ("red", "dots"), class_images, seed=5, **run)
    assert first == again
    assert [r.cav_accuracies for r in first.rows] != [r.cav_accuracies for r in other.rows]
    assert [(r.layer, r.concept) for r in first.rows] == [
        ("conv1", "red"), ("conv1", "dots"), ("gap", "red"), ("gap", "dots")]
    assert first.n_tests == 4


def test_two_layers_give_each_layer_s_single_layer_numbers(cnn):
    """Several layers in one call (one feature model with two outputs) = each layer alone, same sets."""
    class_images = datasets.concept_images("random", 8, size=SIZE, seed=7)
    run = dict(n_random=2, n_concept=6, seed=3)
    both = tcav(cnn, ["conv1", "conv2"], 1, "red", class_images, **run)
    for layer in ("conv1", "conv2"):
        alone = tcav(cnn, layer, 1, "red", class_images, **run).row(layer, "red")
        row = both.row(layer, "red")
        assert (row.scores, row.random_scores) == (alone.scores, alone.random_scores)
        assert (row.cav_accuracies, row.random_cav_accuracies) == (alone.cav_accuracies, alone.random_cav_accuracies)
    assert both.n_tests == 2


# --- bad input ---------------------------------------------------------------------


def test_bad_concept_sets_get_clear_errors(gapnet, sets):
    red, random = sets
    with pytest.raises(ValueError, match="concept_images is empty"):
        fit_cav(gapnet, "gap", red[:0], random)
    with pytest.raises(ValueError, match="concept_images has 1 image.*at least 2"):
        fit_cav(gapnet, "gap", red[:1], random)
    with pytest.raises(ValueError, match="random_images has 1 image"):
        fit_cav(gapnet, "gap", red, random[0])
    with pytest.raises(ValueError, match="concept_images has the wrong height"):
        fit_cav(gapnet, "gap", np.zeros((5, 32, 32, 3), "float32"), random)
    with pytest.raises(ValueError, match="concept 'concept' has 1 image"):
        tcav(gapnet, "gap", 1, red[:1], random[:4], n_random=2)
    with pytest.raises(ValueError, match="concept is empty"):
        tcav(gapnet, "gap", 1, {}, random[:4], n_random=2)
    with pytest.raises(ValueError, match="concept='purple' is not known"):
        tcav(gapnet, "gap", 1, "purple", random[:4], n_random=2)


def test_bad_layers_and_options_get_clear_errors(gapnet, sets):
    red, random = sets
    with pytest.raises(ValueError, match="no layer named 'gapp'.*'gap'"):
        fit_cav(gapnet, "gapp", red, random)
    with pytest.raises(ValueError, match="no layer named 'conv9'"):
        tcav(gapnet, ("gap", "conv9"), 1, "red", random[:4], n_random=2)
    with pytest.raises(ValueError, match="layers is empty"):
        tcav(gapnet, (), 1, "red", random[:4], n_random=2)
    with pytest.raises(ValueError, match="classifier must be one of 'logistic', 'sgd'"):
        fit_cav(gapnet, "gap", red, random, classifier="svm")
    with pytest.raises(ValueError, match="n_random must be between 2"):
        tcav(gapnet, "gap", 1, "red", random[:4], n_random=1)
    with pytest.raises(TypeError, match="target must be one class index"):
        tcav(gapnet, "gap", np.array([1, 0]), "red", random[:2], n_random=2)
    with pytest.raises(ValueError, match="target 2 is out of range"):
        tcav(gapnet, "gap", 2, "red", random[:4], n_random=2)
    with pytest.raises(ValueError, match="alpha must be"):
        tcav(gapnet, "gap", 1, "red", random[:4], n_random=2, alpha=5)
    with pytest.raises(ValueError, match="objective must be one of"):
        tcav_score(gapnet, random[:2], 1, fit_cav(gapnet, "gap", red, random), objective="prob")


def test_a_cav_of_another_layer_is_refused(cnn, sets):
    red, random = sets
    cav = fit_cav(cnn, "conv2", red, random)
    wrong = CAV(cav.vector, "conv1", cav.accuracy, "red", "random")
    with pytest.raises(ValueError, match="cav has 512 dimensions but layer 'conv1'.*1024"):
        tcav_score(cnn, random[:2], 1, wrong)


# --- the lecture's story on the shipped model ------------------------------------------


def _shipped(name):
    path = zoo.MODEL_DIR / "MANIFEST.json"
    if not path.exists() or name not in json.loads(path.read_text())["models"]:
        pytest.skip(f"zoo model {name!r} not trained yet (make train)")
    return zoo.load(name)


def test_fire_engine_model_uses_red(tmp_path):
    model = _shipped("fire_engines")
    data = datasets.toy_world("fire_engines", "melbourne", 80, seed=11)
    engines = data.images[data.labels == 1]
    res = tcav(model, "conv3", 1, ("red", "random"), engines, n_random=10, n_concept=20, seed=0)
    red, control = res.row("conv3", "red"), res.row("conv3", "random")
    assert red.mean >= 0.9 and red.significant
    assert not control.significant


# --- the plot -------------------------------------------------------------------------


def test_tcav_bars_draws_every_row_and_the_baseline(result):
    import matplotlib.pyplot as plt

    from labkit import plot

    ax = plot.tcav_bars(result, class_name="red-lover")
    heights = [patch.get_height() for patch in ax.patches]
    assert len(heights) == len(result.rows) + 1  # a bar per (layer, concept) and the random baseline
    assert heights[0] == pytest.approx(result.row("gap", "red").mean)
    assert heights[-1] == pytest.approx(result.rows[0].random_mean)
    marks = [t.get_text() for t in ax.texts]
    baseline = {r.layer: r.random_mean for r in result.rows}  # one grey bar per layer, labelled "random"
    assert marks == ([f"{r.mean:.2f}\n" + ("*" if r.significant else "n.s.") for r in result.rows]
                     + [f"{m:.2f}\nrandom" for m in baseline.values()])
    colours = {c.get_label(): c.patches[0].get_facecolor() for c in ax.containers if hasattr(c, "patches")}
    assert colours["red"][:3] == pytest.approx((1.0, 0.0, 0.0))   # a colour concept in its colour
    assert "red-lover" in ax.get_title()
    plt.close(ax.figure)


def test_a_dead_layer_gives_a_clear_error(sets):
    red, random = sets
    x = inputs = keras.Input((SIZE, SIZE, 3))
    x = layers.Conv2D(2, 3, activation="relu", name="dead", kernel_initializer="zeros",
                      bias_initializer=keras.initializers.Constant(-1.0))(x)  # relu(-1) = 0 everywhere
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, layers.Dense(2)(x))
    with pytest.raises(ValueError, match="no direction between 'concept' and 'random' at layer 'dead'"):
        fit_cav(model, "dead", red[:6], random[:6])


def test_cav_none_and_sizes_beyond_memory_are_refused(cnn, sets):
    red, random = sets
    with pytest.raises(TypeError, match="cav must be a CAV from fit_cav"):
        tcav_score(cnn, random[:2], 1, None)  # was an AttributeError
    with pytest.raises(ValueError, match=r"tcav\(n_random=..., n_concept=1000000000\) .* would need about .* of memory"):
        tcav(cnn, "conv2", 1, "red", random[:2], n_random=2, n_concept=10**9)
    with pytest.raises(ValueError, match=r"n_random=1099511627776 is too large"):
        tcav(cnn, "conv2", 1, "red", random[:2], n_random=2**40)
