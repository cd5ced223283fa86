"""experiments.run: one result per call, cached under an explicit key (name, version, settings,
data fingerprints, never the source text); bad entries named and recomputed; side by side equal
to one by one."""

import json

import numpy as np
import pytest

from quickdraw_cnn import experiments
from quickdraw_cnn.errors import ParameterError, WriteError


class Calls:
    """The settings each computed call was given, in order: the function runs in a worker process,
    so it appends a line to a file (``LOG``) that this reads."""

    log = None

    def __eq__(self, other):
        lines = self.log.read_text().split() if self.log.exists() else []
        return [int(v) for v in lines] == other


CALLS = Calls()


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("QUICKDRAW_EXPERIMENT_CACHE", str(tmp_path / "cache"))
    CALLS.log = tmp_path / "calls.log"
    return tmp_path / "cache"


def _chapter_function(source, folder, name="measure"):
    """A function written outside any importable module, as in a chapter (sent to workers by
    value); its source lies in a file, as a notebook's does."""
    path = folder / f"{name}_{abs(hash(source))}.py"
    path.write_text(source)
    namespace = {"__name__": "chapter_like", "LOG": str(CALLS.log)}
    exec(compile(source, str(path), "exec"), namespace)
    return namespace[name]


MEASURE = """
def measure(x, scale, data):
    with open(LOG, "a") as log:
        log.write(f"{scale}\\n")
    return {"sum": float(x.sum()) * scale, "rows": len(data["train"][1])}
"""

MEASURE_REFORMATTED = '''
def measure(x,
            scale,
            data):
    """The same function, reformatted and commented: its results do not change."""
    with open(LOG, "a") as log:  # counted
        log.write(f"{scale}\\n")
    total = float(x.sum())
    return {"sum": total * scale, "rows": len(data["train"][1])}
'''


def test_reformatting_keeps_the_cache_a_setting_the_version_or_the_data_recompute(tmp_path, cache):
    x, y = np.arange(6.0), np.array([0, 1, 1])
    data = {"train": (np.zeros((3, 2)), y)}
    measure = _chapter_function(MEASURE, tmp_path)
    assert experiments.run(measure, [{"scale": 2}], x=x, data=data) == [{"sum": 30.0, "rows": 3}]
    assert CALLS == [2]
    reformatted = _chapter_function(MEASURE_REFORMATTED, tmp_path)
    assert experiments.run(reformatted, [{"scale": 2}], x=x, data=data) == [{"sum": 30.0, "rows": 3}]
    assert CALLS == [2]  # found: the source text is not in the key
    assert experiments.run(reformatted, [{"scale": 2}], x=x.copy(), data=data)[0]["sum"] == 30.0
    assert CALLS == [2]  # the same bytes, the same fingerprint
    experiments.run(reformatted, [{"scale": 3}], x=x, data=data)
    assert CALLS == [2, 3]  # a setting
    experiments.run(reformatted, [{"scale": 2}], version="2", x=x, data=data)
    assert CALLS == [2, 3, 2]  # the version
    experiments.run(reformatted, [{"scale": 2}], x=x + 1, data=data)
    assert CALLS == [2, 3, 2, 2]  # an array
    experiments.run(reformatted, [{"scale": 2}], x=x, data={"train": (np.zeros((3, 2)), 1 - y)})
    assert CALLS == [2, 3, 2, 2, 2]  # an array inside a dict and a tuple
    assert len(list(cache.glob("measure-*.json"))) == 5


def _entry(cache):
    (path,) = cache.glob("*.json")
    return path, json.loads(path.read_text())


def test_an_edited_or_truncated_entry_is_named_in_one_line_and_computed_again(tmp_path, cache, capfd):
    measure = _chapter_function(MEASURE, tmp_path)
    arguments = {"x": np.ones(4), "data": {"train": ((), [0, 1])}}
    first = experiments.run(measure, [{"scale": 1}], **arguments)
    path, entry = _entry(cache)
    assert entry["version"] == "1" and entry["key"]["function"] == "measure" and entry["checksum"]
    path.write_text(json.dumps({**entry, "result": {"sum": 0.123, "rows": 2}}))  # issue 25: 12.30%
    assert experiments.run(measure, [{"scale": 1}], **arguments) == first
    err = capfd.readouterr().err
    assert f"{path.name} holds a result that does not match its checksum" in err and err.count("\n") == 1
    assert _entry(cache)[1] == entry  # written again, right
    path.write_text(path.read_text()[:40])
    assert experiments.run(measure, [{"scale": 1}], **arguments) == first
    assert "is unreadable (JSONDecodeError)" in capfd.readouterr().err
    path.write_text(json.dumps({**entry, "key": {**entry["key"], "version": "0"}}))
    assert experiments.run(measure, [{"scale": 1}], **arguments) == first
    assert "holds another key" in capfd.readouterr().err
    assert CALLS == [1, 1, 1, 1]
    assert experiments.run(measure, [{"scale": 1}], **arguments) == first
    assert CALLS == [1, 1, 1, 1] and capfd.readouterr().err == ""  # good now: nothing computed


def _returns(value):
    return (
        {"none": None, "object": {"model": object()}}.get(value, value) if isinstance(value, str) else value
    )


