"""Committed notebooks carry no path of the machine that ran them: messages show paths relative
to the repository or a folder's name (quickdraw_data.shown_path); and no saved widget state, which
only an interactive session leaves (with figures of that session, not of the committed run)."""

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


def test_committed_notebooks_carry_no_saved_widget_state():
    stale = [
        f"{path.parent.name}/{path.name}"
        for path in COMMITTED
        if "widgets" in nbformat.read(path, as_version=4).metadata
    ]
    assert not stale, f"saved widget state in {stale}: make notebooks drops it"


def test_committed_outputs_were_made_with_googles_strokes_at_hand():
    """07 and its solution skip their comparison with Google's strokes when none can be had (offline,
    no QUICKDRAW_STROKES_DIR); the committed outputs must show the comparison, not the skip."""
    skipped = {
        f"{path.parent.name}/{path.name} cell {i}": text
        for path in COMMITTED
        for i, text in outputs(path)
        if "no strokes of Google's" in text
    }
    assert not skipped, f"made without strokes (set QUICKDRAW_STROKES_DIR for make notebooks): {skipped}"
