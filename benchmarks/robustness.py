"""How labkit answers a careless student: every public function called with bad or borderline input.

    python -m benchmarks.robustness                      # this tree; table to results/robustness.md
    python -m benchmarks.robustness --root DIR --out F   # another copy of labkit (e.g. `git archive` of HEAD)
    python -m benchmarks.robustness --only metrics       # one module

Each call is one public function with valid arguments except one, replaced by
a bad or borderline value (wrong rank, channels or size, uint8 0-255,
float64, NaN/inf, N=0, lists, tensors, bad targets/layers/numbers, models
that are None, a name, subclassed, unbuilt, two-input, softmax, nested;
corrupted model files). Every call is classified:

- ``ok``: finite output where the input was acceptable, or a ``ValueError``/
  ``TypeError`` raised by labkit that names the argument;
- ``RAW``: any other exception (a TensorFlow/Keras/numpy error, an
  AttributeError, ...) or a ValueError/TypeError raised inside a library
  labkit calls;
- ``UNNAMED``: a labkit ValueError/TypeError that does not name the argument;
- ``SILENT``: a result with NaN/inf, or a result for input that must be
  rejected (uint8 images, label -1, sex="F", ...);
- ``CRASH``: MemoryError, more than ``--rss-gb`` of memory or ``--timeout``
  seconds for one call (the worker process is killed and restarted).

Calls run in a worker subprocess; the parent watches its memory and time.
Not a test: ``tests/test_fuzz.py`` is the seeded property-based version in
the suite.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

REJECT, EITHER = "reject", "either"


@dataclass(frozen=True)
class Case:
    module: str
    function: str
    arg: str  # the argument replaced (names accepted in the error message: "arg" or "a|b")
    kind: str
    expect: str  # REJECT: must raise a clear error; EITHER: finite output or a clear error
    nan_ok: bool = False  # NaN is a documented output here (e.g. pointing game on an empty mask)


# --- the fixtures the worker builds once ------------------------------------------------------


class Fixtures:
    """Tiny models and inputs, built in the worker (imports labkit from the root under test)."""

    def __init__(self):
        import keras
        import numpy as np

        from labkit import datasets, zoo

        keras.utils.set_random_seed(0)
        L = keras.layers
        self.np, self.keras = np, keras
        self.size = 16
        self.model = zoo.build_cnn((16, 16, 3), 3, widths=(4, 8), name="tiny")  # conv1 pool1 conv2 gap logits
        inputs = keras.Input((16, 16, 3))
        x = L.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inputs)
        x = L.GlobalAveragePooling2D(name="gap")(x)
        self.softmax_model = keras.Model(inputs, L.Dense(3, activation="softmax", name="probs")(x), name="soft")
        base_in = keras.Input((16, 16, 3))
        base = keras.Model(base_in, L.Conv2D(4, 3, padding="same", activation="relu", name="inner_conv")(base_in),
                           name="base")
        self.nested_model = keras.Sequential([keras.Input((16, 16, 3)), base, L.GlobalAveragePooling2D(name="gap"),
                                              L.Dense(3, name="logits")], name="nested")
        self.seq_noinput = keras.Sequential([L.Conv2D(4, 3), L.GlobalAveragePooling2D(), L.Dense(3)], name="noinput")
        self.seq_called = keras.Sequential([L.Conv2D(4, 3, name="c1"), L.GlobalAveragePooling2D(), L.Dense(3)],
                                           name="called")
        self.seq_called(np.zeros((1, 16, 16, 3), "float32"))

        class Sub(keras.Model):
            def __init__(self):
                super().__init__(name="sub")
                self.conv, self.pool, self.dense = L.Conv2D(4, 3), L.GlobalAveragePooling2D(), L.Dense(3)

            def call(self, x):
                return self.dense(self.pool(self.conv(x)))

        self.subclassed = Sub()
        self.subclassed(np.zeros((1, 16, 16, 3), "float32"))
        a, b = keras.Input((16, 16, 3)), keras.Input((16, 16, 3))
        self.two_input = keras.Model([a, b], L.Dense(3)(L.GlobalAveragePooling2D()(L.Concatenate()([a, b]))),
                                     name="two")
        self.mlp = zoo.build_mlp(5, 2, name="mlp5")
        self.bn_model = zoo.build_cnn((16, 16, 3), 3, widths=(4, 8), batchnorm=True, name="tiny_bn")
        self.other_conv = zoo.build_cnn((16, 16, 3), 3, widths=(4,), name="other")

        data = datasets.toy_world("shapes", "test", 4, size=16, seed=3)
        self.images, self.masks = data.images, data.masks  # (4, 16, 16, 3), (4, 16, 16)
        self.labels = np.array([0, 1, 2, 0])
        self.maps = np.random.default_rng(0).random((4, 16, 16)).astype("float32")
        self.concept = datasets.concept_images("red", 6, size=16, seed=1)
        self.random = datasets.concept_images("random", 6, size=16, seed=2)
        self.loan_model = zoo.load("loan")
        loan = datasets.loan_table("test", 200, seed=1)
        self.loan = loan
        self.X, self.y, self.names = loan.X, loan.y, loan.feature_names
        self.table = np.random.default_rng(1).random((20, 5)).astype("float32")
        self.table_y = (self.table[:, 0] > 0.5).astype(int)

    # bad and borderline values, built on demand
    def images_kind(self, kind):
        np, x = self.np, self.images
        import tensorflow as tf
        return {
            "list": lambda: x.tolist(), "tensor": lambda: tf.constant(x), "float64": lambda: x.astype("float64"),
            "single": lambda: x[0], "uint8": lambda: (x * 255).astype("uint8"), "float_0_255": lambda: x * 255,
            "nan": lambda: np.where(np.arange(x.size).reshape(x.shape) == 5, np.nan, x),
            "inf": lambda: np.where(np.arange(x.size).reshape(x.shape) == 5, np.inf, x),
            "empty": lambda: x[:0], "rank2": lambda: x[0, ..., 0], "rank5": lambda: x[None],
            "channels1": lambda: x[..., :1], "size_8": lambda: x[:, :8, :8], "string": lambda: "images.png",
            "none": lambda: None, "ragged": lambda: [x[0], x[0, :8]], "bool": lambda: x > 0.5,
        }[kind]()

    def model_kind(self, kind):
        return {
            "none": None, "name": "shapes", "int": 42, "seq_noinput": self.seq_noinput,
            "subclassed": self.subclassed, "two_input": self.two_input, "table_model": self.mlp,
            "softmax": self.softmax_model, "nested": self.nested_model, "seq_called": self.seq_called,
            "image_model": self.model,
        }[kind]


IMAGES_KINDS = [("list", EITHER), ("tensor", EITHER), ("float64", EITHER), ("single", EITHER),
                ("uint8", REJECT), ("float_0_255", REJECT), ("nan", REJECT), ("inf", REJECT), ("empty", REJECT),
                ("rank2", REJECT), ("rank5", REJECT), ("channels1", REJECT), ("size_8", REJECT),
                ("string", REJECT), ("none", REJECT), ("ragged", REJECT), ("bool", REJECT)]
MODEL_KINDS = [("none", REJECT), ("name", REJECT), ("int", REJECT), ("seq_noinput", REJECT),
               ("subclassed", REJECT), ("two_input", REJECT), ("table_model", REJECT),
               ("softmax", EITHER), ("nested", EITHER), ("seq_called", EITHER)]
# for the plumbing that serves table models too (layers, targets, forward): a table model is fine there
ANY_MODEL_KINDS = [(kind, EITHER if kind == "table_model" else expect) for kind, expect in MODEL_KINDS]
TABLE_MODEL_KINDS = [("none", REJECT), ("name", REJECT), ("int", REJECT), ("seq_noinput", REJECT),
                     ("subclassed", REJECT), ("two_input", REJECT), ("image_model", REJECT)]
TARGET_KINDS = [("minus_one", REJECT, -1), ("num_classes", REJECT, 3), ("one_and_half", REJECT, 1.5),
                ("string", REJECT, "1"), ("bool", REJECT, True), ("nan", REJECT, float("nan")),
                ("one_hot", REJECT, "onehot"), ("wrong_length", REJECT, "wronglen"),
                ("numpy_int", EITHER, "npint"), ("list", EITHER, "list")]
COUNT_KINDS = [("zero", REJECT, 0), ("negative", REJECT, -1), ("float", REJECT, 1.5), ("string", REJECT, "8"),
               ("huge", EITHER, 2**40)]
BATCH_KINDS = COUNT_KINDS + [("one", EITHER, 1)]
SEED_KINDS = [("negative", REJECT, -1), ("float", REJECT, 1.5), ("string", REJECT, "0"), ("huge", EITHER, 2**40)]
REAL_KINDS = [("nan", REJECT, float("nan")), ("inf", REJECT, float("inf")), ("string", REJECT, "0.1"),
              ("none", REJECT, None)]


# --- what to call -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One public function: its valid call and, per argument, the kinds of value to try."""

    module: str
    function: str
    base: object  # fx -> dict of keyword arguments (all valid)
    roles: dict  # argument -> role name, or a list of (kind, expect, value or fx -> value)
    nan_ok: bool = False
    call: object = None  # fx, kwargs -> result (default: the function with the kwargs)
    skip_valid: bool = False  # the base call is not run on its own (e.g. it would train for minutes)
    aliases: tuple = ()  # (argument, "other|names") an error may use instead of the argument's name