def test_nothing_empty_or_unstorable_is_written(cache):
    for value in ("none", "object"):
        with pytest.raises(ParameterError, match=rf"_returns\(value='{value}'\) returned .* cannot store"):
            experiments.run(_returns, [{"value": value}])
    with pytest.raises(ParameterError, match="cannot key a object"):
        experiments.run(_returns, [{"value": 1}], other=object())
    with pytest.raises(ParameterError, match="give each once"):
        experiments.run(_returns, [{"value": 1}], value=2)
    assert not cache.exists() or list(cache.iterdir()) == []
    assert experiments.run(_returns, [{"value": (np.float32(0.5), np.arange(2))}]) == [[0.5, [0, 1]]]
    assert experiments.run(lambda value: value + 1, [{"value": 1}]) == [2]
    assert [p.name[:9] for p in cache.glob("_lambda_-*.json")] == ["_lambda_-"]


def test_a_cache_that_cannot_be_written_is_named_and_the_result_still_returned(cache, monkeypatch, capfd):
    def read_only(path, obj):
        raise WriteError(f"could not write {path}: [Errno 30] Read-only file system")

    monkeypatch.setattr(experiments, "write_json", read_only)
    assert experiments.run(_returns, [{"value": 7}]) == [7]
    err = capfd.readouterr().err
    assert "experiment cache: _returns(value=7) not kept (could not write" in err and err.count("\n") == 1
    assert not cache.exists() or list(cache.iterdir()) == []


def test_the_largest_trainings_start_first_and_the_rest_keep_their_order():
    data = {"train": (None, np.repeat([0, 1], 16))}  # 32 drawings, 16 of each label
    calls = [
        {"train": "train", "epochs": 1},  # 32 drawings x 1 epoch
        {"train": "train", "epochs": 3},  # 96
        {"train": "train", "epochs": 3, "classes": 1},  # only label 0: 48
        {"note": "no training set named"},  # no size: last
        {"train": "train", "epochs": 3, "classes": 1},  # as large as the third: after it
    ]
    assert experiments._largest_first(range(5), calls, {"data": data}) == [1, 2, 4, 0, 3]
    assert experiments._largest_first(range(3), calls, {}) == [0, 1, 2]  # no data: in order


def test_the_cache_folder_is_shared_and_movable(tmp_path, monkeypatch):
    from quickdraw_cnn.files import REPO_DIR

    assert experiments.experiment_cache_dir() == tmp_path / "cache"
    experiments.run(_returns, [{"value": 42}])
    assert len(list((tmp_path / "cache").glob("_returns-*.json"))) == 1
    monkeypatch.delenv("QUICKDRAW_EXPERIMENT_CACHE")
    assert experiments.experiment_cache_dir() == REPO_DIR / "cache" / "experiments"  # not created by asking


TINY_FIT = """
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


@pytest.mark.slow
def test_a_notebook_function_side_by_side_equals_one_by_one(tmp_path, monkeypatch):
    tiny_fit = _chapter_function(TINY_FIT, tmp_path, "tiny_fit")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 4)).astype("float32"), np.repeat([0, 1], 16)
    calls = [{"seed": 0, "units": 3}, {"seed": 1, "units": 3}, {"seed": 0, "units": 5}]
    monkeypatch.setattr(experiments.os, "cpu_count", lambda: 2)
    together = experiments.run(tiny_fit, calls, x=x, y=y)  # three missing: two worker processes
    monkeypatch.setenv("QUICKDRAW_EXPERIMENT_CACHE", str(tmp_path / "alone"))
    alone = [experiments.run(tiny_fit, [call], x=x, y=y)[0] for call in calls]  # one at a time
    assert together == alone
    assert alone[0]["loss"] != alone[1]["loss"]  # the seeds differ, so the comparison can fail


def _tiny_data():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (64, 28, 28, 1), dtype=np.uint8)
    y = np.repeat([0, 1], 32)
    x[y == 1, 10:18, 10:18] = 255  # a square tells the second class apart
    return {"train": (x[::2], y[::2]), "test": (x[1::2], y[1::2])}


@pytest.mark.slow
def test_train_and_score_side_by_side_equals_one_by_one(tmp_path, monkeypatch):
    import helpers

    data = _tiny_data()
    common = {"train": "train", "score": ["test"], "batch_size": 16}
    calls = [{"config": "origin", "epochs": 1, "seed": s, **common} for s in (0, 1)]
    calls.append({"config": {"filters": [4]}, "epochs": 2, "seed": 0, **common})
    calls.append({"config": "origin", "epochs": 1, "seed": 0, "top3": True, **common})  # as the first
    monkeypatch.setattr(experiments.os, "cpu_count", lambda: 2)
    together = experiments.run(helpers.train_and_score, calls, data=data)
    monkeypatch.setenv("QUICKDRAW_EXPERIMENT_CACHE", str(tmp_path / "alone"))
    alone = [experiments.run(helpers.train_and_score, [call], data=data)[0] for call in calls]
    timeless = lambda results: [{k: v for k, v in r.items() if k != "seconds"} for r in results]  # noqa: E731
    assert timeless(together) == timeless(alone)
    assert alone[0]["loss"] != alone[1]["loss"] and 0 <= alone[0]["test"] <= 1
    top1 = np.mean([labels[0] == y for labels, y in zip(alone[3]["test"], data["test"][1])])
    assert top1 == alone[0]["test"] and all(len(set(labels)) == 2 for labels in alone[3]["test"])


def test_fingerprint_tells_data_apart():
    a = np.arange(10)
    assert experiments.fingerprint(a) == experiments.fingerprint(a.copy())
    assert experiments.fingerprint(a) != experiments.fingerprint(a[::-1])
    assert experiments.fingerprint(a) != experiments.fingerprint(a.astype(np.int8))
