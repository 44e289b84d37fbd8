"""Input validation shared by every labkit function (not the exercise checks: see ``labkit.checks``).

Each helper turns what a student passed into the exact form the methods
need, or raises a ``TypeError``/``ValueError`` that names the argument, says
what was expected and what was got, and, where there is one, gives the fix.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_images", "as_targets", "check_positive_int", "check_seed", "check_choice"]

_IMAGES_SHAPE = "(N, H, W, C) or one image (H, W, C)"
_SCALE_ADVICE = "convert with images.astype('float32') / 255"


def _describe(value) -> str:
    """Short description of a value for error messages: its type, and shape if any."""
    shape = getattr(value, "shape", None)
    kind = type(value).__name__
    return f"{kind} of shape {tuple(shape)}" if shape is not None else kind


def _to_numpy(value, name: str) -> np.ndarray:
    """``np.asarray`` for numpy arrays, tf tensors and nested lists, with a clear TypeError."""
    if isinstance(value, (str, bytes, dict, set)) or value is None:
        raise TypeError(f"{name} must be a numeric array, got {_describe(value)}")
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()  # eager tf.Tensor / tf.Variable
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as err:  # ragged nested lists
        raise TypeError(f"{name} must be a numeric array with a regular shape: {err}") from None
    if array.dtype.kind not in "iuf":
        raise TypeError(
            f"{name} must hold numbers (float32 preferred), got dtype {array.dtype} "
            f"from {_describe(value)}"
        )
    return array


def _model_rescales(model) -> bool:
    """True when the model's first layer is its own Rescaling/Normalization (it takes 0-255)."""
    import keras

    first = next((l for l in model.layers if not isinstance(l, keras.layers.InputLayer)), None)
    return isinstance(first, (keras.layers.Rescaling, keras.layers.Normalization))


def _check_model_shape(shape: tuple, model, name: str) -> None:
    """Compare (N, H, W, C) with ``model.input_shape``; None dimensions accept anything."""
    try:
        expected = model.input_shape
    except AttributeError:  # unbuilt or subclassed model: nothing to compare with
        return
    if isinstance(expected, list):
        raise ValueError(f"the model has {len(expected)} inputs; labkit methods need a single image input")
    expected = tuple(expected)
    readable = "(N, " + ", ".join("any" if d is None else str(d) for d in expected[1:]) + ")"
    if len(expected) != 4:
        raise ValueError(
            f"the model's input shape is {expected}, not an image batch (N, H, W, C); "
            f"labkit methods need an image model"
        )
    for axis, label in ((3, "channels C"), (1, "height H"), (2, "width W")):
        if expected[axis] is not None and expected[axis] != shape[axis]:
            raise ValueError(
                f"{name} has the wrong {label}: the model expects images of shape {readable}, "
                f"got {name} of shape {shape} ({label.split()[-1]}={shape[axis]}, "
                f"expected {expected[axis]})"
            )


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
        When given, H, W and C are checked against ``model.input_shape``.

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
    finite = np.isfinite(array)
    if not finite.all():
        bad = array.size - int(finite.sum())
        raise ValueError(
            f"{name} contains NaN or inf values ({bad} of {array.size}); check the preprocessing"
        )
    low, high = float(array.min()), float(array.max())
    if not rescales and low >= 0 and 2 < high <= 255:
        raise ValueError(
            f"{name} looks like uint8 0-255 pixels (values from {low:g} to {high:g}), but the "
            f"model expects inputs scaled to about [0, 1]; {_SCALE_ADVICE}"
        )
    return array, single


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
        None skips the range check.
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
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise ValueError(f"{name} must hold whole-number class indices, got {array.ravel()[:5].tolist()}")
    array = np.broadcast_to(array.astype(np.int64), (n,)).copy()
    if num_classes is not None:
        bad = array[(array < 0) | (array >= num_classes)]
        if bad.size:
            raise ValueError(
                f"{name} {int(bad[0])} is out of range; valid class indices are 0..{num_classes - 1} "
                f"(the model has {num_classes} outputs)"
            )
    return array


def check_positive_int(value, name: str) -> int:
    """Return ``value`` as an int, or raise naming ``name`` unless it is an int >= 1."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive int, got {_describe(value)} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int (>= 1), got {value}")
    return int(value)


def check_seed(seed, name: str = "seed") -> int | None:
    """Return ``seed`` unchanged if it is None or an int >= 0, else raise naming ``name``."""
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be an int or None, got {_describe(seed)} {seed!r}")
    if seed < 0:
        raise ValueError(f"{name} must be >= 0, got {seed}")
    return int(seed)


def check_choice(value, name: str, choices: tuple) -> object:
    """Return ``value`` if it is one of ``choices``, else raise a ValueError listing them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value