def _target_value(fx, value):
    np = fx.np
    return {"onehot": np.eye(3)[[0, 1, 2, 0]], "wronglen": [0, 1], "npint": np.int64(1),
            "list": [0, 1, 2, 0]}.get(value, value) if isinstance(value, str) and value in (
        "onehot", "wronglen", "npint", "list") else value


def _expand(spec: Spec) -> list[tuple[Case, object]]:
    """(case, fx -> kwargs) for every argument kind of a spec; the first case is the valid call."""
    out = [] if spec.skip_valid else [(Case(spec.module, spec.function, "-", "valid", EITHER, spec.nan_ok),
                                       spec.base)]

    aliases = dict(spec.aliases)

    def add(arg, kind, expect, make):
        def kwargs(fx, make=make, arg=arg):
            values = dict(spec.base(fx))
            values[arg] = make(fx)
            return values
        named = arg + ("|" + aliases[arg] if arg in aliases else "")
        out.append((Case(spec.module, spec.function, named, kind, expect, spec.nan_ok), kwargs))

    for arg, role in spec.roles.items():
        if role == "images":
            for kind, expect in IMAGES_KINDS:
                add(arg, kind, expect, lambda fx, kind=kind: fx.images_kind(kind))
        elif role in ("model", "any_model"):
            for kind, expect in (MODEL_KINDS if role == "model" else ANY_MODEL_KINDS):
                add(arg, kind, expect, lambda fx, kind=kind: fx.model_kind(kind))
        elif role == "table_model":
            for kind, expect in TABLE_MODEL_KINDS:
                add(arg, kind, expect, lambda fx, kind=kind: fx.model_kind(kind))
        elif role == "target":
            for kind, expect, value in TARGET_KINDS:
                add(arg, kind, expect, lambda fx, value=value: _target_value(fx, value))
        elif role in ("count", "batch", "seed", "real"):
            kinds = {"count": COUNT_KINDS, "batch": BATCH_KINDS, "seed": SEED_KINDS, "real": REAL_KINDS}[role]
            for kind, expect, value in kinds:
                add(arg, kind, expect, lambda fx, value=value: value)
        else:  # explicit list
            for kind, expect, value in role:
                add(arg, kind, expect, value if callable(value) else (lambda fx, value=value: value))
    return out


