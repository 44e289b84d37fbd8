"""Input validation shared by every labkit function (not the exercise checks: see ``labkit.checks``).

One vocabulary for everything a student passes in, so that every public
function answers a mistake the same way: a ``TypeError`` (wrong kind of
thing) or ``ValueError`` (right kind, wrong value) that names the argument,
says what was expected and what was got, and, where there is one, the fix.

- models: :func:`check_model` (checked first, before anything else), and
  :func:`check_predictor` for anything that predicts (keras, scikit-learn, a function);
- arrays: :func:`as_images`, :func:`as_table`, :func:`as_model_inputs`,
  :func:`as_maps`, :func:`as_masks`, :func:`as_array`;
- classes: :func:`as_targets` (what is explained), :func:`as_labels`
  (training labels), :func:`check_class` (one class index);
- numbers: :func:`check_int`, :func:`check_positive_int`,
  :func:`check_batch_size`, :func:`check_number`, :func:`check_seed`; integers
  that reach compiled TensorFlow code must fit in 32 bits;
- everything else: :func:`check_choice`, :func:`check_flag`,
  :func:`check_names`, :func:`check_callable`;
- memory: :func:`check_memory` estimates what an allocation would need
  before it is made and refuses above :func:`memory_limit`.

The checks are cheap (a few microseconds, plus one pass over an array for
NaN and range), so every call makes them.
"""

from __future__ import annotations

import math
import numbers
import os

import numpy as np

__all__ = [
    "INT32_MAX", "check_model", "check_predictor", "as_images", "as_table", "as_model_inputs", "as_maps",
    "as_masks", "as_array", "as_targets", "as_labels", "check_class", "check_int", "check_positive_int",
    "check_batch_size",
    "check_number", "check_seed", "check_choice", "check_flag", "check_names", "check_callable",
    "memory_limit", "check_memory",
]

INT32_MAX = 2**31 - 1
"""The largest count or seed labkit passes into compiled TensorFlow code (int32)."""

_IMAGES_SHAPE = "(N, H, W, C) or one image (H, W, C)"
_SCALE_ADVICE = "convert with images.astype('float32') / 255"
_ZOO_HINT = "e.g. model = labkit.zoo.load('shapes')"


def _describe(value) -> str:
    """Short description of a value for error messages: its type, and shape if any."""
    shape = getattr(value, "shape", None)
    kind = type(value).__name__
    return f"{kind} of shape {tuple(shape)}" if shape is not None else kind


