"""The executed series as static HTML pages: `make html` (``--source``, ``--artifacts``, ``--out``)."""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import string
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

from quickdraw_cnn.errors import QuickDrawError, WriteError

REPO_DIR = Path(__file__).resolve().parents[1]
WEB_DIR = REPO_DIR / "web"  # the pad's scripts, the pages' templates, package.json for npm ci
COMMITTED_NETWORKS = WEB_DIR / "networks"  # the committed outputs' networks (make notebooks)
RUNTIME_DIR = WEB_DIR / "node_modules" / "onnxruntime-web" / "dist"
# What onnxruntime-web needs for its WebAssembly backend alone (checked in the browser test):
RUNTIME_FILES = ["ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"]
PAD_FILES = ["quickdraw.js", "pad.js", "pad.css"]
PAD_CHAPTER = "07_what_the_network_sees.ipynb"
CONFIG_ORDER = ("origin", "improved")  # helpers.CONFIGS' order (not imported: no Keras here)
NO_MODELS = "No network has been exported yet: run 04_training.ipynb (make run), then make html again."
CHAPTER = re.compile(r"^(\d\d|A\d)_[\w-]+\.ipynb$")  # chapters, then appendices
MARKER = ".made-by-make-html"  # in the folders of pages this script made: the only ones it empties
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
    found.sort(key=lambda p: p.name[0] == "A")  # the appendices after the chapters
    if not found:
        raise SystemExit(f"no chapters (NN_name.ipynb) in {source}: run `make run` first, or pass --source")
    return found


def title_and_line(nb):
    """The chapter's title (its first heading) and the first sentence under it."""
    lines = next((c.source for c in nb.cells if c.cell_type == "markdown"), "").splitlines()
    title = next((line.lstrip("#").strip() for line in lines if line.startswith("#")), "")
    prose = " ".join(line.strip() for line in lines if line.strip() and not line.startswith(("#", ">")))
    sentence = re.split(r"(?<=[.?])\s+(?=[A-Z(])", prose, maxsplit=1)[0] if prose else ""
    return title, re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", sentence)  # markdown links to their text


def link_chapters(nb, names):
    """Markdown links ``NN_name.ipynb[#anchor]`` to chapters of the site become ``NN_name.html``."""
    pattern = re.compile(r"(\]\(|href=\")((?:\d\d|A\d)_[\w-]+)\.ipynb(#[^)\"\s]*)?(?=[)\"\s])")

    def swap(m):
        return f"{m.group(1)}{m.group(2)}.html{m.group(3) or ''}" if f"{m.group(2)}.ipynb" in names else m[0]

    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = COLAB_BADGE.sub("", pattern.sub(swap, cell.source))
    return nb


