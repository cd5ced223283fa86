"""Shared helpers for the quickdraw-cnn notebook series.

Grouped by concern: dataset (labels and splits), artifacts (what one chapter hands to the next),
shape math, model, training, plotting and evaluation. Everything else is in the package
``quickdraw_cnn`` (the data client, sketches, the sketch pad, many categories, the experiment
cache, the series runner); import a name from the module that defines it.
Each public helper's docstring ends with the chapter that explains it.

Drawings: the Quick, Draw! dataset by Google Creative Lab, CC BY 4.0
(https://github.com/googlecreativelab/quickdraw-dataset).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

# ---------------------------------------------------------------- data ----
# Loading drawings (folder, cache, Range download) is the data client's: quickdraw_cnn/data.py.
from quickdraw_cnn.data import QuickDrawError, load_drawings, shown_path
from quickdraw_cnn.files import write_json

IMAGE_SHAPE = (28, 28, 1)


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


class MissingArtifactError(QuickDrawError, FileNotFoundError):
    """A chapter's input is missing: an earlier chapter has not been run.

    Explained in 03_cnn_architecture.ipynb
    """


# ------------------------------------------------------------- dataset ----


def check_parameters(
    categories=None, n_per_class=None, test_fraction=None, epochs=None, seed=None, validation_fraction=None
):
    """Stop early, saying what to change, on parameters that make no sense (None: not checked).

    Explained in 02_preprocessing.ipynb
    """

    def whole(value, low):
        return not isinstance(value, bool) and isinstance(value, int) and value >= low

    problems = []
    if categories is not None and (
        not isinstance(categories, (list, tuple))
        or len(categories) != 2
        or len(set(categories)) != 2
        or not all(isinstance(c, str) and c for c in categories)
    ):
        problems.append(
            f"categories must be two different category names, e.g. ['apple', 'banana'], got {categories!r}"
        )
    for name, value, low in (("n_per_class", n_per_class, 1), ("epochs", epochs, 1), ("seed", seed, 0)):
        if value is not None and not whole(value, low):
            problems.append(f"{name} must be a whole number >= {low}, got {value!r}")
    if test_fraction is not None and not (isinstance(test_fraction, (int, float)) and 0 < test_fraction < 1):
        problems.append(
            f"test_fraction must be between 0 and 1 (0.16667 gives 500 of 3,000), got {test_fraction!r}"
        )
    elif test_fraction is not None and whole(n_per_class, 1):
        n_test = round(2 * n_per_class * test_fraction)
        if n_test < 2 or 2 * n_per_class - n_test < 2:
            problems.append(
                f"n_per_class={n_per_class} with test_fraction={test_fraction} leaves a "
                "split with fewer than 2 drawings: use more drawings"
            )
    if validation_fraction is not None and not (
        isinstance(validation_fraction, (int, float)) and 0 <= validation_fraction < 1
    ):
        problems.append(
            f"validation_fraction must be in [0, 1) (0 fits on all training drawings), "
            f"got {validation_fraction!r}"
        )
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
            f"{shown_path(path)} does not exist yet: run {made_by} first, with the same "
            f"artifacts_dir ({shown_path(artifacts_dir)})."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def save_json(path, obj):
    """Write ``obj`` as indented JSON (atomically).

    Explained in 04_training.ipynb
    """
    write_json(path, obj)


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
            f"{shown_path(path)} holds {data['categories']}, not {list(categories)}: run "
            "02_preprocessing.ipynb again with the same categories."
        )
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
    return [
        (
            kinds.get(type(layer).__name__, type(layer).__name__),
            tuple(layer.output.shape[1:]),
            layer.count_params(),
        )
        for layer in model.layers
    ]


# ---------------------------------------------------------------- model ----

ORIGIN_LAYERS = [
    ("conv", 14, 3),
    ("pool", 2),
    ("conv", 14, 3),
    ("pool", 2),
    ("flatten",),
    ("dense", 64),
    ("dense", 1),
]


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
    return build_cnn(filters=(filters, filters), padding=padding, input_shape=input_shape, name="origin")


def build_cnn(
    filters=(14, 14), padding="valid", augment=False, dense=64, input_shape=IMAGE_SHAPE, name="cnn", classes=2
):
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
        stack += [
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(0.05, fill_mode="constant"),
            layers.RandomTranslation(0.1, 0.1, fill_mode="constant"),
            layers.RandomZoom(0.1, fill_mode="constant"),
        ]
    for f in filters:
        stack += [layers.Conv2D(f, (3, 3), activation="relu", padding=padding), layers.MaxPooling2D((2, 2))]
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 2:
        raise ValueError(f"classes must be a whole number of at least 2, got {classes!r}")
    binary = classes == 2
    stack += [layers.Flatten(), layers.Dense(dense, activation="relu")]
    stack += [
        layers.Dense(1, activation="sigmoid") if binary else layers.Dense(classes, activation="softmax")
    ]
    model = keras.Sequential(stack, name=name)
    model.compile(
        optimizer="adam",
        metrics=["accuracy"],
        loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy",
    )
    return model


# Configurations by name: keyword arguments of build_cnn (the number of classes is given apart).
# The improved configuration trains longer (improved_epochs in 04, 06 and 08);
# 06_experiments.ipynb measures what each change earns.
CONFIGS = {"origin": {}, "improved": {"augment": True, "filters": [16, 32, 64], "padding": "same"}}


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

    x_fit, x_val, y_fit, y_val = train_test_split(x, y, test_size=fraction, stratify=y, random_state=seed)
    return x_fit, y_fit, (x_val, y_val)


def train(
    config, x_train, y_train, epochs, batch_size=32, validation_fraction=0.0, seed=0, verbose=2, classes=2
):
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
    model = build_cnn(name=name, classes=classes, **(CONFIGS[config] if isinstance(config, str) else config))
    times = []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: times.append(time.perf_counter()),
        on_epoch_end=lambda e, logs: times.__setitem__(-1, time.perf_counter() - times[-1]),
    )
    start = time.perf_counter()
    hist = model.fit(
        scale(x_fit),
        y_fit,
        epochs=epochs,
        batch_size=batch_size,
        validation_data=None if val is None else (scale(val[0]), val[1]),
        callbacks=[timer],
        verbose=verbose,
    )
    history = {k: [float(v) for v in vs] for k, vs in hist.history.items()}
    history.update(
        epoch_seconds=times,
        fit_seconds=time.perf_counter() - start,
        n_fit=len(y_fit),
        n_validation=0 if val is None else len(val[1]),
        model=name,
        epochs_run=len(times),
        batch_size=batch_size,
        seed=seed,
    )
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
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.15), squeeze=False)
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

    path = artifact(
        artifacts_dir, f"model_{name}.keras", made_by=f"04_training.ipynb (with model = {name!r})"
    )
    if split is not None:
        history = load_json(artifact(artifacts_dir, f"history_{name}.json", made_by="04_training.ipynb"))
        if history.get("split") != split["fingerprint"]:
            raise MissingArtifactError(
                f"{path.name} was trained on another split than split.npz holds now (02 ran again "
                f"since): run 04_training.ipynb again (with model = {name!r})."
            )
    return keras.models.load_model(path)


class OverlapError(QuickDrawError, ValueError):
    """An independent sample shares drawings with the rows a model trained or was tested on.

    Used by check_independent
    """


def check_independent(sample, **used):
    """Refuse an independent ``sample`` (images or flat rows) that holds a drawing of any of the
    ``used`` sets (name=images, e.g. training=x_train, test=x_test), compared row by row on
    their pixels: the first shared rows are named. Returns ``sample`` unchanged.

    Used by the chapters that measure on an independent sample (05, 08).
    """
    sample_rows = np.ascontiguousarray(sample).reshape(len(sample), -1)
    where = {row.tobytes(): i for i, row in enumerate(sample_rows)}
    for name, images in used.items():
        rows = np.ascontiguousarray(images).reshape(len(images), -1)
        shared = [(where[r.tobytes()], j) for j, r in enumerate(rows) if r.tobytes() in where]
        if shared:
            pairs = ", ".join(f"sample row {i} = {name} row {j}" for i, j in shared[:3])
            raise OverlapError(
                f"the independent sample holds {len(shared)} of the {name} drawings ({pairs}, ...): "
                "it would not be independent; take its rows from elsewhere (eval_offset, eval_data_dir)"
            )
    return sample
