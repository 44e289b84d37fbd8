"""The check engine: run the student's function on fresh inputs and explain what is wrong.

A check calls the student's function and a reference implementation on the
same fresh inputs (copies, so neither can change what the other sees) and
compares the results. When they differ it does not just say "wrong": it runs
a list of *diagnoses*, small functions that recognise a typical mistake, and
the first one that recognises the result explains it::

    >>> checks.check_saliency_from_gradients(lambda grads: np.abs(grads))
    CheckFailed: saliency_from_gradients: case 1 of 3 (a batch of 2 gradients of shape (5, 6, 3)):
      your result has shape (2, 5, 6, 3) but the expected shape is (2, 5, 6).
      Hint: there is an extra last axis of size 3 (the colour channels?): reduce it, e.g.
      with .max(axis=-1) as the lecture's saliency map takes the max over RGB

Built-in diagnoses (``DEFAULT_DIAGNOSES``) recognise: a missing ``return``,
NaN/inf, shape mistakes (the
channel axis kept, the wrong axis reduced, the batch axis missing, axes
swapped), a flipped sign, a missing ``abs``, softmax probabilities instead of
logits, a map normalised to [0, 1] (as a whole or map by map), a constant
factor or offset, and "close but not within tolerance". A result of another
array-like type than the reference's (a list, a tuple, a TensorFlow tensor,
a numpy scalar) is compared by its values: the type is never the mistake. Before comparing, a check makes sure the student's
function changed neither its input arrays nor a model's weights.
``NotImplementedError`` means "not attempted yet"; any other exception is
shown with the line of the student's code that raised it.

Writing a check for a new exercise (see ``nb00_start_here.check_saliency_from_gradients``):
a reference function, a few fresh cases, and exercise-specific diagnoses,
most easily with :func:`matches` ("the student's result equals what this
wrong implementation computes"); put it in the notebook's module
``labkit/checks/nbNN_<notebook>.py`` and re-export it in ``checks/__init__.py``::

    def check_grad_cam(student_grad_cam):
        return check_function(student_grad_cam, cam.grad_cam, _grad_cam_cases, name="grad_cam", diagnoses=(
            matches(lambda m, x: cam.grad_cam(m, x, relu=False), "you forgot the ReLU ..."),
        ))

A diagnosis is any ``function(m: Mismatch) -> str | None``; advice for a
student's function that raised an error is added with :func:`add_hint`.
"""
from __future__ import annotations

import linecache
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

import numpy as np

__all__ = [
    "CheckFailed", "Case", "Mismatch", "CheckResult", "Diagnosis", "check_function", "check_value",
    "compare_values", "matches", "add_hint", "DEFAULT_DIAGNOSES",
]


class CheckFailed(AssertionError):
    """A check found a problem; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class Case:
    """One set of inputs for the function under test.

    ``label`` describes the inputs in feedback ("one image", "a batch of 4").
    """

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    label: str = ""


@dataclass(frozen=True)
class Mismatch:
    """What a diagnosis sees: one case where the student's result differs from the reference.

    ``got`` and ``expected`` are numpy arrays when they are array-like (the
    raw objects otherwise); ``raw_got`` is exactly what the student returned.
    ``student`` and ``cases`` are the function under test and all the check's
    cases (for :func:`matches` with ``every_case=True``).
    """

    name: str
    case: Case
    got: Any
    expected: Any
    raw_got: Any
    rtol: float
    atol: float
    student: Optional[Callable] = None
    cases: tuple = ()

    def close(self, a, b, *, equal_nan: bool = False) -> bool:
        """Whether two results agree within the check's tolerance (same shape, allclose).

        ``equal_nan=True``: NaN in both at the same place counts as equal.
        """
        a, b = _as_array(a), _as_array(b)
        if a is None or b is None or a.shape != b.shape:
            return False
        if a.dtype.kind not in "biufc" or b.dtype.kind not in "biufc":
            return bool(np.array_equal(a, b))
        return bool(np.allclose(a, b, rtol=self.rtol, atol=self.atol, equal_nan=equal_nan))

    @property
    def arrays(self) -> bool:
        """Both results are numeric arrays of the same shape (most diagnoses need this)."""
        return (isinstance(self.got, np.ndarray) and isinstance(self.expected, np.ndarray)
                and self.got.shape == self.expected.shape and self.got.dtype.kind in "biuf"
                and self.expected.dtype.kind in "biuf")


Diagnosis = Callable[[Mismatch], Optional[str]]


@dataclass(frozen=True)
class CheckResult:
    """The outcome of a check; shows as one friendly line in a notebook."""

    name: str
    passed: bool
    cases: int
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return self.message

    def _ipython_display_(self) -> None:
        """In a notebook, the line is printed: a check cell shows it but ends without a value (no
        ``execute_result``), so nbgrader's autograde grades the cell as plain pass/fail."""
        print(self.message)