# The chapters' "Open in Colab" badge is for readers on GitHub: the pages, offline, drop it.
COLAB_BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\(https://colab\.research\.google\.com/[^)]*\)\n?")


def unlink_missing(page, out_dir):
    """Drop the link (keep the text) of every relative href whose file is not in ``out_dir``."""
    dropped = []

    def check(m):
        href = html.unescape(m.group(2))
        target, outside = unquote(urlsplit(href).path), urlsplit(href).netloc or urlsplit(href).scheme
        if outside or href.startswith(("#", "//")) or not target or (out_dir / target).is_file():
            return m.group(0)
        dropped.append(href)
        return f"<a{m.group(1)}{m.group(3)}>"

    page = re.sub(r'<a([^>]*?)\shref="([^"]*)"([^>]*)>', check, page)
    return page, dropped


def default_artifacts(source):
    """The artifacts of the run whose notebooks are ``source`` (its sibling ``artifacts/``); for the
    committed notebooks, the networks their outputs were made with (``web/networks/``)."""
    if Path(source).resolve() == (REPO_DIR / "notebooks").resolve():
        return COMMITTED_NETWORKS
    return Path(source).resolve().parent / "artifacts"


def configuration_order(info):
    """Chapter by chapter, then helpers.CONFIGS' order (the pad's verdict is the first one's)."""
    name = info["configuration"]
    rank = next((k for k, known in enumerate(CONFIG_ORDER) if known in name), len(CONFIG_ORDER))
    return (str(info.get("made_by") or ""), rank, name)


def copy_pad(out_dir, artifacts_dir, runtime_dir=RUNTIME_DIR):
    """Copy the pad's scripts, the runtime and the exported networks into ``out_dir``; write
    ``models/models.json`` (the configurations, or why there are none). Returns that index."""
    runtime_dir, models = Path(runtime_dir), out_dir / "models"
    missing = [name for name in RUNTIME_FILES if not (runtime_dir / name).is_file()]
    if missing:
        raise SystemExit(f"onnxruntime-web is not in {runtime_dir}: run `npm ci` in web/ (make html does it)")
    (out_dir / "ort").mkdir()
    for name in RUNTIME_FILES:
        shutil.copyfile(runtime_dir / name, out_dir / "ort" / name)
    package = json.loads((runtime_dir.parent / "package.json").read_text())
    fields = {k: package[k] for k in ("name", "version")} | {"license": package.get("license", "MIT")}
    (out_dir / "ort" / "NOTICE.txt").write_text(fill("ort-notice.template.txt", **fields), encoding="utf-8")
    for name in PAD_FILES:
        shutil.copyfile(WEB_DIR / name, out_dir / name)
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


def pad_html():
    """The pad's markup: an element the script makes a pad, what a browser without scripts shows."""
    return fill("pad.template.html")


def put_pad_in(nb):
    """Chapter 07 with the page's pad in place of the notebook's widget (the cell that makes the
    ``SketchPad``, its output a widget or nothing), else at the end."""
    import nbformat

    widget = "application/vnd.jupyter.widget-view+json"
    shows = lambda c: not c.outputs or any(widget in o.get("data", {}) for o in c.outputs)
    is_pad = lambda c: "SketchPad(" in c.source and shows(c)
    cell = next((c for c in nb.cells if c.cell_type == "code" and is_pad(c)), None)
    if cell is None:
        nb.cells.append(cell := nbformat.v4.new_code_cell("# the pad of these pages"))
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": pad_html()})]
    nb.metadata.pop("widgets", None)  # no widget left: no widget manager from a CDN
    return nb


def build(source, out_dir, artifacts_dir=None, runtime_dir=RUNTIME_DIR):
    """Write the pages, index.html and draw.html into ``out_dir``; return the pages written."""
    import nbformat
    from nbconvert import HTMLExporter

    paths = chapters(source)
    names = {p.name for p in paths}
    out_dir = fresh_folder(out_dir)
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
    chapter = next((p.name for p in pages if p.stem == Path(PAD_CHAPTER).stem), None)
    (out_dir / "index.html").write_text(index_page(entries, source), encoding="utf-8")
    (out_dir / "draw.html").write_text(draw_page(chapter), encoding="utf-8")
    return [out_dir / "index.html", *pages, out_dir / "draw.html"]


def fill(template, **fields):
    """A page of web/``template`` with its ``$fields`` (and ``$credit``) filled in."""
    text = (WEB_DIR / template).read_text(encoding="utf-8")
    return string.Template(text).substitute(credit=CREDIT, **fields)


def index_page(entries, source):
    """index.html: each chapter's title and first sentence."""
    committed = Path(source).resolve() == (REPO_DIR / "notebooks").resolve()
    where = "the committed notebooks" if committed else f"the run {Path(source).resolve().parent.name}"
    link = '  <li><a href="{}">{}</a><br><span>{}</span></li>'
    items = "\n".join(link.format(*map(html.escape, entry)) for entry in entries)
    return fill("index.template.html", items=items, where=html.escape(where))


def draw_page(chapter):
    """The short page with the pad alone, linked from the index."""
    more = (
        f' Chapter <a href="{chapter}">07 · What the network sees</a> explains how strokes become the bitmap.'
    )
    return fill("draw.template.html", more=more if chapter else "", pad=pad_html())


def fresh_folder(out_dir):
    """``out_dir`` emptied for the pages, only if the pages made it (it holds MARKER) or it is empty:
    never a folder of something else (``HTML_DIR=.`` is the repository). Marked as the pages'."""
    out_dir = Path(out_dir).resolve()
    if (out_dir / MARKER).is_file():
        shutil.rmtree(out_dir)
    elif out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise WriteError(
            f"{out_dir} is not a folder of pages made by make html (no {MARKER} in it) and not empty: "
            "nothing was removed. Name a new or empty folder (make html HTML_DIR=site), or empty it yourself."
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MARKER).write_text("Made by tools/build_html.py (make html), which empties this folder.\n")
    return out_dir


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("--source", "--artifacts"):  # default: runs/latest, else notebooks/; its artifacts
        ap.add_argument(flag)
    ap.add_argument("--out", default=str(REPO_DIR / "site"), help="output folder (emptied if made here)")
    args = ap.parse_args(argv)
    source = Path(args.source) if args.source else default_source()
    try:
        pages = build(source, args.out, args.artifacts)
    except QuickDrawError as err:  # its message says what to do
        return print(err, file=sys.stderr) or 1
    print(f"{len(pages) - 2} chapters from {source} -> {Path(args.out).resolve() / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