def _specs() -> list[Spec]:
    """Every public function of every library module with its argument kinds."""
    img = lambda **extra: (lambda fx: {"model": fx.model, "images": fx.images, **extra})  # noqa: E731
    attribution = {"model": "model", "images": "images", "target": "target", "batch_size": "batch"}
    layer_kinds = [("unknown_name", REJECT, "nope"), ("index_out_of_range", REJECT, 99), ("float", REJECT, 1.5),
                   ("other_models_layer", REJECT, lambda fx: fx.other_conv.get_layer("conv1"))]
    specs = [
        # --- device, forward, layers, targets
        Spec("device", "setup", lambda fx: {"verbose": False}, {"verbose": [("string", REJECT, "yes")]}),
        Spec("device", "describe", lambda fx: {}, {}),
        Spec("forward", "cached", lambda fx: {"owner": fx.model, "key": ("robustness",), "make": lambda *a: 1},
             {"owner": [("none", REJECT, None), ("string", REJECT, "shapes")],
              "key": [("unhashable", REJECT, ["a"])], "make": [("none", REJECT, None)]}),
        Spec("forward", "predict_batched", lambda fx: {"model": fx.model, "batch": fx.images, "batch_size": 2},
             {"model": "any_model", "batch": "images", "batch_size": "batch"}),
        Spec("layers", "resolve_layer", lambda fx: {"model": fx.model, "layer": "conv1"},
             {"model": "any_model", "layer": layer_kinds + [("none", REJECT, None)]}),
        Spec("layers", "iter_layers", lambda fx: {"model": fx.model}, {"model": "any_model"},
             call=lambda fn, kw: list(fn(**kw))),
        Spec("layers", "conv_layers", lambda fx: {"model": fx.model}, {"model": "any_model"}),
        Spec("layers", "last_conv_layer", lambda fx: {"model": fx.model}, {"model": "any_model"}),
        Spec("layers", "logits_layer_and_softmax", lambda fx: {"model": fx.model}, {"model": "any_model"}),
        Spec("layers", "feature_model", lambda fx: {"model": fx.model, "layers": "conv2"},
             {"model": "any_model", "layers": layer_kinds + [("empty_list", EITHER, [])],
              "logits": [("string", REJECT, "yes")]}),
        Spec("layers", "activations", lambda fx: {"model": fx.model, "images": fx.images, "layers": "conv2"},
             {"model": "model", "images": "images", "layers": layer_kinds, "batch_size": "batch"}),
        Spec("layers", "model_input_layer", lambda fx: {"model": fx.model}, {"model": "any_model"}),
        Spec("targets", "logits_model", lambda fx: {"model": fx.model}, {"model": "any_model"}),
        Spec("targets", "num_classes", lambda fx: {"model": fx.model}, {"model": "any_model"}),
        Spec("targets", "targets_or_predicted", lambda fx: {"model": fx.model, "target": None, "n": 4},
             {"model": "any_model", "target": "target", "n": [("zero", REJECT, 0), ("float", REJECT, 1.5)]}),
        Spec("targets", "explained_classes",
             lambda fx: {"model": fx.model, "batch": fx.images, "target": None, "batch_size": 2},
             {"model": "any_model", "batch": "images", "target": "target", "batch_size": "batch"}),
        Spec("targets", "softmax", lambda fx: {"logits": fx.np.zeros((2, 3))},
             {"logits": [("nan", REJECT, lambda fx: fx.np.full((2, 3), fx.np.nan)), ("string", REJECT, "a"),
                         ("empty", REJECT, lambda fx: fx.np.zeros((0, 3))), ("list", EITHER, [[1.0, 2.0]]),
                         ("huge", EITHER, lambda fx: fx.np.array([[1e30, -1e30]]))]}),
        # --- objectives
        Spec("objectives", "as_objectives", lambda fx: {"objective": ("conv2", 1)},
             {"objective": [("none", REJECT, None), ("string", REJECT, "conv2"), ("empty", REJECT, ()),
                            ("empty_range", REJECT, ("conv2", range(0))), ("float_index", REJECT, ("conv2", 1.5)),
                            ("negative_index", REJECT, ("conv2", -1))]}),
        Spec("objectives", "channel", lambda fx: {"layer": "conv2", "index": 1},
             {"index": [("negative", REJECT, -1), ("float", REJECT, 1.5), ("string", REJECT, "1")],
              "layer": [("none", REJECT, None), ("float", REJECT, 1.5)]}),
        Spec("objectives", "neuron", lambda fx: {"layer": "conv2", "index": 1, "position": (1, 1)},
             {"position": [("one_number", REJECT, 3), ("negative", REJECT, (-1, 0)), ("floats", REJECT, (1.5, 1))],
              "index": [("negative", REJECT, -1)]}),
        Spec("objectives", "class_logit", lambda fx: {"index": 1},
             {"index": [("negative", REJECT, -1), ("float", REJECT, 1.5), ("none", REJECT, None)]}),
        Spec("objectives", "class_probability", lambda fx: {"index": 1},
             {"index": [("negative", REJECT, -1), ("float", REJECT, 1.5)]}),
        Spec("objectives", "check_unit", lambda fx: {"index": 1, "count": 4, "what": "channel", "layer_name": "c"},
             {"index": [("negative", REJECT, -1), ("too_big", REJECT, 4), ("float", REJECT, 1.5)]},
             aliases=(("index", "channel"),)),
        # --- data
        Spec("datasets", "toy_world", lambda fx: {"scenario": "shapes", "split": "test", "n": 4, "size": 16},
             {"scenario": [("unknown", REJECT, "circles"), ("none", REJECT, None)],
              "split": [("unknown", REJECT, "validation")],
              "n": [("zero", REJECT, 0), ("negative", REJECT, -1), ("float", REJECT, 1.5), ("billion", REJECT, 10**9),
                    ("numpy_int", EITHER, lambda fx: fx.np.int64(3))],
              "size": [("small", REJECT, 8), ("huge", REJECT, 10**6), ("float", REJECT, 16.0)],
              "seed": "seed"}),
        Spec("datasets", "concept_images", lambda fx: {"concept": "red", "n": 4, "size": 16},
             {"concept": [("unknown", REJECT, "purple-ish"), ("none", REJECT, None)],
              "n": [("zero", REJECT, 0), ("billion", REJECT, 10**9)], "seed": "seed"}),
        Spec("toyworld", "random_images", lambda fx: {"n": 4, "size": 16},
             {"n": [("zero", REJECT, 0), ("billion", REJECT, 10**9)], "size": [("small", REJECT, 8)], "seed": "seed"}),
        Spec("datasets", "digits", lambda fx: {"split": "test", "size": 16},
             {"split": [("unknown", REJECT, "val")], "size": [("small", REJECT, 4), ("huge", REJECT, 10**5)],
              "seed": "seed"}),
        Spec("datasets", "photos", lambda fx: {"names": "cat", "size": 32},
             {"names": [("unknown", REJECT, "dog"), ("none", REJECT, None), ("empty", REJECT, ())],
              "size": [("zero", REJECT, 0), ("huge", REJECT, 10**6), ("float", REJECT, 32.5)]}),
        Spec("datasets", "loan_table", lambda fx: {"split": "test", "n": 50},
             {"split": [("unknown", REJECT, "val")], "n": [("zero", REJECT, 0), ("billion", REJECT, 10**10)],
              "seed": "seed"}),
        Spec("datasets", "encode_loan", lambda fx: {"raw": {k: v[:5] for k, v in fx.loan.raw.items()}},
             {"raw": [("sex_F", REJECT, lambda fx: {**{k: v[:5] for k, v in fx.loan.raw.items()},
                                                     "sex": fx.np.array(["F"] * 5)}),
                      ("missing_column", REJECT, lambda fx: {k: v[:5] for k, v in fx.loan.raw.items() if k != "age"}),
                      ("nan_age", REJECT, lambda fx: {**{k: v[:5] for k, v in fx.loan.raw.items()},
                                                      "age": fx.np.full(5, fx.np.nan)}),
                      ("ragged", REJECT, lambda fx: {**{k: v[:5] for k, v in fx.loan.raw.items()},
                                                     "age": fx.loan.raw["age"][:3]}),
                      ("unknown_race", REJECT, lambda fx: {**{k: v[:5] for k, v in fx.loan.raw.items()},
                                                           "race": fx.np.array(["martian"] * 5)}),
                      ("none", REJECT, None)]}),
        # --- zoo
        Spec("zoo", "build_cnn", lambda fx: {"input_shape": (16, 16, 3), "num_classes": 3, "widths": (4,)},
             {"input_shape": [("rank2", REJECT, (16, 16)), ("zero", REJECT, (0, 0, 3)), ("none", REJECT, None)],
              "num_classes": [("zero", REJECT, 0), ("float", REJECT, 2.5)],
              "widths": [("empty", REJECT, ()), ("zero", REJECT, (0,)), ("string", REJECT, "8")]}),
        Spec("zoo", "build_mlp", lambda fx: {"n_features": 5, "num_classes": 2},
             {"n_features": [("zero", REJECT, 0), ("float", REJECT, 2.5), ("none", REJECT, None)],
              "num_classes": [("zero", REJECT, 0)], "hidden": [("zero", REJECT, (0,)), ("string", REJECT, "32")]}),
        Spec("zoo", "fold_batchnorm", lambda fx: {"model": fx.bn_model, "widths": (4, 8), "name": "x"},
             {"model": [("none", REJECT, None), ("no_batchnorm", REJECT, lambda fx: fx.model)],
              "widths": [("wrong", REJECT, (4,))]}),
        Spec("zoo", "load", lambda fx: {"name": "loan"},
             {"name": [("unknown", REJECT, "resnet"), ("none", REJECT, None)]}),
        Spec("zoo", "manifest", lambda fx: {}, {}),
        Spec("zoo", "evaluate", lambda fx: {"name": "loan", "n": 20},
             {"name": [("unknown", REJECT, "resnet")], "model": [("image_model", REJECT, lambda fx: fx.model),
                                                                   ("string", REJECT, "loan")],
              "n": [("zero", REJECT, 0)]}),
        # only the argument checks: training takes minutes, imagenet() needs the network
        Spec("zoo", "train", lambda fx: {"name": "loan"},
             {"name": [("unknown", REJECT, "nope"), ("none", REJECT, None)],
                                                          "seed": [("negative", REJECT, -1)]}, skip_valid=True),
        Spec("zoo", "train_all", lambda fx: {"names": ("loan",)},
             {"names": [("unknown", REJECT, ("nope",)), ("one_string", REJECT, "loan")]}, skip_valid=True),
        Spec("zoo", "imagenet", lambda fx: {"name": "resnet50v2"},
             {"name": [("unknown", REJECT, "resnet"), ("none", REJECT, None)]}, skip_valid=True),
    ]
    # zoo.load on damaged files: the worker makes damaged copies in a temporary MODEL_DIR
    for kind in ("no_manifest", "manifest_not_json", "manifest_no_models", "manifest_no_entry", "model_missing",
                 "model_truncated", "model_truncated_unverified", "model_garbage_matching_hash"):
        specs.append(Spec("zoo", f"load[{kind}]", lambda fx: {"name": "loan"},
                          {"name": [("damaged_files", REJECT, "loan")]}, skip_valid=True))
    specs += [
        # --- attribution
        Spec("occlusion", "occlusion", img(patch=8, stride=8, batch_size=8),
             {**attribution, "patch": [("zero", REJECT, 0), ("too_big", REJECT, 100), ("float", REJECT, 2.5),
                                       ("triple", REJECT, (2, 2, 2))],
              "stride": [("zero", REJECT, 0), ("bigger_than_patch", REJECT, 9)],
              "fill": [("nan", REJECT, float("nan")), ("inf", REJECT, float("inf")), ("string", REJECT, "red"),
                       ("mean", EITHER, "mean"), ("colour", EITHER, (0.5, 0.5, 0.5)), ("wrong_colour", REJECT, (1, 2))],
              "output": [("unknown", REJECT, "prob")]}),
        Spec("gradients", "saliency", img(), attribution),
        Spec("gradients", "gradient_x_input", img(), {**attribution, "reduce": [("unknown", REJECT, "mean")]}),
        Spec("gradients", "smoothgrad", img(n=2, seed=0),
             {**attribution, "n": "count", "seed": "seed",
              "noise": [("nan", REJECT, float("nan")), ("inf", REJECT, float("inf")), ("negative", REJECT, -0.1)],
              "magnitude": [("unknown", REJECT, "mean")]}),
        Spec("gradients", "integrated_gradients", img(steps=4),
             {**attribution, "steps": "count",
              "baseline": [("nan", REJECT, float("nan")), ("inf", REJECT, float("inf")),
                           ("nan_image", REJECT, lambda fx: fx.np.full((16, 16, 3), fx.np.nan, "float32")),
                           ("uint8_image", REJECT, lambda fx: (fx.images[0] * 255).astype("uint8")),
                           ("wrong_shape", REJECT, lambda fx: fx.np.zeros((8, 8, 3), "float32")),
                           ("string", REJECT, "black"), ("image", EITHER, lambda fx: fx.images[1])],
              "reduce": [("unknown", REJECT, "mean")]}),
        Spec("cam", "cam", img(), {**attribution, "layer": layer_kinds + [("gap", REJECT, "gap")],
                                   "upsample": [("string", REJECT, "yes")]}),
        Spec("cam", "grad_cam", img(), {**attribution, "layer": layer_kinds + [("gap", REJECT, "gap")],
                                        "relu": [("string", REJECT, "no")]}),
        Spec("cam", "grad_cam_pp", img(), {**attribution, "layer": layer_kinds + [("gap", REJECT, "gap")]}),
        Spec("lime_shap", "predict_fn", lambda fx: {"model": fx.model},
             {"model": "model", "batch_size": "batch", "softmax": [("string", REJECT, "yes")]},
             call=lambda fn, kw: fn(**kw)(Fixtures.last.images)),
        Spec("lime_shap", "predict_fn(images)", lambda fx: {"images": fx.images}, {"images": "images"},
             call=lambda fn, kw: fn(Fixtures.last.model)(kw["images"])),
        Spec("lime_shap", "lime_map", img(num_samples=20, n_segments=4),
             {**attribution, "num_samples": "count", "n_segments": [("zero", REJECT, 0)],
              "hide_color": [("nan", REJECT, float("nan")), ("inf", REJECT, float("inf")), ("string", REJECT, "black")],
              "segmentation": [("unknown", REJECT, "felzenszwalb")], "seed": "seed"}),
        Spec("lime_shap", "shap_map", img(max_evals=50),
             {**attribution, "max_evals": "count",
              "fill": [("nan", REJECT, float("nan")), ("uint8_image", REJECT,
                                                         lambda fx: (fx.images[0] * 255).astype("uint8")),
                       ("wrong_shape", REJECT, lambda fx: fx.np.zeros((2, 2), "float32"))],
              "explainer": [("unknown", REJECT, "kernel")], "seed": "seed"}),
        Spec("lime_shap", "shap_map[gradient]", img(explainer="gradient", nsamples=4),
             {"background": [("nan", REJECT, lambda fx: fx.np.full((2, 16, 16, 3), fx.np.nan, "float32")),
                             ("uint8", REJECT, lambda fx: (fx.images * 255).astype("uint8")),
                             ("wrong_shape", REJECT, lambda fx: fx.np.zeros((2, 8, 8, 3), "float32"))],
              "nsamples": "count"}),
        # --- feature visualization
        Spec("ascent", "pixel_ascent", lambda fx: {"model": fx.model, "objective": ("conv2", 1), "steps": 2},
             {"model": "model", "steps": "count", "seed": "seed", "lr": "real",
              "l2": [("nan", REJECT, float("nan")), ("one", REJECT, 1.0)],
              "blur_every": [("negative", REJECT, -1), ("float", REJECT, 1.5)],
              "objective": [("unknown_layer", REJECT, ("nope", 0)), ("channel_out_of_range", REJECT, ("conv2", 99)),
                            ("empty_range", REJECT, ("conv2", range(0))), ("string", REJECT, "conv2"),
                            ("none", REJECT, None)]}, aliases=(("objective", "layer|channel"),)),
        Spec("ascent", "visualize", lambda fx: {"model": fx.model, "objective": ("conv2", 1), "steps": 2,
                                                "progress": False},
             {"model": "model", "steps": "count", "seed": "seed", "lr": "real",
              "size": [("zero", REJECT, 0), ("small", REJECT, 3), ("huge", REJECT, 10**6)],
              "param": [("unknown", REJECT, "wavelet")],
              "transforms": [("jitter_nan", REJECT, (("jitter", float("nan")),)),
                             ("unknown", REJECT, ("shear",)), ("string_amount", REJECT, (("scale", "big"),))],
              "regularizers": [("l2_inf", REJECT, (("l2", float("inf")),)), ("unknown", REJECT, ("l1",))],
              "batch_size": "batch", "steps_per_call": "count",
              "objective": [("unknown_layer", REJECT, ("nope", 0)), ("channel_out_of_range", REJECT, ("conv2", 99)),
                            ("empty_range", REJECT, ("conv2", range(0))), ("position_outside", REJECT,
                                                                           ("conv2", 1, (99, 99))),
                            ("string", REJECT, "conv2"), ("logit_out_of_range", REJECT, ("logits", 7))],
              "preprocess": [("not_callable", REJECT, "x*2-1")]},
             aliases=(("objective", "layer|channel|position|logit|class"), ("transforms", "jitter|scale|rotate"),
                      ("regularizers", "l2|tv|blur"))),
        Spec("units", "filters", lambda fx: {"model": fx.model},
             {"model": "model", "layer": layer_kinds + [("dense", REJECT, "logits")],
              "scale": [("unknown", REJECT, "global")]}),
        Spec("units", "receptive_field", lambda fx: {"model": fx.model, "layer": "conv2"},
             {"model": "model", "layer": layer_kinds,
              "input_size": [("one_number", REJECT, 16), ("zero", REJECT, (0, 0)), ("negative", REJECT, (-4, 16))]}),
        Spec("units", "top_examples", lambda fx: {"model": fx.model, "layer": "conv2", "channel": 1,
                                                 "images": fx.images, "k": 2},
             {"model": "model", "images": "images", "layer": layer_kinds, "k": "count", "batch_size": "batch",
              "channel": [("negative", REJECT, -1), ("too_big", REJECT, 99), ("float", REJECT, 1.5)],
              "reduce": [("unknown", REJECT, "sum")]}),
        Spec("units", "embed", lambda fx: {"model": fx.model, "images": fx.images, "method": "pca"},
             {"model": "model", "images": "images", "layer": layer_kinds, "seed": "seed", "batch_size": "batch",
              "method": [("unknown", REJECT, "umap")],
              "perplexity": [("nan", REJECT, float("nan")), ("zero_tsne", REJECT, 0)]}),
        # --- concepts
        Spec("tcav", "fit_cav", lambda fx: {"model": fx.model, "layer": "conv2", "concept_images": fx.concept,
                                            "random_images": fx.random},
             {"model": "model", "concept_images": "images", "random_images": "images", "layer": layer_kinds,
              "classifier": [("unknown", REJECT, "svm")], "seed": "seed", "batch_size": "batch"}),
        Spec("tcav", "directional_derivatives",
             lambda fx: {"model": fx.model, "images": fx.images, "target": 1, "cav": Fixtures.last.cav},
             {"model": "model", "images": "images", "target": "target", "batch_size": "batch",
              "cav": [("none", REJECT, None), ("vector", REJECT, lambda fx: fx.np.ones(8)),
                      ("other_layer", EITHER, lambda fx: Fixtures.last.cav_conv1)],
              "objective": [("unknown", REJECT, "prob")]}),
        Spec("tcav", "tcav_score",
             lambda fx: {"model": fx.model, "images": fx.images, "target": 1, "cav": Fixtures.last.cav},
             {"model": "model", "images": "images", "target": "target", "cav": [("none", REJECT, None)]}),
        Spec("tcav", "tcav", lambda fx: {"model": fx.model, "layers": "conv2", "target": 1, "concept": "red",
                                         "class_images": fx.images, "n_random": 2, "n_concept": 4},
             {"model": "model", "class_images": "images", "layers": layer_kinds + [("empty", REJECT, ())],
              "target": [("minus_one", REJECT, -1), ("one_and_half", REJECT, 1.5), ("none", REJECT, None)],
              "concept": [("unknown", REJECT, "purple-ish"), ("empty", REJECT, ()), ("none", REJECT, None),
                          ("nan_images", REJECT, lambda fx: fx.np.full((4, 16, 16, 3), fx.np.nan, "float32"))],
              "n_random": [("one", REJECT, 1), ("huge", REJECT, 2**40)], "n_concept": [("one", REJECT, 1),
                                                                                    ("huge", REJECT, 10**9)],
              "alpha": [("two", REJECT, 2.0), ("nan", REJECT, float("nan"))], "batch_size": "batch", "seed": "seed"}),
        # --- distillation and fairness
        Spec("distill", "as_table", lambda fx: {"X": fx.table},
             {"X": [("nan", REJECT, lambda fx: fx.np.full((2, 5), fx.np.nan)),
                    ("rank1", REJECT, lambda fx: fx.table[0]),
                    ("empty", REJECT, lambda fx: fx.table[:0]), ("string", REJECT, "x"), ("list", EITHER,
                                                                                          [[1.0, 2.0]])]}),
        Spec("distill", "check_names", lambda fx: {"names": ["a", "b"], "n": 2},
             {"names": [("one_string", REJECT, "ab"), ("wrong_length", REJECT, ["a"])]}),
        Spec("distill", "model_scores", lambda fx: {"model": fx.loan_model, "X": fx.X},
             {"model": [("none", REJECT, None), ("string", REJECT, "loan")],
              "X": [("wrong_columns", REJECT, lambda fx: fx.table), ("nan", REJECT, lambda fx: fx.np.full_like(
                  fx.X, fx.np.nan))]}),
        Spec("distill", "predict_classes", lambda fx: {"model": fx.model, "X": fx.images},
             {"X": "images", "model": [("none", REJECT, None), ("string", REJECT, "shapes"),
                                       ("two_input", REJECT, lambda fx: fx.two_input)], "batch_size": "batch"}),
        Spec("distill", "predict_classes[table]", lambda fx: {"model": fx.loan_model, "X": fx.X},
             {"X": [("wrong_columns", REJECT, lambda fx: fx.table), ("nan", REJECT, lambda fx: fx.np.where(
                 fx.np.arange(fx.X.size).reshape(fx.X.shape) == 3, fx.np.nan, fx.X)),
                    ("inf", REJECT, lambda fx: fx.X * fx.np.inf), ("rank1", REJECT, lambda fx: fx.X[0]),
                    ("empty", REJECT, lambda fx: fx.X[:0]), ("string", REJECT, "x")]}),
        Spec("distill", "surrogate_tree", lambda fx: {"model": fx.loan_model, "X": fx.X, "y": fx.y},
             {"model": "table_model", "X": [("nan", REJECT, lambda fx: fx.np.full_like(fx.X, fx.np.nan)),
                                            ("wrong_columns", REJECT, lambda fx: fx.table)],
              "y": [("minus_one", REJECT, lambda fx: fx.y * 0 - 1), ("wrong_length", REJECT, lambda fx: fx.y[:5]),
                    ("float", REJECT, lambda fx: fx.y + 0.5), ("strings", REJECT, lambda fx: fx.y.astype(str))],
              "max_depth": "count", "seed": "seed", "batch_size": "batch",
              "test_size": [("zero", REJECT, 0.0), ("one", REJECT, 1.0), ("nan", REJECT, float("nan"))],
              "feature_names": [("one_string", REJECT, "abc"), ("wrong_length", REJECT, ["a"])],
              "class_names": [("one_string", REJECT, "ab")]}),
        Spec("distill", "surrogate_linear", lambda fx: {"model": fx.loan_model, "X": fx.X, "y": fx.y},
             {"model": "table_model", "C": [("negative", REJECT, -1.0), ("nan", REJECT, float("nan")),
                                            ("inf", REJECT, float("inf"))],
              "X_test": [("wrong_columns", REJECT, lambda fx: fx.table), ("nan", REJECT, lambda fx: fx.np.full_like(
                  fx.X, fx.np.nan))],
              "y_test": [("without_X_test", REJECT, lambda fx: fx.y)]}),
        Spec("distill", "fidelity", lambda fx: {"model_or_predictions": fx.loan_model,
                                                "surrogate": Fixtures.last.surrogate, "X": fx.X},
             {"model_or_predictions": [("none", REJECT, None), ("minus_one", REJECT, lambda fx: fx.y * 0 - 1),
                                       ("wrong_length", REJECT, lambda fx: fx.y[:3])],
              "surrogate": [("none", REJECT, None), ("string", REJECT, "tree")],
              "X": [("nan", REJECT, lambda fx: fx.np.full_like(fx.X, fx.np.nan)),
                    ("wrong_columns", REJECT, lambda fx: fx.table)]}),
        Spec("distill", "agreement", lambda fx: {"teacher": fx.model, "student": fx.model, "images": fx.images},
             {"images": "images", "teacher": "model", "student": [("none", REJECT, None)], "batch_size": "batch"}),
        Spec("distill", "distill_cnn", lambda fx: {"teacher": fx.model, "images": fx.images, "epochs": 1,
                                                   "widths": (2,), "batch_size": 4},
             {"teacher": "model", "images": "images",
              "labels": [("minus_one", REJECT, lambda fx: fx.np.array([-1, 0, 1, 2])),
                         ("too_big", REJECT, lambda fx: fx.np.array([0, 1, 2, 3])),
                         ("float", REJECT, lambda fx: fx.np.array([0.5, 1, 2, 0])),
                         ("wrong_length", REJECT, lambda fx: fx.np.array([0, 1])),
                         ("one_hot", REJECT, lambda fx: fx.np.eye(3)[[0, 1, 2, 0]])],
              "temperature": [("inf", REJECT, float("inf")), ("nan", REJECT, float("nan")), ("zero", REJECT, 0.0)],
              "learning_rate": [("negative", REJECT, -0.01), ("nan", REJECT, float("nan")),
                                ("inf", REJECT, float("inf"))],
              "widths": [("zero", REJECT, (0,)), ("empty", REJECT, ()), ("string", REJECT, "8")],
              "epochs": "count", "batch_size": "batch", "seed": "seed"}),
        Spec("fairness", "group_rates", lambda fx: {"decisions": fx.y, "groups": fx.loan.raw["sex"]},
             {"decisions": [("two", REJECT, lambda fx: fx.y * 2), ("nan", REJECT, lambda fx: fx.y * fx.np.nan),
                            ("wrong_length", REJECT, lambda fx: fx.y[:5]), ("empty", REJECT, lambda fx: fx.y[:0]),
                            ("string", REJECT, "yes")],
              "groups": [("wrong_length", REJECT, lambda fx: fx.loan.raw["sex"][:5]), ("none", REJECT, None)],
              "merit": [("nan", REJECT, lambda fx: fx.loan.merit * fx.np.nan),
                        ("wrong_length", REJECT, lambda fx: fx.loan.merit[:5])],
              "n_bins": "count"}),
        Spec("fairness", "permutation_importance",
             lambda fx: {"model": fx.loan_model, "X": fx.X[:50], "feature_names": fx.names, "n_repeats": 2},
             {"model": "table_model", "X": [("wrong_columns", REJECT, lambda fx: fx.table),
                                            ("nan", REJECT, lambda fx: fx.np.full_like(fx.X[:50], fx.np.nan))],
              "feature_names": [("one_string", REJECT, "abc"), ("wrong_length", REJECT, ["a"])],
              "n_repeats": "count", "seed": "seed", "batch_size": "batch"}),
        Spec("fairness", "flip_test",
             lambda fx: {"model": fx.loan_model, "X": fx.X, "column": "sex=female", "feature_names": fx.names},
             {"model": "table_model", "column": [("unknown", REJECT, "gender"), ("not_binary", REJECT, "age"),
                                                 ("index_out_of_range", REJECT, 99), ("float", REJECT, 1.5)],
              "X": [("wrong_columns", REJECT, lambda fx: fx.table)], "batch_size": "batch"}),
        Spec("fairness", "explain_applicant",
             lambda fx: {"model": fx.loan_model, "row": fx.X[0], "background": fx.X[:10], "feature_names": fx.names,
                         "n_samples": 50},
             {"model": "table_model", "target": [("one_and_half", REJECT, 1.5), ("minus_one", REJECT, -1),
                                                 ("two", REJECT, 2), ("string", REJECT, "approved")],
              "row": [("wrong_length", REJECT, lambda fx: fx.X[0, :5]), ("nan", REJECT,
                                                                          lambda fx: fx.X[0] * fx.np.nan),
                      ("table", REJECT, lambda fx: fx.X[:2])],
              "background": [("nan", REJECT, lambda fx: fx.X[:10] * fx.np.nan),
                             ("wrong_columns", REJECT, lambda fx: fx.table)],
              "method": [("unknown", REJECT, "anchor")], "n_samples": "count", "seed": "seed",
              "batch_size": "batch"}),
        Spec("fairness", "explain_applicant[lime]",
             lambda fx: {"model": fx.loan_model, "row": fx.X[0], "background": fx.X[:10], "feature_names": fx.names,
                         "n_samples": 50, "method": "lime"},
             {"target": [("one_and_half", REJECT, 1.5), ("two", REJECT, 2)], "n_samples": "count"}),
        # --- metrics
        Spec("metrics", "pointing_game", lambda fx: {"maps": fx.maps, "masks": fx.masks},
             {"maps": [("nan", REJECT, lambda fx: fx.maps * fx.np.nan), ("rank4", REJECT, lambda fx: fx.maps[None]),
                       ("empty", REJECT, lambda fx: fx.maps[:0]), ("wrong_count", REJECT, lambda fx: fx.maps[:2]),
                       ("string", REJECT, "maps")],
              "masks": [("wrong_shape", REJECT, lambda fx: fx.masks[:, :8]), ("floats", REJECT,
                                                                               lambda fx: fx.maps),
                        ("none", REJECT, None)],
              "tolerance": [("negative", REJECT, -1), ("float", REJECT, 1.5), ("thousand", EITHER, 1000),
                            ("huge", EITHER, 10**9)]}, nan_ok=True),
        Spec("metrics", "mask_energy", lambda fx: {"maps": fx.maps, "masks": fx.masks},
             {"maps": [("nan", REJECT, lambda fx: fx.maps * fx.np.nan),
                       ("wrong_count", REJECT, lambda fx: fx.maps[:2])],
              "masks": [("wrong_shape", REJECT, lambda fx: fx.masks[:, :8]), ("none", REJECT, None)]}, nan_ok=True),
        Spec("metrics", "random_baseline", lambda fx: {"masks": fx.masks, "n_maps": 4},
             {"masks": [("none", REJECT, None), ("rank1", REJECT, lambda fx: fx.masks[0, 0]),
                        ("floats", REJECT, lambda fx: fx.maps)],
              "n_maps": "count", "smooth": [("nan", REJECT, float("nan")), ("negative", REJECT, -1.0)],
              "tolerance": [("negative", REJECT, -1)], "seed": "seed"}, nan_ok=True),
        Spec("metrics", "deletion_curve", lambda fx: {"model": fx.model, "images": fx.images, "maps": fx.maps,
                                                      "steps": 4},
             {**attribution, "steps": "count",
              "maps": [("nan", REJECT, lambda fx: fx.maps * fx.np.nan),
                       ("wrong_count", REJECT, lambda fx: fx.maps[:2])],
              "fill": [("nan", REJECT, float("nan")), ("string", REJECT, "blur"),
                       ("wrong_shape", REJECT, lambda fx: fx.np.zeros((3, 3)))],
              "score": [("unknown", REJECT, "prob")]}),
        Spec("metrics", "insertion_curve", lambda fx: {"model": fx.model, "images": fx.images, "maps": fx.maps,
                                                       "steps": 4},
             {"model": "model", "images": "images", "steps": "count", "batch_size": "batch",
              "fill": [("nan", REJECT, float("nan")), ("inf", REJECT, float("inf"))]}),
        Spec("metrics", "auc", lambda fx: {"fractions": [0.0, 0.5, 1.0], "scores": [1.0, 0.5, 0.0]},
             {"fractions": [("nan", REJECT, [0.0, float("nan"), 1.0]), ("string", REJECT, "x")],
              "scores": [("nan", REJECT, [1.0, float("nan"), 0.0]), ("wrong_length", REJECT, [1.0, 0.0])]}),
        Spec("metrics", "randomization_check",
             lambda fx: {"method": Fixtures.last.saliency, "model": fx.model, "images": fx.images[:2]},
             {"model": "model", "images": "images", "seed": "seed",
              "layers": [("no_weights", REJECT, ["gap"]), ("unknown", REJECT, ["nope"]), ("empty", REJECT, []),
                         ("string", EITHER, "conv1")],
              "method": [("none", REJECT, None), ("string", REJECT, "saliency")]}),
    ]
    specs += _plot_specs() + _widget_specs()
    return specs


