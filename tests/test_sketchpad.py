"""Strokes to bitmap (sketches.py) and the sketch pad's Python side (sketchpad.py).

With the shared sample beside the clone, the renderer is compared with Google's own bitmaps of
the same strokes; without it, those comparisons skip and generated strokes are checked.
"""

import numpy as np
import pytest

import helpers
from quickdraw_cnn import occlusion, sketches, sketchpad
from quickdraw_cnn.data import load_drawings
from quickdraw_cnn.errors import QuickDrawError
from quickdraw_cnn.strokes import load_pairs

# cairo's line: width 16 in the 0..255 space, which spans 28 / (256 + 2*16 + 16) of a pixel per unit
GEOMETRIC_WIDTH = 16 * 28 / 304

T = np.linspace(0, 2 * np.pi, 80)
APPLE = [[140 + 80 * np.cos(T), 165 + 75 * np.sin(T)], [[138, 150], [95, 45]]]
U = np.linspace(0.25, np.pi - 0.25, 60)
BANANA = [
    [140 + 115 * np.cos(U), 70 + 110 * np.sin(U)],
    [140 + 115 * np.cos(U[::-1]), 110 + 55 * np.sin(U[::-1])],
]


def as_lists(strokes):
    return [[list(map(float, xs)), list(map(float, ys))] for xs, ys in strokes]


# ------------------------------------------------------------ strokes to bitmap ----


def test_a_drawing_becomes_a_google_style_bitmap():
    bitmap = sketches.strokes_to_bitmap(APPLE)
    assert bitmap.shape == (28, 28) and bitmap.dtype == np.uint8
    assert bitmap.max() == 255
    border = np.r_[bitmap[0], bitmap[-1], bitmap[:, 0], bitmap[:, -1]]
    assert not border.any()
    ys, xs = np.nonzero(bitmap)
    assert (ys.min(), ys.max()) == (1, 26)  # the taller side spans the box like Google's
    assert abs((xs.min() + xs.max()) / 2 - 13.5) <= 0.5  # the narrower side is centred


def test_simplification_is_googles():
    simplified = sketches.simplify_strokes(APPLE)
    points = np.concatenate([np.array(s).T for s in simplified])
    assert points.min(axis=0).tolist() == [0, 0] and points.max() == 255
    assert all(isinstance(v, int) for s in simplified for v in s[0])
    # Ramer-Douglas-Peucker keeps the corners of a polyline and drops points on a straight line
    line = np.c_[np.arange(0, 101), np.zeros(101)]
    assert sketches.rdp(line, 2.0).tolist() == [[0, 0], [100, 0]]
    corner = np.r_[np.c_[np.arange(50), np.zeros(50)], np.c_[np.full(50, 50), np.arange(50)]]
    assert len(sketches.rdp(corner, 2.0)) == 3


def test_line_width_and_ink_share_match_googles():
    """A straight line keeps cairo's width (about 1.47 px); the ink share of a drawn apple is within
    the middle 90% of real apples' (0.118 to 0.180, measured on the shared sample's 2,000)."""
    line = sketches.strokes_to_bitmap([[[0, 100], [50, 50]]]).astype(float) / 255
    widths = line.sum(axis=0)[5:23]
    assert np.allclose(widths, GEOMETRIC_WIDTH, rtol=0.05), widths
    assert 0.10 < sketches.bitmap_stats(sketches.strokes_to_bitmap(APPLE))["ink"] < 0.18


def test_scale_and_position_do_not_matter():
    a = sketches.strokes_to_bitmap(APPLE)
    moved = [[0.3 * np.asarray(xs) - 1000, 0.3 * np.asarray(ys) + 55] for xs, ys in APPLE]
    b = sketches.strokes_to_bitmap(moved)
    assert np.abs(a.astype(int) - b).mean() < 2


