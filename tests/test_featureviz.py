"""Tests for labkit.ascent and labkit.objectives (gradient ascent), labkit.units (filters, top examples,
receptive fields, embeddings), and their plots.

Numbers, not shapes: the parameterisations, transforms, penalties and Adam
are checked against numpy/scipy/keras references; the ascent's trace against
the model's own activations; receptive fields against gradient supports; the
trained shapes model for what a student should see (class visualizations
classified as their class, channels driven past real images).
"""

import keras
import matplotlib
import numpy as np
import pytest
import tensorflow as tf
from keras import layers
from scipy import ndimage

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from labkit import plot  # noqa: E402
from labkit import ascent, datasets, forward, units, zoo  # noqa: E402
from labkit import objectives as obj  # noqa: E402
from labkit.layers import activations, feature_model  # noqa: E402

FAST = dict(steps=8, progress=False)


def weights_of(model):
    return [w.copy() for w in model.get_weights()]


def assert_weights_unchanged(model, before):
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def small():
    """Untrained zoo architecture on 32x32 inputs: conv1 (32x32x4), pool1, conv2 (16x16x8), gap, logits."""
    keras.utils.set_random_seed(1)
    return zoo.build_cnn((32, 32, 3), 3, widths=(4, 8))


@pytest.fixture(scope="module")
def shapes():
    return zoo.load("shapes")


@pytest.fixture(scope="module")
def resnet():
    """The lecture's ResNet50V2 architecture (no weights offline) on 64x64 inputs."""
    return keras.applications.ResNet50V2(weights=None, include_top=False, input_shape=(64, 64, 3))


@pytest.fixture(scope="module")
def toy():
    return datasets.toy_world("shapes", "test", 300, seed=5)


# --- filters ----------------------------------------------------------------------


def test_filters_raw_are_the_kernels_per_output_channel(small):
    kernel = small.get_layer("conv1").get_weights()[0]  # (3, 3, 3, 4)
    raw = units.filters(small, scale=None)
    assert raw.shape == (4, 3, 3, 3)
    for k in range(4):
        np.testing.assert_array_equal(raw[k], kernel[..., k])
    np.testing.assert_array_equal(units.filters(small, "conv2", scale=None)[5], small.get_layer("conv2").get_weights()[0][..., 5])


def test_filters_display_scaling_by_hand():
    x = inputs = keras.Input((5, 5, 1))
    conv = layers.Conv2D(2, 2, name="c")
    model = keras.Model(inputs, conv(x))
    kernel = np.zeros((2, 2, 1, 2), np.float32)
    kernel[..., 0, 0] = [[1.0, -2.0], [0.0, 0.5]]  # filter 0: max |w| = 2
    kernel[..., 0, 1] = [[0.25, 0.0], [0.0, -0.125]]  # filter 1: max |w| = 0.25
    conv.set_weights([kernel, np.zeros(2, np.float32)])
    per_filter = units.filters(model)[..., 0]
    np.testing.assert_allclose(per_filter[0], [[0.75, 0.0], [0.5, 0.625]])
    np.testing.assert_allclose(per_filter[1], [[1.0, 0.5], [0.5, 0.25]])
    per_layer = units.filters(model, scale="layer")[..., 0]
    np.testing.assert_allclose(per_layer[1], [[0.5625, 0.5], [0.5, 0.46875]])
    np.testing.assert_allclose(per_layer[0], per_filter[0])


def test_filters_resnet50v2_nested_first_conv(resnet):
    base = resnet
    model = keras.Sequential([base, layers.GlobalAveragePooling2D(), layers.Dense(3)])
    before = weights_of(base)[:2]
    shown = units.filters(model)  # first Conv2D, inside the nested ResNet
    assert shown.shape == (64, 7, 7, 3)
    np.testing.assert_array_equal(units.filters(model, "conv1_conv", scale=None),
                                  np.transpose(base.get_layer("conv1_conv").get_weights()[0], (3, 0, 1, 2)))
    assert shown.min() >= 0 and shown.max() <= 1
    np.testing.assert_allclose(np.abs(shown - 0.5).max(axis=(1, 2, 3)), 0.5, rtol=1e-6)  # each filter spans the range
    assert_weights_unchanged(base, before)


def test_filters_bad_input(small):
    with pytest.raises(ValueError, match="'gap' .* is not a Conv2D layer"):
        units.filters(small, "gap")
    with pytest.raises(ValueError, match="no layer named 'conv9'"):
        units.filters(small, "conv9")
    with pytest.raises(ValueError, match="scale must be one of"):
        units.filters(small, scale="global")


# --- building blocks against references ------------------------------------------------


def test_fft_image_is_numpy_irfft2_of_the_1_over_f_scaled_spectrum():
    rng = np.random.default_rng(0)
    spectrum = rng.standard_normal((2, 2, 3, 16, 9)).astype(np.float32)
    scale = ascent._spectrum_scale(16, 16)
    assert scale[0, 1] == pytest.approx(16 / (1 / 16))  # sqrt(h w) / |f|, f = 1/16
    assert scale[0, 2] == pytest.approx(scale[0, 1] / 2)  # twice the frequency, half the scale
    assert scale[0, 0] == scale[0, 1]  # DC clamped at the lowest frequency
    image = ascent._fft_image(tf.constant(spectrum), scale, 16).numpy()
    expected = np.fft.irfft2((spectrum[0] + 1j * spectrum[1]) * scale, s=(16, 16)) / 4  # (B, C, h, w)
    np.testing.assert_allclose(image, np.transpose(expected, (0, 2, 3, 1)), atol=2e-4)


