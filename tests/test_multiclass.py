"""Chapter 08's library (quickdraw_cnn/multiclass.py); its multi-worker training is tested in
test_workers.py.

The data are generated drawings of three categories in a temporary folder, so these tests run the
same with or without the real sample.
"""

import numpy as np
import pytest
from synthetic import draw_synthetic

import helpers
from quickdraw_cnn import multiclass
from quickdraw_cnn.data import check_categories
from quickdraw_cnn.errors import DataError, ParameterError

CLASSES = ["apple", "banana", "rainbow"]
ROWS = 300


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """apple.npy, banana.npy and rainbow.npy (generated), plus a short cat.npy of 50 rows."""
    path = tmp_path_factory.mktemp("three")
    for seed, kind in enumerate(CLASSES):
        np.save(path / f"{kind}.npy", draw_synthetic(kind, ROWS, seed=10 + seed))
    np.save(path / "cat.npy", draw_synthetic("apple", 50, seed=20))
    return path


def as_rows(ds):
    """All (rows, labels) of a stream, as (N, 784) uint8 and (N,) int arrays."""
    x, y = zip(*[(a.numpy().reshape(-1, 784), np.ravel(b.numpy())) for a, b in ds])
    return np.concatenate(x), np.concatenate(y)


def test_streamed_drawings_and_labels_equal_the_in_memory_ones(folder):
    x, y = multiclass.load_many(CLASSES, 70, offset=13, data_dir=folder)
    assert x.shape == (210, 784) and np.array_equal(y, np.repeat([0, 1, 2], 70))
    for i, name in enumerate(CLASSES):  # labels follow the order of the classes list
        assert np.array_equal(x[y == i], np.load(folder / f"{name}.npy")[13:83])
    x_order, y_order = multiclass.interleaved(x, y, 3)
    plain = multiclass.stream(CLASSES, 70, 13, folder, batch_size=None, shuffle_buffer=0, scaled=False)
    xs, ys = as_rows(plain)
    assert np.array_equal(xs, x_order) and np.array_equal(ys, y_order)  # same drawings, same order
    mixed = multiclass.stream(CLASSES, 70, 13, folder, batch_size=32, shuffle_buffer=50, seed=3, scaled=False)
    xm, ym = as_rows(mixed)
    assert not np.array_equal(ym, y_order)  # shuffled ...
    assert sorted(zip(ym.tolist(), map(bytes, xm))) == sorted(zip(y.tolist(), map(bytes, x)))  # ... same set
    images, labels = next(iter(multiclass.stream(CLASSES, 70, 13, folder, batch_size=32)))
    assert images.shape == (32, 28, 28, 1) and images.dtype.name == "float32" and labels.dtype.name == "int64"
    assert float(np.min(images)) >= 0.0 and float(np.max(images)) <= 1.0


@pytest.mark.parametrize(
    "classes, message",
    [
        (["apple"], "at least 2 categories"),
        (["apple", "banana", "apple"], "appear more often"),
        (["apple", "bananna"], "'bananna' is not a Quick, Draw! category (did you mean 'banana'"),
        ("apple", "must be a list"),
        (["apple", 3], "must be a list"),
    ],
)
def test_bad_classes_stop_at_once_with_a_clear_message(folder, classes, message):
    for call in (
        lambda: check_categories(classes, min_count=2),
        lambda: multiclass.load_many(classes, 10, data_dir=folder),
        lambda: multiclass.stream(classes, 10, data_dir=folder),
    ):
        with pytest.raises(ParameterError) as err:
            call()
        assert message in str(err.value)


def test_a_category_with_fewer_rows_than_asked_stops_before_anything_is_read(folder):
    for call in (
        lambda: multiclass.load_many(["apple", "cat"], 60, data_dir=folder),
        lambda: multiclass.stream(["apple", "cat"], 60, data_dir=folder),
        lambda: multiclass.load_many(["apple", "banana"], 100, offset=250, data_dir=folder),
    ):
        with pytest.raises(DataError, match="Ask for fewer rows"):
            call()
    with pytest.raises(DataError) as err:
        multiclass.category_files(["cat", "apple", "banana"], 290, offset=20, data_dir=folder)
    assert all(f"'{name}' has" in str(err.value) for name in ("cat", "apple", "banana"))  # all named at once


def test_two_classes_keep_the_origin_network_and_more_get_a_softmax():
    origin = helpers.build_cnn()
    assert origin.count_params() == 24_447 and origin.output_shape == (None, 1)
    assert origin.layers[-1].activation.__name__ == "sigmoid" and origin.loss == "binary_crossentropy"
    many = helpers.build_cnn(classes=14)
    assert many.output_shape == (None, 14) and many.count_params() == 24_447 - 65 + 14 * 65
    assert many.layers[-1].activation.__name__ == "softmax" and many.loss == "sparse_categorical_crossentropy"
    with pytest.raises(ValueError, match="classes"):
        helpers.build_cnn(classes=1)


