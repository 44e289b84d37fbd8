"""Data the kit ships or reads offline: digits, photos, the loan table; and the toy world.

- ``digits``: scikit-learn's 8x8 handwritten digits, upsampled for CNNs.
- ``photos``: scikit-image's bundled photos (cat, coffee, astronaut, rocket).
- ``loan_table``: a synthetic bank-loan table with a planted bias.
- The toy world (``toy_world``, ``concept_images``, ``SHAPES``, ``TEXTURES``,
  ``BACKGROUNDS``, ``COLOURS``) is generated in :mod:`labkit.toyworld`; its
  names are re-exported here because the notebooks call ``datasets.toy_world``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# the toy world's names the notebooks use, re-exported; ImageSet is also what digits returns
from labkit.toyworld import BACKGROUNDS, COLOURS, SHAPES, TEXTURES, ImageSet, concept_images, toy_world
from labkit.toyworld import _check_n_size, _choose, _rng  # the same argument checks and seeding for all data
from labkit.validate import as_array, check_memory, check_positive_int, check_seed

__all__ = [
    "digits", "PHOTOS", "photos", "LoanData", "encode_loan", "loan_table", "LOAN_BIAS",
    "ImageSet", "toy_world", "concept_images", "SHAPES", "TEXTURES", "BACKGROUNDS", "COLOURS",
]


# --------------------------------------------------------------------------
# real data that ships with scikit-learn and scikit-image
def digits(split: str = "train", *, size: int = 32, seed: int = 0) -> ImageSet:
    """scikit-learn's 8x8 handwritten digits (1,797 images), upsampled for CNNs.

    Returns an ImageSet with images (N, size, size, 1) float32 in [0, 1], the
    digit as label, and masks = pixels with ink. The train/test split (75/25,
    stratified) is fixed by ``seed``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    _choose(split, ("train", "test"), "split")
    _, size = _check_n_size(1797, size, "digits")
    seed = check_seed(seed)
    data = load_digits()
    idx_train, idx_test = train_test_split(np.arange(len(data.target)), test_size=0.25,
                                           stratify=data.target, random_state=seed)
    idx = idx_train if split == "train" else idx_test
    small = (data.images[idx] / 16.0).astype(np.float32)
    big = ndimage.zoom(small, (1, size / 8, size / 8), order=1, grid_mode=True, mode="nearest")
    big = np.clip(big, 0, 1).astype(np.float32)[..., None]
    return ImageSet(big, data.target[idx].astype(np.int64), big[..., 0] > 0.25, {},
                    tuple(str(d) for d in range(10)), f"digits/{split}")


PHOTOS = {"cat": "chelsea", "coffee": "coffee", "astronaut": "astronaut", "rocket": "rocket"}


def photos(names: str | Sequence[str] = tuple(PHOTOS), *, size: int = 224) -> dict[str, np.ndarray]:
    """scikit-image's bundled photos, centre-cropped square and resized.

    Returns ``{name: (size, size, 3) float32 in [0, 1]}`` for names among
    "cat", "coffee", "astronaut", "rocket". Use them with ``zoo.imagenet()``.
    """
    import skimage.data
    from skimage.transform import resize
    if names is None or not isinstance(names, (str, list, tuple)):
        raise TypeError(f"names must be a photo name or a list of them ({', '.join(PHOTOS)}), got {names!r}")
    names = (names,) if isinstance(names, str) else tuple(names)
    if not names:
        raise ValueError(f"names is empty; pass one or more of {', '.join(PHOTOS)}")
    size = check_positive_int(size, "size")
    check_memory(len(names) * size * size * 3 * 8 * 3, f"photos(size={size})", "use a smaller size, e.g. 224")
    out = {}
    for name in names:
        _choose(name, PHOTOS, "names")
        img = getattr(skimage.data, PHOTOS[name])()[..., :3]
        h, w = img.shape[:2]
        s = min(h, w)
        img = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        out[name] = resize(img, (size, size), anti_aliasing=True).astype(np.float32)
    return out


# --------------------------------------------------------------------------
# the bank-loan table (the lecture's "Adult" example, with a planted bias)
OCCUPATIONS = ("clerical", "craft", "manual", "professional", "sales", "service")
MARITAL = ("married", "never_married", "divorced")
RACES = ("white", "black", "asian_pac_islander", "amer_indian_eskimo", "other")
_OCCUPATION_EFFECT = {"clerical": 0.0, "craft": 0.2, "manual": -0.4,
                      "professional": 0.9, "sales": 0.3, "service": -0.5}
LOAN_BIAS = 1.6
"""The planted bias: female applicants' approval log-odds are lowered by this much."""