def test_decorrelated_colour_then_sigmoid():
    t = np.random.default_rng(1).standard_normal((2, 4, 4, 3)).astype(np.float32)
    colour = ascent.COLOR_CORRELATION_SVD_SQRT / np.linalg.norm(ascent.COLOR_CORRELATION_SVD_SQRT, axis=0).max()
    expected = 1 / (1 + np.exp(-(t @ colour.T)))
    np.testing.assert_allclose(ascent._to_rgb(tf.constant(t), True).numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(ascent._to_rgb(tf.constant(t), False).numpy(), 1 / (1 + np.exp(-t)), rtol=1e-5)
    grey = np.random.default_rng(1).standard_normal((1, 4, 4, 1)).astype(np.float32)  # 1 channel: no colour mixing
    np.testing.assert_allclose(ascent._to_rgb(tf.constant(grey), True).numpy(), 1 / (1 + np.exp(-grey)), rtol=1e-5)


def test_random_transform_matches_scipy_affine_transform():
    rng = np.random.default_rng(2)
    images = rng.uniform(size=(3, 24, 24, 2)).astype(np.float32)
    amounts = {"jitter": 2.0, "scale": 0.1, "rotate": 10.0}
    seed = tf.constant([4, 7])
    out = ascent._transform(tf.constant(images), amounts, seed, 20).numpy()  # also resizes 24 -> 20
    matrix = ascent._random_affine(3, 24, amounts, seed, 20).numpy()  # (B, 8): (x, y) out -> in
    assert out.shape == (3, 20, 20, 2)
    for b in range(3):
        a0, a1, a2, b0, b1, b2 = matrix[b, :6]
        # scipy works in (row, col) = (y, x): in = M @ out + offset
        m, offset = np.array([[b1, b0], [a1, a0]]), np.array([b2, a2])
        for c in range(2):
            expected = ndimage.affine_transform(images[b, ..., c], m, offset=offset, order=1, mode="reflect")[:20, :20]
            np.testing.assert_allclose(out[b, 3:-3, 3:-3, c], expected[3:-3, 3:-3], atol=1e-4)
    zoom = np.hypot(matrix[:, 0], matrix[:, 3]) * 20 / 24  # 1 / zoom, zoom within 1 +- 0.1
    assert np.all((zoom > 1 / 1.1 - 1e-6) & (zoom < 1 / 0.9 + 1e-6))


def test_transform_draws_do_not_depend_on_the_other_images():
    amounts = {"jitter": 3.0, "scale": 0.1, "rotate": 10.0}
    seed = tf.constant([0, 5])
    whole = ascent._random_affine(5, 32, amounts, seed, 32).numpy()
    part = ascent._random_affine(2, 32, amounts, seed, 32, offset=3).numpy()
    np.testing.assert_array_equal(part, whole[3:])


def test_penalties_against_numpy():
    x = np.random.default_rng(3).uniform(size=(2, 6, 7, 3)).astype(np.float32)
    t = tf.constant(x)
    np.testing.assert_allclose(ascent._l2(t).numpy(), ((x - 0.5) ** 2).mean(axis=(1, 2, 3)), rtol=1e-5)
    tv = np.abs(np.diff(x, axis=1)).mean(axis=(1, 2, 3)) + np.abs(np.diff(x, axis=2)).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(ascent._tv(t).numpy(), tv, rtol=1e-5)
    blurred = ndimage.uniform_filter(x, size=(1, 3, 3, 1), mode="reflect")
    np.testing.assert_allclose(ascent._blur(t).numpy(), 0.5 * ((x - blurred) ** 2).mean(axis=(1, 2, 3)), rtol=1e-4)
    flat = tf.fill((1, 5, 5, 3), 0.5)
    assert ascent._l2(flat).numpy()[0] == ascent._tv(flat).numpy()[0] == ascent._blur(flat).numpy()[0] == 0
    total = ascent._penalty(t, (("l2", 2.0), ("tv", 0.5))).numpy()
    np.testing.assert_allclose(total, 2 * ascent._l2(t).numpy() + 0.5 * tv, rtol=1e-5)


def test_adam_matches_keras_adam():
    target = np.array([1.0, -2.0, 3.0], np.float32)
    variable = keras.Variable(np.zeros(3, np.float32))
    optimizer = keras.optimizers.Adam(learning_rate=0.1, epsilon=1e-8)
    params, m, v = tf.zeros(3), tf.zeros(3), tf.zeros(3)
    for step in range(1, 6):
        grad = 2 * (params - target)
        params, m, v = ascent._adam(params, grad, m, v, float(step), 0.1)
        optimizer.apply_gradients([(2 * (variable - target), variable)])
    np.testing.assert_allclose(params.numpy(), variable.numpy(), rtol=1e-4, atol=1e-6)


# --- objectives ---------------------------------------------------------------------------


def test_objective_shorthands():
    assert obj.as_objectives(("conv4", 5)) == [obj.Objective("auto", "conv4", 5)]
    assert obj.as_objectives(("conv4", 5, (4, 4))) == [obj.neuron("conv4", 5, (4, 4))]
    assert obj.as_objectives(("conv4", range(3))) == [obj.Objective("auto", "conv4", i) for i in range(3)]
    assert obj.as_objectives([("conv2", 1), obj.class_logit(2)]) == [obj.Objective("auto", "conv2", 1), obj.class_logit(2)]
    with pytest.raises(TypeError, match="objective must be"):
        obj.as_objectives("conv4")
    with pytest.raises(ValueError, match=r"must be \(layer, index\)"):
        obj.as_objectives(("conv4", 1, (1, 1), 4))


def test_trace_is_the_objective_of_the_previous_step(small):
    """Without transforms, trace[k] is the objective of the image after k steps, from the model itself."""
    objectives = [obj.channel("conv2", 3), obj.neuron("conv1", 2, (5, 9)), ("logits", 1), ("gap", 6),
                  obj.class_probability(0)]
    options = dict(transforms=(), progress=False, seed=3)
    before = ascent.visualize(small, objectives, steps=2, **options)
    after = ascent.visualize(small, objectives, steps=3, **options)
    np.testing.assert_array_equal(before.trace, after.trace[:2])  # same seed, same path
    conv1, conv2, gap, logits = activations(small, before.images, ["conv1", "conv2", "gap", "logits"])
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = [conv2[0, ..., 3].mean(), conv1[1, 5, 9, 2], logits[2, 1], gap[3, 6], log_softmax[4, 0]]
    np.testing.assert_allclose(after.trace[2], expected, rtol=1e-4, atol=1e-6)


def test_same_seed_same_images_other_seed_other_images(small):
    a = ascent.visualize(small, ("conv2", range(3)), seed=7, **FAST)
    b = ascent.visualize(small, ("conv2", range(3)), seed=7, **FAST)
    c = ascent.visualize(small, ("conv2", range(3)), seed=8, **FAST)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.trace, b.trace)
    assert np.abs(a.images - c.images).max() > 1e-3


