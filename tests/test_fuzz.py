"""A seeded property-based fuzz of every public labkit function (hypothesis, derandomized, fixed budget).

Each example calls one function with valid arguments, except (usually) one
or two drawn from that argument's pool of bad or borderline values (wrong
rank, channels or size, uint8 0-255, float64, NaN/inf, N=0, lists, tensors,
targets out of range, whole-number and fractional floats, huge counts,
models that are None, a name, subclassed, unbuilt or two-input). The
property: the call either returns finite values of the documented shape,
or raises a ``ValueError``/``TypeError`` from labkit that names one of the
arguments that were not plainly valid. Never a raw TensorFlow/Keras/numpy
error, never NaN, never bad input accepted in silence, never valid input
refused.

``benchmarks/robustness.py`` is the exhaustive, non-random version (every
argument kind in turn, with a table per module).

The test bites: with one check disabled (``labkit.validate._require_finite``,
the NaN/inf check, replaced by a no-op) 26 of its 72 cases fail.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit import (
    ascent, cam, datasets, device, distill, fairness, forward, gradients, layers, lime_shap, metrics, objectives,
    occlusion, plot, targets, tcav, toyworld, units, widgets, zoo,
)

GOOD, BAD, EITHER = "good", "bad", "either"
SIZE, CLASSES = 16, 3

# --- the models and data every example uses (built once) ------------------------------------------


def _models() -> dict:
    L = keras.layers
    keras.utils.set_random_seed(0)
    models = {"cnn": zoo.build_cnn((SIZE, SIZE, 3), CLASSES, widths=(4, 8), name="fuzz_cnn")}
    inputs = keras.Input((SIZE, SIZE, 3))
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inputs)
    models["softmax"] = keras.Model(inputs, L.Dense(CLASSES, activation="softmax", name="probs")(
        L.GlobalAveragePooling2D(name="gap")(x)), name="fuzz_softmax")
    base_in = keras.Input((SIZE, SIZE, 3))
    base = keras.Model(base_in, L.Conv2D(4, 3, padding="same", activation="relu", name="inner")(base_in), name="base")
    models["nested"] = keras.Sequential([keras.Input((SIZE, SIZE, 3)), base, L.GlobalAveragePooling2D(name="gap"),
                                         L.Dense(CLASSES, name="logits")], name="fuzz_nested")
    models["unbuilt"] = keras.Sequential([L.Conv2D(4, 3), L.GlobalAveragePooling2D(), L.Dense(CLASSES)])

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__(name="fuzz_sub")
            self.conv, self.pool, self.dense = L.Conv2D(4, 3), L.GlobalAveragePooling2D(), L.Dense(CLASSES)

        def call(self, x):
            return self.dense(self.pool(self.conv(x)))

    models["subclassed"] = Subclassed()
    models["subclassed"](np.zeros((1, SIZE, SIZE, 3), "float32"))
    a, b = keras.Input((SIZE, SIZE, 3)), keras.Input((SIZE, SIZE, 3))
    models["two_inputs"] = keras.Model([a, b], L.Dense(CLASSES)(L.GlobalAveragePooling2D()(L.Add()([a, b]))))
    models["mlp"] = zoo.build_mlp(5, 2, name="fuzz_mlp")
    return models


MODELS = _models()
CNN = MODELS["cnn"]
DATA = datasets.toy_world("shapes", "test", 4, size=SIZE, seed=3)
IMAGES, MASKS = DATA.images, DATA.masks
MAPS = np.random.default_rng(0).random((4, SIZE, SIZE)).astype(np.float32)
CONCEPT = datasets.concept_images("red", 6, size=SIZE, seed=1)
RANDOM = datasets.concept_images("random", 6, size=SIZE, seed=2)
LOAN_MODEL = zoo.load("loan")
LOAN = datasets.loan_table("test", 120, seed=1)


# --- pools of values: (value, verdict), drawn by hypothesis -------------------------------------------


def _make(value):
    """A lambda is a factory, called fresh for each example; anything else (a model too) is the value."""
    return value() if isinstance(value, types.LambdaType) and value.__name__ == "<lambda>" else value


def pool(*entries) -> st.SearchStrategy:
    """Strategy over (value or factory, verdict) entries."""
    return st.sampled_from(entries).map(lambda e: (_make(e[0]), e[1]))


def _with_one(array: np.ndarray, value: float) -> np.ndarray:
    out = np.array(array, dtype=np.float32)
    out.reshape(-1)[len(out.reshape(-1)) // 3] = value
    return out


def good_images() -> st.SearchStrategy:
    """Valid image batches: 1-4 images, [0, 1] or mean-centred, constant ones too, as arrays, lists, tensors."""
    def make(n, kind, form):
        rng = np.random.default_rng(n)
        x = {"toy": IMAGES[:n], "centred": rng.uniform(-1, 1, (n, SIZE, SIZE, 3)),
             "zeros": np.zeros((n, SIZE, SIZE, 3)), "half": np.full((n, SIZE, SIZE, 3), 0.5)}[kind]
        x = np.asarray(x, np.float32)
        return {"array": x, "float64": x.astype(np.float64), "list": x.tolist(), "tensor": tf.constant(x),
                "single": x[0]}[form]
    return st.builds(make, st.integers(1, 4), st.sampled_from(["toy", "centred", "zeros", "half"]),
                     st.sampled_from(["array", "float64", "list", "tensor", "single"])).map(lambda x: (x, GOOD))


BAD_IMAGES = pool(
    (lambda: (IMAGES * 255).astype(np.uint8), BAD), (lambda: IMAGES * 255, BAD),
    (lambda: _with_one(IMAGES, np.nan), BAD), (lambda: _with_one(IMAGES, np.inf), BAD),
    (lambda: _with_one(IMAGES, -np.inf), BAD), (lambda: IMAGES[:0], BAD), (lambda: IMAGES[0, ..., 0], BAD),
    (lambda: IMAGES[None], BAD), (lambda: IMAGES[..., :1], BAD), (lambda: IMAGES[:, :8, :8], BAD),
    (lambda: np.zeros((2, SIZE, SIZE, 4), np.float32), BAD), ("images.png", BAD), (None, BAD),
    (lambda: [IMAGES[0], IMAGES[0, :8]], BAD), (lambda: IMAGES > 0.5, BAD), (lambda: IMAGES.astype(str), BAD),
)
BAD_MODELS = pool(
    (None, BAD), ("shapes", BAD), (42, BAD), (lambda: MODELS["unbuilt"], BAD), (lambda: MODELS["subclassed"], BAD),
    (lambda: MODELS["two_inputs"], BAD), (lambda: MODELS["mlp"], BAD),
    (lambda: MODELS["softmax"], EITHER), (lambda: MODELS["nested"], EITHER),
)
TARGETS = pool(
    (None, GOOD), (0, GOOD), (2, GOOD), (lambda: np.int64(1), GOOD), (-1, BAD), (CLASSES, BAD), (1.5, BAD),
    (float("nan"), BAD), ("1", BAD), (True, BAD), (lambda: np.eye(CLASSES)[[0, 1, 2, 0]], BAD), ([0, 1, 2, 0, 1], BAD),
    (2.0, EITHER), (10**12, BAD),
)


def counts(good=(1, 2, 3), huge=EITHER) -> st.SearchStrategy:
    """Positive counts (steps, n, k): small valid ones, and 0, -1, 1.5, "8", None, True, 2**40."""
    return st.one_of(st.sampled_from(good).map(lambda v: (v, GOOD)),
                     pool((0, BAD), (-1, BAD), (1.5, BAD), ("8", BAD), (None, BAD), (True, BAD), (2**40, huge),
                          (2**31, huge)))


BATCH = st.one_of(st.integers(1, 70).map(lambda v: (v, GOOD)),
                  pool((0, BAD), (-3, BAD), (2.0, BAD), ("64", BAD), (None, BAD), (2**40, EITHER)))
SEED = st.one_of(st.integers(0, 2**31 - 1).map(lambda v: (v, GOOD)),
                 pool((-1, BAD), (0.5, BAD), ("0", BAD), (2**40, EITHER), (np.int64(3), GOOD)))


def reals(low: float, high: float, bad=(-1e9,)) -> st.SearchStrategy:
    """Floats in [low, high]; NaN, inf, strings, None and values outside the range are bad."""
    return st.one_of(st.floats(low, high, allow_nan=False).map(lambda v: (v, GOOD)),
                     pool((float("nan"), BAD), (float("inf"), BAD), (-float("inf"), BAD), ("0.1", BAD), (None, BAD),
                          *[(b, BAD) for b in bad]))


def choices(good: tuple, bad=("nope",)) -> st.SearchStrategy:
    return pool(*[(g, GOOD) for g in good], *[(b, BAD) for b in bad], (None, EITHER), (["x"], BAD))


LAYER = pool(("conv1", GOOD), ("conv2", GOOD), (1, GOOD), (lambda: CNN.get_layer("conv2"), GOOD), ("conv9", BAD),
             (99, BAD), (1.5, BAD), (None, BAD), (lambda: MODELS["mlp"].get_layer("dense1"), BAD))
FLAG = pool((True, GOOD), (False, GOOD), ("yes", BAD), (None, BAD), (1, BAD))


def const(value) -> st.SearchStrategy:
    """Always this valid value: an argument that is never varied."""
    strategy = st.just(value).map(lambda v: (_make(v), GOOD))
    strategy.fuzz_fixed = True
    return strategy


# --- the functions and their documented results -------------------------------------------------------


def maps_of(shape_of: Callable) -> Callable:
    """Check a map result: (N, *shape) for a batch, shape for one image."""
    def check(result, kw):
        images = kw.get("images", kw.get("batch"))
        n, single = _n_images(images)
        shape = shape_of(kw)
        assert isinstance(result, np.ndarray) and result.shape == ((*shape,) if single else (n, *shape)), result.shape
    return check


def _n_images(images) -> tuple[int, bool]:
    array = np.asarray(images)
    return (1, True) if array.ndim == 3 else (len(array), False)


def image_maps(kw):
    return (SIZE, SIZE)


def feature_maps(kw):
    """(h, w) of the maps CAM/Grad-CAM return for these arguments."""
    if kw.get("upsample"):
        return (SIZE, SIZE)
    model, layer = kw["model"], kw.get("layer")
    chosen = layers.last_conv_layer(model) if layer is None else layers.resolve_layer(model, layer)
    return tuple(chosen.output.shape[1:3])


def maps_for(images) -> np.ndarray:
    """One saliency-like map per image given (for the deletion curve)."""
    try:
        n, single = _n_images(images)
    except Exception:  # not even an array: the images' own error comes first
        return MAPS
    return MAPS[0] if single else MAPS[:n]


@dataclass
class Fn:
    """A public function under fuzz: its arguments' strategies, and what a result must look like."""

    name: str
    call: Callable
    args: dict
    check: Callable | None = None
    examples: int = 20
    aliases: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return self.name


