"""quickdraw-cnn's library behind the chapters: everything but the chapters' own companion, helpers.py.

- ``data``: the Quick, Draw! bitmaps: the 345 categories, folder, cache, HTTP Range download
- ``strokes``: Google's stroke files (simplified .ndjson), found and downloaded the same way
- ``files``: atomic writes, and paths shown without a machine's layout
- ``experiments``: the experiment cache shared by every run, and trainings side by side
- ``sketches``: strokes as Google's 28x28 bitmaps (checked, simplified, rendered, compared, saved)
- ``occlusion``: which pixels a prediction depends on
- ``sketchpad``: the drawing widget of chapter 07 (with ``sketchpad.js`` and ``sketchpad.css``)
- ``multiclass``: chapter 08, many categories and streamed input
- ``workers``: multi-worker training (tf_keras, MultiWorkerMirroredStrategy), one call
- ``export``: trained networks as ONNX for the web pages' drawing pad
- ``series``: runs the notebooks in order (``python -m quickdraw_cnn.series``)
- ``execute``: one notebook under papermill, within time limits; a stop names notebook and cell
- ``progress``: the runner's status line (nbclient's callbacks) and the timings of its estimate

Each module imports only what it needs: ``data``, ``files`` and ``sketches`` load no TensorFlow.
"""
