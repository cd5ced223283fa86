"""The errors a user of the series meets: a handful of classes, each message saying what to do."""


class QuickDrawError(Exception):
    """Base class of every error the project raises on purpose.

    Explained in 01_data_exploration.ipynb
    """


class ParameterError(QuickDrawError, ValueError):
    """A parameter, flag, environment variable or category list that cannot be used as given.

    Explained in 01_data_exploration.ipynb
    """


class DataError(QuickDrawError, ValueError):
    """Drawings that are missing, malformed or too few: a folder, a file, an image or strokes.

    Explained in 01_data_exploration.ipynb
    """


class DownloadError(QuickDrawError, ConnectionError):
    """No network, a server error, a download cut short or too slow.

    Explained in 01_data_exploration.ipynb
    """


class MissingArtifactError(QuickDrawError, FileNotFoundError):
    """What an earlier chapter writes is not there: its message names the chapter to run first.

    Explained in 02_preprocessing.ipynb
    """


class WriteError(QuickDrawError, OSError):
    """A file or folder the project writes could not be written (read-only, full, not ours).

    Used by quickdraw_cnn.files and the series runner.
    """


class WorkerError(QuickDrawError, RuntimeError):
    """Multi-worker training failed: a port taken, a worker that died or took too long.

    Explained in 10_beyond_one_machine.ipynb
    """


class RunError(QuickDrawError, RuntimeError):
    """A notebook of the series stopped: a cell failed, timed out, or its kernel died.

    Used by the series runner (python -m quickdraw_cnn.series).
    """