def _plot_specs() -> list[Spec]:
    ax = lambda: None  # noqa: E731
    return [
        Spec("plot", "image", lambda fx: {"img": fx.images[0]},
             {"img": [("nan", REJECT, lambda fx: fx.images[0] * fx.np.nan), ("rank4", REJECT, lambda fx: fx.images),
                      ("empty", REJECT, lambda fx: fx.images[0, :0]), ("string", REJECT, "cat.png"),
                      ("uint8", EITHER, lambda fx: (fx.images[0] * 255).astype("uint8")), ("none", REJECT, None),
                      ("channels2", REJECT, lambda fx: fx.images[0, ..., :2])],
              "title": [("number", EITHER, 3)]}),
        Spec("plot", "heatmap", lambda fx: {"image": fx.images[0], "map": fx.maps[0]},
             {"image": [("nan", REJECT, lambda fx: fx.images[0] * fx.np.nan), ("string", REJECT, "x")],
              "map": [("nan", REJECT, lambda fx: fx.maps[0] * fx.np.nan), ("batch", REJECT, lambda fx: fx.maps),
                      ("empty", REJECT, lambda fx: fx.maps[0, :0]), ("none", REJECT, None)],
              "alpha": [("nan", REJECT, float("nan")), ("two", REJECT, 2.0), ("string", REJECT, "0.5")],
              "percentile": [("nan", REJECT, float("nan")), ("zero", REJECT, 0.0)],
              "ax": [("string", REJECT, "left")]}),
        Spec("plot", "attribution_grid", lambda fx: {"images": fx.images[:2], "maps_by_method": {"m": fx.maps[:2]}},
             {"images": [("nan", REJECT, lambda fx: fx.images[:2] * fx.np.nan), ("empty", REJECT,
                                                                                 lambda fx: fx.images[:0])],
              "maps_by_method": [("empty", REJECT, {}), ("array", REJECT, lambda fx: fx.maps[:2]),
                                 ("wrong_count", REJECT, lambda fx: {"m": fx.maps})],
              "titles": [("one_string", REJECT, "ab"), ("wrong_length", REJECT, ["a"])],
              "size": [("zero", REJECT, 0.0), ("nan", REJECT, float("nan"))]}),
        Spec("plot", "curves", lambda fx: {"curves_by_method": {"m": [1.0, 0.5, 0.2]}},
             {"curves_by_method": [("empty", REJECT, {}), ("nan", REJECT, {"m": [1.0, float("nan")]}),
                                   ("one_point", REJECT, {"m": [1.0]}), ("string", REJECT, {"m": "abc"})],
              "x": [("wrong_length", REJECT, [0.0, 1.0]), ("nan", REJECT, [0.0, float("nan"), 1.0])]}),
        Spec("plot", "filters", lambda fx: {"weights": fx.np.random.default_rng(0).random((4, 3, 3, 3))},
             {"weights": [("nan", REJECT, lambda fx: fx.np.full((4, 3, 3, 3), fx.np.nan)),
                          ("empty", REJECT, lambda fx: fx.np.zeros((0, 3, 3, 3))), ("rank3", REJECT,
                                                                                   lambda fx: fx.np.zeros((4, 3, 3)))],
              "ncols": [("zero", REJECT, 0), ("negative", REJECT, -2), ("float", REJECT, 2.5)],
              "channel": [("too_big", REJECT, 9), ("negative", REJECT, -9)]}),
        Spec("plot", "activation_grid", lambda fx: {"maps": fx.np.random.default_rng(0).random((8, 8, 4))},
             {"maps": [("nan", REJECT, lambda fx: fx.np.full((8, 8, 4), fx.np.nan)),
                       ("empty", REJECT, lambda fx: fx.np.zeros((8, 8, 0))), ("batch", REJECT,
                                                                             lambda fx: fx.np.zeros((2, 8, 8, 4)))],
              "ncols": [("zero", REJECT, 0)],
              "channels": [("too_big", REJECT, [99]), ("empty", REJECT, []), ("string", REJECT, "all")]}),
        Spec("plot", "visualizations", lambda fx: {"images": fx.images},
             {"images": [("nan", REJECT, lambda fx: fx.images * fx.np.nan), ("empty", REJECT, lambda fx: fx.images[:0]),
                         ("single", REJECT, lambda fx: fx.images[0])],
              "ncols": [("zero", REJECT, 0)], "labels": [("one_string", REJECT, "abcd")]}),
        Spec("plot", "objective_trace", lambda fx: {"trace": fx.np.ones((5, 2))},
             {"trace": [("nan", REJECT, lambda fx: fx.np.full((5, 2), fx.np.nan)), ("rank1", REJECT, [1.0, 2.0]),
                        ("empty", REJECT, lambda fx: fx.np.zeros((0, 2)))],
              "labels": [("one_string", REJECT, "ab")]}),
        Spec("plot", "top_examples", lambda fx: {"top": Fixtures.last.top, "images": fx.images},
             {"top": [("none", REJECT, None), ("array", REJECT, lambda fx: fx.images)],
              "ncols": [("zero", REJECT, 0)]}),
        Spec("plot", "embedding", lambda fx: {"coords": fx.np.random.default_rng(0).random((4, 2)),
                                              "labels": fx.labels},
             {"coords": [("nan", REJECT, lambda fx: fx.np.full((4, 2), fx.np.nan)), ("empty", REJECT,
                                                                                     lambda fx: fx.np.zeros((0, 2))),
                         ("three_columns", REJECT, lambda fx: fx.np.zeros((4, 3)))],
              "labels": [("strings", EITHER, ["a", "b", "a", "c"]), ("wrong_length", REJECT, [0, 1]),
                         ("negative", REJECT, [-1, 0, 1, 0]), ("floats", REJECT, [0.5, 1, 2, 0])],
              "class_names": [("one_string", REJECT, "abc")],
              "thumbnails": [("without_images", REJECT, 2), ("negative", REJECT, -1)],
              "zoom": [("zero", REJECT, 0.0)]}),
        Spec("plot", "tcav_bars", lambda fx: {"result": Fixtures.last.tcav_result},
             {"result": [("none", REJECT, None), ("dict", REJECT, {})]}),
        Spec("plot", "tree", lambda fx: {"surrogate": Fixtures.last.surrogate},
             {"surrogate": [("none", REJECT, None), ("linear", REJECT, lambda fx: Fixtures.last.linear)],
              "max_depth": [("zero", REJECT, 0)], "fontsize": [("zero", REJECT, 0)]}),
        Spec("plot", "coefficients", lambda fx: {"surrogate": Fixtures.last.linear},
             {"surrogate": [("none", REJECT, None), ("tree", REJECT, lambda fx: Fixtures.last.surrogate)],
              "top": [("zero", REJECT, 0), ("negative", REJECT, -3)]}),
        Spec("plot", "approval_rates", lambda fx: {"rates": Fixtures.last.rates},
             {"rates": [("none", REJECT, None), ("empty", REJECT, ()), ("numbers", REJECT, [0.5, 0.7])]}),
        Spec("plot", "importances", lambda fx: {"rows": Fixtures.last.importances},
             {"rows": [("none", REJECT, None), ("empty", REJECT, ()), ("numbers", REJECT, [0.5])]}),
        Spec("plot", "explanation", lambda fx: {"result": Fixtures.last.explanation},
             {"result": [("none", REJECT, None), ("dict", REJECT, {})], "top": [("zero", REJECT, 0)]}),
        Spec("plot", "toy_world_grid", lambda fx: {"data": Fixtures.last.imageset},
             {"data": [("none", REJECT, None), ("array", REJECT, lambda fx: fx.images)],
              "n": [("zero", REJECT, 0), ("negative", REJECT, -1)]}),
        Spec("plot", "concept_grid", lambda fx: {"sets": {"red": fx.concept[:2]}},
             {"sets": [("empty", REJECT, {}), ("array", REJECT, lambda fx: fx.concept),
                       ("nan", REJECT, lambda fx: {"red": fx.concept * fx.np.nan}),
                       ("empty_set", REJECT, lambda fx: {"red": fx.concept[:0]})]}),
        Spec("plot", "save", lambda fx: {"figure": Fixtures.last.new_axes(), "path": Fixtures.last.tmp_png},
             {"figure": [("none", REJECT, None), ("string", REJECT, "fig")], "dpi": [("zero", REJECT, 0)],
              "path": [("missing_folder", REJECT, "/nonexistent/dir/x.png")]}),
        Spec("plot", "close", lambda fx: {"figure": Fixtures.last.new_axes()},
             {"figure": [("string", REJECT, "fig")]}),
    ]