def _short(value) -> str:
    """repr of a value, cut to one short line."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- models -------------------------------------------------------------------------------------


def check_model(model, *, name: str = "model", kind: str | None = "image", one_output: bool = True):
    """Return ``model`` if labkit can work with it, else raise naming ``name`` and the fix.

    Labkit needs a built Functional or Sequential Keras model (it reads the
    layers through the model's graph) with one input and one output; for
    ``kind="image"`` the input is an image batch (N, H, W, C) with a known
    number of channels, for ``kind="table"`` rows (N, D).

    Parameters
    ----------
    model : object
        What the student passed.
    name : str
        Argument name used in error messages.
    kind : {"image", "table", None}
        What the model must take; None accepts any single input.
    one_output : bool
        Require a single output (a classifier); False for labkit's own
        feature models, which return several.

    Returns
    -------
    keras.Model

    Examples
    --------
    >>> check_model("shapes")
    Traceback (most recent call last):
    TypeError: model is the string 'shapes', not a model: load it first, model = labkit.zoo.load('shapes')
    """
    import keras

    if not isinstance(model, keras.Model):
        if model is None:
            raise TypeError(f"{name} is None: pass a trained keras model, {_ZOO_HINT}")
        if isinstance(model, str):
            raise TypeError(f"{name} is the string {model!r}, not a model: load it first, "
                            f"{name} = labkit.zoo.load({model!r})")
        raise TypeError(f"{name} must be a keras.Model, got {_describe(model)}; {_ZOO_HINT}")
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):  # subclassed, or a Sequential model without an input shape yet
        inputs, outputs = None, None
    if not inputs:
        if isinstance(model, keras.Sequential):
            raise ValueError(
                f"{name} {model.name!r} has no graph labkit can trace yet (a Sequential model without an input "
                f"shape): start it with keras.Input, keras.Sequential([keras.Input(shape=(64, 64, 3)), ...]), or "
                f"build it with {name}.build((None, 64, 64, 3)) or call it once on a batch")
        raise ValueError(
            f"{name} {model.name!r} is a subclassed keras.Model ({type(model).__name__}); subclassed models are not "
            f"supported: labkit looks inside a model through its graph, which only Functional and Sequential "
            f"models have; build it with keras.Input and keras.Model(inputs, outputs), or keras.Sequential")
    if len(inputs) != 1 or (one_output and len(outputs) != 1):
        raise ValueError(
            f"{name} {model.name!r} has {len(inputs)} inputs and {len(outputs)} outputs; labkit needs a model "
            f"with one input and one output (a classifier of images or of table rows)")
    shape = tuple(inputs[0].shape)
    if kind == "image" and (len(shape) != 4 or shape[-1] is None):
        raise ValueError(
            f"{name} {model.name!r} takes inputs of shape (N, {', '.join(map(str, shape[1:]))}), not images "
            f"(N, H, W, C); this function explains image models"
            + ("; for a table model use labkit.distill or labkit.fairness" if len(shape) == 2 else ""))
    if kind == "table" and len(shape) != 2:
        raise ValueError(
            f"{name} {model.name!r} takes inputs of shape (N, {', '.join(map(str, shape[1:]))}), not table rows "
            f"(N, D); this function needs a model of table rows (e.g. labkit.zoo.load('loan'))")
    return model


def _model_rescales(model) -> bool:
    """True when the model's first layer is its own Rescaling/Normalization (it takes 0-255)."""
    import keras

    first = next((l for l in model.layers if not isinstance(l, keras.layers.InputLayer)), None)
    return isinstance(first, (keras.layers.Rescaling, keras.layers.Normalization))


def _check_model_shape(shape: tuple, model, name: str) -> None:
    """Compare (N, H, W, C) with the model's input shape; None dimensions accept anything."""
    expected = tuple(model.inputs[0].shape)
    readable = "(N, " + ", ".join("any" if d is None else str(d) for d in expected[1:]) + ")"
    for axis, label in ((3, "channels C"), (1, "height H"), (2, "width W")):
        if expected[axis] is not None and expected[axis] != shape[axis]:
            raise ValueError(
                f"{name} has the wrong {label}: the model expects images of shape {readable}, "
                f"got {name} of shape {shape} ({label.split()[-1]}={shape[axis]}, "
                f"expected {expected[axis]})"
            )


# --- arrays -------------------------------------------------------------------------------------


def _to_numpy(value, name: str, *, allow_bool: bool = False) -> np.ndarray:
    """``np.asarray`` for numpy arrays, tf tensors and nested lists, with a clear TypeError."""
    if isinstance(value, (str, bytes, dict, set)) or value is None:
        raise TypeError(f"{name} must be a numeric array, got {_describe(value)}"
                        + (f" {_short(value)}" if isinstance(value, str) else ""))
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()  # eager tf.Tensor / tf.Variable
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as err:  # ragged nested lists
        raise TypeError(f"{name} must be a numeric array with a regular shape: {err}") from None
    if array.dtype.kind not in ("iufb" if allow_bool else "iuf"):
        raise TypeError(
            f"{name} must hold numbers (float32 preferred), got dtype {array.dtype} "
            f"from {_describe(value)}"
        )
    return array


def _range(array: np.ndarray) -> tuple[float, float]:
    """(min, max) of a non-empty array; NaN or inf anywhere shows in one of them."""
    return float(array.min()), float(array.max())


def _require_finite(array: np.ndarray, name: str, low: float, high: float, what: str = "") -> None:
    if not (math.isfinite(low) and math.isfinite(high)):
        bad = int(array.size - np.isfinite(array).sum())
        raise ValueError(f"{name} contains NaN or inf values ({bad} of {array.size}){what}")


def as_array(value, name: str, *, ndim: int | tuple[int, ...] | None = None, shape: str = "",
             allow_empty: bool = False, allow_bool: bool = False, dtype=np.float32) -> np.ndarray:
    """Validate a numeric array: finite float32 of the given rank(s), not empty.

    Parameters
    ----------
    value : array-like
    name : str
        Argument name used in error messages.
    ndim : int or tuple of int, optional
        Allowed numbers of dimensions.
    shape : str
        How the expected shape reads in an error message, e.g. ``"(N, h, w)"``.
    allow_empty : bool
        Accept an array with no elements.
    allow_bool : bool
        Accept booleans (as 0.0/1.0).
    dtype : numpy dtype or None
        The result's dtype; None keeps float32/float64 as they are (others become float64).

    Returns
    -------
    np.ndarray
        C-contiguous, of ``dtype``.
    """
    if dtype is None:
        dtype = value.dtype if isinstance(value, np.ndarray) and value.dtype.kind == "f" else np.float64
    array = _to_numpy(value, name, allow_bool=allow_bool)
    if ndim is not None and array.ndim not in ((ndim,) if isinstance(ndim, int) else ndim):
        raise ValueError(f"{name} must have shape {shape or f'with {ndim} dimensions'}, got shape {array.shape}")
    if array.size == 0:
        if allow_empty:
            return np.array(array, dtype=dtype, order="C")
        raise ValueError(f"{name} is empty (shape {array.shape})")
    array = np.asarray(array, dtype=dtype, order="C")  # (np.ascontiguousarray would make a number 1-D)
    low, high = _range(array)
    _require_finite(array, name, low, high)
    return array


def as_images(images, *, name: str = "images", model=None) -> tuple[np.ndarray, bool]:
    """Validate images and return them as a float32 batch.

    Parameters
    ----------
    images : array-like
        A batch ``(N, H, W, C)`` or one image ``(H, W, C)``: numpy array,
        tf tensor or nested list, already preprocessed (floats, not 0-255 bytes).
    name : str
        Argument name used in error messages.
    model : keras.Model, optional
        When given (and checked with :func:`check_model` first), H, W and C
        are checked against the model's input shape.

    Returns
    -------
    batch : np.ndarray
        float32 array of shape (N, H, W, C).
    single : bool
        True when one (H, W, C) image was passed; callers drop the N axis again.

    Examples
    --------
    >>> batch, single = as_images(np.zeros((64, 64, 3)))
    >>> batch.shape, single
    ((1, 64, 64, 3), True)
    """
    if model is not None:
        check_model(model, one_output=False)
    array = _to_numpy(images, name)
    if array.ndim not in (3, 4):
        hint = ""
        if array.ndim == 2:
            hint = "; for one grayscale image add a channel axis: images[..., None]"
        raise ValueError(
            f"{name} must have shape {_IMAGES_SHAPE}; got shape {array.shape} "
            f"with {array.ndim} dimension(s){hint}"
        )
    single = array.ndim == 3
    if single:
        array = array[None]  # (1, H, W, C)
    if array.shape[0] == 0 or array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}); pass at least one image")
    if model is not None:
        _check_model_shape(array.shape, model, name)
    rescales = model is not None and _model_rescales(model)
    if array.dtype.kind in "iu" and not rescales:
        raise ValueError(
            f"{name} has integer dtype {array.dtype} and looks like uint8 0-255 pixels, but the "
            f"model expects preprocessed float32 inputs; {_SCALE_ADVICE}"
        )
    array = np.ascontiguousarray(array, dtype=np.float32)
    low, high = _range(array)
    _require_finite(array, name, low, high, "; check the preprocessing")
    if not rescales and low >= 0 and 2 < high <= 255:
        raise ValueError(
            f"{name} looks like uint8 0-255 pixels (values from {low:g} to {high:g}), but the "
            f"model expects inputs scaled to about [0, 1]; {_SCALE_ADVICE}"
        )
    return array, single


