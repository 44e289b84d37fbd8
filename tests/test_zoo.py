"""The shipped zoo models: integrity, architecture, and accuracy measured on fresh data."""
import json

import numpy as np
import pytest

from labkit import datasets, zoo

FRESH = 777          # a seed used neither in training nor in the manifest's evaluation


def _accuracy(model, images, labels):
    return float(np.mean(np.argmax(model.predict(images, batch_size=256, verbose=0), 1) == labels))


@pytest.fixture(scope="module")
def manifest():
    return zoo.manifest()


def test_manifest_lists_every_model_with_sha_size_and_accuracy(manifest):
    assert set(manifest["models"]) == set(zoo.MODELS)
    for name, entry in manifest["models"].items():
        path = zoo.MODEL_DIR / entry["file"]
        assert path.exists(), name
        assert entry["bytes"] == path.stat().st_size < 2_000_000
        assert len(entry["sha256"]) == 64 and entry["accuracy"]
        assert entry["training"]["seed"] == 0


@pytest.mark.parametrize("name", ["shapes", "tanks", "fire_engines", "digits"])
def test_image_models_have_the_cam_architecture(name):
    model = zoo.load(name)
    names = [layer.name for layer in model.layers]
    assert names[-2:] == ["gap", "logits"]
    assert names[1] == "conv1" and any(n.startswith("conv") for n in names[-4:-2])
    assert model.get_layer("logits").get_config()["activation"] == "linear"  # logits, no softmax


def test_shapes_accuracy_on_fresh_data():
    data = datasets.toy_world("shapes", "test", n=1000, seed=FRESH)
    assert _accuracy(zoo.load("shapes"), data.images, data.labels) >= 0.95


def test_digits_accuracy_on_its_test_split():
    data = datasets.digits("test")
    assert _accuracy(zoo.load("digits"), data.images, data.labels) >= 0.95


def test_tanks_model_learned_the_weather_shortcut():
    model = zoo.load("tanks")
    same = datasets.toy_world("tanks", "train", n=600, seed=FRESH)
    independent = datasets.toy_world("tanks", "test", n=600, seed=FRESH)
    assert _accuracy(model, same.images, same.labels) >= 0.95
    assert _accuracy(model, independent.images, independent.labels) <= 0.75
    # and what it really predicts is the weather
    predicted = np.argmax(model.predict(independent.images, verbose=0), 1)
    assert np.mean(predicted == independent.factors["weather"]) >= 0.9


def test_fire_engine_model_fails_in_canberra():
    model = zoo.load("fire_engines")
    melbourne = datasets.toy_world("fire_engines", "melbourne", n=600, seed=FRESH)
    canberra = datasets.toy_world("fire_engines", "canberra", n=600, seed=FRESH)
    acc_m = _accuracy(model, melbourne.images, melbourne.labels)
    acc_c = _accuracy(model, canberra.images, canberra.labels)
    assert acc_m >= 0.95
    assert acc_c <= acc_m - 0.20


def test_loan_model_learned_the_planted_bias():
    model = zoo.load("loan")
    data = datasets.loan_table("test", n=3000, seed=FRESH)
    approved = np.argmax(model.predict(data.X, verbose=0), 1)
    female = data.raw["sex"] == "female"
    flipped = data.X.copy()
    column = data.feature_names.index("sex=female")
    flipped[:, column] = 1 - flipped[:, column]
    changed = np.argmax(model.predict(flipped, verbose=0), 1) != approved
    assert approved[~female].mean() - approved[female].mean() > 0.15
    assert changed.mean() > 0.1


def test_load_returns_a_fresh_model_each_time():
    a, b = zoo.load("digits"), zoo.load("digits")
    assert a is not b
    a.get_layer("logits").set_weights([w * 0 for w in a.get_layer("logits").get_weights()])
    assert np.abs(b.get_layer("logits").get_weights()[0]).sum() > 0


def test_load_detects_a_damaged_file(tmp_path, monkeypatch):
    entry = zoo.manifest()["models"]["loan"]
    (tmp_path / entry["file"]).write_bytes((zoo.MODEL_DIR / entry["file"]).read_bytes() + b"x")
    (tmp_path / "MANIFEST.json").write_text(json.dumps(zoo.manifest()))
    monkeypatch.setattr(zoo, "MODEL_DIR", tmp_path)
    with pytest.raises(OSError, match="does not match its sha256"):
        zoo.load("loan")


def test_unknown_model_name_suggests_the_closest():
    with pytest.raises(ValueError, match="name='shape' is not a zoo model; valid names are: shapes"):
        zoo.load("shape")


def test_fold_batchnorm_computes_the_same_function():
    import keras
    keras.utils.set_random_seed(1)
    model = zoo.build_cnn((16, 16, 3), 3, widths=(4, 6), batchnorm=True)
    # give batch norm non-trivial statistics
    for i in (1, 2):
        bn = model.get_layer(f"bn{i}")
        k = bn.get_weights()[0].shape[0]
        rng = np.random.default_rng(i)
        bn.set_weights([rng.uniform(0.5, 2, k), rng.normal(0, 1, k), rng.normal(0, 1, k), rng.uniform(0.5, 3, k)])
    plain = zoo.fold_batchnorm(model, widths=(4, 6), name="plain")
    x = np.random.default_rng(0).random((5, 16, 16, 3), dtype=np.float32)
    np.testing.assert_allclose(plain.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-5)
    assert "bn1" not in [layer.name for layer in plain.layers]


def test_imagenet_offline_raises_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))     # no cached weights

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- [Errno -3] "
                        "Temporary failure in name resolution")

    from keras.src.utils import file_utils
    monkeypatch.setattr(file_utils, "get_file", offline)   # what keras.applications calls
    with pytest.raises(RuntimeError, match="offline.*toy world"):
        zoo.imagenet("resnet50v2")


def test_imagenet_unknown_name():
    with pytest.raises(ValueError, match="valid names are: resnet50v2"):
        zoo.imagenet("resnet50_v2")
