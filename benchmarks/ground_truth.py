"""Is each attribution method right? Measured against the toy world's ground truth.

    python -m benchmarks.ground_truth            # writes benchmarks/results/ground_truth.md
    python -m benchmarks.ground_truth --quick    # fewer images, for a smoke test

Three measurements with the shipped zoo models:

1. ``shapes``: on fresh test images (seed 7, never used in training) the
   pointing game and mask energy of every method against the object masks,
   the deletion/insertion AUCs, and three maps that know nothing (uniform
   noise, smoothed noise, a blob in the centre) as baselines.
2. ``tanks`` on its independent-weather test split: where the attribution
   for "tank" lies, on the tank, in the sky (above the horizon) or on the
   ground. The model learned the weather shortcut, and this is where it shows.
3. The model-randomization sanity check (Adebayo et al. 2018) on ``shapes``:
   rank correlation of each method's maps with the trained model's as the
   layers are re-initialised from the top.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
TOLERANCE = 4  # pointing-game tolerance in pixels: Zhang et al.'s 15 px at 224 px, scaled to 64 px


@dataclass
class Method:
    name: str
    explain: Callable  # (model, images, target) -> (N, h, w)
    subset: int | None = None  # only the first `subset` images (slow model-agnostic methods)
    note: str = ""


def mean_colour(scenario: str) -> np.ndarray:
    """(3,) mean colour of the scenario's training images: the 'absence of signal' fill."""
    from labkit.datasets import toy_world

    return toy_world(scenario, "train", 500, seed=0).images.mean(axis=(0, 1, 2))


def methods(quick: bool = False, fill=(0.5, 0.5, 0.5)) -> list[Method]:
    """Every labkit method with the settings used in all three measurements.

    ``fill``: the colour occlusion and SHAP's masker hide pixels with (the
    training images' mean colour); black is also shown for occlusion, because
    on the toy world a black patch is an object of its own.
    """
    from labkit.cam import cam, grad_cam, grad_cam_pp
    from labkit.gradients import integrated_gradients, saliency, smoothgrad
    from labkit.lime_shap import lime_map, shap_map
    from labkit.occlusion import occlusion

    few = 8 if quick else 50
    fill = tuple(float(v) for v in fill)
    colour = "(" + ", ".join(f"{v:.2f}" for v in fill) + ")"
    return [
        Method("occlusion", lambda m, x, t: occlusion(m, x, t, patch=8, stride=4, fill=fill),
               note=f"8x8 patch of the mean colour {colour}, stride 4"),
        Method("occlusion (black fill)", lambda m, x, t: occlusion(m, x, t, patch=8, stride=4, fill=0.0),
               note="8x8 black patch (labkit's default fill), stride 4"),
        Method("saliency", lambda m, x, t: saliency(m, x, t), note="abs(grad), max over RGB"),
        Method("smoothgrad", lambda m, x, t: smoothgrad(m, x, t, n=32, noise=0.15), note="n=32, noise 15%"),
        Method("integrated_gradients", lambda m, x, t: integrated_gradients(m, x, t, steps=64),
               note="black baseline, 64 steps, channels summed"),
        Method("cam", lambda m, x, t: cam(m, x, t), note="conv4 (8x8), resized to 64x64"),
        Method("grad_cam", lambda m, x, t: grad_cam(m, x, t), note="conv4 (8x8), resized"),
        Method("grad_cam (conv3)", lambda m, x, t: grad_cam(m, x, t, layer="conv3"), note="16x16, resized"),
        Method("grad_cam_pp", lambda m, x, t: grad_cam_pp(m, x, t), note="conv4 (8x8), resized"),
        Method("lime", lambda m, x, t: lime_map(m, x, t, num_samples=500, n_segments=50), subset=few,
               note="lime package, SLIC ~50 superpixels, hidden = superpixel mean colour, 500 samples"),
        Method("shap (partition)", lambda m, x, t: shap_map(m, x, t, max_evals=1000, fill=np.array(fill)),
               subset=few, note="shap Partition, mean-colour fill, 1000 evals"),
        Method("shap (gradient)", lambda m, x, t: shap_map(m, x, t, explainer="gradient", nsamples=64),
               subset=few, note="shap GradientExplainer, black background, 64 samples"),
    ]


def _fmt(value: float, percent: bool = False) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{100 * value:.1f}%" if percent else f"{value:.3f}"


