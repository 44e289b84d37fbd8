"""Exercise checks for notebook 00, start here (re-exported by :mod:`labkit.checks`).

- :func:`check_saliency_from_gradients`: the warm-up, the last step of the
  lecture's saliency map: ``|gradient|``, max over RGB (Simonyan et al. 2013).
  The smallest complete example of a check: a reference, fresh cases from a
  seed, and one :func:`~labkit.checks.engine.matches` per typical mistake.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from labkit.checks.engine import Case, CheckResult, check_function, matches

__all__ = ["check_saliency_from_gradients"]


def _saliency_from_gradients(grads: np.ndarray) -> np.ndarray:
    """The lecture's last step of a saliency map: |gradient|, max over RGB."""
    return np.abs(grads).max(axis=-1)                                  # (N, H, W, C) -> (N, H, W)


def _saliency_cases(rng: np.random.Generator) -> list[Case]:
    grads = rng.normal(size=(2, 5, 6, 3)).astype(np.float32)
    tricky = rng.normal(size=(1, 4, 4, 3)).astype(np.float32)
    tricky[0, 0, 0] = (0.1, 0.2, -3.0)         # the largest |gradient| is negative
    grey = rng.normal(size=(3, 7, 5, 1)).astype(np.float32)
    return [Case((grads,), label="a batch of 2 gradients of shape (5, 6, 3)"),
            Case((tricky,), label="a gradient whose largest entry is negative"),
            Case((grey,), label="3 single-channel (grey) gradients")]


def check_saliency_from_gradients(student_fn: Callable, *, seed: int = 0,
                                  raise_on_fail: bool = True) -> CheckResult:
    """Check notebook 00's warm-up: ``saliency_from_gradients(grads) -> (N, H, W)``.

    The lecture: "Compute gradient of class score with respect to image
    pixels. Take absolute value and max over RGB channels." ``seed`` picks
    the fresh inputs (hidden tests use another seed than the visible check).
    """
    __tracebackhide__ = True  # noqa: F841
    return check_function(student_fn, _saliency_from_gradients, _saliency_cases, seed=seed,
                          name="saliency_from_gradients", raise_on_fail=raise_on_fail, diagnoses=(
        matches(lambda g: np.abs(g.max(axis=-1)),
                "you took the max first and the absolute value after it: take abs first, so a "
                "large negative gradient counts as much as a large positive one"),
        matches(lambda g: g.max(axis=-1),
                "you forgot the absolute value: a large negative gradient matters as much as a "
                "large positive one, so take np.abs(grads) before the max"),
        matches(lambda g: np.abs(g).mean(axis=-1),
                "you averaged over the channels: the lecture takes the max over RGB (.max(axis=-1))"),
        matches(lambda g: np.abs(g).sum(axis=-1),
                "you summed over the channels: the lecture takes the max over RGB (.max(axis=-1))"),
        matches(lambda g: np.abs(g).max(),
                "you took the max over everything: take it over the channel axis only (axis=-1)"),
    ))
