"""The API contract, checked for every public attribution method in one place.

Each method runs on one image and on a batch of the ``shapes`` zoo model and
must return finite numpy maps of the documented shape, leave the model's
weights unchanged, and give one image the same map as the batch's first.

To cover a new method, add a ``Method`` to ``METHODS``.
"""

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

from labkit import cam, datasets, gradients, occlusion, zoo

FEATURE_MAP = (8, 8)  # the shapes model's last conv layer (conv4) on 64x64 images
N_IMAGES = 3


@dataclass(frozen=True)
class Method:
    name: str
    function: Callable
    kwargs: dict = field(default_factory=dict)
    map_shape: tuple | None = None  # (h, w) of one map; None = the image's (H, W)


METHODS = [
    Method("occlusion", occlusion.occlusion, {"patch": 16, "stride": 8}),
    Method("occlusion_logit", occlusion.occlusion, {"patch": 16, "output": "logit", "fill": 0.5}),
    Method("occlusion_mean_fill", occlusion.occlusion, {"patch": 16, "fill": "mean"}),
    Method("saliency", gradients.saliency),
    Method("smoothgrad", gradients.smoothgrad, {"n": 4, "seed": 1}),
    Method("smoothgrad_square", gradients.smoothgrad, {"n": 4, "magnitude": "square"}),
    Method("integrated_gradients", gradients.integrated_gradients, {"steps": 8}),
    Method("gradient_x_input", gradients.gradient_x_input),
    Method("cam", cam.cam, {}, FEATURE_MAP),
    Method("cam_upsampled", cam.cam, {"upsample": True}),
    Method("grad_cam", cam.grad_cam, {}, FEATURE_MAP),
    Method("grad_cam_conv2", cam.grad_cam, {"layer": "conv2"}, (32, 32)),
    Method("grad_cam_upsampled", cam.grad_cam, {"upsample": True}),
    Method("grad_cam_pp", cam.grad_cam_pp, {}, FEATURE_MAP),
]


@pytest.fixture(scope="module")
def model():
    return zoo.load("shapes")


@pytest.fixture(scope="module")
def images():
    return datasets.toy_world("shapes", "test", N_IMAGES, seed=99).images


@pytest.mark.parametrize("method", METHODS, ids=lambda method: method.name)
def test_contract(method, model, images):
    weights = [w.copy() for w in model.get_weights()]
    shape = method.map_shape or images.shape[1:3]

    batch = method.function(model, images, **method.kwargs)
    single = method.function(model, images[0], **method.kwargs)

    assert isinstance(batch, np.ndarray) and isinstance(single, np.ndarray)
    assert batch.shape == (N_IMAGES, *shape)
    assert single.shape == shape
    assert np.isfinite(batch).all() and np.isfinite(single).all()
    assert np.abs(batch).max() > 0, "an all-zero map explains nothing"
    np.testing.assert_allclose(single, batch[0], rtol=1e-4, atol=1e-5 * np.abs(batch).max())
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("method", METHODS, ids=lambda method: method.name)
def test_target_per_image_equals_target_one_by_one(method, model, images):
    targets = np.array([2, 0, 3])
    together = method.function(model, images, target=targets, **method.kwargs)
    for i, target in enumerate(targets):
        alone = method.function(model, images[i], target=int(target), **method.kwargs)
        np.testing.assert_allclose(alone, together[i], rtol=1e-4, atol=1e-5 * np.abs(together).max())
