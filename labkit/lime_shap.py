"""LIME and SHAP on labkit models: thin adapters around the ``lime`` and ``shap`` packages.

Both packages explain any classifier through a Python function that maps a
batch of images to scores; they need nothing from TensorFlow except that
function (and, for SHAP's gradient explainer, a Keras model). The adapters
here add what a lab needs: a batching predict function, seeds, one map
per image in labkit's (N, H, W) convention, and the logits of a softmax model.

- :func:`lime_map`: Ribeiro et al. 2016, "Why should I trust you?". The
  image is cut into superpixels (scikit-image SLIC or quickshift); random
  subsets are hidden, the model scores each copy, and a ridge regression
  weighted by closeness to the original explains the target's probability
  by which superpixels were visible. Every pixel gets its superpixel's weight.
  Runs ``lime.lime_image.LimeImageExplainer``.
- :func:`shap_map`: Lundberg & Lee 2017, "A unified approach to interpreting
  model predictions". ``explainer="partition"``: ``shap``'s Partition
  explainer with an image masker (Owen values over a hierarchy of pixel
  blocks, model-agnostic); ``explainer="gradient"``: ``shap.GradientExplainer``
  (expected gradients). Both explain the target's logit, and their values
  add up to ``S_c(x) - S_c(background)``.

Versions checked: lime 0.2.0.1, shap 0.51.0 with TensorFlow 2.21 / Keras 3.
shap's blurring and inpainting maskers need OpenCV (``cv2``), which the kit
does not install; a constant or image-shaped ``fill`` needs nothing extra.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable

import keras
import numpy as np

from labkit import validate
from labkit.forward import predict_batched
from labkit.targets import explained_classes, logits_model
from labkit.targets import softmax as probabilities  # the parameter `softmax` below would shadow it

__all__ = ["predict_fn", "lime_map", "shap_map"]


def predict_fn(model: keras.Model, *, batch_size: int = 256, softmax: bool = True) -> Callable:
    """A numpy function ``images -> scores`` that runs the model in batches.

    What LIME, SHAP and other model-agnostic explainers call: it takes any
    number of images (N, H, W, C) and returns (N, classes) float64 class
    probabilities (``softmax=True``) or logits. One compiled forward pass per
    chunk of ``batch_size`` images.

    Parameters
    ----------
    model : keras.Model
        Classifier ending in logits or softmax.
    batch_size : int
        Images per forward pass.
    softmax : bool
        Probabilities (for LIME) or pre-softmax logits (for SHAP).

    Returns
    -------
    callable
        ``f(images) -> np.ndarray`` of shape (N, classes).

    Examples
    --------
    >>> f = predict_fn(zoo.load("shapes"))  # doctest: +SKIP
    >>> f(data.images[:3]).sum(axis=1)  # doctest: +SKIP
    array([1., 1., 1.])
    """
    model = validate.check_model(model)
    batch_size = validate.check_batch_size(batch_size)
    softmax = validate.check_flag(softmax, "softmax")
    net = logits_model(model)  # image -> pre-softmax logits, sharing the weights

    def predict(images) -> np.ndarray:
        batch, _ = validate.as_images(images, model=model)  # lime passes float64 copies
        logits = predict_batched(net, batch, batch_size=batch_size)[-1].astype(np.float64)
        return probabilities(logits) if softmax else logits

    return predict


# --- LIME -----------------------------------------------------------------------------


def _segmenter(segmentation, n_segments: int) -> Callable:
    """image (H, W, C) -> superpixel labels (H, W) ints from 0."""
    from skimage.segmentation import quickshift, slic

    if callable(segmentation):
        return segmentation
    validate.check_choice(segmentation, "segmentation", ("slic", "quickshift"))
    if segmentation == "slic":
        return lambda image: slic(image, n_segments=n_segments, compactness=10, start_label=0,
                                  channel_axis=-1, convert2lab=image.shape[-1] == 3)
    return lambda image: quickshift(image, kernel_size=2, max_dist=10, ratio=0.5, rng=0)


def lime_map(
    model: keras.Model,
    images,
    target=None,
    *,
    num_samples: int = 1000,
    segmentation: str | Callable = "slic",
    n_segments: int = 50,
    hide_color: float | None = None,
    output: str = "probability",
    batch_size: int = 256,
    seed: int = 0,
) -> np.ndarray:
    """LIME superpixel weights as a pixel map, one image at a time.

    Ribeiro et al. 2016: hide random subsets of superpixels (``num_samples``
    copies), score each copy with the model (softmax probability of
    ``target``), and fit a ridge regression, weighted by an exponential kernel
    of the cosine distance to the intact image, on which superpixels were
    visible. The weight of a superpixel is its estimated contribution to the
    probability. Uses ``lime.lime_image.LimeImageExplainer`` unchanged
    (kernel width 0.25, ridge alpha 1).

    Parameters
    ----------
    model : keras.Model
        Image classifier.
    images : array-like
        (N, H, W, C) float32 images or one (H, W, C) image.
    target : int, (N,) ints or None
        Class to explain; None = the predicted class.
    num_samples : int
        Perturbed copies per image.
    segmentation : {"slic", "quickshift"} or callable
        scikit-image superpixels; a callable ``image (H, W, C) -> (H, W) int
        labels from 0`` replaces them.
    n_segments : int
        Approximate number of SLIC superpixels.
    hide_color : float or None
        Value of a hidden superpixel; None = its mean colour (lime's default,
        and on the toy world far better than black, which the models read as
        an object of its own).
    output : {"probability", "log_odds"}
        What LIME explains: the target's softmax probability (the paper's
        choice), or its log-odds ``log p / (1 - p) = z_t - logsumexp(z_others)``
        from the logits, for a model so sure of itself (p > 0.99) that hiding
        superpixels barely moves its probability (a saturated softmax).
    batch_size : int
        Images per forward pass.
    seed : int
        Seed of LIME's sampling.

    Returns
    -------
    np.ndarray
        (N, H, W) signed maps, constant on each superpixel ((H, W) for one image),
        in units of ``output``.

    Examples
    --------
    >>> maps = lime_map(model, data.images[:4], num_samples=500, seed=1)  # doctest: +SKIP
    """
    from lime.lime_image import LimeImageExplainer

    model = validate.check_model(model)
    batch, single = validate.as_images(images, model=model)
    num_samples = validate.check_positive_int(num_samples, "num_samples")
    n_segments = validate.check_positive_int(n_segments, "n_segments")
    batch_size = validate.check_batch_size(batch_size)
    seed = validate.check_seed(seed) or 0
    if hide_color is not None:
        hide_color = validate.check_number(hide_color, "hide_color")
    validate.check_choice(output, "output", ("probability", "log_odds"))
    validate.check_memory(num_samples * (8 * n_segments + 4 * batch[0].size), f"lime_map(num_samples={num_samples})",
                          "use fewer samples")  # LIME's 0/1 design matrix and a batch of perturbed images
    segment = _segmenter(segmentation, n_segments)
    targets = explained_classes(model, batch, target, batch_size=batch_size)
    f = predict_fn(model, batch_size=batch_size, softmax=output == "probability")
    if output == "log_odds":
        f = _log_odds_of(f)
    maps = np.zeros(batch.shape[:3], np.float32)  # (N, H, W)
    for i, (image, label) in enumerate(zip(batch.astype(np.float64), targets)):  # LIME explains one image
        explainer = LimeImageExplainer(random_state=seed)
        with _no_progress_bar():
            explanation = explainer.explain_instance(
                image, f, labels=(int(label),), top_labels=None, hide_color=hide_color,
                num_samples=num_samples, batch_size=batch_size, segmentation_fn=segment, random_seed=seed)
        weights = dict(explanation.local_exp[int(label)])  # superpixel -> weight
        lookup = np.array([weights.get(s, 0.0) for s in range(explanation.segments.max() + 1)])
        maps[i] = lookup[explanation.segments]  # (H, W)
    return maps[0] if single else maps


def _log_odds_of(logits_fn: Callable) -> Callable:
    """images -> logits (N, K) turned into images -> log-odds of every class (N, K)."""
    def log_odds(images) -> np.ndarray:
        z = logits_fn(images)                                        # (N, K) float64
        others = np.repeat(z[:, None, :], z.shape[1], axis=1)        # (N, K, K): row k = all logits...
        k = np.arange(z.shape[1])
        others[:, k, k] = -np.inf                                    # ...but class k's own
        top = others.max(axis=2, keepdims=True)
        logsumexp = top[..., 0] + np.log(np.exp(others - top).sum(axis=2))
        return z - logsumexp
    return log_odds


@contextlib.contextmanager
def _no_progress_bar():
    """lime 0.2.0.1 draws a tqdm.auto bar per explained image (a widget in a notebook, so
    redirecting stderr does not hide it) and has no option against it: swap its ``tqdm`` for
    a plain iterator while it runs."""
    import lime.lime_image

    original = lime.lime_image.tqdm
    lime.lime_image.tqdm = lambda iterable, *args, **kwargs: iterable
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        lime.lime_image.tqdm = original


# --- SHAP -----------------------------------------------------------------------------


def _fill_image(fill, shape: tuple, model=None) -> np.ndarray:
    """A number, one colour (C,) or one image (H, W, C) -> the (H, W, C) image that hides pixels."""
    if np.shape(fill) == shape:  # an image: checked like every image (floats, not 0-255, finite)
        return validate.as_images(fill, name="fill", model=model)[0][0]
    array = validate.as_array(fill, "fill", allow_empty=True)
    if array.shape not in ((), shape[-1:], shape):
        raise ValueError(f"fill must be a number, a colour of shape {shape[-1:]} or one image of shape "
                         f"{shape}, got shape {array.shape}")
    return np.ascontiguousarray(np.broadcast_to(array, shape))


@contextlib.contextmanager
def _numpy_seed(seed: int):
    """Seed numpy's global generator (shap draws from it) and restore it afterwards."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _shap_partition(model, batch, targets, fill, max_evals, batch_size, seed) -> np.ndarray:
    """Owen values of the target logit with shap's Partition explainer: (N, H, W, C)."""
    import shap

    f = predict_fn(model, batch_size=batch_size, softmax=False)
    masker = shap.maskers.Image(fill)  # (H, W, C), checked by shap_map
    explainer = shap.Explainer(f, masker, algorithm="partition")
    with _numpy_seed(seed):  # shap breaks ties in its search queue with np.random
        values = [explainer(batch[i : i + 1], max_evals=max_evals, batch_size=batch_size, outputs=[int(t)],
                            silent=True).values[0, ..., 0]
                  for i, t in enumerate(targets)]  # one image per call: each has its own target
    return np.stack(values)


