"""Numbers for the attribution methods: occlusion, gradients, CAM family.

Each method is checked against an independent reference: hand-computed maps
on tiny linear models, explicit loops/tapes on the zoo models, and known
identities (CAM = (h w) Grad-CAM on a GAP + Dense head, IG completeness).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from labkit import cam, datasets, gradients, occlusion, zoo
from labkit.cam import grad_cam, grad_cam_pp
from labkit.gradients import gradient_x_input, integrated_gradients, saliency, smoothgrad
from labkit.occlusion import occlusion as occlude

ZOO_IMAGES = {
    "shapes": lambda n: datasets.toy_world("shapes", "test", n, seed=321).images,
    "tanks": lambda n: datasets.toy_world("tanks", "test", n, seed=321).images,
    "fire_engines": lambda n: datasets.toy_world("fire_engines", "canberra", n, seed=321).images,
    "digits": lambda n: datasets.digits("test").images[:n],
}


# --- fixtures -----------------------------------------------------------------------------------


def linear_model(shape=(4, 4, 2), classes=3, seed=0):
    """logits = flatten(x) @ W + b: every gradient method has a closed form."""
    rng = np.random.default_rng(seed)
    inputs = keras.Input(shape, name="image")
    outputs = layers.Dense(classes, name="logits")(layers.Flatten(name="flat")(inputs))
    model = keras.Model(inputs, outputs, name="linear")
    kernel = rng.normal(size=(int(np.prod(shape)), classes)).astype("float32")
    bias = rng.normal(size=classes).astype("float32")
    model.get_layer("logits").set_weights([kernel, bias])
    return model, kernel.reshape(*shape, classes), bias


@pytest.fixture(scope="module")
def linear():
    return linear_model()


@pytest.fixture(scope="module")
def small_images():
    return np.random.default_rng(1).uniform(0, 1, size=(5, 4, 4, 2)).astype("float32")


@pytest.fixture(scope="module")
def shapes():
    return zoo.load("shapes")


@pytest.fixture(scope="module")
def shapes_images():
    return ZOO_IMAGES["shapes"](6)


@pytest.fixture(scope="module")
def conv_flatten():
    """x -> 1x1 Conv (linear, named "conv") -> Flatten -> Dense: no GAP head, dS/dA = W."""
    rng = np.random.default_rng(2)
    inputs = keras.Input((5, 5, 2), name="image")
    maps = layers.Conv2D(3, 1, name="conv")(inputs)
    outputs = layers.Dense(4, name="logits")(layers.Flatten(name="flat")(maps))
    model = keras.Model(inputs, outputs, name="conv_flatten")
    model.get_layer("conv").set_weights([rng.normal(size=(1, 1, 2, 3)).astype("float32"),
                                         rng.normal(size=3).astype("float32")])
    model.get_layer("logits").set_weights([rng.normal(size=(75, 4)).astype("float32"),
                                           np.zeros(4, "float32")])
    return model


# --- gradients on a linear model: exact closed forms -------------------------------------------


def test_saliency_of_linear_model_is_abs_weight_max_over_channels(linear, small_images):
    model, kernel, _ = linear
    maps = saliency(model, small_images, target=[0, 1, 2, 0, 1])
    expected = np.abs(kernel[..., [0, 1, 2, 0, 1]]).max(axis=2).transpose(2, 0, 1)  # (N, 4, 4)
    np.testing.assert_allclose(maps, expected, rtol=1e-6)


def test_target_none_is_the_predicted_class(linear, small_images):
    model, kernel, bias = linear
    predicted = (small_images.reshape(5, -1) @ kernel.reshape(-1, 3) + bias).argmax(axis=1)
    np.testing.assert_allclose(saliency(model, small_images), saliency(model, small_images, target=predicted))
    np.testing.assert_allclose(integrated_gradients(model, small_images, steps=4),
                               integrated_gradients(model, small_images, target=predicted, steps=4), rtol=1e-6)


def test_integrated_gradients_of_linear_model_is_difference_times_weight(linear, small_images):
    model, kernel, _ = linear
    baseline = np.full((4, 4, 2), 0.25, "float32")
    per_channel = integrated_gradients(model, small_images, target=2, baseline=baseline, steps=3, reduce=None)
    expected = (small_images - baseline) * kernel[..., 2]  # (N, 4, 4, 2)
    np.testing.assert_allclose(per_channel, expected, rtol=1e-5, atol=1e-6)
    summed = integrated_gradients(model, small_images, target=2, baseline=0.25, steps=3)
    np.testing.assert_allclose(summed, expected.sum(axis=-1), rtol=1e-5, atol=1e-6)


def test_integrated_gradients_per_image_baselines(linear, small_images):
    model, kernel, _ = linear
    baselines = small_images[::-1].copy()
    maps = integrated_gradients(model, small_images, target=1, baseline=baselines, steps=2)
    np.testing.assert_allclose(maps, ((small_images - baselines) * kernel[..., 1]).sum(-1), rtol=1e-5, atol=1e-6)


def test_gradient_x_input_of_linear_model(linear, small_images):
    model, kernel, _ = linear
    maps = gradient_x_input(model, small_images, target=1)
    np.testing.assert_allclose(maps, (small_images * kernel[..., 1]).sum(-1), rtol=1e-5, atol=1e-6)
    assert gradient_x_input(model, small_images, target=1, reduce=None).shape == (5, 4, 4, 2)


def test_smoothgrad_of_linear_model_equals_saliency(linear, small_images):
    model, kernel, _ = linear  # constant gradient: noise changes nothing
    expected = saliency(model, small_images, target=0)
    for magnitude in (None, "abs"):
        np.testing.assert_allclose(smoothgrad(model, small_images, target=0, magnitude=magnitude, n=5),
                                   expected, rtol=1e-5)
    squared = smoothgrad(model, small_images, target=0, magnitude="square", n=5)
    np.testing.assert_allclose(squared, (kernel[..., 0] ** 2).max(axis=2)[None].repeat(5, 0), rtol=1e-5)


def test_smoothgrad_noise_level_on_a_quadratic_model():
    """S = sum(w * x^2): dS/dx = 2 w x, so E[g^2] = 4 w^2 (x^2 + sigma^2), sigma = noise * (max - min)."""
    inputs = keras.Input((3, 3, 1))
    squares = layers.Lambda(lambda x: x**2, name="square")(inputs)
    outputs = layers.Dense(1, use_bias=False, name="logits")(layers.Flatten()(squares))
    model = keras.Model(inputs, outputs)
    w = np.linspace(0.5, 1.5, 9).astype("float32")
    model.get_layer("logits").set_weights([w[:, None]])
    x = np.linspace(0.0, 1.0, 9).reshape(3, 3, 1).astype("float32")  # value range 1
    noise = 0.2
    squared = smoothgrad(model, x, target=0, n=4000, noise=noise, magnitude="square", seed=3)
    expected = 4 * w.reshape(3, 3) ** 2 * (x[..., 0] ** 2 + noise**2)
    np.testing.assert_allclose(squared, expected, rtol=0.08, atol=0.01)
    signed = smoothgrad(model, x, target=0, n=4000, noise=noise, seed=3)  # E[g] = 2 w x
    np.testing.assert_allclose(signed, 2 * w.reshape(3, 3) * x[..., 0], atol=0.03)


def test_smoothgrad_seeds_and_zero_noise(shapes, shapes_images):
    x = shapes_images[:2]
    first = smoothgrad(shapes, x, n=4, seed=5)
    np.testing.assert_array_equal(first, smoothgrad(shapes, x, n=4, seed=5))
    assert not np.allclose(first, smoothgrad(shapes, x, n=4, seed=6))
    np.testing.assert_allclose(smoothgrad(shapes, x, n=3, noise=0.0), saliency(shapes, x), rtol=1e-4, atol=1e-7)


# --- gradients on a zoo model: against an explicit tape -----------------------------------------


def test_saliency_matches_a_plain_gradient_tape(shapes, shapes_images):
    x = tf.constant(shapes_images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = shapes(x, training=False)
        score = tf.reduce_sum(logits[:, 2])
    expected = tf.reduce_max(tf.abs(tape.gradient(score, x)), axis=-1).numpy()
    np.testing.assert_allclose(saliency(shapes, shapes_images, target=2, batch_size=4), expected, rtol=1e-4,
                               atol=1e-6)


@pytest.mark.parametrize("name", list(ZOO_IMAGES))
def test_integrated_gradients_completeness(name):
    """sum IG = S(x) - S(0). 64 midpoint steps: within 1% over the batch and for the median image;
    single images can be off by a few % (ReLU kinks along the path); 256 steps: every image within 1%."""
    model = zoo.load(name)
    images = ZOO_IMAGES[name](12)
    logits, at_zero = model.predict(images, verbose=0), model.predict(np.zeros_like(images), verbose=0)
    target = logits.argmax(axis=1)
    delta = np.take_along_axis(logits - at_zero, target[:, None], axis=1)[:, 0]  # S(x) - S(baseline)
    error = np.abs(integrated_gradients(model, images, steps=64, batch_size=256).sum(axis=(1, 2)) - delta)
    assert error.sum() / np.abs(delta).sum() < 0.01
    assert np.median(error / np.abs(delta)) < 0.01
    few = slice(0, 3)
    fine = integrated_gradients(model, images[few], steps=256, batch_size=256).sum(axis=(1, 2))
    assert np.all(np.abs(fine - delta[few]) <= 0.01 * np.maximum(np.abs(delta[few]), 1.0))


# --- occlusion ------------------------------------------------------------------------------------


def test_occlusion_by_hand_on_a_4x4_image():
    """S = sum of the pixels, fill 0: a window's logit drop is the sum of the pixels it covers."""
    inputs = keras.Input((4, 4, 1))
    model = keras.Model(inputs, layers.Dense(1, use_bias=False, name="logits")(layers.Flatten()(inputs)))
    model.get_layer("logits").set_weights([np.ones((16, 1), "float32")])
    x = (np.arange(16, dtype="float32") / 16).reshape(4, 4, 1)
    maps = occlude(model, x, target=0, patch=2, stride=2, output="logit")
    # windows: pixels {0,1,4,5} sum 10/16, {2,3,6,7} 18/16, {8,9,12,13} 42/16, {10,11,14,15} 50/16
    expected = np.array([[10, 10, 18, 18], [10, 10, 18, 18], [42, 42, 50, 50], [42, 42, 50, 50]]) / 16
    np.testing.assert_allclose(maps, expected, rtol=1e-6)
    # stride 1: 3x3 windows; corner pixel 0 lies only in the window {0,1,4,5}; pixel 5 in four windows
    maps = occlude(model, x, target=0, patch=2, stride=1, output="logit")
    assert maps[0, 0] == pytest.approx(10 / 16)
    assert maps[1, 1] == pytest.approx((10 + 14 + 26 + 30) / 4 / 16)


