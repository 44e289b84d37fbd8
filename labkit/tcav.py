"""Testing with Concept Activation Vectors (TCAV): which human concepts does a class use?

Kim et al., "Interpretability Beyond Feature Attribution: Quantitative Testing
with Concept Activation Vectors (TCAV)", ICML 2018.

The lecture's steps, and where each one lives here:

a. A concept is a set of images showing it (red things, stripes, ...), and
   random images that do not: :func:`labkit.datasets.concept_images`.
b. Images of the class we ask about (fire engines): ``class_images``.
c. Forward both sets of step a to a layer l and read its activations
   (:func:`labkit.layers.activations`), flattened to vectors f_l(x).
d. A linear classifier separates concept from random activations; the unit
   normal of its decision boundary, pointing to the concept, is the
   *concept activation vector* v_C^l: :func:`fit_cav`.
e. For every class image x, the gradient of the class's score h_k with
   respect to the layer-l activations, dotted with v_C^l, is the directional
   derivative S_{C,k,l}(x) = grad h_k(f_l(x)) . v_C^l: does the class score
   grow when the activations move towards the concept? The TCAV score is the
   share of class images with S > 0: :func:`tcav_score`. (h_k is the class
   logit minus the other logits, see :func:`directional_derivatives`.)

A single CAV can be an accident of the image sets it was trained on, so
:func:`tcav` repeats steps c-e against many random sets, does the same for
random-versus-random CAVs, and keeps a concept only when a two-sided t-test
says its scores differ from the random ones (Bonferroni-corrected for the
number of layers x concepts tested), as in section 3.2 of the paper.

Two things to know when reading the numbers:

- TCAV measures the direction *concept minus random*. Whatever else the
  concept images lack or have more of than the random ones is part of it
  (the toy world's sky-only "cloudy" images contain no red objects at all;
  its random images sometimes do).
- Where only linear maps follow the layer (here conv4 -> global average
  pooling -> logits, and gap itself), the gradient is the same for every
  image, so each CAV scores exactly 0 or 1.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from scipy import stats
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from labkit import datasets
from labkit.forward import cached
from labkit.layers import LayerRef, activations, feature_model, resolve_layer
from labkit.targets import explained_classes, num_classes
from labkit.validate import (
    INT32_MAX, as_images, check_batch_size, check_choice, check_class, check_int, check_memory, check_model,
    check_number, check_seed,
)

__all__ = ["CAV", "TCAVRow", "TCAVResult", "fit_cav", "directional_derivatives", "tcav_score", "tcav"]

CLASSIFIERS = ("logistic", "sgd")
OBJECTIVES = ("margin", "logit")
MIN_PER_SET = 2  # one image of each set trains the CAV, one measures it
TEST_FRACTION = 0.33  # held-out share for the CAV accuracy, as in the paper's code


@dataclass(frozen=True, eq=False)
class CAV:
    """A concept activation vector (step d).

    Attributes
    ----------
    vector : np.ndarray
        (D,) float32 unit vector in the layer's flattened activation space,
        pointing from the random images towards the concept.
    layer : str
        Name of the layer whose activations it lives in.
    accuracy : float
        Accuracy of the concept-vs-random classifier on held-out images
        (0.5 = chance: the layer does not separate the concept, the CAV is noise).
    concept : str
        Name of the concept.
    random_set : str
        Name of the random set it was trained against.
    classifier : str
        "logistic" or "sgd".
    """

    vector: np.ndarray
    layer: str
    accuracy: float
    concept: str
    random_set: str
    classifier: str = "logistic"


@dataclass(frozen=True)
class TCAVRow:
    """TCAV of one concept at one layer, against the random baseline.

    ``scores`` are the TCAV scores of the concept's CAVs (one per random
    set), ``random_scores`` those of random-vs-random CAVs; ``mean``/``std``
    and ``random_mean``/``random_std`` summarise them. ``p_value`` is the
    two-sided t-test of the two, ``p_corrected`` it times the number of tests
    (Bonferroni, capped at 1), and ``significant`` is ``p_corrected < alpha``.
    ``cav_accuracy`` is the mean held-out accuracy of the concept's CAVs.
    """

    layer: str
    concept: str
    mean: float
    std: float
    random_mean: float
    random_std: float
    p_value: float
    p_corrected: float
    significant: bool
    cav_accuracy: float
    scores: tuple
    random_scores: tuple
    cav_accuracies: tuple
    random_cav_accuracies: tuple


@dataclass(frozen=True)
class TCAVResult:
    """All rows of a :func:`tcav` run: one per (layer, concept), layers first."""

    rows: tuple
    target: int
    alpha: float
    n_tests: int

    def row(self, layer: str, concept: str) -> TCAVRow:
        """The row of one layer and concept."""
        for row in self.rows:
            if row.layer == layer and row.concept == concept:
                return row
        raise KeyError(f"no row for layer={layer!r}, concept={concept!r}")

    def to_markdown(self) -> str:
        """The result as a markdown table (scores as mean +- std over the CAVs)."""
        lines = ["| layer | concept | TCAV score | random | p | p x tests | significant | CAV accuracy |",
                 "|---|---|---|---|---|---|---|---|"]
        for r in self.rows:
            lines.append(
                f"| {r.layer} | {r.concept} | {r.mean:.2f} +- {r.std:.2f} | {r.random_mean:.2f} +- "
                f"{r.random_std:.2f} | {r.p_value:.2g} | {r.p_corrected:.2g} | "
                f"{'yes' if r.significant else 'no'} | {r.cav_accuracy:.2f} |"
            )
        return "\n".join(lines)


# --- step d: the concept activation vector --------------------------------------


def _concept_batch(images, name: str, model: keras.Model) -> np.ndarray:
    """Validate one concept or random set: (n, H, W, C) float32 with n >= MIN_PER_SET."""
    batch, _ = as_images(images, name=name, model=model)
    if len(batch) < MIN_PER_SET:
        raise ValueError(
            f"{name} has {len(batch)} image(s); a CAV needs at least {MIN_PER_SET} concept and "
            f"{MIN_PER_SET} random images, so that some are held out to measure its accuracy "
            f"(the paper uses about 50)"
        )
    return batch


def _classifier(kind: str, seed: int):
    if kind == "logistic":
        return LogisticRegression(C=1.0, max_iter=2000)
    return SGDClassifier(alpha=0.01, max_iter=1000, tol=1e-3, random_state=seed)


def _row_space(x: np.ndarray) -> np.ndarray:
    """Orthonormal basis (D, r) of the span of the rows of x (n, D).

    An L2-penalised linear classifier's weights always lie in this span
    (every gradient step is a combination of rows), and w . x and |w| are the
    same in its coordinates. So fitting on x @ basis (n, r) and mapping the
    weights back gives the same CAV as fitting on x, with r <= n features
    instead of D (e.g. 66 instead of 8192): much faster. The basis comes from
    the eigenvectors U of the small Gram matrix x x^T = U diag(s) U^T as
    x^T U / sqrt(s).
    """
    x = x.astype(np.float64)
    eigenvalues, vectors = np.linalg.eigh(x @ x.T)  # (n,), (n, n)
    keep = eigenvalues > max(eigenvalues.max(), 0.0) * 1e-10
    if not keep.any():
        return np.zeros((x.shape[1], 0))
    return x.T @ vectors[:, keep] / np.sqrt(eigenvalues[keep])  # (D, r)


def _fit_cav(concept_acts, random_acts, *, layer, concept, random_set, classifier, seed) -> CAV:
    """Step d on flattened activations (n_c, D) and (n_r, D)."""
    x = np.concatenate([concept_acts, random_acts])  # (n_c + n_r, D)
    y = np.r_[np.ones(len(concept_acts)), np.zeros(len(random_acts))]  # 1 = concept
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=TEST_FRACTION, stratify=y, random_state=seed)
    basis = _row_space(x_train)  # (D, r), r <= n_train: the solution lies in this span
    normal = np.zeros(basis.shape[0])  # stays 0 when every activation is 0 (r = 0)
    if basis.shape[1] > 0:
        fitted = _classifier(classifier, seed).fit(x_train @ basis, y_train)
        normal = basis @ fitted.coef_[0]  # (D,) points towards class 1, the concept
    length = np.linalg.norm(normal)
    if not np.isfinite(length) or length == 0:
        raise ValueError(
            f"the {classifier} classifier found no direction between {concept!r} and {random_set!r} "
            f"at layer {layer!r} (its weights are all zero): the activations are indistinguishable "
            f"(e.g. all zero after a ReLU); try another layer"
        )
    return CAV((normal / length).astype(np.float32), layer, float(fitted.score(x_test @ basis, y_test)),
               concept, random_set, classifier)


def _one_blas_thread():
    """Run the small linear algebra of the CAV fits on one BLAS thread.

    The matrices are small (a few hundred rows), so threads cannot help, and
    next to TensorFlow's own thread pool a multi-threaded BLAS oversubscribes
    the cores and spin-waits: 10x slower on a busy 2-core laptop.
    """
    return threadpool_limits(limits=1, user_api="blas")


def _flat(array: np.ndarray) -> np.ndarray:
    return array.reshape(len(array), -1)  # (N, D)


def fit_cav(model: keras.Model, layer: LayerRef, concept_images, random_images, *, classifier: str = "logistic",
            seed: int = 0, concept: str = "concept", random_set: str = "random", batch_size: int = 64) -> CAV:
    """Fit a concept activation vector at one layer (the lecture's steps c and d).

    Parameters
    ----------
    model : keras.Model
    layer : str, int or keras Layer
        The layer l whose activations f_l(x) the CAV lives in.
    concept_images, random_images : array-like
        (n_c, H, W, C) and (n_r, H, W, C) float32, at least 2 each.
    classifier : {"logistic", "sgd"}
        scikit-learn ``LogisticRegression`` or ``SGDClassifier`` (hinge loss,
        alpha=0.01, as in the paper's code).
    seed : int
        Seeds the held-out split (a third of the images) and the SGD classifier.
    concept, random_set : str
        Names stored in the CAV.
    batch_size : int
        Images per forward pass.

    Returns
    -------
    CAV
        Unit vector (D,) with D = the layer's flattened activation size, and
        the classifier's held-out accuracy.

    Examples
    --------
    >>> red = datasets.concept_images("red", seed=0)  # doctest: +SKIP
    >>> cav = fit_cav(model, "conv4", red, datasets.concept_images("random", seed=1))  # doctest: +SKIP
    >>> cav.vector.shape, cav.accuracy  # doctest: +SKIP
    ((4096,), 1.0)
    """
    model = check_model(model)
    check_choice(classifier, "classifier", CLASSIFIERS)
    seed = check_seed(seed) or 0
    name = resolve_layer(model, layer).name
    concept_batch = _concept_batch(concept_images, "concept_images", model)
    random_batch = _concept_batch(random_images, "random_images", model)
    batch_size = check_batch_size(batch_size, len(concept_batch) + len(random_batch))
    acts = _flat(activations(model, np.concatenate([concept_batch, random_batch]), name, batch_size=batch_size))
    n_c = len(concept_batch)
    with _one_blas_thread():
        return _fit_cav(acts[:n_c], acts[n_c:], layer=name, concept=concept, random_set=random_set,
                        classifier=classifier, seed=seed)


# --- step e: directional derivatives and the TCAV score -------------------------


def _class_objective(logits, target, objective: str):
    """What step e differentiates, per image: (N,).

    "margin" (default): h_k - sum_{j != k} q_j h_j with q = softmax of the
    other classes' logits, held constant. Its gradient is that of log p_k
    divided by (1 - p_k): the same sign as the class log-probability the
    authors' code differentiates (via the cross-entropy loss), without
    underflowing to 0 for confident images. For two classes it is the logit
    difference h_k - h_other. "logit": the raw logit h_k of the paper's
    formula; with softmax, adding the same number to every logit changes
    nothing, so h_k alone also carries directions the prediction ignores
    (e.g. left over from the random initialisation).
    """
    chosen = tf.gather(logits, target, batch_dims=1)  # (N,)
    if objective == "logit" or logits.shape[-1] == 1:
        return chosen
    is_target = tf.one_hot(target, tf.shape(logits)[-1], on_value=True, off_value=False)  # (N, K)
    others = tf.stop_gradient(tf.nn.softmax(tf.where(is_target, -np.inf, logits)))  # (N, K), 0 at k
    return chosen - tf.reduce_sum(others * logits, axis=-1)


def _layer_gradients(model, batch, layer_names, targets, batch_size, objective) -> list[np.ndarray]:
    """d objective / d f_l(x) of each image at each layer, flattened: [(N, D_l) ...]; ``targets`` (N,) ints."""
    features = feature_model(model, list(layer_names))

    def make(features):  # a weak proxy: the compiled function must not keep the model alive
        image_spec = tf.TensorSpec((None, *features.inputs[0].shape[1:]), tf.float32)

        @tf.function(input_signature=[image_spec, tf.TensorSpec((None,), tf.int32)])
        def gradients_of(x, target):
            with tf.GradientTape() as tape:
                tape.watch(x)  # records every op, also layers without weights right after the input
                *maps, logits = features(x, training=False)  # [(N, h, w, K) ...], (N, classes)
                value = _class_objective(logits, target, objective)  # (N,)
            return [tf.reshape(g, (tf.shape(g)[0], -1)) for g in tape.gradient(value, maps)]  # [(N, D_l) ...]

        return gradients_of

    function = cached(features, ("tcav_gradients", objective), make)
    chunks = [[g.numpy() for g in function(tf.constant(batch[i : i + batch_size]),
                                           tf.constant(targets[i : i + batch_size], tf.int32))]
              for i in range(0, len(batch), batch_size)]  # one call per chunk, each on the host when done
    return [np.concatenate(parts, axis=0) for parts in zip(*chunks)]


def directional_derivatives(
    model: keras.Model, images, target, cav: CAV, *, objective: str = "margin", batch_size: int = 64
) -> np.ndarray:
    """S_{C,k,l}(x) = grad h_k(f_l(x)) . v_C^l for every image (the lecture's step e).

    Step e: "compute the gradients of the class with respect to the hidden
    feature activations for images from the class, and their similarity with
    v_C^l". The paper makes the similarity precise as this dot product, a
    directional derivative: how fast the class score h_k changes when the
    activations f_l(x) move along the CAV. The gradients of all images come
    from one batched GradientTape pass inside a ``tf.function`` (the score of
    image i depends only on image i, so the gradient of the batch's sum is
    every image's own gradient); no Python loop over images.

    Parameters
    ----------
    model : keras.Model
    images : array-like
        (N, H, W, C) float32 batch or one (H, W, C) image.
    target : int, (N,) ints or None
        The class k whose logit h_k is differentiated; None = predicted class.
    cav : CAV
        From :func:`fit_cav` on the same model.
    objective : {"margin", "logit"}
        What h_k is. "margin" (default): the class logit minus the
        softmax-weighted other logits, whose gradient has the sign of
        d log p_k, as in the authors' code (for two classes: h_k - h_other).
        "logit": the raw class logit, literally as in the paper's formula;
        it also moves with directions the softmax ignores (in the zoo's
        two-class models W_1 + W_0, which no training step changes, keeps
        the random initialisation's preferences).
    batch_size : int

    Returns
    -------
    np.ndarray
        (N,) float32, or a float for one image. Positive: moving the layer's
        activations towards the concept raises the class logit.

    Examples
    --------
    >>> directional_derivatives(model, fire_engines, 1, red_cav)[:3]  # doctest: +SKIP
    array([0.41, 0.37, 0.52], dtype=float32)
    """
    model = check_model(model)
    if not isinstance(cav, CAV):
        raise TypeError(f"cav must be a CAV from fit_cav(model, layer, concept_images, random_images), got "
                        f"{type(cav).__name__}")
    batch, single = as_images(images, model=model)
    name = resolve_layer(model, cav.layer, name="cav.layer").name
    check_choice(objective, "objective", OBJECTIVES)
    batch_size = check_batch_size(batch_size, len(batch))
    targets = explained_classes(model, batch, target, batch_size=batch_size)  # (N,), None -> predicted
    (gradients,) = _layer_gradients(model, batch, [name], targets, batch_size, objective)  # (N, D)
    if gradients.shape[1] != cav.vector.shape[0]:
        raise ValueError(
            f"cav has {cav.vector.shape[0]} dimensions but layer {name!r} of this model has "
            f"{gradients.shape[1]} activations: fit the CAV on the same model and layer"
        )
    derivatives = gradients @ cav.vector  # (N,)
    return derivatives[0] if single else derivatives


def tcav_score(
    model: keras.Model, images, target, cav: CAV, *, objective: str = "margin", batch_size: int = 64
) -> float:
    """Share of class images whose class logit grows towards the concept (step e).

    TCAV_{C,k,l} = |{x in X_k : S_{C,k,l}(x) > 0}| / |X_k|, with the
    directional derivatives S of :func:`directional_derivatives`, all from
    one batched gradient computation (Kim et al. 2018, eq. 2).

    Parameters
    ----------
    model : keras.Model
    images : array-like
        (N, H, W, C) images of class ``target`` (step b).
    target : int, (N,) ints or None
        The class k; None = each image's predicted class.
    cav : CAV
    objective : {"margin", "logit"}
        See :func:`directional_derivatives`.
    batch_size : int

    Returns
    -------
    float
        In [0, 1]; 0.5 is what an unrelated direction gives on average.

    Examples
    --------
    >>> tcav_score(model, fire_engines, 1, red_cav)  # doctest: +SKIP
    0.98
    """
    derivatives = directional_derivatives(model, images, target, cav, objective=objective, batch_size=batch_size)
    derivatives = np.atleast_1d(derivatives)
    return float(np.mean(derivatives > 0))


# --- the significance test ------------------------------------------------------


def _seeds(seed: int, offset: int, n_random: int) -> list:
    """Data seeds of the k-th sets, k = 1..n_random: 1000 * seed + offset + k."""
    return [1000 * seed + offset + k for k in range(1, n_random + 1)]


def _concept_samples(concept, n_random: int, n: int, size: int, seed: int) -> dict:
    """{name: n_random image sets}: fresh sets for concept names, the given set repeated for images."""
    if concept is None:
        raise TypeError("concept must be a concept name, a list of names, a dict {name: images} or images; got None")
    if isinstance(concept, str):
        concept = (concept,)
    if isinstance(concept, (list, tuple)) and concept and all(isinstance(c, str) for c in concept):
        return {name: [datasets.concept_images(name, n, size=size, seed=s) for s in _seeds(seed, 250, n_random)]
                for name in dict.fromkeys(concept)}
    sets = dict(concept) if isinstance(concept, dict) else {"concept": concept}
    if not sets:
        raise ValueError("concept is empty; pass a concept name, a list of names, or images")
    return {name: [images] * n_random for name, images in sets.items()}


def _random_sets(n_random: int, n: int, size: int, seed: int) -> list:
    """Counterparts R_1..R_n (seeds 1000 * seed + k), then stand-in concepts R'_1..R'_n (+ 500 + k)."""
    return [datasets.concept_images("random", n, size=size, seed=s)
            for s in _seeds(seed, 0, n_random) + _seeds(seed, 500, n_random)]


def _activation_sets(model, sets: list, names: list, batch_size: int) -> list:
    """Flattened activations of each set at each layer: [[(n_i, D_l) per set] per layer].

    One set at a time (no copy of all sets at once); a set given several times is computed once.
    """
    done: dict = {}
    for images in sets:
        if id(images) not in done:
            done[id(images)] = [_flat(a) for a in activations(model, images, list(names), batch_size=batch_size)]
    return [[done[id(images)][layer] for images in sets] for layer in range(len(names))]


def _scores(gradients: np.ndarray, cavs: list) -> np.ndarray:
    """TCAV score of each CAV from one matrix product: (n_cavs,)."""
    directions = np.stack([cav.vector for cav in cavs], axis=1)  # (D, n_cavs)
    return np.mean(gradients @ directions > 0, axis=0)


def _t_test(scores: np.ndarray, random_scores: np.ndarray) -> float:
    """Two-sided p-value of Student's t-test; equal constant samples give 1, different ones 0."""
    if np.ptp(scores) == 0 and np.ptp(random_scores) == 0:
        return 1.0 if scores[0] == random_scores[0] else 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "precision loss" when one sample is constant
        return float(stats.ttest_ind(scores, random_scores).pvalue)


def _cavs(concept_sets: list, random_sets: list, *, concept: str, **fit) -> list:
    """CAVs of concept set k against random set R_k, k = 1..n."""
    return [_fit_cav(c, r, concept=concept, random_set=f"random_{k}", **fit)
            for k, (c, r) in enumerate(zip(concept_sets, random_sets), start=1)]


def _row(layer, concept, cavs, scores, random_cavs, random_scores) -> dict:
    return dict(
        layer=layer, concept=concept, mean=float(np.mean(scores)), std=float(np.std(scores)),
        random_mean=float(np.mean(random_scores)), random_std=float(np.std(random_scores)),
        p_value=_t_test(scores, random_scores), cav_accuracy=float(np.mean([c.accuracy for c in cavs])),
        scores=tuple(float(s) for s in scores), random_scores=tuple(float(s) for s in random_scores),
        cav_accuracies=tuple(c.accuracy for c in cavs),
        random_cav_accuracies=tuple(c.accuracy for c in random_cavs),
    )


def _bonferroni(rows: list, target: int, alpha: float) -> TCAVResult:
    """Multiply each p-value by the number of tests (capped at 1) and compare with alpha."""
    m = len(rows)
    corrected = [min(1.0, row["p_value"] * m) for row in rows]
    final = (TCAVRow(**row, p_corrected=p, significant=bool(p < alpha)) for row, p in zip(rows, corrected))
    return TCAVResult(tuple(final), target, alpha, m)


def _check_tcav_options(target, n_random, n_concept, alpha, n_classes: int) -> None:
    check_class(target, n_classes)
    check_int(n_random, "n_random", low=2, high=249,
              what="between 2 and 249 (the t-test needs 2, the paper uses 10 or more)")
    check_int(n_concept, "n_concept", low=MIN_PER_SET, what=f"an int >= {MIN_PER_SET}")
    check_number(alpha, "alpha", low=0, high=1, low_open=True, high_open=True, what="a number between 0 and 1")


def _check_memory(model, names, n_sets: int, n_concept: int, n_class: int) -> None:
    """Host memory for the activations of every set and the class images' gradients, before computing them."""
    features = feature_model(model, names, logits=False)
    sizes = [int(np.prod(output.shape[1:])) for output in features.outputs]  # D_l per layer
    images = int(np.prod(model.inputs[0].shape[1:]))
    check_memory(4 * (sum(sizes) * (n_sets * n_concept + n_class) + images * n_sets * n_concept * 2),
                 f"tcav(n_random=..., n_concept={n_concept}) with {n_sets} image sets at layers {names}",
                 "use fewer random sets (n_random) or images (n_concept), or a layer with fewer activations")


def tcav(model: keras.Model, layers: LayerRef | Sequence[LayerRef], target: int, concept, class_images, *,
         n_random: int = 10, n_concept: int = 50, classifier: str = "logistic", objective: str = "margin",
         seed: int = 0, alpha: float = 0.05, batch_size: int = 64) -> TCAVResult:
    """TCAV with the paper's random-concept significance test, for layers x concepts.

    For each layer l and k = 1..n: a CAV of concept sample C_k against random
    set R_k, and a random CAV of another random set R'_k against R_k (the
    paper's baseline); the TCAV scores of both on the class images; a
    two-sided t-test of concept vs random scores, Bonferroni-corrected for
    the number of (layer, concept) pairs tested. Concept names get a fresh
    sample C_k per CAV, so that concept and random CAVs are equally
    independent; given images are reused for every CAV, as in the paper's
    code, which makes the test optimistic (the CAVs share the set's quirks).
    Activations of each image set are computed once, the class gradients
    once per layer, and all scores come from one matrix product.

    Parameters
    ----------
    model : keras.Model
    layers : str, int, Layer or a list/tuple of them
    target : int
        The class k to explain (e.g. 1 = fire_engine).
    concept : str, list of str, dict {name: images} or images
        Concept names are generated with ``datasets.concept_images(name,
        n_concept, seed=1000 * seed + 250 + k)``; images (n, H, W, C) are
        named "concept". The name "random" is a calibration check: a concept
        that is no concept must come out not significant.
    class_images : array-like
        (N, H, W, C) images of class ``target`` (step b).
    n_random : int
        CAVs per concept, and random CAVs (2 to 249); R_k is
        ``datasets.concept_images("random", n_concept, seed=1000 * seed + k)``,
        R'_k the same with seed ``1000 * seed + 500 + k``.
    n_concept : int
        Images per generated concept sample and per random set.
    classifier : {"logistic", "sgd"}
    objective : {"margin", "logit"}
        What is differentiated in step e, see :func:`directional_derivatives`.
    seed : int
        Seeds the sets and the CAVs' held-out splits: same seed, same result.
    alpha : float
        Significance level after the Bonferroni correction.
    batch_size : int

    Returns
    -------
    TCAVResult
        ``rows`` (one :class:`TCAVRow` per layer and concept), ``target``,
        ``alpha``, ``n_tests``; ``result.to_markdown()`` gives a table and
        ``labkit.plot.tcav_bars(result)`` draws it.

    Examples
    --------
    >>> data = datasets.toy_world("fire_engines", "melbourne", 400, seed=1)  # doctest: +SKIP
    >>> result = tcav(model, ("conv3", "gap"), 1, ("red", "random"), data.images[data.labels == 1])  # doctest: +SKIP
    >>> result.row("conv3", "red").significant  # doctest: +SKIP
    True
    """
    model = check_model(model)
    check_choice(classifier, "classifier", CLASSIFIERS)
    check_choice(objective, "objective", OBJECTIVES)
    seed = check_int(seed, "seed", low=0, high=(INT32_MAX - 1000) // 1000)  # data seeds are 1000 * seed + k
    batch_size = check_batch_size(batch_size)
    _check_tcav_options(target, n_random, n_concept, alpha, num_classes(model))
    names = _layer_names(model, layers)
    class_batch, _ = as_images(class_images, name="class_images", model=model)
    named = isinstance(concept, dict) or (isinstance(concept, (list, tuple))
                                          and all(isinstance(c, str) for c in concept))
    _check_memory(model, names, n_random * (2 + (len(concept) if named else 1)), n_concept, len(class_batch))
    samples = {name: [_concept_batch(images, f"concept {name!r}", model) for images in sets]
               for name, sets in _concept_samples(concept, n_random, n_concept, model.input_shape[1], seed).items()}
    targets = np.full(len(class_batch), target, np.int32)
    gradients = _layer_gradients(model, class_batch, names, targets, batch_size, objective)  # [(N, D_l) ...]
    randoms = _activation_sets(model, _random_sets(n_random, n_concept, model.input_shape[1], seed), names, batch_size)
    with _one_blas_thread():
        rows = _tcav_rows(model, names, samples, gradients, randoms, classifier, seed, batch_size)
    return _bonferroni([rows[layer, c] for layer in names for c in samples], int(target), float(alpha))


def _tcav_rows(model, names, samples, gradients, randoms, classifier, seed, batch_size) -> dict:
    """{(layer, concept): row}: random CAVs R'_k vs R_k, concept CAVs C_k vs R_k, and their scores."""
    n = len(randoms[0]) // 2
    fits = [dict(layer=layer, classifier=classifier, seed=seed) for layer in names]
    random_cavs = [_cavs(r[n:], r[:n], concept="random'", **fit) for r, fit in zip(randoms, fits)]
    random_scores = [_scores(g, cavs) for g, cavs in zip(gradients, random_cavs)]
    rows = {}
    for concept_name, sets in samples.items():
        concept_acts = _activation_sets(model, sets, names, batch_size)  # [[(n, D_l) per sample] per layer]
        for i, layer in enumerate(names):
            cavs = _cavs(concept_acts[i], randoms[i][:n], concept=concept_name, **fits[i])
            rows[layer, concept_name] = _row(layer, concept_name, cavs, _scores(gradients[i], cavs),
                                             random_cavs[i], random_scores[i])
    return rows


def _layer_names(model, layers) -> list:
    refs = tuple(layers) if isinstance(layers, (list, tuple)) else (layers,)
    if not refs:
        raise ValueError("layers is empty; pass a layer name, index or object, or a list of them")
    return list(dict.fromkeys(resolve_layer(model, ref, name="layers").name for ref in refs))
