"""Where the series runs: TensorFlow imported without its start-up noise; does a front-end show widgets?

Importing this module loads no TensorFlow; ``import_tensorflow_quietly`` does, once.
"""

from __future__ import annotations

import os
import sys


def import_tensorflow_quietly():
    """Import TensorFlow (and return it) with its start-up log lines, written before its logging is set up
    whatever ``TF_CPP_MIN_LOG_LEVEL`` says, sent to /dev/null, so that notebooks and CI stay readable.

    Used by helpers (on import) and the experiment cache's worker processes.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except OSError:
        import tensorflow

        return tensorflow
    try:
        os.dup2(devnull, 2)
        import tensorflow
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return tensorflow


def widget_frontend():
    """Whether a notebook frontend that shows widgets runs this kernel: JupyterLab, Notebook 7 or another
    Jupyter server (which sets ``JPY_SESSION_NAME`` for its kernels), VS Code or Colab.

    Explained in 05_evaluation.ipynb
    """
    if os.environ.get("QUICKDRAW_HEADLESS"):
        return False
    if "google.colab" in sys.modules:
        return True
    shell = sys.modules["IPython"].get_ipython() if "IPython" in sys.modules else None
    if shell is None or not hasattr(shell, "kernel"):
        return False
    return bool(os.environ.get("JPY_SESSION_NAME")) or "__vsc_ipynb_file__" in shell.user_ns
