"""Drawings as strokes turned into Quick, Draw! bitmaps the way Google made its own, compared and saved.
Drawings: the Quick, Draw! dataset by Google Creative Lab, CC BY 4.0
(https://github.com/googlecreativelab/quickdraw-dataset).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from quickdraw_cnn.errors import DataError
from quickdraw_cnn.files import atomic_save

SIDE = 28  # Google's bitmaps are 28x28
ORIGINAL_SIDE = 256.0  # the simplified strokes live in 0..255
LINE_WIDTH = 16.0  # cairo's line width, in the 0..255 space
PADDING = 16.0  # cairo's padding on each side, in the 0..255 space
SUPERSAMPLE = 16  # each pixel's coverage counted on a 16x16 grid of points (anti-aliasing)
MAX_COORDINATE = 1e6  # larger coordinates are refused (a pointer never sends them)


def align_and_scale(strokes):
    """The drawing moved to the top-left corner and scaled so its longer side spans 0..255, as Google did.

    Used by simplify_strokes and A1_strokes_and_bitmaps.ipynb (a sketch's centre line).
    """
    strokes = [np.asarray(s[:2], dtype=np.float64).T for s in strokes]
    points = np.concatenate(strokes)
    low, extent = points.min(axis=0), max(np.ptp(points, axis=0).max(), 1e-9)
    return [((s - low) * 255 / extent).T.tolist() for s in strokes]


def check_strokes(strokes):
    """The strokes as a list of float arrays (n, 2), or a DataError that says in words what is wrong.

    Used by simplify_strokes and the sketch pad.
    """
    if isinstance(strokes, (str, bytes)) or not hasattr(strokes, "__len__"):
        raise DataError(f"a drawing is a list of strokes, got {type(strokes).__name__}")
    if len(strokes) == 0:
        raise DataError("the pad is empty: draw something first")
    out = [check_stroke(stroke, k) for k, stroke in enumerate(strokes, 1)]
    points = np.concatenate(out)
    if np.ptp(points, axis=0).max() < 1e-9:
        raise DataError(
            "the drawing is a single dot: draw a shape (Quick, Draw! drawings span "
            "their whole box, so a dot would be blown up into a blob)"
        )
    return out


def check_stroke(stroke, k=1):
    """One stroke (``[[x...], [y...]]``, maybe a third list of times) as a float array (n, 2), or a
    DataError saying what is wrong with it (``k``: its number, for the message).

    Used by check_strokes.
    """
    try:
        xs, ys = np.asarray(stroke[0], dtype=np.float64), np.asarray(stroke[1], dtype=np.float64)
    except (TypeError, ValueError, IndexError, KeyError) as err:
        raise DataError(f"stroke {k} is not [[x0, x1, ...], [y0, y1, ...]]: {err}") from err
    if xs.ndim != 1 or xs.shape != ys.shape or len(xs) == 0:
        raise DataError(
            f"stroke {k} needs as many x as y coordinates, at least one (got {xs.shape} and {ys.shape})"
        )
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        raise DataError(f"stroke {k} has coordinates that are not numbers (NaN or infinite)")
    if max(np.abs(xs).max(), np.abs(ys).max()) > MAX_COORDINATE:
        raise DataError(
            f"stroke {k} has coordinates beyond ±{MAX_COORDINATE:g}: that is not a drawing from a pad"
        )
    return np.c_[xs, ys]


def rdp(points, epsilon):
    """Ramer-Douglas-Peucker: the fewest of ``points`` (n, 2) that keep the line within ``epsilon``.

    Used by simplify_strokes (Ramer-Douglas-Peucker, epsilon 2, as Google's README says).
    """
    points = np.asarray(points, dtype=np.float64)
    keep = np.zeros(len(points), bool)
    keep[[0, -1]] = True
    todo = [(0, len(points) - 1)]
    while todo:
        a, b = todo.pop()
        if b - a < 2:
            continue
        seg, rel = points[b] - points[a], points[a + 1 : b] - points[a]
        norm = np.hypot(*seg)
        dist = np.abs(seg[0] * rel[:, 1] - seg[1] * rel[:, 0]) / norm if norm > 0 else np.hypot(*rel.T)
        i = int(np.argmax(dist))
        if dist[i] > epsilon:
            keep[a + 1 + i] = True
            todo += [(a, a + 1 + i), (a + 1 + i, b)]
    return points[keep]


def _resample(points, spacing=1.0):
    """Points along the polyline every ``spacing`` units (its corners kept: RDP removes extras)."""
    out = [points[:1]]
    for p, q in zip(points[:-1], points[1:]):
        steps = int(np.ceil(np.hypot(*(q - p)) / spacing))
        if steps > 0:
            t = np.arange(1, steps + 1)[:, None] / steps
            out.append(p + t * (q - p))
    return np.concatenate(out)


def simplify_strokes(strokes, epsilon=2.0):
    """Google's simplification: align to the top-left, scale the longer side to 0..255, resample every pixel,
    Ramer-Douglas-Peucker with ``epsilon``, round to whole numbers.

    Used by strokes_to_bitmap; explained in A1_strokes_and_bitmaps.ipynb
    """
    check_strokes(strokes)
    simplified = []
    for stroke in align_and_scale(strokes):
        s = np.round(rdp(_resample(np.asarray(stroke, dtype=np.float64).T), epsilon)).astype(int)
        simplified.append([s[:, 0].tolist(), s[:, 1].tolist()])
    return simplified


def render_strokes(simplified, side=SIDE, supersample=SUPERSAMPLE, line_width=LINE_WIDTH, as_one=False):
    """Simplified strokes (0..255) drawn as Google drew them (cairo): white on black, ``line_width`` 16 and
    padding 16 in the 0..255 space, round caps and joins, centred on the bounding box.

    Used by strokes_to_bitmap and A1's pictures; explained in A1_strokes_and_bitmaps.ipynb
    """
    total = 2 * PADDING + LINE_WIDTH  # the frame stays Google's whatever the line width
    scale = side / (ORIGINAL_SIDE + total)
    pts = [np.asarray(s[:2], dtype=np.float64) for s in simplified]
    offset = (ORIGINAL_SIDE - np.concatenate(pts, axis=1).max(axis=1)) / 2 + total / 2
    n, r = side * supersample, line_width / 2 * scale * supersample
    centre = np.arange(n) + 0.5
    value = np.zeros((side, side))
    mask = np.zeros((n, n), bool)
    for k, (xs, ys) in enumerate(pts):
        x, y = (xs + offset[0]) * scale * supersample, (ys + offset[1]) * scale * supersample
        for a, b in [(0, 0)] if len(x) == 1 else zip(range(len(x) - 1), range(1, len(x))):
            _paint_segment(mask, centre, x[a], y[a], x[b], y[b], r)
        if as_one and k < len(pts) - 1:
            continue
        count = mask.reshape(side, supersample, side, supersample).sum(axis=(1, 3))
        cover = np.floor(count * 255 / supersample**2 + 0.5)
        value = np.where(count > 0, np.floor(cover + value * (255 - cover) / 255 + 0.5), value)
        mask[:] = False
    return value.astype(np.uint8)


def _paint_segment(mask, centre, ax, ay, bx, by, r):
    """Set the points of ``mask`` within ``r`` of the segment (ax, ay)-(bx, by): a round-capped line."""
    n = mask.shape[0]
    i0, i1 = max(0, int(np.floor(min(ay, by) - r - 0.5))), min(n - 1, int(np.ceil(max(ay, by) + r - 0.5)))
    j0, j1 = max(0, int(np.floor(min(ax, bx) - r - 0.5))), min(n - 1, int(np.ceil(max(ax, bx) + r - 0.5)))
    if i1 < i0 or j1 < j0:
        return
    py, px = np.meshgrid(centre[i0 : i1 + 1], centre[j0 : j1 + 1], indexing="ij")
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / length2, 0, 1) if length2 > 0 else 0.0
    ex, ey = px - ax - t * dx, py - ay - t * dy
    mask[i0 : i1 + 1, j0 : j1 + 1] |= ex * ex + ey * ey <= r * r


def strokes_to_bitmap(strokes):
    """A drawing's strokes as the 28x28 uint8 bitmap Google would have made of it: simplified, then rendered.

    Explained in 07_what_the_network_sees.ipynb
    """
    return render_strokes(simplify_strokes(strokes))


# --------------------------------------- how close to Google's bitmaps ----


def stroke_length(simplified, side=SIDE):
    """Total length of simplified strokes, in pixels of the (side x side) bitmap (for the stroke width).

    Used by compare_with_google and A1_strokes_and_bitmaps.ipynb
    """
    scale = side / (ORIGINAL_SIDE + 2 * PADDING + LINE_WIDTH)
    return sum(float(np.hypot(*np.diff(np.asarray(s[:2], float), axis=1)).sum()) for s in simplified) * scale


def bitmap_stats(bitmap):
    """One 28x28 bitmap's ink share, whether its border is empty, and its ink's offset from the centre.

    Used by compare_with_google.
    """
    b = np.asarray(bitmap, dtype=np.float64).reshape(SIDE, SIDE)
    ys, xs = np.mgrid[0:SIDE, 0:SIDE]
    total = max(b.sum(), 1e-9)
    centre = np.array([(b * ys).sum(), (b * xs).sum()]) / total
    border = np.r_[b[0], b[-1], b[:, 0], b[:, -1]]
    offset = float(np.hypot(*(centre - (SIDE - 1) / 2)))
    return {"ink": float(b.mean() / 255), "border_empty": bool(border.max() == 0), "centre_offset": offset}


HISTOGRAM_BINS = [0, 1, 64, 128, 192, 255, 256]  # grey levels: 0 | 1-63 | 64-127 | 128-191 | 192-254 | 255


def compare_with_google(pairs):
    """Render each pair's strokes and compare with Google's bitmap of them: grey difference, correlation,
    ink, stroke width, empty border, centring, histogram. Returns a dict of figures.

    Used by A1_strokes_and_bitmaps.ipynb (explained there) and tests/test_sketchpad.py
    """
    ours, theirs, lengths = [], [], []
    for category_pairs in pairs.values():
        for strokes, bitmap in category_pairs:
            ours.append(render_strokes(strokes))
            theirs.append(bitmap)
            lengths.append(stroke_length(strokes))
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    lengths = np.asarray(lengths)
    diff = np.abs(ours - theirs).mean(axis=(1, 2))

    def side(images):
        stats = [bitmap_stats(b) for b in images]
        ink = np.array([s["ink"] for s in stats])
        width = images.sum(axis=(1, 2)) / 255 / np.maximum(lengths, 1e-9)
        hist = np.histogram(images, HISTOGRAM_BINS)[0] / images.size
        figures = {"ink_share": float(ink.mean()), "stroke_width": float(np.median(width))}
        figures["border_empty"] = float(np.mean([s["border_empty"] for s in stats]))
        figures["centre_offset"] = float(np.mean([s["centre_offset"] for s in stats]))
        return figures | {"histogram": hist.round(4).tolist(), "_ink": ink, "_width": width}

    a, b = side(ours), side(theirs)
    return {
        "n": int(len(ours)),
        "mean_abs_diff": float(diff.mean()),
        "max_abs_diff": float(diff.max()),
        "correlation": float(np.corrcoef(ours.ravel(), theirs.ravel())[0, 1]),
        "ink_ratio": float(np.median(a["_ink"] / np.maximum(b["_ink"], 1e-9))),
        "width_ratio": float(np.median(a["_width"] / np.maximum(b["_width"], 1e-9))),
        "ours": {k: v for k, v in a.items() if not k.startswith("_")},
        "google": {k: v for k, v in b.items() if not k.startswith("_")},
        "histogram_bins": ["0", "1-63", "64-127", "128-191", "192-254", "255"],
    }


# -------------------------------------------- saving labelled drawings ----


def append_drawings(folder, category, bitmaps):
    """Append uint8 bitmaps to ``<folder>/<category>.npy`` in Google's format (N, 784), atomically.

    Used by the sketch pad's label buttons (SketchPad).
    """
    rows = np.asarray(bitmaps)
    if rows.dtype != np.uint8 or rows.size % (SIDE * SIDE) or rows.size == 0:
        raise DataError(f"expected uint8 28x28 bitmaps, got {rows.dtype} of shape {rows.shape}")
    rows = rows.reshape(-1, SIDE * SIDE)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{category}.npy"
    if path.exists():
        old = np.load(path, allow_pickle=False)
        if old.dtype != np.uint8 or old.ndim != 2 or old.shape[1] != SIDE * SIDE:
            raise DataError(
                f"{path} is not a Quick, Draw! bitmap file (uint8, (N, 784)): "
                f"{old.dtype} {old.shape}; move it away"
            )
        rows = np.concatenate([old, rows])
    atomic_save(path, rows)
    return len(rows)
