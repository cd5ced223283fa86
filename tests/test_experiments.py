"""run_many: cached results, trainings side by side identical to one by one, bad entries named."""

import json
import warnings

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
