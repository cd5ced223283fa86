"""ruff, the linter and formatter configured in pyproject.toml, over the Python files and the
notebooks: what `make lint` runs, so that `make test` covers it."""

import subprocess
import sys
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[1]
RUFF = [sys.executable, "-m", "ruff"]


def ruff(*args):
    return subprocess.run([*RUFF, *args], cwd=REPO_DIR, capture_output=True, text=True, timeout=120)


def test_ruff_finds_nothing():
    result = ruff("check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_code_is_formatted():
    result = ruff("format", "--check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_sees_the_notebooks_and_the_settings():
    """The lint covers the chapters too, with the project's line length, and would catch a fault."""
    listed = ruff("check", "--no-cache", "--show-files", ".").stdout
    assert "01_data_exploration.ipynb" in listed and "helpers.py" in listed
    bad = "import os\nx = 1\n" + "y = '" + "a" * 120 + "'\n"
    result = subprocess.run(
        [*RUFF, "check", "--no-cache", "--stdin-filename", "probe.py", "-"],
        input=bad,
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "F401" in result.stdout and "E501" in result.stdout
