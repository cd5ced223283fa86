"""Chapters 03 and 04 write the lesson's Keras code themselves: 03's `keras.Sequential` must be the
network that `helpers.build_origin` gives the later chapters, and 04's training recipe (seed,
build, compile, fit with an EpochTimer, history_record) must be what `helpers.train` does."""

from pathlib import Path

import keras
import nbformat
import numpy as np
import pytest
import tensorflow as tf

import helpers

REPO_DIR = Path(__file__).resolve().parents[1]
CHAPTER_03 = REPO_DIR / "notebooks" / "03_cnn_architecture.ipynb"
CHAPTER_04 = REPO_DIR / "notebooks" / "04_training.ipynb"


def code_cells(path):
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def chapter_03_network(filters):
    """The model that 03's own `keras.Sequential` cell builds, for a value of its parameter."""
    (cell,) = [src for src in code_cells(CHAPTER_03) if src.startswith("model = keras.Sequential(")]
    namespace = {"keras": keras, "filters": filters}
    exec(cell, namespace)
    return namespace["model"]


def layer_facts(model):
    keys = ("filters", "kernel_size", "strides", "padding", "activation", "pool_size", "units")
    facts = []
    for layer in model.layers:
        config = layer.get_config()
        settings = {k: config[k] for k in keys if k in config}
        facts.append((type(layer).__name__, settings, tuple(layer.output.shape), layer.count_params()))
    return facts


@pytest.mark.parametrize("filters", [14, 8])
def test_chapter_03_builds_the_librarys_origin_network(filters):
    chapter, library = chapter_03_network(filters), helpers.build_origin(filters)
    assert layer_facts(chapter) == layer_facts(library)
    assert chapter.input_shape == library.input_shape == (None, 28, 28, 1)
    assert chapter.count_params() == library.count_params()
    if filters == 14:
        assert chapter.count_params() == 24_447


def test_the_comparison_would_catch_another_network():
    chapter = chapter_03_network(14)
    assert layer_facts(chapter) != layer_facts(helpers.build_cnn(dense=32))
    assert layer_facts(chapter) != layer_facts(helpers.build_origin(14, "same"))


def test_chapter_04_writes_compile_fit_and_the_gradient_tape_loop():
    code = "\n".join(code_cells(CHAPTER_04))
    for piece in (".compile(", ".fit(", "tf.GradientTape()", "apply_gradients", "helpers.EpochTimer()"):
        assert piece in code, piece
    assert "batch_size=batch_size" in code and "helpers.train(" not in code


def test_set_seed_turns_on_op_determinism():
    from tensorflow.python.framework import config  # the public API can set it, not read it

    helpers.set_seed(0)
    assert config.is_op_determinism_enabled()
    a = tf.random.uniform((3,)).numpy()
    helpers.set_seed(0)
    assert np.array_equal(a, tf.random.uniform((3,)).numpy())


def test_chapter_04s_recipe_is_what_train_does(data_dir):
    """The training cell's steps, written out as 04 writes them, give the weights and the history
    of helpers.train on the same drawings and seed."""
    x_train, y_train = helpers.load_classes(["apple", "banana"], 60, data_dir=data_dir)
    x_train = helpers.to_images(x_train)
    model, history = helpers.train("origin", x_train, y_train, 2, validation_fraction=0.2, seed=3, verbose=0)
    x_fit, y_fit, val = helpers.validation_slice(x_train, y_train, 0.2, 3)
    helpers.set_seed(3)
    net = helpers.build_cnn(name="origin", **helpers.CONFIGS["origin"])
    net.compile(optimizer=keras.optimizers.Adam(), loss="binary_crossentropy", metrics=["accuracy"])
    timer = helpers.EpochTimer()
    validation = (helpers.scale(val[0]), val[1])
    fit = net.fit(
        helpers.scale(x_fit), y_fit, epochs=2, validation_data=validation, callbacks=[timer], verbose=0
    )
    record = helpers.history_record(fit, timer, "origin", len(y_fit), len(val[1]), 32, 3)
    for a, b in zip(model.get_weights(), net.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert record["loss"] == history["loss"] and record["val_accuracy"] == history["val_accuracy"]
    assert len(record["epoch_seconds"]) == record["epochs_run"] == 2
    assert 0 < sum(record["epoch_seconds"]) <= record["fit_seconds"] + 1e-6
    assert set(record) == set(history)
