"""Speed of each labkit method against its floor and against the peer libraries.

    python -m benchmarks.speed               # writes benchmarks/results/speed.md
    python -m benchmarks.speed --no-peers    # labkit and floors only

Two workloads, identical inputs for everyone:

- the ``shapes`` zoo model (64x64, 4 classes) on 16 test images, batch size 64;
- ``keras.applications.ResNet50V2(weights=None)`` (224x224, 1000 classes,
  random weights, seed 0) on 4 photos, batch size 16.

For each method the *floor* is the same number of batched passes through a
``tf.function`` of the model alone (forward, or forward + backward to the
input), in the same batch size: what any implementation must at least pay.
Occlusion with P windows on N images: N*P (+N) forward images; SmoothGrad with
n samples: n*N forward+backward; Integrated Gradients with s steps: (s+1)*N.

The peers (xplique, tf-keras-vis) run in their own venv (``.venv-peers``,
made by ``benchmarks/setup_peers.sh``; xplique pins TensorFlow <= 2.20) in a
subprocess (``benchmarks/peers.py``) on the same images and the same weights
(saved to an .npz and a .weights.h5 file). They send back their timings and
maps; the maps are compared with labkit's by Pearson correlation.

Times are the best of ``repeats`` calls after one warm-up call (which traces
the tf.functions), in seconds, on this machine as it was (other work on a
shared machine slows everything alike; ratios are the robust numbers).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.common import best, replace_section, section_span

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"


@dataclass
class Task:
    """One method on one workload: the labkit call and the floor's work."""

    method: str
    run: Callable[[], np.ndarray]
    floor: str  # "forward" or "forward+backward"
    floor_images: int  # images through the model for the floor
    settings: dict  # shared with the peers so they do the same work


# --- the floor ---------------------------------------------------------------------


def _floor_functions(model):
    """tf.functions of the bare model: logits forward, and forward + backward to the input."""
    import tensorflow as tf

    spec = [tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32), tf.TensorSpec((None,), tf.int32)]

    @tf.function(input_signature=spec)
    def forward(x, targets):
        logits = model(x, training=False)
        return tf.gather(logits, targets, axis=1, batch_dims=1)

    @tf.function(input_signature=spec)
    def forward_backward(x, targets):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.gather(model(x, training=False), targets, axis=1, batch_dims=1)
        return tape.gradient(score, x)

    return {"forward": forward, "forward+backward": forward_backward}


def _floor(functions, kind: str, n_images: int, batch, batch_size: int) -> Callable[[], None]:
    """Push ``n_images`` images through the model in chunks of ``batch_size`` (inputs already on the device)."""
    import tensorflow as tf

    full, rest = divmod(n_images, batch_size)
    x = tf.constant(np.resize(batch, (batch_size, *batch.shape[1:])))  # a full chunk of the real images
    t = tf.zeros(batch_size, tf.int32)
    function = functions[kind]

    def run():
        out = None
        for _ in range(full):
            out = function(x, t)
        if rest:
            out = function(x[:rest], t[:rest])
        return out.numpy()  # wait for the device

    return run



# --- workloads ---------------------------------------------------------------------


def _windows(size: int, patch: int, stride: int) -> int:
    starts = list(range(0, size - patch + 1, stride))
    return len(starts) + (starts[-1] != size - patch)


def workloads(quick: bool = False) -> list[dict]:
    """The two workloads: model, images, targets, batch size, and the tasks on them."""
    return [
        _workload(dict(name="shapes", n=16, batch_size=64, patch=8, stride=4, samples=32, steps=64,
                       layer="conv4")),
        _workload(dict(name="resnet50v2", n=4, batch_size=16, patch=56, stride=28, samples=8 if quick else 16,
                       steps=16 if quick else 32, layer="post_relu")),
    ]