def test_top_k_accuracy_and_confusions():
    p = np.array([[0.6, 0.3, 0.1], [0.2, 0.3, 0.5], [0.1, 0.5, 0.4], [0.2, 0.4, 0.4]])
    y = np.array([0, 1, 2, 0])
    assert multiclass.top_k_accuracy(p, y, 1) == 0.25
    assert multiclass.top_k_accuracy(p, y, 2) == 0.75 and multiclass.top_k_accuracy(p, y, 3) == 1.0
    m = multiclass.confusion(y, p.argmax(axis=1), 3)
    assert np.allclose(m.sum(axis=1), 1) and m[0, 0] == 0.5 and m[2, 1] == 1.0
    pairs = multiclass.most_confused(m, ["a", "b", "c"], top=2)
    assert pairs[0][:2] == ("b", "c") and pairs[0][3] == 1.0


def test_the_learning_rate_warms_up_then_falls_along_a_cosine_to_zero():
    rate = multiclass.learning_rate_schedule(4e-3, 200, warmup=0.1)
    at = {s: float(rate(s)) for s in (0, 10, 20, 110, 200)}
    assert np.isclose(at[0], 4e-4) and np.isclose(at[10], 4e-4 + 0.5 * 3.6e-3)  # linear warm-up
    assert np.isclose(at[20], 4e-3) and np.isclose(at[110], 2e-3, rtol=1e-4)  # peak, then half-way down
    assert at[200] < 1e-9
    assert multiclass.learning_rate_schedule(1e-3, 200, schedule="constant") == 1e-3
    with pytest.raises(ValueError, match="cosine"):
        multiclass.learning_rate_schedule(1e-3, 200, schedule="linear")


def test_the_wide_network_counts_its_weights_as_chapter_08_does():
    net = multiclass.build_wide(14, **multiclass.WIDE)
    # convolutions without bias + 4 per channel (batch normalisation), dense 864 -> 128 likewise, output
    conv = 9 * 1 * 24 + 4 * 24 + 9 * 24 * 48 + 4 * 48 + 9 * 48 * 96 + 4 * 96
    assert net.count_params() == conv + 3 * 3 * 96 * 128 + 4 * 128 + 129 * 14
    assert net.output_shape == (None, 14)
    assert multiclass.build_wide(14).count_params() == net.count_params()  # the defaults are WIDE's
    names = [type(layer).__name__ for layer in net.layers]
    block = ["Conv2D", "MaxPooling2D", "BatchNormalization", "ReLU"]  # pooled before normalised
    assert names[2:14] == block * 3, names
    plain = multiclass.build_wide(2, batch_norm=False, augment=False, dropout=0)
    assert plain.output_shape == (None, 1)  # two classes: one sigmoid unit, as the origin
    names = [type(layer).__name__ for layer in plain.layers]
    assert "BatchNormalization" not in names and "RandomFlip" not in names and "Dropout" not in names


def test_the_mirror_average_answers_the_same_for_a_drawing_and_its_mirror(folder):
    x, y = multiclass.load_many(CLASSES, 60, data_dir=folder)
    images = helpers.to_images(x)
    net, history = multiclass.train_wide(images, y, 1, seed=0, batch_size=64, **multiclass.WIDE)
    assert len(history["loss"]) == 1 and np.isfinite(history["loss"]).all()
    p = multiclass.predict_mirrored(net, images[:20])
    assert np.allclose(p, multiclass.predict_mirrored(net, images[:20, :, ::-1]), atol=1e-6)
    assert np.allclose(p.sum(axis=1), 1, atol=1e-5)
    assert not np.allclose(p, multiclass.predict(net, images[:20]), atol=1e-6)  # not one look


def test_a_wide_training_for_run_scores_both_ways_and_keeps_the_network(folder):
    x, y = multiclass.load_many(CLASSES, 60, data_dir=folder)
    data = {"train": (helpers.to_images(x), y), "test": (helpers.to_images(x[:30]), y[:30])}
    change = {"batch_norm": False, "batch_size": 64}
    result = multiclass.wide_and_score("train", 1, 0, ["test"], change=change, onnx=True, data=data)
    assert np.array(result["test"]).shape == (30, 3) and np.array(result["test_single"]).shape == (30, 3)
    assert (
        result["params"]
        == multiclass.build_wide(3, **(multiclass.WIDE | {"batch_norm": False})).count_params()
    )
    assert isinstance(result["onnx"], str) and len(result["onnx"]) > 1000
    assert 0 <= multiclass.top_share(result, y[:30], 1) <= multiclass.top_share(result, y[:30], 3) == 1.0


def test_the_wide_search_holds_out_the_last_rows_of_each_class_and_never_reads_test_rows():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "tools" / "search_wide.py"
    spec = importlib.util.spec_from_file_location("search_wide", path)
    search = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(search)
    x, y = np.arange(30)[:, None] * np.ones((1, 784), np.uint8), np.repeat(np.arange(3), 10)  # row i: value i
    (x_fit, y_fit), (x_val, y_val) = search.split_rows(x, y, 3, 10, 2)
    assert sorted(x_val[:, 0]) == [8, 9, 18, 19, 28, 29] and list(y_val) == [0, 0, 1, 1, 2, 2]
    assert len(y_fit) == 24 and not set(x_fit[:, 0]) & set(x_val[:, 0])
    assert np.array_equal(np.bincount(y_fit), [8, 8, 8])
