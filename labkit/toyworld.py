"""The toy world: a procedural generator of small RGB scenes with every factor known.

Images are 64x64 by default, of objects on backgrounds, and every generating
factor is known: object class, colour, texture, background, position, scale,
rotation, and a ground-truth object mask per image. Ground truth is the
point: it lets a lab *measure* whether an explanation highlights the object,
the sky or the colour.

Scenarios (``toy_world(scenario, split)``):

``shapes``
    label = object class (circle, square, triangle, cross); colour, texture,
    background, position and scale are independent of the label.
``tanks``
    the lecture's urban legend. label = camouflaged tank present or not. In
    the ``train`` split every tank photo is cloudy and every empty one sunny;
    in the ``test`` split the weather is independent of the label.
``fire_engines``
    label = fire engine or other vehicle. ``melbourne`` fire engines are red,
    ``canberra`` fire engines are yellow; the other vehicles (cars, vans,
    trucks, buses, yellow taxis included) look the same in both cities.

Concept sets for TCAV (``concept_images(concept)``) and random sets
(``random_images``) come from the same generator.

Everything is vectorised numpy over the whole batch (no per-pixel or
per-image Python loop) and deterministic for a given ``seed``. Notebooks
reach these names through ``labkit.datasets``, which re-exports them.
"""
from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from labkit.validate import check_int, check_memory, check_positive_int, check_seed

__all__ = [
    "ImageSet", "toy_world", "concept_images", "random_images",
    "SCENARIOS", "CONCEPTS", "COLOURS", "TEXTURES", "BACKGROUNDS", "SHAPES",
]


SHAPES = ("circle", "square", "triangle", "cross")
TEXTURES = ("plain", "stripes", "dots", "checker")
BACKGROUNDS = ("sunny", "cloudy", "grass", "noise")
COLOURS = {
    "red": (0.86, 0.10, 0.10),
    "green": (0.10, 0.68, 0.22),
    "blue": (0.15, 0.30, 0.90),
    "yellow": (0.96, 0.84, 0.08),
    "purple": (0.58, 0.20, 0.75),
    "orange": (1.00, 0.52, 0.08),
    "white": (0.95, 0.95, 0.95),
}
SCENARIOS = {
    "shapes": {"splits": ("train", "test"), "classes": SHAPES},
    "tanks": {"splits": ("train", "test"), "classes": ("no_tank", "tank")},
    "fire_engines": {"splits": ("melbourne", "canberra"),
                     "classes": ("other_vehicle", "fire_engine")},
}
CONCEPTS = ("stripes", "dots", "checker", "plain", "red", "yellow", "green",
            "blue", "sunny", "cloudy", "grass", "random")

# Other vehicles in both cities: never red, sometimes yellow (taxis).
_VEHICLE_COLOURS = {
    "blue": (0.15, 0.30, 0.85), "green": (0.12, 0.55, 0.25),
    "white": (0.93, 0.93, 0.93), "grey": (0.55, 0.57, 0.60),
    "black": (0.12, 0.12, 0.14), "yellow": (0.96, 0.84, 0.08),
}
_FIRE_ENGINE_COLOUR = {"melbourne": (0.85, 0.08, 0.06), "canberra": (0.95, 0.86, 0.10)}


@dataclass(frozen=True)
class ImageSet:
    """A batch of images with labels, ground-truth masks and generating factors.

    Attributes
    ----------
    images : (N, H, W, C) float32 in [0, 1]
    labels : (N,) int64 class indices into ``class_names``
    masks : (N, H, W) bool, True on the object (all False where there is none)
    factors : dict of (N,) arrays, one per generating factor
    class_names : tuple of str
    name : str, e.g. ``"tanks/test"``
    """

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    factors: dict = field(default_factory=dict)
    class_names: tuple = ()
    name: str = ""

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index) -> "ImageSet":
        """Subset by index, slice or boolean mask, keeping every field aligned."""
        index = np.arange(len(self))[index]
        return ImageSet(self.images[index], self.labels[index], self.masks[index],
                        {k: v[index] for k, v in self.factors.items()},
                        self.class_names, self.name)

    def __repr__(self) -> str:
        counts = np.bincount(self.labels, minlength=len(self.class_names))
        per_class = ", ".join(f"{c}={k}" for c, k in zip(self.class_names, counts))
        return (f"ImageSet({self.name!r}, images={self.images.shape}, {per_class}, "
                f"factors={sorted(self.factors)})")


