"""Interactive explorers for the notebooks (ipywidgets).

Each explorer shows controls above a picture and recomputes when a control
changes: ``occlusion_explorer`` (patch size and stride sliders, image and
class choosers), ``layer_explorer`` (the input image beside a layer's channels, with a
layer chooser and a pager through all channels) and ``gradcam_explorer``
(layer and class choosers; the title says how strong the map is, so a class
the image does not show is not mistaken for one it does). The picture is a PNG in an
``ipywidgets.Image``, drawn by ``labkit.plot``; results and pictures are
cached, so going back to earlier settings is instant.

For tests and for curious students every explorer keeps what it computed:
``explorer.result`` (the last raw map or activations), ``explorer.settings``
(the settings it was computed with) and ``explorer.calls`` (how many times it
recomputed). Setting a control's value in Python recomputes just like moving
it in the browser::

    explorer = occlusion_explorer(model, images)
    explorer.controls["patch"].value = 12      # recomputes
    explorer.settings["patch"], explorer.result.shape

Nothing here blocks: an explorer is displayed and the cell finishes, so
notebooks with explorers run unattended (nbval, grading) like any other.
"""
from __future__ import annotations

import html
import io
import time
import warnings
from collections.abc import Sequence

import ipywidgets as w
import keras
import numpy as np
from numpy.typing import ArrayLike

from labkit import cam, layers, occlusion, plot
from labkit.forward import predict_batched
from labkit.targets import explained_classes, logits_model, softmax
from labkit.validate import as_images, check_model, check_names, check_positive_int


__all__ = ["occlusion_explorer", "layer_explorer", "gradcam_explorer", "Explorer"]

PREDICTED_LABEL = "predicted class"  # the class chooser's entry for targets.PREDICTED (None)
DPI = 120  # of the PNG shown, at its own size (about 370 px wide for one map)
MIN_STRIDE = 2  # stride 1 on 64x64 means ~3700 forward passes: seconds per update on a laptop CPU
WEAK = 0.25     # a Grad-CAM map whose peak is below this share of the predicted class's is called weak
ALL_LAYERS_AT_ONCE = 2 ** 22  # floats per image: below this the layer explorer computes every layer in one pass


