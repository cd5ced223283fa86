"""The Quick, Draw! data client: drawings from a folder, a local cache or Google's bucket.

``load_drawings`` is all a chapter needs (``from quickdraw_cnn.data import load_drawings``). Behind it:
HTTP Range requests that fetch only the .npy header and the rows not cached yet, a cache that is a
valid .npy file and grows as more rows are asked for, checks that a file holds (N, 784) uint8
drawings, atomic writes (an interrupted download never leaves a corrupt file), a progress bar.
Messages show paths relative to the repository, or a folder's name: never a machine's layout.

Drawings: the Quick, Draw! dataset by Google Creative Lab, CC BY 4.0
(https://github.com/googlecreativelab/quickdraw-dataset).
"""

from __future__ import annotations

import difflib
import http.client
import io
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from pathlib import Path

import numpy as np

from quickdraw_cnn.errors import ParameterError

ROW_BYTES = 28 * 28
BASE_URL = "https://storage.googleapis.com/quickdraw_dataset/full/numpy_bitmap"
REPO_DIR = Path(__file__).resolve().parent.parent  # the repository: quickdraw_cnn/..


class QuickDrawError(Exception):
    """Base class of the errors this module raises on purpose.

    Explained in 07_what_the_network_sees.ipynb
    """


class UnknownCategoryError(QuickDrawError, LookupError):
    """The server has no file for that category (HTTP 404).

    Explained in 01_data_exploration.ipynb
    """


class DownloadError(QuickDrawError, ConnectionError):
    """No network, a server error, or a download cut short.

    Explained in 01_data_exploration.ipynb
    """


class DataFormatError(QuickDrawError, ValueError):
    """A file that is not an (N, 784) uint8 .npy array.

    Explained in 01_data_exploration.ipynb
    """


class DataFolderError(QuickDrawError, NotADirectoryError):
    """A data folder parameter names a folder that does not exist.

    Used by find_category_file (a data_dir or eval_data_dir that names no folder).
    """


class CategoryFileMissingError(QuickDrawError, FileNotFoundError):
    """A data folder holds no file for that category.

    Used by load_from_folder (a folder without that category's file).
    """


class NotEnoughRowsError(QuickDrawError, ValueError):
    """More drawings asked for than the file holds.

    Used by load_drawings and load_from_folder (01 shows its message).
    """


# ---------------------------------------------------------- categories ----

