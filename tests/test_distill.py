"""Tests for labkit.distill: predictions of any model, surrogates and fidelity, knowledge distillation.

Hand-checkable models are plain functions of the columns (a threshold on
one feature, a linear score), so every number has a known answer. The
fairness tests and local explanations are in test_fairness.py.
"""

import keras
import numpy as np
import pytest
from sklearn.tree import DecisionTreeClassifier

from labkit import distill, zoo
from tabular_models import RNG, THRESHOLD, X, linear_keras_model, threshold_model


# --- predictions and surrogates ------------------------------------------------------


def test_predict_classes_from_keras_functions_and_estimators():
    model = linear_keras_model(np.array([1.0, -2.0, 0.5, 0.0]), 0.1)
    expected = np.argmax(model.predict(X[:50], verbose=0), axis=1)
    np.testing.assert_array_equal(distill.predict_classes(model, X[:50], batch_size=7), expected)
    np.testing.assert_array_equal(distill.predict_classes(threshold_model, X[:50]), threshold_model(X[:50]))
    scores = lambda X: np.stack([np.zeros(len(X)), X[:, 0]], 1)  # noqa: E731  (N, 2) scores
    np.testing.assert_array_equal(distill.predict_classes(scores, X[:50]), (X[:50, 0] > 0).astype(int))
    tree = DecisionTreeClassifier(max_depth=1).fit(X, threshold_model(X))
    np.testing.assert_array_equal(distill.predict_classes(tree, X[:50]), tree.predict(X[:50]))


def test_surrogate_learns_the_model_not_the_labels():
    noise_labels = RNG.integers(0, 2, len(X))  # labels the model never followed
    s = distill.surrogate_tree(threshold_model, X, noise_labels, max_depth=1, feature_names=("a", "b", "c", "d"),
                               class_names=("no", "yes"))
    assert s.fidelity > 0.99  # one split on x2 reproduces the model (up to rows between two training rows)
    assert s.tree.tree_.feature[0] == 2 and s.tree.tree_.threshold[0] == pytest.approx(THRESHOLD, abs=0.02)
    assert abs(s.accuracy - 0.5) < 0.06 and abs(s.model_accuracy - 0.5) < 0.06  # both ignore the noise labels
    assert (s.n_train, s.n_test) == (1500, 500)
    assert "c <= 0.3" in s.describe() and s.class_names == ("no", "yes")


def test_fidelity_is_the_agreement_on_the_given_rows():
    s = distill.surrogate_tree(threshold_model, X, max_depth=1)
    shifted = lambda X: (np.asarray(X)[:, 2] > 0.8).astype(int)  # noqa: E731  a different model
    expected = np.mean(s.tree.predict(X) == shifted(X))
    assert distill.fidelity(shifted, s, X) == pytest.approx(expected)
    assert distill.fidelity(shifted(X), s, X) == pytest.approx(expected)  # predictions instead of a model
    assert distill.fidelity(shifted, s.tree, X) == pytest.approx(expected)
    assert s.accuracy is None and s.model_accuracy is None and s.class_names == ("class 0", "class 1")


def test_deeper_trees_are_more_faithful_and_a_linear_surrogate_fits_a_linear_model():
    w = np.array([1.0, 1.0, -1.0, 0.5])
    model = linear_keras_model(w, 0.0)  # a diagonal boundary: hard for axis-aligned splits
    fidelities = [distill.surrogate_tree(model, X, max_depth=d, seed=1).fidelity for d in (1, 3, 6)]
    assert fidelities[0] < fidelities[1] < fidelities[2] < 1.0
    linear = distill.surrogate_linear(model, X, C=10.0)
    assert linear.fidelity > 0.97
    coef = linear.estimator.coef_[0]
    assert coef @ w / np.linalg.norm(coef) / np.linalg.norm(w) > 0.99
    with pytest.raises(AttributeError, match="not a tree"):
        linear.tree


def test_surrogate_with_given_test_rows():
    s = distill.surrogate_tree(threshold_model, X[:1000], max_depth=2, X_test=X[1000:],
                               y_test=threshold_model(X[1000:]))
    assert (s.n_train, s.n_test) == (1000, 1000) and s.model_accuracy == 1.0
    assert s.fidelity == pytest.approx(s.accuracy)