def test_batch_of_objectives_equals_each_alone(small):
    together = ascent.visualize(small, ("conv2", (1, 4, 6)), **FAST)
    in_twos = ascent.visualize(small, ("conv2", (1, 4, 6)), batch_size=2, **FAST)
    alone = ascent.visualize(small, ("conv2", 1), **FAST)  # image i's start and transforms depend on (seed, i)
    np.testing.assert_allclose(in_twos.images, together.images, atol=1e-4)
    np.testing.assert_allclose(alone.images[0], together.images[0], atol=1e-4)
    np.testing.assert_allclose(in_twos.trace, together.trace, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("param, decorrelate", [("fft", True), ("pixel", False)])
def test_ascent_raises_the_objective_and_keeps_pixels_valid(small, param, decorrelate):
    before = weights_of(small)
    images, trace = ascent.visualize(small, ("logits", range(3)), steps=24, param=param, decorrelate=decorrelate,
                                 regularizers=("l2", "blur"), progress=False)
    assert images.shape == (3, 32, 32, 3) and trace.shape == (24, 3)
    assert images.dtype == np.float32 and np.all((images >= 0) & (images <= 1))
    assert np.all(trace[-4:].mean(axis=0) > trace[:4].mean(axis=0))
    assert_weights_unchanged(small, before)


def test_l2_penalty_pulls_towards_grey(small):
    free = ascent.visualize(small, ("conv2", range(4)), steps=32, param="pixel", progress=False).images
    held = ascent.visualize(small, ("conv2", range(4)), steps=32, param="pixel", regularizers=(("l2", 200.0),),
                        progress=False).images
    assert np.abs(held - 0.5).mean() < 0.5 * np.abs(free - 0.5).mean()


def test_size_other_than_the_model_input_is_resized(small):
    images, trace = ascent.visualize(small, ("conv2", 0), size=48, **FAST)
    assert images.shape == (1, 48, 48, 3) and np.isfinite(trace).all()


def compiled_programs(model, kind="visualize"):
    """The compiled ascent programs for ``model`` in labkit's one compile cache (labkit.forward.cached)."""
    return {key: value for key, value in forward._CACHE.get(model, {}).items() if key[0] == kind}


def test_compiled_program_is_reused_for_other_channels(small):
    ascent.visualize(small, ("conv2", (0, 1)), **FAST)
    programs = compiled_programs(small)
    traced = {key: program.experimental_get_tracing_count() for key, program in programs.items()}
    ascent.visualize(small, ("conv2", (5, 7)), seed=3, **FAST)  # other channels, same layer and recipe
    assert compiled_programs(small).keys() == programs.keys()
    assert {key: program.experimental_get_tracing_count() for key, program in programs.items()} == traced


def test_steps_per_call_does_not_change_the_result(small):
    whole = ascent.visualize(small, ("conv2", (0, 3)), **FAST)
    stepwise = ascent.visualize(small, ("conv2", (0, 3)), steps_per_call=1, **FAST)
    in_threes = ascent.visualize(small, ("conv2", (0, 3)), steps_per_call=3, **FAST)  # 3 + 3 + 2 steps
    for other in (stepwise, in_threes):
        np.testing.assert_allclose(other.images, whole.images, atol=1e-5)
        np.testing.assert_allclose(other.trace, whole.trace, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="steps_per_call must be a positive int"):
        ascent.visualize(small, ("conv2", 0), steps_per_call=0, **FAST)


def test_softmax_model_class_objective_uses_logits():
    keras.utils.set_random_seed(2)
    x = inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(4, 3, activation="relu", name="conv")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(5, activation="relu", name="hidden")(x)
    model = keras.Model(inputs, layers.Dense(3, activation="softmax", name="probs")(x))
    objectives = [obj.class_logit(2), ("hidden", 4)]  # a Dense ReLU unit: read through the redirected ReLU
    with pytest.warns(UserWarning, match="pre-softmax logits"):
        result = ascent.visualize(model, objectives, steps=3, transforms=(), progress=False)
    with pytest.warns(UserWarning):
        again = ascent.visualize(model, [("logits", 2), ("hidden", 4)], steps=4, transforms=(), progress=False)
    hidden = activations(model, result.images, "hidden")
    kernel, bias = model.get_layer("probs").get_weights()
    np.testing.assert_allclose(again.trace[3], [(hidden @ kernel + bias)[0, 2], hidden[1, 4]], rtol=1e-4, atol=1e-6)


def test_objective_inside_a_nested_model():
    keras.utils.set_random_seed(3)
    x = inputs = keras.Input((16, 16, 3))
    base = keras.Model(inputs, layers.Conv2D(5, 3, activation="relu", name="inner")(x), name="base")
    model = keras.Sequential([keras.Input((16, 16, 3)), base, layers.GlobalAveragePooling2D(), layers.Dense(2)])
    result = ascent.visualize(model, ("inner", 4), steps=3, transforms=(), progress=False)
    again = ascent.visualize(model, ("inner", 4), steps=4, transforms=(), progress=False)
    np.testing.assert_allclose(again.trace[3], activations(model, result.images, "inner")[..., 4].mean(axis=(1, 2)), rtol=1e-4)


def test_no_progress_output_when_disabled(small, capsys):
    ascent.visualize(small, ("conv2", 0), **FAST)
    captured = capsys.readouterr()
    assert captured.out == captured.err == ""


def test_visualize_bad_input(small):
    with pytest.raises(ValueError, match=r"channel 8 is out of range for layer 'conv2' with 8 channels \(valid: 0..7\)"):
        ascent.visualize(small, ("conv2", 8), **FAST)
    with pytest.raises(ValueError, match="unit 3 is out of range for layer 'logits'"):
        ascent.visualize(small, ("logits", 3), **FAST)
    with pytest.raises(ValueError, match="'gap' has no spatial axes .* channel objective"):
        ascent.visualize(small, obj.channel("gap", 2), **FAST)
    with pytest.raises(ValueError, match="'gap' has no spatial axes .* position"):
        ascent.visualize(small, ("gap", 2, (1, 1)), **FAST)
    with pytest.raises(ValueError, match=r"position \(16, 0\) is outside the 16x16 feature map of layer 'conv2'"):
        ascent.visualize(small, ("conv2", 2, (16, 0)), **FAST)
    with pytest.raises(ValueError, match="size=12 is too small for the transforms"):
        ascent.visualize(small, ("conv2", 0), size=12, **FAST)
    with pytest.raises(ValueError, match="size=32 is too small .*jitter 9 px"):
        ascent.visualize(small, ("conv2", 0), transforms=(("jitter", 9),), **FAST)
    ascent.visualize(small, ("conv2", 0), size=12, transforms=(), **FAST)  # fine without transforms
    with pytest.raises(ValueError, match="no layer named 'conv5'.*Valid names, closest first: 'conv2', 'conv1'"):
        ascent.visualize(small, ("conv5", 0), **FAST)
    with pytest.raises(ValueError, match="param must be one of 'fft', 'pixel'"):
        ascent.visualize(small, ("conv2", 0), param="pixels", **FAST)
    with pytest.raises(ValueError, match="transforms must be one of 'jitter', 'scale', 'rotate'"):
        ascent.visualize(small, ("conv2", 0), transforms=("flip",), **FAST)
    with pytest.raises(ValueError, match="regularizers 'l2' must be an amount >= 0"):
        ascent.visualize(small, ("conv2", 0), regularizers=(("l2", -1),), **FAST)
    with pytest.raises(TypeError, match=r"objective \('conv2', 1.5\): the index must be an int"):
        ascent.visualize(small, ("conv2", 1.5), **FAST)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        ascent.visualize(small, ("conv2", 0), steps=0, progress=False)
    with pytest.raises(TypeError, match="objective must be"):
        ascent.visualize(small, 3, **FAST)
    with pytest.raises(ValueError, match="lr must be a positive number"):
        ascent.visualize(small, ("conv2", 0), lr=0, **FAST)


# --- pixel_ascent: the plain loop -----------------------------------------------------------


def one_by_one_conv(kernel):
    """16x16x3 input -> a linear 1x1 convolution with the given (3, K) kernel (bias 0.3), then GAP and a head."""
    x = inputs = keras.Input((16, 16, 3))
    conv = layers.Conv2D(kernel.shape[1], 1, name="mix")
    x = conv(x)
    model = keras.Model(inputs, layers.Dense(2, name="logits")(layers.GlobalAveragePooling2D()(x)))
    conv.set_weights([kernel[None, None].astype(np.float32), np.full(kernel.shape[1], 0.3, np.float32)])
    return model


@pytest.mark.parametrize("blur_every", [0, 4])
def test_pixel_ascent_finds_the_optimum_of_a_linear_channel(blur_every):
    """mean(I w_k) - L2 is best at I = 0.5 + c w_k at every pixel: by hand, c = lr (1 - l2) / (l2 rms(w_k)).

    The gradient of channel k's mean is w_k / (H W) at every pixel; normalised to RMS 1 it is
    w_k / rms(w_k); the fixed point of d <- (1 - l2) (d + lr g) is d = (1 - l2) lr g / l2, reached from
    any start (the noise decays by 1 - l2 per step; a blur leaves a constant image unchanged).
    """
    kernel = np.array([[0.8, -0.1], [-0.4, 0.5], [0.2, 0.3]])  # (C=3, K=2)
    model = one_by_one_conv(kernel)
    lr, l2 = 0.01, 0.1
    images, trace = ascent.pixel_ascent(model, ("mix", range(2)), steps=300, lr=lr, l2=l2, blur_every=blur_every)
    assert images.shape == (2, 16, 16, 3) and trace.shape == (300, 2)
    for k in range(2):  # a batch of two objectives: each image finds its own channel's optimum
        w = kernel[:, k]
        best = 0.5 + (1 - l2) * lr / l2 * w / np.sqrt(np.mean(w**2))  # (3,) the same at every pixel
        np.testing.assert_allclose(images[k], np.broadcast_to(best, (16, 16, 3)), atol=1e-5)
        direction = (images[k] - 0.5).mean(axis=(0, 1))
        assert direction @ w / (np.linalg.norm(direction) * np.linalg.norm(w)) > 0.9999  # proportional to the kernel
        assert trace[-1, k] == pytest.approx(best @ w + 0.3, rel=1e-5)  # the channel's mean at the optimum
        assert trace[-1, k] > trace[0, k]


def test_pixel_ascent_raises_the_objective_and_keeps_pixels_valid(small):
    before = weights_of(small)
    objectives = [("conv2", (1, 4)), ("logits", range(3)), obj.neuron("conv1", 2, (5, 9))]
    images, trace = ascent.pixel_ascent(small, objectives, steps=40)
    assert images.shape == (6, 32, 32, 3) and trace.shape == (40, 6)
    assert images.dtype == np.float32 and np.all((images >= 0) & (images <= 1))
    assert np.all(trace[-5:].mean(axis=0) > trace[:5].mean(axis=0))
    assert_weights_unchanged(small, before)


def test_pixel_ascent_trace_is_the_objective_before_each_step(small):
    """trace[k] is the objective of the image after k steps (blurred every 2 steps here), from the model itself."""
    objectives = [obj.channel("conv2", 3), ("logits", 1), obj.class_probability(0)]
    before = ascent.pixel_ascent(small, objectives, steps=4, blur_every=2, seed=3)
    after = ascent.pixel_ascent(small, objectives, steps=5, blur_every=2, seed=3)
    np.testing.assert_array_equal(before.trace, after.trace[:4])  # same seed, same path
    conv2, logits = activations(small, before.images, ["conv2", "logits"])
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(after.trace[4], [conv2[0, ..., 3].mean(), logits[1, 1], log_softmax[2, 0]],
                               rtol=1e-4, atol=1e-6)


def test_pixel_ascent_is_seeded_and_a_batch_equals_each_alone(small):
    a = ascent.pixel_ascent(small, ("conv2", (1, 4, 6)), steps=12, seed=7)
    b = ascent.pixel_ascent(small, ("conv2", (1, 4, 6)), steps=12, seed=7)
    c = ascent.pixel_ascent(small, ("conv2", (1, 4, 6)), steps=12, seed=8)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.trace, b.trace)
    assert np.abs(a.images - c.images).max() > 1e-3
    alone = ascent.pixel_ascent(small, ("conv2", 1), steps=12, seed=7)  # image i's start depends on (seed, i)
    np.testing.assert_allclose(alone.images[0], a.images[0], atol=1e-4)
    np.testing.assert_allclose(alone.trace[:, 0], a.trace[:, 0], rtol=1e-4, atol=1e-5)


