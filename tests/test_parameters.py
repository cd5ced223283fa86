"""parameters.check: every override against the literal and the bounds of its notebook's
parameters cell; every notebook's own defaults pass their own rules."""

import json
import math
from pathlib import Path

import pytest

from quickdraw_cnn import parameters
from quickdraw_cnn.errors import ParameterError

REPO_DIR = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(REPO_DIR.glob("notebooks/*.ipynb")) + sorted(REPO_DIR.glob("solutions/*.ipynb"))

CELL = """\
n_per_class = 1500  # drawings per category (1 to 2000)
test_fraction = 0.2  # share held out (0 to 0.5)
epochs = 25  # as in the origin (at least 1)
offset = 0  # first row (see above) (at least 0)
seeds = [0, 1, 2]  # one training per seed (at least 0)
widths = [1.5]  # any numbers (at most 4)
multiworker = True  # run the demonstration
data_dir = ""  # a folder, or "" (see above)
"""


def notebook(folder, cell=CELL, name="99_probe.ipynb"):
    path = folder / name
    cells = [
        {"cell_type": "code", "metadata": {}, "source": "import helpers\n", "outputs": []},
        {
            "cell_type": "code",
            "metadata": {"tags": ["parameters"]},
            "source": cell.splitlines(True),
            "outputs": [],
        },
    ]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_the_rules_are_read_from_the_literals_and_the_ends_of_the_comments(tmp_path):
    rules = parameters.declared(notebook(tmp_path))
    assert [(r.default, r.low, r.high) for r in rules.values()] == [
        (1500, 1, 2000),
        (0.2, 0, 0.5),
        (25, 1, None),
        (0, 0, None),
        ([0, 1, 2], 0, None),
        ([1.5], None, 4),
        (True, None, None),
        ("", None, None),
    ]
    assert rules["n_per_class"].rule() == "a whole number from 1 to 2000"
    assert rules["seeds"].rule() == "a list of whole numbers, each at least 0"


@pytest.mark.parametrize(
    "name, value, words",
    [
        ("n_per_class", 0, "n_per_class = 0 is outside its rule: give a whole number from 1 to 2000"),
        ("n_per_class", 2001, "from 1 to 2000"),
        ("n_per_class", 10.0, "is not a whole number (its default is 1500)"),
        ("n_per_class", True, "is not a whole number"),
        ("n_per_class", "10", "is not a whole number"),
        ("test_fraction", 0.75, "give a number from 0 to 0.5"),
        ("test_fraction", math.nan, "holds nan, not a finite number"),
        ("epochs", -1, "give a whole number at least 1"),
        ("epochs", math.inf, "is not a whole number"),
        ("seeds", [], "is empty"),
        ("seeds", [0, -1], "each at least 0"),
        ("seeds", [0, 1.5], "is not a list of whole numbers"),
        ("seeds", 3, "is not a list of whole numbers"),
        ("widths", [1, 5.5], "each at most 4"),
        ("widths", [float("-inf")], "not a finite number"),
        ("multiworker", 1, "is not True or False"),
        ("data_dir", 3, "is not text"),
    ],
)
def test_a_bad_override_names_the_notebook_the_parameter_the_value_and_the_rule(tmp_path, name, value, words):
    with pytest.raises(
        ParameterError, match="99_probe.ipynb: .*" + words.replace("(", r"\(").replace(")", r"\)")
    ):
        parameters.check(notebook(tmp_path), {name: value})


def test_good_overrides_and_unknown_names_pass(tmp_path):
    good = {"n_per_class": 2000, "test_fraction": 0, "epochs": 1, "seeds": [7], "widths": [4, -2.5]}
    parameters.check(
        notebook(tmp_path), good | {"test_fraction": 0.5, "multiworker": False, "elsewhere": "x"}
    )


def test_every_fault_is_reported_at_once(tmp_path):
    with pytest.raises(ParameterError) as error:
        parameters.check(notebook(tmp_path), {"epochs": 0, "offset": -1, "seeds": "0"})
    assert str(error.value).count(";") == 2 and "offset = -1" in str(error.value)


def test_a_default_outside_its_own_bounds_fails(tmp_path):
    path = notebook(tmp_path, "epochs = 0  # at least one (at least 1)\n")
    defaults = {name: rule.default for name, rule in parameters.declared(path).items()}
    with pytest.raises(ParameterError, match="epochs = 0 is outside its rule"):
        parameters.check(path, defaults)


def test_a_parameters_cell_of_anything_but_literals_is_refused(tmp_path):
    with pytest.raises(ParameterError, match="holds `import os`"):
        parameters.declared(notebook(tmp_path, "import os\n"))
    with pytest.raises(ParameterError, match="n is not a literal"):
        parameters.declared(notebook(tmp_path, "n = len('ab')  # no\n"))


@pytest.mark.parametrize(
    "name, value, words",
    [
        ("categories", ["apple ", "apple"], r"bad categories: 'apple ' is not a Quick, Draw! category"),
        ("categories", ["apple", "apple"], "each category may appear once"),
        ("stroke_categories", ["aple"], "did you mean 'apple'"),
        ("classes", ["cat", "dog", "unicorn"], "'unicorn' is not a Quick, Draw! category"),
    ],
)
def test_category_lists_hold_quick_draw_names(tmp_path, name, value, words):
    cell = f"{name} = ['apple', 'banana']  # names\nother = ['x']  # not categories\n"
    path = notebook(tmp_path, cell)
    parameters.check(path, {name: ["cat", "dog"], "other": ["apple "]})
    with pytest.raises(ParameterError, match=f"99_probe.ipynb: {name} = .*" + words):
        parameters.check(path, {name: value})


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_notebook_s_defaults_keep_its_own_rules(path):
    rules = parameters.declared(path)
    assert rules, f"{path.name} has no parameters cell"
    parameters.check(path, {name: rule.default for name, rule in rules.items()})


@pytest.mark.parametrize(
    "chapter, params, words",
    [
        ("03_cnn_architecture", {"filters": 1_000_000}, r"filters = 1000000 .*256"),  # issue 25: not TF's OOM
        ("02_preprocessing", {"categories": ["apple ", "apple"]}, "'apple ' is not a Quick, Draw! category"),
        ("06_experiments", {"seeds": []}, "seeds"),
        ("04_training", {"epochs": math.nan}, "epochs"),
    ],
)
def test_the_chapters_own_rules_refuse_what_issue_25_found(chapter, params, words):
    with pytest.raises(ParameterError, match=words):
        parameters.check(REPO_DIR / "notebooks" / f"{chapter}.ipynb", params)
