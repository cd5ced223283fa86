"""quickdraw_cnn.sketches: what it refuses (always a DataError, in words) and what it saves.

The renderer against Google's bitmaps and the pad are tested in test_sketchpad.py; the image route
(thinning a sketch to its centre line) lives in notebooks/A1_strokes_and_bitmaps.ipynb, which
asserts its own figures when the series runs it.
"""

import numpy as np
import pytest

from quickdraw_cnn import sketches
from quickdraw_cnn.errors import DataError, QuickDrawError


@pytest.mark.parametrize(
    "strokes, words",
    [
        ([], "empty"),
        ([[[5.0, 5.0], [7.0, 7.0]]], "single dot"),
        ([[[1.0, float("nan")], [1.0, 2.0]]], "not numbers"),
        ([[[0.0, 1e300], [0.0, 1.0]]], "beyond"),
        (["scribble"], "is not"),
        ("apple", "list of strokes"),
    ],
)
def test_strokes_that_cannot_make_a_drawing_raise_a_data_error(strokes, words):
    with pytest.raises(DataError, match=words) as caught:
        sketches.strokes_to_bitmap(strokes)
    assert isinstance(caught.value, QuickDrawError) and isinstance(caught.value, ValueError)


def test_the_module_has_no_error_classes_of_its_own():
    for name in ("NotAnImageError", "BlankCanvasError", "StrokesError"):
        assert not hasattr(sketches, name)


def test_align_and_scale_moves_to_the_corner_and_spans_0_to_255():
    out = sketches.align_and_scale([[[10, 30], [5, 15]], [[20, 50], [25, 5]]])
    points = np.concatenate([np.array(s).T for s in out])
    assert points.min(axis=0).tolist() == [0, 0] and points.max() == pytest.approx(255)
    assert points[:, 1].max() == pytest.approx(255 * 20 / 40)  # the shorter side keeps the aspect


def test_append_drawings_refuses_bad_rows_and_writes_nothing(tmp_path):
    for bad in (np.zeros((1, 784), np.float32), np.zeros((1, 100), np.uint8), np.zeros((0, 784), np.uint8)):
        with pytest.raises(DataError, match="uint8 28x28"):
            sketches.append_drawings(tmp_path, "apple", bad)
    assert not list(tmp_path.iterdir())


def test_append_drawings_adds_to_the_file_and_keeps_a_foreign_one(tmp_path):
    assert sketches.append_drawings(tmp_path, "apple", np.full((2, 784), 7, np.uint8)) == 2
    assert sketches.append_drawings(tmp_path, "apple", np.full((28, 28), 9, np.uint8)) == 3
    rows = np.load(tmp_path / "apple.npy")
    assert rows.shape == (3, 784) and rows[:, 0].tolist() == [7, 7, 9]
    np.save(tmp_path / "banana.npy", np.zeros((2, 10)))
    before = (tmp_path / "banana.npy").read_bytes()
    with pytest.raises(DataError, match="move it away"):
        sketches.append_drawings(tmp_path, "banana", np.zeros((1, 784), np.uint8))
    assert (tmp_path / "banana.npy").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["apple.npy", "banana.npy"]