def _widget_specs() -> list[Spec]:
    explorer = lambda **extra: (lambda fx: {"model": fx.model, "images": fx.images[:2], **extra})  # noqa: E731
    common = {"model": "model", "images": "images",
              "class_names": [("one_string", REJECT, "abc"), ("wrong_length", REJECT, ["a"]),
                              ("numbers", EITHER, [0, 1, 2])]}
    return [
        Spec("widgets", "occlusion_explorer", explorer(patch=4, stride=4),
             {**common, "patch": [("zero", REJECT, 0), ("float", REJECT, 2.5), ("huge", EITHER, 10**6)],
              "stride": [("zero", REJECT, 0), ("negative", REJECT, -2)],
              "fill": [("nan", REJECT, float("nan")), ("other", REJECT, 0.5)]}),
        Spec("widgets", "gradcam_explorer", explorer(), common),
        Spec("widgets", "layer_explorer", explorer(), {**common, "max_channels": [("zero", REJECT, 0),
                                                                                 ("float", REJECT, 2.5)]}),
    ]


def cases() -> list[tuple[Case, object, Spec]]:
    out = []
    for spec in _specs():
        for case, kwargs in _expand(spec):
            out.append((case, kwargs, spec))
    return out


# --- the worker ---------------------------------------------------------------------------------


