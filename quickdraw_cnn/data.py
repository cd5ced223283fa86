"""The Quick, Draw! bitmaps: the 345 categories, and drawings from a folder, the cache or Google's bucket.
Drawings: the Quick, Draw! dataset by Google Creative Lab, CC BY 4.0
(https://github.com/googlecreativelab/quickdraw-dataset).
"""

from __future__ import annotations

import contextlib
import difflib
import http.client
import io
import math
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from pathlib import Path

import numpy as np

from quickdraw_cnn import files
from quickdraw_cnn.errors import DataError, DownloadError, ParameterError, QuickDrawError
from quickdraw_cnn.files import REPO_DIR, shown_path

ROW_BYTES = 28 * 28
BASE_URL = "https://storage.googleapis.com/quickdraw_dataset/full/numpy_bitmap"
PROGRESS_FILE_ENV = "QUICKDRAW_PROGRESS_FILE"  # named by the series runner, shown in its status line
PROBE = 256  # bytes asked for first: an .npy header is 80 (Google's) or 128 (numpy's) bytes
MAX_SECONDS = 86_400  # the longest deadline or timeout accepted (a day)

# Google's 345 categories (categories.txt of googlecreativelab/quickdraw-dataset) with the rows
# and bytes of each full/numpy_bitmap/ file as Google's bucket lists them: {name: (rows, bytes)}.
_TABLE = Path(__file__).with_name("categories.tsv").read_text().splitlines()[1:]
CATEGORY_SIZES = {name: (int(rows), int(size)) for name, rows, size in (x.split("\t") for x in _TABLE)}
ALL_CATEGORIES = tuple(CATEGORY_SIZES)
FULL_DRAWINGS = sum(rows for rows, _ in CATEGORY_SIZES.values())  # 50,426,266
FULL_BYTES = sum(size for _, size in CATEGORY_SIZES.values())  # 39.5 GB
_SAMPLE = "airplane apple banana bicycle bird book cat diamond dog eye fish flower house rainbow"
SAMPLE_CATEGORIES = _SAMPLE.split()  # the project's offline sample: the first 2,000 rows of each


def check_categories(names, min_count=1):
    """``names`` as a list if they are at least ``min_count`` distinct category names; else a ParameterError.

    Used by multiclass, workers and the series runner's check of category parameters.
    """
    if not isinstance(names, (list, tuple)) or not all(isinstance(c, str) for c in names):
        raise ParameterError(f"categories must be a list of names such as ['cat', 'dog'], got {names!r}")
    dupes = sorted({c for c in names if names.count(c) > 1})
    problems = (
        [f"at least {min_count} categories are needed, got {len(names)}"] if len(names) < min_count else []
    )
    if dupes:
        problems.append(f"each category may appear once, but {dupes} appear more often")
    for name in dict.fromkeys(c for c in names if c not in CATEGORY_SIZES):
        near = [name.strip()] if name.strip() in CATEGORY_SIZES else []
        near = near or difflib.get_close_matches(name, ALL_CATEGORIES, n=3)
        hint = f" (did you mean {' or '.join(map(repr, near))}?)" if near else ""
        problems.append(f"{name!r} is not a Quick, Draw! category{hint}")
    if problems:
        raise ParameterError(f"bad categories: {'; '.join(problems)}. The 345 names: data.ALL_CATEGORIES.")
    return list(names)


def check_request(category, n, offset):
    """(category, n, offset) if the name is safe, n at least 1 and offset at least 0; else a ParameterError.

    Used by load_drawings, load_from_folder and strokes.load_strokes.
    """
    if not isinstance(category, str) or not category.strip():
        raise ParameterError(f"category must be a non-empty string such as 'apple', got {category!r}")
    if category != category.strip():
        raise ParameterError(f"category {category!r} has spaces at its ends: write {category.strip()!r}")
    if any(bad in category for bad in ("/", "\\", "..")):
        raise ParameterError(f"category names hold no '/', '\\' or '..', got {category!r}")
    return category, whole_number("n", n, 1), whole_number("offset", offset, 0)


