"""Peak memory of occlusion, integrated gradients, TCAV and the deletion curve at two batch sizes.

    python -m benchmarks.memory                          # this tree; table to results/memory.md
    python -m benchmarks.memory --root DIR --label NAME  # another copy of labkit, as one more column

Two peaks per call, above what was held before it, after one warm-up call
(so tracing is not counted):

- tensors: TensorFlow keeps no allocation statistics on the CPU unless its
  CPU allocator is the BFC allocator, so the measurements run in a
  subprocess with ``TF_CPU_ALLOCATOR_USE_BFC=true`` and read
  ``tf.config.experimental.get_memory_info("CPU:0")`` (on a GPU this is the
  device memory);
- numpy: the peak of host arrays during the call (``tracemalloc``, which
  numpy reports to), e.g. activations gathered for TCAV.

Workload: the ``shapes`` zoo model (64x64) on 8 test images; occlusion
patch 8, stride 4 (225 windows, 1,800 occluded images); integrated
gradients 64 steps (512 path points); TCAV at conv2 (32x32x16) with 4
random sets of 32 images; deletion curve with 32 steps (264 images).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
METHODS = ("occlusion", "integrated_gradients", "tcav", "deletion_curve")
BATCH_SIZES = (8, 32)

_WORKER = r"""
import json, sys, tracemalloc
sys.path.insert(0, sys.argv[1])
import numpy as np, tensorflow as tf
from labkit import datasets, gradients, metrics, occlusion, tcav, zoo
model = zoo.load("shapes")
images = datasets.toy_world("shapes", "test", 8, seed=7).images
maps = gradients.saliency(model, images)
calls = {
    "occlusion": lambda bs: occlusion.occlusion(model, images, patch=8, stride=4, batch_size=bs),
    "integrated_gradients": lambda bs: gradients.integrated_gradients(model, images, steps=64, batch_size=bs),
    "tcav": lambda bs: tcav.tcav(model, "conv2", 1, "red", images, n_random=4, n_concept=32, batch_size=bs),
    "deletion_curve": lambda bs: metrics.deletion_curve(model, images, maps, steps=32, batch_size=bs),
}
out = {}
for name in sys.argv[2].split(","):
    for bs in map(int, sys.argv[3].split(",")):
        calls[name](bs)  # warm-up: tracing
        tf.config.experimental.reset_memory_stats("CPU:0")
        before = tf.config.experimental.get_memory_info("CPU:0")["current"]
        tracemalloc.start()
        calls[name](bs)
        host = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        out[f"{name}/{bs}"] = [tf.config.experimental.get_memory_info("CPU:0")["peak"] - before, host]
print("RESULT " + json.dumps(out))
"""


def measure(root: Path, methods=METHODS, batch_sizes=BATCH_SIZES) -> dict:
    """{"method/batch_size": [tensor peak, numpy peak] in bytes above the start} for the labkit in ``root``."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_CPU_ALLOCATOR_USE_BFC": "true", "PYTHONPATH": str(root),
           "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-c", _WORKER, str(root), ",".join(methods),
                           ",".join(map(str, batch_sizes))], env=env, cwd=str(root), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def table(columns: dict) -> str:
    """Markdown: one row per method and batch size; per copy of labkit, tensors and numpy peaks in MiB."""
    names = list(columns)
    lines = ["| method | batch_size | " + " | ".join(f"{n}: tensors / numpy MiB" for n in names) + " |",
             "|---|---|" + "---|" * len(names)]
    for method in METHODS:
        for bs in BATCH_SIZES:
            key = f"{method}/{bs}"
            cells = [" / ".join(f"{v / 2**20:.1f}" for v in columns[n][key]) if key in columns[n] else "-"
                     for n in names]
            lines.append(f"| {method} | {bs} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, action="append", default=[],
                        help="another copy of labkit to measure too (repeatable)")
    parser.add_argument("--label", action="append", default=[], help="a column name per --root")
    parser.add_argument("--out", type=Path, default=RESULTS / "memory.md")
    args = parser.parse_args(argv)
    columns = {}
    for i, root in enumerate(args.root):
        columns[args.label[i] if i < len(args.label) else str(root)] = measure(root.resolve())
    columns["this tree"] = measure(ROOT)
    text = (f"# Peak memory at two batch sizes\n\nProduced by `python -m benchmarks.memory` "
            f"(TensorFlow's CPU allocator statistics, see the script's docstring).\n\n{table(columns)}\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
