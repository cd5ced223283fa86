"""quickdraw_cnn.reject: the rule of 09 (answer, or "not sure"), the calibrated network the pads run
(softmax(z / T) of the three logits, in Keras and as ONNX within 1e-5), saved and loaded, its
figures merged into metrics.json, and category lists that overlap refused in words."""

import json

import numpy as np
import pytest

import helpers
from quickdraw_cnn import reject, sketchpad
from quickdraw_cnn.data import load_drawings
from quickdraw_cnn.errors import MissingArtifactError, ParameterError

RULE = {"categories": ["apple", "banana", "other"], "threshold": 0.6, "temperature": 2.0}


def test_the_rule_answers_the_likelier_category_or_not_sure():
    p = [[0.7, 0.2, 0.1], [0.1, 0.55, 0.35], [0.3, 0.29, 0.41], [0.5, 0.1, 0.4], [0.0, 0.0, 1.0]]
    assert reject.decide(p, RULE) == ["apple", "banana", "not sure", "apple", "not sure"]
    assert reject.decide([0.2, 0.7, 0.1], RULE) == ["banana"]  # one drawing


@pytest.mark.parametrize(
    "other, unseen, words",
    [
        (["cat", "apple"], ["dog"], "categories and other_categories share ['apple']"),
        (["cat"], ["banana"], "categories and unseen_categories share ['banana']"),
        (["cat", "dog"], ["dog", "fish"], "other_categories and unseen_categories share ['dog']"),
    ],
)
def test_a_category_in_two_lists_is_refused(other, unseen, words):
    with pytest.raises(ParameterError, match=words.replace("[", r"\[").replace("]", r"\]")):
        reject.check_categories(["apple", "banana"], other, unseen)
    reject.check_categories(["apple", "banana"], ["cat"], ["dog"])  # disjoint: fine


def test_a_temperature_must_be_above_zero():
    for t in (0, -1.0, float("nan")):
        with pytest.raises(ParameterError, match="above 0"):
            reject.calibrated(None, t)


def test_metrics_are_merged_into_metrics_json(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"model": "origin", "not_sure": {"old": 1}}))
    reject.save_metrics(tmp_path, {"test": {"auroc": 0.9}})
    assert json.loads((tmp_path / "metrics.json").read_text()) == {
        "model": "origin",
        "not_sure": {"test": {"auroc": 0.9}},
    }
    (tmp_path / "new").mkdir()  # a run folder where 05 did not run: a new metrics.json
    reject.save_metrics(tmp_path / "new", {"test": {}})
    assert json.loads((tmp_path / "new" / "metrics.json").read_text()) == {"not_sure": {"test": {}}}


def test_loading_without_a_saved_network_names_the_chapter(tmp_path):
    with pytest.raises(MissingArtifactError, match="run 09_not_sure.ipynb first"):
        reject.load(tmp_path)
    assert sketchpad.careful_network(tmp_path, ["apple", "banana"]) is None


@pytest.fixture(scope="module")
def three_way(data_dir):
    """A network with three logits (apple, banana, other = rainbow), trained for one epoch."""
    import keras

    x = helpers.to_images(
        np.concatenate([load_drawings(c, 200, data_dir=data_dir) for c in ("apple", "banana", "rainbow")])
    )
    y = np.repeat(np.arange(3), 200)
    helpers.set_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(3),
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(helpers.scale(x), y, epochs=1, batch_size=64, verbose=0)
    return model, x


@pytest.mark.slow
def test_the_saved_network_is_softmax_of_logits_over_t_in_keras_and_onnx(three_way, tmp_path):
    import onnxruntime

    model, x = three_way
    rule = reject.save(tmp_path, model, 1.7, 0.5, ["apple", "banana"])
    assert rule == {**RULE, "threshold": 0.5, "temperature": 1.7, "score": "1 - p(other)"}
    z = model.predict(helpers.scale(x), verbose=0)
    e = np.exp((z - z.max(axis=1, keepdims=True)) / 1.7)
    by_hand = e / e.sum(axis=1, keepdims=True)
    loaded, loaded_rule = reject.load(tmp_path)
    keras_p = loaded.predict(helpers.scale(x), verbose=0)
    assert loaded_rule == rule and np.abs(keras_p - by_hand).max() < 1e-5
    assert keras_p.std() > 1e-3  # different drawings, different answers: a real comparison
    path = tmp_path / f"model_{reject.NAME}.onnx"
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert np.abs(session.run(None, {"image": helpers.scale(x)})[0] - keras_p).max() < 1e-5
    info = json.loads(path.with_name(path.name + ".json").read_text())
    assert info["reject"] == rule and info["categories"] == rule["categories"]
    assert info["output"] == "softmax" and info["made_by"] == "09_not_sure.ipynb"


@pytest.mark.slow
def test_the_jupyterlab_pad_says_what_the_rule_says(three_way, tmp_path):
    model, _ = three_way
    rule = reject.save(tmp_path, model, 1.0, 0.999999, ["apple", "banana"])  # almost all "not sure"
    helpers.set_seed(0)
    pad = sketchpad.SketchPad(tmp_path, models={"origin": helpers.build_origin()})
    t = np.linspace(0, 2 * np.pi, 40)
    pad.strokes = [[(140 + 80 * np.cos(t)).tolist(), (140 + 80 * np.sin(t)).tolist()]]
    decision = pad.result["decision"]
    p = [decision["probabilities"][c] for c in rule["categories"]]
    assert decision["configuration"] == reject.NAME
    assert decision["answer"] == reject.decide(p, rule)[0] == "not sure"
    reject.save(tmp_path, model, 1.0, 0.0, ["apple", "banana"])  # never "not sure"
    pad = sketchpad.SketchPad(tmp_path, models={"origin": helpers.build_origin()})
    pad.strokes = [[(140 + 80 * np.cos(t)).tolist(), (140 + 80 * np.sin(t)).tolist()]]
    assert pad.result["decision"]["answer"] in ("apple", "banana")
    other = sketchpad.SketchPad(tmp_path, ["cat", "dog"], models={"origin": helpers.build_origin()})
    other.strokes = pad.strokes
    assert other.result["decision"] is None  # 09's network tells apples from bananas, not cats from dogs


@pytest.mark.slow
def test_the_smoke_run_of_09_writes_its_figures_and_its_network(smoke_run, smoke_parameters):
    """09 at the smoke parameters: not_sure in metrics.json, for the test rows and the extra
    sample, counted as the parameters say; the network for both pads beside it."""
    run_dir, _ = smoke_run
    artifacts = run_dir / "artifacts"
    figures = json.loads((artifacts / "metrics.json").read_text())["not_sure"]
    split = helpers.load_split(artifacts)
    unseen = 6 * smoke_parameters["unseen_categories_n"]  # 09's six unseen categories by default
    assert figures["test"]["n"] == len(split["y_test"]) + unseen
    assert figures["independent"]["n"] == 8 * smoke_parameters["ood_n"]  # apple, banana and six more
    for part in ("test", "independent"):
        assert 0 <= figures[part]["fpr_at_95"] <= 1 and 0.5 <= figures[part]["accuracy"] <= 1
        assert 0 <= figures[part]["auroc"] <= 1
    network, rule = reject.load(artifacts)
    assert rule == figures["rule"] and network.output_shape == (None, 3)
    info = json.loads((artifacts / f"model_{reject.NAME}.onnx.json").read_text())
    assert info["reject"] == rule
