"""Tests for labkit.plot: what is drawn, not just that something is."""

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from labkit import plot  # noqa: E402

RNG = np.random.default_rng(0)
IMAGE = RNG.uniform(0, 1, (16, 16, 3))


@pytest.fixture(autouse=True)
def no_show_and_cleanup(monkeypatch):
    def show(*args, **kwargs):
        raise AssertionError("plot functions must not call plt.show()")

    monkeypatch.setattr(plt, "show", show)
    yield
    plt.close("all")


def overlay(ax):
    """The heatmap layer: the last image drawn on the axes."""
    return ax.images[-1]


def colorbar_axes(ax):
    return [other for other in ax.figure.axes if other is not ax]


def test_unsigned_heatmap_overlay_scale_title_and_colorbar():
    values = np.linspace(0, 2, 256).reshape(16, 16)
    ax = plot.heatmap(IMAGE, values, title="saliency", percentile=100)
    layer = overlay(ax)
    assert ax.get_title() == "saliency"
    assert layer.cmap.name == plot.UNSIGNED_CMAP
    assert (layer.norm.vmin, layer.norm.vmax) == (0.0, 2.0)
    assert len(colorbar_axes(ax)) == 1
    alpha = np.asarray(layer.get_alpha())
    assert alpha[0, 0] == 0 and alpha[-1, -1] == pytest.approx(0.8)  # 0 transparent, max opaque
    assert len(ax.images) == 2  # grayscale image below, map above


def test_signed_map_uses_a_diverging_scale_centred_at_zero():
    values = np.zeros((16, 16))
    values[2, 3], values[9, 9] = 3.0, -1.0
    layer = overlay(plot.heatmap(IMAGE, values, percentile=100))
    assert layer.cmap.name == plot.SIGNED_CMAP
    assert (layer.norm.vmin, layer.norm.vmax) == (-3.0, 3.0)
    forced = overlay(plot.heatmap(IMAGE, np.abs(values), signed=True, percentile=100))
    assert (forced.norm.vmin, forced.norm.vmax) == (-3.0, 3.0)


def test_percentile_clips_the_colour_scale_and_marks_it():
    values = np.ones((16, 16))
    values[0, 0] = 100.0  # one extreme gradient pixel
    ax = plot.heatmap(IMAGE, values)
    assert overlay(ax).norm.vmax == pytest.approx(np.percentile(values, 99))
    assert colorbar_axes(ax)[0]._colorbar.extend == "max"  # an arrow: values beyond the scale
    full = plot.heatmap(IMAGE, values, percentile=100)
    assert overlay(full).norm.vmax == 100.0 and colorbar_axes(full)[0]._colorbar.extend == "neither"
    with pytest.raises(ValueError, match="percentile"):
        plot.heatmap(IMAGE, values, percentile=0)


def test_small_map_is_stretched_over_the_image():
    ax = plot.heatmap(np.zeros((64, 64, 3)), RNG.uniform(0, 1, (8, 8)))
    layer = overlay(ax)
    assert layer.get_extent() == [-0.5, 63.5, 63.5, -0.5]
    assert layer.get_interpolation() == "bilinear"
    assert ax.get_xlim() == (-0.5, 63.5)


def test_image_display_scaling_does_not_change_the_data():
    centred = RNG.uniform(-1, 1, (8, 8, 3))
    copy = centred.copy()
    ax = plot.image(centred, title="centred")
    shown = np.asarray(ax.images[0].get_array())
    assert shown.min() == pytest.approx(0) and shown.max() == pytest.approx(1)
    np.testing.assert_array_equal(centred, copy)
    gray = plot.image(RNG.uniform(0, 1, (8, 8, 1)))
    assert gray.images[0].get_cmap().name == "gray"
    with pytest.raises(ValueError, match="image must have shape"):
        plot.image(np.zeros((8, 8, 2)))


def test_heatmap_draws_into_a_given_ax_and_alone():
    figure, axes = plt.subplots(1, 2)
    assert plot.heatmap(IMAGE, np.ones((16, 16)), ax=axes[1], colorbar=False) is axes[1]
    assert len(figure.axes) == 2  # no colour bar added
    alone = plot.heatmap(None, RNG.normal(size=(5, 5)))
    assert len(alone.images) == 1 and overlay(alone).get_alpha() == 1.0


def test_heatmap_bad_maps():
    with pytest.raises(ValueError, match=r"one \(h, w\) map"):
        plot.heatmap(IMAGE, np.zeros((2, 16, 16)))
    with pytest.raises(ValueError, match="NaN"):
        plot.heatmap(IMAGE, np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match="alpha"):
        plot.heatmap(IMAGE, np.zeros((4, 4)), alpha=2)


