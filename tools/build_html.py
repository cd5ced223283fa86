"""The executed series as static HTML pages to share: `make html`.

One page per chapter (nbconvert, figures embedded as data) plus ``index.html`` with each chapter's
title and first sentence, and ``draw.html``: a drawing pad that runs the trained networks in the
browser (also on chapter 07's page, in place of the notebook's widget). The pad needs no kernel:
the networks exported as ONNX (``model_<name>.onnx`` and ``.onnx.json`` in the run's artifacts,
written by quickdraw_cnn/export.py) run with onnxruntime-web (installed by ``npm ci`` in web/;
only the three files a WebAssembly-only page needs are copied), so the folder works offline and
from any static web server. Links between chapters (``NN_name.ipynb``) become links between pages
(``NN_name.html``); a relative link to a file the pages do not include (``../helpers.py``) keeps
its text and loses its link, and is reported. The source is the newest run (``runs/latest``)
when there is one, else the committed notebooks (with the networks they were made with, committed
in ``web/networks/``).

    python tools/build_html.py [--source FOLDER] [--artifacts FOLDER] [--out site]
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

REPO_DIR = Path(__file__).resolve().parents[1]
COMMITTED_NETWORKS = REPO_DIR / "web" / "networks"  # the committed outputs' networks (make notebooks)
WEB_DIR = REPO_DIR / "web"  # the pad's scripts, and package.json / package-lock.json for npm ci
RUNTIME_DIR = WEB_DIR / "node_modules" / "onnxruntime-web" / "dist"
# What onnxruntime-web needs for its WebAssembly backend alone (checked in the browser test):
RUNTIME_FILES = ["ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"]
PAD_FILES = ["quickdraw.js", "pad.js", "pad.css"]
PAD_CHAPTER = "07_what_the_network_sees.ipynb"
CONFIG_ORDER = ("origin", "improved")  # helpers.CONFIGS' order (not imported: no Keras here)
NO_MODELS = (
    "No trained network has been exported yet: run 04_training.ipynb (make run runs the series), "
    "then make html again."
)
CHAPTER = re.compile(r"^\d\d_[\w-]+\.ipynb$")
CREDIT = (
    'Drawings from the <a href="https://github.com/googlecreativelab/quickdraw-dataset">Quick, '
    "Draw! dataset</a> by Google Creative Lab, licensed "
    '<a href="https://creativecommons.org/licenses/by/4.0/">CC BY 4.0</a>.'
)


def default_source():
    """runs/latest/notebooks when a run exists, else the committed notebooks."""
    latest = REPO_DIR / "runs" / "latest" / "notebooks"
    return latest.resolve() if latest.is_dir() else REPO_DIR / "notebooks"


def chapters(source):
    found = sorted(p for p in Path(source).glob("*.ipynb") if CHAPTER.match(p.name))
    if not found:
        raise SystemExit(f"no chapters (NN_name.ipynb) in {source}: run `make run` first, or pass --source")
    return found


def title_and_line(nb):
    """The chapter's title (its first heading) and the first sentence under it."""
    first = next((c.source for c in nb.cells if c.cell_type == "markdown"), "")
    lines = first.splitlines()
    title = next((line.lstrip("#").strip() for line in lines if line.startswith("#")), "")
    prose = " ".join(line.strip() for line in lines if line.strip() and not line.startswith(("#", ">")))
    sentence = re.split(r"(?<=[.?])\s+(?=[A-Z(])", prose, maxsplit=1)[0] if prose else ""
    return title, re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", sentence)  # markdown links to their text


def link_chapters(nb, names):
    """Markdown links ``NN_name.ipynb[#anchor]`` to chapters of the site become ``NN_name.html``."""
    pattern = re.compile(r"(\]\(|href=\")(\d\d_[\w-]+)\.ipynb(#[^)\"\s]*)?(?=[)\"\s])")

    def swap(m):
        if f"{m.group(2)}.ipynb" not in names:
            return m.group(0)
        return f"{m.group(1)}{m.group(2)}.html{m.group(3) or ''}"

    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = COLAB_BADGE.sub("", pattern.sub(swap, cell.source))
    return nb


