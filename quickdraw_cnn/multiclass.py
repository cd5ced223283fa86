"""Many categories for the quickdraw-cnn series (chapter 08): checking a list of categories,
loading them with labels in the order given, a streamed ``tf.data`` pipeline that reads rows
straight from the per-category .npy files, top-k accuracy and confusions. Multi-worker training is in
quickdraw_cnn.workers.

Drawings: the Quick, Draw! dataset by Google Creative Lab, CC BY 4.0
(https://github.com/googlecreativelab/quickdraw-dataset).
"""

from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np

import helpers
from quickdraw_cnn.data import (
    ROW_BYTES,
    NotEnoughRowsError,
    QuickDrawError,
    find_category_file,
    load_drawings,
    load_from_folder,
    local_file,
    npy_layout,
    whole_number,
)

# Google's 345 categories of full/numpy_bitmap/ (https://github.com/googlecreativelab/
# quickdraw-dataset/blob/master/categories.txt): a name outside them is refused at once, offline.
ALL_CATEGORIES = tuple(
    """
The Eiffel Tower|The Great Wall of China|The Mona Lisa|aircraft carrier|airplane|alarm clock|
ambulance|angel|animal migration|ant|anvil|apple|arm|asparagus|axe|backpack|banana|bandage|barn|
baseball|baseball bat|basket|basketball|bat|bathtub|beach|bear|beard|bed|bee|belt|bench|bicycle|
binoculars|bird|birthday cake|blackberry|blueberry|book|boomerang|bottlecap|bowtie|bracelet|brain|
bread|bridge|broccoli|broom|bucket|bulldozer|bus|bush|butterfly|cactus|cake|calculator|calendar|
camel|camera|camouflage|campfire|candle|cannon|canoe|car|carrot|castle|cat|ceiling fan|cell phone|
cello|chair|chandelier|church|circle|clarinet|clock|cloud|coffee cup|compass|computer|cookie|cooler|
couch|cow|crab|crayon|crocodile|crown|cruise ship|cup|diamond|dishwasher|diving board|dog|dolphin|
donut|door|dragon|dresser|drill|drums|duck|dumbbell|ear|elbow|elephant|envelope|eraser|eye|
eyeglasses|face|fan|feather|fence|finger|fire hydrant|fireplace|firetruck|fish|flamingo|flashlight|
flip flops|floor lamp|flower|flying saucer|foot|fork|frog|frying pan|garden|garden hose|giraffe|
goatee|golf club|grapes|grass|guitar|hamburger|hammer|hand|harp|hat|headphones|hedgehog|helicopter|
helmet|hexagon|hockey puck|hockey stick|horse|hospital|hot air balloon|hot dog|hot tub|hourglass|
house|house plant|hurricane|ice cream|jacket|jail|kangaroo|key|keyboard|knee|knife|ladder|lantern|
laptop|leaf|leg|light bulb|lighter|lighthouse|lightning|line|lion|lipstick|lobster|lollipop|mailbox|
map|marker|matches|megaphone|mermaid|microphone|microwave|monkey|moon|mosquito|motorbike|mountain|
mouse|moustache|mouth|mug|mushroom|nail|necklace|nose|ocean|octagon|octopus|onion|oven|owl|
paint can|paintbrush|palm tree|panda|pants|paper clip|parachute|parrot|passport|peanut|pear|peas|
pencil|penguin|piano|pickup truck|picture frame|pig|pillow|pineapple|pizza|pliers|police car|pond|
pool|popsicle|postcard|potato|power outlet|purse|rabbit|raccoon|radio|rain|rainbow|rake|
remote control|rhinoceros|rifle|river|roller coaster|rollerskates|sailboat|sandwich|saw|saxophone|
school bus|scissors|scorpion|screwdriver|sea turtle|see saw|shark|sheep|shoe|shorts|shovel|sink|
skateboard|skull|skyscraper|sleeping bag|smiley face|snail|snake|snorkel|snowflake|snowman|
soccer ball|sock|speedboat|spider|spoon|spreadsheet|square|squiggle|squirrel|stairs|star|steak|
stereo|stethoscope|stitches|stop sign|stove|strawberry|streetlight|string bean|submarine|suitcase|
sun|swan|sweater|swing set|sword|syringe|t-shirt|table|teapot|teddy-bear|telephone|television|
tennis racquet|tent|tiger|toaster|toe|toilet|tooth|toothbrush|toothpaste|tornado|tractor|
traffic light|train|tree|triangle|trombone|truck|trumpet|umbrella|underwear|van|vase|violin|
washing machine|watermelon|waterslide|whale|wheel|windmill|wine bottle|wine glass|wristwatch|yoga|
zebra|zigzag
""".replace("\n", "").split("|")
)
# All 345 full files together (sizes listed by Google's bucket).
FULL_DRAWINGS = 50_426_266
FULL_BYTES = 39_534_220_144
# The 14 categories of the project's offline sample (the first 2,000 rows of each file).
SAMPLE_CATEGORIES = [
    "airplane",
    "apple",
    "banana",
    "bicycle",
    "bird",
    "book",
    "cat",
    "diamond",
    "dog",
    "eye",
    "fish",
    "flower",
    "house",
    "rainbow",
]


