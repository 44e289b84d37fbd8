"""Exercise checks for notebook 04, distillation and fairness (re-exported by :mod:`labkit.checks`).

Each check runs the student's function and a reference on fresh inputs and
explains the typical mistakes (the lecture's model distillation and bank loan):

- :func:`check_fidelity`: ``fidelity(model_predictions, surrogate_predictions)``.
- :func:`check_surrogate_tree`: ``surrogate_tree(X, y, model_predictions, max_depth)``,
  a scikit-learn decision tree fitted to the model's predictions, not to the labels.
- :func:`check_approval_rate_by_group`: ``approval_rate_by_group(approved, groups)``.
- :func:`check_flip_rate`: ``flip_rate(model, X, column)``, the counterfactual flip test.

Only numpy is imported at module level; scikit-learn, keras and labkit's
methods are imported inside the functions that need them.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from labkit.checks.engine import Case, CheckResult, Mismatch, _as_array, check_function, matches

__all__ = ["check_fidelity", "check_surrogate_tree", "check_approval_rate_by_group", "check_flip_rate"]


# ==========================================================================
# notebook 04, exercise 1: fidelity of a surrogate
def _fidelity(model_predictions, surrogate_predictions) -> float:
    """Reference: share of rows on which the surrogate predicts what the model predicts."""
    return float(np.mean(np.asarray(model_predictions) == np.asarray(surrogate_predictions)))


def _disagree(rng, labels: np.ndarray, share: float, classes: int) -> np.ndarray:
    other = labels.copy()
    flip = rng.random(len(labels)) < share
    other[flip] = (labels[flip] + rng.integers(1, classes, flip.sum())) % classes
    return other


def _fidelity_cases(rng: np.random.Generator) -> list[Case]:
    binary = rng.integers(0, 2, 50)
    three = rng.integers(0, 3, 64)
    return [Case((binary, _disagree(rng, binary, 0.2, 2)), label="50 loan decisions (0/1), the surrogate "
                                                                     "disagrees on about a fifth"),
            Case((three, _disagree(rng, three, 0.35, 3)), label="64 predictions of a 3-class model"),
            Case((binary[:7], binary[:7].copy()), label="7 rows where surrogate and model always agree")]


def check_fidelity(student_fn: Callable, *, seed: int = 0, raise_on_fail: bool = True) -> CheckResult:
    """Check ``fidelity(model_predictions, surrogate_predictions) -> float``: the share of agreement."""
    __tracebackhide__ = True  # noqa: F841
    return check_function(
        student_fn, _fidelity, _fidelity_cases, seed=seed, name="fidelity", raise_on_fail=raise_on_fail,
        diagnoses=(
            matches(lambda a, b: float(np.sum(a == b)),
                    "you counted the rows where they agree; fidelity is a share: divide by the number of rows"),
            matches(lambda a, b: 100 * float(np.mean(a == b)),
                    "you returned a percentage; return the share between 0 and 1"),
            matches(lambda a, b: float(np.mean(a != b)),
                    "you computed the share of DISagreement; fidelity is the share of rows where the surrogate "
                    "predicts what the model predicts, `np.mean(model_predictions == surrogate_predictions)`"),
        ))


# ==========================================================================
# notebook 04, exercise 2: a surrogate tree on the model's predictions
_LOANS: dict = {}


def _loan_rule(data) -> np.ndarray:
    """A stand-in 'network': a stricter, deterministic decision with the planted bias, unlike the noisy labels.

    Stricter than the historical decisions (threshold 1.0 on the log-odds), so
    a tree fitted to the labels splits in the wrong places and is caught.
    """
    female = data.raw["sex"] == "female"
    return (data.merit - 1.6 * female + 0.3 * np.sin(3 * data.X[:, 0]) > 1.0).astype(np.int64)


def _loans(seed: int, n: int, split: str):
    key = (seed, n, split)
    if key not in _LOANS:
        from labkit import datasets

        data = datasets.loan_table(split, n, seed=seed)
        _LOANS[key] = (data.X, data.y, _loan_rule(data))
    return _LOANS[key]


def _tree(X, labels, max_depth, seed=0):
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(max_depth=max_depth, random_state=seed).fit(X, labels)


def _reference_tree(X, y, model_predictions, max_depth=3):
    """Reference: a decision tree fitted to the model's predictions (not to y)."""
    return _tree(X, model_predictions, max_depth)