def attribution(name, function, check=maps_of(image_maps), examples=20, **extra):
    return Fn(name, function, {"model": st.one_of(const(CNN), BAD_MODELS),
                               "images": st.one_of(good_images(), BAD_IMAGES),
                               "target": TARGETS, "batch_size": BATCH, **extra}, check, examples)


FUNCTIONS = [
    attribution("gradients.saliency", gradients.saliency),
    attribution("gradients.gradient_x_input", gradients.gradient_x_input),
    attribution("gradients.smoothgrad", gradients.smoothgrad, n=counts(), seed=SEED,
                noise=reals(0, 1, bad=(-0.1,)), magnitude=choices((None, "abs", "square"), bad=("mean",))),
    attribution("gradients.integrated_gradients", gradients.integrated_gradients, steps=counts(),
                baseline=st.one_of(reals(-1, 1, bad=()), pool((lambda: IMAGES[1], GOOD),
                                                             (lambda: (IMAGES[0] * 255).astype(np.uint8), BAD),
                                                             (lambda: np.zeros((8, 8, 3)), BAD)))),
    attribution("occlusion.occlusion", occlusion.occlusion,
                patch=st.one_of(st.integers(2, 8).map(lambda v: (v, GOOD)), pool((0, BAD), (100, BAD), (2.5, BAD),
                                                                                ((4, 4), GOOD), ((2, 2, 2), BAD))),
                stride=pool((None, GOOD), (2, GOOD), (0, BAD), (-1, BAD)),
                fill=st.one_of(reals(-1, 1, bad=()), pool(("mean", GOOD), ((0.5, 0.5, 0.5), GOOD), ((1, 2), BAD),
                                                          ("red", BAD))),
                output=choices(("probability", "logit"))),
    attribution("cam.cam", cam.cam, check=maps_of(feature_maps), upsample=FLAG),
    attribution("cam.grad_cam", cam.grad_cam, check=maps_of(feature_maps), layer=st.one_of(const(None), LAYER),
                upsample=FLAG, relu=FLAG),
    attribution("cam.grad_cam_pp", cam.grad_cam_pp, check=maps_of(feature_maps)),
    attribution("lime_shap.lime_map", lime_shap.lime_map, examples=3, num_samples=counts(good=(8,), huge=BAD),
                n_segments=const(4), hide_color=st.one_of(const(None), reals(0, 1, bad=()))),
    attribution("lime_shap.shap_map", lime_shap.shap_map, examples=3, max_evals=counts(good=(50,), huge=BAD),
                fill=st.one_of(reals(0, 1, bad=()), pool((lambda: IMAGES[1], GOOD),
                                                       (lambda: (IMAGES[1] * 255).astype(np.uint8), BAD)))),
    attribution("metrics.deletion_curve", lambda **kw: metrics.deletion_curve(maps=maps_for(kw.get("images")), **kw),
                examples=5,
                check=lambda r, kw: _curve_check(r, kw), steps=counts(good=(2, 4)),
                fill=st.one_of(reals(0, 1, bad=()), pool(("blur", BAD), (lambda: np.zeros((3, 3)), BAD))),
                score=choices(("probability", "logit"))),
    Fn("layers.activations", lambda **kw: layers.activations(layers="conv2", **kw),
       {"model": st.one_of(const(CNN), BAD_MODELS), "images": st.one_of(good_images(), BAD_IMAGES), "batch_size": BATCH},
       maps_of(lambda kw: (8, 8, 8)), examples=20),
    Fn("targets.explained_classes", lambda **kw: targets.explained_classes(
        kw["model"], kw["images"], kw["target"], batch_size=kw["batch_size"]),
        {"model": st.one_of(const(CNN), BAD_MODELS), "images": st.one_of(good_images(), BAD_IMAGES),
         "target": TARGETS, "batch_size": BATCH},
        lambda r, kw: r.shape == (_n_images(kw["images"])[0],), examples=20, aliases={"images": "batch"}),
    Fn("units.top_examples", lambda **kw: units.top_examples(layer="conv2", k=2, **kw),
       {"model": st.one_of(const(CNN), BAD_MODELS), "images": st.one_of(good_images(), BAD_IMAGES),
        "channel": st.one_of(st.integers(0, 7).map(lambda v: (v, GOOD)), pool((-1, BAD), (99, BAD), (1.5, BAD))),
        "batch_size": BATCH},
       lambda r, kw: len(r.indices) == min(2, _n_images(kw["images"])[0])),
    attribution("tcav.directional_derivatives", lambda **kw: tcav.directional_derivatives(cav=CAV, **kw),
                check=lambda r, kw: None),
    Fn("forward.predict_batched", forward.predict_batched,
       {"model": st.one_of(const(CNN), BAD_MODELS), "batch": st.one_of(good_images(), BAD_IMAGES), "batch_size": BATCH},
       lambda r, kw: r[0].shape == (_n_images(kw["batch"])[0], CLASSES)),
    Fn("ascent.visualize", ascent.visualize,
       {"model": st.one_of(const(CNN), BAD_MODELS),
        "objective": pool((("conv2", 1), GOOD), (("conv2", range(2)), GOOD), (("logits", 2), GOOD),
                          (("conv2", 99), BAD), (("nope", 0), BAD), (("conv2", range(0)), BAD), ("conv2", BAD),
                          (("conv2", 1, (99, 99)), BAD), ((("conv2", -1)), BAD), (None, BAD)),
        "steps": counts(good=(1, 2), huge=BAD), "lr": reals(0.001, 1, bad=(0.0, -1.0)),
        "seed": SEED, "progress": const(False),
        "transforms": pool((("jitter",), GOOD), ((), GOOD), ((("jitter", float("nan")),), BAD), (("shear",), BAD),
                           ((("scale", "big"),), BAD)),
        "regularizers": pool(((), GOOD), (("l2", ("tv", 0.5)), GOOD), ((("l2", float("inf")),), BAD), (("l1",), BAD)),
        "size": pool((None, GOOD), (20, GOOD), (0, BAD), (10**6, BAD))},
       lambda r, kw: np.isfinite(r.images).all(), examples=5,
       aliases={"objective": "layer|channel|position|unit|objective", "transforms": "jitter|scale",
                "regularizers": "l2|tv"}),
    Fn("units.embed", units.embed,
       {"model": st.one_of(const(CNN), BAD_MODELS), "images": st.one_of(const(IMAGES), BAD_IMAGES),
        "method": choices(("pca",), bad=("umap",)), "layer": LAYER, "perplexity": reals(0.5, 2, bad=(0.0,))},
       lambda r, kw: r.shape == (_n_images(kw["images"])[0], 2)),
    Fn("tcav.tcav", lambda **kw: tcav.tcav(n_concept=4, **kw),
       {"model": st.one_of(const(CNN), BAD_MODELS), "class_images": st.one_of(good_images(), BAD_IMAGES),
        "layers": pool(("conv2", GOOD), (["conv1", "conv2"], GOOD), ("conv9", BAD), ((), BAD)),
        "target": pool((1, GOOD), (-1, BAD), (1.5, BAD), (None, BAD)),
        "concept": pool(("red", GOOD), ("purple-ish", BAD), (None, BAD), ((), BAD)),
        "n_random": pool((2, GOOD), (1, BAD), (2**40, BAD)), "alpha": reals(0.01, 0.5, bad=(0.0, 1.0))},
       lambda r, kw: None, examples=3, aliases={"class_images": "class_images|images"}),
    Fn("distill.predict_classes", distill.predict_classes,
       {"model": st.one_of(const(LOAN_MODEL), pool((None, BAD), ("loan", BAD), (lambda: MODELS["two_inputs"], BAD))),
        "X": pool((lambda: LOAN.X, GOOD), (lambda: LOAN.X.tolist(), GOOD), (lambda: _with_one(LOAN.X, np.nan), BAD),
                  (lambda: LOAN.X[:, :5], BAD), (lambda: LOAN.X[0], BAD), (lambda: LOAN.X[:0], BAD), ("x", BAD)),
        "batch_size": BATCH},
       lambda r, kw: r.shape == (len(LOAN.X),)),
    Fn("distill.surrogate_tree", distill.surrogate_tree,
       {"model": const(LOAN_MODEL), "X": pool((lambda: LOAN.X, GOOD), (lambda: _with_one(LOAN.X, np.inf), BAD)),
        "y": pool((None, GOOD), (lambda: LOAN.y, GOOD), (lambda: LOAN.y - 1, BAD), (lambda: LOAN.y + 0.5, BAD),
                  (lambda: LOAN.y[:5], BAD)),
        "max_depth": counts(huge=BAD), "test_size": reals(0.1, 0.5, bad=(0.0, 1.0)),
        "feature_names": pool((None, GOOD), ("abc", BAD), (["a"], BAD))},
       lambda r, kw: 0 <= r.fidelity <= 1),
    Fn("distill.distill_cnn", distill.distill_cnn,
       {"teacher": st.one_of(const(CNN), BAD_MODELS), "images": st.one_of(const(IMAGES), BAD_IMAGES),
        "labels": pool((None, GOOD), (lambda: np.array([0, 1, 2, 0]), GOOD), (lambda: np.array([-1, 0, 1, 2]), BAD),
                       (lambda: np.array([0, 1, 2, 3]), BAD), (lambda: np.array([0.5, 1, 2, 0]), BAD)),
        "temperature": reals(0.5, 8, bad=(0.0,)), "learning_rate": reals(1e-4, 0.1, bad=(0.0, -0.01)),
        "epochs": const(1), "widths": pool(((2,), GOOD), ((0,), BAD), ("8", BAD), ((), BAD)),
        "batch_size": BATCH},
       lambda r, kw: isinstance(r, keras.Model), examples=3, aliases={"teacher": "teacher|model"}),
    Fn("fairness.explain_applicant", fairness.explain_applicant,
       {"model": const(LOAN_MODEL), "row": pool((lambda: LOAN.X[0], GOOD), (lambda: LOAN.X[0, :5], BAD),
                                                (lambda: LOAN.X[:2], BAD), (lambda: LOAN.X[0] * np.nan, BAD)),
        "background": const(lambda: LOAN.X[:10]), "target": pool((0, GOOD), (1, GOOD), (1.5, BAD), (2, BAD), (-1, BAD)),
        "method": choices(("shap", "lime")), "n_samples": const(40)},
       lambda r, kw: math.isfinite(r.prediction), examples=4),
    Fn("fairness.group_rates", fairness.group_rates,
       {"decisions": pool((lambda: LOAN.y, GOOD), (lambda: LOAN.y * 2, BAD), (lambda: LOAN.y * np.nan, BAD),
                          (lambda: LOAN.y[:5], BAD)),
        "groups": const(lambda: LOAN.raw["sex"]),
        "merit": pool((None, GOOD), (lambda: LOAN.merit, GOOD), (lambda: LOAN.merit * np.nan, BAD))},
       lambda r, kw: all(0 <= g.rate <= 1 for g in r)),
    Fn("datasets.toy_world", datasets.toy_world,
       {"scenario": choices(("shapes", "tanks")), "split": const("test"),
        "n": st.one_of(st.integers(1, 3).map(lambda v: (v, GOOD)), pool((0, BAD), (10**9, BAD), (1.5, BAD))),
        "size": pool((16, GOOD), (24, GOOD), (8, BAD), (10**6, BAD)), "seed": SEED},
       lambda r, kw: r.images.shape == (kw["n"], kw["size"], kw["size"], 3)),
    Fn("datasets.encode_loan", datasets.encode_loan,
       {"raw": pool((lambda: LOAN.raw, GOOD), (lambda: {**LOAN.raw, "sex": np.array(["F"] * len(LOAN.y))}, BAD),
                    (lambda: {k: v for k, v in LOAN.raw.items() if k != "age"}, BAD),
                    (lambda: {**LOAN.raw, "age": LOAN.raw["age"] * np.nan}, BAD), (None, BAD))},
       lambda r, kw: r[0].shape == (len(LOAN.y), len(LOAN.feature_names))),
    Fn("metrics.pointing_game", metrics.pointing_game,
       {"maps": pool((lambda: MAPS, GOOD), (lambda: MAPS[0], EITHER), (lambda: MAPS * np.nan, BAD),
                     (lambda: MAPS[:2], BAD), (lambda: MAPS[None], BAD)),
        "masks": pool((lambda: MASKS, GOOD), (lambda: MASKS[:, :8], BAD), (lambda: MAPS, BAD), (None, BAD)),
        "tolerance": st.one_of(st.integers(0, 10**6).map(lambda v: (v, GOOD)), pool((-1, BAD), (1.5, BAD)))},
       None),
    Fn("metrics.randomization_check", lambda **kw: metrics.randomization_check(gradients.saliency, **kw),
       {"model": st.one_of(const(CNN), BAD_MODELS), "images": st.one_of(const(lambda: IMAGES[:2]), BAD_IMAGES),
        "layers": pool((None, GOOD), (["conv2"], GOOD), ("logits", GOOD), (["gap"], BAD), (["nope"], BAD), ([], BAD))},
       lambda r, kw: r.correlations.ndim == 2, examples=4),
    Fn("plot.heatmap", plot.heatmap,
       {"image": pool((lambda: IMAGES[0], GOOD), (None, GOOD), (lambda: IMAGES[0] * np.nan, BAD), ("x", BAD)),
        "map": pool((lambda: MAPS[0], GOOD), (lambda: MAPS[0, :4, :4], GOOD), (lambda: MAPS[0] * np.nan, BAD),
                    (lambda: MAPS, BAD), (None, BAD)),
        "alpha": reals(0, 1, bad=(2.0,)), "percentile": reals(1, 100, bad=(0.0,)), "ax": pool((None, GOOD),
                                                                                               ("left", BAD))},
       None),
    Fn("plot.embedding", plot.embedding,
       {"coords": pool((lambda: MAPS[0, :4, :2], GOOD), (lambda: MAPS[0, :4, :3], BAD),
                       (lambda: MAPS[0, :4, :2] * np.nan, BAD)),
        "labels": pool((None, GOOD), ([0, 1, 2, 0], GOOD), (["a", "b", "a", "c"], GOOD), ([-1, 0, 1, 0], BAD),
                       ([0, 1], BAD)),
        "class_names": pool(((), GOOD), (("x", "y", "z"), GOOD), ("abc", BAD)),
        "thumbnails": pool((0, GOOD), (2, EITHER), (-1, BAD))},
       None, aliases={"thumbnails": "thumbnails|images"}),
    Fn("plot.filters", plot.filters,
       {"weights": pool((lambda: units.filters(CNN), GOOD), (lambda: units.filters(CNN) * np.nan, BAD),
                        (lambda: np.zeros((0, 3, 3, 3)), BAD)),
        "ncols": st.one_of(st.integers(1, 9).map(lambda v: (v, GOOD)), pool((0, BAD), (-2, BAD), (2.5, BAD)))},
       None),
    Fn("widgets.occlusion_explorer", widgets.occlusion_explorer,
       {"model": st.one_of(const(CNN), BAD_MODELS), "images": st.one_of(const(lambda: IMAGES[:2]), BAD_IMAGES),
        "class_names": pool((None, GOOD), (["a", "b", "c"], GOOD), ("abc", BAD), (["a"], BAD)),
        "patch": pool((4, GOOD), (10**6, EITHER), (0, BAD)), "stride": pool((2, GOOD), (0, BAD)),
        "fill": pool(("mean", GOOD), (0.0, GOOD), (float("nan"), BAD), (0.5, BAD))},
       lambda r, kw: np.isfinite(r.result).all(), examples=4),
    Fn("zoo.load", zoo.load, {"name": pool(("loan", GOOD), ("resnet", BAD), (None, BAD), (["loan"], BAD)),
                              "verify": FLAG}, lambda r, kw: isinstance(r, keras.Model), examples=4),
    Fn("objectives.channel", objectives.channel,
       {"layer": pool(("conv2", GOOD), (None, BAD), (1.5, BAD)),
        "index": st.one_of(st.integers(0, 7).map(lambda v: (v, GOOD)), pool((-1, BAD), (1.5, BAD), ("1", BAD)))},
       None),
    Fn("device.setup", device.setup, {"verbose": pool((False, GOOD), ("yes", BAD))}, None),
    Fn("toyworld.random_images", toyworld.random_images,
       {"n": st.one_of(st.integers(1, 2).map(lambda v: (v, GOOD)), pool((0, BAD), (10**9, BAD))),
        "size": pool((16, GOOD), (8, BAD))}, lambda r, kw: r.shape == (kw["n"], 16, 16, 3)),
]