class CategoryError(QuickDrawError, ValueError):
    """A list of categories that cannot be trained on: unknown names, fewer than two, duplicates.

    Explained in 08_many_categories.ipynb
    """


# ------------------------------------------------------------ checking ----


def check_classes(classes, min_classes=2):
    """``classes`` as a list of names, or a CategoryError that says what to change.

    Explained in 08_many_categories.ipynb
    """
    if (
        isinstance(classes, str)
        or not isinstance(classes, (list, tuple))
        or not all(isinstance(c, str) and c.strip() for c in classes)
    ):
        raise CategoryError(
            f"classes must be a list of category names such as ['cat', 'dog', 'fish'], got {classes!r}"
        )
    classes = [c.strip() for c in classes]
    problems = []
    if len(classes) < min_classes:
        problems.append(f"at least {min_classes} categories are needed to tell apart, got {len(classes)}")
    dupes = sorted({c for c in classes if classes.count(c) > 1})
    if dupes:
        problems.append(f"each category may appear once, but {dupes} appear more often")
    for name in classes:
        if name not in ALL_CATEGORIES:
            near = difflib.get_close_matches(name, ALL_CATEGORIES, n=3)
            problems.append(
                f"'{name}' is not a Quick, Draw! category"
                + (f" (did you mean {' or '.join(repr(n) for n in near)}?)" if near else "")
            )
    if problems:
        raise CategoryError(
            "bad classes: " + "; ".join(problems) + ". The 345 names are in multiclass.ALL_CATEGORIES."
        )
    return classes


def category_files(classes, n, offset=0, data_dir=None):
    """Per category, the local .npy file to read rows ``offset .. offset+n-1`` from, its header
    bytes and rows, looked up as load_drawings does (``data_dir``, ``$QUICKDRAW_DATA_DIR``, then
    the download cache, filled with a Range download if needed). Every category is checked
    before anything is read: categories with too few rows are all named in one error.

    Explained in 08_many_categories.ipynb
    """
    classes = check_classes(classes)
    n, offset = whole_number("n", n, 1), whole_number("offset", offset, 0)
    found, short = [], []
    for name in classes:
        try:
            path = local_file(name, n, offset, data_dir=data_dir or None)
        except NotEnoughRowsError as err:
            short.append(f"{name}: {err}")
            continue
        header, rows = npy_layout(path)
        if rows < offset + n:
            short.append(f"'{name}' has {rows} rows in {path}")
        found.append((name, Path(path), header, rows))
    if short:
        raise NotEnoughRowsError(
            f"rows {offset}..{offset + n - 1} were asked for, but "
            + "; ".join(short)
            + ". Ask for fewer rows (or a smaller offset), or point data_dir at fuller files."
        )
    return found


# ------------------------------------------------------------- loading ----


def load_many(classes, n, offset=0, data_dir=None):
    """In memory: rows ``offset .. offset+n-1`` of each category, ``x`` (k n, 784) uint8 category
    after category, ``y`` the position of each drawing's category in ``classes`` (0 .. k-1).

    Explained in 08_many_categories.ipynb
    """
    category_files(classes, n, offset, data_dir)  # all checks first, before loading anything
    parts = [load_drawings(c, n, offset, data_dir=data_dir or None) for c in classes]
    return np.concatenate(parts), np.repeat(np.arange(len(classes), dtype=np.int64), n)


def interleaved(x, y, k):
    """The in-memory drawings of load_many in the stream's order without shuffling: one drawing of
    each category in turn (row 0 of every class, then row 1, ...).

    Explained in 08_many_categories.ipynb
    """
    n = len(y) // k
    order = np.arange(k * n).reshape(k, n).T.ravel()
    return x[order], y[order]


