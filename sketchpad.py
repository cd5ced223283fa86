"""A sketch pad for JupyterLab: draw with the mouse, a finger or a pen, and the trained network
answers after every stroke.

``SketchPad`` is an anywidget: the browser sends each finished stroke to Python as one message,
in Quick, Draw!'s stroke format (``[[x0, x1, ...], [y0, y1, ...], [t0, t1, ...]]``, pixels of the
pad, y downwards, milliseconds). Python turns the drawing into the bitmap Google would have made
of it (sketches.strokes_to_bitmap), asks every trained configuration of the run, computes the
occlusion map of the drawing, and sends that back. Undo, Clear, and one button per category that
saves the drawing, labelled, into a folder of .npy files in Google's format (your class's own test
set). Setting ``pad.strokes`` from Python takes the very same path, which is how the notebook runs
headless (papermill, nbval) and how the tests drive it. Nothing raised in a callback escapes: the
pad shows it in words.

Also here, for 07 and the pad: the log-odds of a model and its occlusion map.
"""

from __future__ import annotations

import time
from pathlib import Path

import anywidget
import numpy as np
import traitlets

import helpers
import sketches

CONFIG_NAMES = ("origin", "improved")


# -------------------------------------------------------- occlusion ----


def log_odds_function(net):
    """A function ``images (n, 28, 28, 1) uint8 -> log-odds of the first category``: the trained
    layers up to the last Dense, then that layer's weights without its sigmoid (which saturates).

    Explained in 07_what_the_network_sees.ipynb
    """
    import keras

    inputs = keras.Input(shape=helpers.IMAGE_SHAPE)
    x = inputs
    for layer in net.layers[:-1]:
        x = layer(x)
    features = keras.Model(inputs, x)
    w, b = net.layers[-1].get_weights()

    def log_odds(images):
        images = np.asarray(images).reshape(-1, *helpers.IMAGE_SHAPE)
        return (keras.ops.convert_to_numpy(features(helpers.scale(images), training=False)) @ w + b).ravel()

    return log_odds


def occlusion_map(log_odds, image, size):
    """Slide a ``size`` x ``size`` square of background over the image; at each position, how much
    hiding it lowers the log-odds (> 0: that part pushed toward the first category).
    Returns an array of (29 - size, 29 - size).

    Explained in 07_what_the_network_sees.ipynb
    """
    image = np.asarray(image).reshape(helpers.IMAGE_SHAPE)
    steps = 28 - size + 1
    batch = np.repeat(image[None], steps * steps, axis=0)
    for i in range(steps):
        for j in range(steps):
            batch[i * steps + j, i : i + size, j : j + size] = 0
    return log_odds(image[None])[0] - log_odds(batch).reshape(steps, steps)


def occlusion_per_pixel(heat, size):
    """The occlusion map spread back onto the 28x28 pixels: each pixel gets the mean change of the
    patches that covered it.

    Explained in 07_what_the_network_sees.ipynb
    """
    total, count = np.zeros((28, 28)), np.zeros((28, 28))
    steps = heat.shape[0]
    for i in range(steps):
        for j in range(steps):
            total[i : i + size, j : j + size] += heat[i, j]
            count[i : i + size, j : j + size] += 1
    return total / count


# ------------------------------------------------------- predictions ----


def load_models(artifacts_dir, categories):
    """The configurations 04 trained on 02's current split: ``({name: model}, notes)``. Raises
    MissingArtifactError (naming the chapter to run) when there is none.

    Explained in 07_what_the_network_sees.ipynb
    """
    try:
        split = helpers.load_split(artifacts_dir, categories)
    except helpers.MissingArtifactError as err:
        raise helpers.MissingArtifactError(
            f"no trained model yet: run 02_preprocessing.ipynb, then 04_training.ipynb first ({err})"
        ) from err
    models, notes = {}, []
    for name in CONFIG_NAMES:
        if (Path(artifacts_dir) / f"model_{name}.keras").is_file():
            try:
                models[name] = helpers.load_model(artifacts_dir, name, split)
            except helpers.MissingArtifactError as err:
                notes.append(str(err))
    if not models:
        raise helpers.MissingArtifactError(
            "no trained model yet: run 04_training.ipynb first (after 01 and 02). " + " ".join(notes)
        )
    return models, notes


