"""The whole series, run headless by papermill with tiny "smoke" parameters.

Asserts on what the notebooks record (metrics.json, artifacts), not on printed text.
"""

import json

import nbformat
import papermill as pm
import pytest

import helpers
import series

quiet = lambda *args, **kwargs: None  # noqa: E731

SMOKE = {"n_per_class": 200, "epochs": 2, "improved_epochs": 2, "sizes": [50, 100], "seeds": [0],
         "filter_grid": [2, 4], "unseen_offset": 1800, "unseen_n": 100,
         # 08: three categories (the generated sample has these too); tools/multiworker.py is
         # tested on its own in test_multiclass.py
         "classes": ["apple", "banana", "rainbow"], "class_counts": [2], "multiworker": False}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, data_dir):
    run_dir = tmp_path_factory.mktemp("run")
    params = {**SMOKE, "model": "both", "eval_data_dir": str(data_dir), "eval_offset": 1800}
    seconds = series.run_series(run_dir, params, log=quiet)
    return run_dir, seconds


def test_notebooks_carry_no_logs_warnings_or_progress_bars(smoke_run):
    """TF start-up logs, warnings and progress bars go to stderr: none may reach a notebook."""
    run_dir, seconds = smoke_run
    assert sorted(seconds) == [p.name for p in series.notebooks()]
    for name in seconds:
        nb = nbformat.read(run_dir / "notebooks" / name, as_version=4)
        stderr = [o.text for c in nb.cells if c.cell_type == "code"
                  for o in c.get("outputs", []) if o.get("name") == "stderr"]
        assert not stderr, f"{name}: {stderr}"


def test_metrics_are_recorded_and_plausible(smoke_run, data_dir):
    run_dir, _ = smoke_run
    metrics = json.loads((run_dir / "artifacts" / "metrics.json").read_text())
    assert metrics["model"] == "origin"
    assert metrics["test"]["n"] == round(2 * SMOKE["n_per_class"] * 0.16667)
    assert metrics["train"]["n"] == 2 * SMOKE["n_per_class"] - metrics["test"]["n"]
    rows = [helpers.load_from_folder(data_dir, c, offset=1800, n=500).shape[0] for c in ("apple", "banana")]
    assert metrics["independent"]["n"] == sum(rows)  # up to eval_n = 500 per class from row 1800
    for config in ("origin", "improved"):
        m = metrics["configurations"][config]
        # Two epochs on 333 drawings already beat a coin toss by far; a broken pipeline would not.
        assert 0.7 < m["test"]["accuracy"] <= 1.0, m
        assert 0.7 < m["independent"]["accuracy"] <= 1.0, m
        assert 0.0 <= m["test"]["accuracy_astype_int"] <= 1.0 and 0.9 < m["test"]["auc"] <= 1.0


def test_many_categories_are_measured_on_unseen_rows(smoke_run, data_dir):
    """08 at tiny parameters: multiclass_metrics.json holds top-1 and top-3 of both configurations."""
    run_dir, _ = smoke_run
    m = json.loads((run_dir / "artifacts" / "multiclass_metrics.json").read_text())
    classes = SMOKE["classes"]
    assert m["categories"] == classes and m["model"] == "origin"
    assert set(m["configurations"]) == {"origin", "improved"}
    assert m["test"] == m["configurations"]["origin"]["test"]
    rows = sum(min(500, helpers.load_from_folder(data_dir, c, offset=1800).shape[0]) for c in classes)
    for config in m["configurations"].values():
        assert config["test"]["n"] == len(classes) * SMOKE["unseen_n"]
        assert config["test"]["rows"] == [1800, 1800 + SMOKE["unseen_n"] - 1]
        assert config["independent"]["n"] == rows  # up to eval_n = 500 per class from row 1800
        for part in ("test", "independent"):
            # Two epochs on 600 drawings are far above chance (1/3); three classes make top-3 certain.
            assert 0.5 < config[part]["top1"] <= config[part]["top3"] == 1.0, config
    assert set(m["classes_curve"]) == {"2", "3"} and m["classes_curve"]["2"]["chance"] == 0.5
    assert m["stream"]["drawings_per_second"] > 0 and m["mirrored"]["replicas"] >= 1
    figures = {p.stem for p in (run_dir / "artifacts" / "figures").glob("08_*.png")}
    assert figures >= {"08_classes", "08_confusion", "08_per_class", "08_confused_pairs", "08_classes_curve"}