@pytest.mark.parametrize(
    "strokes, words",
    [
        ([], "empty"),
        ([[[5.0], [5.0]]], "single dot"),
        ([[[5, 5, 5], [7, 7, 7]]], "single dot"),
        ([[[1.0, np.nan], [1.0, 2.0]]], "not numbers"),
        ([[[1.0, np.inf], [1.0, 2.0]]], "not numbers"),
        ([[[0, 1e300], [0, 1]]], "beyond"),
        (["scribble"], "is not"),
        ([[[1, 2], [3]]], "as many"),
        (5, "list of strokes"),
    ],
)
def test_odd_strokes_are_refused_in_words(strokes, words):
    with pytest.raises(QuickDrawError, match=words):
        sketches.strokes_to_bitmap(strokes)


# -------------------------------------------------- against Google's bitmaps ----


@pytest.fixture(scope="module")
def match(real_sample):
    shared = real_sample.parent
    if not (shared / "simplified").is_dir():
        pytest.skip(f"no stroke sample at {shared / 'simplified'}")
    categories = sorted(path.stem for path in (shared / "simplified").glob("*.ndjson"))
    pairs = load_pairs(categories, 10, data_dir=real_sample, strokes_dir=shared / "simplified")
    return sketches.compare_with_google(pairs)


def test_rendering_matches_google_bitmaps(match):
    """Measured on the 140 pairs: mean difference 1.12 grey levels, correlation 0.9990, ink ratio
    0.989; the tolerances leave a little room, any real drift (width, padding, centring) breaks them."""
    assert match["n"] == 140
    assert match["mean_abs_diff"] < 1.5 and match["max_abs_diff"] < 4
    assert match["correlation"] > 0.998
    assert 0.97 < match["ink_ratio"] < 1.03 and 0.97 < match["width_ratio"] < 1.03


def test_border_centring_and_histogram_match_google(match):
    ours, google = match["ours"], match["google"]
    assert ours["border_empty"] == google["border_empty"] == 1.0
    assert abs(ours["centre_offset"] - google["centre_offset"]) < 0.05
    assert abs(ours["stroke_width"] - google["stroke_width"]) < 0.05
    assert np.allclose(ours["histogram"], google["histogram"], atol=0.01)


# ------------------------------------------------------------------ the pad ----


@pytest.fixture(scope="module")
def models():
    """Two small untrained networks: the pad's plumbing does not need a good model."""
    helpers.set_seed(0)
    return {"origin": helpers.build_origin(), "improved": helpers.build_origin(filters=4)}


@pytest.fixture
def pad(models, tmp_path):
    return sketchpad.SketchPad(models=models, categories=["apple", "banana"], drawings_dir=tmp_path / "mine")


def test_every_stroke_gets_an_answer(pad):
    seq = pad.seq
    pad._on_msg(pad, {"event": "stroke", "stroke": as_lists(APPLE)[0] + [[0] * len(T)]}, [])
    assert pad.seq == seq + 1 and pad.message == ""
    assert set(pad.result["probabilities"]) == {"origin", "improved"}
    assert all(0 <= p <= 1 for p in pad.result["probabilities"].values())
    assert len(pad.result["bitmap"]) == 784 and len(pad.result["occlusion_rgb"]) == 784 * 3
    assert np.array_equal(pad.answer["bitmap"], sketches.strokes_to_bitmap(as_lists(APPLE)[:1]))
    assert pad.answer["occlusion"].shape == (23, 23)  # patch 6: 28 - 6 + 1 positions a side


def test_undo_and_clear(pad):
    for stroke in as_lists(APPLE):
        pad._on_msg(pad, {"event": "stroke", "stroke": stroke}, [])
    assert len(pad.strokes) == 2
    pad._on_msg(pad, {"event": "undo"}, [])
    assert pad.strokes == as_lists(APPLE)[:1] and pad.result["probabilities"]
    pad._on_msg(pad, {"event": "clear"}, [])
    assert pad.strokes == [] and pad.result == {} and "empty" in pad.message
    pad.undo()  # undo on an empty pad is harmless
    assert pad.strokes == []


