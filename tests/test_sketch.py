"""sketch_to_bitmap: an ordinary sketch image to a Quick, Draw! bitmap."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from quickdraw_cnn.sketches import (
    BlankCanvasError,
    NotAnImageError,
    draw_sketch,
    sketch_to_bitmap,
    strokes_to_png,
    thin,
)
from quickdraw_cnn.strokes import load_pairs


def bounding_box(bitmap):
    ys, xs = np.nonzero(bitmap)
    return ys.min(), ys.max(), xs.min(), xs.max()


@pytest.fixture
def circle_png(tmp_path):
    t = np.linspace(0, 2 * np.pi, 200)
    return draw_sketch([np.c_[3 + np.cos(t), 5 + np.sin(t)]], tmp_path / "circle.png")


def test_a_circle_comes_out_centred_with_a_zero_border(circle_png):
    bitmap = sketch_to_bitmap(circle_png)
    assert bitmap.shape == (28, 28) and bitmap.dtype == np.uint8
    assert bitmap.max() == 255 and bitmap.min() == 0
    assert not bitmap[0].any() and not bitmap[-1].any() and not bitmap[:, 0].any() and not bitmap[:, -1].any()
    top, bottom, left, right = bounding_box(bitmap)
    assert (top, left) == (1, 1) and (bottom, right) == (26, 26)  # longer side fills 26 pixels
    ys, xs = np.nonzero(bitmap)
    centre = np.average(ys, weights=bitmap[ys, xs]), np.average(xs, weights=bitmap[ys, xs])
    assert np.allclose(centre, 13.5, atol=1.0)
    assert bitmap[11:17, 11:17].max() == 0  # a ring: the middle stays empty


def test_strokes_keep_a_visible_width_after_shrinking(circle_png):
    bitmap = sketch_to_bitmap(circle_png)
    row = bitmap[13]
    assert (row > 0).sum() >= 4  # both sides of the ring, each at least 2 pixels wide


def test_a_wide_sketch_is_centred_vertically(tmp_path):
    path = draw_sketch([[(0, 0), (10, 1)]], tmp_path / "line.png", size=(8, 2))
    top, bottom, left, right = bounding_box(sketch_to_bitmap(path))
    assert (left, right) == (1, 26)
    assert abs((top + bottom) / 2 - 13.5) <= 1.5


def test_a_real_drawing_round_trips(tmp_path):
    """A 28x28 drawing that fills 26 pixels like Google's, blown up 12x as a dark-on-light JPEG,
    comes back close to itself."""
    yy, xx = np.mgrid[0:28, 0:28]
    ring = np.clip(1.2 - np.abs(np.hypot(yy - 13.5, xx - 13.5) - 12), 0, 1)
    ring[(yy >= 2) & (yy < 10) & (np.abs(xx - 13.5) < 1.5)] = 1  # a stem inside the top
    original = np.round(ring * 255).astype(np.uint8)
    assert bounding_box(original) == (1, 26, 1, 26)
    big = Image.fromarray(255 - original).resize((336, 336), Image.Resampling.BICUBIC)
    big.save(tmp_path / "apple.jpg", quality=90)
    back = sketch_to_bitmap(tmp_path / "apple.jpg")
    corr = np.corrcoef(back.ravel().astype(float), original.ravel().astype(float))[0, 1]
    assert corr > 0.7, corr


def test_arrays_work_too():
    canvas = np.ones((100, 60, 3))  # RGB floats in 0..1, white
    canvas[20:80, 28:32] = 0  # a vertical bar
    bitmap = sketch_to_bitmap(canvas)
    top, bottom, left, right = bounding_box(bitmap)
    assert (top, bottom) == (1, 26) and right - left < 6


def test_not_an_image_is_refused_clearly(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    with pytest.raises(NotAnImageError, match="PNG or JPEG"):
        sketch_to_bitmap(bad)
    with pytest.raises(NotAnImageError):
        sketch_to_bitmap(tmp_path / "missing.png")


def test_a_blank_canvas_is_refused_clearly(tmp_path):
    Image.new("L", (200, 100), 255).save(tmp_path / "blank.png")
    with pytest.raises(BlankCanvasError, match="blank"):
        sketch_to_bitmap(tmp_path / "blank.png")


def test_strokes_on_a_transparent_canvas(tmp_path):
    """Drawing apps export dark strokes on transparent pixels: those count as white paper."""
    rgba = np.zeros((300, 300, 4), np.uint8)  # fully transparent black
    rgba[100:200, 140:160] = (0, 0, 0, 255)  # one opaque black bar
    Image.fromarray(rgba, "RGBA").save(tmp_path / "bar.png")
    bitmap = sketch_to_bitmap(tmp_path / "bar.png")
    assert (bitmap > 0).sum() < 28 * 8  # a bar, not a filled square
    top, bottom, left, right = bounding_box(bitmap)
    assert (top, bottom) == (1, 26) and right - left < 8


SHARED = Path(__file__).resolve().parents[2] / "shared" / "quickdraw"


@pytest.fixture(scope="module")
def google_pairs():
    if not (SHARED / "simplified" / "apple.ndjson").is_file():
        pytest.skip("no stroke sample beside this clone")
    pairs = load_pairs(
        ["apple", "banana", "cat", "house"], 10, SHARED / "numpy_bitmap", SHARED / "simplified"
    )
    return [pair for v in pairs.values() for pair in v]


@pytest.mark.parametrize(("side", "pen"), [(400, 8), (400, 3), (800, 20)])
def test_an_image_of_googles_strokes_comes_back_as_googles_bitmap(google_pairs, tmp_path, side, pen):
    """The image route finds the strokes again whatever the pen: measured 2.8-3.6 grey levels from
    Google's bitmaps (the old thicken-and-shrink converter: about 29), ink within 3% of Google's."""
    diffs, ink, google_ink = [], [], []
    for k, (simplified, google) in enumerate(google_pairs):
        bitmap = sketch_to_bitmap(strokes_to_png(simplified, tmp_path / f"{k}.png", side=side, pen=pen))
        diffs.append(np.abs(bitmap.astype(int) - google).mean())
        ink.append(bitmap.mean())
        google_ink.append(google.mean())
    assert np.mean(diffs) < 5
    assert abs(np.mean(ink) / np.mean(google_ink) - 1) < 0.05


def test_thin_leaves_one_pixel_wide_lines():
    bar = np.zeros((30, 60), bool)
    bar[10:20, 5:55] = True  # a stroke 10 pixels wide
    centre = thin(bar)
    assert centre.sum() >= 30 and centre.sum(axis=0).max() == 1  # one pixel per column
    assert set(np.nonzero(centre)[0]) <= {14, 15}
