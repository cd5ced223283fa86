"""pytest set-up for the whole repository (tests/ and the nbval run of notebooks/).

Where the drawings come from: with ``QUICKDRAW_DATA_DIR`` set or the real sample beside the
clone (``../shared/quickdraw/numpy_bitmap``, as in CI), the tests use real drawings. On a fresh
clone with neither, they generate apple- and banana-like drawings and point
``QUICKDRAW_DATA_DIR`` at them, so the notebooks run by papermill and nbval read them too.
No test reaches the network: the download URL points at a closed local port.
"""

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO_DIR = Path(__file__).resolve().parent
SHARED_SAMPLE = REPO_DIR.parent / "shared" / "quickdraw" / "numpy_bitmap"


def _synthetic_dir():
    sys.path.insert(0, str(REPO_DIR / "tests"))
    from synthetic import SYNTHETIC_ROWS, draw_synthetic
    folder = Path(tempfile.mkdtemp(prefix="quickdraw-synthetic-"))
    for seed, kind in enumerate(("apple", "banana", "rainbow")):  # rainbow: 08's third class
        np.save(folder / f"{kind}.npy", draw_synthetic(kind, SYNTHETIC_ROWS, seed))
    return folder


def pytest_configure(config):
    """Set the environment before any notebook kernel starts (kernels inherit it)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["QUICKDRAW_QUIET"] = "1"
    os.environ.setdefault("MPLBACKEND", "Agg")
    if os.environ.get("QUICKDRAW_DATA_DIR"):  # absolute: notebook kernels run in notebooks/
        os.environ["QUICKDRAW_DATA_DIR"] = str(Path(os.environ["QUICKDRAW_DATA_DIR"]).resolve())
        source = "QUICKDRAW_DATA_DIR"
    elif SHARED_SAMPLE.is_dir():
        os.environ["QUICKDRAW_DATA_DIR"] = str(SHARED_SAMPLE)
        source = "the shared real sample"
    else:
        os.environ["QUICKDRAW_DATA_DIR"] = str(_synthetic_dir())
        source = "generated drawings (no real sample found)"
    config._quickdraw_source = source
    os.environ["QUICKDRAW_BASE_URL"] = "http://127.0.0.1:9/no-network-in-tests"


def pytest_report_header(config):
    return f"drawings: {config._quickdraw_source} at {os.environ['QUICKDRAW_DATA_DIR']}"
