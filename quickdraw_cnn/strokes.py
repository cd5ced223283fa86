"""Google's simplified strokes of the drawings (``<category>.ndjson``), found as the bitmaps are.
Drawings: the Quick, Draw! dataset by Google Creative Lab, CC BY 4.0
(https://github.com/googlecreativelab/quickdraw-dataset).
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
import warnings

from quickdraw_cnn import data, files
from quickdraw_cnn.errors import DataError
from quickdraw_cnn.files import shown_path

BASE_URL = "https://storage.googleapis.com/quickdraw_dataset/full/simplified"
FIRST_CHUNK = 4096  # bytes asked for at least; a simplified drawing takes about 0.7 KB
LINE_GUESS = 1024  # bytes a line, for the next request's size until lines have been seen


def load_strokes(
    category, n, offset=0, strokes_dir=None, cache_dir=None, progress=None, timeout=30, deadline=None
):
    """Drawings ``offset .. offset+n-1`` of ``category`` as Google's simplified strokes (one dict a
    drawing), from ``strokes_dir``, ``$QUICKDRAW_STROKES_DIR`` or the cache, as ``data.load_drawings`` does.

    Explained in A1_strokes_and_bitmaps.ipynb
    """
    category, n, offset = data.check_request(category, n, offset)
    folders = {"strokes_dir": strokes_dir, "QUICKDRAW_STROKES_DIR": os.environ.get("QUICKDRAW_STROKES_DIR")}
    path, searched = data.find_in_folders(category, folders, ".ndjson", "simplified")
    if path is not None:
        return _read_lines(path, offset + n)[offset:]
    data.check_categories([category])  # a typo stops here, offline, with the nearest names
    path = data.cache_folder(cache_dir) / f"{category}.ndjson"
    have, lines = _cached_lines(path)
    if len(lines) < offset + n:
        lines = _download_lines(path, category, have, offset + n, progress, timeout, deadline, searched)
    return lines[offset : offset + n]


def load_pairs(categories, n, data_dir=None, strokes_dir=None, **kwargs):
    """``{category: [(strokes, bitmap), ...]}`` for the first ``n`` drawings of each category.

    Explained in A1_strokes_and_bitmaps.ipynb
    """
    pairs = {}
    for category in categories:
        lines = load_strokes(category, n, strokes_dir=strokes_dir, **kwargs)
        rows = data.load_drawings(category, n, data_dir=data_dir, **kwargs).reshape(-1, 28, 28)
        pairs[category] = [(line["drawing"], row) for line, row in zip(lines, rows)]
    return pairs


def _parse(line, where):
    """One line of a simplified file as a dict whose ``drawing`` is a list of strokes, each
    ``[[x...], [y...]]`` of as many numbers; else a DataError."""
    number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
    try:
        obj = json.loads(line)
        ok = isinstance(obj["drawing"], list) and all(
            isinstance(s, list) and len(s) >= 2 and len(s[0]) == len(s[1]) and all(map(number, s[0] + s[1]))
            for s in obj["drawing"]
        )
    except (ValueError, TypeError, KeyError, IndexError):
        ok = False
    if not ok:
        raise DataError(
            f"{where} is not a Quick, Draw! simplified-strokes line (a JSON object whose 'drawing' is "
            "[[[x0, x1, ...], [y0, y1, ...]], ...]). Use the files from full/simplified/; delete it "
            "or fetch it again."
        )
    return obj


def _read_lines(path, need):
    """The first ``need`` lines of a local file, checked (reads no further than that)."""
    lines = []
    with open(path, "rb") as fh:
        for k, raw in enumerate(fh, 1):
            lines += [_parse(raw, f"line {k} of {shown_path(path)}")] if raw.strip() else []
            if len(lines) == need:
                return lines
    raise DataError(f"asked for {need} drawings of {shown_path(path)}, which holds {len(lines)}.")


def _cached_lines(path):
    """(bytes, checked lines) of the cache file; a corrupt one is warned about and removed."""
    have = path.read_bytes() if path.is_file() else b""
    try:
        if have and not have.endswith(b"\n"):
            raise DataError("it ends in the middle of a line")
        return have, [_parse(raw, f"line {k}") for k, raw in enumerate(have.split(b"\n")[:-1], 1)]
    except DataError as err:
        warnings.warn(f"Corrupt cache file {shown_path(path)} ({err}); fetching it again.", stacklevel=4)
        path.unlink()
        return b"", []


def _download_lines(path, category, have, need, progress, timeout, deadline, searched):
    """The first ``need`` lines of the remote file (or all it has), cached: ``have`` and the bytes after
    it, a chunk at a time sized from the lines seen so far, all under one deadline."""
    url = f"{data.base_url('QUICKDRAW_STROKES_URL', BASE_URL)}/{urllib.parse.quote(category, safe='')}.ndjson"
    ends = time.monotonic() + data.download_deadline(need * LINE_GUESS, deadline)
    where = f" (looked in: {', '.join(searched)})" if searched else ""
    offline = f"put {category}.ndjson in a folder and set QUICKDRAW_STROKES_DIR to it{where}"
    body, timeout = bytearray(have), data.seconds("timeout", timeout)
    while (known := body.count(b"\n")) < need:
        per_line = len(body) / known if known else LINE_GUESS
        stop = len(body) + max(FIRST_CHUNK, int(1.25 * per_line * (need - known)))
        label = f"{category}: strokes"
        new = data.download(url, len(body), stop, ends, label, offline, timeout, progress, allow_short=True)
        if not new:
            break
        body += new
    whole = bytes(body).split(b"\n")[:-1][:need]  # whole lines only, up to the last one needed
    lines = [_parse(raw, f"line {k} of {url}") for k, raw in enumerate(whole, 1)]
    if len(whole) > have.count(b"\n"):  # only whole, checked lines reach the cache, never an empty file
        files.write_bytes(path, b"".join(line + b"\n" for line in whole))
    if len(lines) < need:
        raise DataError(f"asked for {need} drawings of '{category}', which has {len(lines)}.")
    return lines