# Google's 345 categories of full/numpy_bitmap/ (https://github.com/googlecreativelab/
# quickdraw-dataset/blob/master/categories.txt): a name outside them is refused at once, offline.
ALL_CATEGORIES = tuple(
    """
The Eiffel Tower|The Great Wall of China|The Mona Lisa|aircraft carrier|airplane|alarm clock|
ambulance|angel|animal migration|ant|anvil|apple|arm|asparagus|axe|backpack|banana|bandage|barn|
baseball|baseball bat|basket|basketball|bat|bathtub|beach|bear|beard|bed|bee|belt|bench|bicycle|
binoculars|bird|birthday cake|blackberry|blueberry|book|boomerang|bottlecap|bowtie|bracelet|brain|
bread|bridge|broccoli|broom|bucket|bulldozer|bus|bush|butterfly|cactus|cake|calculator|calendar|
camel|camera|camouflage|campfire|candle|cannon|canoe|car|carrot|castle|cat|ceiling fan|cell phone|
cello|chair|chandelier|church|circle|clarinet|clock|cloud|coffee cup|compass|computer|cookie|cooler|
couch|cow|crab|crayon|crocodile|crown|cruise ship|cup|diamond|dishwasher|diving board|dog|dolphin|
donut|door|dragon|dresser|drill|drums|duck|dumbbell|ear|elbow|elephant|envelope|eraser|eye|
eyeglasses|face|fan|feather|fence|finger|fire hydrant|fireplace|firetruck|fish|flamingo|flashlight|
flip flops|floor lamp|flower|flying saucer|foot|fork|frog|frying pan|garden|garden hose|giraffe|
goatee|golf club|grapes|grass|guitar|hamburger|hammer|hand|harp|hat|headphones|hedgehog|helicopter|
helmet|hexagon|hockey puck|hockey stick|horse|hospital|hot air balloon|hot dog|hot tub|hourglass|
house|house plant|hurricane|ice cream|jacket|jail|kangaroo|key|keyboard|knee|knife|ladder|lantern|
laptop|leaf|leg|light bulb|lighter|lighthouse|lightning|line|lion|lipstick|lobster|lollipop|mailbox|
map|marker|matches|megaphone|mermaid|microphone|microwave|monkey|moon|mosquito|motorbike|mountain|
mouse|moustache|mouth|mug|mushroom|nail|necklace|nose|ocean|octagon|octopus|onion|oven|owl|
paint can|paintbrush|palm tree|panda|pants|paper clip|parachute|parrot|passport|peanut|pear|peas|
pencil|penguin|piano|pickup truck|picture frame|pig|pillow|pineapple|pizza|pliers|police car|pond|
pool|popsicle|postcard|potato|power outlet|purse|rabbit|raccoon|radio|rain|rainbow|rake|
remote control|rhinoceros|rifle|river|roller coaster|rollerskates|sailboat|sandwich|saw|saxophone|
school bus|scissors|scorpion|screwdriver|sea turtle|see saw|shark|sheep|shoe|shorts|shovel|sink|
skateboard|skull|skyscraper|sleeping bag|smiley face|snail|snake|snorkel|snowflake|snowman|
soccer ball|sock|speedboat|spider|spoon|spreadsheet|square|squiggle|squirrel|stairs|star|steak|
stereo|stethoscope|stitches|stop sign|stove|strawberry|streetlight|string bean|submarine|suitcase|
sun|swan|sweater|swing set|sword|syringe|t-shirt|table|teapot|teddy-bear|telephone|television|
tennis racquet|tent|tiger|toaster|toe|toilet|tooth|toothbrush|toothpaste|tornado|tractor|
traffic light|train|tree|triangle|trombone|truck|trumpet|umbrella|underwear|van|vase|violin|
washing machine|watermelon|waterslide|whale|wheel|windmill|wine bottle|wine glass|wristwatch|yoga|
zebra|zigzag
""".replace("\n", "").split("|")
)
# All 345 full files together (sizes listed by Google's bucket).
FULL_DRAWINGS = 50_426_266
FULL_BYTES = 39_534_220_144
# The 14 categories of the project's offline sample (the first 2,000 rows of each file).
SAMPLE_CATEGORIES = [
    "airplane",
    "apple",
    "banana",
    "bicycle",
    "bird",
    "book",
    "cat",
    "diamond",
    "dog",
    "eye",
    "fish",
    "flower",
    "house",
    "rainbow",
]


def check_categories(names, min_count=1):
    """``names`` as a list, if it holds at least ``min_count`` distinct Quick, Draw! category names,
    each exactly as Google spells it (``'apple '`` is not ``'apple'``); else a ParameterError that
    says what to change (with the nearest names for a typo).

    Explained in 08_many_categories.ipynb
    """
    if (
        isinstance(names, str)
        or not isinstance(names, (list, tuple))
        or not all(isinstance(c, str) for c in names)
    ):
        raise ParameterError(
            f"categories must be a list of category names such as ['cat', 'dog'], got {names!r}"
        )
    problems = []
    if len(names) < min_count:
        problems.append(f"at least {min_count} categories are needed, got {len(names)}")
    dupes = sorted({c for c in names if names.count(c) > 1})
    if dupes:
        problems.append(f"each category may appear once, but {dupes} appear more often")
    for name in dict.fromkeys(names):
        if name not in ALL_CATEGORIES:
            near = [name.strip()] if name.strip() in ALL_CATEGORIES else []
            near = near or difflib.get_close_matches(name, ALL_CATEGORIES, n=3)
            problems.append(
                f"{name!r} is not a Quick, Draw! category"
                + (f" (did you mean {' or '.join(repr(n) for n in near)}?)" if near else "")
            )
    if problems:
        raise ParameterError(
            "bad categories: "
            + "; ".join(problems)
            + ". The 345 names are in quickdraw_cnn.data.ALL_CATEGORIES."
        )
    return list(names)


# ---------------------------------------------------------------- data ----


