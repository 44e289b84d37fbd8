"""Widgets driven from Python: changing a control recomputes with the new settings."""
import numpy as np
import pytest

from labkit import cam, datasets, layers, occlusion, widgets, zoo


@pytest.fixture(scope="module")
def model():
    return zoo.load("shapes")


@pytest.fixture(scope="module")
def data():
    return datasets.toy_world("shapes", "test", n=4, seed=11)


def test_occlusion_explorer_recomputes_on_patch_and_stride(model, data):
    explorer = widgets.occlusion_explorer(model, data.images, class_names=data.class_names)
    first_png, calls = explorer.picture.value, explorer.calls
    assert explorer.settings["patch"] == 8 and explorer.result.shape == (64, 64)
    np.testing.assert_allclose(explorer.result, occlusion.occlusion(model, data.images[0], patch=8, stride=4, fill="mean"),
                               rtol=1e-5, atol=1e-6)

    explorer.controls["patch"].value = 16
    assert explorer.calls == calls + 1 and explorer.settings["patch"] == 16
    np.testing.assert_allclose(explorer.result, occlusion.occlusion(model, data.images[0], patch=16, stride=4, fill="mean"),
                               rtol=1e-5, atol=1e-6)
    assert explorer.picture.value != first_png        # the displayed picture changed too

    explorer.controls["patch"].value = 4              # stride may not exceed the patch
    assert explorer.controls["stride"].max == 4 and explorer.settings["stride"] == 4


def test_occlusion_explorer_class_and_image_choosers(model, data):
    explorer = widgets.occlusion_explorer(model, data.images, class_names=data.class_names)
    explorer.controls["image"].value = 2
    explorer.controls["class"].value = "cross"
    assert explorer.settings["image"] == 2 and explorer.settings["target"] == 3
    np.testing.assert_allclose(explorer.result, occlusion.occlusion(model, data.images[2], 3, patch=8, stride=4, fill="mean"),
                               rtol=1e-5, atol=1e-6)
    assert "explaining class 'cross'" in explorer.status.value


def test_occlusion_explorer_fill_chooser(model, data):
    explorer = widgets.occlusion_explorer(model, data.images)
    assert explorer.controls["fill"].value == "image mean"   # Zeiler & Fergus' grey square
    mean_map = explorer.result
    explorer.controls["fill"].value = "black (0.0)"
    np.testing.assert_allclose(explorer.result, occlusion.occlusion(model, data.images[0], patch=8, stride=4, fill=0.0),
                               rtol=1e-5, atol=1e-6)
    assert np.abs(explorer.result - mean_map).max() > 1e-3 and "black" in explorer.settings["fill"]
    assert widgets.occlusion_explorer(model, data.images, fill=0.0).controls["fill"].value == "black (0.0)"
    with pytest.raises(ValueError, match='fill must be "mean" or 0.0'):
        widgets.occlusion_explorer(model, data.images, fill=0.5)


def test_going_back_uses_the_cache(model, data):
    explorer = widgets.occlusion_explorer(model, data.images)
    explorer.controls["patch"].value = 12
    calls = explorer.calls
    explorer.controls["patch"].value = 8
    explorer.controls["patch"].value = 12
    assert explorer.calls == calls


def test_gradcam_explorer_layer_and_class(model, data):
    explorer = widgets.gradcam_explorer(model, data.images, class_names=data.class_names)
    assert explorer.settings["layer"] == layers.last_conv_layer(model).name
    explorer.controls["layer"].value = "conv3"
    explorer.controls["class"].value = "square"
    np.testing.assert_allclose(explorer.result, cam.grad_cam(model, data.images[0], 1, layer="conv3", upsample=True),
                               rtol=1e-4, atol=1e-6)
    assert "conv3" in explorer.controls["layer"].options and "gap" not in explorer.controls["layer"].options


def test_layer_explorer_shows_the_chosen_layer(model, data):
    explorer = widgets.layer_explorer(model, data.images)
    before = explorer.picture.value
    explorer.controls["layer"].value = "conv2"
    assert explorer.result.shape == (32, 32, 16)
    np.testing.assert_allclose(explorer.result, layers.activations(model, data.images[0], "conv2"), rtol=1e-5)
    assert explorer.picture.value != before


def test_wrong_class_names_are_explained(model, data):
    with pytest.raises(ValueError, match="class_names has 2 names but the model has 4 classes"):
        widgets.occlusion_explorer(model, data.images, class_names=["a", "b"])


def test_shrinking_the_patch_clamps_the_stride_and_recomputes_once(model, data):
    explorer = widgets.occlusion_explorer(model, data.images, patch=16, stride=8)
    assert explorer.controls["stride"].min == widgets.MIN_STRIDE
    calls = explorer.calls
    explorer.controls["patch"].value = 6               # stride 8 > patch 6: the slider clamps it
    assert explorer.controls["stride"].value == 6 and explorer.settings == {
        "image": 0, "target": explorer.settings["target"], "patch": 6, "stride": 6, "fill": "image mean"}
    assert explorer.calls == calls + 1                  # clamping did not compute a second map
    np.testing.assert_allclose(explorer.result, occlusion.occlusion(model, data.images[0], patch=6, stride=6, fill="mean"),
                               rtol=1e-5, atol=1e-6)


