"""Feature visualization: speed against its floor and the peers, and what the images achieve.

    python -m benchmarks.bench_featureviz            # writes benchmarks/results/featureviz.md
    python -m benchmarks.bench_featureviz --quick    # fewer channels/seeds: a smoke test

Measured with the shipped ``shapes`` model:

1. Speed: 256 steps of gradient ascent for a batch of 8 conv4 channels,
   against the floor, 256 forward+backward passes of the same batch through
   a compiled tf.function; one compiled loop against one compiled call per step
   (``visualize(steps_per_call=1)``) and against ``pixel_ascent``, the plain loop.
2. Do the images work? For every conv4 channel, the channel's mean
   activation on its visualization against the best of 1,000 real toy-world
   images; class visualizations classified as their class (softmax >= 0.9);
   the same seed gives the same image.
3. t-SNE / PCA of the penultimate (gap) features of 1,000 images.
4. Peers (xplique, tf-keras-vis) on the same 8 channels, run by
   ``benchmarks/peer_featureviz.py`` in ``.venv-peers`` when it exists; their
   images are scored with the same model here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
CHANNELS = tuple(range(8))  # the speed / peer objective: conv4 channels 0..7
STEPS = 256


def _clock_all(functions: dict, repeat: int = 3) -> dict:
    """Wall and CPU seconds per function: a first call (tracing included), then ``repeat``
    interleaved rounds (so a change in the machine's load hits every function alike);
    the best round counts."""
    out = {}
    for name, function in functions.items():
        start = time.perf_counter()
        function()
        out[name] = {"first": time.perf_counter() - start, "walls": [], "cpus": []}
    for _ in range(repeat):
        for name, function in functions.items():
            start, cpu = time.perf_counter(), time.process_time()
            function()
            out[name]["walls"].append(time.perf_counter() - start)
            out[name]["cpus"].append(time.process_time() - cpu)
    for v in out.values():
        v["wall"], v["cpu"] = min(v["walls"]), min(v["cpus"])
    return out


def floor_functions(model, batch: np.ndarray) -> dict:
    """256 forward+backward passes of ``batch`` (8 conv4 channel means) through a tf.function."""
    import tensorflow as tf

    from labkit.layers import feature_model

    fmodel = feature_model(model, "conv4", logits=False)
    x = tf.constant(batch)
    onehot = tf.one_hot(list(CHANNELS), 64)  # (8, 64): image i scores channel i

    @tf.function
    def forward_backward(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_sum(tf.reduce_mean(fmodel(x, training=False), axis=(1, 2)) * onehot)
        return tape.gradient(score, x)

    @tf.function
    def loop(x):
        for _ in tf.range(STEPS):
            x = x + 1e-12 * forward_backward(x)  # (practically) the same batch; dependent, so no pass is skipped
        return x

    def calls():
        for _ in range(STEPS):
            g = forward_backward(x)
        g.numpy()

    return {"floor: 256 calls of a compiled pass": calls, "floor: one compiled loop of 256 passes": lambda: loop(x).numpy()}


def speed(model, batch: np.ndarray, repeat: int) -> dict:
    """visualize() and pixel_ascent() for 8 channels against the floor, and how many steps per compiled call."""
    from labkit import ascent

    def run(every=None, **kwargs):
        return lambda: ascent.visualize(model, ("conv4", CHANNELS), steps=STEPS, progress=False,
                                        steps_per_call=every, **kwargs)

    functions = floor_functions(model, batch)
    functions.update({
        "labkit: fft + decorrelate + transforms (default), one compiled loop": run(),
        "labkit: default, compiled step called 256 times": run(1),
        "labkit: default, 32 steps per call (the progress bar's 8 calls)": run(32),
        "labkit: pixel, l2 + blur, no transforms (Simonyan)": run(param="pixel", decorrelate=False, transforms=(),
                                                               regularizers=("l2", "blur")),
        "labkit: pixel_ascent, the plain loop (a compiled step called 256 times)":
            lambda: ascent.pixel_ascent(model, ("conv4", CHANNELS), steps=STEPS),
    })
    return _clock_all(functions, repeat)


def channels_vs_real(model, real: np.ndarray, channels: list[int], param: str = "fft") -> dict:
    """Each channel's mean activation on its visualization vs the best real image."""
    from labkit import ascent
    from labkit.layers import activations

    kwargs = {} if param == "fft" else dict(param="pixel", decorrelate=False, transforms=(), regularizers=("l2", "blur"))
    start = time.perf_counter()
    images, _ = ascent.visualize(model, ("conv4", channels), steps=STEPS, progress=False, batch_size=16, **kwargs)
    seconds = time.perf_counter() - start
    synthetic = activations(model, images, "conv4").mean(axis=(1, 2))[np.arange(len(channels)), channels]
    best_real = activations(model, real, "conv4").mean(axis=(1, 2)).max(axis=0)[channels]
    return {"channels": len(channels), "wins": int(np.sum(synthetic > best_real)), "seconds": seconds,
            "median_ratio": float(np.median(synthetic / np.maximum(best_real, 1e-6))),
            "min_ratio": float(np.min(synthetic / np.maximum(best_real, 1e-6))),
            "losers": [int(c) for c, s, r in zip(channels, synthetic, best_real) if s <= r], "images": images}


def classes(model, seeds: list[int]) -> dict:
    """Softmax probability of its own class for each class visualization."""
    import tensorflow as tf

    from labkit import ascent, objectives

    out = {}
    probabilities = [objectives.class_probability(k) for k in range(4)]
    for name, objective in {"logit ('logits', k)": ("logits", range(4)),
                            "log-probability (class_probability(k))": probabilities}.items():
        table = []
        for seed in seeds:
            images, _ = ascent.visualize(model, objective, steps=STEPS, seed=seed, progress=False)
            p = tf.nn.softmax(model.predict(images, verbose=0)).numpy()
            table.append(p[np.arange(4), np.arange(4)])
        out[name] = np.array(table)  # (seeds, 4)
    return out


def determinism(model) -> dict:
    from labkit import ascent

    run = lambda seed: ascent.visualize(model, ("conv4", (0, 1, 2)), steps=64, seed=seed, progress=False).images
    a, b, c = run(0), run(0), run(1)
    return {"bitwise": bool(np.array_equal(a, b)), "max_diff_same_seed": float(np.abs(a - b).max()),
            "mean_diff_other_seed": float(np.abs(a - c).mean())}


def embedding(model, data) -> dict:
    from labkit import units

    def knn(xy, labels, k=5):
        xy = np.asarray(xy, np.float64)
        squared = (xy**2).sum(axis=1)
        d = squared[:, None] + squared[None] - 2 * xy @ xy.T
        np.fill_diagonal(d, np.inf)
        votes = [np.bincount(labels[n], minlength=labels.max() + 1).argmax() for n in np.argsort(d, 1)[:, :k]]
        return float(np.mean(np.array(votes) == labels))

    out = {}
    for method in ("tsne", "pca"):
        start = time.perf_counter()
        xy = units.embed(model, data.images, method=method)
        out[method] = {"seconds": time.perf_counter() - start, "knn5": knn(xy, data.labels)}
    out["raw pixels, no embedding"] = {"seconds": 0.0, "knn5": knn(data.images.reshape(len(data), -1), data.labels)}
    return out


def peers(model, score_images) -> dict:
    """Run benchmarks/peer_featureviz.py in .venv-peers on the same objective; score their images here."""
    if not PEERS_PYTHON.exists():
        return {"status": f"{PEERS_PYTHON} does not exist: peers not run"}
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "shapes_weights.npz"
        np.savez(weights, **{f"{layer.name}/{i}": w for layer in model.layers for i, w in enumerate(layer.get_weights())})
        command = [str(PEERS_PYTHON), str(Path(__file__).with_name("peer_featureviz.py")), str(weights),
                   ",".join(map(str, CHANNELS)), str(STEPS), tmp]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)
        if done.returncode != 0:
            return {"status": f"peer script failed (exit {done.returncode}): {done.stderr.strip()[-800:]}"}
        report = json.loads(done.stdout.strip().splitlines()[-1])
        for name, entry in report["peers"].items():
            path = Path(tmp) / ("".join(ch if ch.isalnum() else "_" for ch in name) + ".npy")
            if entry.get("ok") and path.exists():
                entry["activation"] = score_images(np.load(path))
        return report


