"""The drawing pad of the web pages (``make html``) in a real browser: Debian's Chromium through
Playwright, the pages served on 127.0.0.1, the networks run by onnxruntime-web with no kernel.

Trains two small networks (apple or banana, one sigmoid unit; apple, banana or rainbow, a softmax),
exports them as the chapters do (quickdraw_cnn.export), builds the pages with them, then: draws an
apple with a stem (apple), Clear, a banana crescent (banana), Undo, a stroke with a pen; checks
the strokes-to-bitmap renderer of the page through ``window.quickdraw.render`` against Google's
bitmaps and the Python renderer; the page's probabilities against Keras on the same bitmaps; what
the page says where it cannot run. The time from pointer-up to the new answer is printed and
written, with screenshots, to runs/pages-test/.
Chromium: ``chromium`` on PATH or ``$CHROMIUM_PATH``; missing, the test skips (fails under CI=true).
"""

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import helpers
from quickdraw_cnn import export, reject
from quickdraw_cnn.data import load_drawings
from quickdraw_cnn.sketches import render_strokes, strokes_to_bitmap
from quickdraw_cnn.strokes import load_pairs

pytestmark = [pytest.mark.slow, pytest.mark.browser]

REPO_DIR = Path(__file__).resolve().parents[1]
SHARED = REPO_DIR.parent / "shared" / "quickdraw"  # strokes and Google's bitmaps of them
RESULTS = REPO_DIR / "runs" / "pages-test"
# The committed "not sure" network on Google's strokes (the last test): issue 26's targets are 70%
# "not sure" and 95% right; 60 + 20 drawings cannot resolve a few points, so these bounds guard
# against a network that lost the rule, and the measured shares are written and reported.
MIN_NOT_SURE, MIN_RIGHT = 0.60, 0.90
sys.path.insert(0, str(REPO_DIR / "tools"))
import build_html  # noqa: E402

INSTALL = (
    "apt-get update && apt-get install -y chromium (as root), or set CHROMIUM_PATH to a Chromium or Chrome"
)
LAUNCH_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IN_CI = os.environ.get("CI", "").lower() == "true"


def chromium_path():
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path and Path(path).is_file():
        return path
    if IN_CI:
        pytest.fail(f"CI needs a browser for the pages' pad test and none was found: {INSTALL}")
    pytest.skip(f"no Chromium found (PATH or CHROMIUM_PATH): {INSTALL}")


def runtime_installed():
    """onnxruntime-web in web/node_modules: `npm ci` there if it is missing (make html does too)."""
    if all((build_html.RUNTIME_DIR / name).is_file() for name in build_html.RUNTIME_FILES):
        return
    npm = shutil.which("npm")
    if npm is None:
        message = "npm is needed to install onnxruntime-web into web/ (Node.js 20 or newer)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    subprocess.run(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=build_html.WEB_DIR,
        check=True,
        timeout=600,
    )


def train_and_export(artifacts, data_dir):
    """The two networks, trained briefly on real (or generated) drawings, and exported."""
    categories = ["apple", "banana", "rainbow"]
    x = np.concatenate([load_drawings(c, 400, data_dir=data_dir) for c in categories])
    y = np.repeat(np.arange(3), 400)
    two = y < 2
    models = {}
    origin, _ = helpers.train("origin", helpers.to_images(x[two]), (y[two] == 0).astype(int), 4, verbose=0)
    export.save_for_page(artifacts, "origin", origin, categories[:2], made_by="04_training.ipynb")
    models["origin"] = (origin, categories[:2])
    three, _ = helpers.train("origin", helpers.to_images(x), y, 3, verbose=0, classes=3)
    export.save_for_page(artifacts, "three-classes", three, categories, made_by="08_many_categories.ipynb")
    models["three-classes"] = (three, categories)
    return models