def test_pixel_ascent_step_is_compiled_once_per_layer(small):
    ascent.pixel_ascent(small, ("conv2", (0, 1)), steps=2)
    steps = compiled_programs(small, "pixel_ascent")
    traced = {key: step.experimental_get_tracing_count() for key, step in steps.items()}
    ascent.pixel_ascent(small, ("conv2", (5, 7)), steps=3, lr=0.1, l2=0.2, seed=4)  # other channels and settings
    assert compiled_programs(small, "pixel_ascent").keys() == steps.keys()
    assert {key: step.experimental_get_tracing_count() for key, step in steps.items()} == traced


def test_pixel_ascent_bad_input(small):
    with pytest.raises(ValueError, match="l2 must be a number in \\[0, 1\\)"):
        ascent.pixel_ascent(small, ("conv2", 0), l2=1.0)
    with pytest.raises(ValueError, match="blur_every must be an int >= 0"):
        ascent.pixel_ascent(small, ("conv2", 0), blur_every=-1)
    with pytest.raises(ValueError, match="lr must be a positive number"):
        ascent.pixel_ascent(small, ("conv2", 0), lr=0)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        ascent.pixel_ascent(small, ("conv2", 0), steps=0)
    with pytest.raises(ValueError, match="channel 8 is out of range for layer 'conv2'"):
        ascent.pixel_ascent(small, ("conv2", 8))