def test_attribution_grid_layout_titles_and_one_scale_type_per_method():
    images = RNG.uniform(0, 1, (3, 16, 16, 3))
    signed = RNG.normal(size=(3, 16, 16))
    signed[1] = np.abs(signed[1])  # one map happens to be all positive
    maps = {"IG": signed, "Grad-CAM": RNG.uniform(0, 1, (3, 4, 4))}
    axes = plot.attribution_grid(images, maps, titles=["a", "b", "c"])
    assert axes.shape == (3, 3)
    assert [ax.get_title() for ax in axes[0]] == ["a", "IG", "Grad-CAM"]
    assert [axes[row, 0].get_title() for row in range(3)] == ["a", "b", "c"]
    assert {overlay(axes[row, 1]).cmap.name for row in range(3)} == {plot.SIGNED_CMAP}
    assert {overlay(axes[row, 2]).cmap.name for row in range(3)} == {plot.UNSIGNED_CMAP}
    one = plot.attribution_grid(images[0], {"saliency": np.ones((16, 16))})
    assert one.shape == (1, 2) and one[0, 0].get_title() == "image"


def test_attribution_grid_bad_input():
    images = np.zeros((2, 8, 8, 3))
    with pytest.raises(ValueError, match=r"maps for 'x' must have shape \(2, h, w\)"):
        plot.attribution_grid(images, {"x": np.zeros((3, 8, 8))})
    with pytest.raises(TypeError, match="non-empty dict"):
        plot.attribution_grid(images, {})
    with pytest.raises(ValueError, match="titles has 1 entries"):
        plot.attribution_grid(images, {"x": np.zeros((2, 8, 8))}, titles=["a"])


def test_curves_legend_shows_the_area_under_the_mean_curve():
    ramp = np.linspace(1, 0, 11)  # AUC 0.5
    per_image = np.stack([ramp, ramp**2])  # mean AUC (0.5 + 0.335) / 2
    ax = plot.curves({"linear": ramp, "two images": per_image, "own x": (np.array([0, 0.5]), [1.0, 1.0])},
                     title="deletion")
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels[0] == "linear (AUC 0.500)"
    expected = np.trapezoid(per_image.mean(0), np.linspace(0, 1, 11))
    assert labels[1] == f"two images (AUC {expected:.3f})"
    assert labels[2] == "own x (AUC 0.500)"
    assert ax.get_title() == "deletion"
    assert len(ax.collections) == 1  # the 25-75% band, only for the per-image curves


def test_curves_bad_input():
    with pytest.raises(ValueError, match="curve 'a' must have shape"):
        plot.curves({"a": np.zeros((2, 3, 4))})
    with pytest.raises(ValueError, match="has 5 points but x has shape"):
        plot.curves({"a": np.zeros(5)}, x=np.zeros(4))
    with pytest.raises(TypeError, match="non-empty dict"):
        plot.curves([np.zeros(5)])


def test_close_frees_the_figure():
    ax = plot.heatmap(IMAGE, np.ones((16, 16)))
    number = ax.figure.number
    plot.close(ax.figure)
    assert number not in plt.get_fignums()


