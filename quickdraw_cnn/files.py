"""The project's files: written atomically (a failed write leaves none corrupt), shown without machine paths.

Every file the project writes (downloads, splits, models, figures, JSON, saved drawings, the
experiment cache, the runner's timings) goes through ``replacing`` (or ``replacing_path`` for a
library that wants a file name): written to a temporary name beside its destination, renamed over
it only once complete. A failed write (a full disk, a read-only folder) leaves the old file, or
nothing, and no temporary file, and raises ``WriteError`` naming the folder. Files get the
permissions of an ordinary file (0644 under the usual umask 022), not ``mkstemp``'s 0600.
Messages show paths with ``shown_path``: relative to the repository, or a folder's name.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from quickdraw_cnn.errors import QuickDrawError, WriteError

REPO_DIR = Path(__file__).resolve().parent.parent  # the repository: quickdraw_cnn/..


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


ORDINARY_MODE = 0o666 & ~_umask()  # what open() would give: 0644 under umask 022
PRIVATE_MODE = 0o600

_WHY = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the folder is on a read-only file system",
    errno.EACCES: "the folder is not writable (permission denied)",
    errno.EPERM: "the folder is not writable (operation not permitted)",
}


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


def write_error(path, err):
    """The ``WriteError`` for a failed write of ``path``: what happened, the folder, what to do.

    Used by replacing_path.
    """
    why = _WHY.get(getattr(err, "errno", None), getattr(err, "strerror", None) or str(err))
    return WriteError(
        f"could not write {Path(path).name} in the folder {shown_path(Path(path).parent)}: {why}. "
        "Nothing was changed there (an older copy, if any, is intact): free some space or make the "
        "folder writable, or point the run at another folder (artifacts_dir, QUICKDRAW_CACHE_DIR, "
        "QUICKDRAW_EXPERIMENT_CACHE)."
    )


@contextlib.contextmanager
def replacing_path(path, private=False):
    """A temporary file name beside ``path`` (same suffix, so libraries that look at it, such as
    Keras's ``.keras``, are satisfied) that replaces ``path`` only if the block completes, with
    ordinary permissions (0600 if ``private``). On failure ``path`` keeps its old content (or does
    not exist) and the temporary file is removed.

    Used by replacing, helpers.save_model and helpers.save_fig.
    """
    path, tmp = Path(path), None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
        os.close(fd)
        yield Path(tmp)
        os.chmod(tmp, PRIVATE_MODE if private else ORDINARY_MODE)
        os.replace(tmp, path)
    except OSError as err:
        if isinstance(err, QuickDrawError):
            raise
        raise write_error(path, err) from err
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


@contextlib.contextmanager
def replacing(path, private=False):
    """A temporary file beside ``path``, opened for binary writing, that replaces ``path`` only if
    the block completes (flushed to disk first): see ``replacing_path``.

    Used by load_drawings, the experiment cache, helpers' writers and sketches.append_drawings.
    """
    with replacing_path(path, private) as tmp, open(tmp, "wb") as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


def write_bytes(path, data, private=False):
    """Write ``data`` (bytes) to ``path`` atomically (see ``replacing``).

    Used by the writers below, the download progress report and the runner's timings.
    """
    with replacing(path, private) as fh:
        fh.write(data)


def atomic_save(path, array):
    """Write ``array`` to ``path`` as .npy, atomically (see ``replacing``).

    Used by load_drawings (the download cache) and sketches.append_drawings.
    """
    with replacing(path) as fh:
        np.save(fh, array, allow_pickle=False)


def save_arrays(path, **arrays):
    """Write named arrays to ``path`` as a compressed .npz, atomically (see ``replacing``).

    Used by helpers.save_split.
    """
    buf = io.BytesIO()  # built in memory first: a bad array fails before anything is written
    np.savez_compressed(buf, **arrays)
    write_bytes(path, buf.getvalue())


def write_json(path, obj):
    """Write ``obj`` as indented JSON, atomically; NumPy scalars and arrays become numbers and lists.

    Used by helpers.save_json and the experiment cache.
    """
    as_json = lambda o: o.item() if hasattr(o, "item") and np.ndim(o) == 0 else np.asarray(o).tolist()
    text = json.dumps(obj, indent=2, default=as_json) + "\n"  # fails before anything is written
    write_bytes(path, text.encode())
