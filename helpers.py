"""Shared helpers for the quickdraw-cnn notebook series.

Grouped by concern: data (loading Quick, Draw! bitmaps), dataset (labels and
splits), artifacts (what one chapter hands to the next), shape math, model,
plotting, evaluation, and sketches (turning your own image into a bitmap).
Each public helper's docstring ends with the chapter that explains it.

Drawings: the Quick, Draw! dataset by Google Creative Lab, CC BY 4.0
(https://github.com/googlecreativelab/quickdraw-dataset).
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import warnings
from pathlib import Path

import numpy as np

ROW_BYTES = 28 * 28
IMAGE_SHAPE = (28, 28, 1)
BASE_URL = "https://storage.googleapis.com/quickdraw_dataset/full/numpy_bitmap"
REPO_DIR = Path(__file__).resolve().parent


def _import_tensorflow_quietly():
    """Import TensorFlow with its start-up log lines (written before its logging is set up,
    whatever TF_CPP_MIN_LOG_LEVEL says) sent to /dev/null, so notebooks and CI stay readable."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except OSError:
        import tensorflow  # noqa: F401
        return
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_import_tensorflow_quietly()


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


class NotEnoughRowsError(QuickDrawError, ValueError):
    """More drawings asked for than the file holds.

    Explained in 01_data_exploration.ipynb
    """


class MissingArtifactError(QuickDrawError, FileNotFoundError):
    """A chapter's input is missing: an earlier chapter has not been run.

    Explained in 03_cnn_architecture.ipynb
    """


# ---------------------------------------------------------------- data ----

def load_drawings(category, n, offset=0, data_dir=None, cache_dir=None,
                  progress=None, timeout=30):
    """Return drawings ``offset .. offset+n-1`` of ``category``, uint8, shape (n, 784).

    Looks in order: ``data_dir``, then ``$QUICKDRAW_DATA_DIR`` (folders holding
    ``<category>.npy`` or ``full_numpy_bitmap_<category>.npy``, memory-mapped so
    only the rows asked for are read), then the local cache (``$QUICKDRAW_CACHE_DIR``
    or ``data/`` in the repository), then a download from Google's bucket
    (``$QUICKDRAW_BASE_URL`` overrides it) with HTTP Range requests that fetch only
    the header and the rows not cached yet. The cache is a valid .npy file of the
    first rows of the file, and grows as more rows are asked for.

    Explained in 01_data_exploration.ipynb
    """
    category, n, offset = _check_request(category, n, offset)
    searched = []
    for folder in (data_dir, os.environ.get("QUICKDRAW_DATA_DIR")):
        if folder:
            searched.append(str(folder))
            path = find_category_file(folder, category)
            if path is not None:
                return _read_rows(path, n, offset)
    cache = Path(cache_dir or os.environ.get("QUICKDRAW_CACHE_DIR") or REPO_DIR / "data")
    return _cached_download(category, n, offset, cache, progress, timeout, searched)


def find_category_file(folder, category):
    """Path of ``category``'s .npy file in ``folder`` (either naming), or None.

    Used by load_drawings, explained in 01_data_exploration.ipynb
    """
    if not Path(folder).expanduser().is_dir():
        raise NotADirectoryError(f"data folder {folder} does not exist: fix the data_dir parameter "
                                 "or QUICKDRAW_DATA_DIR, or leave them empty to use the cache and "
                                 "download")
    for name in (f"{category}.npy", f"full_numpy_bitmap_{category}.npy"):
        path = Path(folder).expanduser() / name
        if path.is_file():
            return path
    return None


