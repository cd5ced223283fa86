"""Unit tests of helpers.py beyond the data layer: dataset, shape math, model, evaluation."""

from pathlib import Path

import numpy as np
import pytest

import helpers
from quickdraw_cnn import environment
from quickdraw_cnn.errors import MissingArtifactError, ParameterError, QuickDrawError

REPO_DIR = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "n, k, s, padding, expected",
    [
        (28, 3, 1, "valid", 26),
        (26, 2, 2, "valid", 13),
        (13, 3, 1, "valid", 11),
        (11, 2, 2, "valid", 5),
        (28, 3, 1, "same", 28),
        (27, 2, 2, "same", 14),
        (7, 7, 1, "valid", 1),
    ],
)
def test_conv_output_size(n, k, s, padding, expected):
    assert helpers.conv_output_size(n, k, s, padding) == expected


def test_conv_output_size_rejects_unknown_padding():
    with pytest.raises(ValueError, match="padding"):
        helpers.conv_output_size(28, 3, padding="full")


def test_origin_shape_table_matches_the_corrected_figures():
    rows = helpers.shape_table(helpers.ORIGIN_LAYERS)
    assert [r[1] for r in rows] == [(26, 26, 14), (13, 13, 14), (11, 11, 14), (5, 5, 14), (350,), (64,), (1,)]
    assert sum(r[2] for r in rows) == 24_447


@pytest.mark.parametrize("filters, padding", [(14, "valid"), (8, "same"), (3, "valid"), (32, "same")])
def test_formulas_agree_with_keras(filters, padding):
    layers = [(k, filters, 3) if k == "conv" else (k, *a) for k, *a in helpers.ORIGIN_LAYERS]
    model = helpers.build_origin(filters, padding)
    assert helpers.shape_table(layers, padding=padding) == helpers.keras_shape_table(model)
    assert sum(r[2] for r in helpers.shape_table(layers, padding=padding)) == model.count_params()


def test_threshold_and_truncation_accuracy_differ_as_the_origin_did():
    p = np.array([0.97, 0.6, 1.0, 0.2, 0.51, 0.49])
    y = np.array([1, 1, 1, 0, 0, 1])
    assert helpers.accuracy(p, y) == pytest.approx(4 / 6)
    # astype(int): only 1.0 becomes 1, so 0.97 and 0.6 count as wrong, 0.51 as right.
    assert helpers.accuracy_astype_int(p, y) == pytest.approx(3 / 6)


def test_split_is_stratified_seeded_and_sized():
    x = np.arange(3000 * 784, dtype=np.uint32).reshape(3000, 784)
    y = np.repeat([1, 0], 1500)
    a = helpers.split(x, y, 0.16667, seed=3)
    b = helpers.split(x, y, 0.16667, seed=3)
    assert len(a["y_test"]) == 500 and len(a["y_train"]) == 2500
    assert a["y_test"].sum() == 250 and a["y_train"].sum() == 1250
    assert np.array_equal(a["x_test"], b["x_test"])
    assert not set(a["x_test"][:, 0]) & set(a["x_train"][:, 0])


def test_validation_slice_comes_from_training_data_only():
    x = np.arange(100).reshape(100, 1)
    y = np.repeat([1, 0], 50)
    x_fit, y_fit, (x_val, y_val) = helpers.validation_slice(x, y, 0.2, seed=0)
    assert len(y_val) == 20 and y_val.sum() == 10 and len(y_fit) == 80
    assert sorted(np.r_[x_fit.ravel(), x_val.ravel()]) == list(range(100))
    same_x, same_y, none = helpers.validation_slice(x, y, 0, seed=0)
    assert none is None and same_x is x


def test_a_split_too_small_for_two_parts_is_refused():
    x, y = np.zeros((4, 784), np.uint8), np.array([1, 1, 0, 0])
    with pytest.raises(ParameterError, match="test_fraction=0.25 of 4 drawings leaves .* fewer than 2"):
        helpers.split(x, y, 0.25, seed=0)
    assert len(helpers.split(x, y, 0.5, seed=0)["y_test"]) == 2


def test_model_names():
    assert helpers.model_names("origin") == ["origin"]
    assert helpers.model_names("both") == ["origin", "improved"]
    with pytest.raises(ValueError, match="origin"):
        helpers.model_names("resnet")


def test_missing_artifact_names_the_chapter(tmp_path):
    with pytest.raises(MissingArtifactError, match="02_preprocessing.ipynb"):
        helpers.load_split(tmp_path)
    with pytest.raises(MissingArtifactError, match="04_training.ipynb"):
        helpers.load_model(tmp_path, "origin")


def test_load_split_refuses_other_categories(tmp_path):
    np.savez(
        tmp_path / "split.npz",
        categories=np.array(["cat", "dog"]),
        x_train=np.zeros(1),
        y_train=np.zeros(1),
        x_test=np.zeros(1),
        y_test=np.zeros(1),
    )
    assert helpers.load_split(tmp_path)["categories"] == ["cat", "dog"]
    with pytest.raises(MissingArtifactError, match="same categories"):
        helpers.load_split(tmp_path, ["apple", "banana"])


def test_train_records_history_and_timing(data_dir):
    x, y = helpers.load_classes(["apple", "banana"], 60, data_dir=data_dir)
    model, history = helpers.train(
        "origin", helpers.to_images(x), y, epochs=2, validation_fraction=0.25, seed=1, verbose=0
    )
    assert len(history["loss"]) == 2 == len(history["epoch_seconds"])
    assert history["n_fit"] == 90 and history["n_validation"] == 30
    assert model.count_params() == 24_447