class Explorer:
    """Controls, a picture, and a cached computation redone whenever a control changes."""

    def __init__(self, model: keras.Model, images: ArrayLike, class_names: Sequence[str] | None = None, *,
                 title: str):
        self.model = check_model(model)
        self.images, _ = as_images(images, model=model)     # (N, H, W, C)
        n_classes = int(logits_model(model).output_shape[-1])
        self.class_names = check_names(class_names, n_classes, name="class_names", prefix="", noun="names",
                                       expected=f"the model has {n_classes} classes")
        logits = predict_batched(logits_model(model), self.images)[-1]  # (N, classes), computed once
        self.probabilities = softmax(logits)                               # (N, classes)
        self.predicted = explained_classes(model, self.images, None)      # (N,) "predicted class"
        self.title = title
        self.controls: dict[str, w.ValueWidget] = {}
        # shown at its own size: stretched to the output's width a 300-pixel PNG turns blurry
        self.picture = w.Image(format="png", layout=w.Layout(align_self="flex-start", max_width="100%"))
        self.status = w.HTML()
        self.notes: list[str] = []  # said once and kept under every picture (e.g. a starting value changed)
        self.result = None
        self.settings: dict = {}
        self.calls = 0
        self.seconds = 0.0          # time of the last update (compute or cache + drawing)
        self._cache: dict = {}      # settings -> raw result
        self._pictures: dict = {}   # settings -> PNG bytes (drawing costs about as much as computing)
        self._shown = None          # cache key of the picture on screen

    # -- building blocks for the explorers below
    def _image_control(self):
        return w.IntSlider(0, 0, len(self.images) - 1, description="image",
                           continuous_update=False)

    def _class_control(self):
        return w.Dropdown(options=[PREDICTED_LABEL, *self.class_names], value=PREDICTED_LABEL,
                          description="class")

    def _target(self, index: int) -> int:
        choice = self.controls["class"].value
        if choice == PREDICTED_LABEL:
            return int(self.predicted[index])
        return self.class_names.index(choice)

    def _finish_setup(self):
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        rows = list(self.controls.values())
        self.widget = w.VBox([w.HTML(f"<b>{html.escape(self.title)}</b>"), w.HBox(rows[:2]),
                              w.HBox(rows[2:]), self.picture, self.status])
        self.update()

    def _on_change(self, change):
        """A control moved: update, and show an error in the status line instead of losing it."""
        try:
            self.update()
        except Exception as err:  # a widget callback has nowhere else to report to
            self.status.value = (f"<span style='color:#b00'>could not update: "
                                 f"{html.escape(type(err).__name__)}: {html.escape(str(err))}</span>")

    def update(self) -> None:
        """Recompute (or fetch from the cache) for the current settings and redraw."""
        start = time.perf_counter()
        settings = self._settings()
        key = tuple(sorted(settings.items()))
        if key == self._shown:       # e.g. the stride slider clamped by a patch change
            return
        cached = self._compute_key(settings) in self._cache
        self.settings, self.result = settings, self._computed(settings)
        if key not in self._pictures:
            self._pictures[key] = _png(self._draw(settings, self.result).figure)
        self.picture.value = self._pictures[key]
        self._shown = key
        self.seconds = time.perf_counter() - start
        when = "from the cache" if cached else f"computed in {self.seconds:.2f} s"
        notes = "".join(f"<br>{html.escape(note, quote=False)}" for note in self.notes)
        self.status.value = f"<small>{html.escape(self._describe(settings), quote=False)} ({when}){notes}</small>"

    def _computed(self, settings: dict):
        """The result for ``settings``, computed once per :meth:`_compute_key` (``calls`` counts computations)."""
        key = self._compute_key(settings)
        if key not in self._cache:
            self._cache[key] = self._compute(settings)
            self.calls += 1
        return self._select(settings, self._cache[key])

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} settings={self.settings} calls={self.calls}>"

    # subclasses fill these in (and may narrow what a computation depends on)
    def _compute_key(self, settings: dict):
        return tuple(sorted(settings.items()))
    def _select(self, settings: dict, computed):
        return computed
    def _settings(self) -> dict: ...
    def _compute(self, settings: dict): ...
    def _draw(self, settings: dict, result): ...   # returns a matplotlib Axes
    def _describe(self, settings: dict) -> str:
        i, c = settings["image"], settings.get("target")
        if c is None:
            return f"image {i}"
        return (f"image {i}: explaining class '{self.class_names[c]}' "
                f"(p = {self.probabilities[i, c]:.2f}); model predicts "
                f"'{self.class_names[int(self.predicted[i])]}'")