def test_artifacts_hand_over_between_chapters(smoke_run):
    run_dir, _ = smoke_run
    art = run_dir / "artifacts"
    for name in ("split.npz", "model_origin.keras", "model_improved.keras",
                 "history_origin.json", "metrics_origin.json", "metrics_improved.json"):
        assert (art / name).is_file(), name
    history = json.loads((art / "history_origin.json").read_text())
    assert len(history["loss"]) == SMOKE["epochs"] == len(history["epoch_seconds"])
    assert history["n_validation"] > 0
    assert len(list((art / "figures").glob("*.png"))) >= 10


def test_a_chapter_run_before_its_input_names_the_chapter_to_run(tmp_path):
    with pytest.raises(pm.PapermillExecutionError) as err:
        series.run_series(tmp_path, {"artifacts_dir": str(tmp_path / "empty")}, ["04"], log=quiet)
    assert err.value.ename == "MissingArtifactError"
    assert "02_preprocessing.ipynb" in err.value.evalue


def test_nonsense_parameters_stop_with_a_clear_error(tmp_path):
    with pytest.raises(pm.PapermillExecutionError) as err:
        series.run_series(tmp_path, {"n_per_class": -5}, ["02"], log=quiet)
    assert err.value.ename == "ValueError" and "n_per_class" in err.value.evalue


def test_unknown_parameter_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="epochz"):
        series.run_series(tmp_path, {"epochz": 3})


def test_every_notebook_has_one_literal_parameters_cell():
    import ast
    for path in series.notebooks():
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, path.name
        for node in ast.parse(tagged[0].source).body:
            assert isinstance(node, ast.Assign), (path.name, ast.dump(node))
            ast.literal_eval(node.value)  # literals only: papermill overrides come after
        assert nb.metadata.kernelspec.name == "python3"


def test_parameter_values_are_parsed_like_python_literals():
    assert series.parse_params([("epochs", "5"), ("lr", "1e-3"), ("categories", "[cat, dog]"),
                                ("model", "improved"), ("flag", "True")]) == {
        "epochs": 5, "lr": 0.001, "categories": ["cat", "dog"], "model": "improved", "flag": True}


def test_a_model_trained_on_another_split_is_refused(smoke_run, tmp_path):
    """Re-running 02 with another seed makes 04's model stale: 05 must say so, not evaluate."""
    import shutil
    run_dir, _ = smoke_run
    art = tmp_path / "artifacts"
    shutil.copytree(run_dir / "artifacts", art)
    series.run_series(tmp_path, {"artifacts_dir": str(art), "n_per_class": 200, "seed": 7},
                      ["02"], log=quiet)
    with pytest.raises(pm.PapermillExecutionError) as err:
        series.run_series(tmp_path, {"artifacts_dir": str(art)}, ["05"], log=quiet)
    assert err.value.ename == "MissingArtifactError" and "04_training.ipynb" in err.value.evalue


def test_any_two_categories_work(tmp_path):
    """Chapters 02-05 on two other categories (generated 'cloud' rings and 'moon' crescents)."""
    import numpy as np
    from synthetic import draw_synthetic
    data = tmp_path / "data"
    data.mkdir()
    np.save(data / "full_numpy_bitmap_the moon.npy", draw_synthetic("banana", 300, seed=3))
    np.save(data / "cloud.npy", draw_synthetic("apple", 300, seed=4))
    params = {"categories": ["the moon", "cloud"], "n_per_class": 150, "epochs": 3,
              "data_dir": str(data), "eval_data_dir": str(data), "eval_offset": 150}
    series.run_series(tmp_path / "run", params, names=["02", "03", "04", "05"], log=quiet)
    m = json.loads((tmp_path / "run/artifacts/metrics.json").read_text())
    assert m["categories"] == ["the moon", "cloud"]
    assert m["independent"]["n"] == 300 and m["independent"]["accuracy"] > 0.8