def _workload(spec: dict) -> dict:
    import keras

    from labkit import zoo
    from labkit.cam import cam, grad_cam, grad_cam_pp
    from labkit.datasets import photos, toy_world
    from labkit.gradients import integrated_gradients, saliency, smoothgrad
    from labkit.occlusion import occlusion

    if spec["name"] == "shapes":
        model = zoo.load("shapes")
        images = toy_world("shapes", "test", spec["n"], seed=7).images
    else:
        keras.utils.set_random_seed(0)
        model = keras.applications.ResNet50V2(weights=None, classifier_activation=None)
        pictures = photos(size=224)
        images = np.stack([pictures[k] for k in sorted(pictures)])[: spec["n"]] * 2.0 - 1.0  # [-1, 1]
        images = images.astype(np.float32)
    n, size, bs = len(images), images.shape[1], spec["batch_size"]
    targets = model.predict(images, verbose=0).argmax(1).astype(np.int64)
    windows = _windows(size, spec["patch"], spec["stride"]) ** 2
    p, s, k, st, layer = spec["patch"], spec["stride"], spec["samples"], spec["steps"], spec["layer"]
    tasks = [
        Task("occlusion", lambda: occlusion(model, images, targets, patch=p, stride=s, output="logit", batch_size=bs),
             "forward", n * windows + n, dict(patch=p, stride=s, windows=windows)),
        Task("saliency", lambda: saliency(model, images, targets, batch_size=bs), "forward+backward", n, {}),
        Task("smoothgrad", lambda: smoothgrad(model, images, targets, n=k, noise=0.15, batch_size=bs),
             "forward+backward", n * k, dict(samples=k, noise=0.15)),
        Task("integrated_gradients", lambda: integrated_gradients(model, images, targets, steps=st, batch_size=bs),
             "forward+backward", n * (st + 1), dict(steps=st)),
        Task("cam", lambda: cam(model, images, targets, batch_size=bs), "forward", n, dict(layer=layer)),
        Task("grad_cam", lambda: grad_cam(model, images, targets, batch_size=bs), "forward+backward", n,
             dict(layer=layer)),
        Task("grad_cam_pp", lambda: grad_cam_pp(model, images, targets, batch_size=bs), "forward+backward", n,
             dict(layer=layer)),
    ]
    return dict(spec, model=model, images=images, targets=targets, tasks=tasks)


# --- peers -------------------------------------------------------------------------