def reference_occlusion(model, image, target, patch, stride, fill, output):
    """Explicit loop over windows, one model call per window (the slow, obvious version)."""
    height, width = image.shape[:2]
    starts = lambda size: sorted(set(list(range(0, size - patch + 1, stride)) + [size - patch]))  # noqa: E731
    score = lambda z: (tf.nn.softmax(z) if output == "probability" else z).numpy()[0, target]  # noqa: E731
    clean = score(model(image[None]))
    total, count = np.zeros((height, width)), np.zeros((height, width))
    for top in starts(height):
        for left in starts(width):
            occluded = image.copy()
            occluded[top : top + patch, left : left + patch] = fill
            total[top : top + patch, left : left + patch] += clean - score(model(occluded[None]))
            count[top : top + patch, left : left + patch] += 1
    return total / count


@pytest.mark.parametrize("output", ["probability", "logit"])
def test_occlusion_matches_an_explicit_loop(shapes, shapes_images, output):
    image = shapes_images[1]
    got = occlude(shapes, image, target=3, patch=20, stride=16, fill=0.5, output=output, batch_size=7)
    expected = reference_occlusion(shapes, image, 3, 20, 16, 0.5, output)  # 4 x 4 windows
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_occlusion_probability_of_a_softmax_model_uses_its_probabilities(linear, small_images):
    _, kernel, bias = linear
    inputs = keras.Input((4, 4, 2))
    model = keras.Model(inputs, layers.Dense(3, activation="softmax", name="probs")(layers.Flatten()(inputs)))
    model.get_layer("probs").set_weights([kernel.reshape(-1, 3), bias])
    with pytest.warns(UserWarning, match="softmax"):
        got = occlude(model, small_images[0], target=1, patch=2, stride=2, fill=0.0)
    probs = lambda z: model.predict(z[None], verbose=0)[0, 1]  # noqa: E731
    image = small_images[0]
    corner = image.copy()
    corner[:2, :2] = 0
    assert got[0, 0] == pytest.approx(probs(image) - probs(corner), rel=1e-4)


