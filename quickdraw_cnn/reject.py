"""The reject option of 09_not_sure.ipynb for the pads: the calibrated "not sure" network and its rule."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np

from quickdraw_cnn.errors import MissingArtifactError, ParameterError
from quickdraw_cnn.files import replacing_path, write_json

NAME = "origin-not-sure"  # the configuration's name: model_<NAME>.keras, .onnx, .onnx.json
RULE_FILE = "not_sure.json"
NOT_SURE = "not sure"
MADE_BY = "09_not_sure.ipynb"


def check_categories(categories, other_categories, unseen_categories):
    """Stop unless the two categories, "other"'s training ones and the unseen ones share no category.

    Used by 09_not_sure.ipynb.
    """
    groups = {"categories": categories, "other_categories": other_categories}
    groups["unseen_categories"] = unseen_categories
    for a, b in itertools.combinations(groups, 2):
        if shared := sorted(set(groups[a]) & set(groups[b])):
            raise ParameterError(f"{a} and {b} share {shared}: give each category to one list only")


def decide(probabilities, rule):
    """The answer for each row of ``probabilities`` (N, 3), in ``rule["categories"]``'s order: the likelier
    category, or "not sure" when 1 - p(other) is below ``rule["threshold"]``.

    Explained in 09_not_sure.ipynb (used by the JupyterLab pad, quickdraw_cnn.sketchpad).
    """
    p = np.atleast_2d(np.asarray(probabilities, dtype=np.float64))
    first, second = rule["categories"][:2]
    sure = 1.0 - p[:, 2] >= rule["threshold"]
    return [(first if a >= b else second) if s else NOT_SURE for a, b, s in zip(p[:, 0], p[:, 1], sure)]


def calibrated(model, temperature):
    """The three-logit network turned into p = softmax(z / T): the same layers, then z / T and a softmax.

    Explained in 09_not_sure.ipynb
    """
    import keras

    if not float(temperature) > 0:
        raise ParameterError(f"a temperature is a number above 0, got {temperature!r}")
    scale = keras.layers.Rescaling(1.0 / float(temperature), name="temperature")
    stack = [keras.Input(shape=model.input_shape[1:]), *model.layers, scale, keras.layers.Softmax()]
    return keras.Sequential(stack, name=NAME)


def save(artifacts_dir, model, temperature, threshold, categories):
    """Save the calibrated network for both pads: ``model_origin-not-sure.keras`` (JupyterLab's), the ONNX
    file and its description with the rule (the pages'), and ``not_sure.json``.

    Explained in 09_not_sure.ipynb
    """
    from quickdraw_cnn import export

    categories = [str(c) for c in categories][:2] + ["other"]
    rule = {"categories": categories, "threshold": float(threshold), "temperature": float(temperature)}
    rule["score"] = "1 - p(other)"
    net = calibrated(model, temperature)
    with replacing_path(Path(artifacts_dir) / f"model_{NAME}.keras") as tmp:
        net.save(tmp)
    export.save_for_page(artifacts_dir, NAME, net, categories, made_by=MADE_BY, reject=rule)
    write_json(Path(artifacts_dir) / RULE_FILE, rule)
    return rule


def load(artifacts_dir):
    """The calibrated network and its rule, as ``save`` wrote them, or MissingArtifactError.

    Used by the JupyterLab pad (quickdraw_cnn.sketchpad).
    """
    import keras

    path = Path(artifacts_dir) / RULE_FILE
    network = Path(artifacts_dir) / f"model_{NAME}.keras"
    if not (path.is_file() and network.is_file()):
        raise MissingArtifactError(f"no 'not sure' network in {artifacts_dir}: run {MADE_BY} first")
    return keras.models.load_model(network), json.loads(path.read_text())


def save_metrics(artifacts_dir, figures):
    """Put ``figures`` under ``not_sure`` in the run's metrics.json, keeping everything else there.

    Explained in 09_not_sure.ipynb
    """
    path = Path(artifacts_dir) / "metrics.json"
    metrics = json.loads(path.read_text()) if path.is_file() else {}
    metrics["not_sure"] = figures
    write_json(path, metrics)
    return path