class _TreeSummary:
    """Calls a surrogate_tree function and measures its tree on held-out rows.

    Carries the student's ``__code__`` so that an error is shown at the line
    of the student's own function.
    """

    def __init__(self, fn: Callable):
        self.fn = fn
        self.__code__ = getattr(fn, "__code__", None)
        self.__name__ = getattr(fn, "__name__", "surrogate_tree")

    def __call__(self, X, y, model_predictions, max_depth, held_out):
        tree = self.fn(X, y, model_predictions, max_depth)
        X_test, predictions_test, label_tree_test = held_out
        if tree is None:
            return {"problem": "your function returned None: return the fitted tree"}
        if not hasattr(tree, "predict"):
            return {"problem": f"your function returned {_describe_type(tree)}; return the fitted "
                               f"DecisionTreeClassifier itself (something with .predict)"}
        if not hasattr(tree, "get_depth"):
            return {"problem": f"your function returned a {type(tree).__name__}; the exercise asks for a "
                               f"DecisionTreeClassifier, whose splits can be read (and drawn with plot.tree)"}
        try:
            surrogate = np.asarray(tree.predict(X_test)).astype(np.int64)
        except Exception as err:  # e.g. NotFittedError
            return {"problem": f"calling .predict of your tree raised {type(err).__name__}: {err}"}
        depth = tree.get_depth()
        refit = _refit_agreement(tree, X, y, model_predictions, X_test, surrogate)
        return {"problem": None, "fidelity": float(np.mean(surrogate == predictions_test)),
                "label_tree": float(np.mean(surrogate == label_tree_test)), "depth": depth,
                "max_depth": max_depth, "depth_setting": _max_depth_setting(tree), **refit}


def _max_depth_setting(tree):
    try:
        return tree.get_params().get("max_depth")
    except Exception:
        return None


def _refit_agreement(tree, X, y, model_predictions, X_test, surrogate) -> dict:
    """What the student's tree was fitted to: the same tree (its own settings) refitted to each target.

    {"on_predictions": share of held-out rows where the student's tree agrees with its settings refitted
    to ``model_predictions``, "on_labels": the same for ``y``}; empty when it cannot be refitted. This
    decides whether a tree is a surrogate whatever its settings (criterion, class_weight, ...), so that
    the verdict never depends on how close a fidelity happens to come to a threshold on one seed.
    """
    try:
        from sklearn.base import clone

        agreement = {}
        for name, target in (("on_predictions", model_predictions), ("on_labels", y)):
            twin = clone(tree).fit(X, np.asarray(target))
            agreement[name] = float(np.mean(np.asarray(twin.predict(X_test)).astype(np.int64) == surrogate))
        return agreement
    except Exception:
        return {}


def _describe_type(value) -> str:
    array = _as_array(value)
    if array is not None and array.ndim > 0:
        return f"an array of shape {array.shape} (predictions?)"
    return f"a {type(value).__name__}"


def _surrogate_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for max_depth, n in ((3, 1200), (2, 900), (4, 1500)):
        data_seed = int(rng.integers(1000, 10**6))
        X, y, predictions = _loans(data_seed, n, "train")
        X_test, y_test, predictions_test = _loans(data_seed + 1, 600, "test")
        label_tree = _tree(X, y, max_depth).predict(X_test)
        cases.append(Case((X, y, predictions, max_depth, (X_test, predictions_test, label_tree)),
                          label=f"{n} fresh loan applicants, max_depth={max_depth}, fidelity measured on "
                                f"600 held-out applicants"))
    return cases


def _compare_surrogate(got, expected) -> str | None:
    if got.get("problem"):
        return got["problem"]
    if got["depth"] > got["max_depth"]:
        return (f"your tree has depth {got['depth']} but max_depth was {got['max_depth']}: pass "
                f"`max_depth=max_depth` to DecisionTreeClassifier (a deep tree may copy the model, but nobody "
                f"can read it)")
    if _fitted_to(got) == "labels":
        return (f"your tree's fidelity on held-out applicants is {got['fidelity']:.3f}, and it is the tree "
                f"that your settings give when fitted to the true labels y")
    if _fitted_to(got) == "predictions" and got["depth_setting"] == got["max_depth"]:
        return None                                      # a surrogate of the model, whatever its settings
    if got["fidelity"] >= expected["fidelity"] - 0.02:
        return None
    return (f"your tree's fidelity on held-out applicants is {got['fidelity']:.3f}, the reference tree's is "
            f"{expected['fidelity']:.3f}")