def _conv4_scores(model):
    from labkit.layers import activations

    def score(images):
        means = activations(model, images.astype(np.float32), "conv4").mean(axis=(1, 2))  # (8, 64)
        return [float(means[i, c]) for i, c in enumerate(CHANNELS)]

    return score


def _markdown(r: dict, args) -> str:
    fl = {k: v for k, v in r["speed"].items() if k.startswith("floor")}
    floor_wall = min(v["wall"] for v in fl.values())
    floor_cpu = min(v["cpu"] for v in fl.values())
    lines = [
        "# Feature visualization benchmark",
        "",
        f"`{r['command']}` on {r['machine']}; load average at the start {r['load']}, at the end {r['load_end']}.",
        "The machine is shared: wall times swing with the load, CPU seconds of this process are steadier.",
        "Times are the best of 3 interleaved rounds after a first call that includes tracing.",
        "",
        f"## Speed: {STEPS} steps, batch of 8 conv4 channels of `shapes` (64x64)",
        "",
        "| run | wall s | CPU s | x floor (wall) | x floor (CPU) | first call s |",
        "|---|---|---|---|---|---|",
    ]
    for name, v in r["speed"].items():
        lines.append(f"| {name} | {v['wall']:.2f} | {v['cpu']:.2f} | {v['wall'] / floor_wall:.2f} | "
                     f"{v['cpu'] / floor_cpu:.2f} | {v['first']:.2f} |")
    lines += ["", "Floor = 256 forward+backward passes of the same (8, 64, 64, 3) batch, conv4 channel means, "
              "the faster of the two ways of compiling it. labkit's extra work per step: the inverse FFT, "
              "colour decorrelation and sigmoid, the random affine warp, and Adam.", ""]
    p = r["peers"]
    lines += ["## Peers on the same objective (conv4 channels 0..7, 256 steps, batch 8)", ""]
    if "peers" not in p:
        lines += [f"Not run: {p['status']}", ""]
    else:
        ours = r["ours_activation"]
        lines += [f"Peer environment: {p.get('versions', {})}", "",
                  "| library | settings | wall s | CPU s | x labkit default (CPU) | mean conv4 activation of its images "
                  f"(labkit default: {np.mean(ours):.1f}) | channels above the best real image |",
                  "|---|---|---|---|---|---|---|"]
        ours_cpu = r["speed"]["labkit: fft + decorrelate + transforms (default), one compiled loop"]["cpu"]
        for name, e in p["peers"].items():
            if e.get("ok"):
                act = np.asarray(e.get("activation"))
                wins = int(np.sum(act > r["best_real"]))
                lines.append(f"| {name} | {e.get('settings', '')} | {e['seconds']:.2f} | {e['cpu']:.2f} | "
                             f"{e['cpu'] / ours_cpu:.2f} | {np.mean(act):.2f} | {wins} of {len(act)} |")
            else:
                lines.append(f"| {name} | {e.get('settings', '')} | - | - | - | - | failed: {e.get('error', '')[:300]} |")
        ours_wins = int(np.sum(np.asarray(ours) > r["best_real"]))
        lines += [f"| labkit | default | see above | {ours_cpu:.2f} | 1.00 | {np.mean(ours):.2f} | {ours_wins} of 8 |", "",
                  "Peer times are a second run (after their tracing), in their own process; activations are the "
                  "channel means of conv4 on their returned images, scored here with the same weights. xplique's "
                  "standard transforms (pad 16 px, jitters up to 16 px, blur, flips, tuned for large images) and "
                  "its un-redirected ReLUs leave these 64x64 images nearly grey on this model.", ""]
    lines += ["## Do the visualizations drive their channel? (conv4 of `shapes`, 64 channels)", "",
              "| recipe | channels beating the best of 1,000 real images | median ratio to best real | "
              "min ratio | channels that lose | seconds |", "|---|---|---|---|---|---|"]
    for name, v in r["channels"].items():
        lines.append(f"| {name} | {v['wins']} of {v['channels']} | {v['median_ratio']:.1f} | {v['min_ratio']:.2f} | "
                     f"{v['losers'] or 'none'} | {v['seconds']:.1f} |")
    lines += ["", "Real images: `toy_world('shapes', 'test', 1000, seed=11)`; score = the channel's mean over the "
              "8x8 map (the objective itself), on the untransformed final image.", "",
              f"## Class visualizations: softmax probability of their own class ({STEPS} steps, seeds "
              f"{r['seeds']})", "", "| objective | circle | square | triangle | cross | images >= 0.9 |",
              "|---|---|---|---|---|---|"]
    for name, table in r["classes"].items():
        cells = " | ".join(", ".join(f"{x:.3f}" for x in table[:, k]) for k in range(4))
        lines.append(f"| {name} | {cells} | {int((table >= 0.9).sum())} of {table.size} |")
    d = r["determinism"]
    lines += ["", "## Same seed, same image", "",
              f"Two runs with seed 0 (64 steps, 3 channels): bitwise equal = {d['bitwise']} "
              f"(max difference {d['max_diff_same_seed']:.1e}); seed 1 differs by {d['mean_diff_other_seed']:.3f} "
              "on average per pixel.", "",
              "## Embedding of gap features (1,000 `shapes` test images)", "",
              "| method | seconds | 5-NN label accuracy in the 2-D map |", "|---|---|---|"]
    for name, v in r["embedding"].items():
        lines.append(f"| {name} | {v['seconds']:.1f} | {v['knn5']:.3f} |")
    lines += ["", "t-SNE runs scikit-learn in one thread (see `units.embed`: its parallel loops crawl on a shared CPU).", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="8 channels, 1 seed, 1 repeat")
    parser.add_argument("--out", default=str(RESULTS / "featureviz.md"))
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from labkit import datasets, zoo

    model = zoo.load("shapes")
    real = datasets.toy_world("shapes", "test", 1000, seed=11)
    repeat = 1 if args.quick else 3
    channels = list(range(8)) if args.quick else list(range(64))
    r = {"command": "python -m benchmarks.bench_featureviz" + (" --quick" if args.quick else ""),
         "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, TF {tf.__version__}",
         "load": " ".join(f"{x:.1f}" for x in os.getloadavg()), "seeds": [0] if args.quick else [0, 1, 2, 3]}
    batch = np.random.default_rng(0).uniform(size=(8, 64, 64, 3)).astype(np.float32)
    r["speed"] = speed(model, batch, repeat)
    score = _conv4_scores(model)
    from labkit import ascent

    r["ours_activation"] = score(ascent.visualize(model, ("conv4", CHANNELS), steps=STEPS, progress=False).images)
    from labkit.layers import activations

    r["best_real"] = activations(model, real.images, "conv4").mean(axis=(1, 2)).max(axis=0)[list(CHANNELS)]
    r["peers"] = peers(model, score)
    r["channels"] = {"fft + decorrelate + transforms (default)": channels_vs_real(model, real.images, channels),
                     "pixel, l2 + blur (Simonyan)": channels_vs_real(model, real.images, channels, "pixel")}
    r["classes"] = classes(model, r["seeds"])
    r["determinism"] = determinism(model)
    r["embedding"] = embedding(model, real)
    r["load_end"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_markdown(r, args))
    print(out.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
