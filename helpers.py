"""Shared helpers for the quickdraw-cnn notebook series.

Dataset, artifacts, shape math, model, training, plotting, evaluation; the rest is in ``quickdraw_cnn``.
Drawings: the Quick, Draw! dataset by Google Creative Lab, CC BY 4.0
(https://github.com/googlecreativelab/quickdraw-dataset).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from quickdraw_cnn import experiments, files

# ---------------------------------------------------------------- data ----
# Loading drawings (folder, cache, Range download) is the data client's: quickdraw_cnn/data.py.
from quickdraw_cnn.data import load_drawings
from quickdraw_cnn.environment import import_tensorflow_quietly
from quickdraw_cnn.errors import MissingArtifactError, ParameterError
from quickdraw_cnn.files import shown_path, write_json

IMAGE_SHAPE = (28, 28, 1)


import_tensorflow_quietly()
import keras  # noqa: E402  (after TensorFlow's quiet import)

# ------------------------------------------------------------- dataset ----


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
    if min(n_test, len(y) - n_test) < 2:
        raise ParameterError(
            f"test_fraction={test_fraction} of {len(y)} drawings leaves a split with fewer than 2 "
            "drawings: use more drawings or another test_fraction"
        )
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


def save_split(path, categories, n_per_class, seed, test_fraction, **parts):
    """Write the split (x_train, y_train, x_test, y_test) and its parameters to ``path`` (.npz), atomically.

    Explained in 02_preprocessing.ipynb
    """
    meta = {"n_per_class": n_per_class, "seed": seed, "test_fraction": test_fraction}
    files.save_arrays(path, categories=np.array(categories), **meta, **parts)
    return Path(path)


def save_model(model, path):
    """Save a Keras model as ``path`` (.keras), atomically (written beside it, then renamed).

    Explained in 04_training.ipynb
    """
    with files.replacing_path(path) as tmp:
        model.save(tmp)
    return Path(path)


def load_json(path):
    """Read a JSON artifact (``artifact(..., made_by=...)`` checks that it exists).

    Explained in 05_evaluation.ipynb
    """
    return json.loads(Path(path).read_text())


def load_split(artifacts_dir, categories=None):
    """The split 02 saved (x_train, y_train, x_test, y_test, its parameters) and its ``fingerprint``.

    Explained in 03_cnn_architecture.ipynb
    """
    path = artifact(artifacts_dir, "split.npz", made_by="02_preprocessing.ipynb")
    with np.load(path) as npz:
        data = {k: npz[k] for k in npz.files}
    data["categories"] = [str(c) for c in data["categories"]]
    data.update({k: data[k].item() for k in ("n_per_class", "seed", "test_fraction") if k in data})
    if categories is not None and list(categories) != data["categories"]:
        raise MissingArtifactError(
            f"{shown_path(path)} holds {data['categories']}, not {list(categories)}: run "
            "02_preprocessing.ipynb again with the same categories."
        )
    data["fingerprint"] = experiments.fingerprint(
        data["x_train"], data["y_train"], data["x_test"], data["y_test"]
    )
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
    raise ParameterError(f"padding must be 'valid' or 'same', got {padding!r}")


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
            raise ParameterError(f"unknown layer kind {kind!r}")
        rows.append((kind, shape, params))
    return rows


def keras_shape_table(model):
    """The same rows read off a built Keras model.

    Explained in 03_cnn_architecture.ipynb
    """
    kinds = {"Conv2D": "conv", "MaxPooling2D": "pool", "Flatten": "flatten", "Dense": "dense"}
    named = [(kinds.get(type(layer).__name__, type(layer).__name__), layer) for layer in model.layers]
    return [(kind, tuple(layer.output.shape[1:]), layer.count_params()) for kind, layer in named]


# ---------------------------------------------------------------- model ----

ORIGIN_LAYERS = [("conv", 14, 3), ("pool", 2)] * 2 + [("flatten",), ("dense", 64), ("dense", 1)]


def set_seed(seed):
    """Seed Python, NumPy and TensorFlow and make TensorFlow's ops deterministic (for the process).

    Explained in 04_training.ipynb
    """
    import tensorflow as tf

    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()


def build_origin(filters=14, padding="valid", input_shape=IMAGE_SHAPE):
    """The origin's network, compiled as it was: adam, binary cross-entropy, accuracy.

    Explained in 03_cnn_architecture.ipynb
    """
    return build_cnn(filters=(filters, filters), padding=padding, input_shape=input_shape, name="origin")


def build_cnn(
    filters=(14, 14),
    padding="valid",
    augment=False,
    dense=64,
    global_pool=False,
    input_shape=IMAGE_SHAPE,
    name="cnn",
    classes=2,
    keras=None,
):
    """A compiled small CNN (adam): per entry of ``filters`` a 3x3 convolution and a 2x2 max-pool.

    The defaults are the origin's network; ``classes`` > 2: softmax; ``keras``: Keras 3 or tf_keras.

    Explained in 06_experiments.ipynb
    """
    if keras is None:
        import keras
    layers = keras.layers

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
    if global_pool:
        stack += [layers.GlobalAveragePooling2D()]
    else:
        stack += [layers.Flatten(), layers.Dense(dense, activation="relu")]
    stack += [layers.Dense(1 if binary else classes, activation="sigmoid" if binary else "softmax")]
    model = keras.Sequential(stack, name=name)
    model.compile(
        optimizer="adam",
        metrics=["accuracy"],
        loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy",
    )
    return model


# Configurations by name: keyword arguments of build_cnn (the number of classes is given apart).
# "improved" is the row of 06_experiments.ipynb's ablation that its validation slice selects
# (augmentation, same padding, 16 and 32 filters), with the origin's 25 epochs there.
CONFIGS = {"origin": {}, "improved": {"augment": True, "padding": "same", "filters": [16, 32]}}


def model_names(model):
    """The configurations a ``model`` parameter asks for: one name, or all for "both".

    Explained in 04_training.ipynb
    """
    if model == "both":
        return list(CONFIGS)
    if model not in CONFIGS:
        raise ParameterError(f"model must be one of {sorted(CONFIGS)} or 'both', got {model!r}")
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


class EpochTimer(keras.callbacks.Callback):
    """A Keras callback that times every epoch: ``seconds`` (one value an epoch) and ``total``.

    Explained in 04_training.ipynb
    """

    def __init__(self):
        super().__init__()
        self.seconds, self.total, self._first, self._start = [], 0.0, None, None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._first = self._first or self._start

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        self.seconds.append(now - self._start)
        self.total = now - self._first


def history_record(fit, timer, name, n_fit, n_validation, batch_size, seed):
    """What 04 saves as ``history_<name>.json``: per-epoch metrics, epoch times and settings.

    Explained in 04_training.ipynb
    """
    history = {k: [float(v) for v in vs] for k, vs in fit.history.items()}
    history.update(
        epoch_seconds=timer.seconds, fit_seconds=timer.total, n_fit=n_fit, n_validation=n_validation
    )
    history.update(model=name, epochs_run=len(timer.seconds), batch_size=batch_size, seed=seed)
    return history


def train(
    config, x_train, y_train, epochs, batch_size=32, validation_fraction=0.0, seed=0, verbose=2, classes=2
):
    """Seed, build and fit a configuration (a name in CONFIGS, such a dict, or a function of the
    number of classes that returns a compiled model) on uint8 images; returns (model, history).
    Explained in 04_training.ipynb
    """
    set_seed(seed)
    name = config if isinstance(config, str) else getattr(config, "__name__", "custom")
    x_fit, y_fit, val = validation_slice(x_train, y_train, validation_fraction, seed)
    if callable(config):  # a function of the number of classes that returns a compiled model
        model = config(classes)
    else:
        settings = CONFIGS[config] if isinstance(config, str) else config
        model = build_cnn(name=name, classes=classes, **settings)
    timer = EpochTimer()
    validation = None if val is None else (scale(val[0]), val[1])
    options = {"epochs": epochs, "batch_size": batch_size, "callbacks": [timer], "verbose": verbose}
    fit = model.fit(scale(x_fit), y_fit, validation_data=validation, **options)
    n_validation = 0 if val is None else len(val[1])
    return model, history_record(fit, timer, name, len(y_fit), n_validation, batch_size, seed)


_train = train  # train_and_score's argument ``train`` (a data name) hides the function


def train_and_score(
    config,
    epochs,
    train,
    seed,
    data,
    score=(),
    batch_size=32,
    classes=2,
    validation=0.0,
    top3=False,
    onnx=False,
):
    """Train ``config`` on ``data[train]`` and score it on each name in ``score``: accuracy, or
    the top-3 labels for more than 2 classes (or ``top3``). A task for experiments.run.

    Explained in 06_experiments.ipynb
    """
    from quickdraw_cnn import export

    kept = {name: (x[y < classes], y[y < classes]) for name, (x, y) in data.items()}
    net, history = _train(config, *kept[train], epochs, batch_size, validation, seed, 0, classes)
    result = {"seconds": history["fit_seconds"], "loss": history["loss"], "params": net.count_params()}
    result["epochs_run"] = history["epochs_run"]
    for name in score:
        x, y = kept[name]
        if classes == 2 and not top3:
            result[name] = accuracy(predict_proba(net, x), y)
            continue
        p = net.predict(scale(x), batch_size=256, verbose=0)  # as multiclass.predict does
        p = np.concatenate([1 - p, p], axis=1) if p.shape[1] == 1 else p  # two: class 1 has p
        result[name] = np.argsort(-p, axis=1)[:, :3].tolist()  # the top 3, most probable first
    if onnx:
        result["onnx"] = export.onnx_text(net)
    return result


# ------------------------------------------------------------- plotting ----


def save_fig(fig, name, artifacts_dir):
    """Save a figure as ``<artifacts_dir>/figures/<name>.png``.

    Explained in 01_data_exploration.ipynb
    """
    path = artifact(artifacts_dir, f"figures/{name}.png")
    with files.replacing_path(path) as tmp:  # atomic, like every file the project writes
        fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
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


def logits(model, inputs):
    """The log-odds z that the model's last layer turns into p = sigmoid(z), for inputs as the model takes.

    Explained in 05_evaluation.ipynb
    """
    features = keras.Model(model.inputs, model.layers[-2].output).predict(inputs, verbose=0)
    kernel, bias = model.layers[-1].get_weights()
    return (features @ kernel + bias).ravel()


def model_metrics(name, model, split):
    """A trained model's test and training figures as metrics_<name>.json records them.

    Explained in 05_evaluation.ipynb
    """
    from sklearn.metrics import roc_auc_score

    p_test, y_test = predict_proba(model, split["x_test"]), split["y_test"]
    p_train, y_train = predict_proba(model, split["x_train"]), split["y_train"]
    test = {"accuracy": accuracy(p_test, y_test), "accuracy_astype_int": accuracy_astype_int(p_test, y_test)}
    test.update(auc=float(roc_auc_score(y_test, p_test)), n=int(len(y_test)))
    train = {"accuracy": accuracy(p_train, y_train), "n": int(len(y_train))}
    record = {"model": name, "categories": list(split["categories"]), "split": split["fingerprint"]}
    return {**record, "test": test, "train": train}


def save_metrics(artifacts_dir, split, models, independent=None, **more):
    """Write ``metrics_<name>.json`` for each of ``models`` and ``metrics.json``; return a table of
    every ``metrics_<name>.json`` in the folder as text, naming those of another split.

    Explained in 05_evaluation.ipynb
    """
    results = {name: model_metrics(name, model, split) for name, model in models.items()}
    for name, figures in results.items():
        figures.update({"independent": independent[name]} if independent else {})
        save_json(artifact(artifacts_dir, f"metrics_{name}.json"), figures)
    first = next(iter(results))
    save_json(artifact(artifacts_dir, "metrics.json"), {**results[first], "configurations": results, **more})
    lines = [f"{'model':<10} {'test acc':>9} {'astype(int)':>12} {'AUC':>7} {'independent':>12}"]
    for path in sorted(artifact(artifacts_dir, ".").glob("metrics_*.json")):
        m = load_json(path)
        if m.get("split") != split["fingerprint"]:
            stale = f"{path.name}: stale, from another split (run 04 and 05 again, model = {m['model']!r})"
            lines.append(stale)
            continue
        ind, test = m.get("independent", {}).get("accuracy"), m["test"]
        lines.append(
            f"{m['model']:<10} {test['accuracy']:>9.2%} {test['accuracy_astype_int']:>12.2%} "
            f"{test['auc']:>7.4f} {'-' if ind is None else f'{ind:.2%}':>12}"
        )
    return "\n".join(lines)


def load_model(artifacts_dir, name, split=None):
    """The model 04 saved as ``model_<name>.keras``; with ``split``, stop unless trained on it.

    Explained in 05_evaluation.ipynb
    """
    run_04 = f"04_training.ipynb (with model = {name!r})"
    path = artifact(artifacts_dir, f"model_{name}.keras", made_by=run_04)
    if split is not None:
        history = load_json(artifact(artifacts_dir, f"history_{name}.json", made_by="04_training.ipynb"))
        if history.get("split") != split["fingerprint"]:
            raise MissingArtifactError(
                f"{path.name} was trained on another split than split.npz holds now (02 ran again "
                f"since): run 04_training.ipynb again (with model = {name!r})."
            )
    return keras.models.load_model(path)


def check_independent(sample, **used):
    """Refuse an independent ``sample`` that holds a drawing of any of the ``used`` sets (name=images).

    Used by the chapters that measure on an independent sample (05, 08).
    """
    sample_rows = np.ascontiguousarray(sample).reshape(len(sample), -1)
    where = {row.tobytes(): i for i, row in enumerate(sample_rows)}
    for name, images in used.items():
        rows = np.ascontiguousarray(images).reshape(len(images), -1)
        shared = [(where[r.tobytes()], j) for j, r in enumerate(rows) if r.tobytes() in where]
        if shared:
            pairs = ", ".join(f"sample row {i} = {name} row {j}" for i, j in shared[:3])
            raise ParameterError(
                f"the independent sample holds {len(shared)} of the {name} drawings ({pairs}, ...): "
                "it would not be independent; take its rows from elsewhere (eval_offset, eval_data_dir)"
            )
    return sample