def as_table(X, *, name: str = "X", columns: int | None = None) -> np.ndarray:
    """Validate a feature table: (N, D) finite float32 with N >= 1 (and D = ``columns`` when given).

    Examples
    --------
    >>> as_table([[1, 2], [3, 4]]).dtype
    dtype('float32')
    """
    array = _to_numpy(X, name, allow_bool=True)
    if array.ndim != 2:
        hint = f"; for one row pass {name}[None] or {name}.reshape(1, -1)" if array.ndim == 1 else ""
        raise ValueError(f"{name} must have shape (N, D), one row per example, got shape {array.shape}{hint}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}); pass at least one row")
    if columns is not None and array.shape[1] != columns:
        raise ValueError(f"{name} has {array.shape[1]} columns but {columns} are expected (the model's features)")
    array = np.ascontiguousarray(array, dtype=np.float32)
    low, high = _range(array)
    _require_finite(array, name, low, high)
    return array


def as_model_inputs(values, model, *, name: str = "batch") -> np.ndarray:
    """What ``model`` takes, validated: images for an image model, table rows for a table model.

    ``model`` must have passed :func:`check_model` (any kind). Returns a float32 batch.
    """
    shape = tuple(model.inputs[0].shape)
    got = getattr(values, "shape", None)
    if got is not None and len(shape) in (2, 4) and (len(got) >= 3) != (len(shape) == 4):
        takes = "images (N, H, W, C)" if len(shape) == 4 else "table rows (N, D)"
        raise ValueError(f"the model {model.name!r} takes {takes}, but {name} has shape {tuple(got)}")
    if len(shape) == 4:
        return as_images(values, name=name, model=model)[0]
    if len(shape) == 2:
        return as_table(values, name=name, columns=shape[1])
    array = as_array(values, name)
    if array.shape[1:] != shape[1:] and None not in shape[1:]:
        raise ValueError(f"{name} has shape {array.shape} but the model takes (N, {', '.join(map(str, shape[1:]))})")
    return array