class Answerer:
    """Everything the pad computes for a drawing: bitmap, probabilities, occlusion map.

    Explained in 07_what_the_network_sees.ipynb
    """

    def __init__(self, models, categories, occlusion_patch=6):
        self.models, self.categories, self.patch = dict(models), list(categories), occlusion_patch
        self._log_odds = {name: log_odds_function(m) for name, m in self.models.items()}

    def answer(self, strokes):
        """A dict: ``bitmap`` (28, 28) uint8, ``probabilities`` {config: p(first category)},
        ``occlusion`` (steps, steps) for the first configuration, ``seconds``."""
        start = time.perf_counter()
        bitmap = sketches.strokes_to_bitmap(strokes)
        image = bitmap.reshape(1, *helpers.IMAGE_SHAPE)
        probabilities = {name: float(1 / (1 + np.exp(-f(image)[0]))) for name, f in self._log_odds.items()}
        first = next(iter(self._log_odds))
        heat = occlusion_map(self._log_odds[first], bitmap, self.patch)
        return {
            "bitmap": bitmap,
            "probabilities": probabilities,
            "occlusion": heat,
            "occlusion_model": first,
            "seconds": time.perf_counter() - start,
        }


def _colour_occlusion(heat, bitmap, size):
    """The per-pixel occlusion map as RGB: red where the drawing pushed toward the first category,
    blue toward the second, the drawing's ink darkened on top (28, 28, 3) uint8."""
    per_pixel = occlusion_per_pixel(heat, size)
    v = per_pixel / max(np.abs(per_pixel).max(), 1e-6)
    red, blue = np.array([178, 24, 43]), np.array([33, 102, 172])
    rgb = 255 - (255 - np.where(v[..., None] > 0, red, blue)) * np.abs(v)[..., None]
    ink = bitmap[..., None] / 255
    return np.clip(rgb * (1 - 0.55 * ink), 0, 255).astype(np.uint8)


# ------------------------------------------------------------ widget ----


def with_article(noun):
    """'an apple', 'a banana': the pad's messages name the run's categories.

    Used by SketchPad, explained in 07_what_the_network_sees.ipynb
    """
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


