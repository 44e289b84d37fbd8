"""Hand-checkable tabular models shared by test_distill.py and test_fairness.py.

Plain functions of the columns (a threshold on one feature) and a Keras model
with a known linear score, so every number the tests compare has a known answer.
"""

import keras
import numpy as np

RNG = np.random.default_rng(0)
X = RNG.normal(size=(2000, 4)).astype("float32")  # columns x0..x3
THRESHOLD = 0.3


def threshold_model(X):
    """Decides on x2 alone: class 1 when x2 > 0.3."""
    return (np.asarray(X)[:, 2] > THRESHOLD).astype(int)


def linear_keras_model(w, b):
    """A keras model with logits (0, x . w + b): its log-odds of class 1 are x . w + b."""
    model = keras.Sequential([keras.Input((len(w),)), keras.layers.Dense(2, name="logits")])
    kernel = np.stack([np.zeros(len(w)), w], axis=1).astype("float32")  # (D, 2)
    model.get_layer("logits").set_weights([kernel, np.array([0.0, b], "float32")])
    return model
