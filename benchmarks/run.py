"""``make bench``: attribution against ground truth, then speed against floors and peers.

    python -m benchmarks.run              # both; tables in benchmarks/results/*.md
    python -m benchmarks.run --quick      # fewer images and samples (a smoke run)
    python -m benchmarks.run --no-peers   # skip xplique / tf-keras-vis

The peers need their own venv: ``bash benchmarks/setup_peers.sh`` (once).
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer images and samples")
    parser.add_argument("--no-peers", action="store_true", help="skip the peer libraries")
    parser.add_argument("--only", choices=("ground_truth", "speed"), help="run one of the two")
    args = parser.parse_args(argv)

    from benchmarks import ground_truth, speed

    if args.only in (None, "ground_truth"):
        print(ground_truth.run(args.quick), flush=True)
    if args.only in (None, "speed"):
        text = speed.run(args.quick, not args.no_peers)
        speed.RESULTS.mkdir(parents=True, exist_ok=True)
        (speed.RESULTS / ("speed_quick.md" if args.quick else "speed.md")).write_text(text)
        print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