def _explain_all(model, images, targets, chosen: list[Method]) -> dict:
    """{name: (maps, seconds, n)} for every method (subset methods on the first images only)."""
    out = {}
    for method in chosen:
        n = len(images) if method.subset is None else min(method.subset, len(images))
        start = time.perf_counter()
        maps = method.explain(model, images[:n], targets[:n])
        out[method.name] = (np.asarray(maps, np.float32), time.perf_counter() - start, n)
        print(f"  {method.name}: {n} images in {out[method.name][1]:.1f} s", flush=True)
    return out


def _centre_blob(shape: tuple) -> np.ndarray:
    """A Gaussian blob in the image centre: the 'objects are in the middle' prior."""
    n, h, w = shape
    y, x = np.mgrid[:h, :w]
    blob = np.exp(-(((y - (h - 1) / 2) ** 2 + (x - (w - 1) / 2) ** 2) / (2 * (h / 6) ** 2)))
    return np.broadcast_to(blob, shape).astype(np.float32)


# --- 1. shapes: pointing game, mask energy, deletion / insertion ----------------------------


def shapes_table(quick: bool = False) -> str:
    from scipy import ndimage

    from labkit import metrics, zoo
    from labkit.datasets import toy_world

    n = 40 if quick else 200
    data = toy_world("shapes", "test", n, seed=7)
    model = zoo.load("shapes")
    targets = data.labels  # explain the true class, whose object the mask outlines
    accuracy = float(np.mean(model.predict(data.images, verbose=0).argmax(1) == data.labels))
    colour = mean_colour("shapes")
    chosen = methods(quick, colour)
    print(f"shapes: {n} test images (seed 7), accuracy {accuracy:.1%}", flush=True)
    results = _explain_all(model, data.images, targets, chosen)
    blurred = ndimage.gaussian_filter(data.images, sigma=(0, 4, 4, 0))  # RISE's insertion canvas
    rng = np.random.default_rng(0)
    noise = rng.random(data.masks.shape, dtype=np.float32)
    results["random: uniform noise"] = (noise, 0.0, n)
    results["random: smoothed noise (sigma 4 px)"] = (ndimage.gaussian_filter(noise, (0, 4, 4)), 0.0, n)
    results["prior: centre blob"] = (_centre_blob(data.masks.shape), 0.0, n)

    rows, subset_rows = [], []
    few = chosen[-1].subset if chosen[-1].subset else n
    for name, (maps, seconds, count) in results.items():
        masks = data.masks[:count]
        hits = metrics.pointing_game(maps, masks)
        near = metrics.pointing_game(maps, masks, tolerance=TOLERANCE)
        energy = metrics.mask_energy(maps, masks)
        fr, deleted = metrics.deletion_curve(model, data.images[:count], maps, targets[:count], steps=32,
                                             fill=colour)
        _, inserted = metrics.insertion_curve(model, data.images[:count], maps, targets[:count], steps=32,
                                              fill=blurred[:count])
        note = next((m.note for m in chosen if m.name == name), "baseline: knows nothing about the image")
        rows.append(f"| {name} | {count} | {_fmt(np.nanmean(hits), True)} | {_fmt(np.nanmean(near), True)} | "
                    f"{_fmt(np.nanmean(energy))} | "
                    f"{_fmt(metrics.auc(fr, deleted).mean())} | {_fmt(metrics.auc(fr, inserted).mean())} | "
                    f"{seconds:.1f} | {note} |")
        subset_rows.append(f"| {name} | {_fmt(np.nanmean(hits[:few]), True)} | {_fmt(np.nanmean(near[:few]), True)} | "
                           f"{_fmt(np.nanmean(energy[:few]))} |")
    expected_pointing, expected_energy = metrics.random_baseline(data.masks, n_maps=64, seed=0)
    area = data.masks.mean(axis=(1, 2))
    head = (f"| method | images | pointing game | pointing game, {TOLERANCE} px | mask energy | "
            "deletion AUC (lower = better) | insertion AUC (higher = better) | seconds | settings |\n"
            "|---|---|---|---|---|---|---|---|---|")
    text = [
        "## 1. `shapes`: does the map point at the object?\n",
        f"{n} fresh `shapes` test images (`toy_world('shapes', 'test', {n}, seed=7)`; the model was "
        f"trained on the train split with seed 0), shipped `zoo.load('shapes')` "
        f"(accuracy on these images {accuracy:.1%}). Target = the true class. Pointing game: share of "
        f"images whose map maximum lies on the object (ties count fractionally); with {TOLERANCE} px: "
        f"within {TOLERANCE} pixels of it, the paper's 15 px on 224 px images scaled to 64 px. Mask energy: share of "
        f"the positive attribution inside the object mask. Coarse maps (CAM family, 8x8 or 16x16) are "
        f"resized bilinearly to 64x64 before scoring. Deletion: pixels set to the training images' mean "
        f"colour {tuple(round(float(v), 2) for v in colour)}, most important first; "
        f"insertion: from a blurred copy (Gaussian, sigma 4 px); AUC of the target's softmax "
        f"probability over the share of pixels changed (33 points).\n",
        head, *rows, "",
        f"Object area: {area.mean():.1%} of the image on average; `random_baseline` (uniform noise, "
        f"64 maps per image) expects pointing game {np.nanmean(expected_pointing):.1%} and mask energy "
        f"{np.nanmean(expected_energy):.3f}.\n",
        f"The same scores on the first {few} images only (the LIME/SHAP subset), for a like-for-like "
        f"comparison:\n",
        f"| method | pointing game | pointing game, {TOLERANCE} px | mask energy |\n|---|---|---|---|",
        *subset_rows, "",
    ]
    return "\n".join(text)


