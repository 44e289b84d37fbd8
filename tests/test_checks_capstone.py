"""Tests for notebook 05's exercise checks (labkit/checks/nb05_debug_the_tank_detector.py).

The references are checked against hand-computed values and the kit's own
metric; the solution a student would write passes; every typical wrong
answer fails with its specific hint; NaN (empty groups, maps without
positive attribution) is compared as a value.
"""

import numpy as np
import pytest

from labkit import checks, datasets, metrics
from labkit.checks import nb05_debug_the_tank_detector as cc


def feedback(check, student, **kw) -> str:
    """The message of a failing check (and make sure it fails)."""
    result = check(student, raise_on_fail=False, **kw)
    assert not result.passed, "the check should have failed"
    return repr(result)


# --- what a student would write (the notebook's solutions) ---------------------------------------


def student_accuracy_by_group(model, data, factor):
    predicted = model.predict(data.images, verbose=0).argmax(axis=1)
    values = np.unique(data.factors[factor])
    table = np.full((len(values), len(data.class_names)), np.nan)
    for i, value in enumerate(values):
        for c in range(len(data.class_names)):
            group = (data.factors[factor] == value) & (data.labels == c)
            if group.any():
                table[i, c] = np.mean(predicted[group] == c)
    return table


def student_energy_in_region(maps, region_masks):
    positive = np.maximum(maps, 0)
    total = positive.sum(axis=(1, 2))
    inside = (positive * region_masks).sum(axis=(1, 2))
    return np.where(total > 0, inside / np.where(total > 0, total, 1), np.nan)


def student_swap_sky(images, donors, horizons):
    rows = (np.arange(images.shape[1]) + 0.5) / images.shape[1]
    sky = rows[None, :] <= np.asarray(horizons)[:, None]
    return np.where(sky[:, :, None, None], donors, images)


STUDENT = {
    "accuracy_by_group": (checks.check_accuracy_by_group, student_accuracy_by_group, cc._accuracy_by_group),
    "energy_in_region": (checks.check_energy_in_region, student_energy_in_region, cc._energy_in_region),
    "swap_sky": (checks.check_swap_sky, student_swap_sky, cc._swap_sky),
}


@pytest.mark.parametrize("name", list(STUDENT))
@pytest.mark.parametrize("seed", [0, 1])
def test_reference_and_student_solution_pass(name, seed):
    check, student, reference = STUDENT[name]
    assert check(reference, seed=seed).passed
    result = check(student, seed=seed)
    assert result.passed and "passed 3 checks" in repr(result)


@pytest.mark.parametrize("name", list(STUDENT))
def test_not_implemented_means_not_attempted(name):
    def student(*args):
        raise NotImplementedError()
    text = feedback(STUDENT[name][0], student)
    assert "not attempted yet" in text


def test_checks_are_exported_and_listed():
    assert set(cc.__all__) == {"check_accuracy_by_group", "check_energy_in_region", "check_swap_sky"}
    assert all(getattr(checks, name) is getattr(cc, name) for name in cc.__all__)


# --- the references compute the right numbers ------------------------------------------------------


class Fixed:
    """A 'model' with fixed outputs, so the table can be computed by hand."""

    def __init__(self, logits):
        self.logits = np.asarray(logits, np.float32)

    def __call__(self, images, training=False):
        return self.logits

    def predict(self, images, verbose=0):
        return self.logits


def test_accuracy_by_group_by_hand():
    #            value:  0  0  0  1  1  3  3
    #            label:  0  0  1  0  1  1  1
    #        predicted:  0  1  1  1  0  1  0
    labels = np.array([0, 0, 1, 0, 1, 1, 1])
    predicted = np.array([0, 1, 1, 1, 0, 1, 0])
    data = datasets.ImageSet(np.zeros((7, 2, 2, 3), np.float32), labels, np.zeros((7, 2, 2), bool),
                             {"f": np.array([0, 0, 0, 1, 1, 3, 3])}, ("a", "b"), "hand")
    table = cc._accuracy_by_group(Fixed(np.eye(2)[predicted]), data, "f")
    expected = np.array([[0.5, 1.0],
                         [0.0, 0.0],
                         [np.nan, 0.5]])
    np.testing.assert_array_equal(table, expected)