def train_careful(artifacts, data_dir):
    """A network with a reject option as 09 saves it (three logits: apple, banana, other =
    rainbow; a temperature; a threshold), trained briefly. Returns its calibrated Keras model."""
    import keras

    x = np.concatenate([load_drawings(c, 300, data_dir=data_dir) for c in ("apple", "banana", "rainbow")])
    helpers.set_seed(0)
    net = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
        ]
        + [keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    net.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    net.fit(helpers.scale(helpers.to_images(x)), np.repeat(np.arange(3), 300), epochs=2, verbose=0)
    rule = reject.save(artifacts, net, 1.5, 0.6, ["apple", "banana"])
    return reject.calibrated(net, 1.5), rule


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory, data_dir):
    """The pages with two exported networks and without any, served on 127.0.0.1; a browser."""
    from playwright.sync_api import sync_playwright

    browser_path = chromium_path()
    runtime_installed()
    tmp = tmp_path_factory.mktemp("pages")
    seconds, start = {}, time.perf_counter()
    models = train_and_export(tmp / "artifacts", data_dir)
    careful = train_careful(tmp / "careful-artifacts", data_dir)
    seconds["train and export two networks"] = time.perf_counter() - start
    start = time.perf_counter()
    source = tmp / "notebooks"  # chapter 07 alone: the page with the pad (the others add nothing here)
    source.mkdir()
    shutil.copy(REPO_DIR / "notebooks" / build_html.PAD_CHAPTER, source)
    build_html.build(source, tmp / "site", tmp / "artifacts")
    build_html.build(source, tmp / "empty", tmp / "no-artifacts")
    build_html.build(source, tmp / "careful", tmp / "careful-artifacts")
    build_html.build(source, tmp / "committed", build_html.COMMITTED_NETWORKS)  # what make html ships
    seconds["build the pages"] = time.perf_counter() - start
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    RESULTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=browser_path, headless=True, args=LAUNCH_FLAGS)
            try:
                yield {
                    "base": f"http://127.0.0.1:{server.server_port}",
                    "tmp": tmp,
                    "browser": browser,
                    "models": models,
                    "careful": careful,
                    "seconds": seconds,
                }
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()


def open_pad(served, path, requests=None):
    page = served["browser"].new_page(viewport={"width": 1100, "height": 900})
    if requests is not None:
        page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{served['base']}/{path}")
    page.wait_for_selector(".qd-webpad[data-ready]", state="attached", timeout=60_000)
    return page


def stroke_points(kind):
    """Pad coordinates (280 x 280) of the strokes a person would draw."""
    t = np.linspace(0, 2 * np.pi, 50)
    u = np.linspace(0.25, np.pi - 0.25, 36)
    if kind == "apple":
        return [
            np.c_[140 + 80 * np.cos(t), 165 + 75 * np.sin(t) + 12 * np.abs(np.sin(t / 2))],
            np.array([[138, 95], [150, 45]]),
            np.array([[148, 60], [185, 40], [150, 75]]),
        ]
    return [
        np.c_[140 + 115 * np.cos(u), 70 + 110 * np.sin(u)],
        np.c_[140 + 115 * np.cos(u[::-1]), 110 + 55 * np.sin(u[::-1])],
    ]


def seq(page):
    return page.eval_on_selector(".qd-webpad", "e => e.dataset.seq")


def wait_for_answer(page, before):
    page.wait_for_function("s => document.querySelector('.qd-webpad').dataset.seq !== s", arg=before)


def draw(page, kind, timings):
    box = page.locator(".qd-canvas").bounding_box()
    for points in stroke_points(kind):
        x0, y0 = box["x"], box["y"]
        page.mouse.move(float(x0 + points[0, 0]), float(y0 + points[0, 1]))
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(float(x0 + x), float(y0 + y), steps=2)
        before = seq(page)
        start = time.perf_counter()
        page.mouse.up()
        wait_for_answer(page, before)
        timings["seen by the test"].append(time.perf_counter() - start)
        timings["in the page"].append(
            float(page.eval_on_selector(".qd-webpad", "e => e.dataset.answerMs")) / 1e3
        )


def verdict(page):
    return page.eval_on_selector(".qd-verdict", "e => [e.dataset.label || '', Number(e.dataset.p || 0)]")


def shown_probabilities(page):
    return page.eval_on_selector_all(
        ".qd-config",
        "els => els.map(e => [e.querySelector('.qd-config-name').textContent,"
        " [...e.querySelectorAll('.qd-bar')].map(b => b.dataset.category)])",
    )


