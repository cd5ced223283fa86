"""Shared test set-up: where the drawings come from.

With the real sample beside the clone (``../shared/quickdraw/numpy_bitmap``, as in CI) or
``QUICKDRAW_DATA_DIR`` set, the tests use real drawings. On a fresh clone with neither and no
network, they generate small apple-like and banana-like drawings instead and point
``QUICKDRAW_DATA_DIR`` at them, so the notebooks executed by papermill and nbval read them too.
"""

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

REPO_DIR = Path(__file__).resolve().parents[1]
SHARED_SAMPLE = REPO_DIR.parent / "shared" / "quickdraw" / "numpy_bitmap"
SYNTHETIC_ROWS = 2000


def draw_synthetic(kind, n, seed=0):
    """``n`` generated 28x28 drawings flattened to (n, 784) uint8: 'apple' (a ring with a stem)
    or 'banana' (a crescent), at random places and sizes, strokes 255 on 0, zero border."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28]
    out = np.zeros((n, 28, 28), np.float32)
    for i in range(n):
        cy, cx = rng.uniform(11, 17, 2)
        r = rng.uniform(6, 9)
        d = np.hypot(yy - cy, xx - cx)
        ring = np.clip(1.5 - np.abs(d - r), 0, 1)
        if kind == "apple":
            stem = (np.abs(xx - cx) < 1) & (yy < cy - r + 1) & (yy > cy - r - 3)
            img = np.maximum(ring, stem)
        else:
            angle = np.arctan2(yy - cy, xx - cx) + rng.uniform(-0.5, 0.5)
            img = ring * (np.sin(angle) > 0.1)
            img = np.maximum(img, np.clip(1.5 - np.abs(np.hypot(yy - cy + r / 2, xx - cx) - r), 0, 1)
                             * (np.sin(angle) > 0.5))
        out[i] = img
    out[:, [0, 1, -2, -1], :] = 0
    out[:, :, [0, 1, -2, -1]] = 0
    out = np.round(out * 255)
    return out.reshape(n, 784).astype(np.uint8)


def _synthetic_dir():
    folder = Path(tempfile.mkdtemp(prefix="quickdraw-synthetic-"))
    for seed, kind in enumerate(("apple", "banana")):
        np.save(folder / f"{kind}.npy", draw_synthetic(kind, SYNTHETIC_ROWS, seed))
    return folder


def pytest_configure(config):
    """Point QUICKDRAW_DATA_DIR at real or generated drawings before any notebook kernel starts."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("QUICKDRAW_QUIET", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    if os.environ.get("QUICKDRAW_DATA_DIR"):
        source = "QUICKDRAW_DATA_DIR"
    elif SHARED_SAMPLE.is_dir():
        os.environ["QUICKDRAW_DATA_DIR"] = str(SHARED_SAMPLE)
        source = "the shared real sample"
    else:
        os.environ["QUICKDRAW_DATA_DIR"] = str(_synthetic_dir())
        source = "generated drawings (no real sample found)"
    config._quickdraw_source = source
    # A fresh clone must not reach the internet from a test: an unset base URL goes nowhere.
    os.environ.setdefault("QUICKDRAW_BASE_URL", "http://127.0.0.1:9/no-network-in-tests")


def pytest_report_header(config):
    return f"drawings: {config._quickdraw_source} at {os.environ['QUICKDRAW_DATA_DIR']}"


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