# --------------------------------------------------------------------------
# argument checks
def _choose(value: str, valid, name: str) -> str:
    if not isinstance(value, str) or value not in valid:
        close = difflib.get_close_matches(str(value), list(valid), n=len(valid), cutoff=0)
        raise ValueError(f"{name}={value!r} is not known; valid values are: "
                         f"{', '.join(close)}")
    return value


PEAK_BYTES_PER_PIXEL = 3 * 4 * 8
"""Peak memory of the generator per pixel of output (measured: 5-7 float32 RGB copies at once)."""


def _check_n_size(n: int, size: int, what: str = "toy_world") -> tuple[int, int]:
    """n images of size x size pixels: positive ints, and the memory they need below labkit's limit."""
    n = check_positive_int(n, "n")
    size = check_int(size, "size", low=16, high=512, what="an integer between 16 and 512 pixels")
    check_memory(n * size * size * PEAK_BYTES_PER_PIXEL, f"{what}(n={n}, size={size})",
                 "generate fewer images (n), or several sets with different seeds")
    return n, size


def _rng(seed: int, *keys: str) -> np.random.Generator:
    """A generator determined by the seed and the names (scenario, split)."""
    if seed is None:
        raise TypeError("seed must be an int >= 0, got None (the toy world is always seeded)")
    words = [check_seed(seed)] + [int.from_bytes(k.encode()[:8].ljust(8, b"\0"), "little") for k in keys]
    return np.random.default_rng(words)


# --------------------------------------------------------------------------
# drawing primitives: every function works on a whole batch at once.
# Coordinates are fractions of the image side; arrays of per-image parameters
# have shape (N,) and are broadcast against the (H, W) pixel grid.
def _grid(size: int):
    c = (np.arange(size, dtype=np.float32) + 0.5) / size
    return c[None, :, None], c[None, None, :]           # y: (1, H, 1), x: (1, 1, W)


def _col(a) -> np.ndarray:
    return np.asarray(a, np.float32).reshape(-1, 1, 1)  # (N,) -> (N, 1, 1)


def _soft(d: np.ndarray, size: int) -> np.ndarray:
    """Anti-aliased coverage from a signed distance d (image fractions, <0 inside)."""
    return np.clip(0.5 - d * size, 0.0, 1.0)


def _rect(y, x, y0, y1, x0, x1):
    """Signed distance (approximate) to axis-aligned rectangles, (N, H, W)."""
    return np.maximum(np.maximum(_col(y0) - y, y - _col(y1)),
                      np.maximum(_col(x0) - x, x - _col(x1)))


def _disc(y, x, cy, cx, r):
    return np.sqrt((y - _col(cy)) ** 2 + (x - _col(cx)) ** 2) - _col(r)


def _shape_distance(kind, y, x, cy, cx, r, angle):
    """Signed distance to each image's shape (circle/square/triangle/cross)."""
    c, s = np.cos(_col(angle)), np.sin(_col(angle))
    dy, dx = (y - _col(cy)) / _col(r), (x - _col(cx)) / _col(r)
    u, v = c * dx + s * dy, -s * dx + c * dy             # rotated shape coordinates
    kind = np.asarray(kind).reshape(-1, 1, 1)
    circle = np.sqrt(u ** 2 + v ** 2) - 0.95
    square = np.maximum(np.abs(u), np.abs(v)) - 0.8
    ut, vt = u / 1.25, v / 1.25 - 0.12                    # triangle, apex up
    triangle = np.maximum(vt - 0.5, np.maximum(0.866 * ut - 0.5 * vt - 0.5,
                                               -0.866 * ut - 0.5 * vt - 0.5)) * 1.25
    cross = np.minimum(np.maximum(np.abs(u) - 0.32, np.abs(v) - 0.95),
                       np.maximum(np.abs(u) - 0.95, np.abs(v) - 0.32))
    d = np.select([kind == 0, kind == 1, kind == 2], [circle, square, triangle], cross)
    return d * _col(r)                                    # back to image fractions


