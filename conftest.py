"""pytest set-up for the whole repository (tests/ and the nbval run of notebooks/).

Where the drawings come from: with ``QUICKDRAW_DATA_DIR`` set or the real sample beside the
clone (``../shared/quickdraw/numpy_bitmap``, as in CI), the tests use real drawings. On a fresh
clone with neither, they generate apple- and banana-like drawings and point
``QUICKDRAW_DATA_DIR`` at them, so the notebooks run by papermill and nbval read them too.
No test reaches the network: the download URL points at a closed local port. Experiment results
(helpers.cached) go to a temporary folder, never into the repository's cache/.

Slow tests (marked ``slow``: notebooks run by papermill or nbval, a browser) say what they are doing
when they start, with the time since the session began; ``make test-fast`` leaves them out.
"""

import ast
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

REPO_DIR = Path(__file__).resolve().parent
SHARED_SAMPLE = REPO_DIR.parent / "shared" / "quickdraw" / "numpy_bitmap"


def _synthetic_dir():
    sys.path.insert(0, str(REPO_DIR / "tests"))
    from synthetic import SYNTHETIC_ROWS, draw_synthetic
    folder = Path(tempfile.mkdtemp(prefix="quickdraw-synthetic-"))
    for seed, kind in enumerate(("apple", "banana")):
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
    os.environ["QUICKDRAW_EXPERIMENT_CACHE"] = tempfile.mkdtemp(prefix="quickdraw-experiments-")


def pytest_report_header(config):
    return [f"drawings: {config._quickdraw_source} at {os.environ['QUICKDRAW_DATA_DIR']}",
            "slow parts (notebooks run by papermill and nbval, a browser) take most of the time: about "
            "10-15 minutes on 2 cores in all; make test-fast (-m 'not slow') skips them"]


def pytest_collection_modifyitems(config, items):
    """nbval's cells re-execute the committed notebooks at their default parameters: slow."""
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)


def _slow_part(path):
    """What a file of slow tests does, in one line, or None when the file has no slow test."""
    path = REPO_DIR / path
    if path.suffix == ".ipynb":
        return f"nbval re-executes {path.name} at its default parameters"
    try:
        text = path.read_text()
    except OSError:
        return None
    if "mark.slow" not in text:
        return None
    doc = ast.get_docstring(ast.parse(text)) or ""
    return f"{path.relative_to(REPO_DIR)}: {doc.splitlines()[0] if doc else 'slow tests'}"


@pytest.hookimpl(trylast=True)
def pytest_runtest_logstart(nodeid, location):
    """Announce each file of slow tests as its first test starts, with the time since the session
    began (this hook runs where the terminal is, with or without pytest-xdist)."""
    path = nodeid.split("::")[0]
    if path in _ANNOUNCED or _STATE.get("reporter") is None:
        return
    _ANNOUNCED.add(path)
    text = _slow_part(path)
    if text:
        elapsed = int(time.monotonic() - _STATE["start"])
        _STATE["reporter"].write_line(f"[{elapsed // 60}:{elapsed % 60:02d}] {text}")


_STATE, _ANNOUNCED = {}, set()


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    _STATE["start"] = time.monotonic()
    _STATE["reporter"] = session.config.pluginmanager.get_plugin("terminalreporter")