def _function(spec: Spec):
    import importlib

    name = spec.function.split("[")[0].split("(")[0]
    module = importlib.import_module(f"labkit.{spec.module}")
    return getattr(module, name)


def _damaged_zoo(kind: str, tmp: Path):
    """A copy of data/models with one kind of damage; returns the directory."""
    import shutil

    import labkit.zoo as zoo

    source = Path(zoo.__file__).resolve().parent.parent / "data" / "models"
    target = tmp / kind
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    manifest = target / "MANIFEST.json"
    doc = json.loads(manifest.read_text())
    model = target / doc["models"]["loan"]["file"]
    if kind == "no_manifest":
        manifest.unlink()
    elif kind == "manifest_not_json":
        manifest.write_text(manifest.read_text()[:200])
    elif kind == "manifest_no_models":
        manifest.write_text(json.dumps({"generated_by": "x"}))
    elif kind == "manifest_no_entry":
        del doc["models"]["loan"]
        manifest.write_text(json.dumps(doc))
    elif kind == "model_missing":
        model.unlink()
    elif kind.startswith("model_truncated"):
        model.write_bytes(model.read_bytes()[:1000])
    elif kind == "model_garbage_matching_hash":
        import hashlib

        model.write_bytes(b"not a keras file" * 10)
        doc["models"]["loan"]["sha256"] = hashlib.sha256(model.read_bytes()).hexdigest()
        manifest.write_text(json.dumps(doc))
    return target