def _run_peers(work: dict, repeats: int, tmp: Path) -> dict:
    """Run benchmarks/peers.py in .venv-peers on the same inputs; {peer: {method: {...}}} or an error."""
    if not PEERS_PYTHON.exists():
        return {"error": f"{PEERS_PYTHON.relative_to(ROOT)} is missing: run `bash benchmarks/setup_peers.sh`"}
    model = work["model"]
    weights = tmp / f"{work['name']}.weights.h5"
    model.save_weights(weights)
    inputs = tmp / f"{work['name']}.npz"
    tasks = {task.method: task.settings for task in work["tasks"]}
    np.savez(inputs, images=work["images"], targets=work["targets"])
    config = dict(workload=work["name"], weights=str(weights), inputs=str(inputs), repeats=repeats,
                  batch_size=work["batch_size"], tasks=tasks, out=str(tmp / f"{work['name']}_peers.npz"))
    if work["name"] == "shapes":
        config["model_file"] = str(ROOT / "data" / "models" / "shapes.keras")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    command = [str(PEERS_PYTHON), str(ROOT / "benchmarks" / "peers.py"), json.dumps(config)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        return {"error": f"benchmarks/peers.py failed (exit {done.returncode}): {done.stderr.strip()[-1500:]}"}
    report = json.loads(done.stdout.strip().splitlines()[-1])
    maps = np.load(config["out"])
    for peer, methods in report["results"].items():
        for method, entry in methods.items():
            key = f"{peer}/{method}"
            if key in maps:
                entry["maps"] = maps[key]
    return report


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-image Pearson correlation of two (N, h, w) map stacks (resized to match if needed)."""
    from labkit.metrics import _resize

    if a.shape != b.shape:
        size = max(a.shape[1:], b.shape[1:])
        a, b = _resize(a, size), _resize(b, size)
    a = a.reshape(len(a), -1) - a.reshape(len(a), -1).mean(1, keepdims=True)
    b = b.reshape(len(b), -1) - b.reshape(len(b), -1).mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))


# --- the report --------------------------------------------------------------------


def run(quick: bool = False, peers: bool = True, repeats: int = 3, only: str | None = None) -> str:
    import keras
    import tensorflow as tf

    start = time.perf_counter()
    sections = []
    peer_versions = {}
    with tempfile.TemporaryDirectory() as tmp:
        for work in workloads(quick):
            if only is not None and work["name"] != only:
                continue
            functions = _floor_functions(work["model"])
            reps = 1 if work["name"] == "resnet50v2" and quick else repeats
            print(f"{work['name']}: {len(work['images'])} images, batch size {work['batch_size']}", flush=True)
            rows = {}
            for task in work["tasks"]:
                seconds, maps = best(task.run, reps)
                floor = _floor(functions, task.floor, task.floor_images, work["images"], work["batch_size"])
                floor_seconds, _ = best(floor, reps)
                rows[task.method] = dict(seconds=seconds, maps=np.asarray(maps), floor=floor_seconds, task=task)
                print(f"  {task.method}: {seconds:.3f} s, floor {floor_seconds:.3f} s", flush=True)
            report = _run_peers(work, reps, Path(tmp)) if peers else {"error": "not run (--no-peers)"}
            peer_versions.update(report.get("versions", {}))
            sections.append(_section(work, rows, report))
    command = "python -m benchmarks.speed" + (" --quick" if quick else "") + ("" if peers else " --no-peers")
    versions = ", ".join(f"{k} {v}" for k, v in sorted(peer_versions.items()))
    header = (
        f"# Speed: labkit against its floor and the peers\n\n"
        f"Produced by `{command}` (also part of `make bench`); labkit with TensorFlow {tf.__version__}, "
        f"Keras {keras.__version__}; peers in `.venv-peers` ({versions or 'not available'}). CPU only, "
        f"{os.cpu_count()} cores shared with other work; best of {repeats} after a warm-up call. "
        f"Took {time.perf_counter() - start:.0f} s.\n\n"
        f"floor = the same number of batched forward (F) or forward+backward (F+B) passes of the bare "
        f"model in a `tf.function`, same batch size. Ratios below 1 vs. the floor mean the method needs "
        f"less than a full backward pass to the input (CAM family: gradients to the conv layer only) or "
        f"skips work the floor does. peer ratio = labkit seconds / peer seconds (below 1: labkit faster). "
        f"r = Pearson correlation of labkit's raw maps with the peer's, per image, min over images "
        f"(maps resized to the same size when the peer upsamples).\n"
    )
    return header + "\n" + "\n".join(sections)


def _section(work: dict, rows: dict, report: dict) -> str:
    peers = sorted(report.get("results", {}))
    head = "| method | work | labkit s | floor s | labkit / floor |"
    line = "|---|---|---|---|---|"
    for peer in peers:
        head += f" {peer} s | labkit / {peer} | r vs {peer} |"
        line += "---|---|---|"
    out = [f"## {work['name']}: {len(work['images'])} images {work['images'].shape[1]}x{work['images'].shape[2]}, "
           f"batch size {work['batch_size']}\n", head, line]
    notes = []
    for method, row in rows.items():
        task = row["task"]
        kind = "F" if task.floor == "forward" else "F+B"
        cells = [method, f"{task.floor_images} {kind}", f"{row['seconds']:.3f}", f"{row['floor']:.3f}",
                 f"{row['seconds'] / row['floor']:.2f}"]
        for peer in peers:
            entry = report["results"][peer].get(method)
            if entry is None:
                cells += ["-", "-", "-"]
            elif "error" in entry:
                cells += ["failed", "-", "-"]
                notes.append(f"- {peer} {method}: {entry['error']}")
            else:
                r = _pearson(row["maps"], entry["maps"]) if "maps" in entry else np.array([np.nan])
                cells += [f"{entry['seconds']:.3f}", f"{row['seconds'] / entry['seconds']:.2f}",
                          f"{np.nanmin(r):.3f}"]
                if entry.get("note"):
                    notes.append(f"- {peer} {method}: {entry['note']}")
        out.append("| " + " | ".join(cells) + " |")
    if "error" in report:
        notes.append(f"- peers: {report['error']}")
    for note in report.get("notes", []):
        notes.append(f"- {note}")
    return "\n".join(out + [""] + notes + [""])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer samples on ResNet, one repeat")
    parser.add_argument("--no-peers", action="store_true", help="skip xplique / tf-keras-vis")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=("shapes", "resnet50v2"),
                        help="measure one workload and replace its section in an existing speed.md")
    args = parser.parse_args(argv)
    text = run(args.quick, not args.no_peers, args.repeats, args.only)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / ("speed_quick.md" if args.quick else "speed.md")
    if args.only and path.exists():
        text = _replace_section(path.read_text(), text, args.only)
    path.write_text(text)
    print(text)
    return 0


def _replace_section(old: str, new: str, name: str) -> str:
    """``old`` with the section of workload ``name`` taken from ``new`` (a run with --only name)."""
    start, end = section_span(new, f"## {name}:")
    header_end = new.index("\n", start) + 1
    took = re.search(r"Took (\d+) s", new)
    note = (f"\nRe-measured alone with `python -m benchmarks.speed --only {name}`"
            f"{f' ({took.group(1)} s)' if took else ''}; the other section is from the full run.\n")
    return replace_section(old, f"## {name}:", new[start:header_end] + note + new[header_end:end])


if __name__ == "__main__":
    sys.exit(main())
