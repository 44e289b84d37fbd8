"""Exercise checks for notebook 05, the capstone "debug the tank detector" (re-exported by :mod:`labkit.checks`).

Three exercises, each with a reference implementation, fresh inputs made
from a seed, and diagnoses of the typical mistakes:

- :func:`check_accuracy_by_group`: a model and an ``ImageSet`` -> accuracy
  per (factor value, true class) group, a (V, C) table with NaN for empty
  groups (the tool that shows the tank detector's failure on sunny tanks).
- :func:`check_energy_in_region`: attribution maps and region masks (sky,
  tank, ground) -> the share of each map's positive attribution inside the
  region, NaN for a map without positive values; the same number as
  ``labkit.metrics.mask_energy`` (the energy-based pointing game).
- :func:`check_swap_sky`: a counterfactual: paste the donors' sky (every row
  above each image's horizon) onto the images, keep their ground and tank.

Results with NaN (empty groups, maps without positive attribution) are
compared NaN-aware: a NaN where a number was expected, or a number where the
answer is undefined, gets its own explanation; the diagnoses count NaN in
both results as equal (``matches(..., equal_nan=True)``).

Only numpy is imported at module level; keras and labkit's methods are
imported inside the checks that need them.
"""
from __future__ import annotations

import contextlib
import functools
import logging
from typing import Callable

import numpy as np

from labkit.checks.engine import Case, CheckResult, Mismatch, _as_array, check_function, compare_values, matches

__all__ = ["check_accuracy_by_group", "check_energy_in_region", "check_swap_sky"]


# --------------------------------------------------------------------------
# shared: NaN-aware comparison for results that may hold NaN
def _nan_compare(why_nan: str, *, rtol: float = 1e-4, atol: float = 1e-5) -> Callable:
    """A ``compare(got, expected)`` that treats NaN as a value: it must sit exactly where expected.

    ``why_nan`` says, for the student, what a NaN in the expected result means.
    """
    def compare(got, expected) -> str | None:
        want, have = _as_array(expected), _as_array(got)
        usable = (want is not None and have is not None and have.shape == want.shape
                  and want.dtype.kind in "fc" and have.dtype.kind in "biufc")
        if not usable:
            return compare_values(got, expected, rtol=rtol, atol=atol)
        undefined, have_nan = np.isnan(want), np.isnan(have.astype(np.float64))
        if np.any(undefined & ~have_nan):
            at = _first(undefined & ~have_nan)
            return (f"at index {at} the expected result is NaN ({why_nan}), but yours is "
                    f"{float(have[at]):.4g}; return np.nan there")
        if np.any(have_nan & ~undefined):
            at = _first(have_nan & ~undefined)
            return (f"your result is NaN at index {at}, where the expected value is "
                    f"{float(want[at]):.4g}; NaN belongs only where {why_nan}")
        return compare_values(np.where(undefined, 0.0, have), np.where(undefined, 0.0, want),
                              rtol=rtol, atol=atol)
    return compare


def _first(flags: np.ndarray) -> tuple:
    return tuple(int(i) for i in np.argwhere(flags)[0])


# --------------------------------------------------------------------------
# 1. accuracy per group: factor value x true class
def _predicted(model, images: np.ndarray) -> np.ndarray:
    """The model's predicted classes (N,), argmax of its outputs."""
    return np.asarray(model(images, training=False)).argmax(axis=-1)


def _group_table(values, labels, num_classes: int, score: Callable) -> np.ndarray:
    """(V, C) table of ``score(group)`` for each factor value (np.unique) and class; NaN if empty."""
    rows = np.unique(values)
    table = np.full((len(rows), num_classes), np.nan)
    for i, value in enumerate(rows):
        for c in range(num_classes):
            group = (values == value) & (labels == c)                 # (N,) bool
            if group.any():
                table[i, c] = score(group, c)
    return table