def load_drawings(
    category, n, offset=0, data_dir=None, cache_dir=None, progress=None, timeout=30, deadline=None
):
    """Return drawings ``offset .. offset+n-1`` of ``category``, uint8, shape (n, 784).

    Looks in order: ``data_dir``, then ``$QUICKDRAW_DATA_DIR`` (folders holding
    ``<category>.npy`` or ``full_numpy_bitmap_<category>.npy``, memory-mapped so
    only the rows asked for are read), then the local cache (``$QUICKDRAW_CACHE_DIR``
    or ``data/`` in the repository), then a download from Google's bucket
    (``$QUICKDRAW_BASE_URL`` overrides it) with HTTP Range requests that fetch only
    the header and the rows not cached yet. The cache is a valid .npy file of the
    first rows of the file, and grows as more rows are asked for. ``timeout``: seconds one read
    may wait; ``deadline``: seconds the whole download may take (default: ``download_deadline``,
    scaled to its size). A 206 answer whose ``Content-Range`` is not the bytes asked for is
    refused before anything is cached.

    Explained in 01_data_exploration.ipynb
    """
    path = local_file(category, n, offset, data_dir, cache_dir, progress, timeout, deadline)
    return _read_rows(path, *_check_request(category, n, offset)[1:])


def local_file(
    category, n, offset=0, data_dir=None, cache_dir=None, progress=None, timeout=30, deadline=None
):
    """The local .npy file that holds rows ``offset .. offset+n-1`` of ``category``, found in the
    order ``load_drawings`` uses (``data_dir``, ``$QUICKDRAW_DATA_DIR``, then the cache, which is
    filled by a download first if it lacks those rows).

    Used by load_drawings and multiclass.category_files.
    """
    category, n, offset = _check_request(category, n, offset)
    searched = []
    for folder in (data_dir, os.environ.get("QUICKDRAW_DATA_DIR")):
        if folder:
            searched.append(shown_path(folder))
            which = "data_dir" if folder is data_dir else "QUICKDRAW_DATA_DIR"
            path = find_category_file(folder, category, which)
            if path is not None:
                return path
    cache = Path(cache_dir or os.environ.get("QUICKDRAW_CACHE_DIR") or REPO_DIR / "data")
    _cached_download(category, n, offset, cache, progress, timeout, searched, deadline)
    return cache / f"{category}.npy"


def find_category_file(folder, category, parameter="data_dir"):
    """Path of ``category``'s .npy file in ``folder`` (either naming), or None. A folder that does
    not exist is a ``DataFolderError`` naming ``parameter`` (the notebook parameter that gave it)
    and the path as given.

    Used by load_drawings, load_from_folder and multiclass.
    """
    if not Path(folder).expanduser().is_dir():
        also = " or QUICKDRAW_DATA_DIR" if parameter == "data_dir" else ""
        raise DataFolderError(
            f"the folder {str(folder)!r} given as {parameter} does not exist (or is not a folder): "
            f"fix the {parameter} parameter{also} to name a folder of <category>.npy files, or leave "
            "it empty" + (" to use the cache and download" if parameter == "data_dir" else "")
        )
    for name in (f"{category}.npy", f"full_numpy_bitmap_{category}.npy"):
        path = Path(folder).expanduser() / name
        if path.is_file():
            return path
    return None


def _check_request(category, n, offset):
    if not isinstance(category, str) or not category.strip():
        raise ParameterError(f"category must be a non-empty string such as 'apple', got {category!r}")
    if category != category.strip():
        raise ParameterError(f"category {category!r} has spaces at its ends: write {category.strip()!r}")
    if any(bad in category for bad in ("/", "\\", "..")):
        raise ParameterError(f"category names hold no '/', '\\' or '..', got {category!r}")
    n, offset = whole_number("n", n, 1), whole_number("offset", offset, 0)
    return category, n, offset


