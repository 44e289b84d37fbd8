"""Tests for labkit.device: the CPU branch for real, the GPU branch with a fake tf.config."""

import keras
import pytest
import tensorflow as tf

from labkit import device

FAKE_GPU = tf.config.PhysicalDevice(name="/physical_device:GPU:0", device_type="GPU")
FAKE_GPU_1 = tf.config.PhysicalDevice(name="/physical_device:GPU:1", device_type="GPU")


@pytest.fixture
def fresh(monkeypatch):
    """Forget the cached summary for the duration of one test."""
    monkeypatch.setattr(device, "_SUMMARY", None)


@pytest.fixture
def fake_gpus(monkeypatch, fresh):
    """Pretend TensorFlow sees two GPUs; record set_memory_growth calls."""
    calls = []
    real_list = tf.config.list_physical_devices

    def list_devices(device_type=None):
        return [FAKE_GPU, FAKE_GPU_1] if device_type == "GPU" else real_list(device_type)

    monkeypatch.setattr(tf.config, "list_physical_devices", list_devices)
    monkeypatch.setattr(tf.config.experimental, "set_memory_growth", lambda gpu, on: calls.append((gpu.name, on)))
    monkeypatch.setattr(
        tf.config.experimental, "get_device_details", lambda gpu: {"device_name": f"NVIDIA Test {gpu.name[-1]}"}
    )
    return calls


def test_cpu_summary_cached(fresh, capsys):
    first = device.setup()
    assert first == (
        f"labkit: running on CPU only (no GPU found); TensorFlow {tf.__version__}, Keras {keras.__version__}"
    )
    assert capsys.readouterr().out == first + "\n"
    assert device.setup(verbose=False) is first
    assert capsys.readouterr().out == ""


def test_gpu_branch_enables_memory_growth(fake_gpus):
    summary = device.setup(verbose=False)
    assert summary.startswith("labkit: running on 2 GPUs: NVIDIA Test 0, NVIDIA Test 1 (memory growth on); TensorFlow")
    assert fake_gpus == [("/physical_device:GPU:0", True), ("/physical_device:GPU:1", True)]
    assert device.setup(verbose=False) == summary and len(fake_gpus) == 2  # idempotent: not configured twice


def test_one_gpu_already_initialised(monkeypatch, fake_gpus):
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda device_type=None: [FAKE_GPU])

    def too_late(gpu, on):
        raise RuntimeError("Physical devices cannot be modified after being initialized")

    monkeypatch.setattr(tf.config.experimental, "set_memory_growth", too_late)
    summary = device.setup(verbose=False)
    assert summary.startswith("labkit: running on 1 GPU: NVIDIA Test 0 (memory growth not set: TensorFlow had already")
    assert "call labkit.device.setup() before building any model" in summary


def test_gpu_name_falls_back_to_tf_name(monkeypatch, fake_gpus):
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda device_type=None: [FAKE_GPU])
    monkeypatch.setattr(tf.config.experimental, "get_device_details", lambda gpu: {})
    assert "1 GPU: /physical_device:GPU:0 (memory growth on)" in device.setup(verbose=False)


def test_describe(fresh):
    info = device.describe()
    assert info["tensorflow"] == tf.__version__ and info["keras"] == keras.__version__
    assert info["backend"] == "tensorflow"
    assert info["gpus"] == []
    assert {"name": "/physical_device:CPU:0", "type": "CPU"} in info["devices"]
    assert info["summary"] == device.setup(verbose=False)


def test_importing_device_first_silences_tensorflows_start_up_log():
    """A notebook's first cell sets TF_CPP_MIN_LOG_LEVEL=3 and imports labkit.device before
    TensorFlow: the C++ lines TensorFlow writes to stderr while it loads (no GPU: "Could not find
    cuda drivers", a red "failed call to cuInit") must not reach the notebook. One fresh process."""
    import os
    import subprocess
    import sys
    code = ("import os, sys; from labkit import device; import tensorflow as tf; device.setup(verbose=False); "
            "print(tf.constant(2.0).numpy() * 3, file=sys.stderr)")   # stderr still works afterwards
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["6.0"], lines


def test_every_notebook_imports_device_before_tensorflow():
    import json
    from pathlib import Path
    for path in sorted((Path(__file__).parent.parent / "solutions").glob("0*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        first = next("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        assert 'os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"' in first, path.name
        device_at = first.index("from labkit import device")
        tf_at = first.find("import tensorflow")
        assert tf_at == -1 or tf_at > device_at, path.name
