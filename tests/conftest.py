"""Fixtures shared by the tests (the environment is set in the repository's conftest.py)."""

import os
from pathlib import Path

import pytest

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