# --------------------------------------------------------------------------
# small helpers
def _as_array(value) -> np.ndarray | None:
    """``value`` as a numpy array (TensorFlow tensors included), or None if it is not array-like."""
    if value is None:
        return None
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    try:
        array = np.asarray(value)
    except Exception:
        return None
    return None if array.dtype == object else array


def _fresh(value):
    """A copy of numpy arrays (also inside lists, tuples, dicts); other objects as they are."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (list, tuple)):
        return type(value)(_fresh(v) for v in value)
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    return value


def _changed_inputs(before: Case, after_args: tuple, after_kwargs: dict) -> list[str]:
    """Names of the array arguments that the student's function changed in place."""
    pairs = [(f"argument {i + 1}", a, b) for i, (a, b) in enumerate(zip(before.args, after_args))]
    pairs += [(f"argument {k!r}", before.kwargs[k], after_kwargs[k]) for k in before.kwargs]
    return [name for name, a, b in pairs if isinstance(a, np.ndarray) and not _same(a, b)]


def _same(a: np.ndarray, b) -> bool:
    """Equal arrays; NaN equals NaN for numbers (strings and objects compare plainly)."""
    return np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")


def _weights(args: tuple, kwargs: dict) -> list:
    """Copies of the weights of every argument that has them (keras models and layers)."""
    return [(i, [np.array(w) for w in x.get_weights()])
            for i, x in enumerate((*args, *kwargs.values())) if hasattr(x, "get_weights")]


def _changed_weights(before: list, args: tuple, kwargs: dict) -> bool:
    values = (*args, *kwargs.values())
    return any(len(old) != len(values[i].get_weights())
               or not all(np.array_equal(a, b) for a, b in zip(old, values[i].get_weights()))
               for i, old in before)


def _describe(value) -> str:
    array = _as_array(value)
    if array is not None and array.ndim > 0:
        return f"an array of shape {array.shape}"
    if array is not None:
        return f"{type(value).__name__} {value!r}"
    return f"a {type(value).__name__}"


def _fmt(x) -> str:
    return np.array2string(np.asarray(x), precision=4, threshold=8, edgeitems=2, separator=", ")