def test_drawing_on_the_page_gets_answers_from_every_network(served):
    """An apple with a stem, Clear, a banana crescent, Undo, a pen stroke: answered after each."""
    timings = {"seen by the test": [], "in the page": []}
    requests = []
    page = open_pad(served, "site/draw.html", requests)
    try:
        assert page.eval_on_selector(".qd-webpad", "e => e.dataset.ready") == "true", page.inner_text(
            ".qd-status"
        )
        draw(page, "apple", timings)
        assert verdict(page)[0] == "apple" and verdict(page)[1] > 0.5, verdict(page)
        shown = dict(shown_probabilities(page))
        assert set(shown) == {"origin", "three-classes"}
        assert sorted(shown["origin"]) == ["apple", "banana"]
        assert sorted(shown["three-classes"]) == ["apple", "banana", "rainbow"]
        bitmap = page.evaluate(
            "() => Array.from(document.querySelector('.qd-bitmap').getContext('2d')"
            ".getImageData(0, 0, 28, 28).data.filter((v, i) => i % 4 === 0))"
        )
        assert 0 < np.mean(bitmap) < 255 and max(bitmap) == 255  # the 28x28 input, shown
        page.locator(".qd-webpad").screenshot(path=str(RESULTS / "pad_apple.png"))

        before = seq(page)
        page.locator(".qd-clear").click()
        wait_for_answer(page, before)
        assert page.eval_on_selector(".qd-webpad", "e => e.dataset.strokes") == "0"
        assert verdict(page)[0] == "" and shown_probabilities(page) == []

        draw(page, "banana", timings)
        assert verdict(page)[0] == "banana" and verdict(page)[1] > 0.5, verdict(page)
        page.locator(".qd-webpad").screenshot(path=str(RESULTS / "pad_banana.png"))

        before = seq(page)
        page.locator(".qd-undo").click()
        wait_for_answer(page, before)
        assert page.eval_on_selector(".qd-webpad", "e => e.dataset.strokes") == "1"
        assert verdict(page)[0] in ("apple", "banana")

        before = seq(page)  # a pen (a finger sends the same pointer events, with pointerType "touch")
        page.evaluate(
            """() => {
              const c = document.querySelector('.qd-canvas'), r = c.getBoundingClientRect();
              const at = (type, x, y) => c.dispatchEvent(new PointerEvent(type, {pointerId: 7,
                pointerType: 'pen', isPrimary: true, bubbles: true, cancelable: true, button: 0,
                clientX: r.left + x, clientY: r.top + y}));
              at('pointerdown', 60, 200); at('pointermove', 120, 230); at('pointermove', 200, 220);
              at('pointerup', 200, 220);
            }"""
        )
        wait_for_answer(page, before)
        assert page.eval_on_selector(".qd-webpad", "e => e.dataset.strokes") == "2"
    except Exception:
        page.screenshot(path=str(RESULTS / "failure.png"))
        raise
    finally:
        page.close()
    local = [u for u in requests if not u.startswith((served["base"], "data:"))]
    assert local == [], f"the page asked for files elsewhere than its own folder: {local}"
    fetched = sorted({u.rsplit("/", 1)[-1] for u in requests if "/ort/" in u})
    assert fetched == sorted(build_html.RUNTIME_FILES), fetched  # what site/ ships is what is used
    report = {
        "pointer_up_to_answer_s": {
            k: {"median": float(np.median(v)), "max": float(max(v)), "all": [round(t, 4) for t in v]}
            for k, v in timings.items()
        },
        "seconds": {k: round(v, 1) for k, v in served["seconds"].items()},
        "load": os.getloadavg(),
    }
    (RESULTS / "latency.json").write_text(json.dumps(report, indent=1) + "\n")
    in_page = report["pointer_up_to_answer_s"]["in the page"]
    print(
        f"\npointer-up to new answer, in the page: median {in_page['median'] * 1e3:.1f} ms, max "
        f"{in_page['max'] * 1e3:.1f} ms over {len(timings['in the page'])} strokes (seen by the test: median "
        f"{report['pointer_up_to_answer_s']['seen by the test']['median'] * 1e3:.1f} ms); load "
        f"{report['load'][0]:.2f}; {served['seconds']}; written to {RESULTS / 'latency.json'}"
    )


def stroke_cases():
    """(strokes, Google's bitmap or None): the shared pairs when they are here, else drawings the
    test makes (pad coordinates, with no bitmap of Google's)."""
    if (SHARED / "simplified").is_dir():
        categories = sorted(p.stem for p in (SHARED / "simplified").glob("*.ndjson"))
        pairs = load_pairs(
            categories, 10, data_dir=SHARED / "numpy_bitmap", strokes_dir=SHARED / "simplified"
        )
        return [pair for category in pairs.values() for pair in category]
    rng = np.random.default_rng(0)
    made = []
    for kind in ("apple", "banana") * 10:
        strokes = [(p + rng.normal(0, 3, p.shape)) * rng.uniform(0.5, 2) for p in stroke_points(kind)]
        made.append(([[s[:, 0].tolist(), s[:, 1].tolist()] for s in strokes], None))
    return made


