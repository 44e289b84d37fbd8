"""The toy world and the real data: determinism, ground truth, the planted shortcuts."""
import numpy as np
import pytest

from labkit import datasets, toyworld


@pytest.fixture(scope="module")
def shapes():
    return datasets.toy_world("shapes", "train", n=400, seed=3)


def test_images_are_float32_in_unit_range_with_masks(shapes):
    assert shapes.images.dtype == np.float32 and shapes.images.shape == (400, 64, 64, 3)
    assert 0.0 <= shapes.images.min() and shapes.images.max() <= 1.0
    assert shapes.masks.dtype == bool and shapes.masks.shape == (400, 64, 64)
    assert shapes.labels.dtype == np.int64 and set(shapes.labels) == {0, 1, 2, 3}
    # every shapes image has an object whose area matches its scale factor
    area = shapes.masks.mean(axis=(1, 2))
    assert area.min() > 0.02
    r = shapes.factors["scale"]
    circles = shapes.labels == 0
    np.testing.assert_allclose(area[circles], np.pi * (0.95 * r[circles]) ** 2, rtol=0.08)


def test_mask_centre_matches_position_factor(shapes):
    ys, xs = np.mgrid[0:64, 0:64]
    m = shapes.masks[shapes.labels == 0]          # circles: centroid = centre
    cy = (m * ys).sum((1, 2)) / m.sum((1, 2)) / 64 + 0.5 / 64
    cx = (m * xs).sum((1, 2)) / m.sum((1, 2)) / 64 + 0.5 / 64
    np.testing.assert_allclose(cy, shapes.factors["y"][shapes.labels == 0], atol=0.01)
    np.testing.assert_allclose(cx, shapes.factors["x"][shapes.labels == 0], atol=0.01)


def test_object_pixels_have_the_object_colour(shapes):
    plain = (shapes.factors["texture"] == 0) & (shapes.factors["colour"] == list(datasets.COLOURS).index("red"))
    i = np.flatnonzero(plain)[0]
    inside = shapes.images[i][shapes.masks[i]]
    np.testing.assert_allclose(np.median(inside, 0), datasets.COLOURS["red"], atol=0.08)


def test_same_seed_same_images_other_seed_other_images():
    a = datasets.toy_world("tanks", "test", n=16, seed=1)
    b = datasets.toy_world("tanks", "test", n=16, seed=1)
    c = datasets.toy_world("tanks", "test", n=16, seed=2)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)
    assert np.abs(a.images - c.images).mean() > 0.05


def test_splits_differ_even_with_same_seed():
    a = datasets.toy_world("shapes", "train", n=8, seed=0)
    b = datasets.toy_world("shapes", "test", n=8, seed=0)
    assert np.abs(a.images - b.images).mean() > 0.05


def test_tanks_weather_is_the_shortcut_in_train_only():
    train = datasets.toy_world("tanks", "train", n=600, seed=0)
    test = datasets.toy_world("tanks", "test", n=600, seed=0)
    np.testing.assert_array_equal(train.factors["weather"], train.labels)  # tank <=> cloudy
    agreement = np.mean(test.factors["weather"] == test.labels)
    assert 0.4 < agreement < 0.6
    # cloudy skies are greyer (less blue) than sunny ones: the shortcut is visible
    sky = train.images[:, :20].mean(axis=(1, 2))
    blueness = sky[:, 2] - sky[:, 0]
    assert blueness[train.factors["weather"] == 0].min() > blueness[train.factors["weather"] == 1].max()
    # masks: tanks only where there is a tank, and below the horizon
    assert not train.masks[train.labels == 0].any()
    assert train.masks[train.labels == 1].sum(axis=(1, 2)).min() > 20
    rows = np.flatnonzero(train.masks[train.labels == 1].any(axis=(0, 2)))
    assert rows.min() / 64 > train.factors["horizon"].min()


def test_fire_engines_are_red_in_melbourne_and_yellow_in_canberra():
    for split, colour in (("melbourne", (0.85, 0.08, 0.06)), ("canberra", (0.95, 0.86, 0.10))):
        data = datasets.toy_world("fire_engines", split, n=200, seed=0)
        fire = data.labels == 1
        assert set(data.factors["vehicle"][fire]) == {"fire_engine"}
        assert "fire_engine" not in set(data.factors["vehicle"][~fire])
        i = np.flatnonzero(fire)[0]
        body = np.median(data.images[i][data.masks[i]], axis=0)
        np.testing.assert_allclose(body, colour, atol=0.1)
        # no other vehicle is red, in either city
        assert "red" not in set(data.factors["colour"][~fire])


def test_generating_1000_images():
    data = datasets.toy_world("shapes", "test", n=1000, seed=0)
    assert len(data) == 1000


@pytest.mark.parametrize("concept", toyworld.CONCEPTS)
def test_concept_sets(concept):
    images = datasets.concept_images(concept, n=12, seed=1)
    assert images.shape == (12, 64, 64, 3) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1
    np.testing.assert_array_equal(images, datasets.concept_images(concept, n=12, seed=1))