def whole_number(name, value, low=0):
    """``value`` as an int if it is a whole number of at least ``low``; else a ParameterError.

    Used by load_drawings, multiclass.category_files and workers.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ParameterError(f"{name} must be a whole number, got {value!r}")
    if value < low:
        raise ParameterError(f"{name} must be a whole number of at least {low}, got {value}")
    return int(value)


def seconds(name, value):
    """``value`` (a number, or an environment variable's text) as seconds, above 0 and at most a day.

    Used by load_drawings and strokes.load_strokes (deadline, timeout, QUICKDRAW_DOWNLOAD_DEADLINE).
    """
    with contextlib.suppress(TypeError, ValueError):
        number = math.nan if isinstance(value, bool) else float(value)
        if 0 < number <= MAX_SECONDS:  # NaN is not
            return number
    raise ParameterError(f"{name} must be a number of seconds above 0, at most {MAX_SECONDS}, got {value!r}")


def load_drawings(
    category, n, offset=0, data_dir=None, cache_dir=None, progress=None, timeout=30, deadline=None
):
    """Drawings ``offset .. offset+n-1`` of ``category``, uint8 (n, 784), from ``data_dir``, else
    ``$QUICKDRAW_DATA_DIR``, else the cache, filled from Google's bucket with only the rows it lacks.

    Explained in 01_data_exploration.ipynb
    """
    category, n, offset = check_request(category, n, offset)
    arr = _open_npy(local_file(category, n, offset, data_dir, cache_dir, progress, timeout, deadline))
    if offset + n > arr.shape[0]:
        raise DataError(
            f"asked for rows {offset}..{offset + n - 1} of {shown_path(arr.filename)}, which holds "
            f"{arr.shape[0]} drawings: ask for at most {max(arr.shape[0] - offset, 0)} from offset {offset}."
        )
    return np.array(arr[offset : offset + n])


def local_file(
    category, n, offset=0, data_dir=None, cache_dir=None, progress=None, timeout=30, deadline=None
):
    """The local .npy file with rows ``offset .. offset+n-1`` of ``category``, found as load_drawings does.

    Used by load_drawings and multiclass.category_files.
    """
    category, n, offset = check_request(category, n, offset)
    folders = {"data_dir": data_dir, "QUICKDRAW_DATA_DIR": os.environ.get("QUICKDRAW_DATA_DIR")}
    path, searched = find_in_folders(category, folders)
    if path is None:
        check_categories([category])  # a typo stops here, offline, with the nearest names
        path = cache_folder(cache_dir) / f"{category}.npy"
        _cached_download(path, category, offset + n, progress, timeout, deadline, searched)
    return path


def cache_folder(cache_dir=None):
    """``cache_dir``, else ``$QUICKDRAW_CACHE_DIR``, else ``data/`` in the repository.

    Used by load_drawings and strokes.load_strokes.
    """
    return Path(cache_dir or os.environ.get("QUICKDRAW_CACHE_DIR") or REPO_DIR / "data")


def find_in_folders(category, folders, suffix=".npy", kind="numpy_bitmap"):
    """(``category``'s file in the first of ``folders`` that has one, or None; the folders searched).

    Used by load_drawings and strokes.load_strokes.
    """
    for parameter, folder in folders.items():
        path = find_category_file(folder, category, parameter, suffix, kind) if folder else None
        if path is not None:
            return path, []
    return None, [shown_path(folder) for folder in folders.values() if folder]


def find_category_file(folder, category, parameter="data_dir", suffix=".npy", kind="numpy_bitmap"):
    """``folder``/``<category>.npy`` or Google's ``full_numpy_bitmap_<category>.npy``, or None; a folder
    that does not exist is a ParameterError naming ``parameter``.

    Used by load_drawings, load_from_folder and multiclass.
    """
    if not Path(folder).expanduser().is_dir():
        raise ParameterError(
            f"the folder {str(folder)!r} given as {parameter} does not exist (or is not a folder): "
            f"fix the {parameter} parameter to name a folder of <category>{suffix} files, or leave it "
            "empty" + (" to use the cache and download" if parameter != "eval_data_dir" else "")
        )
    names = (f"{category}{suffix}", f"full_{kind}_{category}{suffix}")
    return next((p for n in names if (p := Path(folder).expanduser() / n).is_file()), None)


def load_from_folder(folder, category, offset=0, n=None, parameter="eval_data_dir"):
    """Drawings ``offset ..`` of ``category`` in a folder of .npy files: all the rest, or at most ``n``.

    Explained in 05_evaluation.ipynb
    """
    category, _, offset = check_request(category, 1 if n is None else n, offset)
    path = find_category_file(folder, category, parameter)
    if path is None:
        raise DataError(
            f"no {category}.npy (or full_numpy_bitmap_{category}.npy) in {shown_path(folder)}, the "
            f"folder given as {parameter}: put that file there, or point {parameter} at a folder "
            "that holds one file per category"
        )
    arr = _open_npy(path)
    if offset >= len(arr):
        raise DataError(f"{shown_path(path)} holds {len(arr)} drawings: the offset must be below that.")
    return np.array(arr[offset:] if n is None else arr[offset : offset + n])


def _open_npy(path):
    """Memory-map an .npy file and check it holds (N, 784) uint8 drawings."""
    fix = "Delete it, then download it again or put the real file from full/numpy_bitmap/ in its place."
    try:
        with open(path, "rb") as fh:
            start = fh.read(64)
        arr = np.load(path, mmap_mode="r", allow_pickle=False) if start.startswith(b"\x93NUMPY") else None
    except Exception as err:  # numpy raises ValueError, OSError, EOFError, even tokenize errors
        why = "it holds Python objects, not drawings" if "bject" in str(err) else str(err)
        raise DataError(f"{shown_path(path)} is not a readable .npy file of drawings ({why}). {fix}") from err
    if arr is None:
        text, page = start[:24].decode("latin1"), start.lstrip()[:1] == b"<"
        page = ", an HTML or XML page: an error page saved in place of the data?" if page else ""
        shown = repr(text if text.isprintable() else start[:12])
        raise DataError(f"{shown_path(path)} is not an .npy file (it starts {shown}{page}). {fix}")
    _check_format(arr.shape, arr.dtype, shown_path(path))
    return arr


def npy_layout(path):
    """(header bytes, rows) of a checked .npy file of drawings: row ``i`` starts at byte header + 784 i.

    Used by multiclass.stream, which reads the rows straight from the file.
    """
    arr = _open_npy(path)
    if not arr.flags.c_contiguous:
        raise DataError(f"{shown_path(path)} holds its rows in Fortran order; save it in C order.")
    return int(arr.offset), int(arr.shape[0])


def _check_format(shape, dtype, where):
    if len(shape) != 2 or shape[1] != ROW_BYTES or np.dtype(dtype) != np.uint8:
        raise DataError(
            f"{where} holds an array of shape {tuple(shape)} and dtype {np.dtype(dtype)}; Quick, Draw! "
            f"bitmaps are (N, {ROW_BYTES}) uint8 (one flattened 28x28 drawing a row). Use the files "
            "from full/numpy_bitmap/, not the raw or simplified stroke files."
        )


def _cached_download(path, category, need, progress, timeout, deadline, searched):
    """Make ``path`` hold at least the first ``need`` rows, downloading only those it lacks."""
    have = None
    if path.is_file():
        try:
            have = _open_npy(path)
        except DataError as err:
            warnings.warn(f"Corrupt cache file {shown_path(path)} ({err}); fetching it again.", stacklevel=4)
            path.unlink()
    start_row, timeout = 0 if have is None else have.shape[0], seconds("timeout", timeout)
    if start_row >= need:
        return
    url = f"{base_url('QUICKDRAW_BASE_URL', BASE_URL)}/{urllib.parse.quote(category, safe='')}.npy"
    ends = time.monotonic() + download_deadline(PROBE + (need - start_row) * ROW_BYTES, deadline)
    where = f" (looked in: {', '.join(searched)})" if searched else ""
    offline = f"put {category}.npy in a folder and set QUICKDRAW_DATA_DIR to it, or pass data_dir=<it>{where}"
    header_len, total = _remote_header(url, ends, f"{category}: header", offline, timeout)
    if need > total:
        raise DataError(f"asked for rows up to {need - 1} of '{category}', which has {total} drawings.")
    start, stop, size = (header_len + rows * ROW_BYTES for rows in (start_row, need, total))
    label = f"{category}: rows {start_row}-{need - 1}"
    new = download(url, start, stop, ends, label, offline, timeout, progress, size)
    rows = np.frombuffer(new, dtype=np.uint8).reshape(-1, ROW_BYTES)
    rows = rows if have is None else np.concatenate([np.asarray(have), rows])
    del have  # the memory map, before the file is replaced
    if rows.shape != (need, ROW_BYTES):  # never cache what is not exactly the rows asked for
        raise DownloadError(f"{url} gave {len(rows)} rows where {need} were expected; nothing was saved.")
    files.atomic_save(path, rows)


def _remote_header(url, ends, label, offline, timeout):
    """(header length in bytes, number of rows) of a remote .npy file."""
    head = download(url, 0, PROBE, ends, label, offline, timeout, False, allow_short=True)
    if len(head) < 12 or head[:6] != b"\x93NUMPY":
        raise DataError(f"{url} is not an .npy file (it starts {head[:12]!r}).")
    size_bytes = 2 if head[6] == 1 else 4
    header_len = 8 + size_bytes + int.from_bytes(head[8 : 8 + size_bytes], "little")
    if header_len > 65536:
        raise DataError(f"{url} claims an .npy header of {header_len:,} bytes: not a bitmap file.")
    if header_len > len(head):
        head = download(url, 0, header_len, ends, label, offline, timeout, False)
    fp = io.BytesIO(head[:header_len])
    version = np.lib.format.read_magic(fp)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    try:
        shape, fortran, dtype = read(fp)
    except Exception as err:  # ValueError, or tokenize.TokenError on an unbalanced header
        raise DataError(f"{url} has an unreadable .npy header ({err}).") from err
    _check_format(shape, dtype, url)
    if fortran and shape[0] > 1:
        raise DataError(f"{url} is stored column-major (fortran_order): its rows cannot be fetched by range.")
    return header_len, shape[0]


def base_url(variable, default):
    """``$variable`` (else ``default``) without a trailing '/', if http or https; else a ParameterError.

    Used by load_drawings and strokes.load_strokes.
    """
    base = os.environ.get(variable) or default
    if urllib.parse.urlsplit(base).scheme not in ("http", "https") or "://" not in base:
        raise ParameterError(
            f"{variable}={base!r} is not an http:// or https:// address (downloads use HTTP Range "
            f"requests): set it to a mirror such as {default}, or unset it. For files on this machine, "
            "name their folder in QUICKDRAW_DATA_DIR (bitmaps) or QUICKDRAW_STROKES_DIR (strokes)."
        )
    return base.rstrip("/")


def download_deadline(n_bytes, deadline=None):
    """Seconds a download of ``n_bytes`` may take in all: ``deadline`` if given, else
    ``$QUICKDRAW_DOWNLOAD_DEADLINE``, else 60 s plus the time at 25 kB/s (2.4 MB: 156 s).

    Used by load_drawings and strokes.load_strokes.
    """
    if deadline is None and os.environ.get("QUICKDRAW_DOWNLOAD_DEADLINE"):
        return seconds("QUICKDRAW_DOWNLOAD_DEADLINE", os.environ["QUICKDRAW_DOWNLOAD_DEADLINE"])
    return 60.0 + n_bytes / 25_000 if deadline is None else seconds("deadline", deadline)


def download(url, start, stop, ends, label, offline, timeout=30, progress=None, size=None, allow_short=False):
    """Bytes ``start .. stop-1`` of ``url`` (http or https), whether or not the server honours Range, all by
    ``ends`` (a ``time.monotonic()`` time: one deadline for every request of a download).

    Used by load_drawings and strokes.load_strokes.
    """
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ParameterError(f"{url} is not an http:// or https:// address: it cannot be downloaded.")
    headers = {"Range": f"bytes={start}-{stop - 1}", "User-Agent": "quickdraw-cnn"}
    try:
        wait = min(timeout, max(ends - time.monotonic(), 0.01))
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=wait) as resp:
            length = resp.headers.get("Content-Length")
            if resp.status == 206:
                _check_content_range(url, resp.headers.get("Content-Range"), start, stop, size, allow_short)
            elif resp.status != 200 or size is not None and length not in (None, str(size)):
                raise DownloadError(
                    f"{url} answered HTTP {resp.status} with {length} bytes where a file of {size} was "
                    "asked for: the server sent something else. Nothing was saved."
                )
            data = _read(resp, start if resp.status == 200 else 0, stop - start, ends, progress, label)
    except urllib.error.HTTPError as err:
        if err.code == 416 and allow_short:  # nothing at or after ``start``: the file ends before
            return b""
        why = f"HTTP {err.code} {err.reason}" + (" (the server has no such file)" if err.code == 404 else "")
        raise DownloadError(
            f"Could not download {label} from {url}: {why}. Try again later, or {offline}."
        ) from err
    except QuickDrawError:
        raise
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        if time.monotonic() > ends:
            raise DownloadError(
                f"The download of {label} from {url} is too slow ({err}): it passed its deadline. Nothing "
                "was saved. Try again later, allow more time with QUICKDRAW_DOWNLOAD_DEADLINE=<seconds> "
                f"(or deadline=...), or {offline}."
            ) from err
        why = getattr(err, "reason", err)
        raise DownloadError(
            f"Could not download {label} from {url}: {why}. No network? Or {offline}."
        ) from err
    if len(data) < stop - start and not allow_short:
        raise DownloadError(f"The download of {label} ({url}) was cut short; nothing was saved. Try again.")
    return data


def _check_content_range(url, header, start, stop, size, allow_short):
    """Refuse a 206 whose ``Content-Range`` is missing or is not ``bytes start-(stop-1)/size``."""
    match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", (header or "").strip())
    first, last, total = match.groups() if match else ("-1", "-1", None)
    total = int(total) if total and total != "*" else None
    expected = stop - 1 if total is None else min(stop, total) - 1
    last_ok = int(last) <= stop - 1 if allow_short else int(last) == expected
    if not match or int(first) != start or not last_ok or (size is not None and total != size):
        asked = f"bytes {start}-{stop - 1}" + (f"/{size}" if size is not None else "")
        raise DownloadError(
            f"{url} answered with Content-Range {header!r} where {asked} were asked for: not the "
            "bytes of this file (a faulty server or proxy). Nothing was saved; try again later."
        )


def _read(resp, skip, want, ends, progress, label):
    """``want`` bytes of ``resp`` after ``skip``, read chunk by chunk: a TimeoutError once ``ends`` passed."""
    quiet = os.environ.get("QUICKDRAW_QUIET") or os.environ.get("CI")
    show = not quiet and (sys.stderr.isatty() or "ipykernel" in sys.modules) if progress is None else progress
    bar = _progress_bar(want, label) if show and want > 1 << 16 else None
    chunks, got, reported = [], -skip, 0.0  # got < 0: bytes before ``start`` (a server that ignored Range)
    try:
        while got < want and (chunk := resp.read1(min(want - got if got >= 0 else -got, 1 << 16))):
            if got >= 0:
                chunks.append(chunk)
                if bar is not None:
                    bar.update(len(chunk))
                reported = _report(label, got + len(chunk), want, reported) if want > 1 << 16 else 0.0
            got += len(chunk)
            if time.monotonic() > ends and got < want:
                raise TimeoutError(f"{max(got, 0):,} of {want:,} bytes arrived before the deadline")
    finally:
        if bar is not None:
            bar.close()
        if reported:
            _report(label, want, want)  # done (or failed): the status line drops it
    return b"".join(chunks)


def _report(label, got, want, last=0.0):
    """How far a download is, for the runner's status line: one line in the file named by
    $QUICKDRAW_PROGRESS_FILE, rewritten at most twice a second ("" once done). Returns its time."""
    path, now = os.environ.get(PROGRESS_FILE_ENV), time.monotonic()
    if not path or (now - last < 0.5 and got < want):
        return last
    text = f"downloading {label}: {got / 1e6:.1f} of {want / 1e6:.1f} MB" if got < want else ""
    with contextlib.suppress(OSError):  # a status line is not worth failing a download for
        files.write_bytes(Path(path), text.encode())
    return now


def _progress_bar(total, label):
    from tqdm import tqdm  # plain text bar: works in a terminal and in a notebook, no widgets needed

    return tqdm(total=total, unit="B", unit_scale=True, desc=label, leave=False)
