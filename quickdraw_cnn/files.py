"""The project's files: written atomically (never left half-written), shown without machine paths."""

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
    """``path`` relative to the repository, else its folder's name and its own: how messages show a path.

    Used by the data errors, explained in 01_data_exploration.ipynb
    """
    path = Path(path).expanduser()
    try:
        return str(path.resolve().relative_to(REPO_DIR))
    except ValueError:
        return str(Path(path.resolve().parent.name, path.name)) if path.is_absolute() else str(path)


@contextlib.contextmanager
def replacing_path(path, private=False):
    """A temporary file name beside ``path`` (same suffix, for libraries such as Keras that look at
    it) that replaces ``path`` if the block completes (0600 if ``private``), else is removed.

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
        why = _WHY.get(err.errno, err.strerror or str(err))
        raise WriteError(
            f"could not write {path.name} in the folder {shown_path(path.parent)}: {why}. Nothing was "
            "changed there (an older copy, if any, is intact): free some space or make the folder "
            "writable, or point the run at another folder (artifacts_dir, QUICKDRAW_CACHE_DIR, "
            "QUICKDRAW_EXPERIMENT_CACHE)."
        ) from err
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


@contextlib.contextmanager
def replacing(path, private=False):
    """``replacing_path``'s file opened for binary writing, flushed to disk before it replaces ``path``.

    Used by load_drawings, the experiment cache, helpers' writers and sketches.append_drawings.
    """
    with replacing_path(path, private) as tmp, open(tmp, "wb") as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


def write_bytes(path, data, private=False):
    """Write ``data`` (bytes) to ``path`` atomically.

    Used by the writers below, the download progress report and the runner's timings.
    """
    with replacing(path, private) as fh:
        fh.write(data)


def atomic_save(path, array):
    """Write ``array`` to ``path`` as .npy, atomically.

    Used by load_drawings (the download cache) and sketches.append_drawings.
    """
    with replacing(path) as fh:
        np.save(fh, array, allow_pickle=False)


def save_arrays(path, **arrays):
    """Write named arrays to ``path`` as a compressed .npz, atomically.

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
