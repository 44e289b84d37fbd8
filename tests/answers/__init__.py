"""A corpus of student answers, one module per notebook: correct ones in several styles, and wrong ones
written the way students go wrong, each with the hint its check must give.

``tests/test_answer_corpus.py`` runs every answer through its check on the visible seed, the hidden
tests' seeds and further seeds: a correct answer must pass on every seed, a wrong one must fail on every
seed with its hint. Add an answer with ``@correct("check_x")`` or ``@wrong("check_x", "hint words")``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

ANSWERS: list = []


@dataclass(frozen=True)
class Answer:
    notebook: str          # "nb02"
    check: str             # the check's name in labkit.checks, e.g. "check_saliency"
    fn: Callable
    hint: Optional[str]    # None: a correct answer; else a distinctive part of the hint it must get

    @property
    def id(self) -> str:
        kind = "ok" if self.hint is None else "wrong"
        return f"{self.notebook}-{self.check.removeprefix('check_')}-{kind}-{self.fn.__name__}"


def _notebook(fn: Callable) -> str:
    return fn.__module__.rsplit(".", 1)[-1].split("_")[0]


def correct(check: str) -> Callable:
    """Register a correct answer: it must pass ``check`` on every seed."""
    def register(fn):
        ANSWERS.append(Answer(_notebook(fn), check, fn, None))
        return fn
    return register


def wrong(check: str, hint: str) -> Callable:
    """Register a wrong answer: it must fail ``check`` on every seed, with ``hint`` in the feedback."""
    def register(fn):
        ANSWERS.append(Answer(_notebook(fn), check, fn, hint))
        return fn
    return register
