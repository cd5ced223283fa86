"""Committed notebooks carry no path of the machine that ran them: messages show paths relative
to the repository or a folder's name (quickdraw_data.shown_path)."""

import re
from pathlib import Path

import nbformat

REPO_DIR = Path(__file__).resolve().parents[1]
COMMITTED = [
    path for folder in ("notebooks", "solutions") for path in sorted((REPO_DIR / folder).glob("*.ipynb"))
]
ABSOLUTE = re.compile(
    r"(?<![\w.:/])(/(?:work|home|root|tmp|Users|private|var/folders|opt|mnt)/[\w.-]+"
    r"|[A-Z]:\\Users\\)"
)


def machine_paths(text):
    return ABSOLUTE.findall(text) + ([str(REPO_DIR)] if str(REPO_DIR) in text else [])


def outputs(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            text = out.get("text", "") + "".join(out.get("traceback", []))
            text += "".join(v for k, v in out.get("data", {}).items() if k.startswith("text/"))
            yield i, text
    yield "metadata", str(nb.metadata)


def test_the_pattern_finds_machine_paths():
    assert machine_paths("NotEnoughRowsError: rows of /work/shared/quickdraw/numpy_bitmap/apple.npy")
    assert machine_paths("cannot identify image file '/home/ann/artifacts/x.png'")
    assert not machine_paths("rows 0..9 of numpy_bitmap/apple.npy; see https://example.org/work/x")


def test_committed_outputs_show_no_path_of_the_machine():
    found = {
        f"{path.name} cell {i}": machine_paths(text)
        for path in COMMITTED
        for i, text in outputs(path)
        if machine_paths(text)
    }
    assert not found, found
