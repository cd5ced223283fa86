"""run_many and cached_calls: cached results, trainings side by side identical to one by one, bad
entries named; cached_calls and cached_call find each other's results."""

import json
import warnings
from unittest import mock

import numpy as np
import pytest

from quickdraw_cnn import experiments


def _tiny_data():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (64, 28, 28, 1), dtype=np.uint8)
    y = np.repeat([0, 1], 32)
    x[y == 1, 10:18, 10:18] = 255  # a square tells the second class apart
    return {"train": (x[::2], y[::2]), "test": (x[1::2], y[1::2])}


def _grid():
    return [
        {"config": "origin", "epochs": 1, "seed": seed, "batch_size": 16, "train": "train", "score": ["test"]}
        for seed in (0, 1)
    ] + [
        {
            "config": {"filters": [4]},
            "epochs": 2,
            "seed": 0,
            "batch_size": 16,
            "train": "train",
            "score": ["test"],
        }
    ]


def _without_timings(results):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in results]


@pytest.mark.slow
def test_side_by_side_equals_one_by_one(tmp_path):
    data, grid = _tiny_data(), _grid()
    alone = experiments.run_many(experiments.train_and_score, grid, data, folder=tmp_path / "a", workers=1)
    together = experiments.run_many(experiments.train_and_score, grid, data, folder=tmp_path / "b", workers=2)
    assert _without_timings(alone) == _without_timings(together)
    assert alone[0]["loss"] != alone[1]["loss"]  # the seeds differ, so the comparison can fail
    assert len(list((tmp_path / "b").glob("*.json"))) == len(grid)


def _double(setting, data):
    return {"value": 2 * setting["x"], "n": len(data["train"][1])}


def test_cached_results_are_reused_and_a_null_entry_is_recomputed(tmp_path):
    data = _tiny_data()
    first = experiments.run_many(_double, [{"x": 1}, {"x": 2}], data, folder=tmp_path, workers=1)
    assert first == [{"value": 2, "n": 32}, {"value": 4, "n": 32}]
    entry = sorted(tmp_path.glob("*.json"))[0]
    stored = json.loads(entry.read_text())
    entry.write_text(json.dumps({**stored, "result": None}))
    with pytest.warns(UserWarning, match=rf"{entry.name}.*\"result\": null"):
        again = experiments.run_many(_double, [{"x": 1}, {"x": 2}], data, folder=tmp_path, workers=1)
    assert again == first
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # now every entry is good: no warning, nothing computed
        assert experiments.run_many(_double, [{"x": 1}, {"x": 2}], data, folder=tmp_path, workers=0) == first


def test_an_independent_sample_that_overlaps_is_refused_row_by_row():
    import helpers

    data = _tiny_data()
    x_train, x_test = data["train"][0], data["test"][0]
    assert helpers.check_independent(x_test[:8], training=x_train) is not None
    with pytest.raises(
        helpers.OverlapError, match=r"holds 1 of the training drawings \(sample row 2 = training row 5"
    ):
        helpers.check_independent(np.concatenate([x_test[:2], x_train[5:6]]), training=x_train, test=x_test)
    with pytest.raises(helpers.OverlapError, match="test row 0"):
        helpers.check_independent(x_test[:1].reshape(1, -1), training=x_train, test=x_test)


# A function written outside any importable module, as in a chapter: cached_calls must send it to
# the workers by value. Its source lies in a file, so that inspect finds it (as in a notebook).
CHAPTER_LIKE = """
import numpy as np


def tiny_fit(x, y, seed, units):
    import keras

    keras.utils.set_random_seed(seed)
    layers = [keras.layers.Dense(units, activation="relu"), keras.layers.Dense(1, activation="sigmoid")]
    net = keras.Sequential([keras.Input((4,)), *layers])
    net.compile("adam", "binary_crossentropy")
    loss = net.fit(x, y, epochs=2, batch_size=8, verbose=0).history["loss"]
    return {"loss": loss, "weights": float(np.sum([w.sum() for w in net.get_weights()]))}
"""


def _chapter_function(folder):
    path = folder / "chapter_like.py"
    path.write_text(CHAPTER_LIKE)
    namespace = {"__name__": "chapter_like"}  # not importable: pickled by value
    exec(compile(CHAPTER_LIKE, str(path), "exec"), namespace)
    return namespace["tiny_fit"]


@pytest.mark.slow
def test_calls_side_by_side_equal_one_by_one_and_cached_call_finds_them(tmp_path, monkeypatch):
    tiny_fit = _chapter_function(tmp_path)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 4)).astype("float32"), np.repeat([0, 1], 16)
    calls = [{"seed": 0, "units": 3}, {"seed": 1, "units": 3}, {"seed": 0, "units": 5}]
    results = {}
    for workers in (1, 2):
        monkeypatch.setenv("QUICKDRAW_EXPERIMENT_CACHE", str(tmp_path / f"cache-{workers}"))
        results[workers] = experiments.cached_calls(tiny_fit, calls, workers=workers, x=x, y=y)
    assert results[1] == results[2]
    assert results[1][0]["loss"] != results[1][1]["loss"]  # the seeds differ, so the comparison can fail
    assert len(list((tmp_path / "cache-2").glob("*.json"))) == len(calls)
    with mock.patch.object(experiments, "write_json", side_effect=AssertionError("computed again")):
        assert experiments.cached_call(tiny_fit, x=x, y=y, **calls[2]) == results[2][2]
        assert experiments.cached_calls(tiny_fit, calls, x=x, y=y) == results[2]


def _started(setting, data):
    import time

    return {"started": time.monotonic_ns()}


def test_the_largest_trainings_start_first_and_results_keep_their_order(tmp_path):
    data = _tiny_data()  # "train" holds 32 drawings, 16 of each label
    sizes = [
        {"train": "train", "epochs": 1},  # 32 drawings x 1 epoch
        {"train": "train", "epochs": 3},  # 96
        {"train": "train", "epochs": 3, "classes": 1},  # only label 0: 48
        {"note": "no training set named"},  # no size: last
    ]
    assert [experiments._size(s, data) for s in sizes] == [32, 96, 48, 0]
    results = experiments.run_many(_started, sizes, data, folder=tmp_path, workers=1)
    order = sorted(range(len(sizes)), key=lambda i: results[i]["started"])
    assert order == [1, 2, 0, 3]
