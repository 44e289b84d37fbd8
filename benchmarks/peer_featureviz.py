"""Peer libraries' activation maximisation on labkit's objective, run inside .venv-peers.

    .venv-peers/bin/python benchmarks/peer_featureviz.py WEIGHTS.npz 0,1,2,3,4,5,6,7 256 OUT_DIR

Called by ``benchmarks/bench_featureviz.py``: rebuilds the ``shapes`` CNN
(the zoo architecture) from the weights it exported, maximises the mean of
each conv4 channel (one image per channel, one batch) with xplique and with
tf-keras-vis, saves each library's images to ``OUT_DIR/<library>.npy``
(float32 in [0, 1]) and prints one JSON line: seconds, settings, versions,
errors. The images are scored by labkit's own model in the main venv.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def build(weights: dict):
    """The zoo CNN (conv1..conv4 3x3 ReLU 'same', max pools, gap, logits) with the exported weights."""
    keras = tf.keras
    inputs = keras.Input((64, 64, 3), name="image")
    x = inputs
    for i, width in enumerate((8, 16, 32, 64), start=1):
        x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv{i}")(x)
        if i < 4:
            x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inputs, keras.layers.Dense(4, name="logits")(x), name="shapes")
    for layer in model.layers:
        values = [weights[f"{layer.name}/{i}"] for i in range(len(layer.get_weights()))]
        if values:
            layer.set_weights(values)
    return model


def run_xplique(model, channels, steps, warmup=False):
    from xplique.features_visualizations import Objective, optimize

    objective = Objective.channel(model, "conv4", list(channels))
    images, _ = optimize(objective, nb_steps=steps, custom_shape=(64, 64), warmup_steps=warmup)  # defaults otherwise
    return np.asarray(images[-1], np.float32)


def run_tf_keras_vis(model, channels, steps):
    from tf_keras_vis.activation_maximization import ActivationMaximization
    from tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayer

    visualize = ActivationMaximization(model, model_modifier=ExtractIntermediateLayer("conv4"), clone=True)

    def score(output):  # (8, 8, 8, 64) -> (8,): image i scores channel i
        return tf.stack([tf.reduce_mean(output[i, ..., c]) for i, c in enumerate(channels)])

    seed = tf.random.uniform((len(channels), 64, 64, 3), 0.0, 1.0, seed=0)
    images = visualize(score, seed_input=seed, input_range=(0.0, 1.0), steps=steps,
                       optimizer=tf.keras.optimizers.RMSprop(learning_rate=1.0 / 255, rho=0.999))
    return np.asarray(images, np.float32)


PEERS = {
    "xplique": (run_xplique, "optimize(Objective.channel), its defaults: FFT (decay 0.85), Adam 0.05, "
                             "standard transforms, custom_shape=(64, 64)"),
    "xplique (warmup_steps=32)": (lambda m, c, s: run_xplique(m, c, s, warmup=32),
                                  "as above plus its ReLU fix: 32 warm-up steps with ReLU gradients opened"),
    "tf-keras-vis": (run_tf_keras_vis, "ActivationMaximization, its defaults (Jitter 4, Rotate 1 deg, TV 1.0 + "
                                       "L1 0.3, RMSprop rho 0.999) with lr 1/255 for [0, 1] inputs (1.0 on 0..255)"),
}


def _file(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name)


def versions() -> dict:
    out = {"tensorflow": tf.__version__, "keras": getattr(tf.keras, "__version__", "?")}
    for name in ("xplique", "tf_keras_vis"):
        try:
            out[name] = __import__(name).__version__
        except Exception as err:  # noqa: BLE001 - report, do not fail
            out[name] = f"not importable: {type(err).__name__}"
    return out


def main(argv) -> int:
    weights_path, channels, steps, out_dir = argv[1], [int(c) for c in argv[2].split(",")], int(argv[3]), argv[4]
    only = argv[5].split(",") if len(argv) > 5 else list(PEERS)  # e.g. "xplique" to run one
    report = {"versions": versions(), "peers": {}}
    try:
        model = build(dict(np.load(weights_path)))
    except Exception:  # noqa: BLE001
        report["peers"] = {name: {"ok": False, "settings": s, "error": "model: " + traceback.format_exc(limit=2)}
                           for name, (_, s) in PEERS.items()}
        print(json.dumps(report))
        return 0
    for name, (run, settings) in PEERS.items():
        if name not in only:
            continue
        entry = {"settings": settings}
        try:
            start = time.perf_counter()
            images = run(model, channels, steps)
            entry["first_seconds"] = time.perf_counter() - start
            start, cpu = time.perf_counter(), time.process_time()
            images = run(model, channels, steps)  # warm: tracing done
            entry["seconds"], entry["cpu"] = time.perf_counter() - start, time.process_time() - cpu
            np.save(os.path.join(out_dir, f"{_file(name)}.npy"), images)
            entry.update(ok=True, shape=list(images.shape), range=[float(images.min()), float(images.max())])
        except Exception as err:  # noqa: BLE001 - one peer failing must not stop the other
            entry.update(ok=False, error=f"{type(err).__name__}: {err}"[:600])
        report["peers"][name] = entry
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