@dataclass(frozen=True)
class LoanData:
    """The synthetic bank-loan table.

    Attributes
    ----------
    X : (N, D) float32 model inputs (numeric columns scaled, categories one-hot)
    y : (N,) int64, 1 = loan approved
    feature_names : names of the D columns of X
    raw : dict of (N,) arrays, the readable table (numbers and strings)
    merit : (N,) the approval log-odds *without* the planted bias
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple
    raw: dict
    merit: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


_NUMERIC = ("age", "education_num", "hours_per_week", "capital_gain")
_CATEGORIES = {"occupation": OCCUPATIONS, "marital_status": MARITAL, "race": RACES, "sex": ("female", "male")}


def _raw_columns(raw) -> dict:
    """The raw table's columns checked: numbers finite (capital gain >= 0), categories known, one length."""
    if not isinstance(raw, dict):
        raise TypeError(f"raw must be a dict of columns like loan_table(...).raw, got {type(raw).__name__}")
    missing = [c for c in (*_NUMERIC, *_CATEGORIES) if c not in raw]
    if missing:
        raise ValueError(f"raw is missing the column(s) {', '.join(missing)}; it needs "
                         f"{', '.join((*_NUMERIC, *_CATEGORIES))} (like loan_table(...).raw)")
    columns = {c: as_array(raw[c], f"raw[{c!r}]", ndim=1, shape="(N,)") for c in _NUMERIC}
    if (columns["capital_gain"] < 0).any():
        raise ValueError("raw['capital_gain'] must be >= 0")
    for c, valid in _CATEGORIES.items():
        values = np.asarray(raw[c])
        unknown = sorted(set(values.ravel().tolist()) - set(valid))
        if values.ndim != 1 or unknown:
            raise ValueError(f"raw[{c!r}] must be a column (N,) of {', '.join(map(repr, valid))}; "
                             f"got {', '.join(map(repr, unknown[:3])) or f'shape {values.shape}'}")
        columns[c] = values
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        raise ValueError(f"raw's columns have different lengths {sorted(lengths)}; "
                         f"every column needs one value per row")
    return columns


def encode_loan(raw: dict) -> tuple[np.ndarray, tuple]:
    """Turn a raw loan table (dict of columns) into model inputs and their names."""
    raw = _raw_columns(raw)
    cols, names = [], []
    for col, centre, scale in (("age", 42.0, 13.0), ("education_num", 10.0, 2.6),
                               ("hours_per_week", 40.0, 12.0)):
        cols.append((np.asarray(raw[col], np.float32) - centre) / scale)
        names.append(col)
    cols.append(np.log1p(np.asarray(raw["capital_gain"], np.float32)) / 5.0)
    names.append("log_capital_gain")
    for col, values in _CATEGORIES.items():
        for v in values[:-1] if col == "sex" else values:
            cols.append((np.asarray(raw[col]) == v).astype(np.float32))
            names.append(f"{col}={v}")
    return np.stack(cols, 1).astype(np.float32), tuple(names)


def loan_table(split: str = "train", n: int = 4000, *, seed: int = 0) -> LoanData:
    """A synthetic bank-loan table in the spirit of the UCI Adult data, with a planted bias.

    Each applicant has age, education_num, hours_per_week, capital_gain,
    occupation, marital_status, race and sex. Their *merit* (log-odds of
    approval) depends on education, hours, age, occupation, capital gain and
    marriage. The historical decisions in ``y`` add the planted bias: women's
    log-odds are lowered by ``LOAN_BIAS`` (1.6), whatever their merit. Race has
    no effect at all: a control. A model trained on ``y`` learns the bias; the
    fairness lab must find it.
    """
    _choose(split, ("train", "test"), "split")
    n = check_positive_int(n, "n")
    check_memory(n * 1000, f"loan_table(n={n})", "ask for fewer rows (n)")  # about 500 bytes per row at the peak
    rng = _rng(seed, "loan", split)
    female = rng.random(n) < 0.45
    age = np.clip(rng.normal(40, 12, n), 18, 75).round()
    education = np.clip(rng.normal(10, 2.6, n), 1, 16).round()
    hours = np.clip(rng.normal(40, 10, n) - 3 * female, 10, 80).round()
    gain = np.where(rng.random(n) < 0.12, np.exp(rng.normal(8, 1, n)), 0).round()
    occupation = np.array(OCCUPATIONS)[rng.integers(0, len(OCCUPATIONS), n)]
    marital = np.array(MARITAL)[rng.choice(3, n, p=[0.5, 0.35, 0.15])]
    race = np.array(RACES)[rng.choice(5, n, p=[0.7, 0.12, 0.08, 0.04, 0.06])]
    # education dominates, as in the bank's old rule book; the rest adjusts at the margin
    merit = (0.9 * (education - 10) + 0.03 * (hours - 40) + 0.02 * (age - 40)
             - 0.001 * (age - 40) ** 2 + 0.4 * np.vectorize(_OCCUPATION_EFFECT.get)(occupation)
             + 0.3 * (marital == "married") + 0.125 * np.log1p(gain) + 0.6)
    logit = merit - LOAN_BIAS * female
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    raw = {"age": age, "education_num": education, "hours_per_week": hours,
           "capital_gain": gain, "occupation": occupation, "marital_status": marital,
           "race": race, "sex": np.where(female, "female", "male")}
    X, names = encode_loan(raw)
    return LoanData(X, y, names, raw, merit.astype(np.float32))
