"""Find layers and read their outputs (the "hooks"), nested models included.

Every labkit method that looks inside a model goes through this module:

- :func:`resolve_layer` turns a name, an index or a layer object into the
  layer, also inside nested models such as ``Sequential([base, pooling,
  dense])``; unknown names raise an error listing the valid ones.
- :func:`conv_layers` and :func:`last_conv_layer` find the feature maps that
  CAM and Grad-CAM explain.
- :func:`feature_model` builds a *new* Keras model returning chosen layer
  outputs plus the logits in one forward pass. It is built over the model's
  own graph and shares its weights; the user's model is never modified
  (no ``activation = None``, no patched ``layer.call``).
- :func:`activations` runs it over images in batches: numpy in, numpy out.

Why nested models need care: in Keras, ``base.get_layer("post_relu").output``
belongs to the graph that starts at ``base.input``, not at the outer model's
input, so ``keras.Model(model.input, inner_layer.output)`` fails with a
"disconnected graph" error. :func:`feature_model` therefore re-traces the
outer model from a fresh input, calling the same layer objects again and
stepping into each nested model that holds a wanted layer, so the inner
outputs become part of one connected graph. The only trace this leaves on
the user's model is Keras bookkeeping: each re-used layer records one more
call ("inbound node"); weights, config, ``layer.output`` and predictions
stay exactly the same.
"""

from __future__ import annotations

import difflib
import numbers
import warnings
from collections.abc import Iterator, Sequence

import keras
import numpy as np
from keras import ops

from labkit.forward import cached, predict_batched
from labkit.validate import as_images, check_batch_size, check_flag, check_model

__all__ = [
    "resolve_layer",
    "iter_layers",
    "conv_layers",
    "last_conv_layer",
    "logits_layer_and_softmax",
    "feature_model",
    "activations",
    "parents",
    "producer",
    "model_input_layer",
    "pre_activation",
    "is_activation",
]

LayerRef = str | int | keras.layers.Layer
"""A layer given by name, by index into ``model.layers``, or as the object."""

_CONV_TYPES = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
)
_AFFINE_TYPES = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
_MAX_LISTED = 20  # names shown in an "unknown layer" error before "... and N more"


# --- finding layers ---------------------------------------------------------------


def iter_layers(model: keras.Model) -> Iterator[keras.layers.Layer]:
    """Yield every layer of ``model`` in graph order, stepping into nested models.

    A nested model is yielded first, then its own layers. Input layers are
    skipped (their "activations" are the images themselves).

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    Iterator[keras.layers.Layer]

    Examples
    --------
    >>> [layer.name for layer in iter_layers(model)]  # doctest: +SKIP
    ['resnet50v2', 'conv1_pad', 'conv1_conv', ..., 'post_relu', 'gap', 'dense']
    """
    return _walk(check_model(model, kind=None))


def _walk(model: keras.Model) -> Iterator[keras.layers.Layer]:
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        yield layer
        if isinstance(layer, keras.Model):
            yield from _walk(layer)


def _unknown_name_error(model: keras.Model, name: str, argument: str = "layer") -> ValueError:
    names = list(dict.fromkeys(layer.name for layer in _walk(model)))
    closest = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    ordered = closest + [n for n in names if n not in closest]
    listed = ", ".join(repr(n) for n in ordered[:_MAX_LISTED])
    if len(ordered) > _MAX_LISTED:
        listed += f", ... and {len(ordered) - _MAX_LISTED} more"
    where = "" if argument == "layer" else f"{argument}: "
    return ValueError(
        f"{where}no layer named {name!r} in model {model.name!r}. "
        f"Valid names, closest first: {listed}"
    )


