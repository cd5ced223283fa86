"""Run the notebook series in order with papermill: ``python -m series [-p NAME VALUE ...]``.

Each run gets a folder ``runs/<date-time>/`` holding the executed notebooks,
``artifacts/`` (what one chapter hands to the next, figures included) and
``metrics.json``; ``runs/latest`` points at the newest. A ``-p`` parameter is
forwarded to every notebook that declares it (values are read as YAML, as
papermill's own ``-p`` does); a name that no notebook declares is an error.
"""

from __future__ import annotations

import argparse
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


def run_series(run_dir, params=None, names=None, in_place=False, log=print):
    """Execute the notebooks into ``run_dir``; return {notebook name: seconds}."""
    import papermill as pm
    params = dict(params or {})
    paths = notebooks(names)
    declared = {p: declared_parameters(p) for p in paths}
    unknown = set(params) - set().union(*declared.values())
    if unknown:
        raise SystemExit(f"no notebook declares the parameter(s) {sorted(unknown)}; "
                         f"known: {sorted(set().union(*declared.values()))}")
    run_dir = Path(run_dir).resolve()
    if not in_place:
        params.setdefault("artifacts_dir", str(run_dir / "artifacts"))
    os.environ.setdefault("QUICKDRAW_QUIET", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    seconds = {}
    for path in paths:
        out = path if in_place else run_dir / "notebooks" / path.name
        out.parent.mkdir(parents=True, exist_ok=True)
        mine = {k: v for k, v in params.items() if k in declared[path]}
        log(f"running {path.name} {mine if mine else ''}".rstrip(), flush=True)
        start = time.perf_counter()
        pm.execute_notebook(str(path), str(out), parameters=mine, kernel_name="python3",
                            cwd=str(NOTEBOOK_DIR), progress_bar=False, log_output=False)
        seconds[path.name] = time.perf_counter() - start
    return seconds


def parse_params(pairs):
    return {name: yaml.safe_load(value) for name, value in pairs}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                    metavar=("NAME", "VALUE"), help="forwarded to every notebook that declares it")
    ap.add_argument("--run-dir", help="output folder (default runs/<date-time>)")
    ap.add_argument("--only", nargs="*", help="run only notebooks whose name starts with these")
    ap.add_argument("--in-place", action="store_true",
                    help="execute the committed notebooks in place (their outputs as GitHub shows them)")
    args = ap.parse_args(argv)
    params = parse_params(args.parameter)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = Path(args.run_dir or REPO_DIR / "runs" / stamp)
    start = time.perf_counter()
    seconds = run_series(run_dir, params, args.only, args.in_place)
    total = time.perf_counter() - start
    if not args.in_place:
        latest = REPO_DIR / "runs" / "latest"
        if run_dir.parent == latest.parent:
            latest.unlink(missing_ok=True)
            latest.symlink_to(run_dir.name)
    artifacts = Path(params.get("artifacts_dir") or
                     (NOTEBOOK_DIR / "../artifacts" if args.in_place else run_dir / "artifacts"))
    metrics_file = artifacts / "metrics.json"
    print(f"\nran {len(seconds)} notebooks in {total:.1f} s "
          + ", ".join(f"{k[:2]}: {v:.1f} s" for k, v in seconds.items()))
    if metrics_file.is_file():
        if not args.in_place:
            shutil.copy(metrics_file, run_dir / "metrics.json")
        m = json.loads(metrics_file.read_text())
        print(f"model '{m.get('model')}': test accuracy {m['test']['accuracy']:.4f} "
              f"(threshold 0.5) on {m['test']['n']} drawings; the origin's astype(int) "
              f"measure gives {m['test']['accuracy_astype_int']:.4f}")
    where = run_dir.resolve() if not args.in_place else NOTEBOOK_DIR
    print(f"executed notebooks: {where}")
    print(f"artifacts and figures: {artifacts.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