def stream(classes, n, offset=0, data_dir=None, batch_size=32, shuffle_buffer=4096, seed=0, scaled=True):
    """A ``tf.data`` pipeline over rows ``offset .. offset+n-1`` of each category, read straight
    from the .npy files (FixedLengthRecordDataset: 784 bytes a record, after the header), never
    all in memory: categories interleaved one drawing at a time, shuffled through a buffer of
    ``shuffle_buffer`` drawings (0: no shuffle; reshuffled each epoch), batched (``batch_size``
    None: single drawings), prefetched. Yields (images (b, 28, 28, 1), labels int64): images
    float32 in 0..1, or uint8 with ``scaled=False``.

    Explained in 08_many_categories.ipynb
    """
    import tensorflow as tf

    files = category_files(classes, n, offset, data_dir)
    paths = tf.constant([str(f[1]) for f in files])
    starts = tf.constant([f[2] + offset * ROW_BYTES for f in files], tf.int64)
    labels = tf.range(len(files), dtype=tf.int64)

    def one_category(path, start, label):
        rows = tf.data.FixedLengthRecordDataset(path, ROW_BYTES, header_bytes=start).take(n)
        return rows.map(lambda row: (row, label))

    ds = tf.data.Dataset.from_tensor_slices((paths, starts, labels)).interleave(
        one_category, cycle_length=len(files), block_length=1
    )
    if shuffle_buffer:  # the buffer holds raw rows: 784 bytes a drawing
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if batch_size:
        ds = ds.batch(batch_size)
    total = len(files) * n
    ds = ds.apply(tf.data.experimental.assert_cardinality(-(-total // batch_size) if batch_size else total))
    shape = ((-1,) if batch_size else ()) + helpers.IMAGE_SHAPE  # decode a whole batch at once
    ds = ds.map(lambda rows, label: (tf.reshape(tf.io.decode_raw(rows, tf.uint8), shape), label))
    if scaled:
        ds = ds.map(lambda img, label: (tf.cast(img, tf.float32) / 255.0, label))
    return ds.prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------- evaluation ----


def predict(model, x, batch_size=256):
    """Class probabilities (N, k) of a model for uint8 drawings (rows or images); a two-class
    model's single sigmoid unit p (of class 1) gives the columns 1 - p and p.

    Explained in 08_many_categories.ipynb
    """
    p = model.predict(helpers.scale(helpers.to_images(x)), batch_size=batch_size, verbose=0)
    if p.shape[-1] == 1:  # two classes: one sigmoid unit, the probability of class 1
        p = np.concatenate([1 - p, p], axis=1)
    return p


def top_k_accuracy(probabilities, y, k=1):
    """Share of drawings whose true class is among the ``k`` most probable ones.

    Explained in 08_many_categories.ipynb
    """
    probabilities, y = np.asarray(probabilities), np.asarray(y)
    top = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == y[:, None], axis=1)))


def confusion(y, predicted, k):
    """The k x k confusion matrix normalised per true class (each row sums to 1).

    Explained in 08_many_categories.ipynb
    """
    counts = np.zeros((k, k))
    np.add.at(counts, (np.asarray(y), np.asarray(predicted)), 1)
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)


def most_confused(matrix, classes, top=6):
    """The ``top`` pairs (a, b, share of a taken for b, share of b taken for a), most confused
    first, by the sum of both directions.

    Explained in 08_many_categories.ipynb
    """
    k = len(classes)
    pairs = [(matrix[i, j] + matrix[j, i], i, j) for i in range(k) for j in range(i + 1, k)]
    pairs.sort(reverse=True)
    return [(classes[i], classes[j], float(matrix[i, j]), float(matrix[j, i])) for _, i, j in pairs[:top]]


# ------------------------------------------------------- 08's bookkeeping ----


def load_independent(folder, classes, offset, n):
    """The independent sample of 05's ``eval_*`` parameters for many classes: up to ``n`` rows per
    class from row ``offset`` of each ``<category>.npy`` in ``folder`` (a folder may hold only some
    of ``classes``). Returns ((images, labels), the classes found); a folder with none of them is a
    ``CategoryError`` that names ``eval_data_dir``.

    Used by 08_many_categories.ipynb
    """
    found = [c for c in classes if find_category_file(folder, c, parameter="eval_data_dir")]
    if not found:
        raise CategoryError(
            f"eval_data_dir holds no <category>.npy of {list(classes)}: fix it, or set it to ''"
        )
    parts = [load_from_folder(folder, c, offset=offset, n=n) for c in found]
    labels = np.repeat([classes.index(c) for c in found], [len(p) for p in parts])
    return (helpers.to_images(np.concatenate(parts)), labels), found


