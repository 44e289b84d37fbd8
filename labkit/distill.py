"""Predictions of any model, global surrogates, and knowledge distillation.

*Global surrogate* (the lecture's "Model Distillation: how can we explain a
neural network with a simpler model?"): fit an intrinsically interpretable
model, a shallow decision tree (:func:`surrogate_tree`) or a logistic
regression (:func:`surrogate_linear`), to the network's *predictions* (not
to the true labels), and report its *fidelity*, the share of held-out
inputs on which surrogate and network agree. A faithful surrogate is a
readable summary of what the network does, biases included (Craven &
Shavlik, "Extracting tree-structured representations of trained networks",
NIPS 1996; Molnar, "Interpretable Machine Learning", ch. "Global
Surrogate"). The price of readability shows in the fidelity: a decision
that weighs many features at once needs a deep tree.

*Knowledge distillation* of an image model (Hinton, Vinyals & Dean,
"Distilling the Knowledge in a Neural Network", 2015): :func:`distill_cnn`
trains a smaller student CNN on the teacher's softened outputs;
:func:`agreement` measures how often the two agree.

Both, and :mod:`labkit.fairness`, ask any model for its decisions the same
way: :func:`predict_classes` (a keras model on its logits, in batches; a
scikit-learn estimator; or a plain function), with :func:`model_scores`,
:func:`as_table` and :func:`check_names` as the plumbing.

The bank-loan questions, "is the model fair?" (group rates, permutation
importance, the flip test) and "why was my loan declined?" (tabular SHAP
and LIME), are in :mod:`labkit.fairness`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier, export_text

from labkit import zoo
from labkit.forward import predict_batched
from labkit.targets import logits_model, num_classes, softmax
from labkit.validate import (
    as_images, as_labels, as_table, check_batch_size, check_int, check_model, check_names,
    check_number, check_positive_int, check_predictor, check_seed,
)

__all__ = [
    "model_scores", "predict_classes",
    "Surrogate", "surrogate_tree", "surrogate_linear", "fidelity",
    "agreement", "distill_cnn",
]


# --- predictions of any model ------------------------------------------------------


def _inputs(model, X, x_name: str = "X", model_name: str = "model"):
    return check_predictor(model, X, name=model_name, x_name=x_name)


def model_scores(model, X, *, batch_size: int = 256) -> np.ndarray:
    """What any model says about the rows of X: (N, K) scores, or (N,) classes.

    A keras model gives its (N, K) logits, computed in batches; a
    scikit-learn estimator its (N,) predicted classes; a function whatever
    it returns for X (checked: finite, one row or class per input).
    """
    model, X = _inputs(model, X)
    return _scores(model, X, batch_size)


def _scores(model, X: np.ndarray, batch_size: int) -> np.ndarray:
    if isinstance(model, keras.Model):
        return predict_batched(logits_model(model), X, batch_size=check_batch_size(batch_size, len(X)))[0]
    if hasattr(model, "predict") and hasattr(model, "fit"):  # a scikit-learn estimator: classes
        scores = np.asarray(model.predict(X))
    else:
        scores = np.asarray(model(X))
    if scores.dtype.kind not in "biuf" or scores.ndim not in (1, 2) or len(scores) != len(X):
        raise ValueError(f"the model returned {scores.dtype} of shape {scores.shape} for {len(X)} inputs; "
                         f"expected (N, K) scores or (N,) classes")
    if not np.isfinite(scores).all():
        raise ValueError("the model returned NaN or inf scores; check the model and its inputs")
    return scores


def predict_classes(model, X, *, batch_size: int = 256) -> np.ndarray:
    """The model's predicted class for every row: (N,) int64.

    Parameters
    ----------
    model : keras.Model, scikit-learn estimator or callable
        A keras model is run in batches on its logits; a callable may return
        (N, K) scores or (N,) classes.
    X : array-like
        (N, D) features (or (N, H, W, C) images for an image model), checked
        like every labkit input (finite; floats, not 0-255 pixels).
    batch_size : int

    Returns
    -------
    np.ndarray
        (N,) int64 class indices.

    Examples
    --------
    >>> predict_classes(zoo.load("loan"), loan.X)[:5]  # doctest: +SKIP
    array([1, 0, 0, 1, 1])
    """
    model, X = _inputs(model, X)
    return _classes(model, X, check_batch_size(batch_size, len(X)))


def _classes(model, X: np.ndarray, batch_size: int) -> np.ndarray:
    """predict_classes on already checked inputs."""
    scores = _scores(model, X, batch_size)
    if scores.ndim == 2:
        return np.argmax(scores, axis=1).astype(np.int64)
    return as_labels(scores, len(X), name="the model's predicted classes")


# --- the global surrogate ------------------------------------------------------------


@dataclass(frozen=True)
class Surrogate:
    """An interpretable model fitted to another model's predictions.

    Attributes
    ----------
    estimator : fitted scikit-learn classifier
        A ``DecisionTreeClassifier`` (:func:`surrogate_tree`, also as
        ``.tree``) or a ``LogisticRegression`` (:func:`surrogate_linear`).
    fidelity : float
        Share of held-out rows on which the surrogate predicts what the model predicts.
    accuracy : float or None
        The surrogate's accuracy against the true labels on the held-out rows (None without labels).
    model_accuracy : float or None
        The model's own held-out accuracy, for comparison.
    feature_names, class_names : tuple of str
    n_train, n_test : int
        Rows used to fit the surrogate and to measure it.
    """

    estimator: object
    fidelity: float
    accuracy: float | None
    model_accuracy: float | None
    feature_names: tuple
    class_names: tuple
    n_train: int
    n_test: int

    @property
    def tree(self) -> DecisionTreeClassifier:
        """The decision tree of a :func:`surrogate_tree`."""
        if not isinstance(self.estimator, DecisionTreeClassifier):
            raise AttributeError("this surrogate is not a tree; its weights are in .estimator.coef_")
        return self.estimator

    def describe(self) -> str:
        """The tree as indented rules, or the linear weights, largest first, as text."""
        if isinstance(self.estimator, DecisionTreeClassifier):
            return export_text(self.estimator, feature_names=list(self.feature_names),
                               class_names=list(self.class_names))
        weights = self.estimator.coef_[0]
        order = np.argsort(-np.abs(weights))
        lines = [f"{self.feature_names[i]:>32s} {weights[i]:+.2f}" for i in order]
        return "\n".join([f"{'intercept':>32s} {self.estimator.intercept_[0]:+.2f}"] + lines)


def _labels(y, n: int, name: str) -> np.ndarray:
    return as_labels(y, n, name=name)


def _split(X, y, X_test, y_test, test_size: float, seed: int):
    """(X_train, y_train, X_held, y_held): the given X_test, or a seeded split of X."""
    if X_test is not None:
        X_held = as_table(X_test, name="X_test", columns=X.shape[1])
        return X, y, X_held, None if y_test is None else _labels(y_test, len(X_held), "y_test")
    if y_test is not None:
        raise ValueError("y_test was given without X_test; pass the held-out rows as X_test too")
    if len(X) < 4:
        raise ValueError(f"X has {len(X)} rows; pass at least 4 (or an X_test) to hold some out for the fidelity")
    if y is None:
        X_train, X_held = train_test_split(X, test_size=test_size, random_state=seed)
        return X_train, None, X_held, None
    X_train, X_held, y_train, y_held = train_test_split(X, y, test_size=test_size, random_state=seed)
    return X_train, y_train, X_held, y_held


def _fit_surrogate(estimator, model, X, y, *, feature_names, class_names, X_test, y_test, test_size, seed,
                   batch_size) -> Surrogate:
    """Fit ``estimator`` to the model's predictions on the training rows, measure it on the held-out rows."""
    model, X = _inputs(model, X)
    if X.ndim != 2:
        raise ValueError(f"X must have shape (N, D), a table (surrogates read features), got shape {X.shape}")
    y = None if y is None else _labels(y, len(X), "y")
    test_size = check_number(test_size, "test_size", low=0, high=1, low_open=True, high_open=True,
                             what="a share between 0 and 1, e.g. 0.25")
    batch_size = check_batch_size(batch_size)
    feature_names = check_names(feature_names, X.shape[1])
    if isinstance(class_names, (str, bytes)):
        check_names(class_names, 0, name="class_names")  # one string: refused before the fit
    X_train, y_train, X_held, y_held = _split(X, y, X_test, y_test, test_size, check_seed(seed))
    teacher_train = _classes(model, X_train, batch_size)  # the model's decisions, not y
    teacher_held = _classes(model, X_held, batch_size)
    if len(np.unique(teacher_train)) < 2:
        raise ValueError(f"the model predicts only class {teacher_train[0]} on X; a surrogate needs both decisions")
    predicted = estimator.fit(X_train, teacher_train).predict(X_held)
    n_classes = int(max(teacher_train.max(), teacher_held.max(), 0 if y is None else y.max())) + 1
    return Surrogate(
        estimator, float(np.mean(predicted == teacher_held)),
        None if y_held is None else float(np.mean(predicted == y_held)),
        None if y_held is None else float(np.mean(teacher_held == y_held)),
        feature_names,
        check_names(class_names, n_classes, prefix="class ", name="class_names"),
        len(X_train), len(X_held),
    )


