#!/usr/bin/env bash
# Create .venv-peers with the peer libraries the speed benchmark compares labkit with.
#
#   bash benchmarks/setup_peers.sh
#
# A separate venv because xplique 2.0.2 requires tensorflow[and-cuda]>=2.18,<=2.20
# (on Linux the and-cuda extra pulls ~3 GB of NVIDIA wheels even on a CPU machine),
# while labkit pins TensorFlow 2.21. pip resolves this to TensorFlow 2.20.0 with
# Keras 3.15.1 (tf.keras is Keras 3 there; tf_keras 2.20 is installed as a
# dependency of xplique but not used), and tf-keras-vis 0.8.7 works on the same
# Keras 3 model objects. .venv-peers is git-ignored.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
VENV=.venv-peers
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade "pip>=24"
"$VENV/bin/python" -m pip install --quiet \
    "xplique==2.0.2" "tf-keras-vis==0.8.7" "tensorflow==2.20.0" "keras==3.15.1" "numpy==2.4.6"
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
for name in ("tensorflow", "keras", "tf_keras", "xplique", "tf-keras-vis", "numpy"):
    print(f"{name:14s} {md.version(name)}")
PY