# --- 2. tanks: where is the evidence for "tank"? -------------------------------------------


def _regions(data) -> dict:
    """Tank, sky (above the horizon) and ground masks, (N, H, W) each, splitting every image."""
    n, h, w = data.masks.shape
    rows = (np.arange(h) + 0.5) / h  # pixel-centre heights as fractions, like the generator
    above = rows[None, :, None] < data.factors["horizon"][:, None, None]  # (N, H, 1)
    above = np.broadcast_to(above, (n, h, w))
    return {"tank": data.masks, "sky": above & ~data.masks, "ground": ~above & ~data.masks}


def tanks_table(quick: bool = False) -> str:
    from labkit import metrics, zoo
    from labkit.datasets import toy_world

    data = toy_world("tanks", "test", 80 if quick else 400, seed=7)
    data = data[data.labels == 1]  # images that contain a tank
    model = zoo.load("tanks")
    n = len(data)
    predicted = model.predict(data.images, verbose=0).argmax(1)
    cloudy = data.factors["weather"] == 1
    targets = np.ones(n, np.int64)  # explain "tank"
    chosen = [m for m in methods(quick, mean_colour("tanks")) if m.name != "grad_cam (conv3)"]
    for m in chosen:
        if m.subset:
            m.subset = 8 if quick else 40
    print(f"tanks: {n} test images with a tank", flush=True)
    results = _explain_all(model, data.images, targets, chosen)
    regions = _regions(data)
    rows = []
    for name, (maps, seconds, count) in results.items():
        shares = {k: np.nanmean(metrics.mask_energy(maps, r[:count])) for k, r in regions.items()}
        peaks = {k: np.nanmean(metrics.pointing_game(maps, r[:count])) for k, r in regions.items()}
        outside = 1 - shares["tank"]
        rows.append(f"| {name} | {count} | {_fmt(shares['tank'])} | {_fmt(shares['sky'])} | "
                    f"{_fmt(shares['ground'])} | **{_fmt(outside, True)}** | {_fmt(peaks['tank'], True)} | "
                    f"{_fmt(peaks['sky'], True)} | {_fmt(peaks['ground'], True)} |")
    area = {k: r.mean() for k, r in regions.items()}
    rows.append(f"| area share (a uniform map) | {n} | {_fmt(area['tank'])} | {_fmt(area['sky'])} | "
                f"{_fmt(area['ground'])} | {_fmt(1 - area['tank'], True)} | {_fmt(area['tank'], True)} | "
                f"{_fmt(area['sky'], True)} | {_fmt(area['ground'], True)} |")
    head = ("| method | images | energy on tank | energy in sky | energy on ground | outside the tank | "
            "max on tank | max in sky | max on ground |\n|---|---|---|---|---|---|---|---|---|")
    text = [
        "## 2. `tanks`: the shortcut made measurable\n",
        f"{n} images with a tank from the independent-weather test split "
        f"(`toy_world('tanks', 'test', {80 if quick else 400}, seed=7)`, tank images only; "
        f"{cloudy.mean():.0%} cloudy). The shipped `zoo.load('tanks')` was trained where tank <=> cloudy; "
        f"here it calls {np.mean(predicted == 1):.0%} of these images 'tank' "
        f"({np.mean(predicted[cloudy] == 1):.0%} of the cloudy ones, {np.mean(predicted[~cloudy] == 1):.0%} "
        f"of the sunny ones). Target = 'tank' for every image. Shares of the positive attribution "
        f"(`mask_energy`) in three regions that split each image: the tank's mask, the sky (above the "
        f"generator's `horizon` factor, trees included) and the ground; and where each map's maximum falls.\n",
        head, *rows, "",
    ]
    return "\n".join(text)


