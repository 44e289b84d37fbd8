"""What input validation costs: the speed table's shapes ratios for two copies of labkit, in one run.

    python -m benchmarks.validation_cost --before DIR [--rounds 3] [--repeats 5]

``DIR`` holds another copy of labkit (e.g. ``git archive HEAD | tar -x -C DIR``).
For each attribution method of ``benchmarks/speed.py``'s ``shapes``
workload (16 images 64x64, batch size 64), every round runs a fresh process
per copy, alternating, and measures the method and its floor (the same
batched passes of the bare model) in that process, best of ``--repeats``
calls each; the table keeps each copy's best ratio over the rounds.
The ratios must not rise. Not a test: timings on a shared machine are noisy,
ratios measured side by side much less so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_WORKER = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from benchmarks.common import best
from benchmarks import speed
repeats = int(sys.argv[2])
work = speed.workloads()[0]  # shapes
functions = speed._floor_functions(work["model"])
out = {}
for task in work["tasks"]:
    floor = speed._floor(functions, task.floor, task.floor_images, work["images"], work["batch_size"])
    labkit_s, _ = best(task.run, repeats)
    floor_s, _ = best(floor, repeats)
    out[task.method] = [labkit_s, floor_s]
print("RESULT " + json.dumps(out))
"""


def _measure(root: Path, repeats: int) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(root), "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-c", _WORKER, str(root), str(repeats)], env=env, cwd=str(root),
                          capture_output=True, text=True, check=True)
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="the other copy of labkit (a directory)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    copies = {"before": args.before.resolve(), "after": ROOT}
    best_ratio: dict = {name: {} for name in copies}
    seconds: dict = {name: {} for name in copies}
    for round_ in range(args.rounds):
        for name, root in (copies.items() if round_ % 2 == 0 else reversed(copies.items())):
            for method, (labkit_s, floor_s) in _measure(root, args.repeats).items():
                ratio = labkit_s / floor_s
                if ratio < best_ratio[name].get(method, float("inf")):
                    best_ratio[name][method], seconds[name][method] = ratio, (labkit_s, floor_s)
        print(f"round {round_ + 1}: " + ", ".join(f"{m} {best_ratio['before'][m]:.2f}->{best_ratio['after'][m]:.2f}"
                                                  for m in best_ratio["after"]), flush=True)
    lines = ["| method | before: labkit / floor | after: labkit / floor | before labkit s | after labkit s |",
             "|---|---|---|---|---|"]
    for method in best_ratio["after"]:
        (b_s, _), (a_s, _) = seconds["before"][method], seconds["after"][method]
        lines.append(f"| {method} | {best_ratio['before'][method]:.2f} | {best_ratio['after'][method]:.2f} | "
                     f"{b_s:.4f} | {a_s:.4f} |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