def test_colour_concepts_contain_their_colour():
    red = datasets.concept_images("red", n=30)
    yellow = datasets.concept_images("yellow", n=30)

    def share(images, rgb):
        return (np.abs(images - np.array(rgb, np.float32)).max(-1) < 0.12).mean()

    assert share(red, datasets.COLOURS["red"]) > 0.04
    assert share(red, datasets.COLOURS["red"]) > 10 * share(yellow, datasets.COLOURS["red"])


def test_texture_concepts_differ_from_random_images_in_texture_only():
    """TCAV compares a concept set with random sets: they must not also differ in colour (a confound)."""
    def red_share(images):
        return (np.abs(images - np.array(datasets.COLOURS["red"], np.float32)).max(-1) < 0.15).mean()

    random_sets = np.concatenate([datasets.concept_images("random", 200, seed=s) for s in (1, 2)])
    for concept in datasets.TEXTURES:
        images = datasets.concept_images(concept, n=400, seed=3)
        # as much red as random images (plain objects show more of their colour than textured ones);
        # the old whole-image textures in random colours held 3.8 times as much
        assert 0.5 < red_share(images) / red_share(random_sets) < 1.7
        assert abs(images.mean() - random_sets.mean()) < 0.03


def test_random_sets_differ_by_seed():
    a, b = datasets.concept_images("random", 10, seed=0), datasets.concept_images("random", 10, seed=1)
    assert np.abs(a - b).mean() > 0.05


def test_subset_keeps_fields_aligned(shapes):
    sub = shapes[shapes.labels == 2]
    assert len(sub) == (shapes.labels == 2).sum()
    assert (sub.labels == 2).all() and (sub.factors["shape"] == 2).all()
    np.testing.assert_array_equal(sub.masks, shapes.masks[shapes.labels == 2])
    assert "triangle" in repr(sub)


def test_other_sizes():
    data = datasets.toy_world("fire_engines", "canberra", n=4, size=96)
    assert data.images.shape == (4, 96, 96, 3) and data.masks.shape == (4, 96, 96)


@pytest.mark.parametrize("kwargs, match", [
    (dict(scenario="tank"), "scenario='tank' is not known; valid values are: tanks"),
    (dict(scenario="shapes", split="melbourne"), "split='melbourne'"),
    (dict(scenario="fire_engines", split="train"), "valid values are: .*melbourne"),
    (dict(n=0), "n must be a positive int"),
    (dict(n=10**9), r"toy_world\(n=1000000000, size=64\) would need about .* TB of memory.*fewer images"),
    (dict(size=8), "size must be an integer between 16 and 512"),
    (dict(seed=-1), "seed must be >= 0"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        datasets.toy_world(**kwargs)


def test_unknown_concept_lists_valid_ones():
    with pytest.raises(ValueError, match="concept='stripe' is not known; valid values are: stripes"):
        datasets.concept_images("stripe")


def test_digits_are_images_with_ink_masks():
    train, test = datasets.digits("train"), datasets.digits("test")
    assert train.images.shape[1:] == (32, 32, 1) and len(train) + len(test) == 1797
    assert train.images.dtype == np.float32 and train.images.max() <= 1
    assert set(test.labels) == set(range(10))
    assert train.masks.any(axis=(1, 2)).all()


def test_photos():
    pics = datasets.photos(size=96)
    assert set(pics) == {"cat", "coffee", "astronaut", "rocket"}
    for image in pics.values():
        assert image.shape == (96, 96, 3) and image.dtype == np.float32 and image.max() <= 1
    with pytest.raises(ValueError, match="names='dog'"):
        datasets.photos("dog")


def test_loan_table_has_the_planted_bias_and_race_is_a_control():
    data = datasets.loan_table("train", n=20000, seed=0)
    assert data.X.shape == (20000, len(data.feature_names)) and data.X.dtype == np.float32
    female = data.raw["sex"] == "female"
    # same merit, lower approval for women: compare approval at matched merit
    bins = np.digitize(data.merit, np.quantile(data.merit, np.linspace(0, 1, 11)[1:-1]))
    gaps = [data.y[(bins == b) & ~female].mean() - data.y[(bins == b) & female].mean() for b in range(10)]
    assert np.mean(gaps) > 0.15
    # race has no effect at the same merit
    white = data.raw["race"] == "white"
    race_gaps = [data.y[(bins == b) & white].mean() - data.y[(bins == b) & ~white].mean() for b in range(10)]
    assert abs(np.mean(race_gaps)) < 0.04
    # the encoding is fixed, not fitted: the same raw row always encodes the same way
    X2, names = datasets.encode_loan({k: v[:5] for k, v in data.raw.items()})
    np.testing.assert_array_equal(X2, data.X[:5])
    assert "sex=female" in names and "race=white" in names