# --- the trained shapes model: what students should see -----------------------------------


def test_class_visualizations_are_classified_as_their_class(shapes, toy):
    """Log-probability objectives: classified as their class; logits: driven past every real image."""
    images, trace = ascent.visualize(shapes, [obj.class_probability(k) for k in range(4)], steps=64, progress=False)
    probabilities = tf.nn.softmax(shapes.predict(images, verbose=0)).numpy()
    np.testing.assert_array_equal(probabilities.argmax(axis=1), [0, 1, 2, 3])
    assert probabilities.max(axis=1).min() >= 0.9
    assert np.all(trace[-1] > trace[0])
    images, _ = ascent.visualize(shapes, ("logits", range(4)), steps=64, progress=False)
    synthetic = np.diag(shapes.predict(images, verbose=0))
    assert np.all(synthetic > shapes.predict(toy.images, verbose=0).max(axis=0))


def test_conv4_channels_beat_real_images(shapes, toy):
    """Most of 8 conv4 channels are driven past the best of 300 real images (the benchmark does 64 vs 1000)."""
    channels = range(0, 64, 8)
    images, _ = ascent.visualize(shapes, ("conv4", channels), steps=96, progress=False)
    synthetic = activations(shapes, images, "conv4")[..., list(channels)].mean(axis=(1, 2))  # (8, 8) diagonal
    real = activations(shapes, toy.images, "conv4")[..., list(channels)].mean(axis=(1, 2)).max(axis=0)
    assert np.sum(np.diag(synthetic) > real) >= 6