def surrogate_tree(
    model,
    X,
    y=None,
    *,
    max_depth: int = 3,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    X_test=None,
    y_test=None,
    test_size: float = 0.25,
    seed: int = 0,
    batch_size: int = 1024,
) -> Surrogate:
    """Fit a shallow decision tree to the model's predictions (a global surrogate).

    The tree learns ``predict_classes(model, X)``, not ``y``: it explains the
    model, mistakes and biases included. Its fidelity (agreement with the
    model on held-out rows) says how far to trust that explanation. Trees
    split on one feature at a time, so a model whose decision is a weighted
    sum of several features needs a deep tree for a high fidelity; compare
    :func:`surrogate_linear`.

    Parameters
    ----------
    model : keras.Model, scikit-learn estimator or callable
    X : array-like
        (N, D) features.
    y : array-like, optional
        (N,) true labels, only to report accuracies.
    max_depth : int
        Depth of the tree: 2-4 stays readable.
    feature_names, class_names : sequence of str, optional
    X_test, y_test : array-like, optional
        Held-out rows; without them a seeded ``test_size`` share of X is held out.
    test_size : float
    seed : int
        Seeds the split and the tree.
    batch_size : int

    Returns
    -------
    Surrogate
        The tree (``.tree``), its held-out fidelity and accuracies; draw it with ``plot.tree``.

    Examples
    --------
    >>> loan = datasets.loan_table("test", 4000)  # doctest: +SKIP
    >>> s = surrogate_tree(zoo.load("loan"), loan.X, loan.y, feature_names=loan.feature_names)  # doctest: +SKIP
    >>> s.fidelity, s.tree.get_depth()  # doctest: +SKIP
    (0.92, 3)
    """
    tree = DecisionTreeClassifier(max_depth=check_positive_int(max_depth, "max_depth", high=1000),
                                  random_state=check_seed(seed))
    return _fit_surrogate(tree, model, X, y, feature_names=feature_names, class_names=class_names, X_test=X_test,
                          y_test=y_test, test_size=test_size, seed=seed, batch_size=batch_size)


