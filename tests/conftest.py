"""Fixtures shared by the tests (the environment is set in the repository's conftest.py)."""

import os
from pathlib import Path

import pytest

from quickdraw_cnn import series

REPO_DIR = Path(__file__).resolve().parents[1]
SHARED_SAMPLE = REPO_DIR.parent / "shared" / "quickdraw" / "numpy_bitmap"


@pytest.fixture(scope="session")
def data_dir():
    """Folder with apple.npy and banana.npy (real sample or generated)."""
    return Path(os.environ["QUICKDRAW_DATA_DIR"])


@pytest.fixture(scope="session")
def real_sample():
    """The shared real sample, or skip when this clone has none beside it."""
    if not (SHARED_SAMPLE / "apple.npy").is_file():
        pytest.skip(f"no real sample at {SHARED_SAMPLE}")
    return SHARED_SAMPLE


# Tiny parameters for the smoke run of the whole series: every notebook runs, in seconds.
SMOKE = {
    "n_per_class": 200,
    "epochs": 2,
    "improved_epochs": 2,
    "longer_epochs": 2,  # 06: the chosen row trained longer
    "sizes": [50, 100],
    "seeds": [0],
    "origin_seeds": [0, 1],  # 05's "origin, exactly": two seeds of each pixel scaling
    "filter_grid": [2, 4],
    "unseen_offset": 1800,
    "unseen_n": 100,  # 06: its unseen rows 1800-1899
    "unseen_categories_offset": 1800,  # 09: rows 1800-1899 of its unseen categories
    "unseen_categories_n": 100,
    "other_n": 50,  # 09: rows 0-49 of the categories that train "other"
    "ood_offset": 1900,  # 09's extra sample: rows 1900-1949, apart from its unseen rows
    "ood_n": 50,
    # 08 and 10: three categories (the generated sample has these too), their test rows; multi-worker
    # training (quickdraw_cnn.workers) is tested on its own in test_workers.py
    "classes": ["apple", "banana", "rainbow"],
    "test_offset": 1800,
    "test_n": 100,
    "class_counts": [2],
    "multiworker": False,
    "wide_epochs": 2,
}


@pytest.fixture(scope="session")
def smoke_parameters():
    """The parameters of the smoke run (a copy: tests may not change them)."""
    return dict(SMOKE)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory, data_dir):
    """One papermill run of the whole series with SMOKE parameters, shared by every test that
    needs it (test_series.py checks it, test_solutions.py runs the solutions on its artifacts):
    (run folder, {notebook name: seconds})."""
    run_dir = tmp_path_factory.mktemp("run")
    # the independent sample by default: rows 1800-1999 of the training source, 200 per class
    params = {**SMOKE, "model": "both", "eval_offset": 1800, "eval_n": 200}
    seconds = series.run_series(run_dir, params, log=lambda *args, **kwargs: None)
    return run_dir, seconds