def test_the_page_renders_strokes_as_google_and_python_do(served):
    """window.quickdraw.render against Google's bitmaps (at most 1.5 grey levels on average) and
    the Python renderer of quickdraw_cnn.sketches (see the bound below)."""
    cases = stroke_cases()
    strokes = [s for s, _ in cases]
    page = open_pad(served, "site/draw.html")
    try:
        full = np.array(page.evaluate("all => all.map(s => window.quickdraw.render(s))", strokes), float)
        drawn = np.array(
            page.evaluate("all => all.map(s => window.quickdraw.renderSimplified(s))", strokes), float
        )
        simplified = page.evaluate("all => all.map(s => window.quickdraw.simplify(s))", strokes)
    finally:
        page.close()
    assert full.shape == (len(cases), 784) and full.min() >= 0 and full.max() <= 255
    python_full = np.array([strokes_to_bitmap(s).ravel() for s in strokes], float)
    figures = {"drawings": len(cases), "full pipeline vs Python": float(np.abs(full - python_full).mean())}
    # the simplification is exact: the same points as Python's, except where floating point rounds
    # a coordinate on the other side of .5
    same = sum(a == b for a, b in zip(simplified, [strokes_to_simplified(s) for s in strokes]))
    figures["simplified exactly as in Python"] = same / len(cases)
    assert same >= 0.95 * len(cases)
    if cases[0][1] is not None:
        google = np.array([b.ravel() for _, b in cases], float)
        python = np.array([render_strokes(s).ravel() for s in strokes], float)
        figures["renderer vs Google"] = float(np.abs(drawn - google).mean())
        figures["renderer vs Python"] = float(np.abs(drawn - python).mean())
        figures["Python renderer vs Google"] = float(np.abs(python - google).mean())
        figures["full pipeline vs Google"] = float(np.abs(full - google).mean())
        assert figures["renderer vs Google"] <= 1.5
        assert figures["full pipeline vs Google"] <= 1.5
        assert figures["renderer vs Python"] <= 1.0
    assert figures["full pipeline vs Python"] <= 1.0
    (RESULTS / "renderer.json").write_text(json.dumps(figures, indent=1) + "\n")
    print("\nrenderer of the page:", json.dumps(figures))


def strokes_to_simplified(strokes):
    from quickdraw_cnn.sketches import simplify_strokes

    return simplify_strokes(strokes)


def test_the_page_answers_as_keras_does(served):
    """window.quickdraw.predict against Keras' predict on the same bitmaps: max difference 1e-5."""
    cases = stroke_cases()
    bitmaps = np.array([strokes_to_bitmap(s).ravel() for s, _ in cases])
    bitmaps = np.concatenate([bitmaps, load_drawings("apple", 20), load_drawings("banana", 20)])
    page = open_pad(served, "site/draw.html")
    try:
        answers = page.evaluate(
            "async all => { const out = []; for (const p of all) out.push(await window.quickdraw.predict(p));"
            " return out; }",
            bitmaps.tolist(),
        )
    finally:
        page.close()
    worst = 0.0
    for name, (model, categories) in served["models"].items():
        keras_p = model.predict(helpers.scale(helpers.to_images(bitmaps)), verbose=0)
        if keras_p.shape[1] == 1:
            keras_p = np.c_[keras_p, 1 - keras_p]
        page_p = np.array([[a[name][c] for c in categories] for a in answers])
        assert keras_p.std() > 1e-3  # the drawings get different answers: a real comparison
        worst = max(worst, float(np.abs(page_p - keras_p).max()))
    print(f"\npage against Keras on {len(bitmaps)} bitmaps: max difference {worst:.2e}")
    assert worst < 1e-5


def test_the_pad_is_on_chapter_07s_page_with_the_credit(served):
    page = open_pad(served, "site/07_what_the_network_sees.html")
    try:
        assert page.eval_on_selector(".qd-webpad", "e => e.dataset.ready") == "true"
        assert page.locator(".qd-canvas").count() == 1
        credit = page.inner_text(".qd-credit")
        assert "Google Creative Lab" in credit and "CC BY 4.0" in credit
    finally:
        page.close()