def _smooth_noise(rng, n: int, size: int, cells: int) -> np.ndarray:
    """Low-frequency noise in [0, 1], (n, size, size): a coarse random grid, upsampled.

    The cubic-spline upsampling is linear, so it is one matrix ``M`` applied to
    rows and columns: ``M @ coarse @ M.T`` (fast, the same as ndimage.zoom).
    """
    coarse = rng.random((n, cells, cells)).astype(np.float32)
    m = _upsampler(cells, size)                           # (size, cells)
    return np.clip(np.einsum("hi,nij,wj->nhw", m, coarse, m, optimize=True), 0.0, 1.0)


@functools.lru_cache(maxsize=None)
def _upsampler(cells: int, size: int) -> np.ndarray:
    eye = np.eye(cells, dtype=np.float32)
    m = ndimage.zoom(eye, (size / cells, 1), order=3, mode="grid-mirror", grid_mode=True)
    return m[:size].astype(np.float32)


def _paint(canvas, alpha, colour):
    """Alpha-blend colour ((N,3) or (N,H,W,3)) over canvas (N,H,W,3)."""
    colour = np.asarray(colour, np.float32)
    if colour.ndim == 2:
        colour = colour[:, None, None, :]
    alpha = np.asarray(alpha, np.float32)[..., None]
    shape = np.broadcast_shapes(canvas.shape, alpha.shape, colour.shape)
    out = np.empty(shape, np.float32)                      # (N, H, W, 3)
    np.subtract(colour, canvas, out=out)
    out *= alpha
    out += canvas
    return out


def _texture(kind, rng, n: int, size: int) -> np.ndarray:
    """Texture pattern t in {0, 1}, (n, H, W): 0 plain, 1 stripes, 2 dots, 3 checker."""
    y, x = _grid(size)
    y, x = y * size, x * size                             # pixel units
    period = _col(rng.uniform(5.0, 9.0, n))
    phase_y, phase_x = _col(rng.uniform(0, 20, n)), _col(rng.uniform(0, 20, n))
    angle = _col(rng.uniform(0, np.pi, n))
    stripes = np.sin(2 * np.pi * (np.cos(angle) * x + np.sin(angle) * y) / period) > 0.2
    gy, gx = (y + phase_y) % period - period / 2, (x + phase_x) % period - period / 2
    dots = gy ** 2 + gx ** 2 < (0.3 * period) ** 2
    checker = (np.floor((y + phase_y) / period) + np.floor((x + phase_x) / period)) % 2 == 1
    kind = np.asarray(kind).reshape(-1, 1, 1)
    t = np.select([kind == 1, kind == 2, kind == 3], [stripes, dots, checker], False)
    return t.astype(np.float32)


def _second_colour(colour: np.ndarray) -> np.ndarray:
    """A contrasting shade of each colour for its texture: darker if light, lighter if dark."""
    light = colour.mean(axis=1, keepdims=True) > 0.55
    return np.where(light, 0.35 * colour, 0.45 * colour + 0.55).astype(np.float32)


def _textured(colour, texture_kind, rng, size):
    """Per-pixel colour (N,H,W,3) of an object of the given colour and texture."""
    t = _texture(texture_kind, rng, len(colour), size)[..., None]
    return colour[:, None, None, :] * (1 - t) + _second_colour(colour)[:, None, None, :] * t


def _jitter_colour(rng, rgb, amount=0.05):
    rgb = np.asarray(rgb, np.float32)
    return np.clip(rgb + rng.uniform(-amount, amount, rgb.shape), 0, 1).astype(np.float32)