def surrogate_linear(
    model,
    X,
    y=None,
    *,
    C: float = 0.1,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    X_test=None,
    y_test=None,
    test_size: float = 0.25,
    seed: int = 0,
    batch_size: int = 1024,
) -> Surrogate:
    """Fit a logistic regression to the model's predictions (a linear global surrogate).

    One weight per feature, in log-odds per unit of the feature: the other
    intrinsically interpretable model of the lecture. Same arguments and
    result as :func:`surrogate_tree`; ``C`` is the inverse L2 penalty.

    Examples
    --------
    >>> s = surrogate_linear(model, loan.X, loan.y, feature_names=loan.feature_names)  # doctest: +SKIP
    >>> print(s.describe())  # doctest: +SKIP
    """
    C = check_number(C, "C", low=0, low_open=True, what="a positive number (the inverse L2 penalty)")
    linear = LogisticRegression(C=C, max_iter=5000)
    return _fit_surrogate(linear, model, X, y, feature_names=feature_names, class_names=class_names, X_test=X_test,
                          y_test=y_test, test_size=test_size, seed=seed, batch_size=batch_size)


def fidelity(model_or_predictions, surrogate, X, *, batch_size: int = 1024) -> float:
    """Share of rows on which the surrogate predicts what the model predicts.

    Parameters
    ----------
    model_or_predictions : model or array-like
        A model (see :func:`predict_classes`) or its (N,) predicted classes.
    surrogate : Surrogate or a fitted scikit-learn classifier
    X : array-like
        (N, D) rows to compare on (held-out rows, for an honest number).

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> fidelity(model, s, loan.X)  # doctest: +SKIP
    0.79
    """
    estimator = surrogate.estimator if isinstance(surrogate, Surrogate) else surrogate
    if not hasattr(estimator, "predict"):
        raise TypeError(f"surrogate must be a Surrogate (from surrogate_tree or surrogate_linear) or a fitted "
                        f"scikit-learn classifier, got {type(surrogate).__name__}")
    X = as_table(X)
    n_features = getattr(estimator, "n_features_in_", X.shape[1])
    if X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} columns but the surrogate was fitted on {n_features}")
    if isinstance(model_or_predictions, (np.ndarray, list, tuple)):
        predictions = _labels(model_or_predictions, len(X), "model_or_predictions")
    else:
        model, X = check_predictor(model_or_predictions, X, name="model_or_predictions")
        predictions = _classes(model, X, check_batch_size(batch_size, len(X)))
    return float(np.mean(estimator.predict(X) == predictions))

