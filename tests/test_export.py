"""quickdraw_cnn.export: trained networks saved as ONNX for the pages' pad answer as Keras does
(onnxruntime against ``model.predict`` on real drawings, max difference under 1e-5), with the
input named ``image``, a description beside each file, and nothing half-written on failure."""

import base64
import json

import numpy as np
import pytest

import helpers
from quickdraw_cnn import export
from quickdraw_cnn.data import load_drawings
from quickdraw_cnn.errors import ParameterError, QuickDrawError

pytestmark = pytest.mark.slow  # TensorFlow, a few short trainings and conversions: about 20 s

CATEGORIES = ["apple", "banana", "rainbow"]  # in the real sample and in the generated one


@pytest.fixture(scope="module")
def drawings(data_dir):
    """300 drawings of each category as (N, 28, 28, 1) uint8 images, and their labels."""
    x = np.concatenate([load_drawings(c, 300, data_dir=data_dir) for c in CATEGORIES])
    y = np.repeat(np.arange(len(CATEGORIES)), 300)
    return helpers.to_images(x), y


def trained(model, x, y, binary):
    helpers.set_seed(0)
    labels = (y == 0).astype(int) if binary else y
    model.fit(helpers.scale(x), labels, epochs=1, batch_size=64, verbose=0)
    return model


def with_normalisation(classes):
    """Rescaling, BatchNormalization and Dropout: layers that act differently in training."""
    import keras
    from keras import layers

    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Rescaling(2.0, offset=-1.0),
            layers.Conv2D(8, 3, activation="relu"),
            layers.BatchNormalization(),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(1 if classes == 2 else classes, activation="sigmoid" if classes == 2 else "softmax"),
        ]
    )
    model.compile(
        optimizer="adam", loss="binary_crossentropy" if classes == 2 else "sparse_categorical_crossentropy"
    )
    return model


NETWORKS = {
    "origin": lambda: helpers.build_cnn(),
    "softmax14": lambda: helpers.build_cnn(classes=14),
    "improved": lambda: helpers.build_cnn(**helpers.CONFIGS["improved"]),  # augmentation layers
    "normalised": lambda: with_normalisation(2),
}


@pytest.mark.parametrize("name", NETWORKS)
def test_onnxruntime_answers_as_keras_does(name, drawings, tmp_path):
    import onnxruntime

    x, y = drawings
    model = NETWORKS[name]()
    binary = model.output_shape[-1] == 1
    categories = ["apple", "not apple"] if binary else [f"class {k}" for k in range(14)]
    # the 14-class network learns 3 of its classes here: enough to move every weight from its start
    model = trained(model, x, y, binary)
    path = export.save_for_page(tmp_path, name, model, categories, made_by="a test")
    assert path == tmp_path / f"model_{name}.onnx"
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"]
    rows = np.random.default_rng(0).choice(len(x), 200, replace=False)
    ours = session.run(None, {"image": helpers.scale(x[rows])})[0]
    keras_p = model.predict(helpers.scale(x[rows]), verbose=0)
    assert ours.shape == keras_p.shape
    assert np.abs(ours - keras_p).max() < 1e-5
    assert keras_p.std() > 1e-4  # the answers differ from drawing to drawing: a real comparison
    info = json.loads((tmp_path / f"model_{name}.onnx.json").read_text())
    assert info == {
        "configuration": name,
        "file": path.name,
        "categories": categories,
        "output": "sigmoid" if binary else "softmax",
        "input": "image",
        "input_scale": 1 / 255,
        "made_by": "a test",
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, path.name + ".json"]  # no temporaries


def test_the_check_would_catch_another_network(drawings, tmp_path):
    """The comparison can fail: a network trained further answers differently from the file."""
    import onnxruntime

    x, y = drawings
    model = trained(helpers.build_cnn(), x, y, True)
    path = export.save_for_page(tmp_path, "origin", model, ["apple", "banana"])
    model = trained(model, x, y, True)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ours = session.run(None, {"image": helpers.scale(x[:100])})[0]
    assert np.abs(ours - model.predict(helpers.scale(x[:100]), verbose=0)).max() > 1e-5


def test_bad_names_categories_and_shapes_are_refused_in_words(tmp_path):
    import keras

    model = helpers.build_cnn()
    for name in ("../x", "", "a b"):
        with pytest.raises(ParameterError, match="name"):
            export.save_for_page(tmp_path, name, model, ["apple", "banana"])
    with pytest.raises(ParameterError, match="at least two different"):
        export.save_for_page(tmp_path, "origin", model, ["apple", "apple"])
    with pytest.raises(ParameterError, match="1 output units.*3 categories"):
        export.save_for_page(tmp_path, "origin", model, ["apple", "banana", "rainbow"])
    wide = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    with pytest.raises(ParameterError, match="28, 28, 1"):
        export.save_for_page(tmp_path, "wide", wide, ["apple", "banana"])
    assert issubclass(ParameterError, QuickDrawError)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_export_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    model = helpers.build_cnn()
    path = export.save_for_page(tmp_path, "origin", model, ["apple", "banana"])
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("the converter failed")

    monkeypatch.setattr(export, "onnx_bytes", broken)
    with pytest.raises(RuntimeError):
        export.save_for_page(tmp_path, "origin", model, ["apple", "banana"])
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, path.name + ".json"]


def test_a_network_kept_as_text_is_saved_as_the_same_file(drawings, tmp_path):
    """onnx_text (for the experiment cache, which keeps JSON) then save_for_page: the same file."""
    x, y = drawings
    model = trained(helpers.build_cnn(classes=3), x, y, False)
    text = export.onnx_text(model)
    json.dumps(text)
    path = export.save_for_page(tmp_path / "a", "three", text, CATEGORIES)
    assert path.read_bytes() == base64.b64decode(text)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ours = session.run(None, {"image": helpers.scale(x[:50])})[0]
    assert np.abs(ours - model.predict(helpers.scale(x[:50]), verbose=0)).max() < 1e-5
    assert json.loads(path.with_name(path.name + ".json").read_text())["output"] == "softmax"
    with pytest.raises(ParameterError, match="3 output units.*2 categories"):
        export.save_for_page(tmp_path / "b", "three", text, ["apple", "banana"])
    with pytest.raises(ParameterError, match="not an ONNX network"):
        export.save_for_page(tmp_path / "b", "three", "bm90IG9ubng=", CATEGORIES)
    with pytest.raises(ParameterError, match="base64"):
        export.save_for_page(tmp_path / "b", "three", "not base64 !", CATEGORIES)
    assert not (tmp_path / "b").exists()