def test_the_page_says_in_words_why_it_cannot_answer(served):
    """No exported network; no WebAssembly; the folder opened as files instead of served."""
    page = open_pad(served, "empty/draw.html")
    try:
        assert page.eval_on_selector(".qd-webpad", "e => e.dataset.ready") == "false"
        assert "run 04_training.ipynb" in page.inner_text(".qd-status")
    finally:
        page.close()
    page = served["browser"].new_page()
    page.add_init_script("delete window.WebAssembly")
    try:
        page.goto(f"{served['base']}/site/draw.html")
        page.wait_for_selector(".qd-webpad[data-ready]", state="attached")
        assert "cannot run WebAssembly" in page.inner_text(".qd-status")
        page.goto((served["tmp"] / "site" / "draw.html").as_uri())
        page.wait_for_selector(".qd-webpad[data-ready]", state="attached")
        assert "opened as a file" in page.inner_text(".qd-status")
        assert "http.server" in page.inner_text(".qd-status")
    finally:
        page.close()


# ------------------------------------------------------------------ not sure (09) ----


def decide_all(page, bitmaps):
    return page.evaluate(
        "async all => { const out = []; for (const p of all) out.push(await window.quickdraw.decide(p));"
        " return out; }",
        [list(map(float, b)) for b in bitmaps],
    )


def test_decide_answers_as_keras_and_the_rule_do(served):
    """window.quickdraw.decide: the probabilities of Keras' calibrated network within 1e-5, and the
    answer of quickdraw_cnn.reject.decide on them; configurations without a reject option left out."""
    network, rule = served["careful"]
    cases = stroke_cases()
    bitmaps = np.array([strokes_to_bitmap(s).ravel() for s, _ in cases])
    bitmaps = np.concatenate([bitmaps, load_drawings("apple", 20), load_drawings("banana", 20)])
    page = open_pad(served, "careful/draw.html")
    try:
        decided = decide_all(page, bitmaps)
    finally:
        page.close()
    keras_p = network.predict(helpers.scale(helpers.to_images(bitmaps)), verbose=0)
    page_p = np.array([[d[reject.NAME]["probabilities"][c] for c in rule["categories"]] for d in decided])
    assert keras_p.std() > 1e-3 and np.abs(page_p - keras_p).max() < 1e-5
    answers = [d[reject.NAME]["answer"] for d in decided]
    clear = np.abs(1 - keras_p[:, 2] - rule["threshold"]) > 1e-5  # not on the threshold itself
    assert np.array(answers)[clear].tolist() == np.array(reject.decide(keras_p, rule))[clear].tolist()
    assert {"not sure", "apple", "banana"} & set(answers), answers
    page = open_pad(served, "site/draw.html")  # no reject option there: nothing to decide
    try:
        assert decide_all(page, bitmaps[:1]) == [{}]
    finally:
        page.close()


BAD_PIXELS = {
    "NaN": ("[NaN]", "grey value 0 is NaN"),
    "1e300": ("[1e300]", "grey value 0 is 1e+300"),
    "-1e300": ("[-1e300]", "grey value 0 is -1e+300"),
    "over 255": ("[256]", "grey value 0 is 256"),
    "below 0": ("[-0.5]", "grey value 0 is -0.5"),
    "a string": ('["12"]', "grey value 0 is 12"),
}


@pytest.mark.parametrize("hook", ["predict", "decide"])
def test_bad_pixels_are_refused_with_a_clear_error(served, hook):
    page = open_pad(served, "careful/draw.html")
    try:
        for name, (first, words) in BAD_PIXELS.items():
            script = (
                f"() => window.quickdraw.{hook}({first}.concat(new Array(783).fill(0)))"
                ".then(r => 'answered: ' + JSON.stringify(r), e => e.message)"
            )
            said = page.evaluate(script)
            assert words in said and "from 0 to 255" in said, (name, said)
        for length in (783, 785, 0):
            said = page.evaluate(
                f"() => window.quickdraw.{hook}(new Array({length}).fill(0))"
                ".then(r => 'answered', e => e.message)"
            )
            assert f"784 grey values (28 x 28), got {length}" in said, said
        said = page.evaluate(f"() => window.quickdraw.{hook}(null).then(r => 'answered', e => e.message)")
        assert "784 grey values" in said, said
    finally:
        page.close()