def test_occlusion_default_stride_and_per_channel_fill(shapes, shapes_images):
    image = shapes_images[0]
    np.testing.assert_allclose(occlude(shapes, image, patch=16), occlude(shapes, image, patch=16, stride=8))
    np.testing.assert_allclose(occlude(shapes, image, patch=16, fill=(0.2, 0.2, 0.2)),
                               occlude(shapes, image, patch=16, fill=0.2), rtol=1e-6)
    images = shapes_images[:3]
    each = np.stack([occlude(shapes, x, patch=16, fill=tuple(x.mean(axis=(0, 1)))) for x in images])
    np.testing.assert_allclose(occlude(shapes, images, patch=16, fill="mean"), each, rtol=1e-4, atol=1e-6)


# --- CAM family -------------------------------------------------------------------------------


def test_cam_adds_up_to_the_logit_and_equals_grad_cam_times_hw(shapes, shapes_images):
    maps = cam.cam(shapes, shapes_images)  # (N, 8, 8) on conv4
    logits = shapes.predict(shapes_images, verbose=0)
    bias = shapes.get_layer("logits").bias.numpy()
    np.testing.assert_allclose(maps.mean(axis=(1, 2)) + bias[logits.argmax(1)], logits.max(1), rtol=1e-4, atol=1e-4)
    grad = grad_cam(shapes, shapes_images, relu=False)  # alpha_k = W[k, c] / (h w)
    np.testing.assert_allclose(maps, 64 * grad, rtol=1e-4, atol=1e-4 * np.abs(maps).max())
    np.testing.assert_allclose(grad_cam(shapes, shapes_images), np.maximum(grad, 0), rtol=1e-6)