# --------------------------------------------------------------------------
# backgrounds
def _sky(rng, weather: np.ndarray, size: int) -> np.ndarray:
    """Sunny (blue, glare of a sun) or cloudy (grey, white clouds) skies, (N,H,W,3)."""
    n = len(weather)
    y, x = _grid(size)
    sunny = weather[:, None, None, None] == 0
    top = np.where(sunny, [0.18, 0.45, 0.92], [0.50, 0.53, 0.58]).astype(np.float32)
    bottom = np.where(sunny, [0.62, 0.82, 1.00], [0.72, 0.74, 0.77]).astype(np.float32)
    sky = top + (bottom - top) * y[..., None]             # vertical gradient
    # sunny: a sun glare near a top corner; cloudy: soft clouds from smooth noise
    cx = np.where(rng.random(n) < 0.5, rng.uniform(-0.1, 0.2, n), rng.uniform(0.8, 1.1, n))
    glare = np.exp(-((y - _col(rng.uniform(-0.1, 0.12, n))) ** 2 + (x - _col(cx)) ** 2) / 0.02)
    sky = _paint(sky, np.where(sunny[..., 0], 0.9 * glare, 0.0), np.full((n, 3), [1.0, 0.95, 0.6]))
    clouds = np.clip((_smooth_noise(rng, n, size, 5) - 0.35) * 2.2, 0, 1)
    sky = _paint(sky, np.where(sunny[..., 0], 0.0, 0.85 * clouds), np.full((n, 3), [0.93, 0.93, 0.95]))
    return sky


def _grass(rng, n: int, size: int) -> np.ndarray:
    base = _jitter_colour(rng, np.tile([0.26, 0.52, 0.18], (n, 1)), 0.04)
    shade = 0.75 + 0.5 * _smooth_noise(rng, n, size, 6)
    blades = rng.random((n, size, size)).astype(np.float32)
    blades = ndimage.uniform_filter1d(blades, 5, axis=1)  # short vertical streaks
    return np.clip(base[:, None, None, :] * (shade * (0.85 + 0.3 * blades))[..., None], 0, 1)


def _noise_background(rng, n: int, size: int) -> np.ndarray:
    """Blotchy colour noise: three smooth random fields mixed through random palettes."""
    fields = np.stack([_smooth_noise(rng, n, size, 8) for _ in range(3)], -1)
    palette = rng.uniform(0.15, 0.85, (n, 3, 3)).astype(np.float32)
    return np.clip(np.einsum("nhwk,nkc->nhwc", fields / 1.5, palette), 0, 1)


def _background(kind: np.ndarray, rng, size: int) -> np.ndarray:
    """Backgrounds of kinds 0 sunny, 1 cloudy, 2 grass, 3 noise, (N,H,W,3)."""
    out = np.empty((len(kind), size, size, 3), np.float32)
    sky = kind <= 1
    out[sky] = _sky(rng, kind[sky], size)
    out[kind == 2] = _grass(rng, int((kind == 2).sum()), size)
    out[kind == 3] = _noise_background(rng, int((kind == 3).sum()), size)
    return out


