"""Answers to notebook 04: fidelity, surrogate_tree, approval_rate_by_group, flip_rate."""
import numpy as np
from sklearn.tree import DecisionTreeClassifier

from answers import correct, wrong

FIDELITY, TREE, RATES, FLIP = "check_fidelity", "check_surrogate_tree", "check_approval_rate_by_group", \
    "check_flip_rate"


# --------------------------------------------------------------------------
# fidelity(model_predictions, surrogate_predictions) -> float
@correct(FIDELITY)
def fidelity_mean(model_predictions, surrogate_predictions):
    return float(np.mean(np.asarray(model_predictions) == np.asarray(surrogate_predictions)))


@correct(FIDELITY)
def fidelity_loop(model_predictions, surrogate_predictions):
    same = 0
    for a, b in zip(model_predictions, surrogate_predictions):
        same += a == b
    return same / len(model_predictions)                       # a numpy float64


@correct(FIDELITY)
def fidelity_sklearn(model_predictions, surrogate_predictions):
    from sklearn.metrics import accuracy_score
    return accuracy_score(model_predictions, surrogate_predictions)


@correct(FIDELITY)
def fidelity_tf(model_predictions, surrogate_predictions):
    import tensorflow as tf
    return tf.reduce_mean(tf.cast(tf.equal(model_predictions, surrogate_predictions), tf.float64))


@wrong(FIDELITY, "counted the rows where they agree")
def fidelity_count(model_predictions, surrogate_predictions):
    return int(np.sum(model_predictions == surrogate_predictions))


@wrong(FIDELITY, "percentage")
def fidelity_percent(model_predictions, surrogate_predictions):
    return 100 * np.mean(model_predictions == surrogate_predictions)


@wrong(FIDELITY, "DISagreement")
def fidelity_disagreement(model_predictions, surrogate_predictions):
    return np.mean(model_predictions != surrogate_predictions)


# --------------------------------------------------------------------------
# surrogate_tree(X, y, model_predictions, max_depth=3) -> fitted DecisionTreeClassifier
@correct(TREE)
def tree_reference(X, y, model_predictions, max_depth=3):
    return DecisionTreeClassifier(max_depth=max_depth, random_state=0).fit(X, model_predictions)


@correct(TREE)
def tree_no_random_state(X, y, model_predictions, max_depth=3):
    tree = DecisionTreeClassifier(max_depth=max_depth)
    tree.fit(X, list(model_predictions))
    return tree


@correct(TREE)
def tree_entropy(X, y, model_predictions, max_depth=3):
    return DecisionTreeClassifier(max_depth=max_depth, criterion="entropy").fit(X, model_predictions)


@correct(TREE)
def tree_balanced(X, y, model_predictions, max_depth=3):
    # reweights the rows so both decisions count alike: still a tree of the model's predictions
    return DecisionTreeClassifier(max_depth=max_depth, class_weight="balanced").fit(X, model_predictions)


@wrong(TREE, "fitted the true labels instead of the model's predictions")
def tree_labels(X, y, model_predictions, max_depth=3):
    return DecisionTreeClassifier(max_depth=max_depth, random_state=0).fit(X, y)


@wrong(TREE, "fitted the true labels instead of the model's predictions")
def tree_labels_balanced(X, y, model_predictions, max_depth=3):
    return DecisionTreeClassifier(max_depth=max_depth, class_weight="balanced").fit(X, y)


@wrong(TREE, "pass `max_depth=max_depth`")
def tree_unlimited(X, y, model_predictions, max_depth=3):
    return DecisionTreeClassifier(random_state=0).fit(X, model_predictions)


@wrong(TREE, "made with max_depth=2")
def tree_fixed_depth(X, y, model_predictions, max_depth=3):
    return DecisionTreeClassifier(max_depth=2).fit(X, model_predictions)


@wrong(TREE, "(predictions?)")
def tree_returns_predictions(X, y, model_predictions, max_depth=3):
    return DecisionTreeClassifier(max_depth=max_depth).fit(X, model_predictions).predict(X)


@wrong(TREE, "calling .predict of your tree raised NotFittedError")
def tree_not_fitted(X, y, model_predictions, max_depth=3):
    return DecisionTreeClassifier(max_depth=max_depth)


# --------------------------------------------------------------------------
# approval_rate_by_group(approved, groups) -> {group: rate}
@correct(RATES)
def rates_dict(approved, groups):
    approved, groups = np.asarray(approved, float), np.asarray(groups)
    return {g: float(approved[groups == g].mean()) for g in np.unique(groups)}


