"""The GitHub Actions workflow (.github/workflows/): actionlint finds nothing, it runs the
README's test command on the Pythons the project supports, weekly too, and publishes the web
pages with GitHub Pages from pushes to main."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_DIR = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((REPO_DIR / ".github" / "workflows").glob("*.yml"))


def readme_test_command():
    """The test command of README's "Two commands" block."""
    text = (REPO_DIR / "README.md").read_text()
    block = re.search(r"## Two commands.*?```sh\n(.*?)```", text, re.S)
    assert block, "README has no 'Two commands' block"
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    tests = [c for c in commands if c.startswith("make test")]
    assert len(tests) == 1, commands
    return tests[0]


def actionlint():
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")
    if found is None:
        pytest.fail("actionlint is not installed (requirements.txt pins it): run make install")
    return found


def test_there_is_a_workflow():
    assert WORKFLOWS, "no workflow in .github/workflows/"


def test_actionlint_finds_nothing():
    result = subprocess.run(
        [actionlint(), "-no-color", *map(str, WORKFLOWS)],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_would_catch_a_fault(tmp_path):
    """The check can fail: a job without runs-on and an unknown expression context."""
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  t:\n    steps:\n      - run: echo ${{ nope.x }}\n")
    result = subprocess.run(
        [actionlint(), "-no-color", str(bad)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and "runs-on" in result.stdout


def _steps(workflow):
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_the_workflow_runs_the_readme_test_command():
    command = readme_test_command()
    assert command == "make test"
    ci = (REPO_DIR / ".ci" / "run").read_text().splitlines()
    assert command in [line.strip() for line in ci], ".ci/run does not call the README's test command"
    for path in WORKFLOWS:
        workflow = yaml.safe_load(path.read_text())
        runs = [line.strip() for step in _steps(workflow) for line in step.get("run", "").splitlines()]
        assert command in runs, f"{path.name} does not run `{command}`"


def test_the_workflow_covers_the_supported_pythons_weekly_with_caches():
    workflow = yaml.safe_load(WORKFLOWS[0].read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert "schedule" in triggers and "pull_request" in triggers and "push" in triggers
    assert set(workflow["jobs"]) == {"test", "pages"}
    job = workflow["jobs"]["test"]
    assert job["strategy"]["matrix"]["python-version"] == ["3.11", "3.12"]
    assert job["runs-on"].startswith("ubuntu")
    uses = {step.get("uses", "").split("@")[0]: step for step in job["steps"]}
    assert uses["actions/setup-python"]["with"]["cache"] == "pip"
    assert uses["actions/cache"]["with"]["path"] == "data"
    assert "upload-artifact" in " ".join(uses)
    assert any("CHROMIUM_PATH" in step.get("run", "") for step in job["steps"])


def test_the_pages_are_built_and_published_from_main_after_the_tests():
    workflow = yaml.safe_load(WORKFLOWS[0].read_text())
    job = workflow["jobs"]["pages"]
    assert job["needs"] == "test"
    assert "github.event_name == 'push'" in job["if"] and "refs/heads/main" in job["if"]
    assert job["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    assert job["environment"]["name"] == "github-pages"
    uses = {step.get("uses", "").split("@")[0]: step for step in job["steps"]}
    assert uses["actions/upload-pages-artifact"]["with"]["path"] == "site"
    assert "actions/deploy-pages" in uses
    runs = [line.strip() for step in job["steps"] for line in step.get("run", "").splitlines()]
    assert runs.index("make html") > next(i for i, r in enumerate(runs) if r.startswith("make run"))
    steps = [step.get("uses", "").split("@")[0] or step.get("name") for step in job["steps"]]
    assert steps.index("actions/upload-pages-artifact") < steps.index("actions/deploy-pages")