@contextlib.contextmanager
def _quiet_retracing():
    """Silence TensorFlow's "triggered tf.function retracing" warnings while a check runs.

    The check's fresh inputs have different sizes, so a student's ``model.predict``
    retraces; the warning would only distract from the check's own message.
    """
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _accuracy_by_group(model, data, factor: str) -> np.ndarray:
    """Accuracy on the images of each (factor value, true class) group: (V, C), NaN for empty groups."""
    predicted = _predicted(model, data.images)                         # (N,)
    return _group_table(np.asarray(data.factors[factor]), data.labels, len(data.class_names),
                        lambda group, c: np.mean(predicted[group] == c))


@functools.lru_cache(maxsize=None)
def _toy_classifier(num_classes: int, size: int, seed: int):
    """A tiny keras classifier, image -> mean colour -> Dense -> logits, with seeded weights."""
    import keras

    inputs = keras.Input((size, size, 3), name="image")
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(inputs)
    logits = keras.layers.Dense(num_classes, name="logits")(pooled)
    model = keras.Model(inputs, logits, name=f"toy_classifier_{num_classes}")
    rng = np.random.default_rng(1000 + seed)
    kernel = rng.normal(scale=4.0, size=(3, num_classes)).astype(np.float32)
    model.get_layer("logits").set_weights([kernel, -kernel.T @ np.full(3, 0.5, np.float32)])
    return model


def _group_data(rng: np.random.Generator, n: int, size: int, class_names: tuple, factor: str,
                values: np.ndarray, name: str):
    """An ImageSet of n flat-coloured noisy images with random labels and one factor."""
    from labkit import toyworld

    colours = rng.random((n, 1, 1, 3)).astype(np.float32)
    images = np.clip(colours + rng.normal(0, 0.05, (n, size, size, 3)), 0, 1).astype(np.float32)
    labels = rng.integers(0, len(class_names), n).astype(np.int64)
    return toyworld.ImageSet(images, labels, np.zeros((n, size, size), bool), {factor: values},
                             tuple(class_names), name)


def _accuracy_cases(seed: int) -> Callable:
    def cases(rng: np.random.Generator) -> list[Case]:
        two = _toy_classifier(2, 8, seed)
        three = _toy_classifier(3, 8, seed)
        weather = _group_data(rng, 60, 8, ("no_tank", "tank"), "weather", rng.integers(0, 2, 60),
                              "fresh/weather")
        colour = _group_data(rng, 90, 8, ("a", "b", "c"), "colour", rng.choice([0, 2, 5], 90), "fresh/colour")
        empty = _group_data(rng, 40, 8, ("no_tank", "tank"), "weather", rng.integers(0, 2, 40), "fresh/sunny")
        empty.factors["weather"][empty.labels == 0] = 1                # no sunny no_tank photo at all
        return [Case((two, weather, "weather"),
                     label="60 images, 2 classes, factor 'weather' with values 0 and 1"),
                Case((three, colour, "colour"),
                     label="90 images, 3 classes, factor 'colour' with values 0, 2 and 5"),
                Case((two, empty, "weather"),
                     label="40 images with one empty group (no image has weather 0 and label 0)")]
    return cases


def _values_not_unique(m: Mismatch) -> str | None:
    got, (_model, data, factor) = m.got, m.case.args
    values = np.unique(data.factors[factor])
    if isinstance(got, np.ndarray) and got.ndim == 2 and got.shape[0] == values.max() + 1 != len(values):
        return (f"you made one row for every number 0..{values.max()}, but the factor only takes the "
                f"values {values.tolist()}: make one row per distinct value, np.unique(data.factors[factor])")
    return None


def _without_classes(m: Mismatch) -> str | None:
    got = m.got
    if isinstance(got, np.ndarray) and got.ndim == 1 and got.shape[0] == m.expected.shape[0]:
        return ("you computed one accuracy per factor value; split each value's images by their true "
                "class too (one column per class): an average over both classes can hide a class the "
                "model always gets wrong")
    return None


def _accuracy_wrong(score: Callable) -> Callable:
    """A wrong group statistic, in the same table layout."""
    def wrong(model, data, factor):
        predicted = _predicted(model, data.images)
        return _group_table(np.asarray(data.factors[factor]), data.labels, len(data.class_names),
                            lambda group, c: score(predicted, group, c))
    return wrong