# --- knowledge distillation of an image model ----------------------------------------


def agreement(teacher, student, images, *, batch_size: int = 256) -> float:
    """Share of images on which two models predict the same class."""
    teacher, X = _inputs(teacher, images, "images", "teacher")
    student, X = _inputs(student, X, "images", "student")
    batch_size = check_batch_size(batch_size, len(X))
    return float(np.mean(_classes(teacher, X, batch_size) == _classes(student, X, batch_size)))


def distill_cnn(
    teacher,
    images,
    *,
    labels=None,
    temperature: float = 4.0,
    widths: Sequence[int] = (8, 16, 16),
    epochs: int = 20,
    learning_rate: float = 1e-2,
    seed: int = 0,
    batch_size: int = 32,
) -> keras.Model:
    """Train a small student CNN on a teacher's softened predictions (Hinton et al. 2015).

    The student minimises T^2 * cross-entropy(softmax(z_teacher / T),
    softmax(z_student / T)): at a temperature T > 1 the teacher's soft
    targets also say which wrong classes look alike ("dark knowledge").
    With ``labels`` the same student is trained on hard labels instead, the
    baseline without a teacher. Like the zoo models, the student trains with
    batch normalisation, folded into its convolutions afterwards.

    Parameters
    ----------
    teacher : keras.Model
        Ends in logits, e.g. ``zoo.load("shapes")``.
    images : array-like
        (N, H, W, C) float32 training images.
    labels : array-like, optional
        (N,) class indices: train on these instead of the teacher (baseline).
    temperature : float
    widths : sequence of int
        Channels of the student's conv layers (``zoo.build_cnn``).
    epochs, learning_rate, seed, batch_size : training settings.

    Returns
    -------
    keras.Model
        The student, ending in logits.

    Examples
    --------
    >>> teacher, train = zoo.load("digits"), datasets.digits("train")[:500]  # doctest: +SKIP
    >>> student = distill_cnn(teacher, train.images)  # 3.7k weights, the teacher has 14k  # doctest: +SKIP
    >>> agreement(teacher, student, datasets.digits("test").images)  # doctest: +SKIP
    0.98
    """
    teacher = check_model(teacher, name="teacher")
    images, _ = as_images(images, model=teacher)
    temperature = check_number(temperature, "temperature", low=0, low_open=True, what="a positive number")
    learning_rate = check_number(learning_rate, "learning_rate", low=0, low_open=True, what="a positive number")
    classes = num_classes(teacher)
    labels = None if labels is None else as_labels(labels, len(images), num_classes=classes, name="labels")
    if isinstance(widths, (str, bytes)) or not isinstance(widths, (tuple, list)) or not widths:
        raise TypeError(f"widths must be a non-empty tuple of positive ints, e.g. (8, 16, 16), got {widths!r}")
    widths = tuple(check_positive_int(w, "widths") for w in widths)
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_batch_size(batch_size, len(images))
    keras.utils.set_random_seed(check_int(seed, "seed", low=0))
    student = zoo.build_cnn(images.shape[1:], classes, widths=widths, batchnorm=True, name="student")
    if labels is None:
        targets = softmax(_scores(teacher, images, 256) / temperature)  # (N, K) soft targets
    else:
        targets = np.eye(classes, dtype=np.float32)[labels]
        temperature = 1.0
    t = float(temperature)
    loss = lambda y, z: t * t * keras.losses.categorical_crossentropy(y, z / t, from_logits=True)  # noqa: E731
    student.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    student.fit(images, targets.astype(np.float32), batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0)
    return zoo.fold_batchnorm(student, widths=widths, name="student")  # the plain CNN, as in the zoo