def top_share(result, y, k, field="test"):
    """Top-``k`` accuracy of a cached 08 result: the share of rows whose label ``y`` is among the
    first ``k`` of its stored top-3 predictions (``field``: the data it was scored on).

    Used by 08_many_categories.ipynb
    """
    return float(np.mean(np.any(np.array(result[field])[:, :k] == np.asarray(y)[:, None], axis=1)))


def sample_sd(values):
    """Sample standard deviation (ddof=1) of ``values``, 0 for a single value: the series' "±".

    Used by 08_many_categories.ipynb
    """
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def plot_confusion(matrix, classes, title):
    """The normalised confusion matrix as an annotated heat map (shares of 2% and more written in
    the cells). Returns the figure.

    Used by 08_many_categories.ipynb
    """
    import matplotlib.pyplot as plt

    k = len(classes)
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    im = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    ax.set(xticks=range(k), yticks=range(k), xlabel="predicted class", ylabel="true class", title=title)
    ax.set_xticklabels(classes, rotation=90)
    ax.set_yticklabels(classes)
    for i in range(k):
        for j in range(k):
            if matrix[i, j] >= 0.02:
                color = "white" if matrix[i, j] > 0.5 else "black"
                ax.text(j, i, f"{matrix[i, j]:.2f}"[1:], ha="center", va="center", fontsize=6, color=color)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def metrics_json(results, classes, epochs, seeds, y_test, test_rows, independent=None, eval_offset=None):
    """08's multiclass_metrics.json entries, one per configuration: ``results`` (name: cached
    results, one per seed), the ``classes``, ``epochs`` (name: epochs), ``seeds`` (name: seeds),
    the test set's labels and its first and last row; with ``independent`` ((images, labels),
    classes) also the independent sample's figures. Means over seeds, "_sd" the sample standard deviation.

    Used by 08_many_categories.ipynb
    """
    metrics = {}
    for name, runs in results.items():
        t1, t3 = [[top_share(r, y_test, k) for r in runs] for k in (1, 3)]
        test = {"top1": float(np.mean(t1)), "top3": float(np.mean(t3)), "top1_sd": sample_sd(t1)}
        test |= {"top3_sd": sample_sd(t3), "n": int(len(y_test)), "rows": list(test_rows)}
        entry = {
            "model": name,
            "categories": list(classes),
            "epochs": epochs[name],
            "seeds": list(seeds[name]),
            "fit_seconds": float(np.mean([r["seconds"] for r in runs])),  # per seed
            "test": test,
        }
        if independent is not None:
            (_, y_ind), found = independent
            i1, i3 = [[top_share(r, y_ind, k, "independent") for r in runs] for k in (1, 3)]
            entry["independent"] = {"top1": float(np.mean(i1)), "top3": float(np.mean(i3))}
            entry["independent"] |= {"top1_sd": sample_sd(i1), "n": int(len(y_ind))}
            entry["independent"] |= {"rows_from": eval_offset, "categories": found}
        metrics[name] = entry
    return metrics


# ------------------------------------------------------ a network for 14 classes ----
# 08's configuration for many classes: build_wide's layers and train_wide's recipe. Chapter 08
# explains each part and measures what it adds (its ablation turns one off at a time).
WIDE = {"widths": [24, 48, 96], "batch_norm": True, "dense": 128, "dropout": 0.1, "augment": True}
RECIPE = {"batch_size": 64, "learning_rate": 4e-3, "warmup": 0.1, "schedule": "cosine"}


def build_wide(
    classes,
    widths=tuple(WIDE["widths"]),
    batch_norm=WIDE["batch_norm"],
    dense=WIDE["dense"],
    dropout=WIDE["dropout"],
    augment=WIDE["augment"],
    name="wide",
):
    """The ``wide`` network (defaults: WIDE): (in training only) a random shift of up to 10% each
    way and a left-right mirror; per entry of ``widths`` a 3x3 convolution with ``same`` padding,
    a 2x2 max-pool, batch normalisation and ReLU (pooled first: a quarter of the values to
    normalise); then Dense(``dense``) with batch normalisation, ReLU, dropout, and one softmax unit
    per class (one sigmoid unit for two classes, as helpers.build_cnn). Not compiled: train_wide
    compiles it.

    Explained in 08_many_categories.ipynb
    """
    import keras
    from keras import layers

    stack = [keras.Input(shape=helpers.IMAGE_SHAPE)]
    if augment:
        stack += [layers.RandomTranslation(0.1, 0.1, fill_mode="constant"), layers.RandomFlip("horizontal")]
    for width in widths:
        stack += [layers.Conv2D(width, (3, 3), padding="same", use_bias=not batch_norm)]
        stack += [layers.MaxPooling2D((2, 2))]
        stack += [layers.BatchNormalization()] if batch_norm else []
        stack += [layers.ReLU()]
    stack += [layers.Flatten(), layers.Dense(dense, use_bias=not batch_norm)]
    stack += [layers.BatchNormalization()] if batch_norm else []
    stack += [layers.ReLU()] + ([layers.Dropout(dropout)] if dropout else [])
    binary = classes == 2  # as helpers.build_cnn: one sigmoid unit for two classes
    stack += [
        layers.Dense(1, activation="sigmoid") if binary else layers.Dense(classes, activation="softmax")
    ]
    return keras.Sequential(stack, name=name)