# --- 3. randomization sanity check ----------------------------------------------------------


def _edges(model, images, target=None):
    """A map that ignores the model: gradient magnitude of the grey image (the control)."""
    from scipy import ndimage

    grey = np.asarray(images).mean(-1)
    return np.hypot(ndimage.sobel(grey, axis=1), ndimage.sobel(grey, axis=2))


def randomization_table(quick: bool = False) -> str:
    from labkit import metrics, zoo
    from labkit.cam import cam, grad_cam, grad_cam_pp
    from labkit.datasets import toy_world
    from labkit.gradients import integrated_gradients, saliency, smoothgrad
    from labkit.occlusion import occlusion

    n = 8 if quick else 16
    images = toy_world("shapes", "test", n, seed=7).images
    model = zoo.load("shapes")
    fill = tuple(float(v) for v in mean_colour("shapes"))
    checks = {
        "edge detector (control, ignores the model)": _edges,
        "occlusion": lambda m, x, t: occlusion(m, x, t, patch=8, stride=4, fill=fill),
        "saliency": lambda m, x, t: saliency(m, x, t),
        "smoothgrad": lambda m, x, t: smoothgrad(m, x, t, n=16),
        "integrated_gradients": lambda m, x, t: integrated_gradients(m, x, t, steps=32),
        "integrated_gradients, abs": lambda m, x, t: np.abs(integrated_gradients(m, x, t, steps=32)),
        "cam": lambda m, x, t: cam(m, x, t),
        "grad_cam": lambda m, x, t: grad_cam(m, x, t),
        "grad_cam_pp": lambda m, x, t: grad_cam_pp(m, x, t),
    }
    rows, layer_names = [], None
    print(f"randomization: {n} images", flush=True)
    for name, method in checks.items():
        start = time.perf_counter()
        result = metrics.randomization_check(method, model, images, seed=0)
        layer_names = result.layers
        cells = []
        for mean, std, corr in zip(result.mean, result.std, result.correlations):
            undefined = int(np.isnan(corr).sum())
            cells.append(f"{mean:+.2f} ± {std:.2f}" + (f" ({undefined} const.)" if undefined else ""))
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
        print(f"  {name}: {time.perf_counter() - start:.1f} s", flush=True)
    cascade = " | ".join(f"+ {name}" if i else name for i, name in enumerate(layer_names))
    text = [
        "## 3. Model randomization (Adebayo et al. 2018)\n",
        f"`metrics.randomization_check` on `zoo.load('shapes')` (on a clone) with {n} test images "
        f"(seed 7): the layers are re-initialised cumulatively from the logits down (each with its own "
        f"Keras initializer, seed 0), and each column is the Spearman rank correlation (mean ± std over "
        f"images) of the maps with the trained model's, for the trained model's predicted class. "
        f"Near 1: the map does not depend on those weights. 'const.' counts images whose map became "
        f"constant (e.g. all zero after Grad-CAM's ReLU), where the correlation is undefined and left out.\n",
        "| method | " + cascade + " |",
        "|---|" + "---|" * len(layer_names),
        *rows, "",
    ]
    return "\n".join(text)


def run(quick: bool = False, out: Path | None = None) -> str:
    """Run the three measurements; write and return the markdown."""
    import keras
    import tensorflow as tf

    start = time.perf_counter()
    parts = [shapes_table(quick), tanks_table(quick), randomization_table(quick)]
    command = "python -m benchmarks.ground_truth" + (" --quick" if quick else "")
    header = (f"# Attribution against ground truth\n\nProduced by `{command}` (also part of `make bench`) "
              f"with TensorFlow {tf.__version__}, Keras {keras.__version__}, on CPU; "
              f"took {time.perf_counter() - start:.0f} s.\n")
    text = "\n".join([header, *parts])
    out = out or RESULTS / ("ground_truth_quick.md" if quick else "ground_truth.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer images (smoke test)")
    args = parser.parse_args(argv)
    print(run(args.quick))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
