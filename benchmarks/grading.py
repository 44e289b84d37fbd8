"""How long ``python -m labkit.grade`` takes per submission, per notebook (a benchmark, not a test).

For each chosen notebook it writes N submissions into a temporary folder (the
student version with every exercise solved with the model answer: every check
passes and every cell a student has runs, the slowest honest case), grades them with ``python -m labkit.grade --jobs J`` in a
subprocess, and reports the wall-clock seconds per submission (wall time / N:
what a tutor waits per student), the mean time one submission took inside
its job, and the CPU seconds its kernel used (where the grader reports it):
on a machine shared with others the wall times depend on their load (printed
next to them), the CPU time much less; 300 submissions on J free cores take
about 300 x CPU / J.

    python -m benchmarks.grading                          # every notebook, 4 submissions each, --jobs 2
    python -m benchmarks.grading --only 01 04 --n 6       # two notebooks
    python -m benchmarks.grading --label "no sandbox" -- --no-sandbox   # after --: passed to the grader
    python -m benchmarks.grading --notebooks-from DIR     # solution notebooks from DIR (e.g. a tagged copy)

The table is appended to ``benchmarks/results/grading.md`` (one section per run, with its label and command).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
_LINE = re.compile(r"^\[\d+/\d+\] .*\(([\d.]+) s(?:, ([\d.]+) s CPU)?\)")


def _load() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def solved_student(solution: Path) -> str:
    """The released notebook with every exercise cell holding the solution's code (markers and all)."""
    import nbformat
    nb = nbformat.read(str(solution), as_version=4)
    meta = lambda c: c.get("metadata", {}).get("nbgrader", {})  # noqa: E731
    answers = {meta(c)["grade_id"]: c.source for c in nb.cells if c.cell_type == "code" and meta(c).get("solution")}
    try:
        from labkit.release import release_notebook, render
    except ImportError:
        return solution.read_text(encoding="utf-8")
    student = release_notebook(nb, source=solution.stem)
    for cell in student.cells:
        if meta(cell).get("grade_id") in answers:
            cell.source = answers[meta(cell)["grade_id"]]
    return render(student)


def bench_notebook(solution: Path, solutions: Path, n: int, jobs: int, extra: list[str]) -> dict:
    """Grade ``n`` copies of ``solution``; returns wall seconds, per-submission seconds and the CSV totals."""
    with tempfile.TemporaryDirectory(prefix="labkit-bench-grade-") as tmp:
        root = Path(tmp)
        student = solved_student(solution)
        for i in range(n):
            target = root / "submitted" / f"student{i:03d}" / solution.name
            target.parent.mkdir(parents=True)
            target.write_text(student, encoding="utf-8")
        cmd = [sys.executable, "-m", "labkit.grade", str(root / "submitted"), "--out", str(root / "grades.csv"),
               "--solutions", str(solutions), "--jobs", str(jobs), *extra]
        load_before = _load()
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        wall = time.perf_counter() - start
        matches = [m for line in proc.stderr.splitlines() if (m := _LINE.match(line))]
        inner = [float(m.group(1)) for m in matches]
        cpu = [float(m.group(2)) for m in matches if m.group(2)]
        totals = []
        if (root / "grades.csv").exists():
            import csv
            with open(root / "grades.csv", newline="") as f:
                totals = [f"{r.get('total', '')}/{r.get('max', '')}" for r in csv.DictReader(f)]
    return {"wall": wall, "per_submission": wall / n, "inner": sum(inner) / len(inner) if inner else float("nan"),
            "cpu": sum(cpu) / len(cpu) if cpu else float("nan"),
            "totals": sorted(set(totals)), "rc": proc.returncode, "load": f"{load_before} -> {_load()}",
            "stderr": proc.stderr[-2000:] if proc.returncode not in (0, 1) else ""}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=None, help="notebook numbers or names (default: all)")
    parser.add_argument("--n", type=int, default=4, help="submissions per notebook (default 4)")
    parser.add_argument("--jobs", type=int, default=2, help="--jobs of the grader (default 2)")
    parser.add_argument("--label", default="", help="name of this run in the results file")
    parser.add_argument("--notebooks-from", type=Path, default=ROOT / "solutions",
                        help="solution notebooks (default solutions/)")
    parser.add_argument("--out", type=Path, default=RESULTS / "grading.md", help="markdown file to append to")
    args = parser.parse_args(argv)
    solutions = sorted(args.notebooks_from.glob("*.ipynb"))
    if args.only:
        solutions = [p for p in solutions if any(p.stem.startswith(o) or p.stem == o for o in args.only)]
    rows = []
    for solution in solutions:
        r = bench_notebook(solution, args.notebooks_from, args.n, args.jobs, extra)
        line = (f"| {solution.stem} | {args.n} | {r['wall']:.0f} | {r['per_submission']:.1f} | {r['inner']:.1f} | "
                f"{r['cpu']:.1f} | {', '.join(r['totals'])} | {r['load']} |")
        print(line, flush=True)
        if r["stderr"]:
            print(r["stderr"], file=sys.stderr)
        rows.append(line)
    command = "python -m benchmarks.grading " + " ".join(argv + (["--", *extra] if extra else []))
    text = "\n".join([
        f"## {args.label or 'run'} ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, --jobs {args.jobs})",
        "", f"`{command}`", "",
        "| notebook | submissions | wall (s) | s per submission | s inside one job | kernel CPU s per submission "
        "| totals | load avg before -> after |",
        "|---|---|---|---|---|---|---|---|", *rows, ""])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a", encoding="utf-8") as f:
        f.write(text + "\n")
    print(f"(appended to {args.out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
