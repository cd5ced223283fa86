"""Research for issue 16: one 14-class configuration trained on rows 0-1,499 of each sample
category and scored on rows 1,500-1,999 (top-1, top-3, and top-1 with horizontal-flip test-time
averaging), fit CPU seconds with one TensorFlow thread. Not used by the chapters (yet).

    PYTHONPATH=. python tools/search_14_classes.py '{"blocks": [[32], [64], [128]], "bn": true,
        "shift": 0.1, "flip": true, "epochs": 12, "batch": 128, "lr": 0.004, "sched": "warmcos",
        "ls": 0.1, "head": "flat", "dense": 128, "dropout": 0.3}' 0

Appends one JSON line per run to $SEARCH_RESULTS (default search_14_classes.jsonl).
"""

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
import keras
from keras import layers

D = os.environ.get("QUICKDRAW_DATA_DIR", "../shared/quickdraw/numpy_bitmap")
CL = [
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


def load():
    xs, ys, xt, yt = [], [], [], []
    for i, c in enumerate(CL):
        a = np.load(f"{D}/{c}.npy")
        xs.append(a[:1500])
        xt.append(a[1500:2000])
        ys += [i] * 1500
        yt += [i] * 500
    f = lambda x: np.concatenate(x).reshape(-1, 28, 28, 1).astype("float32") / 255
    return f(xs), np.array(ys), f(xt), np.array(yt)


def build(cfg):
    inp = keras.Input((28, 28, 1))
    x = inp
    if cfg.get("shift"):
        s = cfg["shift"]
        if cfg.get("rot"):
            x = layers.RandomRotation(cfg["rot"], fill_mode="constant")(x)
        if cfg.get("zoom"):
            x = layers.RandomZoom(cfg["zoom"], fill_mode="constant")(x)
        x = layers.RandomTranslation(s, s, fill_mode="constant")(x)
        if cfg.get("flip"):
            x = layers.RandomFlip("horizontal")(x)
    for block in cfg["blocks"]:
        for f in block:
            x = layers.Conv2D(f, 3, padding="same", use_bias=not cfg.get("bn"))(x)
            if cfg.get("bn"):
                x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D()(x)
    if cfg.get("head", "gap") == "gap":
        x = layers.GlobalAveragePooling2D()(x)
    else:
        x = layers.Flatten()(x)
    if cfg.get("dense"):
        x = layers.Dense(cfg["dense"], use_bias=not cfg.get("bn"))(x)
        if cfg.get("bn"):
            x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
    if cfg.get("dropout"):
        x = layers.Dropout(cfg["dropout"])(x)
    out = layers.Dense(14, activation="softmax")(x)
    return keras.Model(inp, out)


def main(cfg, seed):
    keras.utils.set_random_seed(seed)
    x, y, xt, yt = load()
    model = build(cfg)
    bs, ep = cfg.get("batch", 64), cfg["epochs"]
    steps = int(np.ceil(len(x) / bs)) * ep
    lr = cfg.get("lr", 1e-3)
    sch = cfg.get("sched", "cos")
    if sch == "cos":
        lr = keras.optimizers.schedules.CosineDecay(lr, steps, warmup_target=None)
    elif sch == "warmcos":
        w = steps // 10
        lr = keras.optimizers.schedules.CosineDecay(lr / 10, steps - w, warmup_target=lr, warmup_steps=w)
    opt = (
        keras.optimizers.Adam(lr)
        if cfg.get("opt", "adam") == "adam"
        else keras.optimizers.AdamW(lr, weight_decay=cfg.get("wd", 1e-4))
    )
    model.compile(
        opt, keras.losses.CategoricalCrossentropy(label_smoothing=cfg.get("ls", 0.0)), metrics=["accuracy"]
    )
    t = time.process_time()
    w = time.perf_counter()
    h = model.fit(x, keras.utils.to_categorical(y, 14), batch_size=bs, epochs=ep, verbose=0, shuffle=True)
    fit_s, fit_w = time.process_time() - t, time.perf_counter() - w
    p = model.predict(xt, batch_size=512, verbose=0)
    p2 = (p + model.predict(xt[:, :, ::-1], batch_size=512, verbose=0)) / 2
    tta = float(np.mean(p2.argmax(1) == yt))
    top = np.argsort(-p, 1)[:, :3]
    r = dict(
        cfg=cfg,
        seed=seed,
        params=model.count_params(),
        fit_cpu=round(fit_s, 1),
        fit_wall=round(fit_w, 1),
        top1=float(np.mean(top[:, 0] == yt)),
        tta=tta,
        top3=float(np.mean((top == yt[:, None]).any(1))),
        loss=[round(v, 4) for v in h.history["loss"]],
    )
    print(json.dumps(r), flush=True)
    with open(os.environ.get("SEARCH_RESULTS", "search_14_classes.jsonl"), "a") as f:
        f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main(json.loads(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 0)