# --- receptive fields and top examples -------------------------------------------------------


def test_receptive_field_of_the_zoo_cnn_by_hand(shapes):
    assert units.receptive_field(shapes, "conv1") == ((3, 3), (1, 1), (0.0, 0.0))
    assert units.receptive_field(shapes, "pool1") == ((4, 4), (2, 2), (0.5, 0.5))
    assert units.receptive_field(shapes, "conv2") == ((8, 8), (2, 2), (0.5, 0.5))
    assert units.receptive_field(shapes, "conv4") == ((38, 38), (8, 8), (3.5, 3.5))


def gradient_support(model, layer, row, col):
    """Input pixels that influence unit (row, col, 0) of ``layer``: the reference receptive field."""
    fmodel = feature_model(model, layer, logits=False)
    x = tf.ones((1, *model.input_shape[1:]))
    with tf.GradientTape() as tape:
        tape.watch(x)
        unit = fmodel(x)[0, row, col, 0]
    rows, cols = np.nonzero(np.abs(tape.gradient(unit, x).numpy()[0]).sum(-1))
    return rows.min(), cols.min(), rows.max() + 1, cols.max() + 1


def test_receptive_field_equals_the_gradient_support():
    """Positive weights, average pooling, no ReLU: every pixel in the field has a non-zero gradient."""
    x = inputs = keras.Input((40, 40, 3))
    x = layers.Conv2D(2, 3, padding="same", name="a")(x)
    x = layers.AveragePooling2D(2, name="p")(x)
    x = layers.Conv2D(2, 5, strides=2, padding="valid", name="b")(x)
    x = layers.ZeroPadding2D(((1, 0), (2, 1)), name="z")(x)
    x = layers.Conv2D(2, 3, strides=2, padding="same", dilation_rate=1, name="c")(x)
    model = keras.Model(inputs, x)
    for layer in model.layers[1:]:
        if layer.get_weights():
            layer.set_weights([np.ones_like(w) * 0.1 for w in layer.get_weights()])
    for name, row, col in [("a", 5, 7), ("b", 3, 4), ("c", 2, 3), ("c", 3, 1)]:
        field = units.receptive_field(model, name)
        centre = np.asarray(field.start) + np.array([row, col]) * field.stride
        low = centre - (np.asarray(field.size) - 1) / 2
        expected = (max(low[0], 0), max(low[1], 0), min(low[0] + field.size[0], 40), min(low[1] + field.size[1], 40))
        assert gradient_support(model, name, row, col) == expected, name


def test_receptive_field_refuses_branching_models(resnet):
    base = resnet
    assert units.receptive_field(base, "conv1_conv") == ((7, 7), (2, 2), (0.0, 0.0))  # after conv1_pad (3, 3)
    with pytest.raises(ValueError, match="cannot compute the receptive field of 'post_relu' simply: layer 'conv2_block1_0_conv'"):
        units.receptive_field(base, "post_relu")


