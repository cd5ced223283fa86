"""Chapter 08's library (multiclass.py) and its multi-worker script (tools/multiworker.py).

The data are generated drawings of three categories in a temporary folder, so these tests run the
same with or without the real sample. The two-worker tests have "worker" in their names
(`pytest -k worker` selects them); their processes listen on 127.0.0.1 only, use one thread each,
are bounded in time and always stopped.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from synthetic import draw_synthetic

import helpers
from quickdraw_cnn import multiclass
from quickdraw_cnn.data import NotEnoughRowsError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import multiworker  # noqa: E402

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
        lambda: multiclass.check_classes(classes),
        lambda: multiclass.load_many(classes, 10, data_dir=folder),
        lambda: multiclass.stream(classes, 10, data_dir=folder),
    ):
        with pytest.raises(multiclass.CategoryError) as err:
            call()
        assert message in str(err.value)


def test_a_category_with_fewer_rows_than_asked_stops_before_anything_is_read(folder):
    for call in (
        lambda: multiclass.load_many(["apple", "cat"], 60, data_dir=folder),
        lambda: multiclass.stream(["apple", "cat"], 60, data_dir=folder),
        lambda: multiclass.load_many(["apple", "banana"], 100, offset=250, data_dir=folder),
    ):
        with pytest.raises(NotEnoughRowsError, match="Ask for fewer rows"):
            call()
    with pytest.raises(NotEnoughRowsError) as err:
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


WORKER_ARGS = ["--classes", *CLASSES, "--n", "40", "--batch-size", "16"]


@pytest.mark.slow
def test_two_workers_hold_identical_weights_after_training(folder, tmp_path):
    reports = multiworker.launch(
        2, [*WORKER_ARGS, "--epochs", "2", "--data-dir", str(folder)], tmp_path, timeout=150
    )
    assert [r["epochs_run"] for r in reports] == [[0, 1], [0, 1]]
    patched = multiclass.keras_needs_multi_worker_patch()
    assert all(r["workers"] == 2 and r["patched"] == patched for r in reports)
    w0, w1 = (np.load(tmp_path / f"weights-{i}.npz") for i in range(2))
    assert len(w0.files) == 8  # two convolutions and two dense layers: kernels and biases
    for key in w0.files:
        assert np.array_equal(w0[key], w1[key]), key  # bit-identical: the gradients were all-reduced
    assert reports[0]["history"]["loss"] == reports[1]["history"]["loss"]


@pytest.mark.slow
def test_a_killed_worker_resumes_from_backup_and_restore(folder, tmp_path):
    args = [*WORKER_ARGS, "--epochs", "8", "--data-dir", str(folder)]
    saved = tmp_path / "backup" / "worker-0" / "training_metadata.json"
    procs = multiworker.start_workers(2, args, tmp_path)
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and all(p.poll() is None for p in procs):
            try:  # two epochs backed up: the previous one is kept too (double_checkpoint)
                if json.loads(saved.read_text())["epoch"] >= 2:
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.05)
        assert saved.is_file(), multiworker.tail(tmp_path / "worker-0.log")
        procs[1].kill()  # worker 1 dies mid-training; worker 0 cannot go on alone
        procs[1].wait()
        assert procs[0].poll() is None, "training ended before the worker could be killed"
    finally:
        multiworker.stop_workers(procs)  # the job is restarted as a whole, as a cluster would
    assert all(p.returncode != 0 for p in procs)
    done = json.loads(saved.read_text())["epoch"]  # epochs finished and backed up by worker 0
    assert 2 <= done < 8
    assert (tmp_path / "backup" / "worker-1").is_dir()  # one folder per worker
    reports = multiworker.launch(2, args, tmp_path, timeout=150)
    for r in reports:  # resumed after the last epoch both workers had backed up (done, or done - 1)
        assert r["epochs_run"] in (list(range(done, 8)), list(range(done - 1, 8))), (done, r["epochs_run"])
    assert reports[0]["epochs_run"] == reports[1]["epochs_run"]
    w0, w1 = (np.load(tmp_path / f"weights-{i}.npz") for i in range(2))
    assert all(np.array_equal(w0[key], w1[key]) for key in w0.files)


@pytest.mark.slow
def test_worker_training_without_the_patch_still_fails_on_this_keras(folder, tmp_path):
    """Fails the day a Keras release runs fit under MultiWorkerMirroredStrategy as shipped: then
    remove multiclass.patch_keras_for_multi_worker (and change keras_needs_multi_worker_patch)."""
    import keras

    if not multiclass.keras_needs_multi_worker_patch():
        pytest.skip(f"Keras {keras.__version__} is not patched")
    args = [*WORKER_ARGS, "--epochs", "1", "--data-dir", str(folder), "--no-patch"]
    try:
        multiworker.launch(2, args, tmp_path, timeout=120)
    except RuntimeError as err:
        assert "PerReplica" in str(err), err  # the failure of keras-team/keras#20585
    else:
        pytest.fail(
            f"Keras {keras.__version__} trains under MultiWorkerMirroredStrategy without the "
            "patch: delete multiclass.patch_keras_for_multi_worker and say so in chapter 08"
        )
