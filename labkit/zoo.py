"""The model zoo: small trained models shipped with the kit, and ImageNet when online.

Every toy-world model is a small Functional CNN with named layers
(``conv1`` ... ``conv4``, ``gap``, ``logits``) ending in logits (no softmax),
so that CAM, Grad-CAM and TCAV work on it as in the papers::

    image (64, 64, 3) -> conv1 (64x64x8) -> pool1 -> conv2 (32x32x16) -> pool2
          -> conv3 (16x16x32) -> pool3 -> conv4 (8x8x64)
          -> gap (global average pooling, 64) -> logits (Dense)

Each conv is 3x3 with ReLU. The models are trained with batch normalisation
(it makes these small nets learn in minutes) and shipped with it folded into
the convolutions: the same function, a plainer graph.

``make train`` (``python -m labkit.zoo train``) trains every model with fixed
seeds and writes ``data/models/<name>.keras`` and ``data/models/MANIFEST.json``
(sha256, training settings, accuracy measured on fresh data).
``load(name)`` loads a shipped model and checks its sha256.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from . import datasets
from .validate import as_model_inputs, check_flag, check_int, check_model, check_positive_int, check_seed

__all__ = ["MODELS", "build_cnn", "fold_batchnorm", "build_mlp", "load", "manifest", "evaluate",
           "train", "train_all", "imagenet", "MODEL_DIR"]

MODEL_DIR = Path(os.environ.get("LABKIT_MODEL_DIR", Path(__file__).resolve().parent.parent / "data" / "models"))

# What each zoo model is trained on and how. Data are generated with `seed`
# for training and evaluated on fresh data (other seeds) by `evaluate`.
MODELS = {
    "shapes": dict(kind="cnn", data=("shapes", "train"), n_train=12000, epochs=8,
                   lr=3e-3, eval={"test": ("shapes", "test")}),
    "tanks": dict(kind="cnn", data=("tanks", "train"), n_train=3000, epochs=4, lr=3e-3,
                  eval={"train_distribution": ("tanks", "train"),
                        "independent_weather": ("tanks", "test")}),
    "fire_engines": dict(kind="cnn", data=("fire_engines", "melbourne"), n_train=4000,
                         epochs=5, lr=3e-3,
                         eval={"melbourne": ("fire_engines", "melbourne"),
                               "canberra": ("fire_engines", "canberra")}),
    "digits": dict(kind="cnn", data=("digits", "train"), epochs=30, lr=3e-3,
                   widths=(16, 32, 32), eval={"test": ("digits", "test")}),
    "loan": dict(kind="mlp", data=("loan", "train"), n_train=8000, epochs=30, lr=2e-3,
                 eval={"test": ("loan", "test")}),
}
EVAL_SEED = 2024        # fresh data for the accuracies in the manifest
N_EVAL = 1000


def _keras():
    import keras
    return keras


def _check_name(name: str) -> str:
    if not isinstance(name, str) or name not in MODELS:
        if isinstance(name, (list, tuple)):
            raise TypeError(f"name must be one zoo model's name (str), got {type(name).__name__} {name!r}")
        close = difflib.get_close_matches(str(name), list(MODELS), n=len(MODELS), cutoff=0)
        raise ValueError(f"name={name!r} is not a zoo model; valid names are: {', '.join(close)}")
    return name


def build_cnn(input_shape=(64, 64, 3), num_classes: int = 4, *,
              widths=(8, 16, 32, 64), batchnorm: bool = False, name: str = "cnn"):
    """A small CNN with named layers: conv1..convK (3x3, ReLU), pools, gap, logits.

    The last conv layer feeds global average pooling and one Dense layer, the
    architecture CAM (Zhou et al. 2016) needs. Returns an uncompiled keras.Model
    whose output is logits. With ``batchnorm=True`` each conv is followed by a
    BatchNormalization (``bn1``..) before its ReLU (``relu1``..): that trains
    much faster, and ``fold_batchnorm`` turns it back into the plain model.
    """
    input_shape = _shape(input_shape, 3, "input_shape", "(H, W, C), e.g. (64, 64, 3)")
    num_classes = check_positive_int(num_classes, "num_classes")
    widths = _widths(widths, "widths")
    batchnorm = check_flag(batchnorm, "batchnorm")
    keras = _keras()
    from keras import layers
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, width in enumerate(widths, start=1):
        if batchnorm:
            x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
            x = layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(x)
            x = layers.ReLU(name=f"relu{i}")(x)
        else:
            x = layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv{i}")(x)
        if i < len(widths):
            x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def _shape(value, rank: int, name: str, example: str) -> tuple:
    """A shape of ``rank`` positive ints (None allowed for H and W of an image)."""
    if not isinstance(value, (tuple, list)) or len(value) != rank:
        raise TypeError(f"{name} must be a tuple {example}, got {value!r}")
    return tuple(None if (v is None and i < rank - 1) else check_positive_int(v, name) for i, v in enumerate(value))


def _widths(value, name: str) -> tuple:
    """A non-empty tuple of positive ints (channels or units per layer)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)) or not value:
        raise TypeError(f"{name} must be a non-empty tuple of positive ints, e.g. (8, 16, 32), got {value!r}")
    return tuple(check_positive_int(v, name) for v in value)


