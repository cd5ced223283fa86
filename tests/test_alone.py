"""A chapter opened by itself (as Colab opens it): its Setup cell installs the project and goes on.

Every notebook starts with the same Setup cell, whose address is pyproject's Repository. The slow
test copies chapter 01 alone into an empty folder and runs it with papermill by a Python that has
the libraries but not the project; the Setup cell's pip installs the project from a local clone
(git's ``url.<base>.insteadOf``, given through GIT_CONFIG_* variables, points the GitHub address
at it), with no package index: nothing is downloaded.
"""

import json
import os
import re
import subprocess
import sys
import sysconfig
import time
import tomllib
from pathlib import Path

import pytest

REPO_DIR = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((REPO_DIR / "notebooks").glob("*.ipynb"))
NOTEBOOKS = CHAPTERS + sorted((REPO_DIR / "solutions").glob("*.ipynb"))
URL = tomllib.loads((REPO_DIR / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
SETUP = f"""\
try:
    import helpers
except ModuleNotFoundError:  # opened alone, e.g. in Colab: install the project (README, "A chapter alone")
    %pip install --quiet "quickdraw-cnn @ git+{URL}"
    import helpers"""


def _cells(path):
    return json.loads(path.read_text())["cells"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_has_a_colab_badge(path):
    title = "".join(_cells(path)[0]["source"])
    slug = URL.removeprefix("https://github.com/")
    assert f"colab.research.google.com/github/{slug}/blob/main/notebooks/{path.name}" in title


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_notebook_starts_with_the_same_setup_cell(path):
    first_code = next(c for c in _cells(path) if c["cell_type"] == "code")
    assert "".join(first_code["source"]) == SETUP, "run /work/notes/apply_setup_cell.py (one Setup cell)"
    assert first_code["metadata"].get("tags") == ["setup"] and not first_code["outputs"]


def _python_without_the_project(tmp_path):
    """A venv that sees every library of the test environment but not quickdraw-cnn: its path gets
    a folder of links to the test environment's site-packages, minus the project's own entries
    (its metadata, which would make pip think it is installed, and its editable finder)."""
    libraries = tmp_path / "libraries"
    libraries.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        name = entry.name.lower()
        if not (name.startswith(("quickdraw_cnn", "__editable__", "helpers")) or name.endswith(".pth")):
            (libraries / entry.name).symlink_to(entry)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "libraries.pth").write_text(f"{libraries}\n")
    return python


@pytest.mark.slow
def test_a_chapter_alone_installs_the_project_and_runs_to_the_end(tmp_path, data_dir):
    start = time.perf_counter()
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--", str(REPO_DIR), str(clone)], check=True)
    python = _python_without_the_project(tmp_path)
    alone = tmp_path / "alone"
    alone.mkdir()
    chapter = alone / CHAPTERS[0].name
    chapter.write_bytes(CHAPTERS[0].read_bytes())
    env = {
        **os.environ,
        "PYTHONPATH": "",
        # git: the repository's address means the local clone
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"url.{clone}.insteadOf",
        "GIT_CONFIG_VALUE_0": URL,
        # pip: no package index (the libraries are there), build with the setuptools that is there
        "PIP_NO_INDEX": "1",
        "PIP_NO_BUILD_ISOLATION": "0",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    probe = "import importlib.util as u, sys; sys.exit(u.find_spec('helpers') is not None)"
    subprocess.run([python, "-c", probe], check=True, cwd=tmp_path, env=env)  # the project is not there
    params = ["-p", "n_per_class", "200", "-p", "data_dir", str(data_dir or "")]
    run = subprocess.run(
        [python, "-m", "papermill", "-k", "python3", "--cwd", str(alone), *params, str(chapter), "out.ipynb"],
        env=env,
        cwd=alone,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    found = subprocess.run(
        [python, "-c", "import helpers; print(helpers.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert found.stdout.startswith(str(tmp_path / "venv")), "the Setup cell installed the project"
    out = json.loads((alone / "out.ipynb").read_text())
    errors = [o for c in out["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    text = "".join("".join(o.get("text", "")) for c in out["cells"] for o in c.get("outputs", []))
    assert re.search(r"\d", text)
    print(f"chapter 01 alone ran to the end in {time.perf_counter() - start:.0f} s")
