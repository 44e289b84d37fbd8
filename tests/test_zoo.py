"""The shipped zoo models: integrity, architecture, and accuracy measured on fresh data."""
import json
import re

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


# --- damaged or missing files say what is wrong and how to get them back ---------------------------


def _copy_of_the_zoo(tmp_path, monkeypatch):
    import shutil
    shutil.copytree(zoo.MODEL_DIR, tmp_path / "models")
    monkeypatch.setattr(zoo, "MODEL_DIR", tmp_path / "models")
    return tmp_path / "models"


FIX = r"make train|fresh clone"


@pytest.mark.parametrize("damage, error, match", [
    ("no_manifest", FileNotFoundError, r"MANIFEST.json is missing"),
    ("manifest_not_json", OSError, r"MANIFEST.json is damaged \(not valid JSON"),
    ("manifest_without_models", OSError, r"MANIFEST.json is damaged: it has no 'models' table"),
    ("entry_missing", FileNotFoundError, r"zoo model 'loan' is not in .*MANIFEST.json"),
    ("entry_damaged", OSError, r"the entry of 'loan' in .*MANIFEST.json is damaged"),
    ("file_missing", FileNotFoundError, r"loan.keras, the 'loan' model, is missing"),
    ("file_truncated", OSError, r"does not match its sha256 .* \(it has 1000 bytes \(MANIFEST.json says \d+ bytes\)\)"),
    ("file_garbage", OSError, r"could not be read as a Keras model .* the file is damaged"),
])
def test_damaged_zoo_files_are_explained(tmp_path, monkeypatch, damage, error, match):
    import hashlib
    folder = _copy_of_the_zoo(tmp_path, monkeypatch)
    manifest_path, model_path = folder / "MANIFEST.json", folder / "loan.keras"
    doc = json.loads(manifest_path.read_text())
    if damage == "no_manifest":
        manifest_path.unlink()
    elif damage == "manifest_not_json":
        manifest_path.write_text(manifest_path.read_text()[:100])
    elif damage == "manifest_without_models":
        manifest_path.write_text(json.dumps({"generated_by": "someone"}))
    elif damage == "entry_missing":
        del doc["models"]["loan"]
        manifest_path.write_text(json.dumps(doc))
    elif damage == "entry_damaged":
        doc["models"]["loan"] = {"file": 3}
        manifest_path.write_text(json.dumps(doc))
    elif damage == "file_missing":
        model_path.unlink()
    elif damage == "file_truncated":
        model_path.write_bytes(model_path.read_bytes()[:1000])
    elif damage == "file_garbage":  # a file whose hash is right but which is no model: verify cannot tell
        model_path.write_bytes(b"not a keras file " * 50)
        doc["models"]["loan"]["sha256"] = hashlib.sha256(model_path.read_bytes()).hexdigest()
        manifest_path.write_text(json.dumps(doc))
    with pytest.raises(error, match=match) as info:
        zoo.load("loan")
    assert re.search(FIX, str(info.value)), str(info.value)
    assert zoo.load("digits") if damage in ("entry_missing", "file_missing", "file_truncated", "file_garbage") else True


def test_a_truncated_file_without_verification_still_explains(tmp_path, monkeypatch):
    folder = _copy_of_the_zoo(tmp_path, monkeypatch)
    (folder / "loan.keras").write_bytes((folder / "loan.keras").read_bytes()[:1000])
    with pytest.raises(OSError, match=r"could not be read as a Keras model \((BadZipFile|OSError|ValueError).*make train"):
        zoo.load("loan", verify=False)


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="verify must be True or False"):
        zoo.load("loan", verify="no")
    with pytest.raises(TypeError, match="names must be a list of zoo model names, got the string 'loan'"):
        zoo.train_all("loan")
    with pytest.raises(TypeError, match="widths must be a non-empty tuple"):
        zoo.build_cnn((16, 16, 3), 3, widths="8")
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        zoo.build_mlp(4, 0)
    with pytest.raises(ValueError, match="is not a build_cnn\\(..., batchnorm=True\\) model"):
        zoo.fold_batchnorm(zoo.build_cnn((16, 16, 3), 3, widths=(4,)), widths=(4,), name="x")
    with pytest.raises(ValueError, match="model 'shapes' takes inputs of shape \\(N, 64, 64, 3\\), not table rows"):
        zoo.evaluate("loan", zoo.load("shapes"), n=10)