def _student_line(err: BaseException, fn: Callable) -> str:
    """'line N: <code>' of the deepest frame in the student's own code, if any."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return ""
    last = max((line for *_, line in code.co_lines() if line), default=code.co_firstlineno)
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == code.co_filename
              and code.co_firstlineno <= (f.lineno or 0) <= last]       # not a helper in the same cell
    if not frames:
        return ""
    frame = frames[-1]
    text = (frame.line or linecache.getline(frame.filename, frame.lineno)).strip()
    line = frame.lineno - code.co_firstlineno + 1
    return f" (line {line} of your function: `{text}`)" if text else f" (line {line} of your function)"


# --------------------------------------------------------------------------
# comparison
def compare_values(got, expected, *, rtol: float = 1e-4, atol: float = 1e-5) -> str | None:
    """None if ``got`` matches ``expected``, else a sentence saying how it differs.

    Arrays (and numbers) are compared with ``np.allclose(rtol, atol)`` after
    checking type and shape; other values with ``==``.
    """
    if got is None and expected is not None:
        return "your function returned None"
    want, have = _as_array(expected), _as_array(got)
    if want is None:                                  # not numeric: compare as Python objects
        return None if got == expected else f"your result {got!r} differs from the expected {expected!r}"
    if have is None:
        return f"your function returned {_describe(got)}, but the expected result is {_describe(expected)}"
    if have.shape != want.shape:
        return f"your result has shape {have.shape} but the expected shape is {want.shape}"
    if want.dtype.kind not in "biufc" or have.dtype.kind not in "biufc":
        return None if np.array_equal(have, want) else (
            f"your result {_fmt(have)} differs from the expected {_fmt(want)}")
    if np.allclose(have, want, rtol=rtol, atol=atol):
        return None
    if not np.all(np.isfinite(have)):
        return f"your result contains NaN or inf ({int(np.sum(~np.isfinite(have)))} of {have.size} values)"
    if want.size == 1:
        return f"your result is {have.item():.6g} but the expected value is {want.item():.6g}"
    diff = np.abs(have.astype(np.float64) - want.astype(np.float64))
    where = np.unravel_index(np.argmax(diff), diff.shape) if diff.ndim else ()
    at = f" at index {tuple(int(i) for i in where)}" if where else ""
    bad = int(np.sum(~np.isclose(have, want, rtol=rtol, atol=atol)))
    return (f"your values differ from the expected ones in {bad} of {want.size} places; the largest "
            f"difference is {diff.max():.4g}{at} (yours {have[where]:.4g}, expected {want[where]:.4g})")


# --------------------------------------------------------------------------
# the built-in diagnoses: each recognises one typical mistake
def _returned_none(m: Mismatch) -> str | None:
    if m.raw_got is None:
        return "your function returns nothing: did you forget the `return` statement?"
    return None


def _not_finite(m: Mismatch) -> str | None:
    if not isinstance(m.got, np.ndarray) or m.got.dtype.kind not in "fc" or np.all(np.isfinite(m.got)):
        return None
    if isinstance(m.expected, np.ndarray) and m.expected.dtype.kind in "fc" and not np.all(np.isfinite(m.expected)):
        return None
    return ("your result contains NaN or inf: look for a division by zero (e.g. normalising a map "
            "that is all zeros), exp() of large numbers overflowing (subtract the max first) or log(0)")


def _kept_channels(m: Mismatch) -> str | None:
    got, want = _as_array(m.got), _as_array(m.expected)
    if got is None or want is None or got.ndim != want.ndim + 1 or got.shape[:-1] != want.shape:
        return None
    inputs = (*m.case.args, *m.case.kwargs.values())
    if any(getattr(x, "shape", None) == got.shape for x in inputs):   # an input's last axis kept
        return (f"there is an extra last axis of size {got.shape[-1]} (the colour channels?): reduce it, "
                f"e.g. with .max(axis=-1) as the lecture's saliency map takes the max over RGB")
    return (f"your result has an extra last axis of size {got.shape[-1]}: the expected result has "
            f"shape {want.shape}, one value per position, so pick or reduce along that axis")


def _batch_axis(m: Mismatch) -> str | None:
    got, want = _as_array(m.got), _as_array(m.expected)
    if got is None or want is None:
        return None
    if got.shape == want.shape[1:]:
        return (f"the first (batch) axis of size {want.shape[0]} is missing: your function should "
                f"return one result per input, keeping the batch axis")
    if got.shape[1:] == want.shape and got.shape[:1] == (1,):
        return "there is an extra batch axis of size 1: drop it (e.g. result[0]) for a single input"
    return None


def _swapped_axes(m: Mismatch) -> str | None:
    got, want = _as_array(m.got), _as_array(m.expected)
    if got is None or want is None or got.ndim != want.ndim or got.shape == want.shape:
        return None
    if sorted(got.shape) == sorted(want.shape):
        return (f"your result has the right sizes in the wrong order: {got.shape} instead of "
                f"{want.shape}; check which axis you reduced over or transposed")
    return None


def _reduced_wrong_axis(m: Mismatch) -> str | None:
    """The result drops a different axis of an input array than the expected result does."""
    got, want = _as_array(m.got), _as_array(m.expected)
    if got is None or want is None or got.shape == want.shape or got.ndim != want.ndim:
        return None
    for x in (*m.case.args, *m.case.kwargs.values()):
        shape = getattr(x, "shape", None)
        if shape is None or len(shape) != want.ndim + 1:
            continue
        drop = lambda k: tuple(shape[:k]) + tuple(shape[k + 1:])  # noqa: E731
        yours = [k for k in range(len(shape)) if drop(k) == got.shape]
        right = [k for k in range(len(shape)) if drop(k) == want.shape]
        if yours and right:
            k = right[-1]
            axis = "-1" if k == len(shape) - 1 else str(k)
            return (f"you reduced over axis {yours[0]} of the input (size {shape[yours[0]]}), but the "
                    f"result should reduce axis {k} (size {shape[k]}): use axis={axis}")
    return None


def _sign_flipped(m: Mismatch) -> str | None:
    if m.arrays and np.any(m.expected != 0) and m.close(m.got, -m.expected):
        return ("your result has the opposite sign: did you subtract the wrong way round, or "
                "follow the gradient of a loss instead of the class score?")
    return None


def _missing_abs(m: Mismatch) -> str | None:
    if not m.arrays or np.any(m.expected < 0) or not np.any(m.got < -m.atol):
        return None
    if m.close(np.abs(m.got), m.expected):
        return "your values have the right size but some have the wrong sign: take the absolute value (np.abs)"
    return ("the expected values are never negative but some of yours are: did you forget the "
            "absolute value (abs) or a ReLU? (take abs before reducing)")


def _softmax_not_logits(m: Mismatch) -> str | None:
    if not m.arrays or m.got.ndim < 1 or m.got.shape[-1] < 2:
        return None
    got, want = m.got.astype(np.float64), m.expected.astype(np.float64)
    looks_like_probs = np.all(got >= 0) and np.all(got <= 1) and np.allclose(got.sum(-1), 1, atol=1e-3)
    want_probs = np.all(want >= 0) and np.allclose(want.sum(-1), 1, atol=1e-3)
    if looks_like_probs and not want_probs:
        return ("your values are probabilities (each row sums to 1): work on the logits, the "
                "model's output before softmax")
    if want_probs and not looks_like_probs:
        from labkit.targets import softmax  # TensorFlow only when this mistake is suspected
        if m.close(softmax(got), want):
            return "these are logits: apply softmax over the last axis to get probabilities"
    return None


def _normalised(m: Mismatch) -> str | None:
    if not m.arrays or m.got.size < 2:
        return None
    want = m.expected.astype(np.float64)
    span = want.max() - want.min()
    if span > 0 and m.close(m.got, (want - want.min()) / span):
        return ("your result is rescaled to [0, 1]: return the raw values (normalising for display "
                "is the plotting code's job)")
    if np.abs(want).max() > 0 and m.close(m.got, want / np.abs(want).max()):
        return "your result is divided by its maximum: return the raw, unnormalised values"
    if want.ndim >= 3:                                   # a batch of maps, each normalised on its own
        axes = tuple(range(1, want.ndim))
        low, high = want.min(axis=axes, keepdims=True), want.max(axis=axes, keepdims=True)
        largest = np.abs(want).max(axis=axes, keepdims=True)
        with np.errstate(all="ignore"):
            if m.close(m.got, np.where(high > low, (want - low) / (high - low), 0.0)):
                return ("each of your maps is rescaled to [0, 1]: return the raw values (normalising "
                        "for display is the plotting code's job)")
            if m.close(m.got, np.where(largest > 0, want / largest, 0.0)):
                return "each of your maps is divided by its maximum: return the raw, unnormalised values"
    return None


def _constant_factor(m: Mismatch) -> str | None:
    if not m.arrays or m.got.size < 2:
        return None
    got, want = m.got.astype(np.float64).ravel(), m.expected.astype(np.float64).ravel()
    energy = float(want @ want)
    if energy == 0:
        return None
    k = float(got @ want) / energy
    if abs(k) > 1e-12 and not np.isclose(k, 1, rtol=1e-3) and m.close(got, k * want):
        return (f"your result is the expected one times {k:.4g}: look for a missing or extra "
                f"constant factor (a mean instead of a sum, a division by N or by the step size?)")
    return None


def _constant_offset(m: Mismatch) -> str | None:
    if not m.arrays or m.got.size < 2:
        return None
    shift = float(np.mean(m.got.astype(np.float64) - m.expected.astype(np.float64)))
    if abs(shift) > m.atol and m.close(m.got, m.expected + shift):
        return (f"your result is the expected one plus a constant {shift:.4g}: look for an extra "
                f"or missing offset (a bias, a baseline?)")
    return None


def _nearly(m: Mismatch) -> str | None:
    if m.arrays and np.allclose(m.got, m.expected, rtol=100 * m.rtol, atol=100 * m.atol):
        return ("your result is very close but not within tolerance: look for float16/rounding, "
                "or an approximation (fewer steps, a different epsilon) the exercise did not ask for")
    return None


DEFAULT_DIAGNOSES: tuple = (
    _returned_none, _not_finite, _kept_channels, _batch_axis, _reduced_wrong_axis,
    _swapped_axes,
    _sign_flipped, _missing_abs, _softmax_not_logits, _normalised, _constant_factor,
    _constant_offset, _nearly,
)
"""Diagnoses every check runs after the exercise's own ones, in this order."""