def check_predictor(model, X, *, name: str = "model", x_name: str = "X") -> tuple:
    """``(model, X)`` checked for anything that predicts: keras, a scikit-learn estimator, or a function.

    A keras model must pass :func:`check_model` and ``X`` must be what it
    takes (images for an image model, rows for a table model); for the
    others ``X`` must be a finite numeric array (an (N, D) table or images).
    """
    import keras

    if model is None or isinstance(model, str):
        check_model(model, name=name)  # the clear "model is None" / "is the string 'loan'" errors
    if isinstance(model, keras.Model):
        model = check_model(model, name=name, kind=None)
        rank = len(model.inputs[0].shape)
        shape = getattr(X, "shape", None)
        if shape is not None and rank in (2, 4) and (len(shape) >= 3) != (rank == 4):
            takes = "images (N, H, W, C)" if rank == 4 else "table rows (N, D)"
            raise ValueError(f"{name} {model.name!r} takes {takes}, but {x_name} has shape {tuple(shape)}; "
                             f"pass the kind of input the model was trained on")
        return model, as_model_inputs(X, model, name=x_name)
    if not (callable(model) or (hasattr(model, "predict") and hasattr(model, "fit"))):
        raise TypeError(f"{name} must be a keras.Model, a scikit-learn estimator or a function, "
                        f"got {type(model).__name__}")
    return model, (as_table(X, name=x_name) if np.ndim(X) == 2 else as_array(X, x_name))


def as_maps(maps, *, name: str = "maps", n: int | None = None) -> tuple[np.ndarray, bool]:
    """Attribution maps as (N, h, w) finite float32, and whether one (h, w) map was given."""
    array = as_array(maps, name, ndim=(2, 3), shape="(N, h, w) or one map (h, w)")
    single = array.ndim == 2
    array = array[None] if single else array
    if n is not None and len(array) != n:
        raise ValueError(f"{name} has {len(array)} maps but there are {n} images; pass one map per image")
    return array, single


def as_masks(masks, n: int, *, name: str = "masks") -> np.ndarray:
    """(N, H, W) boolean masks; one (H, W) mask is used for all ``n``."""
    if masks is None or isinstance(masks, (str, bytes, dict)):
        raise TypeError(f"{name} must be boolean masks (N, H, W), got {_describe(masks)}")
    array = np.asarray(masks)
    if array.dtype != bool:
        if array.dtype.kind not in "iuf" or not np.isin(array, (0, 1)).all():
            raise TypeError(f"{name} must be boolean (or 0/1) ground-truth masks, got dtype {array.dtype}")
        array = array.astype(bool)
    if array.ndim == 2:
        array = np.broadcast_to(array, (n, *array.shape))
    if array.ndim != 3 or array.shape[0] != n or array.size == 0:
        raise ValueError(f"{name} must have shape (N, H, W) with N={n}, one for each of the {n} maps; "
                         f"got shape {array.shape}")
    return array


# --- classes ------------------------------------------------------------------------------------