def test_cam_matches_numpy_on_the_feature_maps(shapes, shapes_images):
    features = keras.Model(shapes.input, shapes.get_layer("conv4").output).predict(shapes_images, verbose=0)
    kernel = shapes.get_layer("logits").kernel.numpy()
    expected = np.einsum("nhwk,k->nhw", features, kernel[:, 1])
    np.testing.assert_allclose(cam.cam(shapes, shapes_images, target=1), expected, rtol=1e-4, atol=1e-4)


def test_grad_cam_pp_closed_form_on_a_gap_head(shapes, shapes_images):
    """On GAP + Dense, dS/dA_k = W[k, c] / (h w) is constant in space: the alphas have a closed form."""
    features = keras.Model(shapes.input, shapes.get_layer("conv4").output).predict(shapes_images, verbose=0)
    g = shapes.get_layer("logits").kernel.numpy()[:, 0] / 64  # (K,)
    totals = features.sum(axis=(1, 2))  # (N, K)
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = np.nan_to_num(g**2 / (2 * g**2 + totals * g**3))
    weights = 64 * alpha * np.maximum(g, 0)  # sum over the 8x8 positions
    expected = np.maximum(np.einsum("nhwk,nk->nhw", features, weights), 0)
    np.testing.assert_allclose(grad_cam_pp(shapes, shapes_images, target=0), expected, rtol=1e-4,
                               atol=1e-5 * expected.max())


