"""Memory: models are freed with everything labkit compiled for them, and batch_size bounds the peak.

The compile cache (``labkit.forward.cached``) is weak in the model, and what
it stores must not keep the model alive either: after ``del model`` the
model, its feature models and their cache entries are all collected.
"""

import gc
import weakref

import keras
import numpy as np
import pytest

from labkit import ascent, cam, datasets, forward, gradients, layers, metrics, occlusion, tcav, units, zoo


def _collect():
    """Run the collector until nothing more is freed (a freed cache entry can free a cycle next round)."""
    for _ in range(10):
        if gc.collect() == 0:
            break


@pytest.fixture(scope="module")
def images():
    return datasets.toy_world("shapes", "test", 4, size=16, seed=5).images


def _use(model, images):
    """Call a few methods that compile functions for the model and its feature models."""
    layers.activations(model, images, ["conv1", "conv2"])
    forward.predict_batched(layers.feature_model(model, "conv2"), images, batch_size=2)
    units.top_examples(model, "conv2", 1, images, k=2)
    cav = tcav.fit_cav(model, "conv2", images, images[::-1])
    tcav.directional_derivatives(model, images, 1, cav)
    ascent.pixel_ascent(model, ("conv2", 1), steps=2)
    ascent.visualize(model, ("logits", 0), steps=2, progress=False)
    maps = gradients.saliency(model, images)
    gradients.gradient_x_input(model, images)
    gradients.smoothgrad(model, images, n=2)
    gradients.integrated_gradients(model, images, steps=2)
    occlusion.occlusion(model, images, patch=8, stride=8)
    cam.cam(model, images)
    cam.grad_cam(model, images, layer="conv1")
    cam.grad_cam_pp(model, images)
    metrics.deletion_curve(model, images, maps, steps=2)


def test_a_model_and_everything_cached_for_it_are_freed(images):
    keras.utils.set_random_seed(0)
    model = zoo.build_cnn((16, 16, 3), 3, widths=(4, 8), name="short_lived")
    before = {id(owner) for owner in list(forward._CACHE.keys())}
    _use(model, images)
    owners = [owner for owner in list(forward._CACHE.keys()) if id(owner) not in before]
    assert len(owners) >= 3, "the model and at least two feature models own compiled functions"
    entries = sum(len(forward._CACHE[owner]) for owner in owners)
    refs = [weakref.ref(model)] + [weakref.ref(owner) for owner in owners]
    del model, owners
    _collect()
    alive = [ref().name for ref in refs if ref() is not None]
    assert not alive, f"still alive after del model: {alive} ({entries} cache entries were made)"
    assert {id(owner) for owner in list(forward._CACHE.keys())} <= before


def test_cached_builders_get_a_proxy_and_may_pass_it_back(images):
    model = zoo.build_cnn((16, 16, 3), 3, widths=(4,), name="proxied")
    seen = []

    def make(owner):
        seen.append(owner)
        assert isinstance(owner, weakref.ProxyTypes)
        inner = forward.cached(owner, ("inner",), lambda owner: owner.name)  # the proxy works as a key too
        return ("outer", inner)

    assert forward.cached(model, ("outer",), make) == ("outer", "proxied")
    assert forward.cached(model, ("outer",), make) == ("outer", "proxied") and len(seen) == 1
    assert forward._CACHE[model][("inner",)] == "proxied"


def test_cached_rejects_what_cannot_be_an_owner_or_key():
    model = zoo.build_cnn((16, 16, 3), 3, widths=(4,), name="keys")
    with pytest.raises(TypeError, match="owner must be a model"):
        forward.cached(None, ("k",), lambda owner: 1)
    with pytest.raises(TypeError, match="key must be hashable"):
        forward.cached(model, ["k"], lambda owner: 1)
    with pytest.raises(TypeError, match="make must be a function"):
        forward.cached(model, ("k",), None)
    assert np.isfinite(forward.predict_batched(model, np.zeros((2, 16, 16, 3), "float32"))[0]).all()


# --- batch_size bounds the peak -------------------------------------------------------------------
# TensorFlow counts allocations on the CPU only with its BFC allocator, chosen before TensorFlow starts:
# the measurements run in a subprocess. Peak = most memory held by tensors during the call, above the start.