# The chapters' "Open in Colab" badge is for readers on GitHub: the pages drop it (its image is not
# part of the pages, which work offline).
COLAB_BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\(https://colab\.research\.google\.com/[^)]*\)\n?")


def is_local(href):
    parts = urlsplit(href)
    return not (parts.scheme or parts.netloc or href.startswith(("#", "//")))


def unlink_missing(page, out_dir):
    """Drop the link (keep the text) of every relative href whose file is not in ``out_dir``."""
    dropped = []

    def check(m):
        href = html.unescape(m.group(2))
        target = unquote(urlsplit(href).path)
        if not is_local(href) or not target or (out_dir / target).is_file():
            return m.group(0)
        dropped.append(href)
        return f"<a{m.group(1)}{m.group(3)}>"

    page = re.sub(r'<a([^>]*?)\shref="([^"]*)"([^>]*)>', check, page)
    return page, dropped


def install_runtime():
    """onnxruntime-web in web/node_modules, installed by ``npm ci`` (the versions of
    web/package-lock.json) when a file the pages need is missing. Returns the folder of its files."""
    if all((RUNTIME_DIR / name).is_file() for name in RUNTIME_FILES):
        return RUNTIME_DIR
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(
            "the pages' drawing pad needs onnxruntime-web, installed with npm: install Node.js 20 or "
            "newer with npm (Debian/Ubuntu: apt-get install nodejs npm), then run make html again"
        )
    import subprocess

    subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=WEB_DIR, check=True)
    return RUNTIME_DIR


def default_artifacts(source):
    """The artifacts of the run whose notebooks are ``source``: its sibling ``artifacts/``; for the
    committed notebooks, ``web/networks/``: the networks their committed outputs were made with
    (``make notebooks`` writes them there), not whatever a test or an earlier run left in
    ``artifacts/``. So the pages of a fresh clone answer too."""
    if Path(source).resolve() == (REPO_DIR / "notebooks").resolve():
        return COMMITTED_NETWORKS
    return Path(source).resolve().parent / "artifacts"


def configuration_order(info):
    """Chapter by chapter (04's before 08's), and in a chapter the order of helpers.CONFIGS
    (the origin first: the pad's verdict is the first configuration's)."""
    name = info["configuration"]
    rank = next((k for k, known in enumerate(CONFIG_ORDER) if known in name), len(CONFIG_ORDER))
    return (str(info.get("made_by") or ""), rank, name)


def copy_pad(out_dir, artifacts_dir, runtime_dir=RUNTIME_DIR):
    """Copy the pad's scripts, the runtime and the exported networks into ``out_dir``; write
    ``models/models.json`` (the configurations, or why there are none). Returns that index."""
    runtime_dir = Path(runtime_dir)
    missing = [name for name in RUNTIME_FILES if not (runtime_dir / name).is_file()]
    if missing:
        raise SystemExit(
            f"onnxruntime-web is not installed ({', '.join(missing)} missing in {runtime_dir}): "
            "run `npm ci` in web/ (make html does it)"
        )
    (out_dir / "ort").mkdir()
    for name in RUNTIME_FILES:
        shutil.copyfile(runtime_dir / name, out_dir / "ort" / name)
    package = json.loads((runtime_dir.parent / "package.json").read_text())
    (out_dir / "ort" / "NOTICE.txt").write_text(
        f"{package['name']} {package['version']} (npm), {package.get('license', 'MIT')} licence, "
        "Copyright (c) Microsoft Corporation: https://github.com/microsoft/onnxruntime\n"
        "These files run the trained networks in the browser (WebAssembly); copied from npm.\n",
        encoding="utf-8",
    )
    for name in PAD_FILES:
        shutil.copyfile(WEB_DIR / name, out_dir / name)
    models = out_dir / "models"
    models.mkdir()
    configurations = []
    for info_path in sorted(Path(artifacts_dir).glob("model_*.onnx.json")):
        try:
            info = json.loads(info_path.read_text())
            onnx = info_path.with_name(info["file"])
            ok = onnx.is_file() and {"configuration", "categories", "output", "input"} <= set(info)
        except (OSError, ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            print(f"{info_path.name}: not a description of an exported network, left out", file=sys.stderr)
            continue
        shutil.copyfile(onnx, models / onnx.name)
        configurations.append(info)
    configurations.sort(key=configuration_order)
    index = {"configurations": configurations}
    if not configurations:
        index["missing"] = NO_MODELS
        print(f"no exported networks in {artifacts_dir}: the pad will say so ({NO_MODELS})", file=sys.stderr)
    (models / "models.json").write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
    return index


def pad_html(intro=True):
    """The pad's markup: an element the script turns into a pad, and what a browser without
    scripts shows."""
    text = (
        "<p>Draw with the mouse, a finger or a pen. After every stroke the networks the series "
        "trained answer, right here in the browser (onnxruntime-web, no Python, nothing sent "
        "anywhere), with the probability of each category and the 28x28 bitmap they receive, made "
        "from your strokes the way Google made its bitmaps.</p>\n"
        if intro
        else ""
    )
    return (
        f'<link rel="stylesheet" href="pad.css">\n{text}'
        '<div class="qd-webpad" data-base=".">'
        "<noscript><p>The pad needs JavaScript, which is turned off in this browser.</p></noscript></div>\n"
        '<script src="ort/ort.wasm.min.js"></script>\n'
        '<script src="quickdraw.js"></script>\n<script src="pad.js"></script>\n'
        f'<p class="qd-credit">{CREDIT}</p>\n'
    )


def put_pad_in(nb):
    """Chapter 07 with the page's pad in place of the notebook's widget output (the cell that
    makes the ``SketchPad``), or at the end when no such cell is found."""
    import nbformat

    output = nbformat.v4.new_output("display_data", data={"text/html": pad_html()})
    for cell in nb.cells:
        if cell.cell_type == "code" and "SketchPad(" in cell.source:
            widget = any(
                "application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in cell.outputs
            )
            if widget or not cell.outputs:
                cell.outputs = [output]
                nb.metadata.pop("widgets", None)  # no widget left: no widget manager from a CDN
                return nb
    cell = nbformat.v4.new_code_cell("# the pad of these pages")
    cell.outputs = [output]
    nb.cells.append(cell)
    return nb


def build(source, out_dir, artifacts_dir=None, runtime_dir=RUNTIME_DIR):
    """Write the pages, index.html and draw.html into ``out_dir``; return the list of pages
    written."""
    import nbformat
    from nbconvert import HTMLExporter

    paths = chapters(source)
    names = {p.name for p in paths}
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    copy_pad(out_dir, default_artifacts(source) if artifacts_dir is None else artifacts_dir, runtime_dir)
    exporter = HTMLExporter(template_name="lab")
    entries, pages = [], []
    for path in paths:
        nb = link_chapters(nbformat.read(path, as_version=4), names)
        if path.name == PAD_CHAPTER:
            nb = put_pad_in(nb)
        title, line = title_and_line(nb)
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title or path.stem}})
        page = out_dir / f"{path.stem}.html"
        page.write_text(body, encoding="utf-8")
        entries.append((page.name, title or path.stem, line))
        pages.append(page)
    for page in pages:  # once all pages exist, links to files that are not here lose their href
        text, dropped = unlink_missing(page.read_text(encoding="utf-8"), out_dir)
        page.write_text(text, encoding="utf-8")
        for href in dropped:
            print(f"{page.name}: link to {href} kept as text (not part of the pages)", file=sys.stderr)
    index = out_dir / "index.html"
    index.write_text(index_page(entries, source), encoding="utf-8")
    draw = out_dir / "draw.html"
    chapter = next((p.name for p in pages if p.stem == Path(PAD_CHAPTER).stem), None)
    draw.write_text(draw_page(chapter), encoding="utf-8")
    return [index, *pages, draw]


