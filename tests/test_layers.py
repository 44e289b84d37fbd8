"""Tests for labkit.layers (layer lookup, feature models, activations) and labkit.validate."""

import re
import warnings

import keras
import numpy as np
import pytest
from keras import layers

from labkit import validate
from labkit.layers import (
    activations,
    conv_layers,
    feature_model,
    iter_layers,
    last_conv_layer,
    logits_layer_and_softmax,
    predict_batched,
    resolve_layer,
)

RTOL = 1e-5
ATOL = 1e-5


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def reference(inputs, outputs, x):
    """Hand-built sub-model prediction: the independent reference for activations."""
    return keras.Model(inputs, outputs).predict(x, verbose=0)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(0, 1, size=(5, 16, 16, 3)).astype("float32")


@pytest.fixture(scope="module")
def cnn():
    """Functional CNN with named layers: conv1, conv2, gap, logits."""
    keras.utils.set_random_seed(0)
    x = inputs = keras.Input((16, 16, 3), name="image")
    x = layers.Conv2D(4, 3, activation="relu", name="conv1")(x)
    x = layers.Conv2D(6, 3, activation="relu", name="conv2")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(3, name="logits")(x)
    return keras.Model(inputs, outputs, name="cnn")


def make_base(name="base"):
    x = inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(4, 3, activation="relu", name=f"{name}_conv1")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    x = layers.Conv2D(6, 3, name=f"{name}_conv2")(x)
    return keras.Model(inputs, x, name=name)


@pytest.fixture(scope="module")
def nested_sequential():
    keras.utils.set_random_seed(1)
    base = make_base("base")
    return keras.Sequential([base, layers.GlobalAveragePooling2D(), layers.Dense(3)], name="outer"), base


@pytest.fixture(scope="module")
def nested_functional():
    keras.utils.set_random_seed(2)
    base = make_base("fbase")
    x = inputs = keras.Input((16, 16, 3))
    x = layers.Rescaling(1.0, name="identity")(x)  # a layer before the nested base
    x = base(x)
    x = layers.ReLU(name="head_relu")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(3, name="logits")(x)
    return keras.Model(inputs, outputs, name="outer_functional"), base


@pytest.fixture(scope="module")
def resnet():
    """ResNet50V2 base (random weights, 64x64) inside Sequential([base, GAP, Dense(3)])."""
    keras.utils.set_random_seed(3)
    base = keras.applications.ResNet50V2(weights=None, include_top=False, input_shape=(64, 64, 3))
    model = keras.Sequential([base, layers.GlobalAveragePooling2D(), layers.Dense(3)])
    x = np.random.default_rng(3).uniform(-1, 1, size=(3, 64, 64, 3)).astype("float32")
    return model, base, x


# --- resolve_layer ----------------------------------------------------------------


def test_resolve_by_name_index_and_object(cnn):
    conv1 = cnn.get_layer("conv1")
    assert resolve_layer(cnn, "conv1") is conv1
    assert resolve_layer(cnn, 1) is conv1  # index 0 is the input layer of a Functional model
    assert resolve_layer(cnn, -1) is cnn.get_layer("logits")
    assert resolve_layer(cnn, conv1) is conv1
    assert resolve_layer(cnn, np.int64(2)) is cnn.get_layer("conv2")


def test_unknown_name_lists_closest_names_first(cnn):
    with pytest.raises(ValueError, match="no layer named 'conv3' in model 'cnn'") as info:
        resolve_layer(cnn, "conv3")
    listed = re.findall(r"'(\w+)'", str(info.value).split("closest first:")[1])
    assert set(listed[:2]) == {"conv1", "conv2"}
    assert sorted(listed) == ["conv1", "conv2", "gap", "logits"]


def test_unknown_name_in_big_model_is_truncated(resnet):
    model, _, _ = resnet
    with pytest.raises(ValueError) as info:
        resolve_layer(model, "post_rel")
    message = str(info.value)
    assert message.split("closest first: ")[1].startswith("'post_relu'")
    n_names = len({layer.name for layer in iter_layers(model)})
    assert message.endswith(f"... and {n_names - 20} more")


