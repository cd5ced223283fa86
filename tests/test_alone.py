"""A chapter opened by itself (as Colab opens it): its Setup cell fetches the project and goes on.

The chapter is copied alone into an empty folder and run with papermill by a Python that has the
libraries but not the project (a virtual environment that sees the test environment's packages but
not its editable install of quickdraw-cnn), with QUICKDRAW_CNN_REPO pointed at a local clone.
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
CHAPTERS = sorted((REPO_DIR / "notebooks").glob("[0-9][0-9]_*.ipynb"))
URL = tomllib.loads((REPO_DIR / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def _cells(path):
    return json.loads(path.read_text())["cells"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name[:2])
def test_every_chapter_has_a_colab_badge_and_a_bootstrap(path):
    cells = _cells(path)
    title = "".join(cells[0]["source"])
    slug = URL.removeprefix("https://github.com/")
    assert f"colab.research.google.com/github/{slug}/blob/main/notebooks/{path.name}" in title
    first_code = next("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert 'find_spec("helpers") is None' in first_code, "the first code cell fetches the project"
    assert f'os.environ.get("QUICKDRAW_CNN_REPO", "{URL}")' in first_code, "one URL: pyproject's"


@pytest.mark.slow
def test_a_chapter_alone_runs_to_the_end(tmp_path, data_dir):
    start = time.perf_counter()
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO_DIR), str(clone)], check=True)
    # A Python with the libraries but without the project: a venv whose only path is the test
    # environment's site-packages (a plain .pth line adds it, without running its .pth files, so
    # the editable install's finder is not there).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "libraries.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    probe = "import importlib.util as u, sys; sys.exit(u.find_spec('helpers') is not None)"
    subprocess.run([python, "-c", probe], check=True, cwd=tmp_path)  # the project is not importable

    alone = tmp_path / "alone"
    alone.mkdir()
    chapter = alone / CHAPTERS[0].name
    chapter.write_bytes(CHAPTERS[0].read_bytes())
    env = {**os.environ, "QUICKDRAW_CNN_REPO": str(clone), "PYTHONPATH": ""}
    params = ["-p", "n_per_class", "200", "-p", "data_dir", str(data_dir or "")]
    subprocess.run(
        [
            python,
            "-m",
            "papermill",
            "-k",
            "python3",
            "--cwd",
            str(alone),
            *params,
            str(chapter),
            str(alone / "out.ipynb"),
        ],
        check=True,
        env=env,
        cwd=alone,
        capture_output=True,
    )
    out = json.loads((alone / "out.ipynb").read_text())
    assert (alone / "quickdraw-cnn" / "helpers.py").is_file(), "the Setup cell fetched the project"
    errors = [o for c in out["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    text = "".join("".join(o.get("text", "")) for c in out["cells"] for o in c.get("outputs", []))
    assert re.search(r"\d", text)
    print(f"chapter 01 alone ran to the end in {time.perf_counter() - start:.0f} s")
