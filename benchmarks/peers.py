"""Peer libraries on labkit's benchmark inputs; runs inside ``.venv-peers``, not labkit's venv.

Called by ``benchmarks/speed.py`` as
``.venv-peers/bin/python benchmarks/peers.py '<json config>'``. Rebuilds the
same model (the shipped ``shapes.keras`` file, or ResNet50V2 with the saved
``.weights.h5``), runs xplique and tf-keras-vis on the same images and
targets with the same settings, and prints one JSON line with timings,
versions and notes; the maps go to an .npz (key ``"peer/method"``), as
(N, h, w) raw maps in labkit's conventions where the peer allows it (see
the notes each entry carries).

Does not import labkit (it runs with another TensorFlow).
"""

from __future__ import annotations

import json
import os
import sys
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from common import best  # noqa: E402  (benchmarks/common.py: this script's directory is on sys.path)



def _model(config: dict):
    import keras

    if config.get("model_file"):
        return keras.models.load_model(config["model_file"], compile=False)
    model = keras.applications.ResNet50V2(weights=None, classifier_activation=None)
    model.load_weights(config["weights"])
    return model


def _squeeze(maps) -> np.ndarray:
    maps = np.asarray(maps, np.float32)
    return maps[..., 0] if maps.ndim == 4 and maps.shape[-1] == 1 else maps


def xplique_tasks(model, images, targets, config: dict) -> dict:
    """{method: (make explainer + explain function, note)} for the methods xplique has."""
    from xplique.attributions import GradCAM, GradCAMPP, IntegratedGradients, Occlusion, Saliency, SmoothGrad

    bs, tasks = config["batch_size"], config["tasks"]
    onehot = np.eye(model.output_shape[-1], dtype=np.float32)[targets]  # xplique takes one-hot targets
    out = {}

    occ = tasks["occlusion"]
    occlusion = Occlusion(model, batch_size=bs, patch_size=occ["patch"], patch_stride=occ["stride"],
                          occlusion_value=0.0)
    coverage = Occlusion._get_masks(images.shape[1:], (occ["patch"],) * 2, (occ["stride"],) * 2)
    coverage = np.asarray(coverage, np.float32).sum(0)  # (H, W): windows covering each pixel
    out["occlusion"] = (lambda: _squeeze(occlusion.explain(images, onehot)) / coverage,
                        "xplique sums the logit drops of the windows covering a pixel, labkit averages "
                        "them; xplique's map is divided by the coverage count before comparing")
    saliency = Saliency(model, batch_size=bs)  # |grad|, max over channels: the same convention
    out["saliency"] = (lambda: _squeeze(saliency.explain(images, onehot)), "")

    sg = tasks["smoothgrad"]
    spread = float(np.median(images.max(axis=(1, 2, 3)) - images.min(axis=(1, 2, 3))))
    smooth = SmoothGrad(model, batch_size=bs, nb_samples=sg["samples"], noise=sg["noise"] * spread, reducer=None)
    out["smoothgrad"] = (lambda: np.abs(np.asarray(smooth.explain(images, onehot))).max(-1),
                         f"xplique's noise is an absolute sigma: {sg['noise']} x the median value range "
                         f"({spread:.2f}); channels reduced like labkit (|mean grad|, max); different "
                         f"random noise, so r < 1 at this number of samples")
    steps = tasks["integrated_gradients"]["steps"]
    ig = IntegratedGradients(model, batch_size=bs, steps=steps + 1, baseline_value=0.0, reducer="sum")
    out["integrated_gradients"] = (lambda: _squeeze(ig.explain(images, onehot)),
                                   f"xplique averages the gradients at steps={steps + 1} evenly spaced path "
                                   f"points, ends included; labkit at {steps} midpoints: two quadratures of "
                                   f"the same integral, channels summed")
    layer = tasks["grad_cam"]["layer"]
    gradcam = GradCAM(model, batch_size=bs, conv_layer=layer)
    out["grad_cam"] = (lambda: _squeeze(gradcam.explain(images, onehot)),
                       "xplique resizes to the input size (bicubic); labkit's native map is resized "
                       "bilinearly to compare")
    gradcampp = GradCAMPP(model, batch_size=bs, conv_layer=layer)
    out["grad_cam_pp"] = (lambda: _squeeze(gradcampp.explain(images, onehot)),
                          "xplique uses the mean of A where the paper's alpha sums it, and resizes bicubically")
    return out