def _class_indices(array: np.ndarray, name: str, num_classes: int | None, what: str) -> np.ndarray:
    """Whole numbers in 0..num_classes-1 as int64 (array already numeric and 1-D)."""
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise ValueError(f"{name} must hold whole-number class indices, got {array.ravel()[:5].tolist()}")
    array = array.astype(np.int64)
    bad = array[(array < 0) | ((array >= num_classes) if num_classes is not None else False)]
    if bad.size:
        valid = f"0..{num_classes - 1} (the model has {num_classes} {what})" if num_classes else ">= 0"
        raise ValueError(f"{name} {int(bad[0])} is out of range; valid class indices are {valid}")
    return array


def as_targets(target, n: int, num_classes: int | None, *, name: str = "target") -> np.ndarray | None:
    """Validate class indices and return one per image.

    Parameters
    ----------
    target : int, array-like of shape (N,), or None
        Class index for every image, one index per image, or None
        (= the predicted class, decided by the caller). Never one-hot.
    n : int
        Number of images.
    num_classes : int or None
        Number of model outputs; indices must lie in ``0 .. num_classes - 1``.
        None skips the upper range check.
    name : str
        Argument name used in error messages.

    Returns
    -------
    np.ndarray or None
        int64 array of shape (N,), or None when ``target`` is None.

    Examples
    --------
    >>> as_targets(2, 3, 10)
    array([2, 2, 2])
    """
    if target is None:
        return None
    if isinstance(target, (bool, np.bool_)):
        raise TypeError(f"{name} must be a class index (int), got a bool")
    array = _to_numpy(target, name)
    if array.ndim == 2:
        raise ValueError(
            f"{name} has shape {array.shape}, which looks one-hot; pass class indices, not one-hot "
            f"(e.g. {name}.argmax(axis=1))"
        )
    if array.ndim > 2:
        raise ValueError(f"{name} must be an int or a 1-D array of class indices, got shape {array.shape}")
    if array.ndim == 1 and array.shape[0] != n:
        raise ValueError(
            f"{name} has {array.shape[0]} entries but there are {n} images; "
            f"pass one class index per image"
        )
    array = _class_indices(array.reshape(-1), name, num_classes, "outputs")
    return np.broadcast_to(array, (n,)).copy()


def as_labels(labels, n: int, *, num_classes: int | None = None, name: str = "labels") -> np.ndarray:
    """Validate one class label per example: (N,) whole numbers in ``0 .. num_classes - 1``, as int64.

    Examples
    --------
    >>> as_labels([0, 1, 1], 3, num_classes=2)
    array([0, 1, 1])
    """
    if labels is None or isinstance(labels, (str, bytes, dict)):
        raise TypeError(f"{name} must be an array of {n} class indices, got {_describe(labels)}")
    array = _to_numpy(labels, name, allow_bool=True)
    if array.ndim == 2 and array.shape[0] == n and array.shape[1] > 1:
        raise ValueError(f"{name} has shape {array.shape}, which looks one-hot; pass class indices "
                         f"(e.g. {name}.argmax(axis=1))")
    if array.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one label per example, got shape {array.shape}")
    return _class_indices(array, name, num_classes, "classes")


def check_class(value, num_classes: int | None = None, *, name: str = "target") -> int:
    """One class index: an int in ``0 .. num_classes - 1``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be one class index (int), got {_describe(value)} {_short(value)}")
    return int(_class_indices(np.array([value]), name, num_classes, "classes")[0])


# --- numbers ------------------------------------------------------------------------------------


def check_int(value, name: str, *, low: int | None = None, high: int | None = INT32_MAX,
              what: str | None = None) -> int:
    """Return ``value`` as an int in ``low .. high``, or raise naming ``name``.

    ``high`` defaults to the int32 limit: labkit's counts go into compiled
    code. ``what`` replaces the generated description in messages.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {what or 'an int'}, got {_describe(value)} {_short(value)}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be {what or f'an int >= {low}'}, got {value}")
    if high is not None and value > high:
        limit = " (labkit passes it to TensorFlow as a 32-bit integer)" if high == INT32_MAX else ""
        raise ValueError(f"{name}={value} is too large: {name} must be {what or f'at most {high}'}{limit}")
    return value


def check_positive_int(value, name: str, *, high: int | None = INT32_MAX) -> int:
    """Return ``value`` as an int, or raise naming ``name`` unless it is an int in 1 .. ``high``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive int, got {_describe(value)} {_short(value)}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int (>= 1), got {value}")
    return check_int(value, name, high=high)


def check_batch_size(value, n: int | None = None, *, name: str = "batch_size") -> int:
    """A positive int, capped at ``n`` (the number of items to batch): larger batches change nothing."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive int, got {_describe(value)} {_short(value)}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int (>= 1), got {value}")
    return int(min(value, max(n, 1))) if n is not None else check_int(value, name)