def matches(wrong: Callable, message: str, *, equal_nan: bool = False,
            same: Callable[[Any, Any], bool] | None = None, every_case: bool = False) -> Diagnosis:
    """A diagnosis for one known mistake: the student's result equals ``wrong(*args, **kwargs)``.

    Parameters
    ----------
    wrong : a function with the exercise's signature that makes the mistake
        (e.g. saliency without ``abs``); it gets fresh copies of the case's
        inputs, and an exception means "not this mistake"
    message : the hint to show when the student's result matches it
    equal_nan : count NaN in both results, at the same place, as equal (for
        results where NaN means "undefined")
    same : ``same(got, wrong_result) -> bool``, what "equals" means for this
        exercise (``got`` as the student returned it, e.g. a dict or a CAV
        that only has to point the same way); default: same shape and
        values within the check's tolerance (:meth:`Mismatch.close`)
    every_case : require the match on every case of the check, running the
        student's function on all of them: for answers like True/False or
        one number, where a single case cannot tell mistakes apart

    Example
    -------
    >>> forgot_abs = matches(lambda g: g.max(axis=-1), "take the absolute value before the max")
    """
    def wrong_result(case: Case):
        with np.errstate(all="ignore"):  # a wrong formula may divide by zero: no warnings for it
            return wrong(*_fresh(case.args), **_fresh(case.kwargs))

    def diagnosis(m: Mismatch) -> str | None:
        equal = same or (lambda got, candidate: m.close(got, candidate, equal_nan=equal_nan))
        try:
            if not every_case:
                return message if equal(m.raw_got, wrong_result(m.case)) else None
            if m.student is None or not m.cases:
                return None
            answers = [m.student(*_fresh(c.args), **_fresh(c.kwargs)) for c in m.cases]
            return message if all(equal(a, wrong_result(c)) for a, c in zip(answers, m.cases)) else None
        except Exception:  # the mistake does not even apply to these inputs
            return None

    diagnosis.__name__ = f"matches_{getattr(wrong, '__name__', 'wrong')}"
    return diagnosis


