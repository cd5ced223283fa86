"""The trained networks as ONNX files, for the drawing pad of the series' web pages (onnxruntime-web)."""

from __future__ import annotations

import base64
import re
import tempfile
import warnings
from pathlib import Path

from quickdraw_cnn.errors import ParameterError
from quickdraw_cnn.files import write_bytes, write_json

INPUT_NAME = "image"  # the ONNX input's name (Keras' own default changes from process to process)
INPUT_SCALE = 1 / 255  # what the page multiplies grey values 0..255 by, as helpers.scale does
IMAGE_SHAPE = (28, 28, 1)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Augmentation changes drawings in training only; at inference these layers pass them through, and
# the converter has no ONNX operator for their random ops: the exported network leaves them out.
AUGMENTATION = {f"Random{k}" for k in ("Flip", "Rotation", "Translation", "Zoom", "Contrast", "Brightness")}


def inference_network(model):
    """The model without its augmentation layers (which do nothing at inference), or the model itself.

    Used by onnx_bytes.
    """
    import keras

    kept = [layer for layer in model.layers if type(layer).__name__ not in AUGMENTATION]
    if len(kept) == len(model.layers):
        return model
    if not isinstance(model, keras.Sequential):
        raise ParameterError(
            f"{model.name} has augmentation layers and is not a Sequential model: build the "
            "network without them (they do nothing at inference) and export that"
        )
    return keras.Sequential([keras.Input(shape=model.input_shape[1:]), *kept], name=model.name)


def onnx_bytes(model):
    """A trained Keras model with (None, 28, 28, 1) input as the bytes of an ONNX file (input ``image``).

    Used by save_for_page.
    """
    shape = tuple(model.input_shape)
    if shape[1:] != IMAGE_SHAPE:
        raise ParameterError(f"the pad feeds (N, 28, 28, 1) images, this model takes {shape}")
    try:
        import onnx  # noqa: F401  (model.export needs both)
        import tf2onnx  # noqa: F401
    except ImportError as err:
        raise ParameterError(
            f"exporting to ONNX needs the packages onnx and tf2onnx ({err.name} is missing): "
            "pip install -r requirements.txt"
        ) from err
    import tensorflow as tf

    spec = [tf.TensorSpec((None, *IMAGE_SHAPE), tf.float32, name=INPUT_NAME)]
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # Keras' converter asks NumPy for np.object
        path = Path(tmp) / "model.onnx"
        inference_network(model).export(str(path), format="onnx", input_signature=spec, verbose=False)
        return path.read_bytes()


def onnx_text(model):
    """The ONNX file of a trained Keras model as base64 text (JSON-able, for the experiment cache).

    Used by save_for_page (a network kept as text, e.g. in the experiment cache).
    """
    return base64.b64encode(onnx_bytes(model)).decode("ascii")


def _output_units(data):
    """Output units and input name of an ONNX file's bytes (ParameterError if it is not one)."""
    import onnx

    try:
        graph = onnx.load_from_string(data).graph
        units = graph.output[0].type.tensor_type.shape.dim[-1].dim_value
        return int(units), graph.input[0].name
    except Exception as err:  # noqa: BLE001  (protobuf's decode errors have no common public base)
        raise ParameterError(f"not an ONNX network of onnx_text / onnx_bytes: {type(err).__name__}") from err


def save_for_page(artifacts_dir, name, model, categories, made_by=None, reject=None):
    """Save a trained network for the web pages' pad: ``model_<name>.onnx`` and ``model_<name>.onnx.json``.

    Explained in 04_training.ipynb (used by 08 too, for the pages of tools/build_html.py).
    """
    if not NAME.match(str(name)):
        raise ParameterError(
            f"a configuration's name is letters, digits, '_', '-' or '.' (it names a file), got {name!r}"
        )
    categories = [str(c) for c in categories]
    if len(categories) < 2 or len(set(categories)) != len(categories):
        raise ParameterError(f"a network tells at least two different categories apart, got {categories}")
    if isinstance(model, (str, bytes)):
        try:
            data = base64.b64decode(model, validate=True) if isinstance(model, str) else model
        except ValueError as err:
            raise ParameterError("a string model must be the base64 text of onnx_text") from err
        units, input_name = _output_units(data)
        if input_name != INPUT_NAME:
            raise ParameterError(
                f"the ONNX network's input is {input_name!r}, not {INPUT_NAME!r}: use onnx_text"
            )
    else:
        units, data = int(model.output_shape[-1]), None
    if units != (1 if len(categories) == 2 else len(categories)):
        raise ParameterError(
            f"the network has {units} output units, which does not fit {len(categories)} categories "
            "(one sigmoid unit for two, else one softmax unit per category)"
        )
    data = onnx_bytes(model) if data is None else data
    path = Path(artifacts_dir) / f"model_{name}.onnx"
    write_bytes(path, data)
    about = {"configuration": str(name), "file": path.name, "categories": categories}
    about["output"] = "sigmoid" if units == 1 else "softmax"
    about |= {"input": INPUT_NAME, "input_scale": INPUT_SCALE, "made_by": made_by}
    about |= {"reject": reject} if reject else {}
    write_json(path.with_name(path.name + ".json"), about)
    return path