@pytest.mark.parametrize(
    "strokes, words",
    [
        ([], "empty"),
        ([[[100.0], [100.0]]], "single dot"),
        ([[[10.0, float("nan")], [10.0, 20.0]]], "not numbers"),
        ([[[0.0, 1e300], [0.0, 1.0]]], "beyond"),
        (["scribble"], "is not"),
        ("scribble", "list of strokes"),
        (5, "list of strokes"),
        (None, "empty"),
    ],
)
def test_odd_drawings_give_a_message_not_an_exception(pad, strokes, words):
    pad.strokes = strokes
    assert words in pad.message


def test_odd_messages_from_the_browser_give_a_message(pad):
    pad._on_msg(pad, {"event": "stroke", "stroke": [[1.0, float("nan")], [2.0, 3.0]]}, [])
    assert "not numbers" in pad.message and pad.strokes == []
    pad._on_msg(pad, {"event": "stroke", "stroke": None}, [])
    assert "stroke ignored" in pad.message
    pad._on_msg(pad, {"event": "label", "category": "pear"}, [])
    assert "not one of" in pad.message
    pad._on_msg(pad, {"event": "label", "category": "apple"}, [])  # nothing drawn
    assert "not saved" in pad.message and "empty" in pad.message


def test_without_a_trained_model_the_pad_says_run_04_first(tmp_path):
    pad = sketchpad.SketchPad(tmp_path / "artifacts", ["apple", "banana"])
    assert "04_training.ipynb first" in pad.message
    pad.strokes = as_lists(APPLE)
    assert "04_training.ipynb first" in pad.message and len(pad.result["bitmap"]) == 784


def test_labelled_drawings_round_trip_through_load_drawings(pad, tmp_path):
    drawn = {}
    for category, strokes in (("apple", APPLE), ("banana", BANANA), ("apple", APPLE[:1])):
        pad.strokes = as_lists(strokes)
        drawn.setdefault(category, []).append(pad.answer["bitmap"].ravel())
        pad._on_msg(pad, {"event": "label", "category": category}, [])
        assert pad.strokes == [] and f"saved as {category}" in pad.message
    assert pad.saved == {"apple": 2, "banana": 1}
    folder = tmp_path / "mine"
    for category, rows in drawn.items():
        back = load_drawings(category, len(rows), data_dir=folder)
        assert back.dtype == np.uint8 and back.shape == (len(rows), 784)
        assert np.array_equal(back, np.array(rows))
    assert sorted(p.name for p in folder.iterdir()) == ["apple.npy", "banana.npy"]  # no temporary files
    scores = sketchpad.evaluate_folder(pad.answerer.models, folder, ["apple", "banana"])
    assert scores["origin"]["n"] == 3


def test_an_interrupted_save_leaves_the_old_file_intact(tmp_path, monkeypatch):
    sketches.append_drawings(tmp_path, "apple", np.full((2, 784), 7, np.uint8))

    def broken_save(fh, *args, **kwargs):
        fh.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        sketches.append_drawings(tmp_path, "apple", np.zeros((1, 784), np.uint8))
    monkeypatch.undo()
    assert np.load(tmp_path / "apple.npy").shape == (2, 784)
    assert [p.name for p in tmp_path.iterdir()] == ["apple.npy"]


def test_occlusion_map_matches_a_direct_computation(models):
    net = models["origin"]
    log_odds = occlusion.log_odds_function(net)
    image = sketches.strokes_to_bitmap(APPLE).reshape(28, 28, 1)
    p = helpers.predict_proba(net, image[None])
    assert np.allclose(1 / (1 + np.exp(-log_odds(image[None]))), p, atol=1e-5)
    heat = occlusion.occlusion_map(log_odds, image, 6)
    hidden = image.copy()
    hidden[3:9, 10:16] = 0
    assert np.isclose(heat[3, 10], log_odds(image[None])[0] - log_odds(hidden[None])[0], atol=1e-4)