def test_top_examples_by_hand(shapes, toy):
    top = units.top_examples(shapes, "conv4", 13, toy.images, k=5)
    maps = activations(shapes, toy.images, "conv4")[..., 13]  # (N, 8, 8)
    strongest = maps.reshape(len(maps), -1).max(axis=1)
    np.testing.assert_array_equal(top.indices, np.argsort(-strongest, kind="stable")[:5])
    np.testing.assert_allclose(top.activations, strongest[top.indices], rtol=1e-5)
    for i, (row, col) in zip(top.indices, top.positions):
        assert maps[i, row, col] == pytest.approx(maps[i].max())
    assert top.crops.shape == (5, 38, 38, 3)
    for n, (i, (row, col)) in enumerate(zip(top.indices, top.positions)):
        y0, x0 = 3.5 + 8 * row - 18.5, 3.5 + 8 * col - 18.5  # first pixel of the 38-pixel field
        y0, x0 = int(y0), int(x0)
        inside = toy.images[i, max(y0, 0) : y0 + 38, max(x0, 0) : x0 + 38]
        dy, dx = max(-y0, 0), max(-x0, 0)
        np.testing.assert_array_equal(top.crops[n, dy : dy + inside.shape[0], dx : dx + inside.shape[1]], inside)
        np.testing.assert_array_equal(top.boxes[n], [max(y0, 0), max(x0, 0), min(y0 + 38, 64), min(x0 + 38, 64)])
        outside = np.ones((38, 38), bool)
        outside[dy : dy + inside.shape[0], dx : dx + inside.shape[1]] = False
        assert np.all(top.crops[n][outside] == 0.5)
    mean = units.top_examples(shapes, "conv4", 13, toy.images, k=3, reduce="mean")
    np.testing.assert_array_equal(mean.indices, np.argsort(-maps.mean(axis=(1, 2)), kind="stable")[:3])


def test_top_examples_compiles_once_for_every_channel_and_batch(shapes, toy):
    units.top_examples(shapes, "conv4", 1, toy.images[:70], k=2, batch_size=64)  # chunks of 64 and 6
    run = forward._CACHE[feature_model(shapes, "conv4", logits=False)][("channel",)]
    traced = run.experimental_get_tracing_count()
    top = units.top_examples(shapes, "conv4", 7, toy.images[:30], k=2, batch_size=64)
    assert run.experimental_get_tracing_count() == traced == 1
    maps = activations(shapes, toy.images[:30], "conv4")[..., 7]
    np.testing.assert_allclose(top.activations, np.sort(maps.max(axis=(1, 2)))[::-1][:2], rtol=1e-5)


def test_top_examples_dense_layer_and_bad_input(shapes, toy):
    top = units.top_examples(shapes, "logits", 2, toy.images, k=4)
    logits = activations(shapes, toy.images, "logits")[:, 2]
    np.testing.assert_array_equal(top.indices, np.argsort(-logits, kind="stable")[:4])
    assert top.positions is None and top.crops is None
    assert np.all(toy.labels[top.indices] == 2)  # the most "triangle" images are triangles
    with pytest.raises(ValueError, match="channel 64 is out of range for layer 'conv4'"):
        units.top_examples(shapes, "conv4", 64, toy.images)
    with pytest.raises(ValueError, match="looks like uint8"):
        units.top_examples(shapes, "conv4", 1, toy.images * 255)


# --- embeddings -------------------------------------------------------------------------------


def test_pca_embedding_matches_numpy_svd(shapes, toy):
    features = activations(shapes, toy.images, "gap")
    centred = features - features.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    expected = centred @ vt[:2].T
    xy = units.embed(shapes, toy.images, method="pca")
    assert xy.shape == (300, 2)
    for axis in range(2):  # components are defined up to sign
        sign = np.sign(xy[:, axis] @ expected[:, axis])
        np.testing.assert_allclose(sign * xy[:, axis], expected[:, axis], rtol=1e-3, atol=1e-3 * np.abs(expected).max())


def knn_accuracy(xy, labels, k=5):
    """Share of points whose k nearest neighbours (majority) have their label."""
    xy = np.asarray(xy, np.float64)
    squared = (xy**2).sum(axis=1)
    distance = squared[:, None] + squared[None] - 2 * xy @ xy.T
    np.fill_diagonal(distance, np.inf)
    neighbours = np.argsort(distance, axis=1)[:, :k]
    votes = np.array([np.bincount(labels[n], minlength=labels.max() + 1).argmax() for n in neighbours])
    return float(np.mean(votes == labels))


def test_tsne_separates_the_classes_and_is_seeded(shapes, toy):
    data = toy[:200]
    xy = units.embed(shapes, data.images, seed=1, perplexity=20)
    assert xy.shape == (200, 2)
    assert knn_accuracy(xy, data.labels) > 0.9
    few = data.images[:40]
    np.testing.assert_array_equal(units.embed(shapes, few, seed=2, perplexity=5), units.embed(shapes, few, seed=2, perplexity=5))
    raw = data.images.reshape(len(data), -1)  # the same neighbourhood test on raw pixels does much worse
    assert knn_accuracy(raw, data.labels) < 0.6


