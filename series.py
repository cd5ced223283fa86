"""Run the notebook series in order with papermill: ``python -m series [-p NAME VALUE ...]``.

Each run gets a folder ``runs/<date-time>/`` holding the executed notebooks,
``artifacts/`` (what one chapter hands to the next, figures included) and
``metrics.json``; ``runs/latest`` points at the newest. A ``-p`` parameter is
forwarded to every notebook that declares it; a name that no notebook declares is
an error. Values are Python literals (``5``, ``0.1``, ``"text"``, ``[1, 2]``), or
YAML lists like ``[cat, dog]``, or else plain strings. Relative paths in ``*_dir`` and
``*_path`` parameters are taken from where you run the command.

``--in-place`` re-executes the committed notebooks (at their default parameters) into a
temporary folder, and replaces the committed ones only when all of them succeeded.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import sys
import time
from pathlib import Path

import yaml

REPO_DIR = Path(__file__).resolve().parent
NOTEBOOK_DIR = REPO_DIR / "notebooks"


def notebooks(names=None):
    """The series' notebooks in order (``names`` keeps those whose name starts with one of them)."""
    found = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    if names:
        found = [p for p in found if any(p.name.startswith(n) for n in names)]
    if not found:
        raise SystemExit(f"no notebooks match {names!r} in {NOTEBOOK_DIR}")
    return found


def declared_parameters(path):
    """Names of the parameters a notebook declares in its cell tagged `parameters`."""
    import papermill as pm
    return set(pm.inspect_notebook(str(path)))


def run_series(run_dir, params=None, names=None, log=print):
    """Execute the notebooks into ``run_dir``/notebooks; return {notebook name: seconds}."""
    import papermill as pm
    params = {k: str(Path(v).expanduser().resolve()) if k.endswith(("_dir", "_path")) and v
              and isinstance(v, str) else v for k, v in (params or {}).items()}
    paths = notebooks(names)
    declared = {p: declared_parameters(p) for p in paths}
    unknown = set(params) - set().union(*declared.values())
    if unknown:
        raise SystemExit(f"no notebook declares the parameter(s) {sorted(unknown)}; "
                         f"known: {sorted(set().union(*declared.values()))}")
    run_dir = Path(run_dir).resolve()
    params.setdefault("artifacts_dir", str(run_dir / "artifacts"))
    for var in ("QUICKDRAW_DATA_DIR", "QUICKDRAW_CACHE_DIR"):  # kernels run in notebooks/
        if os.environ.get(var):
            os.environ[var] = str(Path(os.environ[var]).expanduser().resolve())
    os.environ.setdefault("QUICKDRAW_QUIET", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    seconds = {}
    for path in paths:
        out = run_dir / "notebooks" / path.name
        out.parent.mkdir(parents=True, exist_ok=True)
        mine = {k: v for k, v in params.items() if k in declared[path]}
        log(f"running {path.name} {mine if mine else ''}".rstrip(), flush=True)
        start = time.perf_counter()
        pm.execute_notebook(str(path), str(out), parameters=mine, kernel_name="python3",
                            cwd=str(NOTEBOOK_DIR), progress_bar=False, log_output=False,
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])
        seconds[path.name] = time.perf_counter() - start
    return seconds


def parse_value(text):
    """A -p value: a Python literal, else a YAML list or mapping, else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if text.strip().startswith(("[", "{")):
            return yaml.safe_load(text)
        return text


def parse_params(pairs):
    return {name: parse_value(value) for name, value in pairs}


def execute_in_place(log=print):
    """Re-execute the committed notebooks at their defaults (artifacts in ../artifacts); copy
    the results over the committed ones only if every notebook succeeded."""
    import tempfile
    with tempfile.TemporaryDirectory(prefix="quickdraw-notebooks-") as tmp:
        seconds = run_series(tmp, {"artifacts_dir": str(REPO_DIR / "artifacts")}, log=log)
        for path in notebooks():
            text = (Path(tmp) / "notebooks" / path.name).read_text()
            path.write_text(_without_injected_cell(text))
    return seconds


def _without_injected_cell(text):
    """Drop papermill's injected-parameters cell and its run metadata (temporary paths): the
    committed notebooks show their own defaults."""
    import nbformat
    nb = nbformat.reads(text, as_version=4)
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
    return nbformat.writes(nb) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                    metavar=("NAME", "VALUE"), help="forwarded to every notebook that declares it")
    ap.add_argument("--run-dir", help="output folder (default runs/<date-time>)")
    ap.add_argument("--only", nargs="*", help="run only notebooks whose name starts with these")
    ap.add_argument("--in-place", action="store_true",
                    help="re-execute the committed notebooks at their default parameters")
    args = ap.parse_args(argv)
    if args.in_place:
        if args.parameter or args.only or args.run_dir:
            ap.error("--in-place runs every notebook at its defaults: it takes no other option")
        seconds = execute_in_place()
        print(f"re-executed {len(seconds)} notebooks in place in {sum(seconds.values()):.0f} s")
        return 0
    params = parse_params(args.parameter)
    run_dir = Path(args.run_dir or REPO_DIR / "runs" / time.strftime("%Y%m%d-%H%M%S")).resolve()
    start = time.perf_counter()
    seconds = run_series(run_dir, params, args.only)
    total = time.perf_counter() - start
    latest = REPO_DIR / "runs" / "latest"
    if run_dir.parent == latest.parent:
        latest.unlink(missing_ok=True)
        latest.symlink_to(run_dir.name)
    artifacts = Path(params.get("artifacts_dir") or run_dir / "artifacts").expanduser().resolve()
    print(f"\nran {len(seconds)} notebooks in {total:.1f} s ("
          + ", ".join(f"{k[:2]}: {v:.1f} s" for k, v in seconds.items()) + ")")
    metrics_file = artifacts / "metrics.json"
    if any(name.startswith("05") for name in seconds) and metrics_file.is_file():
        shutil.copy(metrics_file, run_dir / "metrics.json")
        m = json.loads(metrics_file.read_text())
        print(f"model '{m['model']}': test accuracy {m['test']['accuracy']:.2%} (threshold 0.5) "
              f"on {m['test']['n']} drawings; the origin's astype(int) measure gives "
              f"{m['test']['accuracy_astype_int']:.2%}")
        for name, conf in m.get("configurations", {}).items():
            if "independent" in conf:
                print(f"  '{name}' on the independent sample: {conf['independent']['accuracy']:.2%} "
                      f"of {conf['independent']['n']} drawings")
    many_file = artifacts / "multiclass_metrics.json"
    if any(name.startswith("08") for name in seconds) and many_file.is_file():
        m = json.loads(many_file.read_text())
        for name, conf in m["configurations"].items():
            print(f"08, {len(m['categories'])} categories, '{name}': top-1 {conf['test']['top1']:.2%}, "
                  f"top-3 {conf['test']['top3']:.2%} on {conf['test']['n']} unseen drawings")
    print(f"executed notebooks: {run_dir / 'notebooks'}")
    print(f"artifacts and figures: {artifacts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
