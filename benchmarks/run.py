"""``make bench``: every benchmark in turn; each writes its table to benchmarks/results/.

    python -m benchmarks.run                    # all four
    python -m benchmarks.run --quick            # fewer images and samples (a smoke run, *_quick.md)
    python -m benchmarks.run --no-peers         # skip xplique / tf-keras-vis in the speed table
    python -m benchmarks.run --only speed       # one of: ground_truth, speed, featureviz, tcav

The peers need their own venv: ``bash benchmarks/setup_peers.sh`` (once).
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BENCHMARKS = ("ground_truth", "speed", "featureviz", "tcav")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer images and samples")
    parser.add_argument("--no-peers", action="store_true", help="skip the peer libraries")
    parser.add_argument("--only", choices=BENCHMARKS, help="run one of them")
    args = parser.parse_args(argv)
    chosen = (args.only,) if args.only else BENCHMARKS
    quick = ["--quick"] if args.quick else []

    if "ground_truth" in chosen:
        from benchmarks import ground_truth
        print(ground_truth.run(args.quick), flush=True)
    if "speed" in chosen:
        from benchmarks import speed
        text = speed.run(args.quick, not args.no_peers)
        speed.RESULTS.mkdir(parents=True, exist_ok=True)
        (speed.RESULTS / ("speed_quick.md" if args.quick else "speed.md")).write_text(text)
        print(text, flush=True)
    if "featureviz" in chosen:
        from benchmarks import bench_featureviz
        out = bench_featureviz.RESULTS / ("featureviz_quick.md" if args.quick else "featureviz.md")
        bench_featureviz.main([*quick, "--out", str(out)])
    if "tcav" in chosen:
        from benchmarks import tcav_table
        tcav_table.main(quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