class _Occlusion(Explorer):
    FILLS = {"image mean": "mean", "black (0.0)": 0.0}

    def __init__(self, model, images, class_names, patch, stride, fill):
        check_model(model)
        patch = check_positive_int(patch, "patch", high=None)
        stride = check_positive_int(stride, "stride", high=None)
        fill_name = self._fill_name(fill)
        super().__init__(model, images, class_names, title="Occlusion: cover a patch, watch the "
                         "class probability drop (Zeiler & Fergus 2014)")
        size = min(self.images.shape[1:3])
        top = max(2, size // 2)
        patch = self._within("patch", patch, 2, top, f"the slider's range for {size}x{size} images "
                             "(a patch over half the image hides most of it)")
        stride = self._within("stride", stride, min(MIN_STRIDE, patch), patch,
                              f"the slider's range for patch {patch} (at least {MIN_STRIDE}, at most the patch)")
        self.controls = {
            "image": self._image_control(),
            "class": self._class_control(),
            "patch": w.IntSlider(patch, 2, top, description="patch", continuous_update=False),
            "stride": w.IntSlider(stride, min(MIN_STRIDE, patch), patch,
                                  description="stride", continuous_update=False),
            "fill": w.Dropdown(options=list(self.FILLS), value=fill_name, description="fill"),
        }
        self.controls["patch"].observe(self._limit_stride, names="value")
        self._finish_setup()

    def _within(self, name: str, value: int, low: int, high: int, why: str) -> int:
        """``value`` clamped to the slider's range; a changed value is said (a warning and a note)."""
        clamped = int(np.clip(value, low, high))
        if clamped != value:
            note = f"{name}={value} is outside {why}: the explorer starts at {name}={clamped}."
            warnings.warn(note, UserWarning, stacklevel=4)
            self.notes.append(note)
        return clamped

    def _fill_name(self, fill) -> str:
        for name, value in self.FILLS.items():
            comparable = isinstance(fill, (str, float, int)) and isinstance(fill, str) == isinstance(value, str)
            if comparable and fill == value:
                return name
        raise ValueError(f'fill must be "mean" or 0.0 in the explorer, got {fill!r}')

    def _limit_stride(self, change):
        stride = self.controls["stride"]
        stride.max = change["new"]        # a stride larger than the patch leaves gaps

    def _settings(self):
        i = self.controls["image"].value
        return {"image": i, "target": self._target(i), "patch": self.controls["patch"].value,
                "stride": min(self.controls["stride"].value, self.controls["patch"].value),
                "fill": self.controls["fill"].value}

    def _compute(self, s):
        return occlusion.occlusion(self.model, self.images[s["image"]], s["target"],
                                   patch=s["patch"], stride=s["stride"], fill=self.FILLS[s["fill"]])

    def _draw(self, s, result):
        return plot.heatmap(self.images[s["image"]], result, signed=True,
                            title=f"occlusion, patch {s['patch']}, stride {s['stride']}, {s['fill']} fill:\n"
                                  f"drop in p('{self.class_names[s['target']]}')")


class _GradCam(Explorer):
    def __init__(self, model, images, class_names):
        super().__init__(model, images, class_names, title="Grad-CAM (Selvaraju et al. 2017): "
                         "which regions of a layer's maps raise the class score")
        names = _map_layers(model)
        default = layers.last_conv_layer(model).name
        self.controls = {
            "image": self._image_control(),
            "class": self._class_control(),
            "layer": w.Dropdown(options=names, value=default, description="layer"),
        }
        self._finish_setup()

    def _settings(self):
        i = self.controls["image"].value
        return {"image": i, "target": self._target(i), "layer": self.controls["layer"].value}

    def _compute(self, s):
        return cam.grad_cam(self.model, self.images[s["image"]], s["target"],
                            layer=s["layer"], upsample=True)

    def strength(self, settings: dict | None = None) -> tuple[float, float]:
        """(largest value of the map, that of the predicted class's map at the same layer) for ``settings``."""
        s = self.settings if settings is None else settings
        predicted = dict(s, target=int(self.predicted[s["image"]]))
        return float(self._computed(s).max()), float(self._computed(predicted).max())

    def _strength_text(self, s) -> str:
        peak, reference = self.strength(s)
        if peak <= 0:
            return "zero everywhere: nothing in this layer raises the class score"
        if s["target"] == int(self.predicted[s["image"]]):
            return f"largest value {peak:.2g} (the predicted class)"
        share = peak / reference if reference > 0 else np.inf
        weak = "\n(weak: the colours are stretched to its small maximum)" if share < WEAK else ""
        return f"largest value {peak:.2g} = {share:.1%} of the predicted class's{weak}"

    def _draw(self, s, result):
        return plot.heatmap(self.images[s["image"]], result, signed=False,
                            title=f"Grad-CAM at {s['layer']} for '{self.class_names[s['target']]}'\n"
                                  f"{self._strength_text(s)}")

    def _describe(self, settings: dict) -> str:
        return f"{super()._describe(settings)}; Grad-CAM " + self._strength_text(settings).replace("\n", " ")


class _Layers(Explorer):
    def __init__(self, model, images, class_names, max_channels):
        check_model(model)
        max_channels = check_positive_int(max_channels, "max_channels")
        super().__init__(model, images, class_names, title="Activations: forward one image and "
                         "look at every channel of a layer")
        names = _map_layers(model)
        convs = [layer.name for layer in layers.conv_layers(model)]
        self.max_channels = max_channels
        self.channels = _channels(model)                    # layer name -> K
        # small models: every layer in one forward pass per image, one compiled function for all layers
        self._names = names if sum(_floats(model).values()) <= ALL_LAYERS_AT_ONCE else None
        first = convs[0] if convs else names[0]
        self.controls = {
            "image": self._image_control(),
            "layer": w.Dropdown(options=names, value=first, description="layer"),
            "channels": w.Dropdown(options=self._pages(first), value=0, description="channels"),
        }
        self.controls["layer"].observe(self._new_pages, names="value")   # before the update: same picture once
        self._finish_setup()

    def _pages(self, layer: str) -> list[tuple[str, int]]:
        """The channel chooser's entries for ``layer``: ("0-31 of 64", 0), ("32-63 of 64", 32), ..."""
        k = self.channels[layer]
        return [(f"{start}-{min(start + self.max_channels, k) - 1} of {k}", start)
                for start in range(0, k, self.max_channels)]

    def _new_pages(self, change):
        pager = self.controls["channels"]
        pages = self._pages(change["new"])
        keep = pager.value if pager.value in [start for _, start in pages] else 0
        pager.options = pages
        pager.value = keep

    def _settings(self):
        layer = self.controls["layer"].value
        first = self.controls["channels"].value or 0
        if first >= self.channels[layer]:     # a page of the previous layer, while the chooser updates
            first = 0
        return {"image": self.controls["image"].value, "layer": layer, "first": first}

    def _compute_key(self, s):
        return (s["image"],) if self._names else (s["image"], s["layer"])

    def _compute(self, s):
        image = self.images[s["image"]]
        if self._names:
            return dict(zip(self._names, layers.activations(self.model, image, self._names)))  # each (h, w, K)
        return {s["layer"]: layers.activations(self.model, image, s["layer"])}

    def _select(self, s, computed):
        return computed[s["layer"]]                          # (h, w, K)

    def _draw(self, s, result):
        shown = list(range(s["first"], min(s["first"] + self.max_channels, result.shape[-1])))
        ncols = 8
        rows = -(-len(shown) // ncols)
        i = s["image"]
        left = plot.image(self.images[i], title=f"input: image {i}\n(model says "
                                                f"'{self.class_names[int(self.predicted[i])]}')")
        figure = left.figure                                 # the image on the left, the channels beside it
        figure.set_size_inches(2.2 + 1.1 * ncols + 1, max(2.4, 1.1 * rows + 0.8))
        grid = figure.add_gridspec(1, 2, width_ratios=(2.0, 1.1 * ncols + 1))
        left.set_subplotspec(grid[0])
        right = figure.add_subplot(grid[1])
        return plot.activation_grid(result, channels=shown, ax=right, ncols=ncols,
                                    title=f"layer {s['layer']}: channels {shown[0]}-{shown[-1]} of "
                                          f"{result.shape[-1]}, {result.shape[0]}x{result.shape[1]} each")

    def _describe(self, s) -> str:
        return (f"image {s['image']}, layer {s['layer']}: channels {s['first']} to "
                f"{min(s['first'] + self.max_channels, self.channels[s['layer']]) - 1} of {self.channels[s['layer']]}"
                " (choose others with 'channels')")


def occlusion_explorer(model: keras.Model, images: ArrayLike, *, class_names: Sequence[str] | None = None,
                       patch: int = 8, stride: int = 4, fill: str | float = "mean") -> Explorer:
    """Sliders for occlusion's patch size and stride, choosers for the image and class.

    Zeiler & Fergus 2014: the map shows how much the chosen class's
    probability drops when a patch covers each pixel (``labkit.occlusion``).

    Parameters
    ----------
    model : keras.Model, explained on its logits (probabilities = their softmax)
    images : (N, H, W, C) float32 images to choose from
    class_names : names for the class chooser (default "0", "1", ...)
    patch, stride : starting values of the sliders; the patch is at most half the image, the
        stride at most the patch and at least 2 (stride 1 would cost about 16 times as many
        forward passes as stride 4); a value outside is moved inside with a warning and a
        note under the picture
    fill : starting value of the fill chooser: "mean" (the image's mean colour, the grey
        square of Zeiler & Fergus) or 0.0 (black, for [0, 1] images; on the toy world a
        black square is itself a shape and misleads the map)

    Returns
    -------
    Explorer; display it by leaving it last in a cell. ``explorer.result`` is the
    (H, W) occlusion map for the current settings.

    Examples
    --------
    >>> explorer = occlusion_explorer(model, data.images[:8], class_names=data.class_names)  # doctest: +SKIP
    >>> explorer.controls["patch"].value = 16   # recomputes  # doctest: +SKIP
    """
    return _Occlusion(model, images, class_names, patch, stride, fill)


def gradcam_explorer(model: keras.Model, images: ArrayLike, *, class_names: Sequence[str] | None = None) -> Explorer:
    """Choosers for the image, the layer and the class explained by Grad-CAM (upsampled).

    Selvaraju et al. 2017 (``labkit.cam.grad_cam``); the layer chooser lists
    every layer with (h, w, K) feature maps, starting at the last conv layer.
    ``explorer.result`` is the (H, W) map for the current settings. Each picture's
    colours are stretched to its own maximum, so its title gives that maximum as a
    share of the predicted class's (``explorer.strength()``) and calls a map below
    ``WEAK`` of it weak: a class the image does not show must not look like one it does.
    """
    return _GradCam(model, images, class_names)


def layer_explorer(model: keras.Model, images: ArrayLike, *, class_names: Sequence[str] | None = None,
                   max_channels: int = 32) -> Explorer:
    """The input image beside the channels of a layer's activations, with a layer chooser and a pager.

    ``explorer.result`` is the (h, w, K) activation of the chosen layer
    (``labkit.layers.activations``); ``max_channels`` are drawn at a time and
    the "channels" chooser pages through all K of them. On small models
    every layer is computed in one forward pass per image, so changing the
    layer compiles nothing new.
    """
    return _Layers(model, images, class_names, max_channels)


# -- small helpers
def _map_layers(model) -> list[str]:
    """Names of the layers (nested models stepped into, not listed) with (N, h, w, K) outputs."""
    return [layer.name for layer in layers.iter_layers(model)
            if not isinstance(layer, keras.Model) and _is_map(layer)]


def _channels(model) -> dict[str, int]:
    """Layer name -> number of channels K of its (N, h, w, K) output, for the layers of :func:`_map_layers`."""
    return {layer.name: int(layer.output.shape[-1]) for layer in layers.iter_layers(model)
            if not isinstance(layer, keras.Model) and _is_map(layer)}


def _floats(model) -> dict[str, int]:
    """Layer name -> floats of its output for one image (h * w * K)."""
    return {layer.name: int(np.prod(layer.output.shape[1:])) for layer in layers.iter_layers(model)
            if not isinstance(layer, keras.Model) and _is_map(layer)}


def _is_map(layer) -> bool:
    """Does the layer output a 4-D (N, h, w, K) feature map?"""
    try:
        return len(layer.output.shape) == 4
    except (AttributeError, ValueError, RuntimeError, TypeError):
        return False


def _png(figure) -> bytes:
    """The figure as PNG bytes; the figure is closed (so Jupyter does not show it again)."""
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        plot.close(figure)
    return buffer.getvalue()