def _non_finite(value, depth=0) -> bool:
    """True when a result holds NaN or inf anywhere (arrays, numbers, tuples, dataclasses, models)."""
    import dataclasses

    import numpy as np

    if depth > 6 or value is None or isinstance(value, (str, bytes, bool)):
        return False
    if isinstance(value, (float, int, np.number)):
        return not np.isfinite(value)
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "fc" and not np.isfinite(value).all()
    if hasattr(value, "numpy") and hasattr(value, "dtype"):  # a tensor
        return _non_finite(np.asarray(value), depth + 1)
    if hasattr(value, "get_weights") and callable(value.get_weights):  # a keras model
        return any(_non_finite(w, depth + 1) for w in value.get_weights())
    if isinstance(value, dict):
        return any(_non_finite(v, depth + 1) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_non_finite(v, depth + 1) for v in list(value)[:2000])
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return any(_non_finite(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value))
    return False


def _raised_in_labkit(err: BaseException) -> bool:
    tb = err.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return last is not None and f"{os.sep}labkit{os.sep}" in last


def _classify(case: Case, run) -> tuple[str, str]:
    try:
        result = run()
    except MemoryError as err:
        return "CRASH", f"MemoryError {err}"[:300]
    except (ValueError, TypeError, OSError) as err:
        text = f"{type(err).__name__}: {err}"
        import tensorflow as tf

        if isinstance(err, tf.errors.OpError) or not _raised_in_labkit(err):
            return "RAW", text[:300]
        if isinstance(err, OSError) and not isinstance(err, (ValueError, TypeError)):
            fixes = "make train" in str(err) or "clone" in str(err)
            return ("ok" if fixes else "UNNAMED"), text[:300]
        names = case.arg.split("|") if case.arg != "-" else []
        if case.function.startswith("load["):
            names = ["make train", "clone", "MANIFEST"]
        named = not names or any(n in str(err) for n in names)
        if case.kind == "valid":
            return "RAW", "valid call failed: " + text[:280]
        return ("ok" if named else "UNNAMED"), text[:300]
    except Exception as err:  # noqa: BLE001 - the point is to see every kind
        return "RAW", f"{type(err).__name__}: {err}"[:300]
    if _non_finite(result) and not case.nan_ok:
        return "SILENT", "non-finite result"
    if case.expect == REJECT:
        return "SILENT", f"accepted: returned {type(result).__name__}"
    return "ok", ""


