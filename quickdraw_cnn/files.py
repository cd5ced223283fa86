"""Writing files so that an interrupted write never leaves a corrupt one behind.

Every file the project writes (downloads, splits, models, figures, JSON, saved drawings, the
experiment cache) is written to a temporary name beside its destination and renamed over it
only once it is complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def replacing(path):
    """A temporary file beside ``path`` (a unique name, from ``tempfile.mkstemp``), opened for
    writing, that replaces ``path`` only if the block completes: an interrupted write never leaves
    a corrupt file behind. Every file the project writes goes through it.

    Used by load_drawings, helpers.save_json and sketches.append_drawings.
    Explained in 01_data_exploration.ipynb
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def atomic_save(path, array):
    """Write ``array`` to ``path`` as .npy, atomically (see ``replacing``).

    Explained in 01_data_exploration.ipynb
    """
    with replacing(path) as fh:
        np.save(fh, array, allow_pickle=False)


def write_json(path, obj):
    """Write ``obj`` as indented JSON, atomically; NumPy scalars and arrays become numbers and lists.

    Used by helpers.save_json and the experiment cache.
    """
    as_json = lambda o: o.item() if hasattr(o, "item") and np.ndim(o) == 0 else np.asarray(o).tolist()
    text = json.dumps(obj, indent=2, default=as_json) + "\n"  # fails before anything is written
    with replacing(path) as fh:
        fh.write(text.encode())