def _diagnose(m: Mismatch, diagnoses: Iterable[Diagnosis]) -> str | None:
    for diagnosis in (*diagnoses, *DEFAULT_DIAGNOSES):
        try:
            hint = diagnosis(m)
        except Exception:  # a broken diagnosis must never hide the real feedback
            hint = None
        if hint:
            return hint
    return None


# --------------------------------------------------------------------------
# running a check
def _as_case(case) -> Case:
    if isinstance(case, Case):
        return case
    if isinstance(case, dict):
        return Case(kwargs=dict(case))
    if isinstance(case, tuple):
        return Case(args=case)
    return Case(args=(case,))


def _fail(name: str, text: str, raise_on_fail: bool, cases: int) -> CheckResult:
    message = f"{name}: {text}"
    if raise_on_fail:
        raise CheckFailed(message) from None
    return CheckResult(name, False, cases, "✗ " + message)


def _run_case(student_fn, reference_fn, case: Case, name: str, *, compare, diagnoses,
              rtol: float, atol: float, cases: tuple = ()) -> str | None:
    """None if the student's function passes ``case``, else the feedback text."""
    try:
        expected = reference_fn(*_fresh(case.args), **_fresh(case.kwargs))
    except Exception as err:
        raise RuntimeError(f"the reference for {name} failed on {case.label or 'a case'} "
                           f"({type(err).__name__}: {err}); please tell your tutor") from err
    args, kwargs = _fresh(case.args), _fresh(case.kwargs)
    weights = _weights(args, kwargs)
    try:
        raw = student_fn(*args, **kwargs)
    except NotImplementedError:
        return ("not attempted yet: replace `raise NotImplementedError()` with your code, "
                "then run the exercise cell and this check again")
    except Exception as err:
        return f"your function raised {type(err).__name__}: {err}{_student_line(err, student_fn)}"
    if _changed_weights(weights, args, kwargs):
        return ("your function changed the model's weights: an explanation must leave the model as "
                "it is (compute gradients with tf.GradientTape, never train or assign)")
    changed = _changed_inputs(case, args, kwargs)
    if changed:
        return (f"your function changed its input ({', '.join(changed)}) in place: work on a copy "
                f"(e.g. `x = x.copy()`), the caller still needs the original")
    if compare is None:
        problem = compare_values(raw, expected, rtol=rtol, atol=atol)
    else:
        problem = compare(raw, expected)
    if problem is None:
        return None
    got, want = _as_array(raw), _as_array(expected)
    mismatch = Mismatch(name, case, raw if got is None else got, expected if want is None else want,
                        raw, rtol, atol, student_fn, cases)
    hint = _diagnose(mismatch, diagnoses)
    return problem + (f".\n  Hint: {hint}" if hint else ".")