def test_grad_cam_and_pp_on_a_flatten_head_against_numpy(conv_flatten):
    """1x1 linear conv then Flatten -> Dense: A = x @ K + b and dS_c/dA = W_c (5, 5, 3)."""
    x = np.random.default_rng(3).uniform(0, 1, (4, 5, 5, 2)).astype("float32")
    kernel, bias = conv_flatten.get_layer("conv").get_weights()
    maps = x @ kernel[0, 0] + bias  # (N, 5, 5, 3)
    g = conv_flatten.get_layer("logits").kernel.numpy()[:, 2].reshape(5, 5, 3)
    expected = np.maximum(np.einsum("nhwk,k->nhw", maps, g.mean(axis=(0, 1))), 0)
    np.testing.assert_allclose(grad_cam(conv_flatten, x, target=2), expected, rtol=1e-4, atol=1e-5)
    totals = maps.sum(axis=(1, 2), keepdims=True)  # (N, 1, 1, 3)
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = np.nan_to_num(g**2 / (2 * g**2 + totals * g**3))
    weights = (alpha * np.maximum(g, 0)).sum(axis=(1, 2))  # (N, 3)
    expected_pp = np.maximum(np.einsum("nhwk,nk->nhw", maps, weights), 0)
    np.testing.assert_allclose(grad_cam_pp(conv_flatten, x, target=2), expected_pp, rtol=1e-4, atol=1e-5)


def test_grad_cam_on_an_inner_layer_matches_a_manual_tape(shapes, shapes_images):
    names = [layer.name for layer in shapes.layers]
    head = [shapes.get_layer(name) for name in names[names.index("conv2") + 1 :]]
    x = shapes_images[:3]
    maps = keras.Model(shapes.input, shapes.get_layer("conv2").output)(x)
    with tf.GradientTape() as tape:
        tape.watch(maps)
        z = maps
        for layer in head:  # pool2, conv3, pool3, conv4, gap, logits
            z = layer(z)
        score = tf.reduce_sum(z[:, 1])
    alpha = tf.reduce_mean(tape.gradient(score, maps), axis=(1, 2))  # (N, K)
    expected = np.maximum(np.einsum("nhwk,nk->nhw", maps.numpy(), alpha.numpy()), 0)
    np.testing.assert_allclose(grad_cam(shapes, x, target=1, layer="conv2"), expected, rtol=1e-4,
                               atol=1e-5 * expected.max())