def _finish(rng, images: np.ndarray) -> np.ndarray:
    """Add a little camera noise and clip to [0, 1]."""
    images += rng.normal(0, 0.015, images.shape).astype(np.float32)
    return np.clip(images, 0.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------------
# scenarios
def _draw_shapes(rng, n, size, *, kind=None, colour=None, texture=None, background=None,
                 scale=(0.16, 0.3)):
    kind = rng.integers(0, len(SHAPES), n) if kind is None else kind
    names = list(COLOURS)
    colour_idx = rng.integers(0, len(names), n) if colour is None else colour
    texture = rng.integers(0, len(TEXTURES), n) if texture is None else texture
    background = rng.integers(0, len(BACKGROUNDS), n) if background is None else background
    r = rng.uniform(*scale, n)
    cy, cx = rng.uniform(r + 0.02, 1 - r - 0.02), rng.uniform(r + 0.02, 1 - r - 0.02)
    angle = rng.uniform(-np.pi, np.pi, n)
    rgb = _jitter_colour(rng, np.array([COLOURS[names[i]] for i in colour_idx]).reshape(n, 3))
    y, x = _grid(size)
    d = _shape_distance(kind, y, x, cy, cx, r, angle)
    images = _paint(_background(background, rng, size), _soft(d, size),
                    _textured(rgb, texture, rng, size))
    factors = {"shape": kind, "colour": colour_idx, "texture": texture,
               "background": background, "x": cx, "y": cy, "scale": r, "rotation": angle}
    return images, d < 0, factors


def _shapes(rng, split, n, size):
    images, masks, factors = _draw_shapes(rng, n, size)
    return images, factors["shape"], masks, factors


def _tanks(rng, split, n, size):
    label = rng.integers(0, 2, n)
    weather = label.copy() if split == "train" else rng.integers(0, 2, n)  # 1 = cloudy
    horizon = rng.uniform(0.48, 0.58, n)
    y, x = _grid(size)
    images = _sky(rng, weather, size)
    ground = _grass(rng, n, size) * np.float32(0.85)
    images = np.where((y > _col(horizon))[..., None], ground, images)
    # trees on the horizon in every photo: "tanks in trees"
    for _ in range(3):
        tx, tr = rng.uniform(0.0, 1.0, n), rng.uniform(0.05, 0.09, n)
        crown = _disc(y, x, horizon - tr * 0.9, tx, tr)
        trunk = _rect(y, x, horizon - tr * 0.3, horizon + 0.03, tx - 0.012, tx + 0.012)
        images = _paint(images, _soft(trunk, size), np.tile([0.3, 0.2, 0.1], (n, 1)))
        images = _paint(images, _soft(crown, size) * (rng.random(n) < 0.8)[:, None, None],
                        _jitter_colour(rng, np.tile([0.12, 0.32, 0.12], (n, 1)), 0.03))
    # a camouflaged tank standing on the ground: hull, turret, barrel, tracks
    w = rng.uniform(0.28, 0.4, n)
    cx = rng.uniform(w / 2 + 0.04, 1 - w / 2 - 0.04)
    base = rng.uniform(np.maximum(horizon + 0.22, 0.78), 0.93)
    h = 0.32 * w
    facing = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    tracks = _rect(y, x, base - 0.35 * h, base, cx - w / 2, cx + w / 2) - 0.02
    hull = _rect(y, x, base - h, base - 0.3 * h, cx - 0.45 * w, cx + 0.45 * w)
    turret = _rect(y, x, base - 1.7 * h, base - h + 0.01, cx - 0.2 * w, cx + 0.2 * w) - 0.015
    bx0 = cx + facing * 0.15 * w
    bx1 = cx + facing * 0.62 * w
    barrel = _rect(y, x, base - 1.45 * h, base - 1.3 * h, np.minimum(bx0, bx1), np.maximum(bx0, bx1))
    body = np.minimum(np.minimum(hull, turret), barrel)
    present = (label == 1)[:, None, None]
    camo = _smooth_noise(rng, n, size, 12)[..., None]     # blotches of olive and brown
    olive = np.array([0.30, 0.38, 0.17], np.float32)
    brown = np.array([0.36, 0.30, 0.16], np.float32)
    dark = np.array([0.18, 0.24, 0.11], np.float32)
    paint = np.where(camo < 0.4, dark, np.where(camo < 0.65, olive, brown))
    images = _paint(images, _soft(tracks, size) * present, np.tile([0.16, 0.16, 0.14], (n, 1)))
    images = _paint(images, _soft(body, size) * present, paint)
    masks = (np.minimum(tracks, body) < 0) & present
    factors = {"weather": weather, "x": cx, "y": base, "scale": w, "horizon": horizon}
    return images, label, masks, factors


def _fire_engines(rng, split, n, size):
    label = rng.integers(0, 2, n)
    kind = np.where(label == 1, 0, rng.integers(1, 5, n))  # 0 fire engine 1 car 2 van 3 truck 4 bus
    y, x = _grid(size)
    images = _sky(rng, (rng.random(n) < 0.3).astype(int), size)
    road_top = rng.uniform(0.68, 0.74, n)
    road = _jitter_colour(rng, np.tile([0.33, 0.33, 0.35], (n, 1)), 0.03)
    images = _paint(images, (y > _col(road_top)).astype(np.float32) * np.ones_like(x), road)
    lane = _rect(y, x, road_top + 0.12, road_top + 0.14, np.full(n, -1.0), np.full(n, 2.0))
    dashes = ((x * 8 + _col(rng.random(n))) % 1 < 0.5)
    images = _paint(images, _soft(lane, size) * dashes, np.tile([0.9, 0.9, 0.85], (n, 1)))

    names = list(_VEHICLE_COLOURS)
    other = np.array([_VEHICLE_COLOURS[names[i]] for i in rng.integers(0, len(names), n)])
    fire = np.array(_FIRE_ENGINE_COLOUR[split], np.float32)
    rgb = _jitter_colour(rng, np.where((label == 1)[:, None], fire, other).reshape(n, 3), 0.04)
    length = np.choose(kind, [rng.uniform(0.62, 0.78, n), rng.uniform(0.36, 0.46, n),
                              rng.uniform(0.42, 0.52, n), rng.uniform(0.6, 0.76, n),
                              rng.uniform(0.66, 0.8, n)])
    height = np.choose(kind, [0.36, 0.13, 0.26, 0.34, 0.36]) * (0.9 + 0.2 * rng.random(n))
    cx = rng.uniform(length / 2 + 0.03, 1 - length / 2 - 0.03)
    bottom = road_top + rng.uniform(0.06, 0.1, n)
    x0, x1 = cx - length / 2, cx + length / 2
    top = bottom - height
    facing = rng.random(n) < 0.5                           # cab on the left or right
    cab_w = np.where(kind == 1, 0.5, 0.28) * length
    # body: a box, and for cars a lower body plus a narrower cabin
    box = _rect(y, x, top, bottom - 0.03, x0, x1) - 0.008
    car_cabin = _rect(y, x, top - 0.09, top + 0.01, x0 + 0.22 * length, x1 - 0.2 * length) - 0.01
    body = np.where((kind == 1)[:, None, None], np.minimum(box, car_cabin), box)
    images = _paint(images, _soft(body, size), rgb)
    # windows: cab window (fire engine, van, truck), a row (bus), cabin window (car)
    cab_x0 = np.where(facing, x0 + 0.03, x1 - cab_w + 0.01)
    cab_win = _rect(y, x, top + 0.03, top + 0.1, cab_x0, cab_x0 + cab_w - 0.04)
    row = _rect(y, x, top + 0.03, top + 0.1, x0 + 0.03, x1 - 0.03)
    row = np.maximum(row, -np.abs(((x - _col(x0)) * 14) % 1 - 0.5) / 14 + 0.012)
    car_win = _rect(y, x, top - 0.07, top - 0.005, x0 + 0.25 * length, x1 - 0.23 * length)
    windows = np.select([kind[:, None, None] == 4, kind[:, None, None] == 1], [row, car_win], cab_win)
    images = _paint(images, _soft(windows, size), np.tile([0.62, 0.8, 0.95], (n, 1)))
    # the fire engine's ladder on the roof, and a white stripe along its side
    lx0 = np.where(facing, x0 + cab_w, x0 + 0.04)
    lx1 = np.where(facing, x1 - 0.04, x1 - cab_w)
    rails = _rect(y, x, top - 0.05, top - 0.005, lx0, lx1)
    rungs = np.abs(((x - _col(lx0)) * 30) % 1 - 0.5) > 0.3          # vertical rungs
    edges = np.abs(y - _col(top - 0.0275)) > 0.012                   # the two side rails
    ladder_on = (kind == 0)[:, None, None]
    images = _paint(images, _soft(rails, size) * ladder_on * (rungs | edges),
                    np.tile([0.82, 0.82, 0.8], (n, 1)))
    # wheels
    wheel_r = 0.05 + 0.01 * (kind != 1)
    wheels = np.minimum(_disc(y, x, bottom - 0.01, x0 + 0.16 * length, wheel_r),
                        _disc(y, x, bottom - 0.01, x1 - 0.16 * length, wheel_r))
    hubs = np.minimum(_disc(y, x, bottom - 0.01, x0 + 0.16 * length, wheel_r * 0.4),
                      _disc(y, x, bottom - 0.01, x1 - 0.16 * length, wheel_r * 0.4))
    images = _paint(images, _soft(wheels, size), np.tile([0.08, 0.08, 0.08], (n, 1)))
    images = _paint(images, _soft(hubs, size), np.tile([0.6, 0.6, 0.6], (n, 1)))
    masks = (np.minimum(np.minimum(body, wheels), np.where(ladder_on, rails, 1.0)) < 0)
    vehicle = np.array(["fire_engine", "car", "van", "truck", "bus"])[kind]
    colour = np.where(label == 1, split, np.array(names)[np.argmax(
        (other[:, None, :] == np.array(list(_VEHICLE_COLOURS.values()))[None]).all(-1), 1)])
    factors = {"vehicle": vehicle, "colour": colour, "x": cx, "y": bottom, "scale": length,
               "facing_left": facing}
    return images, label, masks, factors


_GENERATORS = {"shapes": _shapes, "tanks": _tanks, "fire_engines": _fire_engines}


def toy_world(scenario: str = "shapes", split: str = "train", n: int = 1000, *,
              size: int = 64, seed: int = 0) -> ImageSet:
    """Generate a toy-world data set with labels, masks and every factor.

    Parameters
    ----------
    scenario : "shapes" | "tanks" | "fire_engines"
    split : "train" | "test" (shapes, tanks) or "melbourne" | "canberra" (fire_engines)
    n : number of images
    size : side of the square images in pixels (default 64)
    seed : the same (scenario, split, n, size, seed) always gives the same images;
        a different seed gives fresh images from the same distribution.

    Returns
    -------
    ImageSet with images (n, size, size, 3) float32 in [0, 1], labels (n,),
    masks (n, size, size) bool and factors (dict of (n,) arrays).

    Example
    -------
    >>> data = toy_world("tanks", "test", n=8, seed=1)
    >>> data.images.shape, data.class_names
    ((8, 64, 64, 3), ('no_tank', 'tank'))
    """
    _choose(scenario, SCENARIOS, "scenario")
    _choose(split, SCENARIOS[scenario]["splits"], "split")
    n, size = _check_n_size(n, size)
    rng = _rng(seed, scenario, split)
    images, labels, masks, factors = _GENERATORS[scenario](rng, split, n, size)
    return ImageSet(_finish(rng, images), np.asarray(labels, np.int64), np.asarray(masks, bool),
                    {k: np.asarray(v) for k, v in factors.items()},
                    tuple(SCENARIOS[scenario]["classes"]), f"{scenario}/{split}")


def concept_images(concept: str, n: int = 50, *, size: int = 64, seed: int = 0) -> np.ndarray:
    """Images that show a concept, for TCAV (step a of the lecture).

    Parameters
    ----------
    concept : a texture ("stripes", "dots", "checker", "plain": like the random
        images, one object of any shape and colour on any background, but
        always with that texture), a colour ("red", "yellow", "green",
        "blue": one to three shapes of that colour with random textures on
        random backgrounds), a background ("sunny", "cloudy", "grass": the
        scene without objects) or "random" (random toy-world images; use a
        different ``seed`` per random set).
    n, size, seed : as for ``toy_world``.

    Returns
    -------
    (n, size, size, 3) float32 in [0, 1].
    """
    _choose(concept, CONCEPTS, "concept")
    n, size = _check_n_size(n, size, "concept_images")
    if concept == "random":
        return random_images(n, size=size, seed=seed)
    rng = _rng(seed, "concept", concept)
    if concept in TEXTURES:
        # the random images' distribution with the texture fixed: a concept set must differ from
        # the random sets in its concept only (whole-image textures, or textures in colours of
        # their own, differ in much more, and TCAV then measures that instead)
        images, _, _ = _draw_shapes(rng, n, size, texture=np.full(n, TEXTURES.index(concept)), scale=(0.1, 0.3))
    elif concept in COLOURS:
        images = _background(rng.integers(0, len(BACKGROUNDS), n), rng, size)
        colour = np.full(n, list(COLOURS).index(concept))
        for k in range(3):
            shown = rng.random(n) < (1.0 if k == 0 else 0.5)
            more, masks, _ = _draw_shapes(rng, n, size, colour=colour, scale=(0.12, 0.25),
                                          texture=rng.choice([0, 0, 1, 2, 3], n))
            images = np.where((masks & shown[:, None, None])[..., None], more, images)
    else:
        kind = np.full(n, BACKGROUNDS.index(concept))
        images = _background(kind, rng, size)
    return _finish(rng, images.astype(np.float32))


def random_images(n: int = 50, *, size: int = 64, seed: int = 0) -> np.ndarray:
    """Random toy-world images: any shape, colour, texture and background.

    TCAV compares a concept against several such random sets (different seeds).
    """
    n, size = _check_n_size(n, size, "random_images")
    rng = _rng(seed, "random")
    images, _, _ = _draw_shapes(rng, n, size, scale=(0.1, 0.3))
    return _finish(rng, images)