def add_hint(result: CheckResult, words, hint: str, raise_on_fail: bool) -> CheckResult:
    """Append ``hint`` to a failed result whose message contains one of ``words``; raise if asked.

    For exercise-specific advice that a diagnosis cannot give because the
    student's function failed with an error (e.g. "could not be broadcast").
    ``words``: one string or a tuple of strings.
    """
    __tracebackhide__ = True  # noqa: F841
    words = (words,) if isinstance(words, str) else tuple(words)
    message = result.message.removeprefix("✗ ")
    if not result.passed and "Hint:" not in message and any(word in message for word in words):
        message = f"{message}\n  Hint: {hint}"
    if result.passed:
        return result
    if raise_on_fail:
        raise CheckFailed(message) from None
    return CheckResult(result.name, False, result.cases, "✗ " + message)


def check_function(student_fn: Callable, reference_fn: Callable, cases, *, name: str | None = None,
                   compare: Callable | None = None, diagnoses: Iterable[Diagnosis] = (),
                   rtol: float = 1e-4, atol: float = 1e-5, seed: int = 0,
                   raise_on_fail: bool = True) -> CheckResult:
    """Check a student's function against a reference on fresh inputs.

    Each case runs both functions on separate copies of its inputs. The first
    case where they disagree is explained: by ``compare``'s sentence, plus a
    hint from the first diagnosis (the exercise's own ``diagnoses`` first,
    then ``DEFAULT_DIAGNOSES``) that recognises the mistake.

    Parameters
    ----------
    student_fn : the function the student wrote
    reference_fn : the correct implementation, same signature
    cases : a sequence of :class:`Case` (or tuples of positional args, or
        dicts of keyword args), or a function ``cases(rng)`` returning one;
        it gets ``np.random.default_rng(seed)`` so the inputs are fresh but
        the same on every run (and at grading time)
    name : what to call the function in feedback (default: its ``__name__``)
    compare : ``compare(got, expected) -> None | str``; default
        :func:`compare_values` with ``rtol``/``atol``
    diagnoses : exercise-specific diagnoses, ``f(m: Mismatch) -> str | None``,
        e.g. from :func:`matches`
    rtol, atol : tolerances of the default comparison (and of ``Mismatch.close``)
    seed : seed of the rng passed to a ``cases`` function
    raise_on_fail : raise :class:`CheckFailed` (default; a graded check cell
        then fails) or return a failed :class:`CheckResult`

    Returns
    -------
    CheckResult
        shows as "✓ name: passed N checks on fresh inputs" in a notebook.

    Raises
    ------
    CheckFailed
        with the feedback, when ``raise_on_fail`` and a case fails.
    """
    __tracebackhide__ = True  # noqa: F841
    name = name or getattr(student_fn, "__name__", "your function")
    if not callable(student_fn):
        return _fail(name, f"expected a function, got {_describe(student_fn)}; pass the function "
                           f"itself, without calling it (no parentheses)", raise_on_fail, 0)
    cases = [_as_case(c) for c in (cases(np.random.default_rng(seed)) if callable(cases) else cases)]
    if not cases:
        raise ValueError("cases is empty: a check needs at least one case")
    for i, case in enumerate(cases, start=1):
        problem = _run_case(student_fn, reference_fn, case, name, compare=compare, diagnoses=diagnoses,
                            rtol=rtol, atol=atol, cases=tuple(cases))
        if problem is not None:
            if problem.startswith("not attempted") or (len(cases) == 1 and not case.label):
                return _fail(name, problem, raise_on_fail, len(cases))
            where = f"case {i} of {len(cases)}" + (f" ({case.label})" if case.label else "")
            return _fail(name, f"{where}:\n  {problem}", raise_on_fail, len(cases))
    return CheckResult(name, True, len(cases), f"✓ {name}: passed {len(cases)} checks on fresh inputs")


def check_value(got, expected, *, name: str = "your result", diagnoses: Iterable[Diagnosis] = (),
                rtol: float = 1e-4, atol: float = 1e-5, raise_on_fail: bool = True) -> CheckResult:
    """Check a value the student computed (not a function) against the expected one.

    Same feedback as :func:`check_function`, for exercises like "compute the
    accuracy of the tanks model on the independent-weather split".
    """
    __tracebackhide__ = True  # noqa: F841
    return check_function(lambda: got, lambda: expected, [Case(label="")], name=name,
                          diagnoses=diagnoses, rtol=rtol, atol=atol, raise_on_fail=raise_on_fail)