def check_accuracy_by_group(student_fn: Callable, *, seed: int = 0, raise_on_fail: bool = True) -> CheckResult:
    """Check ``accuracy_by_group(model, data, factor) -> (V, C)`` accuracies, NaN for empty groups.

    Rows are the distinct values of ``data.factors[factor]`` in increasing
    order (``np.unique``), columns the classes ``0..C-1`` of
    ``data.class_names``; entry ``[i, c]`` is the share of the images with the
    i-th factor value and true class c that the model classifies as c.
    """
    __tracebackhide__ = True  # noqa: F841
    with _quiet_retracing():
        return _check_accuracy_by_group(student_fn, seed, raise_on_fail)


def _check_accuracy_by_group(student_fn: Callable, seed: int, raise_on_fail: bool) -> CheckResult:
    __tracebackhide__ = True  # noqa: F841
    return check_function(student_fn, _accuracy_by_group, _accuracy_cases(seed), seed=seed,
                          name="accuracy_by_group", raise_on_fail=raise_on_fail,
                          compare=_nan_compare("no image has this factor value and true class, so its "
                                               "accuracy is undefined"), diagnoses=(
        _values_not_unique,
        _without_classes,
        matches(lambda model, data, factor: _accuracy_by_group(model, data, factor).T,
                "your table is transposed: one row per factor value (np.unique), one column per class",
                equal_nan=True),
        matches(_accuracy_wrong(lambda p, group, c: 1 - np.mean(p[group] == c)),
                "you computed the error rate (1 - accuracy): count the images the model gets right",
                equal_nan=True),
        matches(_accuracy_wrong(lambda p, group, c: np.sum(p[group] == c)),
                "you counted the correct predictions; divide by the number of images in the group",
                equal_nan=True),
        matches(_accuracy_wrong(lambda p, group, c: np.mean(p[group] == 1)),
                "you computed how often the model predicts class 1 in each group; accuracy compares "
                "each prediction with the image's true class (data.labels)", equal_nan=True),
        matches(_accuracy_wrong(lambda p, group, c: np.sum(p[group] == c) / len(p)),
                "you divided the correct predictions by the number of all images; divide by the "
                "number of images in the group", equal_nan=True),
        matches(lambda model, data, factor: np.nan_to_num(_accuracy_by_group(model, data, factor)),
                "an empty group has no accuracy: return np.nan there, not 0 (a 0 would claim the "
                "model gets every such image wrong)", equal_nan=True),
    ))


# --------------------------------------------------------------------------
# 2. the share of positive attribution inside a region
def _energy_in_region(maps: np.ndarray, region_masks: np.ndarray) -> np.ndarray:
    """sum(relu(map) * mask) / sum(relu(map)) per image, (N,); NaN where nothing is positive."""
    from labkit import metrics

    return np.asarray(metrics.mask_energy(maps, region_masks), dtype=np.float64)


def _energy_cases(rng: np.random.Generator) -> list[Case]:
    signed = rng.normal(size=(3, 6, 8)).astype(np.float32)
    regions = rng.random((3, 6, 8)) < 0.4
    strengths = np.array([0.01, 1.0, 50.0], np.float32)[:, None, None]
    positive = (rng.random((3, 9, 9)).astype(np.float32) ** 3) * strengths
    upper = np.broadcast_to(np.arange(9)[None, :, None] < rng.integers(3, 6, (3, 1, 1)), (3, 9, 9)).copy()
    tricky = rng.normal(size=(4, 5, 5)).astype(np.float32)
    tricky[1] = -np.abs(tricky[1])                                     # no positive value at all
    masks = rng.random((4, 5, 5)) < 0.5
    masks[2] = False                                                   # an empty region: no tank here
    return [Case((signed, regions), label="3 signed 6x8 maps and random regions"),
            Case((positive, upper), label="3 positive 9x9 maps of very different strength (x0.01, x1, x50), "
                                          "regions = the top rows (a 'sky')"),
            Case((tricky, masks), label="4 signed 5x5 maps: map 1 has no positive value, region 2 is empty")]


def _energy_wrong(fn: Callable) -> Callable:
    def wrong(maps, masks):
        maps, masks = np.asarray(maps, np.float64), np.asarray(masks, bool)
        return fn(maps, masks)
    return wrong