def test_index_out_of_range_names_valid_range(cnn):
    assert len(cnn.layers) == 5
    with pytest.raises(ValueError, match=r"layer index 5 is out of range.*valid indices are -5\.\.4"):
        resolve_layer(cnn, 5)
    with pytest.raises(ValueError, match=r"valid indices are -5\.\.4"):
        resolve_layer(cnn, -6)


@pytest.mark.parametrize("bad", [1.5, None, True, ["conv1"]])
def test_wrong_layer_type(cnn, bad):
    with pytest.raises(TypeError, match=r"layer must be a layer name \(str\), an index"):
        resolve_layer(cnn, bad)


def test_foreign_layer_and_input_layer_rejected(cnn):
    with pytest.raises(ValueError, match="not part of model 'cnn'"):
        resolve_layer(cnn, layers.Dense(2, name="stranger"))
    with pytest.raises(ValueError, match="'image' is the model's input layer"):
        resolve_layer(cnn, 0)


def test_resolve_inside_nested_models(nested_sequential, nested_functional):
    model, base = nested_sequential
    assert resolve_layer(model, "base_conv2") is base.get_layer("base_conv2")
    assert resolve_layer(model, "base") is base
    assert resolve_layer(model, base.get_layer("base_bn")) is base.get_layer("base_bn")
    outer, fbase = nested_functional
    assert resolve_layer(outer, "fbase_conv1") is fbase.get_layer("fbase_conv1")


# --- conv_layers / last_conv_layer --------------------------------------------------


def test_conv_layers_and_last_conv(cnn, nested_sequential, nested_functional):
    assert [layer.name for layer in conv_layers(cnn)] == ["conv1", "conv2"]
    assert last_conv_layer(cnn) is cnn.get_layer("conv2")
    model, base = nested_sequential
    assert [layer.name for layer in conv_layers(model)] == ["base_conv1", "base_conv2"]
    assert last_conv_layer(model) is base.get_layer("base_conv2")
    outer, _ = nested_functional
    # the ReLU after the nested base is the last 4-D map before pooling
    assert last_conv_layer(outer) is outer.get_layer("head_relu")


def test_last_conv_layer_of_resnet_is_post_relu(resnet):
    model, base, _ = resnet
    assert last_conv_layer(model) is base.get_layer("post_relu")
    # ResNet50V2: stem conv + 16 bottleneck blocks x 3 convs + 4 projection shortcuts
    assert len(conv_layers(model)) == 1 + 16 * 3 + 4


def test_last_conv_layer_needs_a_conv_model():
    mlp = keras.Sequential([keras.Input((8,)), layers.Dense(4), layers.Dense(2)], name="mlp")
    with pytest.raises(ValueError, match="'mlp' has no 2-D convolution layer.*needs a convolutional"):
        last_conv_layer(mlp)
    assert conv_layers(mlp) == []


def test_last_conv_skips_1x1_maps_after_pooling():
    x = inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(4, 3, name="features")(x)
    x = layers.GlobalAveragePooling2D(keepdims=True)(x)  # (N, 1, 1, 4)
    x = layers.Conv2D(3, 1, name="classifier")(x)
    outputs = layers.Flatten()(x)
    model = keras.Model(inputs, outputs)
    assert last_conv_layer(model).name == "features"


# --- activations and logits ---------------------------------------------------------


def test_activations_functional_cnn(cnn, images):
    conv2 = activations(cnn, images, "conv2")
    np.testing.assert_allclose(conv2, reference(cnn.inputs, cnn.get_layer("conv2").output, images), rtol=RTOL, atol=ATOL)
    # hand-computed: the logits are gap(conv2) @ W + b
    kernel, bias = cnn.get_layer("logits").get_weights()
    _, logits = feature_model(cnn, "conv2")(images)
    np.testing.assert_allclose(logits, conv2.mean(axis=(1, 2)) @ kernel + bias, rtol=RTOL, atol=ATOL)