def resolve_layer(model: keras.Model, layer: LayerRef, *, name: str = "layer") -> keras.layers.Layer:
    """Return the layer of ``model`` given by name, index or object.

    Parameters
    ----------
    model : keras.Model
        Functional or Sequential model, possibly with nested models inside.
    layer : str, int or keras.layers.Layer
        A name (searched in ``model.layers`` first, then inside nested
        models), an index into ``model.layers`` (negative counts from the
        end), or a layer object belonging to the model.
    name : str
        The argument's name in error messages (e.g. "layers").

    Returns
    -------
    keras.layers.Layer

    Raises
    ------
    ValueError
        Unknown name (the message lists valid names, closest first), index
        out of range, a layer that is not part of the model, or an input layer.
    TypeError
        ``layer`` is none of str, int, Layer.

    Examples
    --------
    >>> resolve_layer(model, "post_relu").name  # inside the nested ResNet  # doctest: +SKIP
    'post_relu'
    >>> resolve_layer(model, -1).name  # doctest: +SKIP
    'dense'
    """
    model = check_model(model, kind=None)
    where = "" if name == "layer" else f"{name}: "  # which argument, when it is not simply "layer"
    if isinstance(layer, keras.layers.Layer):
        if not any(candidate is layer for candidate in model.layers + list(_walk(model))):
            raise ValueError(f"{where}layer {layer.name!r} is not part of model {model.name!r}")
        found = layer
    elif isinstance(layer, (bool, np.bool_)) or not isinstance(layer, (str, numbers.Integral)):
        raise TypeError(
            f"{name} must be a layer name (str), an index into model.layers (int) or a "
            f"keras Layer; got {type(layer).__name__} {str(layer)[:60]!r}"
        )
    elif isinstance(layer, numbers.Integral):
        n = len(model.layers)
        if not -n <= layer < n:
            raise ValueError(
                f"{where}layer index {layer} is out of range: model {model.name!r} has {n} layers, "
                f"valid indices are {-n}..{n - 1}"
            )
        found = model.layers[layer]
    else:
        found = next((candidate for candidate in model.layers if candidate.name == layer), None)
        if found is None:
            found = next((candidate for candidate in _walk(model) if candidate.name == layer), None)
        if found is None:
            raise _unknown_name_error(model, layer, name)
    if isinstance(found, keras.layers.InputLayer):
        raise ValueError(
            f"{where}layer {found.name!r} is the model's input layer; its activations are the "
            f"images themselves, pick a layer after it"
        )
    return found


def conv_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """All convolution layers of ``model`` in graph order, nested models included.

    Counts Conv1D/2D/3D, their Transpose versions, SeparableConv and
    DepthwiseConv layers.

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    list[keras.layers.Layer]

    Examples
    --------
    >>> [layer.name for layer in conv_layers(model)]  # doctest: +SKIP
    ['conv1', 'conv2']
    """
    return [layer for layer in _walk(check_model(model, kind=None)) if isinstance(layer, _CONV_TYPES)]


def _output_rank(layer: keras.layers.Layer) -> int | None:
    """Rank of the layer's (first-call) output, or None if it has no single output."""
    try:
        output = layer.output
    except (AttributeError, ValueError, RuntimeError):
        return None
    shape = getattr(output, "shape", None)  # a list for multi-output layers
    return None if shape is None else len(shape)


def last_conv_layer(model: keras.Model) -> keras.layers.Layer:
    """The layer holding the model's last convolutional feature map (N, h, w, K).

    This is the layer CAM and Grad-CAM explain. Rule: the last layer, in
    graph order and inside nested models too, whose output is 4-D and which
    comes at or after the first 2-D convolution. So it is not always a Conv
    layer: in ResNet50V2 the last feature map is ``post_relu``, the ReLU
    after the last conv and batch norm, just before global pooling; in a
    plain conv stack it is the last Conv2D. 4-D maps of size 1x1 (e.g. a
    classifier written as a 1x1 conv after pooling, as in MobileNet) are
    only used when there is nothing larger.

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    keras.layers.Layer

    Raises
    ------
    ValueError
        The model has no 2-D convolution layer, so no feature map to explain.

    Examples
    --------
    >>> last_conv_layer(model).name  # Sequential([ResNet50V2 base, GAP, Dense])  # doctest: +SKIP
    'post_relu'
    """
    layers = [layer for layer in _walk(check_model(model, kind=None)) if not isinstance(layer, keras.Model)]
    first_conv = next(
        (i for i, layer in enumerate(layers) if isinstance(layer, _CONV_TYPES) and _output_rank(layer) == 4),
        None,
    )
    if first_conv is None:
        raise ValueError(
            f"model {model.name!r} has no 2-D convolution layer with a 4-D (N, h, w, K) output; "
            f"this method needs a convolutional image model (e.g. Conv2D layers before the "
            f"pooling/dense head)"
        )
    maps = [layer for layer in layers[first_conv:] if _output_rank(layer) == 4]
    spatial = [layer for layer in maps if tuple(layer.output.shape[1:3]) != (1, 1)]
    return (spatial or maps)[-1]