def fold_batchnorm(model, *, widths, name: str):
    """The plain CNN computing exactly what a ``batchnorm=True`` CNN computes at inference.

    BatchNorm after a bias-free conv is an affine map per channel,
    ``gamma * (conv(x) - mean) / sqrt(var + eps) + beta``, so it folds into the
    conv's kernel and bias: ``kernel * s`` and ``beta - mean * s`` with
    ``s = gamma / sqrt(var + eps)``.
    """
    model = check_model(model)
    widths = _widths(widths, "widths")
    names = {layer.name for layer in model.layers}
    missing = [n for i in range(1, len(widths) + 1) for n in (f"conv{i}", f"bn{i}") if n not in names]
    if missing or f"conv{len(widths) + 1}" in names or "logits" not in names:
        raise ValueError(f"model {model.name!r} is not a build_cnn(..., batchnorm=True) model with widths={widths} "
                         f"(missing or extra layers: {missing or 'conv' + str(len(widths) + 1)}); fold_batchnorm "
                         f"folds the batch norms of such a model")
    plain = build_cnn(model.input_shape[1:], model.output_shape[-1], widths=widths, name=name)
    for i in range(1, len(widths) + 1):
        kernel = model.get_layer(f"conv{i}").get_weights()[0]
        bn = model.get_layer(f"bn{i}")
        gamma, beta, mean, var = bn.get_weights()
        scale = gamma / np.sqrt(var + bn.epsilon)
        plain.get_layer(f"conv{i}").set_weights([kernel * scale, beta - mean * scale])
    plain.get_layer("logits").set_weights(model.get_layer("logits").get_weights())
    return plain


def build_mlp(n_features: int, num_classes: int = 2, *, hidden=(32, 16), name: str = "mlp"):
    """A small MLP (dense1.., logits) for tabular data; output is logits."""
    n_features = check_positive_int(n_features, "n_features")
    num_classes = check_positive_int(num_classes, "num_classes")
    hidden = _widths(hidden, "hidden")
    keras = _keras()
    from keras import layers
    inputs = keras.Input(shape=(n_features,), name="features")
    x = inputs
    for i, width in enumerate(hidden, start=1):
        x = layers.Dense(width, activation="relu", name=f"dense{i}")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def _dataset(source: tuple, n: int | None, seed: int):
    """(X, y, class_names) for a (scenario, split) source."""
    scenario, split = source
    if scenario == "digits":
        data = datasets.digits(split)
        return data.images, data.labels, data.class_names
    if scenario == "loan":
        data = datasets.loan_table(split, n or N_EVAL, seed=seed)
        return data.X, data.y, ("declined", "approved")
    data = datasets.toy_world(scenario, split, n or N_EVAL, seed=seed)
    return data.images, data.labels, data.class_names


def _accuracy(model, X, y) -> float:
    logits = model.predict(X, batch_size=256, verbose=0)
    return float(np.mean(np.argmax(logits, axis=1) == y))


def evaluate(name: str, model=None, *, n: int = N_EVAL, seed: int = EVAL_SEED) -> dict:
    """Accuracy of a zoo model on fresh data from each of its evaluation splits.

    Returns ``{split_name: accuracy}``; e.g. for ``tanks``
    ``{"train_distribution": 0.99, "independent_weather": 0.6}``.
    """
    spec = MODELS[_check_name(name)]
    n, seed = check_positive_int(n, "n"), check_seed(seed)
    if model is None:
        model = load(name)
    else:
        check_model(model, kind="table" if spec["kind"] == "mlp" else "image")
    out = {}
    for label, source in spec["eval"].items():
        X, y, _ = _dataset(source, n, seed)
        X = as_model_inputs(X, model, name=f"model (for the {name} data)")
        out[label] = round(_accuracy(model, X, y), 4)
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _weights_sha256(model) -> str:
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w, np.float32).tobytes())
    return h.hexdigest()


