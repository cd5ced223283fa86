"""The strokes side of the Quick, Draw! data client: Google's *simplified* drawings (one JSON object
a line of ``full/simplified/<category>.ndjson``), from a folder, the local cache or Google's bucket.

``load_strokes`` is what a chapter needs; ``load_pairs`` puts each drawing's strokes beside the bitmap
Google rendered from them (line i of the .ndjson file is row i of the .npy file). Google's files
are large (apple: about 100 MB), so a download asks with HTTP Range for the first bytes only, a
little more at a time, and keeps the lines up to the last one asked for, cut at a line end. The
download, the progress bar and the atomic writes are ``quickdraw_cnn.data``'s and
``quickdraw_cnn.files``'s; the cache (``data/<category>.ndjson`` beside the bitmaps' ``.npy``) holds
only whole, checked lines and grows as more are asked for.

Drawings: the Quick, Draw! dataset by Google Creative Lab, CC BY 4.0
(https://github.com/googlecreativelab/quickdraw-dataset).
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.error
import urllib.parse
import warnings
from pathlib import Path

from quickdraw_cnn import data
from quickdraw_cnn.data import DataFormatError, DownloadError, NotEnoughRowsError, UnknownCategoryError
from quickdraw_cnn.files import replacing

BASE_URL = "https://storage.googleapis.com/quickdraw_dataset/full/simplified"
FIRST_CHUNK = 4096  # bytes asked for at least; a simplified drawing takes about 0.7 KB
LINE_GUESS = 1024  # bytes a line, for the next request's size until lines have been seen


def load_strokes(category, n, offset=0, strokes_dir=None, cache_dir=None, progress=None, timeout=30):
    """Drawings ``offset .. offset+n-1`` of ``category`` as Google's simplified strokes: a list of
    dicts, one per drawing, as in the .ndjson file (``word``, ``countrycode``, ``timestamp``,
    ``recognized``, ``key_id`` and ``drawing``, a list of strokes ``[[x0, x1, ...], [y0, y1, ...]]``
    in 0..255).

    Looks in order: ``strokes_dir``, then ``$QUICKDRAW_STROKES_DIR`` (folders holding
    ``<category>.ndjson`` or ``full_simplified_<category>.ndjson``; only the lines needed are
    read), then the local cache (``$QUICKDRAW_CACHE_DIR`` or ``data/`` in the repository), then a
    download from Google's bucket (``$QUICKDRAW_STROKES_URL`` overrides it) with HTTP Range requests
    for the bytes up to the last line needed.

    Explained in 07_what_the_network_sees.ipynb
    """
    category, n, offset = data._check_request(category, n, offset)
    need, searched = offset + n, []
    for folder in (strokes_dir, os.environ.get("QUICKDRAW_STROKES_DIR")):
        if folder:
            searched.append(data.shown_path(folder))
            path = find_strokes_file(folder, category)
            if path is not None:
                return _read_lines(path, need, data.shown_path(path))[offset:need]
    cache = Path(cache_dir or os.environ.get("QUICKDRAW_CACHE_DIR") or data.REPO_DIR / "data")
    return _cached_lines(category, need, cache, progress, timeout, searched)[offset:need]


def load_pairs(categories, n, data_dir=None, strokes_dir=None, **kwargs):
    """``{category: [(strokes, bitmap), ...]}`` for the first ``n`` drawings of each category: the
    simplified strokes (``load_strokes``) beside the 28x28 uint8 bitmap Google made of them
    (``data.load_drawings``, row i is line i).

    Explained in 07_what_the_network_sees.ipynb
    """
    pairs = {}
    for category in categories:
        lines = load_strokes(category, n, strokes_dir=strokes_dir, **kwargs)
        rows = data.load_drawings(category, n, data_dir=data_dir, **kwargs).reshape(-1, 28, 28)
        pairs[category] = [(line["drawing"], row) for line, row in zip(lines, rows)]
    return pairs


def find_strokes_file(folder, category):
    """Path of ``category``'s .ndjson file in ``folder`` (either naming), or None.

    Used by load_strokes.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise NotADirectoryError(
            f"strokes folder {data.shown_path(folder)} does not exist: fix the strokes_dir "
            "parameter or QUICKDRAW_STROKES_DIR, or leave them empty to use the cache and download"
        )
    for name in (f"{category}.ndjson", f"full_simplified_{category}.ndjson"):
        if (folder / name).is_file():
            return folder / name
    return None


def strokes_url(category, base_url=None):
    """URL of a category's simplified-strokes file (spaces sent as %20).

    Used by load_strokes.
    """
    base = (base_url or os.environ.get("QUICKDRAW_STROKES_URL") or BASE_URL).rstrip("/")
    return f"{base}/{urllib.parse.quote(category, safe='')}.ndjson"


