"""Hostile submissions graded in the sandbox: nothing outside it changes, nothing outlives it.

The submissions are ``tests/fixtures/hostile/*.ipynb`` (see ``build.py``
there), with the paths they attack filled in as a student who knew them
would. One module-scoped run grades them all with ``--jobs 2``, small limits
(5 s per cell, 30 s per submission, 1 GB, 64 processes) and
``--require-sandbox``; the tests compare sha256 digests of the solutions, the
package and every other submission before and after, look for surviving
processes, and read the CSV and the feedback.

Needs bubblewrap (``make sandbox-deps``); without it the module is skipped and says why.
"""

import csv
import hashlib
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from labkit import grade, sandbox
from labkit.release import nbgrader, read_notebook, release_notebook, write_notebook

REASON = sandbox.unavailable()
pytestmark = pytest.mark.skipif(REASON is not None,
                                reason=f"no sandbox here ({REASON}); `make sandbox-deps` installs bubblewrap")

HERE = Path(__file__).parent
HOSTILE = HERE / "fixtures" / "hostile"
SOLUTION = HERE / "fixtures" / "solutions" / "fixture_lab.ipynb"
PACKAGE = Path(grade.__file__).resolve().parent
MARKER = "LABKIT-HOSTILE-MARKER"
CASES = ("tamper_files", "detached", "memory_bomb", "memory_by_processes", "fork_bomb", "sleeper", "network")
MAX_SECONDS = 30
# A cell may run 10 s: on a loaded machine eight forked children need a few seconds to touch
# more than 1024 MB; the sleeper still meets MAX_SECONDS long before its cells time out.