def index_page(entries, source):
    where = (
        "the committed notebooks"
        if Path(source).resolve() == (REPO_DIR / "notebooks").resolve()
        else f"the run {Path(source).resolve().parent.name}"
    )
    items = "\n".join(
        f'  <li><a href="{html.escape(href)}">{html.escape(title)}</a><br>'
        f"<span>{html.escape(line)}</span></li>"
        for href, title, line in entries
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>quickdraw-cnn: apples or bananas?</title>
<style>
  body {{ font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem;
         line-height: 1.5; color: #222; }}
  li {{ margin: 0.8rem 0; }} li span {{ color: #555; }} footer {{ color: #666; font-size: 0.9rem; }}
</style>
</head>
<body>
<h1>quickdraw-cnn: apples or bananas?</h1>
<p>A series of notebooks that trains a small convolutional network (TensorFlow / Keras 3) to tell
hand-drawn apples from bananas. Each chapter below is the executed notebook, with its figures.</p>
<ol>
{items}
</ol>
<p><a href="draw.html"><strong>Draw</strong></a>: a drawing pad where the trained networks guess what
you draw, in the browser.</p>
<footer><p>{CREDIT}</p><p>Pages made with nbconvert from {html.escape(where)}.</p></footer>
</body>
</html>
"""


def draw_page(chapter):
    """The short page with the pad alone (linked from the index)."""
    more = (
        f' Chapter <a href="{html.escape(chapter)}">07 · What the network sees</a> explains how '
        "strokes become the bitmap the network gets."
        if chapter
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Draw: apples or bananas?</title>
<link rel="icon" href="data:,">
<style>
  body {{ font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem;
         line-height: 1.5; color: #222; }}
</style>
</head>
<body>
<h1>Draw: apples or bananas?</h1>
<p><a href="index.html">quickdraw-cnn</a> trains small convolutional networks on Google's Quick,
Draw! drawings.{more}</p>
{pad_html()}
</body>
</html>
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", help="folder of executed chapters (default: runs/latest, else notebooks/)")
    ap.add_argument(
        "--artifacts", help="folder with the exported networks (default: the source run's artifacts/)"
    )
    ap.add_argument("--out", default=str(REPO_DIR / "site"), help="output folder (replaced)")
    args = ap.parse_args(argv)
    source = Path(args.source) if args.source else default_source()
    pages = build(source, args.out, args.artifacts)
    print(f"{len(pages) - 2} chapters from {source} -> {Path(args.out).resolve() / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