def whole_number(name, value, low=0):
    """``value`` as an int if it is a whole number of at least ``low``; else a ValueError (a
    TypeError for a non-number) that names the parameter. The one whole-number check of the project.

    Used by load_drawings, helpers.check_parameters and multiclass.category_files.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a whole number, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be a whole number of at least {low}, got {value}")
    return int(value)


def _open_npy(path):
    """Memory-map an .npy file and check it holds (N, 784) uint8 drawings."""
    try:
        with open(path, "rb") as fh:
            start = fh.read(64)
    except OSError as err:
        raise DataFormatError(f"{shown_path(path)} cannot be read ({err.strerror or err}).") from err
    if not start.startswith(b"\x93NUMPY"):
        raise DataFormatError(
            f"{shown_path(path)} is not an .npy file (it starts {_glimpse(start)}"
            + (
                ", an HTML or XML page: an error page saved in place of the data?"
                if _is_markup(start)
                else ""
            )
            + "). Delete it, then download it again or put the real file from Google's "
            "full/numpy_bitmap/ folder in its place."
        )
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as err:  # numpy raises ValueError, OSError, EOFError, even tokenize errors
        why = (
            "it holds Python objects, not drawings"
            if "bject" in str(err) or "pickle" in str(err)
            else str(err)
        )
        raise DataFormatError(
            f"{shown_path(path)} is not a readable .npy file of drawings ({why}). Delete it, then "
            "download it again or put the real file from full/numpy_bitmap/ in its place."
        ) from err
    _check_format(arr.shape, arr.dtype, shown_path(path))
    return arr


def _glimpse(start):
    text = start[:24].decode("latin1")
    return repr(text if text.isprintable() else start[:12])


def _is_markup(start):
    return start.lstrip().lower().startswith((b"<?xml", b"<!doctype", b"<html", b"<"))


def npy_layout(path):
    """(header bytes, rows) of a Quick, Draw! .npy file, checked like every file the client reads:
    row ``i`` starts at byte header + 784 i.

    Used by multiclass.stream, which reads the rows straight from the file.
    """
    arr = _open_npy(path)
    if not arr.flags.c_contiguous:
        raise DataFormatError(f"{shown_path(path)} holds its rows in Fortran order; save it in C order.")
    return int(arr.offset), int(arr.shape[0])


def _check_format(shape, dtype, where):
    if len(shape) != 2 or shape[1] != ROW_BYTES or np.dtype(dtype) != np.uint8:
        raise DataFormatError(
            f"{where} holds an array of shape {tuple(shape)} and dtype {np.dtype(dtype)}; "
            f"Quick, Draw! bitmaps are (N, {ROW_BYTES}) uint8 (one flattened 28x28 drawing a row). "
            "Use the files from full/numpy_bitmap/, not the raw or simplified stroke files."
        )


def _read_rows(path, n, offset):
    arr = _open_npy(path)
    if offset + n > arr.shape[0]:
        raise NotEnoughRowsError(
            f"asked for rows {offset}..{offset + n - 1} of {shown_path(path)}, which holds {arr.shape[0]} "
            f"drawings: ask for at most {max(arr.shape[0] - offset, 0)} from offset {offset}."
        )
    return np.array(arr[offset : offset + n])


def category_url(category, base_url=None):
    """URL of a category's bitmap file (spaces sent as %20).

    Used by load_drawings.
    """
    base = (base_url or os.environ.get("QUICKDRAW_BASE_URL") or BASE_URL).rstrip("/")
    return f"{base}/{urllib.parse.quote(category, safe='')}.npy"


def download_deadline(n_bytes, deadline=None):
    """Seconds a download of ``n_bytes`` may take in all: ``deadline`` if given, else
    ``$QUICKDRAW_DOWNLOAD_DEADLINE``, else 60 s plus the time at 25 kB/s (a 3,000-drawing file,
    2.4 MB: 154 s). A server that trickles slower is stopped with a ``DownloadError``.

    Used by load_drawings.
    """
    if deadline is None and os.environ.get("QUICKDRAW_DOWNLOAD_DEADLINE"):
        deadline = float(os.environ["QUICKDRAW_DOWNLOAD_DEADLINE"])
    return float(deadline) if deadline is not None else 60.0 + n_bytes / 25_000


def _cached_download(category, n, offset, cache, progress, timeout, searched, deadline=None):
    path = cache / f"{category}.npy"
    have = None
    if path.is_file():
        try:
            have = _open_npy(path)
        except DataFormatError as err:
            warnings.warn(f"Corrupt cache file {shown_path(path)} ({err}); fetching it again.", stacklevel=3)
            path.unlink()
    need = offset + n
    if have is not None and have.shape[0] >= need:
        return np.array(have[offset:need])
    start_row = 0 if have is None else have.shape[0]
    url = category_url(category)
    try:
        header_len, total = _remote_header(url, timeout, deadline)
        if need > total:
            raise NotEnoughRowsError(
                f"asked for rows {offset}..{need - 1} of '{category}', which has {total} drawings."
            )
        start, stop = header_len + start_row * ROW_BYTES, header_len + need * ROW_BYTES
        new = _fetch(
            url,
            start,
            stop,
            timeout,
            progress,
            f"{category}: rows {start_row}-{need - 1}",
            size=header_len + total * ROW_BYTES,
            deadline=download_deadline(stop - start, deadline),
        )
    except QuickDrawError:
        raise
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
            f"{category}.npy in a folder and set QUICKDRAW_DATA_DIR to it, or pass "
            f"data_dir=<that folder>{where}."
        ) from err
    rows = np.frombuffer(new, dtype=np.uint8).reshape(-1, ROW_BYTES)
    if have is not None:
        rows = np.concatenate([np.asarray(have), rows])
    del have
    from quickdraw_cnn.files import atomic_save  # files imports this module's errors

    atomic_save(path, rows)
    return rows[offset:need].copy()


def _remote_header(url, timeout, deadline=None):
    """(header length in bytes, number of rows) of a remote .npy file."""
    limit = download_deadline(65536, deadline)
    head = _fetch(url, 0, 256, timeout, False, "header", allow_short=True, deadline=limit)
    if len(head) < 12 or head[:6] != b"\x93NUMPY":
        raise DataFormatError(f"{url} is not an .npy file (it starts {head[:12]!r}).")
    size_bytes = 2 if head[6] == 1 else 4
    header_len = 8 + size_bytes + int.from_bytes(head[8 : 8 + size_bytes], "little")
    if header_len > 65536:
        raise DataFormatError(f"{url} claims an .npy header of {header_len:,} bytes: not a bitmap file.")
    if header_len > len(head):
        head = _fetch(url, 0, header_len, timeout, False, "header", deadline=limit)
    fp = io.BytesIO(head[:header_len])
    version = np.lib.format.read_magic(fp)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    try:
        shape, fortran, dtype = read(fp)
    except Exception as err:  # ValueError, or tokenize.TokenError on an unbalanced header
        raise DataFormatError(f"{url} has an unreadable .npy header ({err}).") from err
    _check_format(shape, dtype, url)
    if fortran and shape[0] > 1:
        raise DataFormatError(
            f"{url} is stored column-major (fortran_order), so its rows cannot be fetched by byte range."
        )
    return header_len, shape[0]


def _fetch(url, start, stop, timeout, progress, label, allow_short=False, size=None, deadline=None):
    """Bytes ``start .. stop-1`` of ``url``; works whether or not the server honours Range. A 206
    answer must say (``Content-Range``) that it holds exactly those bytes, of a file of ``size``
    bytes when known; the whole exchange must end within ``deadline`` seconds."""
    request = urllib.request.Request(
        url, headers={"Range": f"bytes={start}-{stop - 1}", "User-Agent": "quickdraw-cnn"}
    )
    want = stop - start
    ends = time.monotonic() + (deadline if deadline is not None else download_deadline(want))
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        if resp.status == 206:
            _check_content_range(url, resp.headers.get("Content-Range"), start, stop, size, allow_short)
        elif size is not None and resp.headers.get("Content-Length") not in (None, str(size)):
            raise DownloadError(
                f"{url} answered with {resp.headers['Content-Length']} bytes where the file has "
                f"{size}: the server sent another file. Nothing was saved."
            )
        skip = start if resp.status == 200 else 0  # 200: the server ignored Range
        while skip:
            skip -= len(resp.read(min(skip, 1 << 16)) or _short(url))
        data = _read_exactly(resp, want, progress, label, allow_short, ends, url)
    if len(data) < want and not allow_short:
        _short(url)
    return data


def _check_content_range(url, header, start, stop, size, allow_short):
    """Refuse a 206 whose ``Content-Range`` is missing or is not ``bytes start-(stop-1)/size``."""
    first = last = total = None
    if header and header.startswith("bytes ") and "/" in header:
        span, _, whole = header[6:].partition("/")
        a, _, b = span.partition("-")
        try:
            first, last = int(a), int(b)
            total = None if whole.strip() == "*" else int(whole)
        except ValueError:
            first = None
    expected_last = stop - 1 if total is None else min(stop, total) - 1
    wrong = (
        first != start
        or last is None
        or (last != expected_last if not allow_short else last > stop - 1)
        or (size is not None and total != size)
    )
    if wrong:
        asked = f"bytes {start}-{stop - 1}" + (f"/{size}" if size is not None else "")
        raise DownloadError(
            f"{url} answered with Content-Range {header!r} where {asked} were asked for: not the "
            "bytes of this file (a faulty server or proxy). Nothing was saved; try again later."
        )


def _short(url):
    raise DownloadError(f"The download of {url} was cut short; nothing was saved. Try again.")


# The series runner (quickdraw_cnn.series) names a file here; a download in a notebook it runs
# writes how far it is into that file, and the runner's status line in the terminal shows it.
PROGRESS_FILE_ENV = "QUICKDRAW_PROGRESS_FILE"


def _report(label, got, want, last=0.0):
    """How far a download is, for the runner's status line: one line in the file named by
    $QUICKDRAW_PROGRESS_FILE, rewritten at most twice a second ("" once it is done). Returns the
    time of this report."""
    path, now = os.environ.get(PROGRESS_FILE_ENV), time.monotonic()
    if not path or (now - last < 0.5 and got < want):
        return last
    text = f"downloading {label}: {got / 1e6:.1f} of {want / 1e6:.1f} MB" if got < want else ""
    try:
        from quickdraw_cnn.files import write_bytes

        write_bytes(Path(path), text.encode())
    except OSError:  # a status line is not worth failing a download for
        pass
    return now


def _read_exactly(resp, want, progress, label, allow_short, ends=None, url=""):
    bar = _progress_bar(want, label) if _want_progress(progress) and want > 1 << 16 else None
    chunks, got, reported = [], 0, 0.0
    try:
        while got < want:
            chunk = resp.read1(min(want - got, 1 << 16))  # what arrived: a trickle is timed too
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
            if bar is not None:
                bar.update(len(chunk))
            if want > 1 << 16:
                reported = _report(label, got, want, reported)
            if ends is not None and time.monotonic() > ends and got < want:
                raise DownloadError(
                    f"The download of {url or label} is too slow: {got:,} of {want:,} bytes arrived "
                    "within its deadline. Nothing was saved. Try again later, or allow more time "
                    "with QUICKDRAW_DOWNLOAD_DEADLINE=<seconds> (or load_drawings(..., deadline=...))."
                )
    except (OSError, http.client.HTTPException) as err:
        if not allow_short:
            raise DownloadError(f"The download was cut short ({err}); nothing was saved. Try again.") from err
    finally:
        if bar is not None:
            bar.close()
        if reported:
            _report(label, want, want)  # done (or failed): the status line drops it
    return b"".join(chunks)


def _want_progress(progress):
    if progress is not None:
        return bool(progress)
    if os.environ.get("QUICKDRAW_QUIET") or os.environ.get("CI"):
        return False
    return sys.stderr.isatty() or "ipykernel" in sys.modules


def _progress_bar(total, label):
    from tqdm import tqdm  # plain text bar: works in a terminal and in a notebook, no widgets needed

    return tqdm(total=total, unit="B", unit_scale=True, desc=label, leave=False)


def load_from_folder(folder, category, offset=0, n=None, parameter="eval_data_dir"):
    """Drawings ``offset ..`` of ``category`` from a folder of .npy files: all the rest, or at
    most ``n``. ``parameter``: the notebook parameter that named ``folder`` (05 and 08 read their
    independent sample from ``eval_data_dir``), named in the messages.

    Explained in 05_evaluation.ipynb
    """
    category, _, offset = _check_request(category, 1 if n is None else n, offset)
    path = find_category_file(folder, category, parameter)
    if path is None:
        raise CategoryFileMissingError(
            f"no {category}.npy (or full_numpy_bitmap_{category}.npy) in {shown_path(folder)}, the "
            f"folder given as {parameter}: put that file there, or point {parameter} at a folder "
            "that holds one file per category"
        )
    arr = _open_npy(path)
    if offset >= len(arr):
        raise NotEnoughRowsError(
            f"{shown_path(path)} holds {len(arr)} drawings: the offset must be below "
            f"{len(arr)}, got {offset}."
        )
    return np.array(arr[offset:] if n is None else arr[offset : offset + n])


def shown_path(path):
    """``path`` as messages show it: relative to the repository when inside it, else the name of
    its folder and its own (``numpy_bitmap/apple.npy``), so no output carries a machine's layout.

    Used by the data errors, explained in 01_data_exploration.ipynb
    """
    path = Path(path).expanduser()
    try:
        return str(path.resolve().relative_to(REPO_DIR))
    except ValueError:
        return str(Path(path.resolve().parent.name, path.name)) if path.is_absolute() else str(path)