_ESM = r"""
function make(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function paintPixels(canvas, rgb, side) {
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(side, side);
  for (let i = 0; i < side * side; i++) {
    img.data[4 * i] = rgb[3 * i]; img.data[4 * i + 1] = rgb[3 * i + 1];
    img.data[4 * i + 2] = rgb[3 * i + 2]; img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

function render({ model, el }) {
  const root = make("div", "qd-pad");
  root.dataset.seq = "0";
  const left = make("div", "qd-left"), right = make("div", "qd-right");
  const size = model.get("size");
  const canvas = make("canvas", "qd-canvas");
  const ratio = window.devicePixelRatio || 1;
  canvas.width = canvas.height = Math.round(size * ratio);
  canvas.style.width = canvas.style.height = size + "px";
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  const tools = make("div", "qd-tools");
  const undo = make("button", "qd-undo", "Undo"), clear = make("button", "qd-clear", "Clear");
  tools.append(undo, clear);
  const labels = make("div", "qd-labels");
  const saved = make("div", "qd-saved");
  left.append(make("div", "qd-hint", "Draw here (mouse, finger or pen)"), canvas, tools, labels, saved);

  const verdict = make("div", "qd-verdict", "");
  const bars = make("div", "qd-bars");
  const pics = make("div", "qd-pics");
  const bitmapBox = make("figure", "qd-fig"), occBox = make("figure", "qd-fig");
  const bitmap = make("canvas", "qd-bitmap"), occ = make("canvas", "qd-occlusion");
  bitmap.width = bitmap.height = occ.width = occ.height = 28;
  bitmapBox.append(bitmap, make("figcaption", "", "what the network gets (28x28)"));
  occBox.append(occ, make("figcaption", "qd-occ-caption", "occlusion map"));
  pics.append(bitmapBox, occBox);
  const message = make("div", "qd-message");
  right.append(verdict, bars, pics, message);
  root.append(left, right);
  el.append(root);

  let pending = [], current = null, t0 = null;

  function drawStroke(xs, ys) {
    ctx.beginPath();
    ctx.moveTo(xs[0], ys[0]);
    for (let i = 1; i < xs.length; i++) ctx.lineTo(xs[i], ys[i]);
    if (xs.length === 1) ctx.lineTo(xs[0] + 0.01, ys[0]);
    ctx.stroke();
  }
  function redraw() {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, size, size);
    ctx.strokeStyle = "#222"; ctx.lineWidth = 4; ctx.lineCap = "round"; ctx.lineJoin = "round";
    for (const s of (model.get("strokes") || []).concat(pending)) drawStroke(s[0], s[1]);
    if (current) drawStroke(current[0], current[1]);
  }
  function point(ev) {
    const r = canvas.getBoundingClientRect();
    return [Math.round((ev.clientX - r.left) * 10) / 10, Math.round((ev.clientY - r.top) * 10) / 10];
  }
  canvas.addEventListener("pointerdown", (ev) => {
    ev.preventDefault();
    canvas.setPointerCapture(ev.pointerId);
    if (t0 === null || (model.get("strokes") || []).length === 0) t0 = performance.now();
    const [x, y] = point(ev);
    current = [[x], [y], [Math.round(performance.now() - t0)]];
    redraw();
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (!current) return;
    const [x, y] = point(ev), n = current[0].length;
    if (Math.hypot(x - current[0][n - 1], y - current[1][n - 1]) < 1) return;
    current[0].push(x); current[1].push(y); current[2].push(Math.round(performance.now() - t0));
    redraw();
  });
  function finish() {
    if (!current) return;
    const stroke = current;
    current = null;
    pending.push(stroke);
    root.dataset.sent = String(performance.now());
    model.send({ event: "stroke", stroke: stroke });
    redraw();
  }
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);
  undo.addEventListener("click", () => model.send({ event: "undo" }));
  clear.addEventListener("click", () => model.send({ event: "clear" }));

  function showLabels() {
    labels.replaceChildren();
    for (const c of model.get("categories")) {
      const b = make("button", "qd-label", "this is " + (/^[aeiou]/i.test(c) ? "an " : "a ") + c);
      b.dataset.category = c;
      b.addEventListener("click", () => model.send({ event: "label", category: c }));
      labels.append(b);
    }
  }
  function showSaved() {
    const s = model.get("saved"), parts = Object.keys(s).map((c) => s[c] + " " + c);
    saved.textContent = parts.length ? "saved so far: " + parts.join(", ") : "";
  }
  function showResult() {
    const r = model.get("result"), cats = model.get("categories");
    bars.replaceChildren();
    const probs = r.probabilities || {};
    const names = Object.keys(probs);
    if (names.length) {
      const p = probs[names[0]], top = p > 0.5 ? cats[0] : cats[1];
      verdict.textContent = top + "  (" + names[0] + ": p = " + (p > 0.5 ? p : 1 - p).toFixed(3) + ")";
      verdict.dataset.label = top;
      verdict.dataset.p = String(p > 0.5 ? p : 1 - p);
    } else {
      verdict.textContent = ""; delete verdict.dataset.label; delete verdict.dataset.p;
    }
    for (const name of names) {
      const p = probs[name];
      const row = make("div", "qd-bar-row");
      row.dataset.config = name;
      const bar = make("div", "qd-bar");
      const a = make("div", "qd-bar-a"), b = make("div", "qd-bar-b");
      a.style.width = (100 * p).toFixed(1) + "%"; b.style.width = (100 * (1 - p)).toFixed(1) + "%";
      bar.append(a, b);
      row.append(make("span", "qd-bar-name", name), bar,
                 make("span", "qd-bar-text", cats[0] + " " + p.toFixed(3) + " · " + cats[1] + " " +
                      (1 - p).toFixed(3)));
      bars.append(row);
    }
    const blank = new Array(28 * 28 * 3).fill(255);
    const grey = r.bitmap ? r.bitmap.flatMap((v) => [255 - v, 255 - v, 255 - v]) : blank;
    paintPixels(bitmap, grey, 28);
    paintPixels(occ, r.occlusion_rgb || blank, 28);
    if (r.occlusion_model) {
      occBox.querySelector("figcaption").textContent =
        "occlusion map (" + r.occlusion_model + "): red for " + cats[0] + ", blue for " + cats[1];
    }
    root.dataset.seq = String(model.get("seq"));
  }
  function countStrokes() { root.dataset.strokes = String((model.get("strokes") || []).length); }
  model.on("change:strokes", () => { pending = []; countStrokes(); redraw(); });
  model.on("change:categories", () => { showLabels(); showResult(); });
  model.on("change:saved", showSaved);
  model.on("change:result", showResult);
  model.on("change:seq", () => { root.dataset.seq = String(model.get("seq")); });
  model.on("change:message", () => {
    message.textContent = model.get("message");
    message.style.display = model.get("message") ? "block" : "none";
  });
  message.textContent = model.get("message");
  message.style.display = model.get("message") ? "block" : "none";
  showLabels(); showSaved(); showResult(); countStrokes(); redraw();
}
export default { render };
"""

