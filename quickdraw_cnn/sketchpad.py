"""A sketch pad for JupyterLab: draw, and the trained network answers after every stroke."""

from __future__ import annotations

import time
from pathlib import Path

import anywidget
import numpy as np
import traitlets

import helpers
from quickdraw_cnn import reject, sketches
from quickdraw_cnn.data import find_category_file, load_drawings
from quickdraw_cnn.errors import DataError, MissingArtifactError, QuickDrawError
from quickdraw_cnn.occlusion import colour_occlusion, log_odds_function, occlusion_map

# ------------------------------------------------------- predictions ----


def load_models(artifacts_dir, categories):
    """The configurations 04 trained on 02's current split: ``({name: model}, notes)``.

    Used by SketchPad.
    """
    try:
        split = helpers.load_split(artifacts_dir, categories)
    except MissingArtifactError as err:
        raise MissingArtifactError(
            f"no trained model yet: run 02_preprocessing.ipynb, then 04_training.ipynb first ({err})"
        ) from err
    models, notes = {}, []
    for name in helpers.CONFIGS:
        if (Path(artifacts_dir) / f"model_{name}.keras").is_file():
            try:
                models[name] = helpers.load_model(artifacts_dir, name, split)
            except MissingArtifactError as err:
                notes.append(str(err))
    if not models:
        raise MissingArtifactError(
            "no trained model yet: run 04_training.ipynb first (after 01 and 02). " + " ".join(notes)
        )
    return models, notes


def careful_network(artifacts_dir, categories):
    """The reject-option network that 09 saved and its rule, or None (also for other categories).

    Used by SketchPad.
    """
    try:
        network, rule = reject.load(artifacts_dir) if artifacts_dir else (None, None)
    except MissingArtifactError:
        return None
    return (network, rule) if rule and rule["categories"][:2] == list(categories) else None


class Answerer:
    """Everything the pad computes for a drawing: bitmap, probabilities, occlusion map.

    Used by SketchPad.
    """

    def __init__(self, models, categories, occlusion_patch=6, careful=None):
        self.models, self.categories, self.patch = dict(models), list(categories), occlusion_patch
        self._log_odds = {name: log_odds_function(m) for name, m in self.models.items()}
        self.careful = careful  # (calibrated network, rule) of quickdraw_cnn.reject, or None

    def decision(self, image):
        """The reject option's answer for one (1, 28, 28, 1) uint8 image, or None without one."""
        if self.careful is None:
            return None
        network, rule = self.careful
        p = network.predict(helpers.scale(image), verbose=0)[0]
        probabilities = {c: float(v) for c, v in zip(rule["categories"], p)}
        answer = reject.decide(p, rule)[0]
        return {"configuration": reject.NAME, "answer": answer, "probabilities": probabilities}

    def answer(self, strokes):
        """A dict: ``bitmap`` (28, 28) uint8, ``probabilities`` {config: p(first category)},
        ``occlusion`` (steps, steps) for the first configuration, ``seconds``."""
        start = time.perf_counter()
        bitmap = sketches.strokes_to_bitmap(strokes)
        image = bitmap.reshape(1, *helpers.IMAGE_SHAPE)
        probabilities = {name: float(1 / (1 + np.exp(-f(image)[0]))) for name, f in self._log_odds.items()}
        decision = self.decision(image)
        first = next(iter(self._log_odds))
        heat = occlusion_map(self._log_odds[first], bitmap, self.patch)
        answer = {"bitmap": bitmap, "probabilities": probabilities, "occlusion": heat}
        answer |= {"occlusion_model": first, "decision": decision}
        return answer | {"seconds": time.perf_counter() - start}


# ------------------------------------------------------------ widget ----


def with_article(noun):
    """'an apple', 'a banana': the pad's messages name the run's categories.

    Used by SketchPad's messages.
    """
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


class SketchPad(anywidget.AnyWidget):
    """Draw a drawing; after every stroke the pad shows each trained configuration's probability of the run's
    two categories, the 28x28 bitmap the network receives, and the occlusion map.

    Explained in 07_what_the_network_sees.ipynb
    """

    _esm = Path(__file__).with_name("sketchpad.js")  # anywidget reads the files
    _css = Path(__file__).with_name("sketchpad.css")
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
            self.answerer = Answerer(
                models, categories, occlusion_patch, careful_network(artifacts_dir, categories)
            )
            empty = "the pad is empty: draw " + " or ".join(map(with_article, categories))
            self.message = self.message or empty
        except QuickDrawError as err:
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
                raise DataError(f"a drawing is a list of strokes, got {type(value).__name__}")
            points = [sketches.check_stroke(stroke, k) for k, stroke in enumerate(value, 1)]
        except DataError as err:
            self.message = f"drawing refused: {err}"
            self.seq += 1
            return self.strokes
        return [[p[:, 0].tolist(), p[:, 1].tolist()] for p in points]

    # one entry point per user action; each reports errors in the pad instead of raising
    def add_stroke(self, stroke):
        """Add one stroke (``[[x...], [y...]]`` or with a third list of times), as the browser does."""
        try:
            points = sketches.check_stroke(stroke, len(self.strokes or []) + 1)
        except DataError as err:
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
        except (QuickDrawError, ValueError, OSError) as err:
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
        except QuickDrawError as err:  # an empty pad, a single dot, bad coordinates
            self.answer, self.result = None, {}
            self.message = str(err)
            return
        self.answer = answer
        rgb = colour_occlusion(answer["occlusion"], answer["bitmap"], self.answerer.patch)
        result = {"bitmap": answer["bitmap"].ravel().tolist(), "probabilities": answer["probabilities"]}
        result["occlusion_rgb"] = rgb.ravel().tolist()
        self.result = result | {k: answer[k] for k in ("occlusion_model", "decision", "seconds")}
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
        if find_category_file(folder, category) is not None:
            rows = load_drawings(category, _rows_in(folder, category), data_dir=folder)
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
    return int(np.load(find_category_file(folder, category), mmap_mode="r").shape[0])