def test_picture_is_a_png_and_no_figure_stays_open(model, data):
    import matplotlib.pyplot as plt
    before = set(plt.get_fignums())
    explorer = widgets.gradcam_explorer(model, data.images)
    explorer.controls["image"].value = 1
    assert explorer.picture.format == "png" and explorer.picture.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(plt.get_fignums()) == before            # drawn, saved and closed: Jupyter shows no copy
    assert explorer.picture in explorer.widget.children and "image 1" in explorer.status.value


def test_an_error_during_an_update_shows_in_the_status_line(model, data):
    explorer = widgets.occlusion_explorer(model, data.images)
    settings = dict(explorer.settings)

    def broken(settings):
        raise ValueError("something went wrong")
    explorer._compute = broken
    explorer.controls["patch"].value = 10               # a widget callback must not lose the error
    assert "could not update" in explorer.status.value and "something went wrong" in explorer.status.value
    assert explorer.settings == settings                # the last good result stays on screen


def test_layer_lists_skip_nested_models_and_non_maps():
    import keras
    inner = zoo.build_cnn((16, 16, 3), 2, widths=(4, 8), name="inner")
    inputs = keras.Input((16, 16, 3))
    outer = keras.Model(inputs, keras.layers.Activation("softmax", name="probabilities")(inner(inputs)))
    assert widgets._map_layers(outer) == ["conv1", "pool1", "conv2"]


def test_explorer_arguments_are_checked_before_any_work(model, data):
    with pytest.raises(TypeError, match="class_names is one string 'abcd'"):
        widgets.occlusion_explorer(model, data.images, class_names="abcd")  # took it as four names
    with pytest.raises(TypeError, match="model is None"):
        widgets.gradcam_explorer(None, data.images)
    with pytest.raises(ValueError, match="patch must be a positive int"):
        widgets.occlusion_explorer(model, data.images, patch=0)
    with pytest.raises(ValueError, match="max_channels must be a positive int"):
        widgets.layer_explorer(model, data.images, max_channels=0)
    with pytest.raises(ValueError, match="images looks like uint8"):
        widgets.layer_explorer(model, data.images * 255)


def test_layer_explorer_shows_the_input_image_and_pages_through_every_channel(model, data):
    explorer = widgets.layer_explorer(model, data.images, class_names=data.class_names)
    calls = explorer.calls
    explorer.controls["layer"].value = "conv4"
    pages = [start for _, start in explorer.controls["channels"].options]
    assert pages == [0, 32] and explorer.controls["channels"].options[1][0] == "32-63 of 64"
    explorer.controls["channels"].value = 32
    assert explorer.settings == {"image": 0, "layer": "conv4", "first": 32}
    np.testing.assert_allclose(explorer.result, layers.activations(model, data.images[0], "conv4"), rtol=1e-5)
    assert "channels 32 to 63 of 64" in explorer.status.value
    assert explorer.calls == calls          # every layer came from the one forward pass of image 0
    ax = explorer._draw(explorer.settings, explorer.result)
    try:
        shown = ax.figure.axes[0].images[0].get_array()                   # the input image, on the left
        np.testing.assert_allclose(np.asarray(shown), data.images[0], atol=1e-6)
        labels = [text.get_text() for text in ax.texts]                   # the channels drawn: 32..63
        assert labels == [str(c) for c in range(32, 64)]
    finally:
        import matplotlib.pyplot as plt
        plt.close(ax.figure)
    explorer.controls["layer"].value = "conv1"      # 8 channels: back to the first (and only) page
    assert explorer.settings["first"] == 0 and [s for _, s in explorer.controls["channels"].options] == [0]
    np.testing.assert_allclose(explorer.result, layers.activations(model, data.images[0], "conv1"), rtol=1e-5)


def test_gradcam_explorer_says_how_strong_the_map_is(model, data):
    explorer = widgets.gradcam_explorer(model, data.images, class_names=data.class_names)
    explorer.controls["image"].value = 2                      # a cross (predicted), asked about "square"
    explorer.controls["class"].value = "square"
    peak, reference = explorer.strength()
    square = cam.grad_cam(model, data.images[2], 1, upsample=True).max()
    cross = cam.grad_cam(model, data.images[2], 3, upsample=True).max()
    np.testing.assert_allclose([peak, reference], [square, cross], rtol=1e-4)
    assert peak / reference < widgets.WEAK                    # about 7% of the predicted class's peak
    assert f"{peak / reference:.1%} of the predicted class's" in explorer.status.value
    assert "weak" in explorer.status.value
    explorer.controls["class"].value = "cross"                # the predicted class: no comparison, not weak
    assert "weak" not in explorer.status.value and f"largest value {cross:.2g}" in explorer.status.value


def test_a_starting_patch_the_slider_cannot_take_is_said(model, data):
    with pytest.warns(UserWarning, match="patch=100 is outside .* starts at patch=32"):
        explorer = widgets.occlusion_explorer(model, data.images, patch=100, stride=4)
    assert explorer.settings["patch"] == 32 and explorer.controls["patch"].max == 32
    assert "patch=100" in explorer.status.value               # the note stays under the picture
    np.testing.assert_allclose(explorer.result, occlusion.occlusion(model, data.images[0], patch=32, stride=4, fill="mean"),
                               rtol=1e-5, atol=1e-6)
    explorer.controls["image"].value = 1
    assert "patch=100" in explorer.status.value