def digests(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def survivors() -> list:
    """Live processes an attack started (its marker), or any kernel user's process left running."""
    import psutil
    found = []
    for proc in psutil.process_iter(["cmdline", "uids", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            uid = proc.info["uids"].real if proc.info["uids"] else 0
            if any(MARKER in part for part in proc.info["cmdline"] or ()) or uid >= 1_000_000:
                found.append((proc.pid, uid, (proc.info["cmdline"] or [])[:3]))
        except psutil.Error:
            pass
    return found


class Listener:
    """A TCP server on the host that records every connection (there must be none)."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("0.0.0.0", 0))
        self.server.listen()
        self.server.settimeout(0.5)
        self.port = self.server.getsockname()[1]
        self.accepted = []
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while self.running:
            try:
                conn, address = self.server.accept()
                self.accepted.append(address)
                conn.close()
            except OSError:
                pass

    def close(self):
        self.running = False
        self.thread.join()
        self.server.close()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    solutions = root / "solutions"
    solutions.mkdir()
    shutil.copy(SOLUTION, solutions)
    submitted = root / "submitted"
    classmate = submitted / "classmate" / "fixture_lab.ipynb"
    classmate.parent.mkdir(parents=True)
    honest = release_notebook(read_notebook(SOLUTION), source="fixture_lab")
    next(c for c in honest.cells if nbgrader(c).get("grade_id") == "fx_add").source = "def add(a, b):\n    return a + b"
    write_notebook(honest, classmate)
    listener = Listener()
    out, feedback = root / "grades.csv", root / "feedback"
    for case in CASES:
        text = (HOSTILE / f"{case}.ipynb").read_text()
        for key, value in {"@@SOLUTIONS@@": solutions, "@@PACKAGE@@": PACKAGE, "@@CLASSMATE@@": classmate,
                           "@@GRADES@@": out, "@@FEEDBACK@@": feedback / "extra", "@@PORT@@": listener.port}.items():
            text = text.replace(key, str(value))
        (submitted / case).mkdir()
        (submitted / case / "fixture_lab.ipynb").write_text(text)
    before = {"solutions": digests(solutions), "submitted": digests(submitted)}
    package_before = set(digests(PACKAGE))
    start = time.perf_counter()
    rc = grade.main([str(submitted), "--out", str(out), "--feedback", str(feedback), "--solutions", str(solutions),
                     "--timeout", "10", "--max-seconds", str(MAX_SECONDS), "--memory-mb", "1024",
                     "--processes", "64", "--jobs", "2", "--require-sandbox", "--no-html"])
    seconds = time.perf_counter() - start
    grades_at_exit = out.read_bytes()
    time.sleep(5)                                   # a detached process would rewrite grades.csv by now
    listener.close()
    rows = {r["student"]: r for r in csv.DictReader(open(out, newline=""))}
    yield dict(root=root, rc=rc, rows=rows, before=before, package_before=package_before, seconds=seconds,
               grades_at_exit=grades_at_exit, out=out, feedback=feedback, listener=listener,
               solutions=solutions, submitted=submitted)


def feedback_of(hostile, case):
    return (hostile["feedback"] / f"{case}__fixture_lab.md").read_text()


def test_the_solutions_and_every_submission_are_unchanged(hostile):
    assert digests(hostile["solutions"]) == hostile["before"]["solutions"]
    assert digests(hostile["submitted"]) == hostile["before"]["submitted"]


def test_the_package_is_unchanged(hostile):
    # others may edit the kit while this runs: no attack's marker in any file, no file it made
    for path in PACKAGE.rglob("*"):
        assert MARKER not in path.name
        if path.is_file() and path.suffix in (".py", ".ipynb", ".md"):
            assert MARKER not in path.read_text(errors="replace"), path
    assert not (set(digests(PACKAGE)) - hostile["package_before"]) or all(
        MARKER not in name for name in set(digests(PACKAGE)) - hostile["package_before"])


def test_the_outputs_are_the_graders_alone(hostile):
    assert hostile["out"].read_bytes() == hostile["grades_at_exit"]      # 5 s after the grader exited
    assert MARKER not in hostile["out"].read_text()
    assert not (hostile["feedback"] / "extra").exists()
    assert not Path("/tmp", MARKER).exists() and not Path("/root", MARKER).exists()


def test_no_process_is_left_behind(hostile):
    assert survivors() == []


def test_every_attack_failed_inside_the_sandbox(hostile):
    # the attack cells assert that nothing worked: a cell that raised would be listed
    for case in ("tamper_files", "network", "detached"):
        assert "Other cells that raised an error" not in feedback_of(hostile, case), case
        assert hostile["rows"][case]["fx_add_test"] == "1", case          # grading went on normally
    assert hostile["listener"].accepted == []                               # not even the host's loopback


def test_memory_bombs_are_stopped(hostile):
    row = hostile["rows"]["memory_bomb"]
    assert row["fx_add_test"] == "1"                                        # MemoryError, and the kernel lives
    assert "MemoryError" in feedback_of(hostile, "memory_bomb")
    spread = hostile["rows"]["memory_by_processes"]
    assert "DeadKernelError" in spread["errors"] and spread["total"] == "0"
    assert "more than 1024 MB of memory" in feedback_of(hostile, "memory_by_processes")


def test_a_fork_bomb_is_contained(hostile):
    row = hostile["rows"]["fork_bomb"]
    assert row["total"] in ("0", "1") and row["max"] == "4"
    assert "CellTimeout" in row["errors"] or "DeadKernelError" in row["errors"]


def test_a_submission_that_never_ends_is_stopped_by_max_seconds(hostile):
    row = hostile["rows"]["sleeper"]
    assert "SubmissionTimeout" in row["errors"] and row["total"] == "0"
    assert f"limit of {MAX_SECONDS} s" in feedback_of(hostile, "sleeper")
    assert hostile["seconds"] < 4 * MAX_SECONDS                            # two jobs, eight notebooks


def test_the_honest_classmate_is_graded_normally(hostile):
    assert hostile["rows"]["classmate"]["fx_add_test"] == "1"
    assert hostile["rc"] == 0
