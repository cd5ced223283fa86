"""The exercises and their solutions: every chapter ends with exercises, every chapter with
exercises has a solution notebook, and every solution still holds.

Each solution in solutions/ runs under papermill against the artifacts of the smoke run of the
series (conftest.py's smoke_run) with its own tiny ``smoke_parameters``; its asserts check what
its answers claim, so a solution that stops being true fails here.
"""

import ast
import re

import nbformat
import pytest

from quickdraw_cnn import series
from quickdraw_cnn.errors import RunError

quiet = lambda *args, **kwargs: None  # noqa: E731


def _markdown(path):
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]


def _exercises(text):
    """The numbered items ("1. ★ ...") of a markdown cell."""
    return re.findall(r"^\d+\. .*$", text, flags=re.MULTILINE)


CHAPTERS = [p for p in series.notebooks() if p.name[0].isdigit()]  # appendices (A1) have no exercises


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name[:2])
def test_every_chapter_ends_with_exercises_then_the_pointer_onwards(chapter):
    cells = _markdown(chapter)
    headings = [i for i, text in enumerate(cells) if text.lstrip().startswith("## Exercises")]
    assert len(headings) == 1, f"{chapter.name}: needs one markdown cell starting '## Exercises'"
    exercises = cells[headings[0]]
    numbered = _exercises(exercises)
    assert 3 <= len(numbered) <= 5, f"{chapter.name}: 3-5 numbered exercises, found {len(numbered)}"
    assert all("★" in line for line in numbered), f"{chapter.name}: mark each exercise's difficulty"
    assert headings[0] >= len(cells) - 2, f"{chapter.name}: the exercises come last (then the pointer)"
    summary = [i for i, text in enumerate(cells) if "## Summary" in text]
    assert summary and summary[-1] < headings[0], f"{chapter.name}: exercises come after the Summary"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name[:2])
def test_every_chapter_with_exercises_has_its_solutions(chapter):
    if not any(text.lstrip().startswith("## Exercises") for text in _markdown(chapter)):
        pytest.fail(f"{chapter.name} has no Exercises section")
    solution = series.SOLUTION_DIR / chapter.name
    assert solution.is_file(), f"{chapter.name} has exercises but no solutions/{chapter.name}"
    n_exercises = sum(
        len(_exercises(text)) for text in _markdown(chapter) if text.lstrip().startswith("## Exercises")
    )
    answered = sum(
        len(re.findall(r"^## Exercise \d+", text, flags=re.MULTILINE)) for text in _markdown(solution)
    )
    assert answered == n_exercises, f"solutions/{chapter.name} answers {answered} of {n_exercises}"


@pytest.mark.parametrize("solution", series.solutions(), ids=lambda p: p.name[:2])
def test_solution_notebook_follows_the_conventions(solution):
    assert (series.NOTEBOOK_DIR / solution.name).is_file(), f"no chapter {solution.name}"
    nb = nbformat.read(solution, as_version=4)
    assert nb.metadata.kernelspec.name == "python3"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, solution.name
    defaults = {n.targets[0].id: ast.literal_eval(n.value) for n in ast.parse(tagged[0].source).body}
    assert defaults.get("artifacts_dir") == "../artifacts", solution.name
    smoke = nb.metadata.get("smoke_parameters")
    assert isinstance(smoke, dict) and set(smoke) <= set(defaults), solution.name
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "assert " in code, f"{solution.name}: a solution asserts what its answers claim"


@pytest.mark.parametrize("solution", series.solutions(), ids=lambda p: p.name[:2])
def test_solution_holds_on_the_smoke_run(solution, smoke_run, tmp_path):
    """A solution, against the smoke run's artifacts, with its smoke_parameters: it runs through
    (no failed assert) and prints nothing to stderr (no logs, warnings, progress bars)."""
    run_dir, _ = smoke_run
    seconds = series.run_solutions(run_dir / "artifacts", tmp_path, [solution.name], smoke=True, log=quiet)
    assert list(seconds) == [solution.name]
    nb = nbformat.read(tmp_path / solution.name, as_version=4)
    stderr = [
        o.text
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("name") == "stderr"
    ]
    assert not stderr, f"{solution.name}: {stderr}"


def test_solutions_refuse_a_folder_without_a_run(tmp_path):
    with pytest.raises(RunError, match="make run"):
        series.run_solutions(tmp_path, tmp_path / "out", log=quiet)