def check_number(value, name: str, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False, what: str | None = None) -> float:
    """A finite real number in the given range, as a float.

    ``what`` replaces the generated description of the range in messages,
    e.g. ``"a positive number (the step size)"``.

    Examples
    --------
    >>> check_number(0.5, "alpha", low=0, high=1)
    0.5
    """
    lower = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
    upper = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
    expected = what or " ".join(["a finite number", " and ".join(p for p in (lower, upper) if p)]).strip()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {expected}, got {_describe(value)} {_short(value)}")
    value = float(value)
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if not math.isfinite(value) or below or above:
        raise ValueError(f"{name} must be {expected}, got {value:g}")
    return value


def check_seed(seed, name: str = "seed") -> int | None:
    """Return ``seed`` unchanged if it is None or an int in 0 .. 2**31 - 1, else raise naming ``name``."""
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be an int or None, got {_describe(seed)} {_short(seed)}")
    if not 0 <= seed <= INT32_MAX:
        raise ValueError(f"{name} must be >= 0 and at most 2**31 - 1 = {INT32_MAX} (a 32-bit integer), got {seed}")
    return int(seed)


# --- everything else ----------------------------------------------------------------------------


def check_choice(value, name: str, choices: tuple) -> object:
    """Return ``value`` if it is one of ``choices``, else raise a ValueError listing them."""
    for choice in choices:
        if value is choice or (choice is not None and isinstance(value, type(choice)) and value == choice):
            return value
    raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {_short(value)}")


def check_flag(value, name: str) -> bool:
    """True or False (numpy bools too), else a TypeError naming ``name``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {_describe(value)} {_short(value)}")
    return bool(value)


def check_names(names, n: int, *, name: str = "feature_names", prefix: str = "x", noun: str = "entries",
                expected: str | None = None) -> tuple:
    """``n`` names as strings, or ``prefix0 .. prefix{n-1}`` when ``names`` is None.

    A single string is refused (it would be read letter by letter);
    ``noun`` and ``expected`` word the length error, e.g. "class_names has
    2 names but the model has 4 classes".
    """
    if names is None:
        return tuple(f"{prefix}{i}" for i in range(n))
    if isinstance(names, (str, bytes)):
        raise TypeError(f"{name} is one string {_short(names)}; pass a list of {n} names "
                        f"(list('abc') for single letters)")
    try:
        names = tuple(str(value) for value in names)
    except TypeError:
        raise TypeError(f"{name} must be a list of {n} names, got {_describe(names)}") from None
    if len(names) != n:
        raise ValueError(f"{name} has {len(names)} {noun} but {expected or f'there are {n}'}")
    return names


def check_callable(value, name: str, what: str = "a function"):
    """``value`` if it can be called, else a TypeError naming ``name``."""
    if not callable(value):
        raise TypeError(f"{name} must be {what}, got {_describe(value)} {_short(value)}")
    return value


# --- memory -------------------------------------------------------------------------------------


def memory_limit() -> int:
    """Bytes labkit may allocate for one result: half the machine's memory, or ``LABKIT_MEMORY_LIMIT_GB``."""
    setting = os.environ.get("LABKIT_MEMORY_LIMIT_GB")
    if setting:
        return int(float(setting) * 2**30)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX
        total = 16 * 2**30
    return int(total // 2)


def _readable(nbytes: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if nbytes < 1024 or unit == "TB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return ""


def check_memory(nbytes: float, what: str, fix: str) -> None:
    """Refuse an allocation estimated at ``nbytes`` above :func:`memory_limit`, before it is made.

    Parameters
    ----------
    nbytes : float
        Estimated peak memory.
    what : str
        The call, with the arguments that decide the size, e.g. ``"toy_world(n=1000000000, size=64)"``.
    fix : str
        What to do instead.
    """
    limit = memory_limit()
    if nbytes > limit:
        raise ValueError(f"{what} would need about {_readable(nbytes)} of memory, more than labkit's limit of "
                         f"{_readable(limit)} (half of this machine's memory; set the environment variable "
                         f"LABKIT_MEMORY_LIMIT_GB to change it); {fix}")