# --- logits -----------------------------------------------------------------------


def is_activation(function, name: str) -> bool:
    """Is ``function`` (a layer's ``activation``) the Keras activation called ``name``, e.g. "relu"?"""
    return getattr(function, "__name__", None) == name


def _is_softmax(function) -> bool:
    return is_activation(function, "softmax")


def _is_graph_model(model) -> bool:
    """Functional or Sequential: a graph labkit can trace (subclassed models are opaque)."""
    return isinstance(model, keras.Sequential) or hasattr(model, "_run_through_graph")


def _output_operation(model: keras.Model):
    """The operation producing the model's single output, looking into nested models."""
    check_model(model, kind=None)
    operation = model.outputs[0]._keras_history.operation
    if isinstance(operation, keras.Model) and _is_graph_model(operation):
        return _output_operation(operation)
    return operation


def logits_layer_and_softmax(model: keras.Model) -> tuple[keras.Operation, str | None]:
    """Find the output layer and whether (and how) it applies a softmax.

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    layer : keras.Operation
        The layer (or keras op) producing the model's output, looked up
        inside a nested model if the output comes from one.
    softmax : {None, "activation", "layer"}
        None: the output already is the logits. ``"activation"``: a
        Dense/Conv layer with ``activation="softmax"``; the logits are its
        pre-activation. ``"layer"``: a separate ``Softmax`` or
        ``Activation("softmax")``; the logits are its input.

    Examples
    --------
    >>> logits_layer_and_softmax(model)  # Dense(10, activation="softmax") last  # doctest: +SKIP
    (<Dense name=probs, built=True>, 'activation')
    """
    operation = _output_operation(model)
    if type(operation).__name__ == "Softmax" or (
        isinstance(operation, keras.layers.Activation) and _is_softmax(operation.activation)
    ):
        return operation, "layer"
    if _is_softmax(getattr(operation, "activation", None)):
        return operation, "activation"
    return operation, None


class _PreSoftmax(keras.layers.Layer):
    """The affine part of a Dense or Conv layer that ends in softmax.

    Uses the wrapped layer's own kernel and bias variables (shared, not
    copied), so the logits follow the model's weights, and leaves the
    wrapped layer untouched.
    """

    def __init__(self, source: keras.layers.Layer):
        super().__init__(name=f"{source.name}_logits", dtype=source.dtype_policy)
        self.source = source

    def build(self, input_shape):
        self.built = True

    def call(self, x):
        return pre_activation(self.source, x)


def pre_activation(layer: keras.layers.Layer, x):
    """The affine part of a Dense or Conv layer on ``x``, with the layer's own (shared) weights.

    ``W x + b`` before the layer's activation: the logits under a fused
    softmax, or the value a fused ReLU would clip.
    """
    if not isinstance(layer, _AFFINE_TYPES):
        raise TypeError(f"layer must be a Dense or Conv layer to take its pre-activation, got {type(layer).__name__}")
    if isinstance(layer, keras.layers.Dense):
        z = ops.matmul(x, layer.kernel)  # (N, K)
    else:
        z = layer.convolution_op(x, layer.kernel)  # (N, h, w, K)
    if layer.use_bias:
        bias = layer.bias
        if getattr(layer, "data_format", "channels_last") == "channels_first":
            bias = ops.reshape(bias, (1, -1) + (1,) * (len(z.shape) - 2))
        z = z + bias
    return z