def test_cam_and_grad_cam_inside_a_nested_model():
    keras.utils.set_random_seed(4)
    base_in = keras.Input((12, 12, 3))
    base_out = layers.Conv2D(5, 3, padding="same", activation="relu", name="inner_conv")(
        layers.Conv2D(4, 3, padding="same", activation="relu", name="inner_first")(base_in))
    base = keras.Model(base_in, base_out, name="base")
    model = keras.Sequential([keras.Input((12, 12, 3)), base, layers.GlobalAveragePooling2D(), layers.Dense(3)])
    x = np.random.default_rng(5).uniform(0, 1, (3, 12, 12, 3)).astype("float32")
    features = base.predict(x, verbose=0)
    expected = np.einsum("nhwk,k->nhw", features, model.layers[-1].kernel.numpy()[:, 2])
    np.testing.assert_allclose(cam.cam(model, x, target=2), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(144 * grad_cam(model, x, target=2, relu=False), expected, rtol=1e-4, atol=1e-5)
    assert grad_cam(model, x, layer="inner_first").shape == (3, 12, 12)


def test_cam_looks_through_dropout_and_a_softmax_layer():
    keras.utils.set_random_seed(6)
    inputs = keras.Input((10, 10, 3))
    maps = layers.Conv2D(4, 3, padding="same", activation="relu", name="maps")(inputs)
    pooled = layers.Dropout(0.5)(layers.GlobalAveragePooling2D()(maps))
    model = keras.Model(inputs, layers.Softmax()(layers.Dense(3, name="dense")(pooled)))
    x = np.random.default_rng(7).uniform(0, 1, (2, 10, 10, 3)).astype("float32")
    features = keras.Model(inputs, maps).predict(x, verbose=0)
    with pytest.warns(UserWarning, match="softmax"):
        got = cam.cam(model, x, target=0)
    expected = np.einsum("nhwk,k->nhw", features, model.get_layer("dense").kernel.numpy()[:, 0])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_upsample_resizes_bilinearly_to_the_input(shapes, shapes_images):
    small = grad_cam(shapes, shapes_images)
    big = grad_cam(shapes, shapes_images, upsample=True)
    assert big.shape == (6, 64, 64)
    np.testing.assert_allclose(big, tf.image.resize(small[..., None], (64, 64))[..., 0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(big.mean(axis=(1, 2)), small.mean(axis=(1, 2)), rtol=0.05)
    assert cam.cam(shapes, shapes_images[0], upsample=True).shape == (64, 64)


# --- bad input ------------------------------------------------------------------------------------


def test_occlusion_bad_windows(shapes, shapes_images):
    with pytest.raises(ValueError, match="patch 80x80 is larger than the images"):
        occlude(shapes, shapes_images, patch=80)
    with pytest.raises(ValueError, match="stride must be a positive int"):
        occlude(shapes, shapes_images, stride=0)
    with pytest.raises(ValueError, match="larger than patch"):
        occlude(shapes, shapes_images, patch=4, stride=8)
    with pytest.raises(TypeError, match="patch must be a positive int"):
        occlude(shapes, shapes_images, patch=2.5)
    with pytest.raises(ValueError, match="fill must be a number, 3 numbers"):
        occlude(shapes, shapes_images, fill=(0.0, 1.0))
    with pytest.raises(ValueError, match='or "mean"'):
        occlude(shapes, shapes_images, fill="grey")
    with pytest.raises(ValueError, match="output must be one of"):
        occlude(shapes, shapes_images, output="prob")


@pytest.mark.parametrize("method", [saliency, smoothgrad, integrated_gradients, gradient_x_input,
                                    occlude, cam.cam, grad_cam, grad_cam_pp])
def test_every_method_rejects_bad_targets_and_image_sizes(shapes, shapes_images, method):
    with pytest.raises(ValueError, match="target 4 is out of range"):
        method(shapes, shapes_images, target=4)
    with pytest.raises(ValueError, match="one-hot"):
        method(shapes, shapes_images, target=np.eye(4)[[0, 1, 2, 3, 0, 1]])
    with pytest.raises(ValueError, match="wrong height"):
        method(shapes, np.zeros((2, 32, 64, 3), "float32"))
    with pytest.raises(ValueError, match="0-255"):
        method(shapes, (shapes_images * 255).astype("uint8"))


def test_grad_cam_rejects_layers_without_feature_maps(shapes, shapes_images):
    for layer in ("gap", "logits"):
        with pytest.raises(ValueError, match=rf"'{layer}' outputs shape .* not convolutional feature maps.*'conv4'"):
            grad_cam(shapes, shapes_images, layer=layer)
    with pytest.raises(ValueError, match="no layer named 'conv9'"):
        grad_cam_pp(shapes, shapes_images, layer="conv9")
    mlp = zoo.build_mlp(6)
    with pytest.raises(ValueError, match="no 2-D convolution layer"):
        grad_cam(mlp, np.zeros((2, 6), "float32"))


def test_cam_undefined_without_a_gap_dense_head(conv_flatten, shapes, shapes_images):
    with pytest.raises(ValueError, match="CAM is undefined.*GlobalAveragePooling2D.*Flatten 'flat'.*grad_cam"):
        cam.cam(conv_flatten, np.zeros((1, 5, 5, 2), "float32"))
    with pytest.raises(ValueError, match="CAM is defined only on the feature maps feeding.*'conv4'"):
        cam.cam(shapes, shapes_images, layer="conv3")


def test_gradient_methods_reject_bad_options(shapes, shapes_images):
    with pytest.raises(ValueError, match="noise must be a number >= 0"):
        smoothgrad(shapes, shapes_images, noise=-0.1)
    with pytest.raises(ValueError, match="magnitude must be one of"):
        smoothgrad(shapes, shapes_images, magnitude=True)
    with pytest.raises(ValueError, match="n must be a positive int"):
        smoothgrad(shapes, shapes_images, n=0)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        integrated_gradients(shapes, shapes_images, steps=0)
    with pytest.raises(ValueError, match="baseline must be a number, one image"):
        integrated_gradients(shapes, shapes_images, baseline=np.zeros((2, 64, 64, 3), "float32"))
    with pytest.raises(ValueError, match="reduce must be one of"):
        integrated_gradients(shapes, shapes_images, reduce="mean")
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        saliency(shapes, shapes_images, batch_size=0)


def test_modules_export_only_the_methods():
    assert gradients.__all__ == ["saliency", "smoothgrad", "integrated_gradients", "gradient_x_input"]
    assert occlusion.__all__ == ["occlusion"]
    assert cam.__all__ == ["cam", "grad_cam", "grad_cam_pp"]


def test_no_silent_nan_and_no_int32_overflow(shapes, shapes_images):
    with pytest.raises(ValueError, match="baseline must be a finite number, got nan"):
        integrated_gradients(shapes, shapes_images, baseline=float("nan"))
    with pytest.raises(ValueError, match="baseline contains NaN"):
        integrated_gradients(shapes, shapes_images, baseline=np.full((64, 64, 3), np.nan, "float32"))
    with pytest.raises(ValueError, match=r"n=4294967296 is too large"):
        smoothgrad(shapes, shapes_images, n=2**32)  # was an all-zero map: n overflowed int32 in the graph
    with pytest.raises(ValueError, match=r"steps x the number of images=.* is too large"):
        integrated_gradients(shapes, shapes_images, steps=2**30)
    with pytest.raises(ValueError, match="seed must be >= 0 and at most 2\\*\\*31 - 1"):
        smoothgrad(shapes, shapes_images, seed=2**40)
    big = saliency(shapes, shapes_images, batch_size=2**40)  # a batch larger than the images is just all of them
    np.testing.assert_allclose(big, saliency(shapes, shapes_images), rtol=1e-6)


@pytest.mark.parametrize("method", [saliency, smoothgrad, integrated_gradients, occlude, cam.cam, grad_cam])
def test_every_method_checks_the_model_first(shapes_images, method):
    with pytest.raises(TypeError, match="model is None: pass a trained keras model"):
        method(None, shapes_images)
    with pytest.raises(TypeError, match=r"model is the string 'shapes', not a model.*zoo.load\('shapes'\)"):
        method("shapes", "not even images")
    unbuilt = keras.Sequential([keras.layers.Conv2D(2, 3), keras.layers.GlobalAveragePooling2D(),
                                keras.layers.Dense(2)], name="unbuilt")
    with pytest.raises(ValueError, match="'unbuilt' has no graph labkit can trace yet .*keras.Input"):
        method(unbuilt, shapes_images)  # Grad-CAM said "no 2-D convolution layer"