def train(name: str, *, seed: int = 0, out_dir: Path | str = MODEL_DIR, verbose: int = 0) -> dict:
    """Train one zoo model reproducibly and save it; returns its manifest entry."""
    keras = _keras()
    import tensorflow as tf
    spec = MODELS[_check_name(name)]
    seed, verbose = check_int(seed, "seed", low=0), check_int(verbose, "verbose", low=0)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    X, y, class_names = _dataset(spec["data"], spec.get("n_train"), seed)
    widths = spec.get("widths", (8, 16, 32, 64))
    if spec["kind"] == "cnn":
        model = build_cnn(X.shape[1:], len(class_names), widths=widths, batchnorm=True, name=name)
    else:
        model = build_mlp(X.shape[1], len(class_names), name=name)
    steps = spec["epochs"] * int(np.ceil(len(X) / 64))
    schedule = keras.optimizers.schedules.CosineDecay(spec["lr"], decay_steps=steps, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(X, y, batch_size=64, epochs=spec["epochs"], shuffle=True, verbose=verbose)
    seconds = time.perf_counter() - start
    # ship the plain model (batch norm folded into the convs), no optimizer state
    if spec["kind"] == "cnn":
        shipped = fold_batchnorm(model, widths=widths, name=name)
    else:
        shipped = build_mlp(X.shape[1], len(class_names), name=name)
        shipped.set_weights(model.get_weights())
    check = X[:256]
    gap = np.abs(shipped.predict(check, verbose=0) - model.predict(check, verbose=0)).max()
    if gap > 1e-3:
        raise RuntimeError(f"the shipped {name} model differs from the trained one by {gap}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.keras"
    shipped.save(path)
    return {
        "file": path.name,
        "sha256": _sha256(path),
        "weights_sha256": _weights_sha256(shipped),
        "bytes": path.stat().st_size,
        "params": int(shipped.count_params()),
        "input_shape": list(X.shape[1:]),
        "class_names": list(class_names),
        "training": {"data": list(spec["data"]), "n_train": int(len(X)), "epochs": spec["epochs"],
                     "batch_size": 64, "seed": seed, "batchnorm_folded": spec["kind"] == "cnn",
                     "optimizer": f"Adam, cosine decay from lr={spec['lr']}",
                     "seconds": round(seconds, 1)},
        "accuracy": evaluate(name, shipped),
        "accuracy_note": f"fresh data: seed={EVAL_SEED}, n={N_EVAL} per split (digits: its test split)",
    }


def train_all(names=tuple(MODELS), *, out_dir: Path | str = MODEL_DIR, verbose: int = 0) -> dict:
    """Train the named zoo models and write MANIFEST.json; returns the manifest."""
    import keras
    import tensorflow as tf
    if isinstance(names, str):
        raise TypeError(f"names must be a list of zoo model names, got the string {names!r}; e.g. names=({names!r},)")
    names = tuple(_check_name(name) for name in names)
    out_dir = Path(out_dir)
    path = out_dir / "MANIFEST.json"
    entries = json.loads(path.read_text())["models"] if path.exists() else {}
    for name in names:
        print(f"training {name} ...", flush=True)
        entries[name] = train(name, out_dir=out_dir, verbose=verbose)
        print(f"  {name}: {entries[name]['training']['seconds']} s, "
              f"{entries[name]['bytes'] / 1e3:.0f} kB, accuracy {entries[name]['accuracy']}", flush=True)
    doc = {"generated_by": "make train (python -m labkit.zoo train)",
           "versions": {"tensorflow": tf.__version__, "keras": keras.__version__,
                        "numpy": np.__version__},
           "models": {k: entries[k] for k in MODELS if k in entries}}
    out_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return doc


_RESTORE = ("restore the shipped files with `git checkout data/models` (or take a fresh clone of the kit), "
            "or retrain them with `make train`")


def manifest() -> dict:
    """The shipped MANIFEST.json as a dict."""
    path = MODEL_DIR / "MANIFEST.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: it lists the zoo models; {_RESTORE}")
    try:
        doc = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise OSError(f"{path} is damaged (not valid JSON: {err}); {_RESTORE}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("models"), dict):
        raise OSError(f"{path} is damaged: it has no 'models' table; {_RESTORE}")
    return doc


def load(name: str, *, verify: bool = True):
    """Load a shipped zoo model (a fresh keras.Model each call), checking its sha256.

    Parameters
    ----------
    name : "shapes" | "tanks" | "fire_engines" | "digits" | "loan"
    verify : check the file against the sha256 in MANIFEST.json

    Raises
    ------
    FileNotFoundError, OSError
        The manifest or the model file is missing or damaged; the message
        says which and how to get it back (``make train`` or a fresh clone).

    Example
    -------
    >>> model = load("shapes")
    >>> model.output_shape
    (None, 4)
    """
    _check_name(name)
    verify = check_flag(verify, "verify")
    entry = manifest()["models"].get(name)
    if entry is None:
        raise FileNotFoundError(f"zoo model {name!r} is not in {MODEL_DIR / 'MANIFEST.json'}: {_RESTORE}")
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str) or "sha256" not in entry:
        raise OSError(f"the entry of {name!r} in {MODEL_DIR / 'MANIFEST.json'} is damaged; {_RESTORE}")
    path = MODEL_DIR / entry["file"]
    if not path.exists():
        raise FileNotFoundError(f"{path}, the {name!r} model, is missing; {_RESTORE}")
    if verify and _sha256(path) != entry["sha256"]:
        size = path.stat().st_size
        expected = f" (MANIFEST.json says {entry['bytes']} bytes)" if "bytes" in entry else ""
        raise OSError(f"{path} does not match its sha256 in MANIFEST.json: the file is damaged or was changed "
                      f"(it has {size} bytes{expected}); {_RESTORE}")
    try:
        return _keras().saving.load_model(path, compile=False)
    except Exception as err:  # a truncated or foreign file: zipfile, h5py, json and keras errors alike
        raise OSError(f"{path} could not be read as a Keras model ({type(err).__name__}: {err}); the file is "
                      f"damaged; {_RESTORE}") from err


_IMAGENET = {
    "resnet50v2": ("ResNet50V2", "resnet_v2", 224),
    "resnet50": ("ResNet50", "resnet", 224),
    "vgg16": ("VGG16", "vgg16", 224),
    "mobilenetv2": ("MobileNetV2", "mobilenet_v2", 224),
}


def imagenet(name: str = "resnet50v2"):
    """An ImageNet model from keras.applications, with logits output.

    Returns ``(model, preprocess, decode)``: the model (``classifier_activation=None``,
    so its output is logits), its ``preprocess_input`` and ``decode_predictions``.
    Needs the weights in keras' cache (~/.keras/models) or a network connection.

    Raises
    ------
    RuntimeError
        offline without cached weights, saying what to do instead.
    """
    if not isinstance(name, str) or name not in _IMAGENET:
        close = difflib.get_close_matches(str(name), list(_IMAGENET), n=len(_IMAGENET), cutoff=0)
        raise ValueError(f"name={name!r} is not a known ImageNet model; valid names are: {', '.join(close)}")
    import keras
    cls_name, module_name, size = _IMAGENET[name]
    module = getattr(keras.applications, module_name)
    try:
        model = getattr(keras.applications, cls_name)(weights="imagenet", classifier_activation=None)
    except Exception as err:  # offline: urllib raises URLError/OSError/Exception("URL fetch failure")
        raise RuntimeError(
            f"could not get the ImageNet weights for {cls_name}: {type(err).__name__}: {err}.\n"
            f"These weights are downloaded by keras on first use and cached in ~/.keras/models; "
            f"this machine seems to be offline. Either run once where you are online (or copy the "
            f"weights file into ~/.keras/models), or use the kit's toy world instead: "
            f"labkit.zoo.load('shapes') with labkit.datasets.toy_world('shapes', 'test')."
        ) from err
    return model, module.preprocess_input, module.decode_predictions


def main(argv=None) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="python -m labkit.zoo", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train zoo models and write data/models")
    t.add_argument("names", nargs="*", default=list(MODELS), help="models (default: all)")
    t.add_argument("--verbose", type=int, default=0)
    sub.add_parser("evaluate", help="accuracy of the shipped models on fresh data")
    args = parser.parse_args(argv)
    if args.command == "train":
        start = time.perf_counter()
        train_all(tuple(args.names), verbose=args.verbose)
        print(f"total training time {time.perf_counter() - start:.0f} s")
    else:
        for name in MODELS:
            print(name, evaluate(name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