def _fitted_to(got: dict) -> str | None:
    """"predictions" or "labels" when refitting the student's tree to one target (only) reproduces it."""
    on_predictions, on_labels = got.get("on_predictions", 0.0), got.get("on_labels", 0.0)
    if on_predictions >= 0.99 and on_predictions > on_labels:
        return "predictions"
    if on_labels >= 0.99 and on_labels > on_predictions:
        return "labels"
    return None


def _low_fidelity(m: Mismatch) -> bool:
    """The student's tree is a readable tree, only less faithful to the model than the reference."""
    got = m.raw_got
    return not got.get("problem") and got["depth"] <= got["max_depth"]


def _fitted_the_labels(m: Mismatch) -> str | None:
    got = m.raw_got
    if _low_fidelity(m) and (_fitted_to(got) == "labels" or (
            got["label_tree"] > got["fidelity"] and got["label_tree"] >= 0.97)):
        return ("you fitted the true labels instead of the model's predictions: a surrogate explains the "
                "model, so it learns what the model says (`model_predictions`), its mistakes and biases "
                "included.")
    return None


def _other_depth(m: Mismatch) -> str | None:
    got = m.raw_got
    if _low_fidelity(m) and got.get("depth_setting") not in (None, got["max_depth"]):
        return (f"your tree was made with max_depth={got['depth_setting']}, but this call asked for "
                f"max_depth={got['max_depth']}: pass the argument on, `DecisionTreeClassifier(max_depth=max_depth)`")
    return None


def _surrogate_recipe(m: Mismatch) -> str | None:
    if _low_fidelity(m):
        return ("fit `DecisionTreeClassifier(max_depth=max_depth)` to (X, model_predictions), all rows, and "
                "return the fitted tree.")
    return None


def check_surrogate_tree(student_fn: Callable, *, seed: int = 0, raise_on_fail: bool = True) -> CheckResult:
    """Check ``surrogate_tree(X, y, model_predictions, max_depth) -> fitted DecisionTreeClassifier``.

    The global surrogate of the lecture's "model distillation": a shallow
    tree fitted to the model's predictions, not to the true labels ``y``.
    Passes when the tree's depth is at most ``max_depth`` and it is a
    surrogate of the model: refitting it (its own settings, e.g. a
    ``class_weight`` or ``criterion``, with ``max_depth``) to
    ``model_predictions`` gives the same tree, or, for a tree made some other
    way, its fidelity to the model on held-out applicants is within 0.02 of
    the reference tree's. A tree that refits to the true labels ``y`` fails,
    on every seed, however close its fidelity comes.
    """
    __tracebackhide__ = True  # noqa: F841
    if not callable(student_fn):
        return check_function(student_fn, _reference_tree, [Case()], name="surrogate_tree",
                              raise_on_fail=raise_on_fail)
    return check_function(_TreeSummary(student_fn), _TreeSummary(_reference_tree), _surrogate_cases, seed=seed,
                          name="surrogate_tree", compare=_compare_surrogate, raise_on_fail=raise_on_fail,
                          diagnoses=(_fitted_the_labels, _other_depth, _surrogate_recipe))


# ==========================================================================
# notebook 04, exercise 3: approval rate by group
def _approval_rates(approved, groups) -> dict:
    """Reference: {group: share of the group's rows that were approved}."""
    approved, groups = np.asarray(approved, np.float64), np.asarray(groups)
    return {str(g): float(approved[groups == g].mean()) for g in np.unique(groups)}


def _group_cases(rng: np.random.Generator) -> list[Case]:
    sex = np.where(rng.random(40) < 0.45, "female", "male")
    approved = (rng.random(40) < np.where(sex == "female", 0.3, 0.7)).astype(np.int64)
    races = np.array(["white", "black", "asian_pac_islander", "amer_indian_eskimo", "other"])
    race = races[rng.choice(5, 60, p=[0.5, 0.2, 0.1, 0.1, 0.1])]
    race[:5] = races                                                         # every group present
    approved_race = rng.random(60) < 0.5
    return [Case((approved, sex.tolist()), label="40 decisions (0/1) and the applicants' sex"),
            Case((approved_race, race.tolist()), label="60 decisions (True/False) and five race groups")]