def test_activations_sequential_with_input(images):
    keras.utils.set_random_seed(4)
    model = keras.Sequential(
        [keras.Input((16, 16, 3)), layers.Conv2D(4, 3, name="c1"), layers.MaxPooling2D(name="pool"),
         layers.Conv2D(5, 3, name="c2"), layers.Flatten(), layers.Dense(2, name="out")]
    )
    assert last_conv_layer(model).name == "c2"
    pool, c2 = activations(model, images, ["pool", 2])
    np.testing.assert_allclose(pool, reference(model.inputs, model.get_layer("pool").output, images), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(c2, reference(model.inputs, model.get_layer("c2").output, images), rtol=RTOL, atol=ATOL)
    _, logits = feature_model(model, "c2")(images)
    np.testing.assert_allclose(logits, model(images), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("fixture", ["nested_sequential", "nested_functional"])
def test_activations_inside_nested_base(request, fixture, images):
    model, base = request.getfixturevalue(fixture)
    name = f"{base.name}_conv1"
    inner = activations(model, images, name)
    np.testing.assert_allclose(inner, reference(base.inputs, base.get_layer(name).output, images), rtol=RTOL, atol=ATOL)
    maps, logits = feature_model(model, [name])(images)
    np.testing.assert_allclose(maps, inner, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(logits, model(images), rtol=RTOL, atol=ATOL)


def test_resnet_post_relu_and_logits(resnet):
    model, base, x = resnet
    post_relu, logits = predict_batched(feature_model(model, last_conv_layer(model)), x, batch_size=2)
    expected = reference(base.inputs, base.get_layer("post_relu").output, x)
    np.testing.assert_allclose(post_relu, expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(logits, model.predict(x, verbose=0), rtol=RTOL, atol=ATOL)
    assert post_relu.min() >= 0 and post_relu.max() > 0  # a ReLU output, not all zeros


def test_feature_model_is_cached(cnn):
    assert feature_model(cnn, "conv1") is feature_model(cnn, cnn.get_layer("conv1"))
    assert feature_model(cnn, "conv1") is not feature_model(cnn, "conv1", logits=False)


def test_one_image_equals_batch_row(cnn, images):
    batch = activations(cnn, images, ["conv1", "gap"])
    one = activations(cnn, images[2], ["conv1", "gap"])
    assert isinstance(one, list) and one[0].ndim == 3  # (h, w, K): leading N dropped
    np.testing.assert_allclose(one[0], batch[0][2], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(one[1], batch[1][2], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(activations(cnn, images.tolist(), "gap"), batch[1], rtol=RTOL, atol=ATOL)


def test_batch_size_does_not_change_numbers(cnn, images):
    np.testing.assert_allclose(
        activations(cnn, images, "conv2", batch_size=2), activations(cnn, images, "conv2"), rtol=RTOL, atol=ATOL
    )
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        activations(cnn, images, "conv2", batch_size=0)


# --- softmax models: logits, and the user's model is left alone ---------------------


def softmax_dense_model():
    keras.utils.set_random_seed(5)
    x = inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(4, 3, activation="relu", name="conv")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(3, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="softmax_cnn")


def test_softmax_dense_gives_logits_and_leaves_model_alone(images):
    model = softmax_dense_model()
    probs = model.predict(images, verbose=0)
    weights = [w.copy() for w in model.get_weights()]
    layer_objects = list(model.layers)
    config = model.to_json()
    gap_output = model.get_layer("gap").output
    assert logits_layer_and_softmax(model) == (model.get_layer("probs"), "activation")

    with pytest.warns(UserWarning, match="ends in a softmax \\('probs'\\).*pre-softmax logits"):
        fm = feature_model(model, "gap")
    gap, logits = fm(images)
    kernel, bias = model.get_layer("probs").get_weights()
    np.testing.assert_allclose(logits, np.asarray(gap) @ kernel + bias, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(softmax(np.asarray(logits)), probs, rtol=RTOL, atol=1e-6)

    assert model.get_layer("probs").activation is keras.activations.softmax
    assert all(a is b for a, b in zip(model.layers, layer_objects)) and len(model.layers) == len(layer_objects)
    assert model.to_json() == config
    assert model.get_layer("gap").output is gap_output
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(model.predict(images, verbose=0), probs)

    # weights are shared, not copied: changing the model's bias moves the logits
    model.get_layer("probs").bias.assign(bias + 1.0)
    _, shifted = fm(images)
    np.testing.assert_allclose(shifted, np.asarray(logits) + 1.0, rtol=RTOL, atol=ATOL)
    with pytest.warns(UserWarning):  # cached feature models warn again
        feature_model(model, "gap")


@pytest.mark.parametrize("head", [layers.Softmax, lambda name: layers.Activation("softmax", name=name)])
def test_separate_softmax_layer_uses_its_input(head, images):
    keras.utils.set_random_seed(6)
    x = inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(4, 3, name="conv")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(3, name="scores")(x)
    outputs = head(name="probs")(x)
    model = keras.Model(inputs, outputs)
    assert logits_layer_and_softmax(model) == (model.get_layer("probs"), "layer")
    with pytest.warns(UserWarning, match="pre-softmax logits"):
        fm = feature_model(model, "conv")
    _, logits = fm(images)
    np.testing.assert_allclose(logits, reference(model.inputs, model.get_layer("scores").output, images), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(softmax(np.asarray(logits)), model(images), rtol=RTOL, atol=1e-6)


def test_softmax_inside_nested_classifier(images):
    keras.utils.set_random_seed(7)
    base = make_base("sbase")
    model = keras.Sequential([base, layers.GlobalAveragePooling2D(), layers.Dense(3, activation="softmax", name="p")])
    with pytest.warns(UserWarning):
        maps, logits = feature_model(model, "sbase_conv2")(images)
    np.testing.assert_allclose(softmax(np.asarray(logits)), model(images), rtol=RTOL, atol=1e-6)


def test_softmax_conv_head(images):
    keras.utils.set_random_seed(8)
    x = inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(4, 3, activation="relu", name="conv")(x)
    outputs = layers.Conv2D(3, 1, activation="softmax", name="pixel_probs")(x)  # (N, 14, 14, 3)
    model = keras.Model(inputs, outputs)
    with pytest.warns(UserWarning, match="'pixel_probs'"):
        conv, logits = feature_model(model, "conv")(images)
    kernel, bias = model.get_layer("pixel_probs").get_weights()  # (1, 1, 4, 3), (3,)
    np.testing.assert_allclose(logits, np.asarray(conv) @ kernel[0, 0] + bias, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(softmax(np.asarray(logits)), model(images), rtol=RTOL, atol=1e-6)


def test_no_warning_without_softmax_or_without_logits(cnn, images):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        feature_model(cnn, "conv1")
        activations(softmax_dense_model(), images, "conv")


def test_unbuilt_and_subclassed_models_rejected(images):
    unbuilt = keras.Sequential([layers.Conv2D(2, 3, name="c"), layers.Flatten(), layers.Dense(2)], name="unbuilt")
    with pytest.raises(ValueError, match="'unbuilt' has no graph labkit can trace.*call it once on a batch"):
        activations(unbuilt, images, "c")

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__(name="sub")
            self.conv = layers.Conv2D(2, 3, name="sub_conv")
            self.pool = layers.GlobalAveragePooling2D()

        def call(self, x):
            return self.pool(self.conv(x))

    sub = Subclassed()
    sub(images)
    with pytest.raises(ValueError, match="subclassed models are not supported"):
        feature_model(sub, "sub_conv")
    inputs = keras.Input((16, 16, 3))
    wrapper = keras.Model(inputs, sub(inputs))
    np.testing.assert_allclose(activations(wrapper, images, "sub"), sub(images), rtol=RTOL, atol=ATOL)
    with pytest.raises(ValueError, match="'sub' is a subclassed model: labkit cannot look inside it"):
        activations(wrapper, images, "sub_conv")


# --- bad input gets a clear error naming the argument -------------------------------


def test_bad_images_messages(cnn, images):
    with pytest.raises(ValueError, match=r"images must have shape \(N, H, W, C\).*got shape \(16, 16\).*\[\.\.\., None\]"):
        activations(cnn, images[0, ..., 0], "conv1")
    with pytest.raises(ValueError, match=r"images has the wrong channels C.*\(N, 16, 16, 3\).*C=1, expected 3"):
        activations(cnn, images[..., :1], "conv1")
    with pytest.raises(ValueError, match=r"wrong height H"):
        activations(cnn, np.zeros((2, 20, 16, 3), "float32"), "conv1")
    with pytest.raises(ValueError, match=r"uint8 0-255.*astype\('float32'\) / 255"):
        activations(cnn, (images * 255).astype("uint8"), "conv1")
    with pytest.raises(ValueError, match=r"looks like uint8 0-255 pixels \(values from 0 to 255\).*astype"):
        activations(cnn, np.linspace(0, 255, 16 * 16 * 3, dtype="float32").reshape(16, 16, 3), "conv1")
    nan = images.copy()
    nan[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"images contains NaN or inf values \(1 of 3840\)"):
        activations(cnn, nan, "conv1")
    with pytest.raises(ValueError, match=r"images is empty \(shape \(0, 16, 16, 3\)\)"):
        activations(cnn, images[:0], "conv1")
    with pytest.raises(TypeError, match="images must hold numbers.*dtype <U"):
        activations(cnn, np.array([["a"]]), "conv1")
    with pytest.raises(TypeError, match="images must be a numeric array"):
        activations(cnn, None, "conv1")


def test_as_images_accepts_preprocessed_floats():
    batch, single = validate.as_images(np.full((4, 4, 3), -0.5, dtype="float64"))
    assert single and batch.dtype == np.float32 and batch.shape == (1, 4, 4, 3)
    ok, _ = validate.as_images(np.full((2, 4, 4, 3), 1.2))  # slightly above 1 is fine
    assert ok.max() == np.float32(1.2)


def test_as_images_allows_0_255_when_model_rescales():
    x = inputs = keras.Input((8, 8, 3))
    x = layers.Rescaling(1 / 255)(x)
    model = keras.Model(inputs, layers.Conv2D(2, 3)(x))
    batch, _ = validate.as_images(np.full((1, 8, 8, 3), 200, dtype="uint8"), model=model)
    assert batch.dtype == np.float32 and batch.max() == 200


def test_as_targets():
    np.testing.assert_array_equal(validate.as_targets(2, 3, 5), [2, 2, 2])
    np.testing.assert_array_equal(validate.as_targets([0, 4.0, 1], 3, 5), [0, 4, 1])
    assert validate.as_targets(None, 3, 5) is None
    with pytest.raises(ValueError, match=r"target has shape \(3, 5\).*pass class indices, not one-hot"):
        validate.as_targets(np.eye(5)[[0, 1, 2]], 3, 5)
    with pytest.raises(ValueError, match=r"whole-number class indices, got \[0\.5"):
        validate.as_targets([0.5, 1, 2], 3, 5)
    with pytest.raises(ValueError, match=r"target 5 is out of range; valid class indices are 0\.\.4"):
        validate.as_targets([0, 5, 1], 3, 5)
    with pytest.raises(ValueError, match=r"target -1 is out of range"):
        validate.as_targets(-1, 3, 5)
    with pytest.raises(ValueError, match="target has 2 entries but there are 3 images"):
        validate.as_targets([1, 2], 3, 5)
    with pytest.raises(TypeError, match="target must be a class index"):
        validate.as_targets(True, 3, 5)
    with pytest.raises(TypeError, match="class must be a numeric array"):
        validate.as_targets("cat", 3, 5, name="class")


def test_small_checks():
    assert validate.check_positive_int(np.int64(3), "steps") == 3
    with pytest.raises(TypeError, match="steps must be a positive int"):
        validate.check_positive_int(2.0, "steps")
    assert validate.check_seed(None) is None and validate.check_seed(0) == 0
    with pytest.raises(ValueError, match="seed must be >= 0"):
        validate.check_seed(-1)
    with pytest.raises(ValueError, match=r"mode must be one of 'a', 'b'; got 'c'"):
        validate.check_choice("c", "mode", ("a", "b"))


# --- the validation vocabulary: models first, then arrays, classes and numbers --------------------------


def test_models_are_checked_first_with_the_fix(cnn, images):
    with pytest.raises(TypeError, match=r"model is None: pass a trained keras model, e.g. model = labkit.zoo.load"):
        activations(None, images, "conv1")
    with pytest.raises(TypeError, match=r"model is the string 'shapes', not a model: .*labkit.zoo.load\('shapes'\)"):
        activations("shapes", None, "conv1")  # the model's error comes before the images'
    with pytest.raises(TypeError, match="model must be a keras.Model, got int"):
        validate.check_model(3)
    a, b = keras.Input((16, 16, 3)), keras.Input((16, 16, 3))
    two = keras.Model([a, b], layers.Add()([a, b]), name="two")
    with pytest.raises(ValueError, match="model 'two' has 2 inputs and 1 outputs; labkit needs a model with one input"):
        activations(two, images, 0)
    table = keras.Model(inputs := keras.Input((5,)), layers.Dense(2)(inputs), name="table")
    with pytest.raises(ValueError, match=r"'table' takes inputs of shape \(N, 5\), not images .*labkit.distill"):
        activations(table, images, 0)
    with pytest.raises(ValueError, match=r"'cnn' takes inputs of shape \(N, 16, 16, 3\), not table rows"):
        validate.check_model(cnn, kind="table")


def test_a_sequential_model_called_once_works_at_any_batch_size(images):
    model = keras.Sequential([layers.Conv2D(2, 3, name="c"), layers.GlobalAveragePooling2D(), layers.Dense(3)])
    model(images[:1])  # built by a call: its input has batch size 1
    maps = activations(model, images, "c")
    assert maps.shape == (5, 14, 14, 2)
    np.testing.assert_allclose(maps[3], activations(model, images[3], "c"), rtol=RTOL, atol=ATOL)


def test_predict_batched_checks_what_it_gets(cnn, images):
    logits = predict_batched(cnn, images.astype("float64"))[0]  # float64 is fine: cast to float32
    np.testing.assert_allclose(logits, cnn.predict(images, verbose=0), rtol=RTOL, atol=ATOL)
    with pytest.raises(ValueError, match=r"batch has the wrong height H"):
        predict_batched(cnn, np.zeros((2, 8, 16, 3), "float32"))
    with pytest.raises(ValueError, match="batch contains NaN"):
        predict_batched(cnn, np.full((1, 16, 16, 3), np.nan, "float32"))
    np.testing.assert_allclose(predict_batched(cnn, images, batch_size=2**40)[0], logits, rtol=RTOL, atol=ATOL)


def test_numbers_names_classes_and_tables():
    assert validate.check_int(5, "n", low=0) == 5
    with pytest.raises(ValueError, match=r"steps=2147483648 is too large: .* 32-bit integer"):
        validate.check_positive_int(2**31, "steps")
    with pytest.raises(ValueError, match=r"seed must be >= 0 and at most 2\*\*31 - 1"):
        validate.check_seed(2**40)
    assert validate.check_batch_size(2**40, 7) == 7
    with pytest.raises(ValueError, match="lr must be a finite number > 0, got nan"):
        validate.check_number(float("nan"), "lr", low=0, low_open=True)
    with pytest.raises(ValueError, match="alpha must be a number between 0 and 1, got 2"):
        validate.check_number(2, "alpha", low=0, high=1, what="a number between 0 and 1")
    with pytest.raises(TypeError, match="alpha must be a finite number, got str"):
        validate.check_number("0.5", "alpha")
    with pytest.raises(TypeError, match=r"class_names is one string 'abcd'; pass a list of 4 names"):
        validate.check_names("abcd", 4, name="class_names")
    assert validate.check_names([0, 1], 2) == ("0", "1")
    with pytest.raises(TypeError, match="upsample must be True or False, got str"):
        validate.check_flag("yes", "upsample")
    with pytest.raises(ValueError, match=r"labels -1 is out of range; valid class indices are 0..2"):
        validate.as_labels([0, -1, 2], 3, num_classes=3)
    with pytest.raises(ValueError, match="labels must hold whole-number class indices"):
        validate.as_labels([0, 1.5], 2)
    with pytest.raises(TypeError, match="target must be one class index"):
        validate.check_class(1.5, 2)
    with pytest.raises(ValueError, match=r"X has 3 columns but 4 are expected"):
        validate.as_table(np.zeros((2, 3)), columns=4)
    with pytest.raises(ValueError, match=r"X must have shape \(N, D\).*X\[None\]"):
        validate.as_table(np.zeros(3))
    assert validate.as_array(0.5, "fill").shape == ()


def test_memory_is_estimated_before_allocating(monkeypatch):
    monkeypatch.setenv("LABKIT_MEMORY_LIMIT_GB", "1")
    assert validate.memory_limit() == 2**30
    validate.check_memory(2**29, "small", "fine")
    with pytest.raises(ValueError, match=r"big\(n=9\) would need about 2.0 GB of memory, more than labkit's limit of "
                                         r"1.0 GB .*LABKIT_MEMORY_LIMIT_GB.*; ask for less"):
        validate.check_memory(2**31, "big(n=9)", "ask for less")