def parse_line(line, where):
    """One line of a simplified file as a dict, checked: a JSON object whose ``drawing`` is a list
    of strokes ``[[x...], [y...]]`` of numbers, as many x as y; else a DataFormatError.

    Used by load_strokes.
    """
    try:
        obj = json.loads(line)
        strokes = obj["drawing"]
        ok = isinstance(strokes, list) and all(
            isinstance(s, list)
            and len(s) >= 2
            and len(s[0]) == len(s[1])
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in s[0] + s[1])
            for s in strokes
        )
    except (ValueError, TypeError, KeyError, IndexError) as err:
        raise DataFormatError(
            f"{where} is not a Quick, Draw! simplified-strokes file ({type(err).__name__}: {err}). "
            "Use the files from full/simplified/ (one JSON drawing a line); delete it or fetch it again."
        ) from err
    if not ok:
        raise DataFormatError(
            f"{where}: 'drawing' is not a list of strokes [[x0, x1, ...], [y0, y1, ...]]. "
            "Use the files from full/simplified/; delete it or fetch it again."
        )
    return obj


def _read_lines(path, need, shown):
    """The first ``need`` lines of a local file, checked (reads no further than that)."""
    lines = []
    with open(path, "rb") as fh:
        for k, raw in enumerate(fh, 1):
            if raw.strip():
                lines.append(parse_line(raw, f"line {k} of {shown}"))
            if len(lines) == need:
                return lines
    raise NotEnoughRowsError(f"asked for {need} drawings of {shown}, which holds {len(lines)}.")


def _cached_lines(category, need, cache, progress, timeout, searched):
    path = cache / f"{category}.ndjson"
    have = b""
    if path.is_file():
        have = path.read_bytes()
        try:
            lines = [
                parse_line(raw, f"line {k} of {data.shown_path(path)}")
                for k, raw in enumerate(have.splitlines(), 1)
            ]
            if have and not have.endswith(b"\n"):
                raise DataFormatError(f"{data.shown_path(path)} ends in the middle of a line")
        except DataFormatError as err:
            warnings.warn(
                f"Corrupt cache file {data.shown_path(path)} ({err}); fetching it again.", stacklevel=4
            )
            path.unlink()
            have, lines = b"", []
        if len(lines) >= need:
            return lines
    url = strokes_url(category)
    try:
        body = _download_lines(url, have, need, timeout, progress, category)
    except urllib.error.HTTPError as err:
        if err.code == 404:
            raise UnknownCategoryError(
                f"No Quick, Draw! category '{category}' at {url} (HTTP 404). Names are lower case "
                "with spaces, as in https://github.com/googlecreativelab/quickdraw-dataset/"
                "blob/master/categories.txt"
            ) from err
        raise DownloadError(f"Download of {url} failed: HTTP {err.code} {err.reason}.") from err
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        where = f" (looked in: {', '.join(searched)})" if searched else ""
        raise DownloadError(
            f"Could not download {url}: {getattr(err, 'reason', err)}. No network? Put "
            f"{category}.ndjson in a folder and set QUICKDRAW_STROKES_DIR to it, or pass "
            f"strokes_dir=<that folder>{where}."
        ) from err
    lines = [parse_line(raw, f"line {k} of {url}") for k, raw in enumerate(body.splitlines(), 1)]
    with replacing(path) as fh:  # only whole, checked lines reach the cache
        fh.write(body)
    if len(lines) < need:
        raise NotEnoughRowsError(f"asked for {need} drawings of '{category}', which has {len(lines)}.")
    return lines


def _download_lines(url, have, need, timeout, progress, category):
    """``have`` (whole lines) and more of ``url``, up to the end of line ``need`` or of the file.

    Asks with Range for the bytes after those it has, a chunk at a time sized from the lines seen
    so far, until it has ``need`` line ends or the server has nothing more (an empty answer or HTTP
    416: a short answer may be a dropped connection, so it asks again from where it stopped), then
    cuts after the last line needed: the cache never holds half a line.
    """
    body = bytearray(have)
    while body.count(b"\n") < need:
        known = body.count(b"\n")
        per_line = len(body) / known if known else LINE_GUESS
        chunk = max(FIRST_CHUNK, int(1.25 * per_line * (need - known)))
        try:
            new = data._fetch(
                url, len(body), len(body) + chunk, timeout, progress, f"{category}: strokes", allow_short=True
            )
        except urllib.error.HTTPError as err:
            if err.code != 416:  # 416: nothing after the bytes we have, the file ends there
                raise
            new = b""
        if not new:
            break
        body += new
    end = 0
    for _ in range(need):
        nxt = body.find(b"\n", end)
        if nxt < 0:
            break
        end = nxt + 1
    return bytes(body[:end])