def test_toy_world_and_concept_grids(tmp_path):
    from labkit import datasets

    data = datasets.toy_world("shapes", "test", n=3, seed=0)
    axes = plot.toy_world_grid(data, n=8, title="shapes / test")  # the Axes array; its figure:
    figure = axes[0, 0].figure
    assert len(figure.axes) == 2 * 3 and figure._suptitle.get_text() == "shapes / test"
    assert [ax.get_title() for ax in figure.axes[:3]] == [data.class_names[k] for k in data.labels]
    path = plot.save(figure, tmp_path / "grid.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.number not in plt.get_fignums()
    sets = {"red": datasets.concept_images("red", 4), "random": datasets.concept_images("random", 2)}
    axes = plot.concept_grid(sets)
    figure = axes[0, 0].figure
    assert len(figure.axes) == 2 * 4 and figure.axes[4].get_title(loc="left") == "random"
    plot.close(figure)


def test_only_plot_imports_matplotlib():
    package = Path(plot.__file__).parent  # labkit/plot/
    for path in package.parent.rglob("*.py"):  # every labkit module, subpackages included
        source = path.read_text()
        if package not in path.parents:
            assert not re.search(r"^\s*(import|from)\s+matplotlib", source, re.M), path.name


def test_method_modules_do_not_import_matplotlib():
    for name in ("gradients", "occlusion", "cam"):
        source = (Path(plot.__file__).parent.parent / f"{name}.py").read_text()
        assert not re.search(r"^\s*(import|from)\s+matplotlib", source, re.M), name
        assert "labkit.plot" not in source and "import plot" not in source, name


def test_bad_plot_arguments_are_named():
    with pytest.raises(ValueError, match="ncols must be a positive int"):
        plot.filters(RNG.uniform(0, 1, (4, 3, 3, 3)), ncols=0)
    with pytest.raises(ValueError, match=r"weights is empty"):
        plot.filters(np.zeros((0, 3, 3, 3)))
    with pytest.raises(TypeError, match="labels is one string 'abcd'"):
        plot.visualizations(RNG.uniform(0, 1, (4, 8, 8, 3)), labels="abcd")
    with pytest.raises(ValueError, match="channels must be channel indices 0..3"):
        plot.activation_grid(RNG.uniform(0, 1, (8, 8, 4)), channels=[9])
    with pytest.raises(ValueError, match=r"coords must have shape \(N, 2\)"):
        plot.embedding(RNG.uniform(0, 1, (4, 3)))
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        plot.embedding(RNG.uniform(0, 1, (4, 2)), [0, 1])
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        plot.image(IMAGE, ax="left")
    with pytest.raises(TypeError, match="result must be what tcav.tcav returns"):
        plot.tcav_bars(None)
    with pytest.raises(ValueError, match="thumbnails need images="):
        plot.embedding(RNG.uniform(0, 1, (4, 2)), thumbnails=2)
    plt.close("all")


def test_embedding_accepts_class_names_as_labels():
    ax = plot.embedding(RNG.uniform(0, 1, (4, 2)), ["cat", "dog", "cat", "owl"])  # crashed on strings
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["cat", "dog", "owl"]
    ax = plot.embedding(RNG.uniform(0, 1, (4, 2)), [0, 1, 1, 0], class_names=("a", "b"))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    plt.close("all")


def _tcav_result(rows):
    from labkit.tcav import TCAVResult, TCAVRow
    return TCAVResult(tuple(TCAVRow(layer, concept, mean, std, 0.59, 0.39, 0.01, 0.04, significant, 0.8,
                                    (mean,) * 10, (0.5,) * 10, (0.8,) * 10, (0.5,) * 10)
                            for layer, concept, mean, std, significant in rows), 1, 0.05, 4)


def test_tcav_bars_labels_clear_their_error_bars_which_stay_in_0_1():
    result = _tcav_result([("conv3", "red", 1.0, 0.0, True), ("conv3", "yellow", 0.0, 0.0, True),
                           ("conv3", "dots", 0.84, 0.3, False), ("conv3", "random", 0.46, 0.46, False)])
    ax = plot.tcav_bars(result)
    tops = []
    for container in ax.containers:
        if isinstance(container, matplotlib.container.ErrorbarContainer):
            for segments in container.lines[2]:
                for (_, y0), (_, y1) in segments.get_segments():
                    assert 0.0 <= min(y0, y1) and max(y0, y1) <= 1.0 + 1e-9      # cut at 0 and 1
                    tops.append(max(y0, y1))
    labels = {t.get_text(): t.get_position()[1] for t in ax.texts}
    assert set(labels) == {"1.00\n*", "0.00\n*", "0.84\nn.s.", "0.46\nn.s.", "0.59\nrandom"}  # baseline labelled
    assert labels["0.84\nn.s."] >= 1.0                     # above dots' error bar (cut at 1), not across it
    assert labels["0.59\nrandom"] > 0.59 + 0.39           # above the baseline's error bar
    heights = [p.get_height() for p in ax.patches]
    assert any(0 < h < 0.05 for h in heights)              # the zero score is drawn, as a thin slab
    centres = [p.get_x() + p.get_width() / 2 for p in ax.patches if p.get_height() > 0.05]
    assert ax.get_xticks() == pytest.approx([0.0])
    assert min(centres) == pytest.approx(-max(centres))    # the group of bars is centred on its layer's tick


def test_explanation_says_its_unit_and_shows_the_readable_values():
    from labkit.fairness import Contribution, Explanation
    shap = Explanation("shap", 1, 0.1, -1.71, (Contribution("education_num", 0.77, 1.4), Contribution("age", -1.85, -1.2),
                                               Contribution("sex=female", 1.0, -0.9), Contribution("race=black", 0.0, 0.1),
                                               Contribution("log_capital_gain", 0.0, -0.05)))
    raw = {"age": 18.0, "education_num": 12.0, "capital_gain": 0.0, "sex": "female", "race": "white"}
    ax = plot.explanation(shap, raw=raw)
    labels = [t.get_text() for t in ax.get_yticklabels()][::-1]       # largest first
    assert labels == ["education_num = 12", "age = 18", "sex = female", "race = white (not black)", "capital_gain = 0"]
    assert "log-odds" in ax.get_title() and "log-odds" in ax.get_xlabel()
    assert [t.get_text() for t in plot.explanation(shap).get_yticklabels()][::-1][1] == "age = -1.9"   # no raw: the input
    lime = Explanation("lime", 1, 0.74, 0.15, (Contribution("0.00 < education_num <= 0.77", 0.77, 0.29),
                                               Contribution("sex=female=1", 1.0, -0.23),
                                               Contribution("race=other=0", 0.0, -0.05),
                                               Contribution("log_capital_gain <= 0.00", 0.0, -0.1)))
    ax = plot.explanation(lime, raw=raw)
    labels = [t.get_text() for t in ax.get_yticklabels()][::-1]
    assert labels == ["0.00 < education_num <= 0.77   [education_num = 12]", "sex = female", "race = white (not other)",
                      "log_capital_gain <= 0.00   [capital_gain = 0]"]
    assert "probability" in ax.get_title() and "probability" in ax.get_xlabel()
    with pytest.raises(TypeError, match="raw must be a mapping"):
        plot.explanation(lime, raw=[18, 12])