# --- distillation of an image model ---------------------------------------------------


def test_student_learns_the_teacher_on_tiny_data():
    keras.utils.set_random_seed(0)
    x = inputs = keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling2D()(x)
    teacher = keras.Model(inputs, keras.layers.Dense(2)(x))  # decides on the mean colour
    kernel = np.array([[8.0, -8.0], [-8.0, 8.0], [0.0, 0.0]], "float32")  # red -> class 0, green -> class 1
    teacher.layers[-1].set_weights([kernel, np.zeros(2, "float32")])
    rng = np.random.default_rng(1)
    images = np.clip(rng.uniform(0, 1, (256, 1, 1, 3)) + rng.normal(0, 0.05, (256, 16, 16, 3)), 0, 1).astype("float32")
    student = distill.distill_cnn(teacher, images[:192], widths=(4,), epochs=20, learning_rate=1e-2, batch_size=32)
    assert student.output_shape == (None, 2) and student.count_params() < 200
    assert distill.agreement(teacher, student, images[192:]) > 0.85  # held-out images
    hard = distill.distill_cnn(teacher, images[:32], labels=np.zeros(32, int), widths=(4,), epochs=2)
    assert hard.output_shape == (None, 2)


# --- bad input --------------------------------------------------------------------------


def test_bad_input_gets_clear_errors():
    with pytest.raises(ValueError, match=r"X must have shape \(N, D\)"):
        distill.surrogate_tree(threshold_model, X[:, 0])
    with pytest.raises(ValueError, match="X contains NaN"):
        distill.surrogate_tree(threshold_model, np.full((10, 4), np.nan))
    with pytest.raises(ValueError, match="feature_names has 2 entries but there are 4"):
        distill.surrogate_tree(threshold_model, X, feature_names=("a", "b"))
    with pytest.raises(ValueError, match="predicts only class 0"):
        distill.surrogate_tree(lambda X: np.zeros(len(X), int), X)
    with pytest.raises(ValueError, match="y must have shape"):
        distill.surrogate_tree(threshold_model, X, X[:, 0][:10])
    with pytest.raises(ValueError, match="max_depth must be a positive int"):
        distill.surrogate_tree(threshold_model, X, max_depth=0)
    with pytest.raises(ValueError, match="temperature must be a positive number"):
        distill.distill_cnn(zoo.build_cnn((16, 16, 3), 2, widths=(2,)), np.zeros((4, 16, 16, 3), "float32"),
                            temperature=0)


def test_images_and_training_settings_are_checked_before_use():
    teacher = zoo.build_cnn((16, 16, 3), 3, widths=(2,))
    images = np.random.default_rng(1).random((4, 16, 16, 3), dtype=np.float32)
    nan = images.copy()
    nan[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="X has integer dtype uint8 and looks like uint8 0-255 pixels"):
        distill.predict_classes(teacher, (images * 255).astype("uint8"))
    with pytest.raises(ValueError, match="images contains NaN"):
        distill.agreement(teacher, teacher, nan)  # was 1.0: NaN images agreed with themselves
    with pytest.raises(TypeError, match="student is None"):
        distill.agreement(teacher, None, images)
    with pytest.raises(ValueError, match=r"labels -1 is out of range; valid class indices are 0..2"):
        distill.distill_cnn(teacher, images, labels=[-1, 0, 1, 2])  # was trained as the last class
    for setting, value in (("learning_rate", -0.01), ("learning_rate", float("nan")), ("temperature", float("inf"))):
        with pytest.raises(ValueError, match=f"{setting} must be a positive number"):
            distill.distill_cnn(teacher, images, **{setting: value})
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        distill.distill_cnn(teacher, images, batch_size=0)
    with pytest.raises(ValueError, match="the model returned NaN or inf scores"):
        distill.predict_classes(lambda X: np.full((len(X), 2), np.nan), X)
    with pytest.raises(TypeError, match="surrogate must be a Surrogate"):
        distill.fidelity(threshold_model, None, X)
    with pytest.raises(TypeError, match="feature_names is one string"):
        distill.surrogate_tree(threshold_model, X, feature_names="abcd")
