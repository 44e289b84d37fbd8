"""Where the work runs: GPU detection, memory growth, a one-line summary.

Call :func:`setup` once at the top of a notebook, before building any model:
it turns on memory growth for every GPU (so TensorFlow does not grab all GPU
memory at start-up, which matters on shared lab machines) and says in one line
whether the lab runs on CPU or GPU. Calling it again just returns that line.
"""

from __future__ import annotations

import os
import platform
import sys


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with file descriptor 2 pointed at /dev/null, when the caller asked for
    silence (``TF_CPP_MIN_LOG_LEVEL=3``) and TensorFlow is not imported yet.

    TensorFlow's C++ side writes its start-up lines ("Could not find cuda drivers ...", "failed
    call to cuInit") to the process's stderr while it loads, before any log level applies; in a
    notebook they show as red noise in the first cell. A Python error during the import is not
    affected (it is raised after stderr is restored)."""
    if "tensorflow" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "3":
        return
    try:
        saved = os.dup(2)
    except OSError:                  # no file descriptor 2 (some embedded interpreters)
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


_import_tensorflow_quietly()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

__all__ = ["setup", "describe"]

_SUMMARY: str | None = None  # cached result of the first setup() call


def _versions() -> str:
    return f"TensorFlow {tf.__version__}, Keras {keras.__version__}"


def _gpu_name(gpu) -> str:
    """Marketing name of a physical GPU ('NVIDIA GeForce RTX 3060'), else its TF name."""
    try:
        details = tf.config.experimental.get_device_details(gpu)
    except Exception:  # details are best effort, never a reason to fail
        details = {}
    return details.get("device_name") or gpu.name


def _enable_memory_growth(gpus) -> bool:
    """Turn on memory growth for every GPU; False if TF had already initialised them."""
    try:
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:  # "Physical devices cannot be modified after being initialized"
        return False
    return True


def _summarize() -> str:
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return f"labkit: running on CPU only (no GPU found); {_versions()}"
    if _enable_memory_growth(gpus):
        growth = "memory growth on"
    else:
        growth = (
            "memory growth not set: TensorFlow had already initialised the GPU; "
            "call labkit.device.setup() before building any model"
        )
    names = ", ".join(_gpu_name(gpu) for gpu in gpus)
    plural = "GPU" if len(gpus) == 1 else "GPUs"
    return f"labkit: running on {len(gpus)} {plural}: {names} ({growth}); {_versions()}"


def setup(verbose: bool = True) -> str:
    """Configure the GPUs (if any) and say where work will run.

    Enables memory growth on every physical GPU. Must run before TensorFlow
    initialises the GPUs (i.e. before the first model or tensor); if it is too
    late, the summary says so instead of failing. Safe to call repeatedly:
    the first call's result is cached and returned again.

    Parameters
    ----------
    verbose : bool
        Print the summary line.

    Returns
    -------
    str
        One line, e.g. ``"labkit: running on CPU only (no GPU found);
        TensorFlow 2.21.0, Keras 3.15.1"`` or ``"labkit: running on 1 GPU:
        NVIDIA GeForce RTX 3060 (memory growth on); ..."``.

    Examples
    --------
    >>> from labkit import device
    >>> device.setup()  # doctest: +SKIP
    labkit: running on CPU only (no GPU found); TensorFlow 2.21.0, Keras 3.15.1
    """
    global _SUMMARY
    if not isinstance(verbose, bool):  # device sits beside validate on the bottom floor, so checks here
        raise TypeError(f"verbose must be True or False, got {type(verbose).__name__} {verbose!r}")
    if _SUMMARY is None:
        _SUMMARY = _summarize()
    if verbose:
        print(_SUMMARY)
    return _SUMMARY


def describe() -> dict:
    """Versions and devices, for bug reports and the first notebook cell.

    Calls :func:`setup` (silently) first so that listing devices does not
    initialise the GPUs before memory growth is set.

    Returns
    -------
    dict
        Keys ``summary`` (the :func:`setup` line), ``tensorflow``, ``keras``,
        ``backend``, ``python``, ``built_with_cuda``, ``gpus`` (list of names)
        and ``devices`` (list of ``{"name", "type"}`` for every physical device).

    Examples
    --------
    >>> describe()["devices"]  # doctest: +SKIP
    [{'name': '/physical_device:CPU:0', 'type': 'CPU'}]
    """
    summary = setup(verbose=False)
    devices = tf.config.list_physical_devices()
    return {
        "summary": summary,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "python": platform.python_version(),
        "built_with_cuda": tf.test.is_built_with_cuda(),
        "gpus": [_gpu_name(d) for d in devices if d.device_type == "GPU"],
        "devices": [{"name": d.name, "type": d.device_type} for d in devices],
    }