# The rest of the public API: a few examples each (cheap calls), the same property.
ANY_MODELS = pool(  # the layer helpers work on any graph model (a table model too)
    (None, BAD), ("shapes", BAD), (42, BAD), (lambda: MODELS["unbuilt"], BAD), (lambda: MODELS["subclassed"], BAD),
    (lambda: MODELS["mlp"], EITHER), (lambda: MODELS["softmax"], EITHER), (lambda: MODELS["nested"], EITHER),
)
MORE = [
    Fn("ascent.pixel_ascent", ascent.pixel_ascent,
       {"model": st.one_of(const(CNN), BAD_MODELS),
        "objective": pool((("conv2", 1), GOOD), (("logits", 0), GOOD), (("conv2", 99), BAD), (None, BAD)),
        "steps": counts(good=(1, 2), huge=BAD), "lr": reals(0.001, 1, bad=(0.0,)), "seed": SEED},
       lambda r, kw: np.isfinite(r.images).all(), examples=5, aliases={"objective": "layer|channel|objective"}),
    Fn("ascent.channel", ascent.channel,
       {"layer": pool(("conv2", GOOD), (2, GOOD), (None, BAD), (1.5, BAD)),
        "index": st.one_of(st.integers(0, 7).map(lambda v: (v, GOOD)), pool((-1, BAD), (1.5, BAD), ("1", BAD)))},
       None, examples=6),
    Fn("ascent.class_logit", ascent.class_logit,
       {"index": st.one_of(st.integers(0, 2).map(lambda v: (v, GOOD)), pool((-1, BAD), (1.5, BAD), (None, BAD)))},
       None, examples=5),
    Fn("toyworld.concept_images", toyworld.concept_images,
       {"concept": choices(("red", "random", "dots"), bad=("purple-ish", 3)),
        "n": st.one_of(st.integers(1, 3).map(lambda v: (v, GOOD)), pool((0, BAD), (10**9, BAD), (1.5, BAD))),
        "size": pool((16, GOOD), (8, BAD), (10**6, BAD)), "seed": SEED},
       lambda r, kw: r.shape == (kw["n"], kw["size"], kw["size"], 3), examples=8),
    Fn("datasets.loan_table", datasets.loan_table,
       {"split": choices(("train", "test"), bad=("val",)),
        "n": st.one_of(st.integers(20, 60).map(lambda v: (v, GOOD)), pool((0, BAD), (10**12, BAD), (2.5, BAD))),
        "seed": SEED},
       lambda r, kw: r.X.shape[0] == kw["n"], examples=6),
    Fn("distill.model_scores", distill.model_scores,
       {"model": st.one_of(const(LOAN_MODEL), pool((None, BAD), ("loan", BAD), (lambda: CNN, BAD))),
        "X": pool((lambda: LOAN.X, GOOD), (lambda: _with_one(LOAN.X, np.inf), BAD), (lambda: LOAN.X[:, :3], BAD),
                  (lambda: IMAGES, BAD)),
        "batch_size": BATCH},
       lambda r, kw: len(r) == len(LOAN.X), examples=6),
    Fn("distill.surrogate_linear", distill.surrogate_linear,
       {"model": const(LOAN_MODEL), "X": pool((lambda: LOAN.X, GOOD), (lambda: _with_one(LOAN.X, np.nan), BAD)),
        "C": reals(0.01, 10, bad=(0.0, -1.0)), "feature_names": pool((None, GOOD), ("abc", BAD))},
       lambda r, kw: 0 <= r.fidelity <= 1, examples=5),
    Fn("distill.agreement", distill.agreement,
       {"teacher": st.one_of(const(CNN), BAD_MODELS), "student": st.one_of(const(CNN), pool((None, BAD))),
        "images": st.one_of(good_images(), BAD_IMAGES), "batch_size": BATCH},
       lambda r, kw: 0 <= r <= 1, examples=8),
    Fn("fairness.permutation_importance", fairness.permutation_importance,
       {"model": st.one_of(const(LOAN_MODEL), pool((None, BAD), (lambda: CNN, BAD))),
        "X": pool((lambda: LOAN.X[:40], GOOD), (lambda: _with_one(LOAN.X[:40], np.nan), BAD),
                  (lambda: LOAN.X[:40, :4], BAD)),
        "feature_names": pool((lambda: LOAN.feature_names, GOOD), ("abc", BAD)),
        "n_repeats": counts(good=(1, 2), huge=BAD), "seed": SEED},
       None, examples=6),
    Fn("fairness.flip_test", fairness.flip_test,
       {"model": st.one_of(const(LOAN_MODEL), pool((None, BAD), (lambda: CNN, BAD))),
        "X": pool((lambda: LOAN.X[:40], GOOD), (lambda: _with_one(LOAN.X[:40], np.nan), BAD)),
        "column": pool(("sex=female", GOOD), ("nope", BAD), (99, BAD), (None, BAD)),
        "feature_names": const(lambda: LOAN.feature_names)},
       None, examples=6),
    Fn("layers.resolve_layer", layers.resolve_layer, {"model": st.one_of(const(CNN), ANY_MODELS), "layer": LAYER},
       lambda r, kw: isinstance(r, keras.layers.Layer), examples=8),
    Fn("layers.feature_model", layers.feature_model,
       {"model": st.one_of(const(CNN), ANY_MODELS), "layers": LAYER, "logits": FLAG},
       lambda r, kw: isinstance(r, keras.Model), examples=8),
    Fn("layers.last_conv_layer", layers.last_conv_layer, {"model": st.one_of(const(CNN), ANY_MODELS)},
       lambda r, kw: isinstance(r, keras.layers.Layer), examples=6),
    Fn("lime_shap.predict_fn", lambda **kw: lime_shap.predict_fn(kw.pop("model"), **kw)(kw_images()),
       {"model": st.one_of(const(CNN), BAD_MODELS), "batch_size": BATCH, "softmax": FLAG},
       lambda r, kw: r.shape == (4, CLASSES), examples=6),
    Fn("metrics.mask_energy", metrics.mask_energy,
       {"maps": pool((lambda: MAPS, GOOD), (lambda: MAPS * np.nan, BAD), (lambda: MAPS[:2], BAD), ("x", BAD)),
        "masks": pool((lambda: MASKS, GOOD), (lambda: MASKS[:, :8], BAD), (None, BAD))},
       None, examples=6),
    Fn("metrics.random_baseline", metrics.random_baseline,
       {"masks": pool((lambda: MASKS, GOOD), (lambda: MASKS[0], GOOD), (None, BAD), (lambda: MAPS, BAD)),
        "n_maps": counts(good=(1, 4), huge=BAD), "smooth": reals(0, 2, bad=(-1.0,)),
        "tolerance": pool((0, GOOD), (2, GOOD), (-1, BAD), (1.5, BAD)), "seed": SEED},
       None, examples=6),
    attribution("metrics.insertion_curve",
                lambda **kw: metrics.insertion_curve(maps=maps_for(kw.get("images")), **kw), examples=4,
                check=lambda r, kw: _curve_check(r, kw), steps=counts(good=(2, 3)),
                fill=st.one_of(reals(0, 1, bad=()))),
    Fn("metrics.auc", metrics.auc,
       {"fractions": pool((lambda: np.linspace(0, 1, 5), GOOD), (lambda: np.array([0, np.nan, 1.0]), BAD),
                          ("x", BAD), (lambda: np.zeros((2, 5)), BAD)),
        "scores": pool((lambda: np.ones((3, 5)), GOOD), (lambda: np.ones(5), GOOD), (lambda: np.ones((3, 4)), BAD),
                       (lambda: np.full(5, np.inf), BAD))},
       None, examples=8),
    Fn("plot.image", plot.image,
       {"img": pool((lambda: IMAGES[0], GOOD), (lambda: IMAGES[0] * np.nan, BAD), (lambda: IMAGES, BAD), (None, BAD)),
        "title": pool((None, GOOD), ("t", GOOD))},
       None, examples=5),
    Fn("plot.activation_grid", plot.activation_grid,
       {"maps": pool((lambda: MAPS[0, :8, :8, None].repeat(4, -1), GOOD), (lambda: MAPS * np.nan, BAD),
                     (lambda: MAPS[0, 0], BAD)),
        "ncols": st.one_of(st.integers(1, 8).map(lambda v: (v, GOOD)), pool((0, BAD), (2.5, BAD)))},
       None, examples=5),
    Fn("plot.visualizations", plot.visualizations,
       {"images": pool((lambda: IMAGES[:2], GOOD), (lambda: IMAGES[:2] * np.nan, BAD), (lambda: IMAGES[:0], BAD)),
        "ncols": st.one_of(st.integers(1, 4).map(lambda v: (v, GOOD)), pool((0, BAD), (-1, BAD))),
        "labels": pool(((), GOOD), (("a", "b"), GOOD), ("ab", BAD))},
       None, examples=5),
    Fn("plot.curves", plot.curves,
       {"curves_by_method": pool(({"a": np.linspace(1, 0, 5)}, GOOD), ({"a": np.array([1.0, np.nan])}, BAD),
                                 ({}, BAD), (None, BAD))},
       None, examples=4),
    Fn("plot.attribution_grid", plot.attribution_grid,
       {"images": pool((lambda: IMAGES[:2], GOOD), (lambda: IMAGES[:2] * np.nan, BAD), (lambda: IMAGES[0, 0], BAD)),
        "maps_by_method": pool((lambda: {"m": MAPS[:2]}, GOOD), (lambda: {"m": MAPS[:3]}, BAD),
                               (lambda: {"m": MAPS[:2] * np.nan}, BAD), (lambda: MAPS[:2], BAD), ({}, BAD)),
        "alpha": reals(0, 1, bad=(2.0,)), "percentile": reals(1, 100, bad=(0.0,))},
       None, examples=5),
    Fn("plot.objective_trace", plot.objective_trace,
       {"trace": pool((lambda: np.linspace(0, 1, 12).reshape(6, 2), GOOD), (lambda: np.linspace(0, 1, 6), BAD),
                      (lambda: np.array([0, np.nan]), BAD), (lambda: np.zeros(0), BAD), ("x", BAD)),
        "labels": pool(((), GOOD), (("a", "b"), GOOD), ("ab", BAD))},
       None, examples=5),
    Fn("plot.toy_world_grid", plot.toy_world_grid,
       {"data": pool((DATA, GOOD), (lambda: IMAGES, BAD), (None, BAD)),
        "n": st.one_of(st.integers(1, 4).map(lambda v: (v, GOOD)), pool((0, BAD), (1.5, BAD), (-1, BAD)))},
       None, examples=5),
    Fn("plot.concept_grid", plot.concept_grid,
       {"sets": pool((lambda: {"red": CONCEPT[:3]}, GOOD), (lambda: {"red": CONCEPT[:3] * np.nan}, BAD), ({}, BAD),
                     (lambda: CONCEPT, BAD), (None, BAD))},
       None, examples=4),
    Fn("targets.softmax", targets.softmax,
       {"logits": pool((lambda: np.array([[1.0, 2.0, 3.0]]), GOOD), (lambda: np.array([[1.0, np.nan]]), BAD),
                       ("x", BAD), (None, BAD))},
       lambda r, kw: np.allclose(np.sum(r, axis=-1), 1), examples=4),
    Fn("targets.num_classes", targets.num_classes, {"model": st.one_of(const(CNN), ANY_MODELS)},
       lambda r, kw: r == (2 if kw["model"] is MODELS["mlp"] else CLASSES), examples=6),
    Fn("tcav.fit_cav", tcav.fit_cav,
       {"model": st.one_of(const(CNN), BAD_MODELS), "layer": LAYER,
        "concept_images": st.one_of(const(CONCEPT), BAD_IMAGES), "random_images": const(RANDOM),
        "classifier": choices(("logistic",), bad=("svm_rbf",)), "seed": SEED},
       lambda r, kw: np.isfinite(r.vector).all(), examples=8),
    Fn("tcav.tcav_score", lambda **kw: tcav.tcav_score(cav=CAV, **kw),
       {"model": st.one_of(const(CNN), BAD_MODELS), "images": st.one_of(good_images(), BAD_IMAGES),
        "target": pool((0, GOOD), (2, GOOD), (-1, BAD), (1.5, BAD)), "batch_size": BATCH},
       lambda r, kw: 0 <= r <= 1, examples=8),
    Fn("units.filters", units.filters,
       {"model": st.one_of(const(CNN), BAD_MODELS), "layer": pool((None, GOOD), ("conv1", GOOD), ("gap", BAD),
                                                                  ("conv9", BAD)),
        "scale": choices(("filter", "layer"), bad=("global",))},
       lambda r, kw: r.ndim == 4, examples=8),
    Fn("units.receptive_field", units.receptive_field,
       {"model": st.one_of(const(CNN), BAD_MODELS), "layer": LAYER,
        "input_size": pool((None, GOOD), ((16, 16), GOOD), ((0, 16), BAD), ("16", BAD))},
       None, examples=8),
    Fn("widgets.gradcam_explorer", widgets.gradcam_explorer,
       {"model": st.one_of(const(CNN), BAD_MODELS), "images": st.one_of(const(lambda: IMAGES[:2]), BAD_IMAGES),
        "class_names": pool((None, GOOD), (["a", "b", "c"], GOOD), ("abc", BAD), (["a"], BAD))},
       None, examples=4),
    Fn("widgets.layer_explorer", widgets.layer_explorer,
       {"model": st.one_of(const(CNN), BAD_MODELS), "images": st.one_of(const(lambda: IMAGES[:2]), BAD_IMAGES),
        "max_channels": pool((4, GOOD), (0, BAD), (1.5, BAD))},
       None, examples=4),
    Fn("zoo.build_cnn", zoo.build_cnn,
       {"input_shape": pool(((16, 16, 3), GOOD), ((16, 16), BAD), ((0, 16, 3), BAD), ("16", BAD)),
        "num_classes": counts(good=(2, 3), huge=EITHER), "widths": pool(((4,), GOOD), ((), BAD), ((0,), BAD))},
       lambda r, kw: isinstance(r, keras.Model), examples=6),
    Fn("zoo.build_mlp", zoo.build_mlp,
       {"n_features": counts(good=(3, 5), huge=EITHER), "num_classes": counts(good=(2,), huge=EITHER),
        "hidden": pool(((4,), GOOD), ((), BAD), ("8", BAD))},
       lambda r, kw: isinstance(r, keras.Model), examples=6),
]