def test_seeding_makes_training_repeatable(data_dir):
    x, y = helpers.load_classes(["apple", "banana"], 40, data_dir=data_dir)
    runs = [
        helpers.train("origin", helpers.to_images(x), y, epochs=1, seed=7, verbose=0)[1]["loss"]
        for _ in range(2)
    ]
    assert runs[0] == pytest.approx(runs[1], rel=1e-5)


def test_save_json_writes_numpy_values_as_plain_json(tmp_path):
    helpers.save_json(
        tmp_path / "m.json", {"n": np.int64(1500), "acc": np.float32(0.5), "rows": np.arange(3)}
    )
    assert helpers.load_json(tmp_path / "m.json") == {"n": 1500, "acc": 0.5, "rows": [0, 1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


# Every module behind the chapters; the runner (series.py) is tooling, documented by its --help.
MODULES = ["helpers"] + [
    f"quickdraw_cnn.{p.stem}"
    for p in sorted((REPO_DIR / "quickdraw_cnn").glob("*.py"))
    if p.stem not in ("__init__", "series")
]


def test_helpers_re_exports_nothing():
    """A name is imported from the module that defines it: helpers holds only its own."""
    import inspect

    borrowed = [
        name
        for name, obj in vars(helpers).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__.startswith("quickdraw_cnn")
    ]
    assert borrowed == [] or all(name in HELPERS_OWN_IMPORTS for name in borrowed), borrowed


# What helpers itself calls from the data client (imported to use, not offered to the chapters:
# test_no_chapter_reaches_the_library_through_helpers checks that).
HELPERS_OWN_IMPORTS = {
    "MissingArtifactError",
    "ParameterError",
    "QuickDrawError",
    "load_drawings",
    "shown_path",
    "write_json",
    "import_tensorflow_quietly",
}


def test_no_chapter_reaches_the_library_through_helpers():
    import json
    import re

    for path in sorted(REPO_DIR.glob("*/[0-9][0-9]_*.ipynb")) + sorted(REPO_DIR.glob("quickdraw_cnn/*.py")):
        text = path.read_text()
        if path.suffix == ".ipynb":
            text = "\n".join(
                "".join(c["source"]) for c in json.loads(text)["cells"] if c["cell_type"] == "code"
            )
        used = set(re.findall(r"(?<![\w.])helpers\.([A-Za-z_]\w*)", text)) & HELPERS_OWN_IMPORTS
        assert not used, f"{path.relative_to(REPO_DIR)} uses helpers.{used}: import it from its own module"


def test_the_sketches_load_no_tensorflow():
    import subprocess
    import sys

    code = "import sys; from quickdraw_cnn import sketches; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_DIR)


def test_artifact_errors_are_quickdraw_errors_too():
    assert issubclass(MissingArtifactError, QuickDrawError)


@pytest.mark.parametrize("module_name", MODULES)
def test_every_public_function_names_the_chapter_that_explains_it(module_name):
    import importlib
    import inspect
    import re

    module = importlib.import_module(module_name)
    chapters = {p.name for p in (REPO_DIR / "notebooks").glob("*.ipynb")}
    for name, obj in vars(module).items():
        if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        if obj.__module__ != module_name:
            continue  # imported from elsewhere
        doc = inspect.getdoc(obj) or ""
        last = "\n".join(doc.split("\n\n")[-1:])
        named = re.findall(r"[Ee]xplained in ([0-9A]\d_\w+\.ipynb)", last)
        if not named and "Used by" in last:
            continue  # an internal: its docstring says who uses it
        assert named, f"{module_name}.{name}: the docstring's last paragraph names no chapter (nor 'Used by')"
        assert named[0] in chapters, f"{module_name}.{name} names {named[0]}, which does not exist"


def test_widget_frontend_is_false_outside_a_notebook_frontend(monkeypatch):
    monkeypatch.setenv("JPY_SESSION_NAME", "05_evaluation.ipynb")
    assert environment.widget_frontend() is False  # no IPython kernel runs this test


def test_an_independent_sample_that_overlaps_is_refused_row_by_row():
    rng = np.random.default_rng(0)
    x_train, x_test = rng.integers(0, 256, (2, 32, 28, 28, 1), dtype=np.uint8)
    assert helpers.check_independent(x_test[:8], training=x_train) is not None
    with pytest.raises(
        ParameterError, match=r"holds 1 of the training drawings \(sample row 2 = training row 5"
    ):
        helpers.check_independent(np.concatenate([x_test[:2], x_train[5:6]]), training=x_train, test=x_test)
    with pytest.raises(ParameterError, match="test row 0"):
        helpers.check_independent(x_test[:1].reshape(1, -1), training=x_train, test=x_test)


def test_save_metrics_writes_both_files_and_names_a_stale_one(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 28, 28, 1), dtype=np.uint8)
    y = np.r_[np.ones(20, int), np.zeros(20, int)]
    split = {"x_train": x[:30], "y_train": y[::2].repeat(2)[:30], "x_test": x[30:], "y_test": y[15:25]}
    split.update(categories=["apple", "banana"], fingerprint="abc")
    helpers.save_json(tmp_path / "metrics_old.json", {"model": "old", "split": "other"})
    table = helpers.save_metrics(tmp_path, split, {"origin": helpers.build_origin()}, None, extra={"k": 1})
    metrics = helpers.load_json(tmp_path / "metrics.json")
    assert metrics["model"] == "origin" and metrics["extra"] == {"k": 1}
    assert metrics["configurations"]["origin"] == helpers.load_json(tmp_path / "metrics_origin.json")
    assert metrics["test"]["n"] == 10 and "independent" not in metrics
    assert "metrics_old.json: stale" in table and table.splitlines()[-1].startswith("origin")