def _as_mapping(value):
    if hasattr(value, "to_dict"):  # a pandas Series
        value = value.to_dict()
    return value


def _compare_rates(got, expected) -> str | None:
    got = _as_mapping(got)
    if got is None:
        return "your function returned None"
    if not isinstance(got, dict):
        return f"your function returned {_describe_type(got)}; return a dict {{group: approval rate}}"
    mine = {str(k): v for k, v in got.items()}
    if set(mine) != set(expected):
        return (f"your dict has the groups {sorted(mine)} but the groups are {sorted(expected)} "
                f"(one entry per value in np.unique(groups))")
    for group, want in expected.items():
        have = _as_array(mine[group])
        if have is None or have.shape != () or not np.isclose(float(have), want, rtol=1e-6, atol=1e-9):
            return f"for group {group!r} your rate is {mine[group]!r} but the expected rate is {want:.4g}"
    return None


def _same_rates(got, wrong_rates: dict) -> bool:
    """For :func:`matches`: the student's {group: rate} (a dict or a pandas Series) equals ``wrong_rates``."""
    got = _as_mapping(got)
    if not isinstance(got, dict):
        return False
    mine = {str(k): v for k, v in got.items()}
    return set(mine) == set(wrong_rates) and all(
        np.isclose(float(np.asarray(mine[k])), wrong_rates[k]) for k in wrong_rates)


def _rates_count(approved, groups):
    approved, groups = np.asarray(approved, np.float64), np.asarray(groups)
    return {str(g): float(approved[groups == g].sum()) for g in np.unique(groups)}


def _rates_share_of_approved(approved, groups):
    approved, groups = np.asarray(approved, np.float64), np.asarray(groups)
    return {str(g): float(approved[groups == g].sum() / approved.sum()) for g in np.unique(groups)}


def _rates_declined(approved, groups):
    return {g: 1 - r for g, r in _approval_rates(approved, groups).items()}


def _rates_group_share(approved, groups):
    groups = np.asarray(groups)
    return {str(g): float(np.mean(groups == g)) for g in np.unique(groups)}


class _WithGroupArray:
    """Calls ``fn(approved, np.asarray(groups))``: the case holds the group names as a list.

    (The checks framework compares array inputs before and after the call to
    catch in-place changes, which does not work for arrays of strings.)
    Carries the student's ``__code__`` so that errors point at their line.
    """

    def __init__(self, fn: Callable):
        self.fn = fn
        self.__code__ = getattr(fn, "__code__", None)
        self.__name__ = getattr(fn, "__name__", "approval_rate_by_group")

    def __call__(self, approved, groups):
        return self.fn(approved, np.asarray(groups))


def check_approval_rate_by_group(student_fn: Callable, *, seed: int = 0,
                                 raise_on_fail: bool = True) -> CheckResult:
    """Check ``approval_rate_by_group(approved, groups) -> {group: rate}``.

    The rate of a group is P(approved | group): its approved rows divided by
    its rows. Keys are the group names (``np.unique(groups)``); a pandas
    Series is accepted as well as a dict.
    """
    __tracebackhide__ = True  # noqa: F841
    if not callable(student_fn):
        return check_function(student_fn, _approval_rates, [Case()], name="approval_rate_by_group",
                              raise_on_fail=raise_on_fail)
    return check_function(
        _WithGroupArray(student_fn), _WithGroupArray(_approval_rates), _group_cases, seed=seed,
        name="approval_rate_by_group", raise_on_fail=raise_on_fail, compare=_compare_rates, diagnoses=(
            matches(_rates_count, "you counted the approvals; divide by the number of applicants in the group",
                    same=_same_rates),
            matches(_rates_share_of_approved,
                    "you divided by the number of approved applicants, which gives P(group | approved); "
                    "the approval rate is P(approved | group): divide by the size of the group",
                    same=_same_rates),
            matches(_rates_declined, "these are the rates of declined applicants; count the approved ones",
                    same=_same_rates),
            matches(_rates_group_share,
                    "these are the shares of each group in the data; use the decisions too", same=_same_rates),
        ))


# ==========================================================================
# notebook 04, exercise 4: the counterfactual flip test
_FLIP_MODELS: dict = {}