def house_points():
    """A house as a person draws it on the pad: walls, a roof, a door."""
    walls = np.array([[70, 130], [70, 240], [210, 240], [210, 130], [70, 130]], float)
    roof = np.array([[60, 135], [140, 50], [220, 135]], float)
    door = np.array([[125, 240], [125, 185], [155, 185], [155, 240]], float)
    return [walls, roof, door]


def draw_points(page, strokes):
    box = page.locator(".qd-canvas").bounding_box()
    for points in strokes:
        page.mouse.move(float(box["x"] + points[0, 0]), float(box["y"] + points[0, 1]))
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(float(box["x"] + x), float(box["y"] + y), steps=8)
        before = seq(page)
        page.mouse.up()
        wait_for_answer(page, before)


def test_the_committed_pad_says_not_sure_to_a_house_and_apple_to_an_apple(served):
    """The pages as make html builds them from the committed notebooks: a house drawn with the
    mouse gets "not sure", an apple "apple" (09's network has the last word)."""
    page = open_pad(served, "committed/draw.html")
    try:
        assert page.eval_on_selector(".qd-webpad", "e => e.dataset.ready") == "true"
        draw_points(page, house_points())
        page.locator(".qd-webpad").screenshot(path=str(RESULTS / "pad_house.png"))
        assert verdict(page)[0] == "not sure", page.inner_text(".qd-verdict")
        assert "Not sure" in page.inner_text(".qd-verdict")
        before = seq(page)
        page.locator(".qd-clear").click()
        wait_for_answer(page, before)
        draw_points(page, stroke_points("apple"))
        page.locator(".qd-webpad").screenshot(path=str(RESULTS / "pad_apple_not_sure_network.png"))
        assert verdict(page)[0] == "apple", page.inner_text(".qd-verdict")
    finally:
        page.close()


def chapter_09_defaults():
    import ast

    cells = json.loads((REPO_DIR / "notebooks" / "09_not_sure.ipynb").read_text())["cells"]
    source = next("".join(c["source"]) for c in cells if "parameters" in c["metadata"].get("tags", []))
    return {
        ast.unparse(n.targets[0]): ast.literal_eval(n.value)
        for n in ast.parse(source).body
        if isinstance(n, ast.Assign)
    }


def test_the_committed_pad_on_googles_strokes_of_held_out_categories(served):
    """Google's own strokes (10 a category in the shared sample) rendered and decided in the page
    by the committed network: the share of "not sure" on the categories 09 held out, and the share
    of apples and bananas answered right (those 10 rows may be among 02's training rows)."""
    if not (SHARED / "simplified").is_dir():
        pytest.skip(f"no strokes at {SHARED / 'simplified'}")
    defaults = chapter_09_defaults()
    unseen = defaults["unseen_categories"]
    pairs = load_pairs(
        [*unseen, "apple", "banana"], 10, data_dir=SHARED / "numpy_bitmap", strokes_dir=SHARED / "simplified"
    )
    page = open_pad(served, "committed/draw.html")
    try:
        answers = {
            c: page.evaluate(
                "async all => { const out = []; for (const s of all) {"
                " const d = await window.quickdraw.decide(window.quickdraw.render(s));"
                f" out.push(d[{json.dumps(reject.NAME)}].answer); }} return out; }}",
                [s for s, _ in pairs[c]],
            )
            for c in pairs
        }
    finally:
        page.close()
    not_sure = {c: float(np.mean([a == "not sure" for a in answers[c]])) for c in unseen}
    right = float(np.mean([a == c for c in ("apple", "banana") for a in answers[c]]))
    figures = {
        "unseen not sure": float(np.mean(list(not_sure.values()))),
        "by category": not_sure,
        "apples and bananas right": right,
        "drawings": {c: len(a) for c, a in answers.items()},
    }
    (RESULTS / "not_sure.json").write_text(json.dumps(figures, indent=1) + "\n")
    print("\nnot sure in the page, Google's strokes:", json.dumps(figures))
    # measured at the commit of 09's network: 75% "not sure" (45 of 60), 95% right (19 of 20)
    assert figures["unseen not sure"] >= MIN_NOT_SURE and right >= MIN_RIGHT, figures
