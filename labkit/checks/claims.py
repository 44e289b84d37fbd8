"""Claims: the notebooks' prose checked against what the notebooks compute.

A lab that teaches "don't trust an explanation you have not checked" must not
contradict its own outputs. Every sentence of a solution notebook that says
something about a result ("the tree asks about education first", "about a
quarter of the decisions change", "not significant") is backed by a claim,
in a tutor-only region right after the code that computes it::

    ### BEGIN CLAIMS
    checks.claim(first_split == "education_num", "the tree asks about education first",
                 first_split=first_split)
    checks.claims_hold()
    ### END CLAIMS

Each :func:`claim` records its verdict; :func:`claims_hold`, the last line of
every region, raises one :class:`ClaimFailed` that lists *every* false
sentence of the region, so one run names them all. ``make test`` runs the solution notebooks (nbval), so a retrained model or a
changed toy world that makes a sentence false fails the run and the message
quotes the sentence and the values measured. ``labkit.release`` removes the
claims from the student notebooks, as it removes hidden tests; grading never
runs them. ``tests/test_claims.py`` checks that each quoted sentence really
stands in the notebook's markdown, so a claim cannot drift from its prose.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["ClaimFailed", "claim", "claims_hold"]

_false: list[str] = []   # the sentences found false since the last claims_hold()


class ClaimFailed(AssertionError):
    """A sentence of a notebook is no longer true of what the notebook computed."""


def _show(value) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    if isinstance(value, (list, tuple, np.ndarray)) and np.asarray(value).dtype.kind in "iuf":
        return "[" + ", ".join(_show(v) for v in np.asarray(value).ravel().tolist()) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_show(v)}" for k, v in value.items()) + "}"
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def claim(holds, sentence: str, **measured) -> bool:
    """Record whether ``sentence`` of the notebook's prose holds; :func:`claims_hold` reports it.

    Parameters
    ----------
    holds : bool
        The sentence, computed: a plain bool (numpy bools are fine).
    sentence : str
        The words of the notebook's markdown it backs, quoted exactly (bold,
        italics and code marks may be left out): ``tests/test_claims.py``
        finds them in the notebook.
    **measured
        The numbers behind it, shown in the failure message.

    Returns
    -------
    bool
        Whether it holds.

    Examples
    --------
    >>> claim(0.2 < 0.274 < 0.33, "about a quarter of the decisions change", flip_rate=0.274)
    True
    >>> claims_hold()
    """
    if not isinstance(sentence, str) or not sentence.strip():
        raise TypeError("sentence must be the quoted words of the notebook's prose (a non-empty str)")
    if isinstance(holds, np.ndarray) and holds.size == 1:
        holds = holds.item()
    if not isinstance(holds, (bool, np.bool_)) and not (isinstance(holds, numbers.Integral) and holds in (0, 1)):
        raise TypeError(f"claim({sentence!r}) needs a bool, got {type(holds).__name__}: compare the "
                        f"measured value with what the sentence says (e.g. rate > 0.5)")
    if not holds:
        values = ", ".join(f"{name} = {_show(value)}" for name, value in measured.items())
        _false.append(f"\"{sentence}\"" + (f" ({values})" if values else ""))
    return bool(holds)


def claims_hold() -> None:
    """Raise :class:`ClaimFailed` naming every sentence found false since the last call."""
    false = list(_false)
    _false.clear()
    if false:
        raise ClaimFailed(f"{len(false)} sentence(s) of the notebook are no longer supported by its own "
                          "results; rewrite them (and their claims) to match the outputs:\n  "
                          + "\n  ".join(false))