_PEAKS = r"""
import json, sys
import keras, numpy as np, tensorflow as tf
from labkit import forward, gradients, layers, metrics, occlusion, tcav, zoo
keras.utils.set_random_seed(0)
model = zoo.build_cnn((64, 64, 3), 4, widths=(16, 32), name="wide")  # activations dominate the memory
rng = np.random.default_rng(0)
images = rng.random((8, 64, 64, 3), dtype=np.float32)
maps = rng.random((8, 64, 64), dtype=np.float32)
concept = rng.random((16, 64, 64, 3), dtype=np.float32) * 0.5
features = layers.feature_model(model, "conv2")
calls = {  # (method, images, batch_size, chunks): chunks of batch_size occluded images / path points / ...
    "ig_one_chunk": lambda: gradients.integrated_gradients(model, images[:2], steps=16, batch_size=32),
    "ig_eight_chunks": lambda: gradients.integrated_gradients(model, images, steps=32, batch_size=32),
    "smoothgrad_one_chunk": lambda: gradients.smoothgrad(model, images[:2], n=16, batch_size=32),
    "smoothgrad_eight_chunks": lambda: gradients.smoothgrad(model, images, n=32, batch_size=32),
    "occlusion_one_chunk": lambda: occlusion.occlusion(model, images[:2], patch=16, stride=16, batch_size=32),
    "occlusion_eight_chunks": lambda: occlusion.occlusion(model, images, patch=16, stride=8, batch_size=32),
    "deletion_batch_32": lambda: metrics.deletion_curve(model, images, maps, steps=31, batch_size=32),
    "deletion_batch_8": lambda: metrics.deletion_curve(model, images, maps, steps=31, batch_size=8),
    "predict_one_chunk": lambda: forward.predict_batched(features, images[:2], batch_size=2),
    "predict_four_chunks": lambda: forward.predict_batched(features, images, batch_size=2),
    "tcav_batch_16": lambda: tcav.tcav(model, "conv2", 1, {"c": concept}, images, n_random=2, n_concept=16,
                                       batch_size=16),
    "tcav_batch_4": lambda: tcav.tcav(model, "conv2", 1, {"c": concept}, images, n_random=2, n_concept=16,
                                      batch_size=4),
}
peaks = {}
for name, call in calls.items():
    call()  # tracing is not what we measure
    tf.config.experimental.reset_memory_stats("CPU:0")
    start = tf.config.experimental.get_memory_info("CPU:0")["current"]
    call()
    peaks[name] = tf.config.experimental.get_memory_info("CPU:0")["peak"] - start
print("PEAKS " + json.dumps(peaks))
"""


@pytest.fixture(scope="module")
def peaks():
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "TF_CPU_ALLOCATOR_USE_BFC": "true", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", _PEAKS], env=env, cwd=root, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(next(l for l in done.stdout.splitlines() if l.startswith("PEAKS "))[len("PEAKS "):])


@pytest.mark.parametrize("method", ["ig", "smoothgrad", "occlusion"])
def test_eight_chunks_need_about_the_memory_of_one(peaks, method):
    one, eight = peaks[f"{method}_one_chunk"], peaks[f"{method}_eight_chunks"]
    assert one > 2**20, f"one chunk of {method} should hold megabytes of activations, got {one} bytes"
    assert eight < 1.5 * one, (f"{method}: 8 chunks peaked at {eight / 2**20:.1f} MiB, "
                               f"one chunk at {one / 2**20:.1f} MiB")


def test_the_deletion_curve_runs_batch_size_images_at_a_time(peaks):
    small, large = peaks["deletion_batch_8"], peaks["deletion_batch_32"]
    assert small < 0.5 * large, f"batch_size 8 peaked at {small / 2**20:.1f} MiB, 32 at {large / 2**20:.1f} MiB"


def test_predict_batched_keeps_one_chunk_on_the_device(peaks):
    one, four = peaks["predict_one_chunk"], peaks["predict_four_chunks"]
    assert four < 1.5 * one, f"4 chunks peaked at {four / 2**20:.2f} MiB, one chunk at {one / 2**20:.2f} MiB"


def test_tcav_runs_batch_size_images_at_a_time(peaks):
    # 2 random sets + 1 concept set of 16 images and 8 class images: never all of them in one call
    small, large = peaks["tcav_batch_4"], peaks["tcav_batch_16"]
    assert small < 0.6 * large, f"batch_size 4 peaked at {small / 2**20:.1f} MiB, 16 at {large / 2**20:.1f} MiB"