def _flip_model(seed: int):
    """A tiny linear keras 'loan model' (6 inputs -> 2 logits, no softmax), cached.

    Column 2 (0/1) raises the approval logit a lot, column 5 (0/1) lowers
    it: flipping either changes many decisions, in both directions.
    """
    if seed not in _FLIP_MODELS:
        import keras

        rng = np.random.default_rng(seed)
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2, name="logits")],
                                 name=f"tiny_loan_model_{seed}")
        approve = rng.normal(scale=0.8, size=6)
        approve[2], approve[5] = 2.0, -1.6
        kernel = np.stack([np.zeros(6), approve], axis=1)                     # (6, 2): declined, approved
        model.set_weights([kernel.astype(np.float32), np.array([0.0, -0.2], np.float32)])
        _FLIP_MODELS[seed] = model
    return _FLIP_MODELS[seed]


def _decisions(model, X) -> np.ndarray:
    return np.asarray(model(np.asarray(X, np.float32), training=False)).argmax(axis=1)


def _flip_rate(model, X, column) -> float:
    """Reference: share of rows whose decision changes when the 0/1 column is flipped."""
    from labkit import fairness

    return fairness.flip_test(model, X, column).changed / len(X)


def _flip_cases(rng: np.random.Generator) -> list[Case]:
    model = _flip_model(int(rng.integers(0, 1000)))
    cases = []
    for n, column in ((80, 2), (50, 5)):
        X = rng.normal(size=(n, 6)).astype(np.float32)
        X[:, 2] = rng.random(n) < 0.45
        X[:, 5] = rng.random(n) < 0.5
        effect = "raises" if column == 2 else "lowers"
        cases.append(Case((model, X, column), label=f"a small keras model, {n} rows, flipping the 0/1 column "
                                                    f"{column} (which {effect} the approval logit)"))
    return cases


def _flip_to(value: float):
    def wrong(model, X, column):
        changed = X.copy()
        changed[:, column] = value
        return float(np.mean(_decisions(model, X) != _decisions(model, changed)))
    return wrong


def _flipped(model, X, column):
    changed = X.copy()
    changed[:, column] = 1 - changed[:, column]
    return _decisions(model, X), _decisions(model, changed)


_FLIP_MISTAKES = (
    (lambda model, X, column: float(np.sum(np.not_equal(*_flipped(model, X, column)))),
     "you counted the changed decisions; the flip rate is a share: divide by the number of rows"),
    (_flip_to(1.0), "you set the column to 1 for everyone; flip it instead, `1 - X[:, column]`, so that every "
                    "applicant gets the other value"),
    (_flip_to(0.0), "you set the column to 0 for everyone; flip it instead, `1 - X[:, column]`, so that every "
                    "applicant gets the other value"),
    (lambda model, X, column: float(np.mean(np.subtract(*_flipped(model, X, column)[::-1]) > 0)),
     "you counted only the decisions that became approvals; count every changed decision, in both directions"),
    (lambda model, X, column: float(np.mean(np.subtract(*_flipped(model, X, column)[::-1]) < 0)),
     "you counted only the decisions that became refusals; count every changed decision, in both directions"),
    (lambda model, X, column: 1.0,
     "every row changed: did you compare the raw outputs (logits) instead of the decisions? Compare the argmax "
     "over the classes, `.argmax(axis=1)`"),
)


def _same_number(got, wrong_rate: float) -> bool:
    """For :func:`matches`: the student returned one number, the wrong rate."""
    g = _as_array(got)
    return g is not None and g.shape == () and g.dtype.kind in "biuf" and bool(
        np.isclose(float(g), wrong_rate, atol=1e-9))


def check_flip_rate(student_fn: Callable, *, seed: int = 0, raise_on_fail: bool = True) -> CheckResult:
    """Check ``flip_rate(model, X, column) -> float``.

    The counterfactual flip test: the same rows with the 0/1 ``column``
    flipped (0 <-> 1) on a copy of X; the share of rows whose decision (the
    argmax of the model's logits) changes. An unbiased model gives 0.
    """
    __tracebackhide__ = True  # noqa: F841
    # one number per case cannot tell the mistakes apart, the pattern over all cases can
    return check_function(
        student_fn, _flip_rate, _flip_cases, seed=seed, name="flip_rate", raise_on_fail=raise_on_fail,
        diagnoses=tuple(matches(wrong, message, same=_same_number, every_case=True)
                        for wrong, message in _FLIP_MISTAKES))