_CSS = """
.qd-pad { display: flex; gap: 18px; align-items: flex-start; font-family: sans-serif; font-size: 13px;
          padding: 8px; color: #222; }
.qd-hint { color: #666; margin-bottom: 4px; }
.qd-canvas { border: 1px solid #999; border-radius: 6px; touch-action: none; cursor: crosshair;
             background: #fff; display: block; }
.qd-tools, .qd-labels { margin-top: 6px; display: flex; gap: 6px; flex-wrap: wrap; }
.qd-pad button { padding: 4px 10px; border: 1px solid #888; border-radius: 4px; background: #f4f4f4;
                 cursor: pointer; font-size: 13px; }
.qd-pad button:hover { background: #e6e6e6; }
.qd-saved { color: #555; margin-top: 4px; min-height: 1em; }
.qd-right { min-width: 330px; }
.qd-verdict { font-size: 22px; font-weight: bold; min-height: 28px; margin-bottom: 6px; }
.qd-bar-row { display: flex; align-items: center; gap: 6px; margin: 3px 0; }
.qd-bar-name { width: 62px; }
.qd-bar { display: flex; width: 120px; height: 12px; border: 1px solid #888; }
.qd-bar-a { background: #b2182b; } .qd-bar-b { background: #2166ac; }
.qd-bar-text { color: #333; font-variant-numeric: tabular-nums; }
.qd-pics { display: flex; gap: 12px; margin-top: 8px; }
.qd-fig { margin: 0; width: 140px; }
.qd-fig canvas { width: 140px; height: 140px; image-rendering: pixelated; border: 1px solid #bbb; }
.qd-fig figcaption { font-size: 11px; color: #555; }
.qd-message { display: none; margin-top: 8px; padding: 6px 8px; border-left: 4px solid #d08400;
              background: #fff6e0; max-width: 330px; }
"""