def _share(inside, total):
    """inside / total as a student writes it (0/0 = NaN; matches silences the warnings)."""
    return inside / total


def _share_if_positive(inside, total):
    """inside / total where the total is positive, NaN elsewhere (a guarded division)."""
    return np.where(total > 0, inside / np.where(total > 0, total, 1.0), np.nan)


def check_energy_in_region(student_fn: Callable, *, seed: int = 0, raise_on_fail: bool = True) -> CheckResult:
    """Check ``energy_in_region(maps, region_masks) -> (N,)`` shares of positive attribution.

    ``sum(relu(map) * mask) / sum(relu(map))`` per image, over its (H, W)
    pixels; NaN for a map with no positive value. The same as
    ``labkit.metrics.mask_energy`` on maps of the masks' size.
    """
    __tracebackhide__ = True  # noqa: F841
    relu = lambda maps: np.maximum(maps, 0.0)  # noqa: E731
    per_image = (1, 2)
    return check_function(student_fn, _energy_in_region, _energy_cases, seed=seed, name="energy_in_region",
                          raise_on_fail=raise_on_fail,
                          compare=_nan_compare("this map has no positive attribution at all, so the share "
                                               "is 0/0, undefined"), diagnoses=(
        *(matches(_energy_wrong(lambda m, k, share=share: share((m * k).sum(per_image), m.sum(per_image))),
                  "only positive attribution counts: clip the maps with np.maximum(maps, 0) first "
                  "(negative values are evidence against the class and would cancel positive ones)",
                  equal_nan=True)
          for share in (_share, _share_if_positive)),
        matches(_energy_wrong(lambda m, k: _share((np.abs(m) * k).sum(per_image), np.abs(m).sum(per_image))),
                "you used np.abs: negative attribution is evidence *against* the class, not for it; "
                "keep only the positive part, np.maximum(maps, 0)", equal_nan=True),
        matches(_energy_wrong(lambda m, k: (relu(m) * k).sum(per_image) / relu(m).sum()),
                "you divided by the positive attribution of the whole batch; divide each image by its "
                "own total (sum over axes (1, 2) only)", equal_nan=True),
        matches(_energy_wrong(lambda m, k: (relu(m) * k).sum(per_image)),
                "you returned the attribution inside the region; divide it by the image's total "
                "positive attribution to get a share between 0 and 1", equal_nan=True),
        matches(_energy_wrong(lambda m, k: k.mean(axis=per_image)),
                "you returned the region's share of the *area*; that is the random baseline. Weigh "
                "each pixel by its positive attribution", equal_nan=True),
        matches(_energy_wrong(lambda m, k: _share((relu(m) * k).sum(per_image), k.sum(per_image))),
                "you computed the mean attribution per pixel of the region; divide by the image's "
                "total positive attribution instead", equal_nan=True),
        matches(_energy_wrong(lambda m, k: _share((relu(m) * ~k).sum(per_image), relu(m).sum(per_image))),
                "you measured the share *outside* the region: the mask is True inside it", equal_nan=True),
        matches(_energy_wrong(lambda m, k: np.nan_to_num(_share((relu(m) * k).sum(per_image),
                                                                 relu(m).sum(per_image)))),
                "a map without any positive value has no share to split: return np.nan for it, not 0",
                equal_nan=True),
    ))


# --------------------------------------------------------------------------
# 3. the counterfactual: another sky
def _sky_rows(horizons: np.ndarray, height: int) -> np.ndarray:
    """(N, H) bool: row r is sky when its centre (r + 0.5) / H <= horizon, as the toy world draws it."""
    centres = (np.arange(height) + 0.5) / height                      # (H,)
    return centres[None, :] <= np.asarray(horizons, np.float64)[:, None]


def _swap_sky(images: np.ndarray, donors: np.ndarray, horizons: np.ndarray) -> np.ndarray:
    """The donors' pixels above each image's horizon, the image's own pixels below it."""
    sky = _sky_rows(horizons, images.shape[1])[:, :, None, None]       # (N, H, 1, 1)
    return np.where(sky, donors, images)


