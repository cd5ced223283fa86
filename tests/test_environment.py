"""environment.yml, requirements.txt and pyproject.toml agree, and the running environment
has what requirements.txt pins."""

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


def _requirement_lines():
    lines = (REPO_DIR / "requirements.txt").read_text().splitlines()
    return [
        line.split(" #")[0].strip() for line in lines if line.strip() and not line.lstrip().startswith("#")
    ]


REQUIREMENTS = [Requirement(line) for line in _requirement_lines()]


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
    assert pips == [["-r requirements.txt"]]
    assert {_conda_name(d) for d in deps if isinstance(d, str)} == {"python", "pip"}


def test_requirements_use_compatible_release_pins():
    lines = _requirement_lines()
    assert lines, "requirements.txt is empty"
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
        pytest.fail(f"{req.name} is not installed (requirements.txt wants {req})")
    assert req.specifier.contains(installed, prereleases=True), (
        f"{req.name} {installed} installed, requirements.txt wants {req.specifier}"
    )
