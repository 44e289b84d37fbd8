"""A sandbox per graded kernel: bubblewrap (Linux namespaces), limits, and a watchdog.

:mod:`labkit.grade` runs every submission's kernel through :class:`Sandbox`:

- **filesystem**: nothing of the host but what a kernel needs, read-only: the
  system (``/usr``, ``/etc``), this Python and its packages, the ``labkit``
  package and its ``data/``; the solutions, the submissions, the grader's
  outputs, the tutor's home and the repository's ``.git`` are not there at all
  (and hidden by an empty mount should one of them lie inside a bound folder).
  Writable: one private directory holding the connection file, the kernel's
  sockets, a home and the working directory with a copy of the submission,
  plus a small ``/tmp`` in memory;
- **no network** (a network namespace with only its own loopback), its own
  **PID namespace** (everything the kernel starts, detached or not, dies with
  it), IPC and UTS namespaces, no capabilities, ``no_new_privs``, an
  unprivileged user (when the grader runs as root, a user id of its own,
  :func:`kernel_uid`);
- **limits** (:class:`Limits`): memory (``RLIMIT_DATA``, so a huge allocation
  fails at once with ``MemoryError``, plus the watchdog on the memory of all
  its processes together), processes (``RLIMIT_NPROC``, counted for the
  kernel's own user), size of each file and of the private directory, and
  wall-clock time per submission (the watchdog kills the sandbox, which ends
  every process in it);
- a clean environment (``JPY_PARENT_PID`` unset: in its own PID namespace the
  kernel would otherwise believe its parent had died).

The kernel talks to the grader over Jupyter's ``ipc`` transport: Unix sockets
in the private directory, which work without a network. Where bubblewrap is
missing (macOS, Windows, a Linux without it), :func:`unavailable` says why and
the grader warns once, loudly, and runs unsandboxed (``docs/teaching.md``:
install ``bubblewrap``, or grade in the container of the repository's
``Dockerfile``).
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Limits", "Sandbox", "Watchdog", "kernel_manager", "unavailable", "warn_unsandboxed", "HOW_TO_GET_IT",
           "kernel_uid"]

_UID_BASE = 1_000_000   # as root, the kernel of grader process P runs as user _UID_BASE + P (no such account)
HOW_TO_GET_IT = ("install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`, or `make sandbox-deps`; "
                 "Fedora: `sudo dnf install bubblewrap`), or on macOS/Windows grade inside the container of "
                 "the repository's Dockerfile (docs/teaching.md, 'Grading safely')")
_ENV_KEEP = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONHASHSEED", "KERAS_BACKEND", "CUDA_VISIBLE_DEVICES",
             "OMP_NUM_THREADS", "TF_NUM_INTEROP_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_ENABLE_ONEDNN_OPTS")
_ENV_PREFIXES = ("LABKIT_",)
# run inside the sandbox by its Python, isolated (-I -S): set the limits, become the kernel's user
# (when the grader is root: a user of its own, so that RLIMIT_NPROC counts), then become the kernel
_LAUNCHER = ("import os, resource, sys\n"
             "for name, value in zip(('RLIMIT_DATA', 'RLIMIT_NPROC', 'RLIMIT_FSIZE', 'RLIMIT_CORE'),"
             " map(int, sys.argv[1:5])):\n"
             "    resource.setrlimit(getattr(resource, name), (value, value))\n"
             "uid = int(sys.argv[5])\n"
             "if uid >= 0:\n"
             "    os.setgroups([]); os.setgid(uid); os.setuid(uid)\n"
             "os.chdir(sys.argv[6])\n"
             "os.execv(sys.argv[7], sys.argv[7:])\n")


@dataclass(frozen=True)
class Limits:
    """Resources one submission's kernel may use.

    ``memory_mb``: memory of the kernel (its data segment, and the resident
    memory of all its processes together); ``processes``: processes and
    threads at once (TensorFlow alone runs a few dozen threads); ``file_mb``:
    the largest file it may write, and the most its private directory may
    hold; ``max_seconds``: wall-clock time for the whole submission.
    """

    memory_mb: int = 4096
    processes: int = 256
    file_mb: int = 512
    max_seconds: float = 1800.0

    def __post_init__(self):
        for name in ("memory_mb", "processes", "file_mb", "max_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")


@functools.lru_cache(maxsize=1)
def unavailable() -> str | None:
    """None when the sandbox works on this machine, else why it does not (one sentence)."""
    if not sys.platform.startswith("linux"):
        return f"this is {sys.platform}, and the sandbox needs Linux namespaces"
    if shutil.which("bwrap") is None:
        return "bubblewrap (`bwrap`) is not installed"
    try:
        probe = subprocess.run(["bwrap", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
                                *_namespaces(), "true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"bubblewrap could not start: {err}"
    if probe.returncode != 0:
        return ("bubblewrap cannot create namespaces here (user namespaces disabled, or a container "
                f"that forbids them): {probe.stderr.strip()[:300]}")
    return None


_warned = False


def warn_unsandboxed(reason: str, stream=None) -> None:
    """Say once per process, loudly, that grading runs student code with the tutor's permissions."""
    global _warned
    if _warned:
        return
    _warned = True
    bar = "!" * 78
    print(f"{bar}\nWARNING: grading WITHOUT a sandbox: {reason}.\n"
          "Student code runs with YOUR permissions: it can read and change your files (the solutions,\n"
          "other submissions, grades.csv), use the network, and leave processes running.\n"
          f"To grade safely, {HOW_TO_GET_IT}.\n{bar}", file=stream or sys.stderr, flush=True)