# --- walking the graph (Keras internals are read here and nowhere else) -----------


def parents(layer: keras.layers.Layer) -> list:
    """The operations feeding the layer's first (original) call."""
    if not isinstance(layer, keras.Operation):
        raise TypeError(f"layer must be a keras layer, got {type(layer).__name__}")
    nodes = getattr(layer, "_inbound_nodes", [])
    return [node.operation for node in nodes[0].parent_nodes] if nodes else []


def model_input_layer(model: keras.Model):
    """The InputLayer of ``model``'s (single) input."""
    return check_model(model, kind=None).inputs[0]._keras_history.operation


def producer(tensor) -> keras.Operation:
    """The layer that computed a symbolic tensor, looking through nested models and Dropout."""
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        raise TypeError(f"tensor must be a symbolic Keras tensor (a layer's input or output), "
                        f"got {type(tensor).__name__}")
    operation = history.operation
    if isinstance(operation, keras.Model):
        return producer(operation.outputs[0])
    if isinstance(operation, (keras.layers.Dropout, keras.layers.SpatialDropout2D)):
        return producer(operation.input)
    return operation


# --- the feature model ------------------------------------------------------------


def _contains(model: keras.Model, wanted: dict) -> bool:
    return any(id(layer) in wanted for layer in _walk(model))


def _trace(model: keras.Model, x, wanted: dict, seen: dict):
    """Call ``model``'s layers again on the symbolic tensor ``x`` and return its output.

    Records ``seen[id(op)] = (input, output)`` for every wanted operation and
    steps into nested models that hold one, so their inner outputs are
    connected to ``x``. Shares all layers (and so all weights) with ``model``.
    """

    def hooked(op):
        def call(*args, **kwargs):
            if isinstance(op, keras.Model) and _contains(op, wanted):
                out = _trace(op, args[0], wanted, seen)
            else:
                out = op(*args, **kwargs)
            if id(op) in wanted:
                seen[id(op)] = (args[0] if args else None, out)
            return out

        return call

    if isinstance(model, keras.Sequential):
        for layer in model.layers:
            x = hooked(layer)(x)
        return x
    if not _is_graph_model(model):
        raise ValueError(
            f"model {model.name!r} is a subclassed model: labkit cannot look inside it; "
            f"build it with the Functional or Sequential API"
        )
    # Keras' own graph walker (the one Functional.call uses): it visits every node
    # in dependency order and lets us choose what to call for each operation.
    return model._run_through_graph(x, operation_fn=hooked)


def _build_feature_model(model: keras.Model, targets: list, logits: bool) -> keras.Model:
    head, softmax = logits_layer_and_softmax(model) if logits else (None, None)
    wanted = {id(layer): layer for layer in targets}
    if head is not None:
        wanted[id(head)] = head
    reference = model.inputs[0]
    inputs = keras.Input(shape=reference.shape[1:], dtype=reference.dtype)  # any batch size
    seen: dict = {}
    output = _trace(model, inputs, wanted, seen)

    outputs = []
    for layer in targets:
        if id(layer) not in seen:
            raise ValueError(f"layer {layer.name!r} is not on the path from the model's input to its output")
        layer_output = seen[id(layer)][1]
        if not hasattr(layer_output, "shape"):
            raise ValueError(f"layer {layer.name!r} has several outputs; pick a layer with one output")
        outputs.append(layer_output)
    if logits:
        head_input = seen[id(head)][0]
        if softmax == "layer":
            outputs.append(head_input)
        elif softmax == "activation":
            if not isinstance(head, _AFFINE_TYPES):
                raise ValueError(
                    f"cannot take the logits of layer {head.name!r} ({type(head).__name__}) with a "
                    f"softmax activation; build the model with a separate Softmax layer at the end"
                )
            outputs.append(_PreSoftmax(head)(head_input))
        else:
            outputs.append(output)
    return keras.Model(inputs, outputs, name=f"{model.name}_features")