class SketchPad(anywidget.AnyWidget):
    """Draw a drawing; after every stroke the pad shows each trained configuration's probability of
    the run's two categories, the 28x28 bitmap the network receives, and the occlusion map.

    ``SketchPad(artifacts_dir, categories, drawings_dir=...)`` loads the models 04 trained (or takes
    ``models=``); without any, it still draws and says to run 04 first. ``pad.strokes = [...]``
    (Quick, Draw! format) gives it a drawing from Python; ``pad.result`` holds the answer.
    Explained in 07_what_the_network_sees.ipynb
    """

    _esm = _ESM
    _css = _CSS
    strokes = traitlets.Any([]).tag(sync=True)  # Any: odd values reach our validator, which says why
    categories = traitlets.List(traitlets.Unicode()).tag(sync=True)
    result = traitlets.Dict().tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    saved = traitlets.Dict().tag(sync=True)
    seq = traitlets.Int(0).tag(sync=True)
    size = traitlets.Int(280).tag(sync=True)

    def __init__(
        self,
        artifacts_dir=None,
        categories=("apple", "banana"),
        drawings_dir=None,
        occlusion_patch=6,
        models=None,
        **kwargs,
    ):
        super().__init__(categories=list(categories), **kwargs)
        self.drawings_dir = Path(drawings_dir) if drawings_dir else None
        self.answer = None  # the last answer: bitmap, probabilities, occlusion (numpy)
        self.answerer = None
        try:
            if models is None:
                models, notes = load_models(artifacts_dir, list(categories))
                if notes:
                    self.message = " ".join(notes)
            self.answerer = Answerer(models, categories, occlusion_patch)
            empty = "the pad is empty: draw " + " or ".join(map(with_article, categories))
            self.message = self.message or empty
        except helpers.QuickDrawError as err:
            self.message = str(err)
        except Exception as err:  # noqa: BLE001 (never a traceback nobody sees: say it in the pad)
            self.message = f"could not load the trained models: {type(err).__name__}: {err}"
        self._count_saved()
        self.observe(self._on_strokes, names="strokes")
        self.on_msg(self._on_msg)

    def __repr__(self):
        # What a page without a live kernel (GitHub, nbviewer) shows in place of the pad.
        return (
            f"SketchPad ({' / '.join(self.categories)}): a drawing pad that runs in JupyterLab; "
            "the figure below shows scripted drawings"
        )

    @traitlets.validate("strokes")
    def _valid_strokes(self, proposal):
        """Strokes set from Python or the browser, as plain lists of floats; strokes that cannot
        be drawn are refused with a message (the drawing stays as it was), never an exception."""
        value = proposal["value"]
        try:
            if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
                raise sketches.StrokesError(f"a drawing is a list of strokes, got {type(value).__name__}")
            points = [sketches.check_stroke(stroke, k) for k, stroke in enumerate(value, 1)]
        except sketches.StrokesError as err:
            self.message = f"drawing refused: {err}"
            self.seq += 1
            return self.strokes
        return [[p[:, 0].tolist(), p[:, 1].tolist()] for p in points]

    # one entry point per user action; each reports errors in the pad instead of raising
    def add_stroke(self, stroke):
        """Add one stroke (``[[x...], [y...]]`` or with a third list of times), as the browser does."""
        try:
            points = sketches.check_stroke(stroke, len(self.strokes or []) + 1)
        except sketches.StrokesError as err:
            self.message = f"stroke ignored: {err}"
            return
        self.strokes = [*(self.strokes or []), [points[:, 0].tolist(), points[:, 1].tolist()]]

    def undo(self):
        """Remove the last stroke."""
        self.strokes = (self.strokes or [])[:-1]

    def clear(self):
        """Remove every stroke."""
        self.strokes = []

    def label(self, category):
        """Save the current drawing as a drawing of ``category`` into ``drawings_dir`` (Google's
        format, ``<category>.npy``), then clear the pad for the next one."""
        try:
            if category not in self.categories:
                raise ValueError(f"{category!r} is not one of this run's categories {self.categories}")
            if self.drawings_dir is None:
                raise ValueError("this pad has no drawings_dir to save drawings into")
            bitmap = sketches.strokes_to_bitmap(self.strokes)
            count = sketches.append_drawings(self.drawings_dir, category, bitmap[None])
        except (helpers.QuickDrawError, ValueError, OSError) as err:
            self.message = f"not saved: {err}"
            return
        self.clear()
        self._count_saved()
        self.message = f"saved as {category} #{count} in {self.drawings_dir.name}/{category}.npy"

    def _count_saved(self):
        counts = {}
        if self.drawings_dir is not None:
            for c in self.categories:
                path = self.drawings_dir / f"{c}.npy"
                try:
                    counts[c] = int(np.load(path, mmap_mode="r").shape[0]) if path.is_file() else 0
                except (OSError, ValueError):
                    counts[c] = 0
        self.saved = counts

    def _on_msg(self, _widget, content, _buffers):
        try:
            event = content.get("event")
            if event == "stroke":
                self.add_stroke(content.get("stroke"))
            elif event == "undo":
                self.undo()
            elif event == "clear":
                self.clear()
            elif event == "label":
                self.label(content.get("category"))
        except Exception as err:  # noqa: BLE001 (never a traceback in a log console nobody sees)
            self.message = f"something went wrong: {type(err).__name__}: {err}"

    def _on_strokes(self, _change):
        try:
            self._update()
        except Exception as err:  # noqa: BLE001 (never a traceback in a log console nobody sees)
            self.answer, self.result = None, {}
            self.message = f"something went wrong: {type(err).__name__}: {err}"
        self.seq += 1

    def _update(self):
        if not self.strokes:
            self.answer, self.result = None, {}
            if self.answerer is not None and not self.message.startswith("saved as"):
                self.message = "the pad is empty: draw " + " or ".join(map(with_article, self.categories))
            return
        try:
            if self.answerer is None:
                bitmap = sketches.strokes_to_bitmap(self.strokes)
                self.answer = {"bitmap": bitmap}
                self.result = {"bitmap": bitmap.ravel().tolist()}
                self.message = self.message or "no trained model yet: run 04_training.ipynb first"
                return
            answer = self.answerer.answer(self.strokes)
        except helpers.QuickDrawError as err:  # an empty pad, a single dot, bad coordinates
            self.answer, self.result = None, {}
            self.message = str(err)
            return
        self.answer = answer
        rgb = _colour_occlusion(answer["occlusion"], answer["bitmap"], self.answerer.patch)
        self.result = {
            "bitmap": answer["bitmap"].ravel().tolist(),
            "probabilities": answer["probabilities"],
            "occlusion_rgb": rgb.ravel().tolist(),
            "occlusion_model": answer["occlusion_model"],
            "seconds": answer["seconds"],
        }
        self.message = ""


# ---------------------------------------------------- folders of drawings ----


def evaluate_folder(models, folder, categories):
    """Accuracy of each model on the labelled drawings saved in ``folder`` (``<category>.npy``,
    first category = 1): ``{name: {"accuracy": ..., "n": ...}}``, or {} when none are saved.

    Explained in 07_what_the_network_sees.ipynb
    """
    xs, ys = [], []
    if not Path(folder).is_dir():
        return {}
    for label, category in zip((1, 0), categories):
        if helpers.find_category_file(folder, category) is not None:
            rows = helpers.load_drawings(category, _rows_in(folder, category), data_dir=folder)
            xs.append(rows)
            ys.append(np.full(len(rows), label))
    if not xs:
        return {}
    x, y = helpers.to_images(np.concatenate(xs)), np.concatenate(ys)
    return {
        name: {"accuracy": helpers.accuracy(helpers.predict_proba(m, x), y), "n": int(len(y))}
        for name, m in models.items()
    }


def _rows_in(folder, category):
    return int(np.load(helpers.find_category_file(folder, category), mmap_mode="r").shape[0])