def learning_rate_schedule(peak, steps, warmup=0.1, schedule="cosine"):
    """The learning rate of train_wide, step by step: with ``schedule="cosine"`` it rises
    linearly from ``peak / 10`` to ``peak`` over the first ``warmup`` share of the ``steps``, then
    falls along half a cosine to 0 at the last step; ``"constant"``: ``peak`` throughout.

    Explained in 08_many_categories.ipynb
    """
    import keras

    if schedule == "constant":
        return peak
    if schedule != "cosine":
        raise ValueError(f"schedule is 'cosine' or 'constant', got {schedule!r}")
    warm = int(steps * warmup)
    return keras.optimizers.schedules.CosineDecay(
        peak / 10, steps - warm, warmup_target=peak, warmup_steps=warm
    )


def train_wide(
    x,
    y,
    epochs,
    seed=0,
    classes=None,
    batch_size=RECIPE["batch_size"],
    learning_rate=RECIPE["learning_rate"],
    warmup=RECIPE["warmup"],
    schedule=RECIPE["schedule"],
    **build,
):
    """Seed, build (build_wide with ``build``'s arguments; defaults: RECIPE) and fit on uint8
    images ``x`` with labels ``y``: Adam with the rates of learning_rate_schedule, sparse categorical
    cross-entropy (binary for two classes). Returns (model, history) as helpers.train does.

    Explained in 08_many_categories.ipynb
    """
    import keras

    helpers.check_parameters(epochs=epochs, batch_size=batch_size)
    classes = classes or int(np.max(y)) + 1
    helpers.set_seed(seed)
    net = build_wide(classes, **build)
    steps = -(-len(y) // batch_size) * epochs
    optimizer = keras.optimizers.Adam(learning_rate_schedule(learning_rate, steps, warmup, schedule))
    loss = "binary_crossentropy" if classes == 2 else "sparse_categorical_crossentropy"
    net.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    timer = helpers.EpochTimer()
    fit = net.fit(helpers.scale(x), y, epochs=epochs, batch_size=batch_size, callbacks=[timer], verbose=0)
    return net, helpers.history_record(fit, timer, net.name, len(y), 0, batch_size, seed)


def predict_mirrored(model, x):
    """Class probabilities averaged over each drawing and its left-right mirror image (the wide
    network learned both, so it is asked about both).

    Explained in 08_many_categories.ipynb
    """
    images = helpers.to_images(x)
    return (predict(model, images) + predict(model, images[:, :, ::-1])) / 2


def top3_labels(probabilities):
    """The three most probable classes of each drawing, most probable first, as lists.

    Used by wide_and_score and helpers.train_and_score (08_many_categories.ipynb)
    """
    return np.argsort(-probabilities, axis=1)[:, :3].tolist()


def wide_and_score(train, epochs, seed, score=(), change=None, onnx=False, batch_size=None, data=None):
    """A task for quickdraw_cnn.experiments.run (``data`` shared, a dict of (images, labels)):
    train_wide for ``epochs`` with ``seed``, WIDE and RECIPE changed by ``change`` (08's ablation;
    ``batch_size``: RECIPE's when None), on ``data[train]``; for each name in ``score`` the top-3
    labels of predict_mirrored (and, under ``<name>_single``, of one look at each drawing). With
    ``onnx`` also the network as ONNX text (quickdraw_cnn.export.onnx_text).

    Used by 08_many_categories.ipynb
    """
    x, y = data[train]
    arguments = {**WIDE, **RECIPE, "batch_size": batch_size or RECIPE["batch_size"], **(change or {})}
    net, history = train_wide(x, y, epochs, seed, **arguments)
    result = {"seconds": history["fit_seconds"], "loss": history["loss"], "params": net.count_params()}
    for name in score:
        images = data[name][0]
        result[name] = top3_labels(predict_mirrored(net, images))
        result[f"{name}_single"] = top3_labels(predict(net, images))
    if onnx:
        from quickdraw_cnn import export

        result["onnx"] = export.onnx_text(net)
    return result
