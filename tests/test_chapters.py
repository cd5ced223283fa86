"""The chapters read like chapters: short code cells, and back-links that lead somewhere.

- Every chapter and solution: the median code cell at most 7 non-blank lines, none over 20 but the
  cell tagged `parameters` (bookkeeping belongs in the library behind one call).
- Every public function or class of the library whose docstring says "Explained in NN_x.ipynb" is
  really mentioned by that chapter's text (prose or code); internals say "Used by ..." instead.
"""

import importlib
import inspect
import json
import re
import statistics
from pathlib import Path

import pytest

REPO_DIR = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(REPO_DIR.glob("notebooks/[0-9A][0-9]_*.ipynb")) + sorted(
    REPO_DIR.glob("solutions/[0-9][0-9]_*.ipynb")
)
MODULES = ["helpers"] + [
    f"quickdraw_cnn.{p.stem}"
    for p in sorted((REPO_DIR / "quickdraw_cnn").glob("*.py"))
    if p.stem != "__init__"
]


def _code_sizes(path):
    cells = json.loads(path.read_text())["cells"]
    return [
        len([line for line in "".join(c["source"]).splitlines() if line.strip()])
        for c in cells
        if c["cell_type"] == "code" and "parameters" not in c["metadata"].get("tags", [])
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name[:2]}")
def test_code_cells_are_short(path):
    sizes = _code_sizes(path)
    assert sizes, f"{path.name} has no code"
    long = [n for n in sizes if n > 20]
    assert statistics.median(sizes) <= 7 and not long, (
        f"{path.parent.name}/{path.name}: median {statistics.median(sizes)} lines, cells over 20: {long}"
    )


def _chapter_text(name):
    cells = json.loads((REPO_DIR / "notebooks" / name).read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells)


def _explained():
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name, obj in vars(module).items():
            if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if obj.__module__ != module_name:
                continue
            for chapter in re.findall(r"[Ee]xplained in ([0-9A]\d_\w+\.ipynb)", inspect.getdoc(obj) or ""):
                yield module_name, name, chapter


@pytest.mark.parametrize("module_name, name, chapter", list(_explained()), ids=lambda v: str(v))
def test_the_chapter_named_in_a_docstring_mentions_the_name(module_name, name, chapter):
    assert (REPO_DIR / "notebooks" / chapter).is_file(), (
        f"{module_name}.{name} names {chapter}: no such chapter"
    )
    assert re.search(rf"\b{re.escape(name)}\b", _chapter_text(chapter)), (
        f"{module_name}.{name} says 'Explained in {chapter}', but that chapter never mentions it: "
        "point it to the chapter that does, or write 'Used by ...' for an internal"
    )
