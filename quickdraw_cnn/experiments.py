"""The experiment cache shared by every run: a result computed once is never trained again.

A result is stored under a hash of everything it depends on: the settings a chapter passes, the
fingerprints of its drawings, the Keras version and the source of the training code. So a second
``make run`` at the same parameters trains nothing, and a larger grid computes only what is new.
Importing this module loads no TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from quickdraw_cnn.data import REPO_DIR
from quickdraw_cnn.files import write_json


def _code_version():
    """Versions of what a training result depends on besides its data: Keras and the code."""
    import inspect

    import keras

    import helpers

    code = "".join(
        inspect.getsource(f)
        for f in (
            helpers.build_cnn,
            helpers.train,
            helpers.validation_slice,
            helpers.scale,
            helpers.predict_proba,
            helpers.accuracy,
        )
    )
    return f"keras {keras.__version__}, code {hashlib.sha256(code.encode()).hexdigest()[:12]}"


def experiment_cache_dir():
    """The folder where ``cached`` keeps experiment results, shared by every run so that a rerun
    at the same parameters trains nothing: ``$QUICKDRAW_EXPERIMENT_CACHE``, else ``cache/experiments``
    in the repository. Results are keyed by everything they depend on, so sharing is safe.

    Explained in 06_experiments.ipynb
    """
    folder = os.environ.get("QUICKDRAW_EXPERIMENT_CACHE") or REPO_DIR / "cache" / "experiments"
    return Path(folder).expanduser().resolve()  # made by the first result cached there


def cached(folder, key, compute):
    """``compute()``'s JSON-able result, stored in ``folder`` under a hash of ``key`` (a dict of
    everything the result depends on; the Keras version and the training code are added): a
    rerun with the same key recomputes nothing. An unreadable cache file is computed again.

    Explained in 06_experiments.ipynb
    """
    key = json.loads(json.dumps({**key, "version": _code_version()}, sort_keys=True, default=str))
    blob = json.dumps(key, sort_keys=True)
    path = Path(folder) / f"{hashlib.sha256(blob.encode()).hexdigest()[:16]}.json"
    try:
        stored = json.loads(path.read_text())
        if stored["key"] == key:
            return stored["result"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    result = compute()
    write_json(path, {"key": key, "result": result})
    return result


def cached_call(function, **arguments):
    """``function(**arguments)`` through the experiment cache (``cached`` in
    ``experiment_cache_dir()``), keyed by the function's name, its source code and its arguments,
    NumPy arrays by their fingerprint: a chapter calls it once per result and builds no key.

    Explained in 05_evaluation.ipynb
    """
    import inspect

    import numpy as np

    from helpers import fingerprint

    key = {
        "function": function.__name__,
        "source": inspect.getsource(function),
        "arguments": {k: fingerprint(v) if isinstance(v, np.ndarray) else v for k, v in arguments.items()},
    }
    return cached(experiment_cache_dir(), key, lambda: function(**arguments))