def test_embed_bad_input(shapes, toy):
    with pytest.raises(ValueError, match="perplexity=30.0 must be between 0 and the number of images \\(10\\)"):
        units.embed(shapes, toy.images[:10], perplexity=30.0)
    with pytest.raises(ValueError, match="method must be one of 'tsne', 'pca'"):
        units.embed(shapes, toy.images, method="umap")
    with pytest.raises(ValueError, match="no layer named 'penultimate'"):
        units.embed(shapes, toy.images, layer="penultimate")


# --- plots ------------------------------------------------------------------------------------


def colourbars(ax):
    return [other for other in ax.figure.axes if other is not ax]


def test_plots_draw_with_titles_and_colour_bars(shapes, toy, small):
    ax = plot.filters(units.filters(shapes))
    assert "filters" in ax.get_title() and len(colourbars(ax)) == 1
    ax = plot.filters(units.filters(small, "conv2", scale=None), channel=0)
    assert len(colourbars(ax)) == 1
    with pytest.raises(ValueError, match="pass channel="):
        plot.filters(units.filters(small, "conv2"))
    maps = activations(shapes, toy.images[0], "conv2")
    ax = plot.activation_grid(maps)
    assert ax.get_title() and len(colourbars(ax)) == 1
    assert ax.images[0].get_array().shape == (2 * 32 + 2, 8 * 32 + 7 * 2)  # 16 panels, 8 per row, pad 2
    with pytest.raises(ValueError, match="for one image"):
        plot.activation_grid(maps[None])
    images = np.random.default_rng(0).uniform(size=(4, 64, 64, 3)).astype(np.float32)
    ax = plot.visualizations(images, labels=toy.class_names)
    assert ax.get_title() and [t.get_text() for t in ax.texts] == list(toy.class_names)
    ax = plot.objective_trace(np.cumsum(np.ones((10, 4)), axis=0), labels=toy.class_names)
    assert ax.get_ylabel() == "objective"
    top = units.top_examples(shapes, "conv4", 3, toy.images, k=6)
    ax = plot.top_examples(top)
    assert "receptive-field crops" in ax.get_title()
    ax = plot.embedding(np.random.default_rng(0).normal(size=(300, 2)), toy.labels, class_names=toy.class_names,
                        images=toy.images, thumbnails=5)
    assert ax.get_title() and len(ax.get_legend().get_texts()) == 4
    plt.close("all")


def test_no_nan_images_from_bad_numbers(small):
    fast = dict(steps=2, progress=False)
    with pytest.raises(ValueError, match="lr must be a positive number .*got inf"):
        ascent.visualize(small, ("conv2", 0), lr=float("inf"), **fast)  # returned NaN images
    with pytest.raises(ValueError, match="transforms 'jitter' must be an amount >= 0 .*got nan"):
        ascent.visualize(small, ("conv2", 0), transforms=(("jitter", float("nan")),), **fast)
    with pytest.raises(ValueError, match="regularizers 'l2' must be an amount >= 0 .*got inf"):
        ascent.visualize(small, ("conv2", 0), regularizers=(("l2", float("inf")),), **fast)
    with pytest.raises(ValueError, match=r"objective \('conv2', range\(0, 0\)\) selects no unit"):
        ascent.visualize(small, ("conv2", range(0)), **fast)  # was a raw error
    with pytest.raises(ValueError, match=r"steps=1099511627776 is too large"):
        ascent.visualize(small, ("conv2", 0), steps=2**40, progress=False)  # int32 overflow in the graph
    with pytest.raises(ValueError, match=r"seed=1099511627776 is too large"):
        ascent.visualize(small, ("conv2", 0), seed=2**40, **fast)
    with pytest.raises(ValueError, match=r"steps=2147483647 would need about .* of memory"):
        ascent.pixel_ascent(small, ("conv2", 0), steps=2**31 - 1)
    with pytest.raises(ValueError, match="index must be an int >= 0, got -1"):
        obj.channel("conv2", -1)


def test_subclassed_and_unbuilt_models_get_the_same_clear_error(toy):
    class Sub(keras.Model):
        def __init__(self):
            super().__init__(name="sub")
            self.conv, self.pool, self.dense = layers.Conv2D(2, 3), layers.GlobalAveragePooling2D(), layers.Dense(2)

        def call(self, x):
            return self.dense(self.pool(self.conv(x)))

    sub = Sub()
    sub(np.zeros((1, 16, 16, 3), "float32"))
    for call in (lambda: ascent.visualize(sub, ("logits", 0), steps=1, progress=False), lambda: units.filters(sub),
                 lambda: units.receptive_field(sub, 0), lambda: units.top_examples(sub, 0, 0, toy.images[:2, :16, :16])):
        with pytest.raises(ValueError, match="'sub' is a subclassed keras.Model .*subclassed models are not supported"):
            call()


def test_top_examples_compiles_once(shapes, toy):
    units.top_examples(shapes, "conv4", 5, toy.images[:8])
    fmodel = feature_model(shapes, "conv4", logits=False)
    function = forward._CACHE[fmodel][("channel",)]
    units.top_examples(shapes, "conv4", 6, toy.images[8:16])
    assert forward._CACHE[fmodel][("channel",)] is function
    assert function.experimental_get_tracing_count() == 1