def _shap_gradient(model, batch, targets, background, nsamples, batch_size, seed) -> np.ndarray:
    """Expected gradients of the target logit with shap.GradientExplainer: (N, H, W, C)."""
    import shap

    background, _ = validate.as_images(background, name="background", model=model)
    with _numpy_seed(seed), warnings.catch_warnings():  # shap reseeds numpy's global generator
        warnings.filterwarnings("ignore", message="The structure of `inputs`")
        explainer = shap.GradientExplainer(logits_model(model), background, batch_size=batch_size)
        values = explainer.shap_values(batch, nsamples=nsamples, rseed=seed)  # (N, H, W, C, K)
    return values[np.arange(len(batch)), ..., targets]


def shap_map(
    model: keras.Model,
    images,
    target=None,
    *,
    explainer: str = "partition",
    max_evals: int = 2000,
    fill=0.0,
    background=None,
    nsamples: int = 64,
    batch_size: int = 256,
    seed: int = 0,
) -> np.ndarray:
    """SHAP values of the target's logit, summed over the colour channels.

    Lundberg & Lee 2017. ``explainer="partition"`` (model-agnostic): Owen
    values on a hierarchy of pixel blocks, pixels hidden by replacing them
    with ``fill``, using ``max_evals`` model calls per image; blocks the
    budget does not split share their value equally (exact per-pixel values
    need about ``M**2`` calls for ``M = H*W*C`` inputs). ``"gradient"``:
    expected gradients, ``(x - x') * dS_c/dx`` at random points between the
    image and background images ``x'``, ``nsamples`` per image. In both, the
    values of an image add up to ``S_c(x)`` minus the score of the
    fill/background (exactly for partition, in expectation for gradient).

    Parameters
    ----------
    model : keras.Model
        Image classifier, explained on its logits.
    images : array-like
        (N, H, W, C) float32 images or one (H, W, C) image.
    target : int, (N,) ints or None
        Class to explain; None = the predicted class.
    explainer : {"partition", "gradient"}
    max_evals : int
        Model evaluations per image (partition).
    fill : float or array-like (C,) or (H, W, C)
        What hidden pixels become (partition), e.g. the data's mean colour.
    background : array-like, optional
        (B, H, W, C) reference images (gradient); default one image of ``fill``.
    nsamples : int
        Gradient samples per image (gradient).
    batch_size : int
        Images per forward pass.
    seed : int
        Seed of SHAP's sampling.

    Returns
    -------
    np.ndarray
        (N, H, W) signed maps ((H, W) for one image).

    Examples
    --------
    >>> maps = shap_map(model, data.images[:4], max_evals=1000)  # doctest: +SKIP
    >>> maps.sum(axis=(1, 2))  # = S_c(x) - S_c(black image)  # doctest: +SKIP
    """
    model = validate.check_model(model)
    validate.check_choice(explainer, "explainer", ("partition", "gradient"))
    batch, single = validate.as_images(images, model=model)
    max_evals = validate.check_positive_int(max_evals, "max_evals")
    nsamples = validate.check_positive_int(nsamples, "nsamples")
    batch_size = validate.check_batch_size(batch_size)
    seed = validate.check_seed(seed) or 0
    fill = _fill_image(fill, batch.shape[1:], model)  # (H, W, C)
    if background is not None:
        background, _ = validate.as_images(background, name="background", model=model)
    validate.check_memory(2 * max_evals * batch[0].size * 4 if explainer == "partition"
                          else nsamples * batch[0].size * 16 * len(batch), f"shap_map(max_evals={max_evals}, "
                          f"nsamples={nsamples})", "use fewer model evaluations")
    targets = explained_classes(model, batch, target, batch_size=batch_size)
    if explainer == "partition":
        values = _shap_partition(model, batch, targets, fill, max_evals, batch_size, seed)
    else:
        reference = fill[None] if background is None else background
        values = _shap_gradient(model, batch, targets, reference, nsamples, batch_size, seed)
    maps = values.sum(axis=-1).astype(np.float32)  # (N, H, W): channels added, as attributions add
    return maps[0] if single else maps
