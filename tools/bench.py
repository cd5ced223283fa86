"""Benchmark of the series on this machine: `make bench` prints every figure, measured now.

1. wall time of the whole series at default parameters (what `make run` runs), and of each notebook,
   from scratch and again (a second `make run`, which finds 06's results in the experiment cache);
2. training time per epoch and drawings per second of each configuration, and both
   configurations' accuracy on an independent sample (rows 1,500-1,999) over three seeds;
3. peak memory (RSS) of the notebook kernels;
4. bytes a download of 1,500 + 1,500 drawings costs, through a local HTTP server that honours Range.

Targets it reports against (not tests): series under 60 s, peak RSS under 2 GB, download under 2.5 MB.
Data: $QUICKDRAW_DATA_DIR, else the shared sample beside the clone, else the data layer's defaults.
"""

import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the tests' local .npy server, found from this file

from npy_server import QuickDrawServer  # noqa: E402

import helpers  # noqa: E402
import quickdraw_data  # noqa: E402
import series  # noqa: E402

FULL_SIZES = {"apple": 113_462_128, "banana": 241_421_904}
SEEDS = (0, 1, 2)


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() \
        else platform.processor()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import keras
    import tensorflow as tf
    return (f"{platform.node()}: {cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.system()} "
            f"{platform.machine()}, Python {platform.python_version()}, TensorFlow {tf.__version__}, "
            f"Keras {keras.__version__}")


def download_bytes(data_dir, n=1500):
    """Bytes the server sent for ``n`` drawings per class, loaded into an empty cache."""
    srv = QuickDrawServer()
    saved = os.environ.pop("QUICKDRAW_DATA_DIR", None)  # or the folder would be read, not the server
    try:
        for category in FULL_SIZES:
            srv.serve(category, quickdraw_data.load_from_folder(data_dir, category))
        os.environ["QUICKDRAW_BASE_URL"] = srv.url
        with tempfile.TemporaryDirectory() as cache:
            for category in FULL_SIZES:
                quickdraw_data.load_drawings(category, n, cache_dir=cache, progress=False)
        return srv.sent(), len(srv.requests)
    finally:
        srv.close()
        os.environ.pop("QUICKDRAW_BASE_URL", None)
        if saved:
            os.environ["QUICKDRAW_DATA_DIR"] = saved


def main():
    data_dir = os.environ.get("QUICKDRAW_DATA_DIR") or str(REPO.parent / "shared/quickdraw/numpy_bitmap")
    local = Path(data_dir).is_dir()
    if local:
        os.environ["QUICKDRAW_DATA_DIR"] = data_dir
    print("machine:", machine(), flush=True)
    work = Path(tempfile.mkdtemp(prefix="quickdraw-bench-"))
    quiet = lambda *a, **k: None  # noqa: E731

    # An empty experiment cache of its own: the first run computes everything, as on a fresh clone;
    # the second run, in another run folder like a second `make run`, finds every result there.
    os.environ["QUICKDRAW_EXPERIMENT_CACHE"] = str(work / "experiment-cache")
    print("\n1. the whole series at default parameters (fresh artifacts, empty experiment cache)", flush=True)
    start = time.perf_counter()
    seconds = series.run_series(work / "default", {}, log=quiet, progress=False)
    total = time.perf_counter() - start
    for name, s in seconds.items():
        print(f"   {name:<34} {s:6.1f} s")
    core = sum(s for name, s in seconds.items() if name[:2] <= "05")
    print(f"   whole series from scratch: {total:.1f} s (01-05: {core:.1f} s; target under 60 s)")
    m = json.loads((work / "default/artifacts/metrics.json").read_text())
    print(f"   origin, test accuracy at 0.5: {m['test']['accuracy']:.2%}, astype(int): "
          f"{m['test']['accuracy_astype_int']:.2%}, train: {m['train']['accuracy']:.2%}")
    start = time.perf_counter()
    again = series.run_series(work / "rerun", {}, log=quiet, progress=False)
    rerun = time.perf_counter() - start
    print(f"   whole series again (a second make run: new run folder, shared experiment cache): "
          f"{rerun:.1f} s (06: {again.get('06_experiments.ipynb', 0):.1f} s)")

    if not local:
        print("\nno local folder of drawings (set QUICKDRAW_DATA_DIR): parts 2 and 4 need one; stopping")
        return
    print("\n2. both configurations, 3 seeds, independent sample = rows 1500-1999", flush=True)
    results = {}
    for seed in SEEDS:
        run = work / f"seed{seed}"
        series.run_series(run, {"seed": seed}, names=["02"], log=quiet, progress=False)
        series.run_series(run, {"seed": seed, "model": "both", "eval_data_dir": data_dir,
                                "eval_offset": 1500}, names=["04", "05"], log=quiet,
                          progress=False)
        for name in helpers.CONFIGS:
            h = json.loads((run / f"artifacts/history_{name}.json").read_text())
            mm = json.loads((run / f"artifacts/metrics_{name}.json").read_text())
            per_epoch = statistics.median(h["epoch_seconds"][1:])
            results.setdefault(name, []).append(
                (mm["independent"]["accuracy"], mm["test"]["accuracy"], per_epoch,
                 h["n_fit"] / per_epoch, h["fit_seconds"], h["epochs_run"]))
    print(f"   {'config':<9} {'independent acc (mean ± sd, n=1000)':>36} {'test acc':>9} "
          f"{'s/epoch':>8} {'drawings/s':>11} {'fit s':>6} {'epochs':>6}")
    for name, rows in results.items():
        cols = list(zip(*rows))
        print(f"   {name:<9} {statistics.mean(cols[0]):>27.2%} ± {statistics.stdev(cols[0]):.2%} "
              f"{statistics.mean(cols[1]):>9.2%} {statistics.mean(cols[2]):>8.2f} "
              f"{statistics.mean(cols[3]):>11,.0f} {statistics.mean(cols[4]):>6.1f} {cols[5][0]:>6}")
        print(f"   {'':<9} per seed {SEEDS}: " + ", ".join(f"{r[0]:.2%}" for r in rows))
    print("   target: improved at least 98.50% on the independent sample")

    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n3. peak memory: largest notebook kernel {peak:,.0f} MB RSS, this runner {own:,.0f} MB "
          "(target under 2 GB)")

    sent, requests = download_bytes(data_dir)
    assert requests > 0, "the download went nowhere near the server"
    full = sum(FULL_SIZES.values())
    print(f"\n4. download of 1,500 + 1,500 drawings through a local Range server: {sent:,} bytes "
          f"in {requests} requests ({sent / 1e6:.2f} MB; target under 2.5 MB), against {full:,} "
          f"bytes for the two full files ({full / sent:,.0f} times more)")
    print(f"\nrun folders: {work}")


if __name__ == "__main__":
    main()