def test_energy_in_region_by_hand_and_equals_mask_energy():
    maps = np.array([[[1.0, -2.0], [3.0, 0.0]],          # positive total 4, 3 inside -> 0.75
                     [[-1.0, -1.0], [0.0, -5.0]]])       # nothing positive -> NaN
    masks = np.array([[[False, True], [True, False]]] * 2)
    np.testing.assert_array_equal(cc._energy_in_region(maps, masks), [0.75, np.nan])
    rng = np.random.default_rng(3)
    maps, masks = rng.normal(size=(5, 7, 6)), rng.random((5, 7, 6)) < 0.3
    np.testing.assert_allclose(student_energy_in_region(maps, masks), metrics.mask_energy(maps, masks))


def test_swap_sky_uses_the_toy_worlds_horizon_rule():
    photos = datasets.toy_world("tanks", "test", n=4, seed=5)
    sunny = datasets.toy_world("tanks", "test", n=4, seed=6)
    horizons = photos.factors["horizon"]
    out = cc._swap_sky(photos.images, sunny.images, horizons)
    rows = (np.arange(64) + 0.5) / 64
    for i, h in enumerate(horizons):
        sky = rows <= h
        np.testing.assert_array_equal(out[i, sky], sunny.images[i, sky])
        np.testing.assert_array_equal(out[i, ~sky], photos.images[i, ~sky])
        assert not photos.masks[i, sky].any()                 # the tank is always below the horizon


def test_nan_compare_explains_both_directions():
    compare = cc._nan_compare("the group is empty")
    assert compare(np.array([1.0, np.nan]), np.array([1.0, np.nan])) is None
    text = compare(np.array([1.0, 0.0]), np.array([1.0, np.nan]))
    assert "index (1,)" in text and "NaN (the group is empty)" in text and "np.nan" in text
    text = compare(np.array([np.nan, 2.0]), np.array([1.0, 2.0]))
    assert "NaN at index (0,)" in text and "expected value is 1" in text


# --- typical mistakes get their own hint ------------------------------------------------------------


def predictions(model, data):
    return model.predict(data.images, verbose=0).argmax(axis=1)


def table_of(score):
    def student(model, data, factor):
        predicted = predictions(model, data)
        values = np.unique(data.factors[factor])
        table = np.full((len(values), len(data.class_names)), np.nan)
        for i, value in enumerate(values):
            for c in range(len(data.class_names)):
                group = (data.factors[factor] == value) & (data.labels == c)
                if group.any():
                    table[i, c] = score(predicted[group], c)
        return table
    return student


@pytest.mark.parametrize("student, hint", [
    (table_of(lambda p, c: 1 - np.mean(p == c)), "error rate"),
    (table_of(lambda p, c: np.sum(p == c)), "divide by the number of images in the group"),
    (table_of(lambda p, c: np.mean(p == 1)), "true class (data.labels)"),
    (lambda model, data, factor: student_accuracy_by_group(model, data, factor).T, "transposed"),
    (lambda model, data, factor: np.nan_to_num(student_accuracy_by_group(model, data, factor)), "return np.nan"),
    (lambda model, data, factor: np.array([np.mean(predictions(model, data)[data.factors[factor] == v]
                                                   == data.labels[data.factors[factor] == v])
                                           for v in np.unique(data.factors[factor])]), "one column per class"),
    (lambda model, data, factor: np.array([[np.mean(predictions(model, data)[(data.factors[factor] == v)
                                                                              & (data.labels == c)] == c)
                                            if ((data.factors[factor] == v) & (data.labels == c)).any() else np.nan
                                            for c in range(len(data.class_names))]
                                           for v in range(data.factors[factor].max() + 1)]), "np.unique"),
])
def test_accuracy_by_group_mistakes(student, hint):
    assert hint in feedback(checks.check_accuracy_by_group, student)