def _check_request(category, n, offset):
    if not isinstance(category, str) or not category.strip():
        raise ValueError(f"category must be a non-empty string such as 'apple', got {category!r}")
    if any(bad in category for bad in ("/", "\\", "..")):
        raise ValueError(f"category names hold no '/', '\\' or '..', got {category!r}")
    for name, value, low in (("n", n, 1), ("offset", offset, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be a whole number, got {value!r}")
        if value < low:
            what = "at least 1 drawing" if name == "n" else "0 or more"
            raise ValueError(f"{name} must be {what}, got {value}")
    return category.strip(), int(n), int(offset)


def _open_npy(path):
    """Memory-map an .npy file and check it holds (N, 784) uint8 drawings."""
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as err:  # numpy raises ValueError, OSError, EOFError, even tokenize errors
        raise DataFormatError(f"{path} is not a readable .npy file ({err}). "
                              "Delete it or download it again.") from err
    _check_format(arr.shape, arr.dtype, path)
    return arr


def _check_format(shape, dtype, where):
    if len(shape) != 2 or shape[1] != ROW_BYTES or np.dtype(dtype) != np.uint8:
        raise DataFormatError(
            f"{where} holds an array of shape {tuple(shape)} and dtype {np.dtype(dtype)}; "
            f"Quick, Draw! bitmaps are (N, {ROW_BYTES}) uint8 (one flattened 28x28 drawing a row). "
            "Use the files from full/numpy_bitmap/, not the raw or simplified stroke files.")


def _read_rows(path, n, offset):
    arr = _open_npy(path)
    if offset + n > arr.shape[0]:
        raise NotEnoughRowsError(
            f"asked for rows {offset}..{offset + n - 1} of {path}, which holds {arr.shape[0]} "
            f"drawings: ask for at most {max(arr.shape[0] - offset, 0)} from offset {offset}.")
    return np.array(arr[offset:offset + n])


def category_url(category, base_url=None):
    """URL of a category's bitmap file (spaces sent as %20).

    Used by load_drawings, explained in 01_data_exploration.ipynb
    """
    base = (base_url or os.environ.get("QUICKDRAW_BASE_URL") or BASE_URL).rstrip("/")
    return f"{base}/{urllib.parse.quote(category, safe='')}.npy"


def _cached_download(category, n, offset, cache, progress, timeout, searched):
    path = cache / f"{category}.npy"
    have = None
    if path.is_file():
        try:
            have = _open_npy(path)
        except DataFormatError as err:
            warnings.warn(f"Corrupt cache file {path} ({err}); fetching it again.", stacklevel=3)
            path.unlink()
    need = offset + n
    if have is not None and have.shape[0] >= need:
        return np.array(have[offset:need])
    start_row = 0 if have is None else have.shape[0]
    url = category_url(category)
    try:
        header_len, total = _remote_header(url, timeout)
        if need > total:
            raise NotEnoughRowsError(
                f"asked for rows {offset}..{need - 1} of '{category}', which has {total} drawings.")
        new = _fetch(url, header_len + start_row * ROW_BYTES, header_len + need * ROW_BYTES,
                     timeout, progress, f"{category}: rows {start_row}-{need - 1}")
    except QuickDrawError:
        raise
    except urllib.error.HTTPError as err:
        if err.code == 404:
            raise UnknownCategoryError(
                f"No Quick, Draw! category '{category}' at {url} (HTTP 404). Names are lower case "
                "with spaces, as in https://github.com/googlecreativelab/quickdraw-dataset/"
                "blob/master/categories.txt") from err
        raise DownloadError(f"Download of {url} failed: HTTP {err.code} {err.reason}.") from err
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        where = f" (looked in: {', '.join(searched)})" if searched else ""
        raise DownloadError(
            f"Could not download {url}: {getattr(err, 'reason', err)}. No network? Put "
            f"{category}.npy in a folder and set QUICKDRAW_DATA_DIR to it, or pass "
            f"data_dir=...{where}.") from err
    rows = np.frombuffer(new, dtype=np.uint8).reshape(-1, ROW_BYTES)
    if have is not None:
        rows = np.concatenate([np.asarray(have), rows])
    del have
    _atomic_save(path, rows)
    return rows[offset:need].copy()


def _remote_header(url, timeout):
    """(header length in bytes, number of rows) of a remote .npy file."""
    head = _fetch(url, 0, 256, timeout, False, "header", allow_short=True)
    if len(head) < 12 or head[:6] != b"\x93NUMPY":
        raise DataFormatError(f"{url} is not an .npy file (it starts {head[:12]!r}).")
    size_bytes = 2 if head[6] == 1 else 4
    header_len = 8 + size_bytes + int.from_bytes(head[8:8 + size_bytes], "little")
    if header_len > 65536:
        raise DataFormatError(f"{url} claims an .npy header of {header_len:,} bytes: not a bitmap file.")
    if header_len > len(head):
        head = _fetch(url, 0, header_len, timeout, False, "header")
    fp = io.BytesIO(head[:header_len])
    version = np.lib.format.read_magic(fp)
    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
            else np.lib.format.read_array_header_2_0)
    try:
        shape, fortran, dtype = read(fp)
    except Exception as err:  # ValueError, or tokenize.TokenError on an unbalanced header
        raise DataFormatError(f"{url} has an unreadable .npy header ({err}).") from err
    _check_format(shape, dtype, url)
    if fortran and shape[0] > 1:
        raise DataFormatError(f"{url} is stored column-major (fortran_order), so its rows "
                              "cannot be fetched by byte range.")
    return header_len, shape[0]


def _fetch(url, start, stop, timeout, progress, label, allow_short=False):
    """Bytes ``start .. stop-1`` of ``url``; works whether or not the server honours Range."""
    request = urllib.request.Request(url, headers={"Range": f"bytes={start}-{stop - 1}",
                                                   "User-Agent": "quickdraw-cnn"})
    want = stop - start
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        skip = start if resp.status == 200 else 0  # 200: the server ignored Range
        while skip:
            skip -= len(resp.read(min(skip, 1 << 16)) or _short(url))
        data = _read_exactly(resp, want, progress, label, allow_short)
    if len(data) < want and not allow_short:
        _short(url)
    return data


def _short(url):
    raise DownloadError(f"The download of {url} was cut short; nothing was saved. Try again.")


def _read_exactly(resp, want, progress, label, allow_short):
    bar = _progress_bar(want, label) if _want_progress(progress) and want > 1 << 16 else None
    chunks, got = [], 0
    try:
        while got < want:
            chunk = resp.read(min(want - got, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
            if bar is not None:
                bar.update(len(chunk))
    except (OSError, http.client.HTTPException) as err:
        if not allow_short:
            raise DownloadError(f"The download was cut short ({err}); nothing was saved. "
                                "Try again.") from err
    finally:
        if bar is not None:
            bar.close()
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


@contextlib.contextmanager
def _replacing(path):
    """A temporary file beside ``path``, opened for writing, that replaces ``path`` only if the
    block completes: an interrupted write never leaves a corrupt file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _atomic_save(path, array):
    """Write ``array`` to ``path`` as .npy, atomically."""
    with _replacing(path) as fh:
        np.save(fh, array, allow_pickle=False)


def load_from_folder(folder, category, offset=0, n=None):
    """Drawings ``offset ..`` of ``category`` from a folder of .npy files: all the rest, or at
    most ``n``.

    Explained in 05_evaluation.ipynb
    """
    category, _, offset = _check_request(category, 1 if n is None else n, offset)
    path = find_category_file(folder, category)
    if path is None:
        raise FileNotFoundError(f"no {category}.npy (or full_numpy_bitmap_{category}.npy) in {folder}")
    arr = _open_npy(path)
    if offset >= len(arr):
        raise NotEnoughRowsError(f"{path} holds {len(arr)} drawings: the offset must be below "
                                 f"{len(arr)}, got {offset}.")
    return np.array(arr[offset:] if n is None else arr[offset:offset + n])


# ------------------------------------------------------------- dataset ----

def check_parameters(categories=None, n_per_class=None, test_fraction=None, epochs=None,
                     seed=None, validation_fraction=None):
    """Stop early, saying what to change, on parameters that make no sense (None: not checked).

    Explained in 02_preprocessing.ipynb
    """
    def whole(value, low):
        return not isinstance(value, bool) and isinstance(value, int) and value >= low

    problems = []
    if categories is not None and (
            not isinstance(categories, (list, tuple)) or len(categories) != 2
            or len(set(categories)) != 2 or not all(isinstance(c, str) and c for c in categories)):
        problems.append(f"categories must be two different category names, e.g. ['apple', 'banana'], "
                        f"got {categories!r}")
    for name, value, low in (("n_per_class", n_per_class, 1), ("epochs", epochs, 1), ("seed", seed, 0)):
        if value is not None and not whole(value, low):
            problems.append(f"{name} must be a whole number >= {low}, got {value!r}")
    if test_fraction is not None and not (isinstance(test_fraction, (int, float))
                                          and 0 < test_fraction < 1):
        problems.append(f"test_fraction must be between 0 and 1 (0.16667 gives 500 of 3,000), "
                        f"got {test_fraction!r}")
    elif test_fraction is not None and whole(n_per_class, 1):
        n_test = round(2 * n_per_class * test_fraction)
        if n_test < 2 or 2 * n_per_class - n_test < 2:
            problems.append(f"n_per_class={n_per_class} with test_fraction={test_fraction} leaves a "
                            "split with fewer than 2 drawings: use more drawings")
    if validation_fraction is not None and not (isinstance(validation_fraction, (int, float))
                                                and 0 <= validation_fraction < 1):
        problems.append(f"validation_fraction must be in [0, 1) (0 fits on all training drawings), "
                        f"got {validation_fraction!r}")
    if problems:
        raise ValueError("bad parameter: " + "; ".join(problems))


def load_classes(categories, n_per_class, offset=0, data_dir=None):
    """Drawings of two categories and their labels: ``x`` (2n, 784) uint8, ``y`` 1 for the first.

    Explained in 02_preprocessing.ipynb
    """
    parts = [load_drawings(c, n_per_class, offset, data_dir=data_dir or None) for c in categories]
    y = np.repeat(np.array([1, 0], dtype=np.int64), [len(p) for p in parts])
    return np.concatenate(parts), y


def to_images(x):
    """(N, 784) rows to (N, 28, 28, 1) images: Conv2D wants a channel axis.

    Explained in 02_preprocessing.ipynb
    """
    return np.asarray(x).reshape(-1, *IMAGE_SHAPE)


def scale(x):
    """Pixels 0..255 to float32 0..1.

    Explained in 02_preprocessing.ipynb
    """
    return np.asarray(x, dtype=np.float32) / 255.0


def split(x, y, test_fraction, seed):
    """Shuffled, stratified train/test split: ``round(test_fraction * N)`` drawings for test.

    Explained in 02_preprocessing.ipynb
    """
    from sklearn.model_selection import train_test_split
    n_test = round(len(y) * test_fraction)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=n_test, stratify=y, random_state=seed)
    return {"x_train": x_tr, "y_train": y_tr, "x_test": x_te, "y_test": y_te}


# ----------------------------------------------------------- artifacts ----

def artifact(artifacts_dir, name, made_by=None):
    """Path of an artifact; with ``made_by``, stop unless that chapter has written it.

    Explained in 02_preprocessing.ipynb
    """
    path = Path(artifacts_dir).expanduser().resolve() / name
    if made_by and not path.exists():
        raise MissingArtifactError(
            f"{path} does not exist yet: run {made_by} first, with the same artifacts_dir "
            f"({Path(artifacts_dir)}).")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def save_json(path, obj):
    """Write ``obj`` as indented JSON (atomically).

    Explained in 04_training.ipynb
    """
    as_json = lambda o: o.item() if hasattr(o, "item") and np.ndim(o) == 0 else np.asarray(o).tolist()
    text = json.dumps(obj, indent=2, default=as_json) + "\n"  # fails before anything is written
    with _replacing(path) as fh:
        fh.write(text.encode())


def load_json(path):
    """Read a JSON artifact (``artifact(..., made_by=...)`` checks that it exists).

    Explained in 05_evaluation.ipynb
    """
    return json.loads(Path(path).read_text())


def fingerprint(*arrays):
    """A short hash of arrays' contents, to tell whether two results came from the same data.

    Explained in 04_training.ipynb
    """
    import hashlib
    digest = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype}{a.shape}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()[:16]


def load_split(artifacts_dir, categories=None):
    """The split 02 saved: x_train, y_train, x_test, y_test, categories, n_per_class, seed,
    test_fraction, and its ``fingerprint``.

    Explained in 03_cnn_architecture.ipynb
    """
    path = artifact(artifacts_dir, "split.npz", made_by="02_preprocessing.ipynb")
    with np.load(path) as npz:
        data = {k: npz[k] for k in npz.files}
    data["categories"] = [str(c) for c in data["categories"]]
    for key in ("n_per_class", "seed", "test_fraction"):
        if key in data:
            data[key] = data[key].item()
    if categories is not None and list(categories) != data["categories"]:
        raise MissingArtifactError(
            f"{path} holds {data['categories']}, not {list(categories)}: run 02_preprocessing.ipynb "
            "again with the same categories.")
    data["fingerprint"] = fingerprint(data["x_train"], data["y_train"], data["x_test"], data["y_test"])
    return data


# ----------------------------------------------------------- shape math ----

def conv_output_size(n_in, kernel_size, strides=1, padding="valid"):
    """Output length along one axis of a convolution or pooling window.

    ``valid``: floor((n_in - k) / s) + 1; ``same``: ceil(n_in / s) (Keras pads as needed).
    Explained in 03_cnn_architecture.ipynb
    """
    if padding == "valid":
        return (n_in - kernel_size) // strides + 1
    if padding == "same":
        return -(-n_in // strides)
    raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")


def conv_params(kernel_size, in_channels, filters):
    """Weights of a Conv2D layer: (k*k*c_in + 1) * filters (one bias a filter).

    Explained in 03_cnn_architecture.ipynb
    """
    return (kernel_size * kernel_size * in_channels + 1) * filters


def dense_params(n_in, n_out):
    """Weights of a Dense layer: (n_in + 1) * n_out.

    Explained in 03_cnn_architecture.ipynb
    """
    return (n_in + 1) * n_out


def shape_table(layers, input_shape=IMAGE_SHAPE, padding="valid"):
    """Rows (layer, output shape, parameters) computed from the formulas, for a plain stack.

    ``layers``: ("conv", filters, kernel), ("pool", size), ("flatten",), ("dense", units).
    Explained in 03_cnn_architecture.ipynb
    """
    shape, rows = tuple(input_shape), []
    for kind, *args in layers:
        if kind == "conv":
            filters, k = args
            params = conv_params(k, shape[-1], filters)
            side = [conv_output_size(s, k, 1, padding) for s in shape[:2]]
            shape = (*side, filters)
        elif kind == "pool":
            params, side = 0, [conv_output_size(s, args[0], args[0]) for s in shape[:2]]
            shape = (*side, shape[-1])
        elif kind == "flatten":
            params, shape = 0, (int(np.prod(shape)),)
        elif kind == "dense":
            params, shape = dense_params(shape[-1], args[0]), (args[0],)
        else:
            raise ValueError(f"unknown layer kind {kind!r}")
        rows.append((kind, shape, params))
    return rows


def keras_shape_table(model):
    """The same rows read off a built Keras model.

    Explained in 03_cnn_architecture.ipynb
    """
    kinds = {"Conv2D": "conv", "MaxPooling2D": "pool", "Flatten": "flatten", "Dense": "dense"}
    return [(kinds.get(type(layer).__name__, type(layer).__name__), tuple(layer.output.shape[1:]),
             layer.count_params()) for layer in model.layers]


# ---------------------------------------------------------------- model ----

ORIGIN_LAYERS = [("conv", 14, 3), ("pool", 2), ("conv", 14, 3), ("pool", 2),
                 ("flatten",), ("dense", 64), ("dense", 1)]


def set_seed(seed):
    """Seed Python, NumPy and TensorFlow in one call (``keras.utils.set_random_seed``).

    Explained in 04_training.ipynb
    """
    import keras
    keras.utils.set_random_seed(int(seed))


def build_origin(filters=14, padding="valid", input_shape=IMAGE_SHAPE):
    """The origin's network, compiled as it was: adam, binary cross-entropy, accuracy.

    Explained in 03_cnn_architecture.ipynb
    """
    return build_cnn(filters=(filters, filters), padding=padding, input_shape=input_shape,
                     name="origin")


def build_cnn(filters=(14, 14), padding="valid", augment=False, dense=64,
              input_shape=IMAGE_SHAPE, name="cnn", classes=2):
    """A compiled small CNN: per entry of ``filters`` a 3x3 convolution and a 2x2 max-pool, then
    Dense(``dense``) and the output, with optional augmentation layers (active in training
    only); adam. The defaults are the origin's network exactly. ``classes=2``: one sigmoid unit
    and binary cross-entropy, as the origin; more: one softmax unit per class and sparse
    categorical cross-entropy (labels 0 .. classes-1), as in 08_many_categories.ipynb.

    Explained in 06_experiments.ipynb
    """
    import keras
    from keras import layers
    stack = [keras.Input(shape=input_shape)]
    if augment:
        stack += [layers.RandomFlip("horizontal"),
                  layers.RandomRotation(0.05, fill_mode="constant"),
                  layers.RandomTranslation(0.1, 0.1, fill_mode="constant"),
                  layers.RandomZoom(0.1, fill_mode="constant")]
    for f in filters:
        stack += [layers.Conv2D(f, (3, 3), activation="relu", padding=padding),
                  layers.MaxPooling2D((2, 2))]
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 2:
        raise ValueError(f"classes must be a whole number of at least 2, got {classes!r}")
    binary = classes == 2
    stack += [layers.Flatten(), layers.Dense(dense, activation="relu")]
    stack += [layers.Dense(1, activation="sigmoid") if binary
              else layers.Dense(classes, activation="softmax")]
    model = keras.Sequential(stack, name=name)
    model.compile(optimizer="adam", metrics=["accuracy"],
                  loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy")
    return model


# Configurations by name: keyword arguments of build_cnn (the number of classes is given apart).
# The improved configuration trains longer (improved_epochs in 04, 06 and 08);
# 06_experiments.ipynb measures what each change earns.
CONFIGS = {
    "origin": {},
    "improved": {"augment": True, "filters": [16, 32, 64], "padding": "same"},
}


def model_names(model):
    """The configurations a ``model`` parameter asks for: one name, or all for "both".

    Explained in 04_training.ipynb
    """
    if model == "both":
        return list(CONFIGS)
    if model not in CONFIGS:
        raise ValueError(f"model must be one of {sorted(CONFIGS)} or 'both', got {model!r}")
    return [model]


def validation_slice(x, y, fraction, seed):
    """Split a stratified validation slice off the *training* data (never the test set).

    Returns (x_fit, y_fit, validation) with validation None when ``fraction`` is 0.
    Explained in 04_training.ipynb
    """
    if not fraction:
        return x, y, None
    from sklearn.model_selection import train_test_split
    x_fit, x_val, y_fit, y_val = train_test_split(x, y, test_size=fraction, stratify=y,
                                                  random_state=seed)
    return x_fit, y_fit, (x_val, y_val)


def train(config, x_train, y_train, epochs, batch_size=32, validation_fraction=0.0, seed=0,
          verbose=2, classes=2):
    """Seed, build and fit a configuration (a name in CONFIGS, or such a dict) on uint8 images;
    ``classes`` as in build_cnn (labels 0 .. classes-1 when more than 2).

    Returns (model, history): Keras' per-epoch metrics plus ``epoch_seconds``, ``fit_seconds``.
    Explained in 04_training.ipynb
    """
    import time
    import keras
    set_seed(seed)
    name = config if isinstance(config, str) else "custom"
    x_fit, y_fit, val = validation_slice(x_train, y_train, validation_fraction, seed)
    model = build_cnn(name=name, classes=classes,
                      **(CONFIGS[config] if isinstance(config, str) else config))
    times = []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: times.append(time.perf_counter()),
        on_epoch_end=lambda e, logs: times.__setitem__(-1, time.perf_counter() - times[-1]))
    start = time.perf_counter()
    hist = model.fit(scale(x_fit), y_fit, epochs=epochs, batch_size=batch_size,
                     validation_data=None if val is None else (scale(val[0]), val[1]),
                     callbacks=[timer], verbose=verbose)
    history = {k: [float(v) for v in vs] for k, vs in hist.history.items()}
    history.update(epoch_seconds=times, fit_seconds=time.perf_counter() - start,
                   n_fit=len(y_fit), n_validation=0 if val is None else len(val[1]),
                   model=name, epochs_run=len(times), batch_size=batch_size, seed=seed)
    return model, history


# ------------------------------------------------------------- plotting ----

def save_fig(fig, name, artifacts_dir):
    """Save a figure as ``<artifacts_dir>/figures/<name>.png``.

    Explained in 01_data_exploration.ipynb
    """
    path = artifact(artifacts_dir, f"figures/{name}.png")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def show_drawings(images, titles=None, ncols=8, suptitle=None, size=1.2):
    """A grid of 28x28 drawings (dark strokes on white, as drawn), with optional titles.

    Explained in 01_data_exploration.ipynb
    """
    import matplotlib.pyplot as plt
    images = np.asarray(images).reshape(-1, 28, 28)
    nrows = max(1, -(-len(images) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.15),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < len(images):
            ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=255)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_history(history, title="Training curves"):
    """Loss and accuracy per epoch, training and (if any) validation.

    Explained in 04_training.ipynb
    """
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    epochs = np.arange(1, len(history["loss"]) + 1)
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.plot(epochs, history[metric], "o-", ms=3, label="training")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], "s-", ms=3, label="validation")
        ax.set(xlabel="epoch", ylabel=metric, title=f"{metric} per epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------- evaluation ----

def predict_proba(model, x):
    """The model's probability of the first category, for uint8 images.

    Explained in 05_evaluation.ipynb
    """
    return model.predict(scale(x), verbose=0).ravel()


def accuracy(p, y, threshold=0.5):
    """Share of drawings whose thresholded probability matches the label.

    Explained in 05_evaluation.ipynb
    """
    return float(np.mean((np.asarray(p) > threshold).astype(int) == np.asarray(y)))


def accuracy_astype_int(p, y):
    """The origin's measure: ``p.astype(int)`` truncates, so only p == 1.0 counts as class 1.

    Explained in 05_evaluation.ipynb
    """
    return float(np.mean(np.asarray(p).astype(int) == np.asarray(y)))


def load_model(artifacts_dir, name, split=None):
    """The model 04 trained and saved as ``model_<name>.keras``; with ``split`` (from
    load_split), stop unless the model was trained on that split.

    Explained in 05_evaluation.ipynb
    """
    import keras
    path = artifact(artifacts_dir, f"model_{name}.keras",
                    made_by=f"04_training.ipynb (with model = {name!r})")
    if split is not None:
        history = load_json(artifact(artifacts_dir, f"history_{name}.json",
                                     made_by="04_training.ipynb"))
        if history.get("split") != split["fingerprint"]:
            raise MissingArtifactError(
                f"{path.name} was trained on another split than split.npz holds now (02 ran again "
                f"since): run 04_training.ipynb again (with model = {name!r}).")
    return keras.models.load_model(path)


# ------------------------------------------------------------- sketches ----

class NotAnImageError(QuickDrawError, ValueError):
    """A file that no image reader understands.

    Explained in 07_what_the_network_sees.ipynb
    """


class BlankCanvasError(QuickDrawError, ValueError):
    """An image with no strokes on it.

    Explained in 07_what_the_network_sees.ipynb
    """


def sketch_to_bitmap(image, ink_threshold=40):
    """An ordinary sketch (PNG/JPEG path or array; dark strokes on a light background, any size
    and aspect) as a Quick, Draw! bitmap: (28, 28) uint8, strokes bright on 0.

    Like Google's bitmaps: inverted, cropped to the strokes, strokes thickened so that they keep
    about 2 pixels' width after shrinking, the longer side scaled to 26 pixels with anti-aliasing,
    centred with a 1-pixel zero margin, brightest stroke at 255.
    Explained in 07_what_the_network_sees.ipynb
    """
    from PIL import Image, ImageFilter, UnidentifiedImageError
    if isinstance(image, (str, Path)):
        try:
            with Image.open(image) as img:
                img = img.convert("RGBA")  # transparent parts count as white paper
                white = Image.new("RGBA", img.size, (255, 255, 255, 255))
                gray = np.asarray(Image.alpha_composite(white, img).convert("L"), dtype=np.float32)
        except (UnidentifiedImageError, OSError) as err:
            raise NotAnImageError(f"{image} is not an image that can be read (use a PNG or JPEG "
                                  f"of a sketch): {err}") from err
    else:
        gray = np.asarray(image, dtype=np.float32)
        if gray.ndim == 3:
            gray = gray[..., :3].mean(axis=2)
        if gray.ndim != 2 or gray.size == 0:
            raise NotAnImageError(f"expected a 2-D grayscale or RGB image array, got shape {gray.shape}")
        if gray.max() <= 1.0:
            gray = gray * 255
    ink = 255 - gray
    ys, xs = np.nonzero(ink > ink_threshold)
    if len(ys) == 0:
        raise BlankCanvasError("the image has no strokes (a blank canvas): draw something dark "
                               "on a light background")
    ink = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    ink[ink <= ink_threshold] = 0
    pic = Image.fromarray(ink.astype(np.uint8))
    if max(ink.shape) > 26 * 8:  # shrink large photos first (box filter keeps thin strokes)
        pic = pic.reduce(max(ink.shape) // (26 * 4))
    w, h = pic.size
    factor = max(h, w) / 26
    width = int(round(factor * 1.5)) | 1  # odd size; thicken strokes before shrinking
    if width >= 3:
        pic = pic.filter(ImageFilter.MaxFilter(width))
    new = (max(1, round(w / factor)), max(1, round(h / factor)))
    small = np.asarray(pic.resize(new, Image.Resampling.LANCZOS if factor < 1 else Image.Resampling.BOX),
                       dtype=np.float32)
    canvas = np.zeros((28, 28), np.float32)
    top, left = (28 - new[1]) // 2, (28 - new[0]) // 2
    canvas[top:top + new[1], left:left + new[0]] = small
    if canvas.max() <= 0:
        raise BlankCanvasError("the strokes vanished when shrunk to 28x28: draw bolder lines")
    return np.clip(np.round(canvas * 255 / canvas.max()), 0, 255).astype(np.uint8)


def draw_sketch(strokes, path, size=(4, 4), linewidth=8):
    """Draw strokes (lists of (x, y) points) as dark lines on white and save a PNG, like a user's
    sketch. Returns the path.

    Explained in 07_what_the_network_sees.ipynb
    """
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=size, dpi=100)
    for stroke in strokes:
        pts = np.asarray(stroke, dtype=float)
        ax.plot(pts[:, 0], pts[:, 1], color="black", lw=linewidth, solid_capstyle="round")
    ax.set_aspect("equal")
    ax.invert_yaxis()
    ax.set_axis_off()
    fig.savefig(path, facecolor="white")
    plt.close(fig)
    return Path(path)


# ---------------------------------------------------------- experiments ----

def _code_version():
    """Versions of what a training result depends on besides its data: Keras and the code."""
    import inspect
    import hashlib
    import keras
    code = "".join(inspect.getsource(f) for f in (build_cnn, train, validation_slice, scale,
                                                  predict_proba, accuracy))
    return f"keras {keras.__version__}, code {hashlib.sha256(code.encode()).hexdigest()[:12]}"


def cached(folder, key, compute):
    """``compute()``'s JSON-able result, stored in ``folder`` under a hash of ``key`` (a dict of
    everything the result depends on; the Keras version and the training code are added): a
    rerun with the same key recomputes nothing. An unreadable cache file is computed again.

    Explained in 06_experiments.ipynb
    """
    import hashlib
    key = json.loads(json.dumps({**key, "version": _code_version()}, sort_keys=True, default=str))
    blob = json.dumps(key, sort_keys=True)
    path = artifact(folder, f"{hashlib.sha256(blob.encode()).hexdigest()[:16]}.json")
    try:
        stored = json.loads(path.read_text())
        if stored["key"] == key:
            return stored["result"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    result = compute()
    save_json(path, {"key": key, "result": result})
    return result
