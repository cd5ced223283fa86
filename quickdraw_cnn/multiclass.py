"""Many categories (chapter 08): labelled loading, the wide network and its training, top-k and confusions.
Also the streamed ``tf.data`` pipeline of chapter 10 (quickdraw_cnn.workers trains on it). Drawings:
the Quick, Draw! dataset by Google Creative Lab, CC BY 4.0 (https://github.com/googlecreativelab/quickdraw-dataset).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import helpers
from quickdraw_cnn import data as qd
from quickdraw_cnn.errors import DataError, ParameterError


def category_files(classes, n, offset=0, data_dir=None):
    """Per category, (name, local .npy file, header bytes, rows); the short ones named in one DataError.

    Used by load_many, stream and quickdraw_cnn.workers.
    """
    classes = qd.check_categories(classes, min_count=2)
    n, offset = qd.whole_number("n", n, 1), qd.whole_number("offset", offset, 0)
    found, short = [], []
    for name in classes:
        try:
            path = qd.local_file(name, n, offset, data_dir=data_dir or None)
        except DataError as err:
            short.append(f"{name}: {err}")
            continue
        header, rows = qd.npy_layout(path)
        if rows < offset + n:
            short.append(f"'{name}' has {rows} rows in {path}")
        found.append((name, Path(path), header, rows))
    if short:
        asked = f"rows {offset}..{offset + n - 1} were asked for, but {'; '.join(short)}"
        raise DataError(
            f"{asked}. Ask for fewer rows (or a smaller offset), or point data_dir at fuller files."
        )
    return found


def load_many(classes, n, offset=0, data_dir=None):
    """In memory: rows ``offset .. offset+n-1`` of each category, ``x`` (k n, 784) uint8 and labels ``y``.

    Explained in 08_many_categories.ipynb
    """
    category_files(classes, n, offset, data_dir)  # all checks first, before loading anything
    parts = [qd.load_drawings(c, n, offset, data_dir=data_dir or None) for c in classes]
    return np.concatenate(parts), np.repeat(np.arange(len(classes), dtype=np.int64), n)


def interleaved(x, y, k):
    """load_many's drawings in the unshuffled stream's order: row 0 of every class, then row 1, ...

    Explained in 10_beyond_one_machine.ipynb
    """
    order = np.arange(len(y)).reshape(k, -1).T.ravel()
    return x[order], y[order]


def stream(classes, n, offset=0, data_dir=None, batch_size=32, shuffle_buffer=4096, seed=0, scaled=True):
    """A ``tf.data`` pipeline of rows ``offset .. offset+n-1`` of each category, read from the .npy
    files (never all in memory): interleaved, shuffled, batched, prefetched; (images, labels).

    Explained in 10_beyond_one_machine.ipynb
    """
    import tensorflow as tf

    files = category_files(classes, n, offset, data_dir)
    paths = tf.constant([str(f[1]) for f in files])
    starts = tf.constant([f[2] + offset * qd.ROW_BYTES for f in files], tf.int64)

    def one_category(path, start, label):
        rows = tf.data.FixedLengthRecordDataset(path, qd.ROW_BYTES, header_bytes=start).take(n)
        return rows.map(lambda row: (row, label))

    labels = tf.range(len(files), dtype=tf.int64)
    ds = tf.data.Dataset.from_tensor_slices((paths, starts, labels))
    ds = ds.interleave(one_category, cycle_length=len(files), block_length=1)
    if shuffle_buffer:  # the buffer holds raw rows: 784 bytes a drawing
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    total = len(files) * n
    if batch_size:
        ds, total = ds.batch(batch_size), -(-total // batch_size)
    ds = ds.apply(tf.data.experimental.assert_cardinality(total))
    shape = ((-1,) if batch_size else ()) + helpers.IMAGE_SHAPE  # decode a whole batch at once
    ds = ds.map(lambda rows, label: (tf.reshape(tf.io.decode_raw(rows, tf.uint8), shape), label))
    if scaled:
        ds = ds.map(lambda img, label: (tf.cast(img, tf.float32) / 255.0, label))
    return ds.prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------- evaluation ----


def predict(model, x, batch_size=256):
    """Class probabilities (N, k) for uint8 drawings; a two-class model's sigmoid p gives 1 - p, p.

    Explained in 10_beyond_one_machine.ipynb
    """
    p = model.predict(helpers.scale(helpers.to_images(x)), batch_size=batch_size, verbose=0)
    return np.concatenate([1 - p, p], axis=1) if p.shape[-1] == 1 else p


def top_k_accuracy(probabilities, y, k=1):
    """Share of drawings whose true class is among the ``k`` most probable ones.

    Explained in 10_beyond_one_machine.ipynb
    """
    top = np.argsort(-np.asarray(probabilities), axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == np.asarray(y)[:, None], axis=1)))


def top_share(result, y, k, field="test"):
    """Top-``k`` accuracy of a stored result's top-3 predictions ``result[field]`` for labels ``y``.

    Explained in 08_many_categories.ipynb
    """
    return float(np.mean(np.any(np.array(result[field])[:, :k] == np.asarray(y)[:, None], axis=1)))


def confusion(y, predicted, k):
    """The k x k confusion matrix normalised per true class (each row sums to 1).

    Explained in 08_many_categories.ipynb
    """
    counts = np.zeros((k, k))
    np.add.at(counts, (np.asarray(y), np.asarray(predicted)), 1)
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)


def most_confused(matrix, classes, top=6):
    """The ``top`` pairs (a, b, share of a taken for b, share of b taken for a), most confused first.

    Explained in 08_many_categories.ipynb
    """
    k = len(classes)
    pairs = [(matrix[i, j] + matrix[j, i], i, j) for i in range(k) for j in range(i + 1, k)]
    top_pairs = sorted(pairs, reverse=True)[:top]
    return [(classes[i], classes[j], float(matrix[i, j]), float(matrix[j, i])) for _, i, j in top_pairs]


def plot_confusion(matrix, classes, title):
    """The normalised confusion matrix as an annotated heat map (shares of 2% and more written).

    Used by 08_many_categories.ipynb
    """
    import matplotlib.pyplot as plt

    k = len(classes)
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    im = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    ax.set(xticks=range(k), yticks=range(k), xlabel="predicted class", ylabel="true class", title=title)
    ax.set_xticklabels(classes, rotation=90)
    ax.set_yticklabels(classes)
    for i, j in zip(*np.nonzero(matrix >= 0.02)):
        color = "white" if matrix[i, j] > 0.5 else "black"
        ax.text(j, i, f"{matrix[i, j]:.2f}"[1:], ha="center", va="center", fontsize=6, color=color)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


# ------------------------------------------------------- 08's bookkeeping ----


def load_independent(folder, classes, offset, n):
    """Up to ``n`` rows per class from row ``offset`` of each ``<category>.npy`` in ``folder`` (some of
    ``classes`` may be missing): ((images, labels), the classes found), or a DataError if none is there.

    Used by 08_many_categories.ipynb
    """
    found = [c for c in classes if qd.find_category_file(folder, c, parameter="independent_dir")]
    if not found:
        raise DataError(
            f"independent_dir holds no <category>.npy of {list(classes)}: fix it, or set it to ''"
        )
    parts = [qd.load_from_folder(folder, c, offset=offset, n=n, parameter="independent_dir") for c in found]
    labels = np.repeat([classes.index(c) for c in found], [len(p) for p in parts])
    return (helpers.to_images(np.concatenate(parts)), labels), found


def metrics_json(path, results, epochs, seeds, y, rows, independent=None, **extra):
    """Write 08's multiclass_metrics.json: per configuration (``results``: name -> a result per seed)
    mean top-1 and top-3 (and sample sd) on the test rows and on the independent sample.

    Used by 08_many_categories.ipynb
    """

    def scores(runs, labels, field):
        t1, t3 = [[top_share(r, labels, k, field) for r in runs] for k in (1, 3)]
        sd = [float(np.std(t, ddof=1)) if len(t) > 1 else 0.0 for t in (t1, t3)]
        entry = {"top1": float(np.mean(t1)), "top3": float(np.mean(t3)), "n": int(len(labels))}
        return entry | {"top1_sd": sd[0], "top3_sd": sd[1]}

    metrics = {}
    for name, runs in results.items():
        entry = {"model": name, "epochs": epochs[name], "seeds": list(seeds[name])}
        entry["fit_seconds"] = float(np.mean([r["seconds"] for r in runs]))
        entry["test"] = scores(runs, y, "test") | {"rows": list(rows)}
        if independent is not None:
            ((_, y_ind), found), first = independent
            where = {"rows_from": first, "categories": found}
            entry["independent"] = scores(runs, y_ind, "independent") | where
        metrics[name] = entry
    helpers.save_json(path, {**next(iter(metrics.values())), **extra, "configurations": metrics})
    return metrics


# ------------------------------------------------------ a network for 14 classes ----
# 08's configuration for many classes, chosen on validation rows by tools/search_wide.py: build_wide's
# layers and train_wide's recipe. WIDE_VERSION names their results in the experiment cache: bump it
# when a change here changes what a training gives.
WIDE = {"widths": [24, 48, 96], "batch_norm": True, "dense": 128, "dropout": 0.1, "augment": True}
RECIPE = {"batch_size": 64, "learning_rate": 4e-3, "warmup": 0.1, "schedule": "cosine"}
WIDE_VERSION = "1"


def build_wide(
    classes, widths=(24, 48, 96), batch_norm=True, dense=128, dropout=0.1, augment=True, name="wide"
):
    """The ``wide`` network (defaults: WIDE), not compiled: augmentation, per entry of ``widths`` a 3x3
    convolution, a max-pool, batch normalisation and ReLU, then Dense(``dense``), dropout and the output.

    Explained in 08_many_categories.ipynb
    """
    import keras
    from keras import layers

    def norm():  # a new normalisation layer each time it is asked for, or none
        return [layers.BatchNormalization()] if batch_norm else []

    stack = [keras.Input(shape=helpers.IMAGE_SHAPE)]
    if augment:
        stack += [layers.RandomTranslation(0.1, 0.1, fill_mode="constant"), layers.RandomFlip("horizontal")]
    for width in widths:
        conv = layers.Conv2D(width, (3, 3), padding="same", use_bias=not batch_norm)
        stack += [conv, layers.MaxPooling2D((2, 2))] + norm() + [layers.ReLU()]
    stack += [layers.Flatten(), layers.Dense(dense, use_bias=not batch_norm)] + norm() + [layers.ReLU()]
    stack += [layers.Dropout(dropout)] if dropout else []
    out = layers.Dense(1 if classes == 2 else classes, activation="sigmoid" if classes == 2 else "softmax")
    return keras.Sequential(stack + [out], name=name)


def learning_rate_schedule(peak, steps, warmup=0.1, schedule="cosine"):
    """train_wide's learning rate: with ``"cosine"`` a straight line from ``peak / 10`` to ``peak``
    over the first ``warmup`` share of the ``steps``, then half a cosine to 0; ``"constant"``: ``peak``.

    Explained in 08_many_categories.ipynb
    """
    import keras

    if schedule not in ("cosine", "constant"):
        raise ParameterError(f"schedule is 'cosine' or 'constant', got {schedule!r}")
    if schedule == "constant":
        return peak
    warm = int(steps * warmup)
    return keras.optimizers.schedules.CosineDecay(
        peak / 10, steps - warm, warmup_target=peak, warmup_steps=warm
    )


def train_wide(
    x, y, epochs, seed=0, batch_size=64, learning_rate=4e-3, warmup=0.1, schedule="cosine", **build
):
    """helpers.train with the wide network (build_wide with ``build``'s arguments) compiled with Adam at the
    rates of learning_rate_schedule: seed, build, fit on uint8 images ``x``, labels ``y``.

    Explained in 08_many_categories.ipynb
    """
    import keras

    steps = -(-len(y) // qd.whole_number("batch_size", batch_size, 1)) * qd.whole_number("epochs", epochs, 1)

    def wide(classes):
        net = build_wide(classes, **build)
        rate = learning_rate_schedule(learning_rate, steps, warmup, schedule)
        loss = "binary_crossentropy" if classes == 2 else "sparse_categorical_crossentropy"
        net.compile(optimizer=keras.optimizers.Adam(rate), loss=loss, metrics=["accuracy"])
        return net

    return helpers.train(wide, x, y, epochs, batch_size, seed=seed, verbose=0, classes=int(np.max(y)) + 1)


def predict_mirrored(model, x):
    """Class probabilities averaged over each drawing and its left-right mirror image.

    Explained in 08_many_categories.ipynb
    """
    images = helpers.to_images(x)
    return (predict(model, images) + predict(model, images[:, :, ::-1])) / 2


def top3_labels(probabilities):
    """The three most probable classes of each drawing, most probable first, as lists.

    Used by wide_and_score and helpers.train_and_score
    """
    return np.argsort(-probabilities, axis=1)[:, :3].tolist()


def wide_and_score(train, epochs, seed, score=(), change=None, onnx=False, data=None):
    """A task for experiments.run: the wide network (WIDE and RECIPE, changed by ``change``) trained on
    ``data[train]``, and the top-3 labels of predict_mirrored (and predict) for each name in ``score``.

    Used by 08_many_categories.ipynb and tools/search_wide.py (through the experiment cache)
    """
    x, y = data[train]
    net, history = train_wide(x, y, epochs, seed, **{**WIDE, **RECIPE, **(change or {})})
    result = {"seconds": history["fit_seconds"], "loss": history["loss"], "params": net.count_params()}
    for name in score:
        result[name] = top3_labels(predict_mirrored(net, data[name][0]))
        result[f"{name}_single"] = top3_labels(predict(net, data[name][0]))
    if onnx:
        from quickdraw_cnn import export

        result["onnx"] = export.onnx_text(net)
    return result