def _as_list(layers) -> list:
    if isinstance(layers, (list, tuple)):
        return list(layers)
    return [layers]


def feature_model(
    model: keras.Model, layers: LayerRef | Sequence[LayerRef], *, logits: bool = True
) -> keras.Model:
    """A new model mapping the input to the chosen layers' outputs (and the logits).

    Built over ``model``'s graph with the same layer objects, so it shares
    the weights and costs one forward pass. Works for layers inside nested
    models. The user's model is not modified. When the model ends in a
    softmax, the last output is the pre-softmax logits and a ``UserWarning``
    says so. Results are cached per model and layer list.

    Parameters
    ----------
    model : keras.Model
        Functional or Sequential model with one image input and one output.
    layers : str, int, Layer, or a list/tuple of them
        Layers whose outputs to return (see :func:`resolve_layer`).
    logits : bool
        Also return the logits as the last output.

    Returns
    -------
    keras.Model
        Outputs ``[layer_1 (N, ...), ..., layer_k (N, ...), logits (N, classes)]``
        (logits only when ``logits=True``). As always in Keras, a model with
        a single output returns a tensor, not a one-element list.

    Examples
    --------
    >>> fm = feature_model(model, "post_relu")  # doctest: +SKIP
    >>> feature_maps, logits = fm(images)  # (N, 2, 2, 2048), (N, 3)  # doctest: +SKIP
    """
    model = check_model(model, kind=None)
    logits = check_flag(logits, "logits")
    targets = [resolve_layer(model, layer, name="layers") for layer in _as_list(layers)]
    if not targets and not logits:
        raise ValueError("layers is empty and logits=False: the feature model would have no outputs")
    if logits:
        head, softmax = logits_layer_and_softmax(model)
        if softmax is not None:
            warnings.warn(
                f"model {model.name!r} ends in a softmax ({head.name!r}); labkit uses the "
                f"pre-softmax logits instead (the model itself is not changed)",
                UserWarning,
                stacklevel=2,
            )
    key = ("feature_model", tuple(id(layer) for layer in targets), logits)
    return cached(model, key, lambda model: _build_feature_model(model, targets, logits))


# --- running it -------------------------------------------------------------------


def activations(
    model: keras.Model,
    images,
    layers: LayerRef | Sequence[LayerRef],
    *,
    batch_size: int = 64,
) -> np.ndarray | list[np.ndarray]:
    """Outputs of the chosen layers for a batch of images.

    Parameters
    ----------
    model : keras.Model
        The model; layers inside nested models are allowed.
    images : array-like
        (N, H, W, C) float32 batch or one (H, W, C) image, already preprocessed.
    layers : str, int, Layer, or a list/tuple of them
        One layer gives one array; a list/tuple gives a list of arrays.
    batch_size : int
        Images per forward pass.

    Returns
    -------
    np.ndarray or list[np.ndarray]
        Each (N, ...) for a batch, e.g. (N, h, w, K) for a conv layer; for one
        (H, W, C) image the leading N axis is dropped: (h, w, K).

    Examples
    --------
    >>> maps = activations(model, images, "conv1")  # (N, 62, 62, 8)  # doctest: +SKIP
    >>> first, last = activations(model, images[0], ["conv1", "conv2"])  # doctest: +SKIP
    >>> first.shape, last.shape  # one image in: no N axis  # doctest: +SKIP
    ((62, 62, 8), (60, 60, 16))
    """
    model = check_model(model)
    refs = _as_list(layers)
    if not refs:
        raise ValueError("layers is empty; pass a layer name, index or object, or a list of them")
    batch, single = as_images(images, model=model)
    batch_size = check_batch_size(batch_size, len(batch))
    outputs = predict_batched(feature_model(model, refs, logits=False), batch, batch_size=batch_size)
    if single:
        outputs = [output[0] for output in outputs]
    return outputs if isinstance(layers, (list, tuple)) else outputs[0]