def tf_keras_vis_tasks(model, images, targets, config: dict) -> dict:
    """{method: (explain function, note)} for the methods tf-keras-vis has."""
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.utils.scores import CategoricalScore

    tasks = config["tasks"]
    score = CategoricalScore(targets.tolist())
    saliency = Saliency(model, model_modifier=None, clone=False)
    layer = tasks["grad_cam"]["layer"]
    gradcam = Gradcam(model, model_modifier=None, clone=False)
    gradcampp = GradcamPlusPlus(model, model_modifier=None, clone=False)
    sg = tasks["smoothgrad"]

    def smoothgrad():
        np.random.seed(0)  # tf-keras-vis draws its noise from numpy's global generator
        grads = saliency(score, images, smooth_samples=sg["samples"], smooth_noise=sg["noise"],
                         gradient_modifier=None, keepdims=True, normalize_map=False)
        return np.abs(grads).max(-1)

    return {
        "saliency": (lambda: np.asarray(saliency(score, images, normalize_map=False)), ""),
        "smoothgrad": (smoothgrad, "gradient_modifier=None so signed gradients are averaged, then |.| and "
                                   "max over channels as in labkit (tf-keras-vis' default takes |.| per "
                                   "sample first); different random noise, so r < 1"),
        "grad_cam": (lambda: np.asarray(gradcam(score, images, penultimate_layer=layer, expand_cam=False,
                                                normalize_cam=False, seek_penultimate_conv_layer=False)),
                     "seek_penultimate_conv_layer=False, else tf-keras-vis replaces an activation layer "
                     "such as ResNet's post_relu by the conv layer before it"),
        "grad_cam_pp": (lambda: np.asarray(gradcampp(score, images, penultimate_layer=layer, expand_cam=False,
                                                     normalize_cam=False, seek_penultimate_conv_layer=False)),
                        "tf-keras-vis renormalises the alphas per channel (the authors' code)"),
    }


def main(config: dict) -> dict:
    import tensorflow as tf

    data = np.load(config["inputs"])
    images, targets = data["images"], data["targets"].astype(np.int64)
    model = _model(config)
    logits = model.predict(images, verbose=0)
    report = {"results": {}, "notes": [], "versions": {"tensorflow (peers)": tf.__version__}}
    try:
        import keras

        report["versions"]["keras (peers)"] = keras.__version__
    except ImportError:
        pass
    if not np.array_equal(logits.argmax(1), targets):
        report["notes"].append("the rebuilt model predicts other classes than labkit's: weights differ")
    maps = {}
    for peer, build in (("xplique", xplique_tasks), ("tf-keras-vis", tf_keras_vis_tasks)):
        try:
            module = __import__(peer.replace("-", "_"))
            report["versions"][peer] = getattr(module, "__version__", "?")
            tasks = build(model, images, targets, config)
        except Exception as err:  # the whole peer fails to load: say exactly why
            report["results"][peer] = {}
            report["notes"].append(f"{peer} could not be set up: {type(err).__name__}: {err}")
            continue
        results = {}
        for method, (explain, note) in tasks.items():
            try:
                seconds, result = best(explain, config["repeats"])
                maps[f"{peer}/{method}"] = _squeeze(result)
                results[method] = {"seconds": seconds, "note": note}
            except Exception as err:
                results[method] = {"error": f"{type(err).__name__}: {str(err)[:300]}"}
                traceback.print_exc(file=sys.stderr)
        report["results"][peer] = results
    np.savez(config["out"], **maps)
    return report


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