@correct(RATES)
def rates_pandas_series(approved, groups):
    import pandas as pd
    return pd.Series(np.asarray(approved, float)).groupby(np.asarray(groups)).mean()   # a pandas Series


@correct(RATES)
def rates_loop(approved, groups):
    counts, yes = {}, {}
    for a, g in zip(approved, groups):
        counts[g] = counts.get(g, 0) + 1
        yes[g] = yes.get(g, 0) + int(a)
    return {g: yes[g] / counts[g] for g in counts}


@correct(RATES)
def rates_bincount(approved, groups):
    names, index = np.unique(groups, return_inverse=True)
    rates = np.bincount(index, weights=np.asarray(approved, float)) / np.bincount(index)
    return dict(zip(names, rates))                              # numpy str keys, numpy float values


@wrong(RATES, "counted the approvals")
def rates_count(approved, groups):
    return {g: float(np.sum(approved[groups == g])) for g in np.unique(groups)}


@wrong(RATES, "P(group | approved)")
def rates_share_of_approved(approved, groups):
    return {g: float(np.sum(approved[groups == g]) / np.sum(approved)) for g in np.unique(groups)}


@wrong(RATES, "rates of declined applicants")
def rates_declined(approved, groups):
    return {g: float(np.mean(1 - np.asarray(approved[groups == g], float))) for g in np.unique(groups)}


@wrong(RATES, "shares of each group in the data")
def rates_group_share(approved, groups):
    return {g: float(np.mean(groups == g)) for g in np.unique(groups)}


@wrong(RATES, "return a dict {group: approval rate}")
def rates_list(approved, groups):
    return [float(np.mean(approved[groups == g])) for g in np.unique(groups)]


# --------------------------------------------------------------------------
# flip_rate(model, X, column) -> float
def _decisions(model, X):
    return np.asarray(model(X)).argmax(axis=1)


def _flipped(X, column):
    flipped = X.copy()
    flipped[:, column] = 1 - flipped[:, column]
    return flipped


@correct(FLIP)
def flip_predict(model, X, column):
    flipped = X.copy()
    flipped[:, column] = 1 - flipped[:, column]
    before = model.predict(X, verbose=0).argmax(axis=1)
    after = model.predict(flipped, verbose=0).argmax(axis=1)
    return float(np.mean(before != after))


@correct(FLIP)
def flip_where_call(model, X, column):
    flipped = X.copy()
    flipped[:, column] = np.where(X[:, column] == 1, 0, 1)
    return np.mean(_decisions(model, X) != _decisions(model, flipped))         # a numpy float64


@correct(FLIP)
def flip_tf(model, X, column):
    import tensorflow as tf
    before = tf.argmax(model(X), axis=1)
    after = tf.argmax(model(_flipped(X, column)), axis=1)
    return tf.reduce_mean(tf.cast(before != after, tf.float64))                # a tf.Tensor


@wrong(FLIP, "counted the changed decisions")
def flip_count(model, X, column):
    return int(np.sum(_decisions(model, X) != _decisions(model, _flipped(X, column))))


@wrong(FLIP, "set the column to 1 for everyone")
def flip_set_one(model, X, column):
    changed = X.copy()
    changed[:, column] = 1
    return float(np.mean(_decisions(model, X) != _decisions(model, changed)))


@wrong(FLIP, "set the column to 0 for everyone")
def flip_set_zero(model, X, column):
    changed = X.copy()
    changed[:, column] = 0
    return float(np.mean(_decisions(model, X) != _decisions(model, changed)))


@wrong(FLIP, "only the decisions that became approvals")
def flip_only_approvals(model, X, column):
    return float(np.mean(_decisions(model, _flipped(X, column)) > _decisions(model, X)))


@wrong(FLIP, "only the decisions that became refusals")
def flip_only_refusals(model, X, column):
    return float(np.mean(_decisions(model, _flipped(X, column)) < _decisions(model, X)))


@wrong(FLIP, "compare the raw outputs (logits)")
def flip_logits(model, X, column):
    before, after = np.asarray(model(X)), np.asarray(model(_flipped(X, column)))
    return float(np.mean((before != after).any(axis=1)))


@wrong(FLIP, "changed its input")
def flip_in_place(model, X, column):
    before = _decisions(model, X)
    X[:, column] = 1 - X[:, column]
    return float(np.mean(before != _decisions(model, X)))