def kernel_uid() -> int:
    """The user a sandboxed kernel runs as: a user of its own when the grader is root, else -1 (the tutor).

    In a user namespace that maps few ids (a rootless container) the id is
    taken from the mapped ones; where only root is mapped, -1 (that root is
    not the machine's, and RLIMIT_NPROC applies to it).
    """
    if os.geteuid() != 0:
        return -1
    try:
        ranges = [tuple(map(int, line.split())) for line in Path("/proc/self/uid_map").read_text().splitlines()]
    except (OSError, ValueError):
        ranges = []
    if not ranges or any(inside == 0 and count >= 1 << 31 for inside, _, count in ranges):
        return _UID_BASE + os.getpid()                 # all ids mapped: one of its own per grader process
    spare = [(inside, count) for inside, _, count in ranges if inside + count > 1]
    if not spare:
        return -1
    inside, count = max(spare, key=lambda r: r[1])
    first = max(inside, 1)
    return first + os.getpid() % (inside + count - first)


def _namespaces() -> list[str]:
    """bubblewrap's options for the namespaces and capabilities.

    Unprivileged, bubblewrap needs a user namespace (and RLIMIT_NPROC counts in
    it). As root there is none: root would be exempt from RLIMIT_NPROC, so the
    launcher keeps only the capabilities to switch to :func:`kernel_uid` and
    does so before the kernel starts (no_new_privs stays on: no setuid binary
    gives root back).
    """
    common = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
              "--die-with-parent", "--new-session"]
    if os.geteuid() == 0:
        return [*common, "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    return ["--unshare-user", *common]


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def _python_dirs() -> list[Path]:
    """Folders this Python needs: its prefixes and its executable's, its site-packages, PYTHONPATH.

    Other sys.path entries (the current directory, folders a test runner
    inserted) are left out: they may hold anything. ``LABKIT_SANDBOX_BIND``
    (folders separated by ``:``) adds folders, read-only.
    """
    dirs = {Path(sys.prefix), Path(sys.base_prefix), Path(os.path.realpath(sys.executable)).parent.parent}
    dirs.update(Path(p) for p in sys.path if p and Path(p).name in ("site-packages", "dist-packages"))
    for variable in ("PYTHONPATH", "LABKIT_SANDBOX_BIND"):
        dirs.update(Path(p) for p in os.environ.get(variable, "").split(os.pathsep) if p)
    return sorted({d.resolve() for d in dirs if d.is_absolute() and d.is_dir()})


def _kit_dirs() -> list[Path]:
    """The labkit package and its data (models), wherever the kit is installed."""
    package = Path(__file__).resolve().parent
    dirs = [package]
    model_dir = os.environ.get("LABKIT_MODEL_DIR")
    for candidate in (package.parent / "data", Path(model_dir) if model_dir else None):
        if candidate is not None and candidate.is_dir():
            dirs.append(candidate.resolve())
    return dirs


class Sandbox:
    """One kernel's sandbox: its private directory and the bubblewrap command around the kernel.

    Parameters
    ----------
    limits : the :class:`Limits` of this kernel
    protected : paths that must not be visible inside even if they lie in a
        bound folder (solutions, submissions, the CSV and feedback folder)
    submission : a file copied into the working directory (the grader never
        needs it there; the student's code may look for its own notebook)
    """

    def __init__(self, limits: Limits, *, protected=(), submission: str | os.PathLike | None = None):
        self.limits = limits
        self.dir = Path(tempfile.mkdtemp(prefix="labkit-sandbox-"))
        self.work = self.dir / "work"
        self.home = self.dir / "home"
        for folder in (self.work, self.home, self.home / ".config" / "matplotlib", self.home / ".ipython"):
            folder.mkdir(parents=True, exist_ok=True)
        if submission is not None:
            shutil.copyfile(submission, self.work / Path(submission).name)
        self.connection_file = self.dir / "kernel.json"
        self.ipc_prefix = str(self.dir / "ipc")
        self.protected = [Path(p).resolve() for p in protected]
        self.uid = kernel_uid()

    def give_to_kernel(self) -> None:
        """Hand the private directory (and the connection file) to the user the kernel runs as."""
        if self.uid < 0:
            return
        for root, dirs, files in os.walk(self.dir):
            for name in [".", *dirs, *files]:
                os.lchown(os.path.join(root, name), self.uid, self.uid)

    def _mounts(self) -> list[str]:
        args = ["--ro-bind", "/usr", "/usr"]
        for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            top = Path("/") / name
            if top.is_symlink():
                args += ["--symlink", os.readlink(top), str(top)]
            elif top.is_dir():
                args += ["--ro-bind", str(top), str(top)]
        args += ["--ro-bind", "/etc", "/etc", "--proc", "/proc", "--dev", "/dev",
                 "--size", str(256 << 20), "--tmpfs", "/tmp", "--size", str(64 << 20), "--tmpfs", "/dev/shm"]
        bound, made = [Path("/usr"), Path("/etc")], {Path("/"), Path("/tmp")}
        for folder in [*_python_dirs(), *_kit_dirs()]:
            if not any(_inside(folder, b) for b in bound):
                for parent in reversed(folder.parents):     # bubblewrap would make them 0700
                    if parent not in made and not any(_inside(parent, b) for b in bound):
                        args += ["--perms", "0755", "--dir", str(parent)]
                        made.add(parent)
                args += ["--ro-bind", str(folder), str(folder)]
                bound.append(folder)
        keras_models = Path.home() / ".keras" / "models"   # cached ImageNet weights, read-only
        if keras_models.is_dir():
            args += ["--ro-bind", str(keras_models), str(self.home / ".keras" / "models")]
        for path in [*self.protected, *self._repository_git()]:
            if any(_inside(path, b) for b in bound):
                args += ["--tmpfs", str(path)] if path.is_dir() else ["--ro-bind", "/dev/null", str(path)]
        args += ["--bind", str(self.dir), str(self.dir)]
        return args

    @staticmethod
    def _repository_git() -> list[Path]:
        git = Path(__file__).resolve().parent.parent / ".git"   # the solutions' history
        return [git] if git.exists() else []

    def _environment(self) -> list[str]:
        env = {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "HOME": str(self.home),
               "TMPDIR": "/tmp", "MPLCONFIGDIR": str(self.home / ".config" / "matplotlib"),
               "IPYTHONDIR": str(self.home / ".ipython"), "TF_CPP_MIN_LOG_LEVEL": "2",
               "PYTHONDONTWRITEBYTECODE": "1"}
        if os.environ.get("VIRTUAL_ENV"):
            env["VIRTUAL_ENV"] = os.environ["VIRTUAL_ENV"]
        for key, value in os.environ.items():
            if key in _ENV_KEEP or key.startswith(_ENV_PREFIXES):
                env[key] = value
        args = ["--clearenv"]
        for key, value in sorted(env.items()):
            args += ["--setenv", key, value]
        return args

    def command(self, kernel_cmd: list[str]) -> list[str]:
        """``kernel_cmd`` wrapped: privileges dropped, bubblewrap, the limits, then the kernel."""
        lim = self.limits
        limits = [str(lim.memory_mb << 20), str(lim.processes), str(lim.file_mb << 20), "0"]
        inner = [sys.executable, "-I", "-S", "-c", _LAUNCHER, *limits, str(self.uid), str(self.work), *kernel_cmd]
        return ["bwrap", *_namespaces(), "--hostname", "sandbox", *self._mounts(), *self._environment(),
                "--", *inner]

    def disk_usage(self, cap_entries: int = 20000) -> int:
        """Bytes in the private directory (stops counting after ``cap_entries`` files: then huge)."""
        total, seen = 0, 0
        for root, _dirs, files in os.walk(self.dir):
            for name in files:
                seen += 1
                if seen > cap_entries:
                    return 1 << 62
                try:
                    total += os.lstat(os.path.join(root, name)).st_size
                except OSError:
                    pass
        return total

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def kernel_manager(sandbox: Sandbox | None, **kwargs):
    """An (async, as nbclient wants) KernelManager for this Python's ipykernel; sandboxed over ``ipc`` if given."""
    from jupyter_client import AsyncKernelManager

    class GradingKernelManager(AsyncKernelManager):
        def format_kernel_cmd(self, extra_arguments=None):
            extra = list(extra_arguments or [])
            if not any(a.startswith("--HistoryManager.hist_file") for a in extra):
                extra.append("--HistoryManager.hist_file=:memory:")      # no history database
            cmd = [sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file, *extra]
            if sandbox is None:
                return cmd
            sandbox.give_to_kernel()
            return sandbox.command(cmd)

        async def interrupt_kernel(self):
            """SIGINT to the kernel itself: in its own session and PID namespace, the process group of
            bubblewrap (what jupyter_client signals) does not reach it."""
            if sandbox is None:
                return await super().interrupt_kernel()
            import signal

            import psutil
            try:
                inside = psutil.Process(self.provisioner.process.pid).children(recursive=True)
            except (psutil.Error, AttributeError):
                return
            for proc in inside:
                try:
                    if "ipykernel_launcher" in proc.cmdline():
                        proc.send_signal(signal.SIGINT)
                except psutil.Error:
                    pass

    if sandbox is None:
        return GradingKernelManager(**kwargs)
    return GradingKernelManager(transport="ipc", ip=sandbox.ipc_prefix,
                                connection_file=str(sandbox.connection_file), **kwargs)


class Watchdog(threading.Thread):
    """Kills a kernel that runs past its deadline, uses too much memory, or fills its directory.

    ``reason`` says why it killed (empty while it has not). Polls every ``interval`` seconds:
    the resident memory of the kernel's process and all its descendants, the private
    directory's size every few polls, and the deadline.
    """

    def __init__(self, pid: int, limits: Limits, deadline: float, sandbox: Sandbox | None,
                 interval: float = 0.25):
        super().__init__(daemon=True)
        self.pid, self.limits, self.deadline, self.sandbox, self.interval = pid, limits, deadline, sandbox, interval
        self.reason = ""
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def _memory(self, proc) -> int:
        """Memory of the kernel and all its processes: resident sizes, or where they add up to more
        than the limit, proportional ones (forked copies share pages, which RSS counts in each)."""
        import psutil
        processes = [proc, *proc.children(recursive=True)]
        total = 0
        for p in processes:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        if total <= self.limits.memory_mb << 20:
            return total
        total = 0
        for p in processes:
            try:
                total += p.memory_full_info().pss
            except (psutil.Error, AttributeError):
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
        return total

    def _kill(self, proc, reason: str) -> None:
        import psutil
        self.reason = reason
        for p in [*proc.children(recursive=True), proc]:
            try:
                p.kill()
            except psutil.Error:
                pass

    def run(self) -> None:
        import psutil
        try:
            proc = psutil.Process(self.pid)
        except psutil.Error:
            return
        polls = 0
        while not self._stop.wait(self.interval):
            polls += 1
            try:
                if self._check(proc, polls):
                    return
            except psutil.Error:                     # a process vanished while being read
                if not proc.is_running():
                    return                           # the kernel itself: the watch is over
                continue                             # one of its children: poll again

    def _check(self, proc, polls: int) -> bool:
        """One poll; True when the watch is over (the kernel is gone or was killed)."""
        if not proc.is_running():
            return True
        if time.monotonic() > self.deadline:
            self._kill(proc, f"the submission ran longer than its {self.limits.max_seconds:g} s limit and was "
                             f"stopped")
            return True
        if self._memory(proc) > self.limits.memory_mb << 20:
            self._kill(proc, f"the notebook used more than {self.limits.memory_mb} MB of memory and was stopped")
            return True
        if self.sandbox is not None and polls % 8 == 0 and \
                self.sandbox.disk_usage() > 2 * (self.limits.file_mb << 20):
            self._kill(proc, f"the notebook wrote more than {2 * self.limits.file_mb} MB of files and was "
                             f"stopped")
            return True
        return False