def kw_images():
    return IMAGES


def _curve_check(result, kw):
    fractions, scores = result
    n, single = _n_images(kw["images"])
    assert fractions.shape == (kw["steps"] + 1,) and scores.shape == ((kw["steps"] + 1,) if single
                                                                      else (n, kw["steps"] + 1))


CAV = tcav.fit_cav(CNN, "conv2", CONCEPT, RANDOM)


# --- the property ---------------------------------------------------------------------------------------


def _raised_in_labkit(err: BaseException) -> bool:
    tb, last = err.__traceback__, None
    while tb is not None:
        last, tb = tb.tb_frame.f_code.co_filename, tb.tb_next
    return last is not None and f"{os.sep}labkit{os.sep}" in last


def _finite(value, depth: int = 0) -> bool:
    """No NaN or inf anywhere in a result: arrays, numbers, tuples, dataclasses, models' weights."""
    if depth > 5 or value is None or isinstance(value, (str, bytes, bool)):
        return True
    if isinstance(value, (float, int, np.number)):
        return bool(np.isfinite(value))
    if isinstance(value, np.ndarray):
        return value.dtype.kind not in "fc" or bool(np.isfinite(value).all())
    if isinstance(value, keras.Model):
        return all(np.isfinite(w).all() for w in value.get_weights())
    if isinstance(value, dict):
        return all(_finite(v, depth + 1) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_finite(v, depth + 1) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return all(_finite(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value))
    return True


NAN_DOCUMENTED = {"metrics.pointing_game"}  # NaN for an image whose mask is empty (nothing to point at)


@st.composite
def calls(draw, fn: Fn):
    """Arguments for one call: all valid, or one or two of them bad or borderline, the others valid."""
    names = [name for name in fn.args if not getattr(fn.args[name], "fuzz_fixed", False)]
    how_many = draw(st.sampled_from((1, 1, 0, 2))) if names else 0  # mostly one bad argument, whose name must show
    varied = draw(st.lists(st.sampled_from(names), min_size=min(how_many, len(names)), max_size=how_many,
                           unique=True))
    drawn = {}
    for name, strategy in fn.args.items():
        wanted = (lambda entry: entry[1] != GOOD) if name in varied else (lambda entry: entry[1] == GOOD)
        drawn[name] = draw(strategy.filter(wanted))
    return drawn


@pytest.mark.parametrize("fn", FUNCTIONS + MORE, ids=repr)
def test_clear_error_or_finite_result(fn):
    @settings(max_examples=fn.examples, derandomize=True, deadline=None, database=None, print_blob=False,
              suppress_health_check=list(HealthCheck))
    @given(calls(fn))
    def check(drawn):
        kwargs = {name: value for name, (value, _) in drawn.items()}
        verdicts = {name: verdict for name, (_, verdict) in drawn.items()}
        suspects = [name for name, verdict in verdicts.items() if verdict != GOOD]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                result = fn.call(**kwargs)
            except (ValueError, TypeError) as err:
                assert _raised_in_labkit(err), f"{fn.name}: raw {type(err).__name__} from a library: {err}"
                assert suspects, f"{fn.name} refused valid input {kwargs!r:.300}: {err}"
                names = [alias for name in suspects for alias in fn.aliases.get(name, name).split("|")]
                assert any(name in str(err) for name in names), f"{fn.name}: the error does not name {names}: {err}"
                return
        bad = [name for name, verdict in verdicts.items() if verdict == BAD]
        assert not bad, f"{fn.name} accepted bad {bad}={[kwargs[b] for b in bad]!r:.200}"
        assert fn.name in NAN_DOCUMENTED or _finite(result), f"{fn.name} returned NaN or inf for {kwargs!r:.300}"
        if fn.check is not None:
            assert fn.check(result, kwargs) is not False, f"{fn.name}: result of the wrong shape"

    try:
        check()
    finally:
        import matplotlib.pyplot as plt

        plt.close("all")
