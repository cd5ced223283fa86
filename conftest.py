"""pytest set-up for the whole repository (tests/ and the nbval run of notebooks/).

Where the drawings come from: with ``QUICKDRAW_DATA_DIR`` set or the real sample beside the
clone (``../shared/quickdraw/numpy_bitmap``, as in CI), the tests use real drawings. On a fresh
clone with neither, they generate apple- and banana-like drawings and point
``QUICKDRAW_DATA_DIR`` at them, so the notebooks run by papermill and nbval read them too.
No test reaches the network: the download URL points at a closed local port. Experiment results
(cached) go to a temporary folder, never into the repository's cache/.

Slow tests (marked ``slow``: notebooks run by papermill or nbval, a browser) say what they are doing
when they start, with the time since the session began; ``make test-fast`` leaves them out.
"""

import ast
import importlib.util
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
    for seed, kind in enumerate(_categories_asked_for()):
        np.save(folder / f"{kind}.npy", draw_synthetic(kind, SYNTHETIC_ROWS, seed))
    return folder


def _categories_asked_for():
    """apple, banana, rainbow and every category a committed notebook's parameters name
    (08's 14 ``classes``), so nbval's runs on generated drawings never reach for the network."""
    import json

    names = ["apple", "banana", "rainbow"]
    for path in sorted((REPO_DIR / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if "parameters" not in cell.get("metadata", {}).get("tags", []):
                continue
            for node in ast.walk(ast.parse("".join(cell["source"]))):
                name = ast.unparse(node.targets[0]) if isinstance(node, ast.Assign) else ""
                if name == "classes" or name.endswith("categories"):  # 09: other_, unseen_categories
                    value = ast.literal_eval(node.value) if isinstance(node.value, ast.List) else []
                    names += [n for n in value if isinstance(n, str)]
    return list(dict.fromkeys(names))


def pytest_configure(config):
    """Set the environment before any notebook kernel starts (kernels inherit it)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["QUICKDRAW_QUIET"] = "1"
    os.environ.setdefault("MPLBACKEND", "Agg")
    if os.environ.get("QUICKDRAW_DATA_DIR"):  # absolute: notebook kernels run in notebooks/
        os.environ["QUICKDRAW_DATA_DIR"] = str(Path(os.environ["QUICKDRAW_DATA_DIR"]).resolve())
        source = "QUICKDRAW_DATA_DIR"
    elif SHARED_SAMPLE.is_dir() and not os.environ.get("QUICKDRAW_HIDE_SAMPLE"):
        os.environ["QUICKDRAW_DATA_DIR"] = str(SHARED_SAMPLE)
        source = "the shared real sample"
    else:
        os.environ["QUICKDRAW_DATA_DIR"] = str(_synthetic_dir())
        source = "generated drawings (no real sample found)"
    config._quickdraw_source = source
    strokes = Path(os.environ["QUICKDRAW_DATA_DIR"]).parent / "simplified"  # the sample's strokes
    if "generated" not in source and strokes.is_dir():
        os.environ.setdefault("QUICKDRAW_STROKES_DIR", str(strokes))
    os.environ["QUICKDRAW_BASE_URL"] = "http://127.0.0.1:9/no-network-in-tests"
    os.environ["QUICKDRAW_STROKES_URL"] = "http://127.0.0.1:9/no-network-in-tests"
    os.environ["QUICKDRAW_EXPERIMENT_CACHE"] = tempfile.mkdtemp(prefix="quickdraw-experiments-")
    # deadlines: papermill runs (series.py) get QUICKDRAW_CELL_TIMEOUT a cell, QUICKDRAW_RUN_DEADLINE
    # a run; nbval gets the same per-cell timeout (a cell that hangs fails, it does not wait forever)
    os.environ.setdefault("QUICKDRAW_CELL_TIMEOUT", "900")
    os.environ.setdefault("QUICKDRAW_RUN_DEADLINE", "3600")
    if hasattr(config.option, "nbval_cell_timeout"):
        config.option.nbval_cell_timeout = float(os.environ["QUICKDRAW_CELL_TIMEOUT"])
    os.environ["QUICKDRAW_HEADLESS"] = "1"
    _nbval_kernels_over_unix_sockets()


def _nbval_kernels_over_unix_sockets():
    """nbval starts its kernels with the kernel manager that papermill runs use (Unix sockets, no
    TCP port to lose to a kernel that the other worker starts at the same moment; see
    quickdraw_cnn.execute.kernel_manager_class). nbval has no option for it: its module's name
    ``KernelManager`` is pointed at ours, if nbval still starts kernels through that name."""
    try:
        import nbval.kernel
    except ImportError:
        return
    from quickdraw_cnn.execute import kernel_manager_class

    if hasattr(nbval.kernel, "KernelManager"):
        nbval.kernel.KernelManager = kernel_manager_class(sync=True)


def pytest_report_header(config):
    return [
        f"drawings: {config._quickdraw_source} at {os.environ['QUICKDRAW_DATA_DIR']}",
        "slow parts (notebooks run by papermill and nbval, a browser) take most of the time: about "
        "12 minutes on 2 cores in all; make test-fast (-m 'not slow') skips them",
    ]


def pytest_collection_modifyitems(config, items):
    """Slow: nbval's cells (they re-execute the committed notebooks at their default parameters)
    and every test that needs the papermill smoke run of the series."""
    for item in items:
        if item.path.suffix == ".ipynb" or "smoke_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


# Chapters that read nothing the others write (08 and 10 load their own drawings): nbval may run them
# in the other worker, beside the chain 01-07, which keeps the two workers about equally busy.
STANDALONE_NOTEBOOKS = {"notebooks/08_many_categories.ipynb", "notebooks/10_beyond_one_machine.ipynb"}

# Files whose tests share the papermill smoke run of the series: one worker runs them, so it runs once.
SMOKE_RUN_FILES = {"tests/test_series.py", "tests/test_solutions.py"}


def work_unit(nodeid):
    """Which tests one pytest-xdist worker runs together (make test: -n 2 --dist loadscope): all
    the notebooks under nbval, in order (each reads what the one before wrote in ../artifacts);
    the files that share the smoke run; else each test file whole."""
    path = nodeid.split("::")[0]
    if path in STANDALONE_NOTEBOOKS:
        return path
    if path.endswith(".ipynb"):
        return "notebooks"
    return "smoke run" if path in SMOKE_RUN_FILES else path


if importlib.util.find_spec("xdist") is not None:

    def pytest_xdist_make_scheduler(config, log):
        if config.getvalue("dist") != "loadscope":
            return None
        from xdist.scheduler import LoadScopeScheduling

        class WorkUnits(LoadScopeScheduling):
            def _split_scope(self, nodeid):
                return work_unit(nodeid)

        return WorkUnits(config, log)


def _slow_tests(path):
    """{test name: one line on what it does} for the slow tests of a file ({"": ...} for a
    notebook under nbval), read from the source: with pytest-xdist this process collects nothing."""
    path = REPO_DIR / path
    if path.suffix == ".ipynb":
        return {"": f"nbval re-executes {path.name} at its default parameters"}
    try:
        tree = ast.parse(path.read_text())
    except (OSError, SyntaxError, ValueError):
        return {}
    everything = any(
        isinstance(node, ast.Assign)
        and "pytestmark" in ast.unparse(node.targets[0])
        and "slow" in ast.unparse(node.value)
        for node in tree.body
    )

    def first_sentence(node):
        doc = " ".join((ast.get_docstring(node) or node.name.replace("_", " ")).split("\n\n")[0].split())
        return doc.split(". ")[0].rstrip(".")

    return {
        node.name: first_sentence(node)
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and (everything or any("mark.slow" in ast.unparse(d) for d in node.decorator_list))
    }


@pytest.hookimpl(trylast=True)
def pytest_runtest_logstart(nodeid, location):
    """Say what each slow test does as it starts (a notebook under nbval: once), with the time
    since the session began. This hook runs where the terminal is, with or without pytest-xdist."""
    path, _, name = nodeid.partition("::")
    name = "" if path.endswith(".ipynb") else name.split("[")[0]
    key = f"{path}::{name}"
    if key in _ANNOUNCED or _STATE.get("reporter") is None:
        return
    if path not in _PARTS:
        _PARTS[path] = _slow_tests(path)
    if name not in _PARTS[path]:
        return
    _ANNOUNCED.add(key)
    elapsed = int(time.monotonic() - _STATE["start"])
    where = path if not name else f"{Path(path).name}::{name}"
    _STATE["reporter"].write_line(f"[{elapsed // 60}:{elapsed % 60:02d}] {where}: {_PARTS[path][name]}")


_STATE, _ANNOUNCED, _PARTS = {}, set(), {}


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    _STATE["start"] = time.monotonic()
    _STATE["reporter"] = session.config.pluginmanager.get_plugin("terminalreporter")