def _swap_cases(rng: np.random.Generator) -> list[Case]:
    from labkit import toyworld

    def pair(n, h, w, c):
        return (rng.random((n, h, w, c)).astype(np.float32), rng.random((n, h, w, c)).astype(np.float32))

    images, donors = pair(2, 8, 6, 3)
    # 0.4 * 8 = 3.2 and 0.6 * 8 = 4.8 rows: the boundary row tells the rounding conventions apart
    small = Case((images, donors, np.array([0.4, 0.6]) + rng.uniform(-0.01, 0.01, 2)),
                 label="2 images of 8x6 pixels, horizons near 0.4 and 0.6")
    photos = toyworld.toy_world("tanks", "test", n=6, seed=int(rng.integers(1000, 10**6)))
    real = Case((photos.images[:3], photos.images[3:], photos.factors["horizon"][:3]),
                label="3 tank-world photos (64x64) with their own horizons, donors = 3 other photos")
    grey, grey_donors = pair(1, 10, 4, 1)
    odd = Case((grey, grey_donors, np.array([0.57])), label="1 grey image of 10x4 pixels, horizon 0.57")
    return [small, real, odd]


def _rows_rule(rule: Callable) -> Callable:
    """swap_sky with another rule ``rule(rows (H,), horizons (N, 1), H) -> (N, H) bool`` for the sky rows."""
    def wrong(images, donors, horizons):
        height = images.shape[1]
        sky = rule(np.arange(height)[None, :], np.asarray(horizons, np.float64)[:, None], height)
        return np.where(sky[:, :, None, None], donors, images)
    return wrong


def _unchanged(m: Mismatch) -> str | None:
    images, donors, horizons = m.case.args
    as_rows = [_rows_rule(lambda r, h, n: r <= h), _rows_rule(lambda r, h, n: r < h)]
    if m.close(m.got, images, equal_nan=True) or any(
            m.close(m.got, wrong(images, donors, horizons), equal_nan=True) for wrong in as_rows):
        return ("(almost) nothing changed: horizons are fractions of the image height "
                "(e.g. 0.53 = 53% of the way down), not pixel rows: row r is sky when "
                "(r + 0.5) / H <= horizon")
    if m.close(m.got, donors, equal_nan=True):
        return "your result is the donors unchanged: only the rows above each image's horizon come from the donor"
    return None


def check_swap_sky(student_fn: Callable, *, seed: int = 0, raise_on_fail: bool = True) -> CheckResult:
    """Check ``swap_sky(images, donors, horizons) -> (N, H, W, C)``.

    Row r (0 = top) of image i is sky when ``(r + 0.5) / H <= horizons[i]``:
    there the result takes the donor's pixels, elsewhere the image's own.
    """
    __tracebackhide__ = True  # noqa: F841
    off_by_one = ("the rows are right except at the boundary: row r belongs to the sky when its centre, "
                  "(r + 0.5) / H, is <= the horizon (the rule the toy world draws with)")
    return check_function(student_fn, _swap_sky, _swap_cases, seed=seed, name="swap_sky",
                          raise_on_fail=raise_on_fail, diagnoses=(
        _unchanged,
        matches(lambda images, donors, horizons: _swap_sky(donors, images, horizons),
                "you kept the image's sky and took the donor's ground (roles swapped, or the ground "
                "replaced instead of the sky): row 0 is the top of the image, so the sky is the rows "
                "with (r + 0.5) / H <= horizon, and the result is np.where(sky, donors, images)"),
        matches(_rows_rule(lambda r, h, n: r / n <= h), off_by_one),
        matches(_rows_rule(lambda r, h, n: r < h * n), off_by_one),
        matches(_rows_rule(lambda r, h, n: r <= h * n), off_by_one),
        matches(_rows_rule(lambda r, h, n: r < np.floor(h * n)), off_by_one),
        matches(_rows_rule(lambda r, h, n: (r + 1) / n <= h), off_by_one),
        matches(lambda images, donors, horizons: np.where(
            _sky_rows(horizons, images.shape[2])[:, None, :, None], donors, images),
                "you compared the horizon with the column positions; the horizon is a horizontal line, "
                "so compare it with the row positions (axis 1 of (N, H, W, C))"),
    ))
