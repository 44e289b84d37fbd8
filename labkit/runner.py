"""Running a notebook in a fresh kernel, one cell at a time: the grader's engine room.

:func:`run_notebook` starts a kernel (inside a :class:`labkit.sandbox.Sandbox`
when given one), loads the grader's agent (:mod:`labkit.guard`) before the
first cell, runs every code cell with a per-cell timeout (an interrupted cell
counts as failed and the next one runs in the same kernel), sends graded check
cells through the agent, skips the cells it is told to, and stops when the
kernel dies, ignores an interrupt, or the notebook passes its time limit. When
it returns, every process the kernel started is gone.
"""
from __future__ import annotations

import math
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from nbformat import NotebookNode

from . import sandbox as sandbox_module
from .gradebook import CellRun

__all__ = ["run_notebook", "KERNEL", "INTERRUPT_GRACE"]

KERNEL = "python3"
INTERRUPT_GRACE = 10      # seconds a kernel gets to answer after a timeout interrupt
GUARD_SOURCE = Path(__file__).with_name("guard.py")


def _kernel_env() -> dict:
    """This process's environment, TensorFlow quiet, and matplotlib's inline backend as in Jupyter."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("MPLBACKEND", None)   # e.g. Agg from a test run would hide every figure
    return env


def _client(nb: NotebookNode, timeout: float, cwd: str, replies: dict, km=None):
    from nbclient import NotebookClient

    def on_cell_executed(cell, cell_index, execute_reply):
        replies[cell_index] = (execute_reply or {}).get("content", {})

    return NotebookClient(
        nb, km=km, kernel_name=KERNEL, timeout=timeout, allow_errors=True, interrupt_on_timeout=True,
        error_on_timeout={"ename": "CellTimeout", "traceback": [],
                          "evalue": f"the cell did not finish within {timeout:g} s and was "
                                    f"interrupted (an infinite loop?)"},
        startup_timeout=120, shutdown_kernel="immediate", record_timing=False,
        on_cell_executed=on_cell_executed, resources={"metadata": {"path": cwd}})


def _call(client, code: str, timeout: float, **kwargs) -> dict | None:
    """Send ``code`` outside the notebook (no history); the reply's content, or None without a reply."""
    old = client.timeout, client.shell_timeout_interval
    client.timeout, client.shell_timeout_interval = timeout, 1
    try:
        reply = client.wait_for_reply(client.kc.execute(code, store_history=False, **kwargs))
    except Exception:  # DeadKernelError and friends
        return None
    finally:
        client.timeout, client.shell_timeout_interval = old
    return (reply or {}).get("content")


def _responsive(client) -> bool:
    """Whether the kernel answers a no-op within INTERRUPT_GRACE seconds (after an interrupt)."""
    return _call(client, "", INTERRUPT_GRACE, silent=True) is not None


@dataclass
class _Run:
    runs: list = field(default_factory=list)
    restored: list = field(default_factory=list)    # what the guard found changed (runtime flags)
    problem: str = ""                               # the kernel could not be prepared
    cpu: float = 0.0                                # CPU seconds of the kernel's processes


def _bootstrap(client, guard: dict) -> str:
    """Load the grader's agent into the kernel; '' when it worked, else why not."""
    source = GUARD_SOURCE.read_text(encoding="utf-8")
    code = (f"__labkit_guard = {{'__name__': 'labkit_grader'}}\n"
            f"exec(compile({source!r}, '<labkit grader>', 'exec'), __labkit_guard)\n"
            f"__labkit_guard['install']({guard!r})\ndel __labkit_guard")
    reply = _call(client, code, 300, silent=True)
    if reply is None:
        return "the kernel did not answer while the grader prepared it"
    if reply.get("status") != "ok":
        return f"preparing the kernel failed: {reply.get('ename')}: {reply.get('evalue')}"
    return ""


def _report(client, guard: dict) -> list[str]:
    reply = _call(client, "", INTERRUPT_GRACE, silent=True, user_expressions={"r": f"{guard['name']}.report()"})
    try:
        import ast
        value = reply["user_expressions"]["r"]["data"]["text/plain"]
        found = ast.literal_eval(value)
        return [str(x) for x in found][:50] if isinstance(found, list) else []
    except Exception:  # no reply, or a report the notebook replaced by something else
        return ["the guard's report could not be read (the notebook may have replaced it)"]


def _processes(pid: int) -> list:
    import psutil
    try:
        proc = psutil.Process(pid)
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return []


def _cpu(processes: list) -> float:
    """CPU seconds (user + system, with reaped children) of the kernel's processes so far."""
    import psutil
    total = 0.0
    for p in processes:
        try:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            pass
    return total


def _wait_gone(processes: list, seconds: float = 10.0) -> None:
    """Wait until the kernel's processes are gone (a PID namespace ends asynchronously); kill stragglers."""
    import psutil
    deadline = time.monotonic() + seconds
    alive = processes
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if alive:
            time.sleep(0.05)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass


def run_notebook(nb: NotebookNode, *, timeout: float = 120, cwd: str | os.PathLike | None = None,
                 stop_on_error: bool = False, keep_outputs: bool = False, sandbox=None,
                 limits: sandbox_module.Limits | None = None, guard: dict | None = None,
                 checks: dict[int, str] | None = None, skip: set[int] = frozenset(),
                 _run: _Run | None = None) -> list[CellRun]:
    """Execute ``nb`` (in place) in a fresh kernel, one code cell at a time.

    Parameters
    ----------
    nb : the notebook; its cells receive outputs only with ``keep_outputs=True``
    timeout : seconds per cell; a longer cell is interrupted and recorded as "timeout"
    cwd : working directory of the kernel (default: a new temporary directory)
    stop_on_error : stop at the first failing cell (notebook tests) instead of
        running every cell (grading)
    keep_outputs : keep each cell's outputs (default: drop them to save memory)
    sandbox : a :class:`labkit.sandbox.Sandbox` to run the kernel in (default: none)
    limits : memory and ``max_seconds`` for the whole notebook (default: none)
    guard : the configuration of :mod:`labkit.guard`, loaded before the first cell
    checks : {cell index: grade_id} of check cells to run through the guard
    skip : indices of cells not to run (recorded as "skipped")

    Returns
    -------
    list of CellRun, one per code cell that ran, in order. Grading stops early
    if the kernel dies, ignores the interrupt after a timeout, or the notebook
    passes ``limits.max_seconds``.
    """
    from nbclient.exceptions import DeadKernelError

    timeout = int(math.ceil(timeout))          # nbclient wants whole seconds
    state = _run if _run is not None else _Run()
    runs, checks = state.runs, checks or {}
    replies: dict = {}
    start = time.monotonic()
    deadline = start + limits.max_seconds if limits else math.inf
    with tempfile.TemporaryDirectory(prefix="labkit-grade-") as tmp:
        km = sandbox_module.kernel_manager(sandbox, kernel_name=KERNEL)
        workdir = str(sandbox.work if sandbox else (cwd or tmp))
        client = _client(nb, timeout, workdir, replies, km=km)
        watchdog, processes = None, []
        with client.setup_kernel(cleanup_kc=True, env=_kernel_env(), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL):
            pid = client.km.provisioner.process.pid
            if limits:
                watchdog = sandbox_module.Watchdog(pid, limits, deadline + INTERRUPT_GRACE + 5, sandbox)
                watchdog.start()
            if guard:
                state.problem = _bootstrap(client, guard)
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code" or not cell.source.strip() or state.problem:
                    continue
                if index in skip:
                    runs.append(CellRun(index, "skipped"))
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    runs.append(CellRun(index, "timeout", "SubmissionTimeout",
                                        f"the notebook reached its limit of {limits.max_seconds:g} s; grading "
                                        f"stopped here"))
                    break
                client.timeout = timeout if remaining >= timeout else max(1, math.ceil(remaining))
                began = time.perf_counter()
                source = cell.source
                try:
                    if index in checks and guard:
                        cell.source = f"{guard['name']}.run({source!r}, {checks[index]!r})"
                        client.execute_cell(cell, index, store_history=False)
                    else:
                        client.execute_cell(cell, index)
                except DeadKernelError:
                    reason = (watchdog.reason if watchdog and watchdog.reason else
                              "the kernel died (a crash, os._exit or out of memory)")
                    runs.append(CellRun(index, "dead", "DeadKernelError", f"{reason}; grading stopped here",
                                        time.perf_counter() - began))
                    break
                finally:
                    cell.source = source
                run = _cell_run(index, replies.pop(index, {}), time.perf_counter() - began)
                runs.append(run)
                if not keep_outputs:
                    cell.outputs = []
                if run.status == "timeout":
                    if time.monotonic() >= deadline - 0.5:
                        run.ename = "SubmissionTimeout"
                        run.evalue = (f"the notebook reached its limit of {limits.max_seconds:g} s; grading "
                                      f"stopped here")
                        break
                    if not _responsive(client):
                        run.evalue += "; the kernel did not respond to the interrupt, so grading stopped here"
                        break
                if stop_on_error and run.status != "ok":
                    break
            if guard and not state.problem and runs and runs[-1].status != "dead":
                state.restored = _report(client, guard)
            processes = _processes(pid)
            state.cpu = _cpu(processes)
        if watchdog:
            watchdog.stop()
        _wait_gone(processes)
    return runs


def _cell_run(index: int, reply: dict, seconds: float) -> CellRun:
    if reply.get("status", "ok") == "ok":
        return CellRun(index, "ok", seconds=seconds)
    ename = reply.get("ename") or "Error"
    status = "timeout" if ename == "CellTimeout" else "error"
    return CellRun(index, status, ename, str(reply.get("evalue", "")), seconds)