def test_accuracy_by_group_zero_for_empty_group_is_explained_by_the_comparison():
    text = feedback(checks.check_accuracy_by_group,
                    lambda model, data, factor: np.nan_to_num(student_accuracy_by_group(model, data, factor)))
    assert "case 3 of 3" in text and "no image has this factor value and true class" in text


def relu(maps):
    return np.maximum(maps, 0)


def share(inside, total):
    with np.errstate(all="ignore"):
        return np.where(total > 0, inside / total, np.nan)


@pytest.mark.parametrize("student, hint", [
    (lambda m, k: share((m * k).sum((1, 2)), m.sum((1, 2))), "np.maximum(maps, 0) first"),
    (lambda m, k: share((np.abs(m) * k).sum((1, 2)), np.abs(m).sum((1, 2))), "you used np.abs"),
    (lambda m, k: (relu(m) * k).sum((1, 2)) / relu(m).sum(), "whole batch"),
    (lambda m, k: (relu(m) * k).sum((1, 2)), "share between 0 and 1"),
    (lambda m, k: k.mean(axis=(1, 2)), "share of the *area*"),
    (lambda m, k: share((relu(m) * k).sum((1, 2)), k.sum((1, 2))), "mean attribution per pixel"),
    (lambda m, k: share((relu(m) * ~k).sum((1, 2)), relu(m).sum((1, 2))), "*outside*"),
    (lambda m, k: np.nan_to_num(share((relu(m) * k).sum((1, 2)), relu(m).sum((1, 2)))), "0/0, undefined"),
    (lambda m, k: share((relu(m) * k).sum((1, 2)), relu(m).sum((1, 2))).astype(np.float16), "very close"),
    (lambda m, k: (relu(m) * k).sum(-1) / relu(m).sum(-1)[..., None], "shape"),
])
def test_energy_in_region_mistakes(student, hint):
    with np.errstate(all="ignore"):
        text = feedback(checks.check_energy_in_region, student)
    assert hint in text


def rows_rule(rule):
    def student(images, donors, horizons):
        r = np.arange(images.shape[1])[None, :]
        sky = rule(r, np.asarray(horizons)[:, None], images.shape[1])
        return np.where(sky[:, :, None, None], donors, images)
    return student


@pytest.mark.parametrize("student, hint", [
    (lambda images, donors, horizons: student_swap_sky(donors, images, horizons), "roles swapped"),
    (rows_rule(lambda r, h, n: (r + 0.5) / n > h), "the ground replaced instead of the sky"),
    (rows_rule(lambda r, h, n: r <= h), "not pixel rows"),
    (rows_rule(lambda r, h, n: r < h), "not pixel rows"),
    (lambda images, donors, horizons: images.copy(), "not pixel rows"),
    (rows_rule(lambda r, h, n: r / n <= h), "except at the boundary"),
    (rows_rule(lambda r, h, n: r < h * n), "except at the boundary"),
    (rows_rule(lambda r, h, n: r < (h * n).astype(int)), "except at the boundary"),
    (lambda images, donors, horizons: donors, "donors unchanged"),
    (lambda images, donors, horizons: np.where(
        ((np.arange(images.shape[2]) + 0.5) / images.shape[2] <= np.asarray(horizons)[:, None])[:, None, :, None],
        donors, images), "column positions"),
])
def test_swap_sky_mistakes(student, hint):
    assert hint in feedback(checks.check_swap_sky, student)


def test_swap_sky_in_place_is_caught():
    def in_place(images, donors, horizons):
        rows = (np.arange(images.shape[1]) + 0.5) / images.shape[1]
        for i, h in enumerate(horizons):
            images[i, rows <= h] = donors[i, rows <= h]
        return images
    assert "changed its input" in feedback(checks.check_swap_sky, in_place)


def test_errors_point_at_the_students_line():
    def broken(maps, region_masks):
        positive = np.maximum(maps, 0)
        return positive.sum(axis=(1, 2, 3))
    text = feedback(checks.check_energy_in_region, broken)
    assert "raised" in text and "line 3 of your function" in text