def _prepare_extras(fx):
    """Objects some calls take (a CAV, a surrogate, a TCAV result, ...), built once with valid input."""
    import tempfile

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from labkit import datasets, distill, fairness, gradients, lime_shap, tcav, units

    fx.cav = tcav.fit_cav(fx.model, "conv2", fx.concept, fx.random)
    fx.cav_conv1 = tcav.fit_cav(fx.model, "conv1", fx.concept, fx.random)
    fx.tcav_result = tcav.tcav(fx.model, "conv2", 1, "red", fx.images, n_random=2, n_concept=4)
    fx.surrogate = distill.surrogate_tree(fx.loan_model, fx.X, fx.y)
    fx.linear = distill.surrogate_linear(fx.loan_model, fx.X, fx.y)
    fx.rates = fairness.group_rates(fx.y, fx.loan.raw["sex"])
    fx.importances = fairness.permutation_importance(fx.loan_model, fx.X[:50], feature_names=fx.names, n_repeats=2)
    fx.explanation = fairness.explain_applicant(fx.loan_model, fx.X[0], fx.X[:10], feature_names=fx.names,
                                                n_samples=50)
    fx.top = units.top_examples(fx.model, "conv2", 1, fx.images, k=2)
    fx.imageset = datasets.toy_world("shapes", "test", 3, size=16)
    fx.saliency = gradients.saliency
    # warm-up: shap compiles its numba functions on first use (minutes on a busy machine), not a call's cost
    lime_shap.shap_map(fx.model, fx.images[:1], max_evals=50)
    lime_shap.shap_map(fx.model, fx.images[:1], explainer="gradient", nsamples=4)
    lime_shap.lime_map(fx.model, fx.images[:1], num_samples=20, n_segments=4)
    fx.tmp = Path(tempfile.mkdtemp(prefix="labkit_robustness_"))
    fx.tmp_png = str(fx.tmp / "x.png")
    fx.new_axes = lambda: plt.subplots()[1]
    Fixtures.last = fx


def worker(start: int, only: str | None) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import warnings

    warnings.simplefilter("ignore")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fx = Fixtures()
    _prepare_extras(fx)
    import labkit.zoo as zoo

    for i, (case, kwargs, spec) in enumerate(cases()):
        if i < start or (only and case.module != only):
            continue
        print(json.dumps({"i": i, "start": True}), flush=True)

        def run(case=case, kwargs=kwargs, spec=spec):
            values = kwargs(fx)
            function = _function(spec)
            if case.function.startswith("load["):
                saved = zoo.MODEL_DIR
                zoo.MODEL_DIR = _damaged_zoo(case.function[5:-1], fx.tmp)
                try:
                    return function(**values, **({"verify": False} if "unverified" in case.function else {}))
                finally:
                    zoo.MODEL_DIR = saved
            return spec.call(function, values) if spec.call else function(**values)

        outcome, detail = _classify(case, run)
        plt.close("all")
        print(json.dumps({"i": i, "outcome": outcome, "detail": detail}), flush=True)


# --- the parent: run the worker, watch it, count ------------------------------------------------


def _rss_bytes(pid: int) -> int:
    """Resident memory of a process and its children (bytes), from /proc."""
    total = 0
    try:
        pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pids = [pid]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def run(root: Path, only: str | None, timeout: float, rss_limit: float, log=print) -> dict:
    import queue
    import threading

    all_cases = cases()
    outcomes: dict[int, tuple[str, str]] = {}
    start = 0
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(root),
           "CUDA_VISIBLE_DEVICES": "", "MPLBACKEND": "Agg"}
    while start < len(all_cases):
        command = [sys.executable, "-c", "import sys, importlib.util as u; sys.path.insert(0, sys.argv[1]); "
                   "s = u.spec_from_file_location('robustness', sys.argv[4]); m = u.module_from_spec(s); "
                   "sys.modules['robustness'] = m; s.loader.exec_module(m); "
                   "m.worker(int(sys.argv[2]), sys.argv[3] or None)",
                   str(root), str(start), only or "", __file__]
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                   cwd=str(ROOT))
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in process.stdout] + [lines.put(None)],
                         daemon=True).start()
        current, began, started = None, time.time(), time.time()
        while True:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                line = ""
            if line is None:  # the worker exited
                process.wait()
                if current is not None:
                    outcomes[current] = ("CRASH", f"worker died (exit {process.returncode})")
                    log(f"  {all_cases[current][0]}: CRASH (exit {process.returncode})")
                    start = current + 1
                else:
                    start = len(all_cases)
                break
            if line:
                try:
                    message = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if message.get("start"):
                    current, began = message["i"], time.time()
                else:
                    outcomes[message["i"]] = (message["outcome"], message["detail"])
                    current = None
                continue
            over_time = current is not None and time.time() - began > timeout
            over_memory = _rss_bytes(process.pid) > rss_limit * 2**30
            stuck = current is None and time.time() - started > 1800  # fixtures never finished
            if over_time or over_memory or stuck:
                process.kill()
                process.wait()
                if current is None:
                    raise RuntimeError("the worker did not start: run it by hand to see why")
                why = f"killed after {time.time() - began:.0f} s" if over_time else f"over {rss_limit:g} GB"
                outcomes[current] = ("CRASH", why)
                log(f"  {all_cases[current][0]}: CRASH ({why})")
                start = current + 1
                break
    return {i: (all_cases[i][0], outcomes[i]) for i in sorted(outcomes)}


COLUMNS = ("RAW", "UNNAMED", "SILENT", "CRASH")


def table(results: dict) -> str:
    per_module: dict = defaultdict(Counter)
    for case, (outcome, _) in results.values():
        module = "plot" if case.module == "plot" else case.module
        per_module[module][outcome] += 1
        per_module[module]["calls"] += 1
    lines = ["| module | calls | " + " | ".join(COLUMNS) + " |", "|---|---|" + "---|" * len(COLUMNS)]
    total = Counter()
    for module in sorted(per_module):
        counts = per_module[module]
        total.update(counts)
        lines.append(f"| {module} | {counts['calls']} | " + " | ".join(str(counts[c]) for c in COLUMNS) + " |")
    lines.append(f"| **all** | {total['calls']} | " + " | ".join(f"**{total[c]}**" for c in COLUMNS) + " |")
    return "\n".join(lines)


def details(results: dict) -> str:
    rows = [f"- `{c.module}.{c.function}` {c.arg}={c.kind}: **{o}** {d}"
            for c, (o, d) in results.values() if o != "ok"]
    return "\n".join(rows) if rows else "(none)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=ROOT, help="directory holding the labkit package to probe")
    parser.add_argument("--only", help="one module, e.g. metrics")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per call before it counts as a crash")
    parser.add_argument("--rss-gb", type=float, default=4.0, help="memory per call before it counts as a crash")
    parser.add_argument("--out", type=Path, default=RESULTS / "robustness.md")
    parser.add_argument("--json", type=Path, help="also write every outcome as JSON")
    args = parser.parse_args(argv)
    begin = time.time()
    results = run(args.root.resolve(), args.only, args.timeout, args.rss_gb)
    text = (f"# Robustness: every public function with bad and borderline input\n\n"
            f"Produced by `python -m benchmarks.robustness` on `{args.root}` in {time.time() - begin:.0f} s "
            f"({len(results)} calls). ok = finite output, or a ValueError/TypeError from labkit naming the "
            f"argument; see the module docstring for the classes.\n\n{table(results)}\n\n"
            f"## Every call that is not ok\n\n{details(results)}\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    if args.json:
        args.json.write_text(json.dumps([[c.module, c.function, c.arg, c.kind, c.expect, o, d]
                                         for c, (o, d) in results.values()], indent=0))
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
