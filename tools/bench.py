"""Benchmark of the series on this machine: `make bench` prints every figure, measured now.

1. wall time of the whole series at default parameters (what `make run` runs), and of each notebook,
   from scratch and again (a second `make run`, which finds 06's results in the experiment cache);
2. training time per epoch and drawings per second of each configuration, and both
   configurations' accuracy on an independent sample (rows 1,500-1,999) over three seeds;
3. peak memory (RSS) of the notebook kernels;
4. bytes a download of 1,500 + 1,500 drawings costs, through a local HTTP server that honours Range;
5. chapter 08: its wall time from scratch and cached; the streamed pipeline's peak memory and
   drawings/s at 1x, 10x and 100x the sample (stand-ins: files of the sample's rows repeated); and
   drawings/s and wall time of multi-worker training with 1 and 2 workers (one thread each).

`python tools/bench.py --only-08` runs parts 5 and 6 alone.

6. independent trainings side by side (quickdraw_cnn.experiments.run): the same grid of
   trainings one by one in this process and side by side, one process per core, and the speed-up.

Targets it reports against (not tests): 06 from scratch at most 300 s, the whole series at most
720 s, a second run under 100 s, 08 within 5 minutes with the wide configuration at 93% top-1 or
more, peak RSS under 2 GB, download under 2.5 MB. The device TensorFlow trains on is printed first.
Data: $QUICKDRAW_DATA_DIR, else the shared sample beside the clone, else the data layer's defaults;
strokes for 07: $QUICKDRAW_STROKES_DIR, else the folder simplified/ beside the drawings' folder.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the tests' local .npy server, found from this file

from npy_server import QuickDrawServer  # noqa: E402

import helpers  # noqa: E402
from quickdraw_cnn import data as quickdraw_data  # noqa: E402
from quickdraw_cnn import (
    multiclass,  # noqa: E402
    series,  # noqa: E402
)

FULL_SIZES = {"apple": 113_462_128, "banana": 241_421_904}
SEEDS = (0, 1, 2)


def machine():
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor()
    )
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    device = f"GPU ({', '.join(g.name for g in gpus)})" if gpus else "CPU (TensorFlow finds no GPU)"
    return (
        f"{platform.node()}: {cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.system()} "
        f"{platform.machine()}, Python {platform.python_version()}, TensorFlow {tf.__version__}, "
        f"Keras {keras.__version__}; trains on {device}"
    )


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


STREAM_PROBE = """
import json, resource, sys, time
from quickdraw_cnn import multiclass
classes, n, folder, mode = json.loads(sys.argv[1])
start, seen = time.perf_counter(), 0
if mode == "stream":
    for images, labels in multiclass.stream(classes, n, 0, folder, batch_size=256):
        seen += len(labels)
else:
    x, y = multiclass.load_many(classes, n, 0, folder)
    seen = len(y)
print(json.dumps({"drawings": seen, "seconds": time.perf_counter() - start,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def probe(classes, n, folder, mode):
    """Peak memory and speed of one pass, in a fresh process (peak RSS is per process)."""
    out = subprocess.run(
        [sys.executable, "-c", STREAM_PROBE, json.dumps([classes, n, str(folder), mode])],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_08(data_dir, work):
    quiet = lambda *a, **k: None  # noqa: E731
    print("\n5. chapters 08 and 10, many categories and beyond one machine", flush=True)
    # An experiment cache of its own: part 1 ran 08 too and filled the other one, and "from
    # scratch" must train everything.
    own = work / "experiment-cache-08"
    assert not own.exists(), f"{own} exists: 08 would not run from scratch"
    with series._environment("QUICKDRAW_EXPERIMENT_CACHE", str(own)):
        start = time.perf_counter()
        series.run_series(work / "c08", {}, names=["08", "10"], log=quiet)
        scratch = time.perf_counter() - start
        start = time.perf_counter()
        series.run_series(work / "c08", {}, names=["08", "10"], log=quiet)
        cached = time.perf_counter() - start
        print("   tools/search_wide.py (08's wide configuration, chosen on validation rows):", flush=True)
        subprocess.run([sys.executable, str(REPO / "tools" / "search_wide.py")], check=True)
    print(
        f"   08 and 10 at default parameters: {scratch:.1f} s from scratch, {cached:.1f} s cached "
        "(targets: at most 180 s together, a few seconds)"
    )
    m = json.loads((work / "c08/artifacts/multiclass_metrics.json").read_text())
    for name, c in m["configurations"].items():
        t = c["test"]
        print(
            f"   {name:<9} top-1 {t['top1']:.2%} ± {t['top1_sd']:.2%}, top-3 {t['top3']:.2%} ± "
            f"{t['top3_sd']:.2%} (seeds {c['seeds']}, {c['epochs']} epochs, {t['n']:,} test drawings, "
            f"fit {c['fit_seconds']:.0f} s a seed)"
        )
    wide = m["configurations"]["wide"]["test"]["top1"]
    print(f"   wide, top-1 on the test rows (mean over its seeds; chosen on validation rows): {wide:.2%}")
    print(
        "   classes curve (origin, top-1): "
        + ", ".join(f"{c}: {v['top1']:.2%} (chance {v['chance']:.1%})" for c, v in m["classes_curve"].items())
    )

    classes = quickdraw_data.SAMPLE_CATEGORIES
    rows = min(quickdraw_data.npy_layout(quickdraw_data.find_category_file(data_dir, c))[1] for c in classes)
    print(
        f"   streamed pipeline, {len(classes)} classes; stand-ins for more data: each file's {rows:,} rows "
        "repeated 10 and 100 times (files on disk, as big as that many real rows)"
    )
    print(
        f"   {'data':>5} {'drawings':>11} {'on disk':>9} {'stream: peak RSS':>17} {'drawings/s':>11} "
        f"{'in memory: peak RSS':>20}"
    )
    for factor in (1, 10, 100):
        folder = work / f"x{factor}"
        folder.mkdir()
        for c in classes:
            base = quickdraw_data.load_from_folder(data_dir, c, n=rows)
            with open(folder / f"{c}.npy", "wb") as fh:  # the header, then the rows, factor times
                np.lib.format.write_array_header_1_0(
                    fh, {"descr": "|u1", "fortran_order": False, "shape": (rows * factor, 784)}
                )
                for _ in range(factor):
                    fh.write(base.tobytes())
        s = probe(classes, rows * factor, folder, "stream")
        mem = probe(classes, rows * factor, folder, "memory") if factor <= 10 else None
        size = sum(f.stat().st_size for f in folder.iterdir())
        in_memory = f"{mem['peak_mb']:,.0f} MB" if mem else f"(not run: {size / 1e9:.1f} GB)"
        print(
            f"   {factor:>4}x {s['drawings']:>11,} {size / 1e6:>7,.0f} MB {s['peak_mb']:>14,.0f} MB "
            f"{s['drawings'] / s['seconds']:>11,.0f} {in_memory:>20}"
        )
        for f in folder.iterdir():
            f.unlink()

    from quickdraw_cnn import workers

    print(
        f"   multi-worker training (quickdraw_cnn.workers, {workers.ROUTE}), {len(classes)} classes x 500 "
        "drawings, 3 epochs, batch 32 per worker, one thread per worker (drawings/s of epochs 2-3)"
    )
    for count in (1, 2):
        result = workers.train(classes, 500, 3, count, work / f"mw{count}", data_dir=data_dir, timeout=600)
        rate = result.reports[0]["drawings_per_second"]
        print(
            f"   {count} worker(s): {rate:,.0f} drawings/s in all, {result.seconds:.1f} s wall time"
            + ("" if count == 1 else f", identical weights: {result.identical_weights}")
        )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only-08", action="store_true", help="run parts 5 (chapter 08) and 6 alone")
    args = ap.parse_args(argv)
    data_dir = os.environ.get("QUICKDRAW_DATA_DIR") or str(REPO.parent / "shared/quickdraw/numpy_bitmap")
    local = Path(data_dir).is_dir()
    if local:
        os.environ["QUICKDRAW_DATA_DIR"] = data_dir
        strokes = Path(data_dir).parent / "simplified"  # the sample's strokes, for 07's comparison
        if strokes.is_dir():
            os.environ.setdefault("QUICKDRAW_STROKES_DIR", str(strokes))
    print("machine:", machine(), flush=True)
    work = Path(tempfile.mkdtemp(prefix="quickdraw-bench-"))
    # An empty experiment cache of its own, for every part: "from scratch" computes everything, as on
    # a fresh clone (never the warm shared cache of an earlier `make run`); a second run, in another
    # run folder like a second `make run`, finds every result there.
    os.environ["QUICKDRAW_EXPERIMENT_CACHE"] = str(work / "experiment-cache")
    quiet = lambda *a, **k: None  # noqa: E731
    if args.only_08:
        if not local:
            print("part 5 needs a local folder of drawings: set QUICKDRAW_DATA_DIR")
            return
        bench_08(data_dir, work)
        bench_side_by_side(data_dir, work)
        print(f"\nrun folders: {work}")
        return

    print("\n1. the whole series at default parameters (fresh artifacts, empty experiment cache)", flush=True)
    start = time.perf_counter()
    seconds = series.run_series(work / "default", {}, log=quiet, progress=False)
    total = time.perf_counter() - start
    for name, s in seconds.items():
        print(f"   {name:<34} {s:6.1f} s")
    core = sum(s for name, s in seconds.items() if name[:2] <= "05")
    print(
        f"   whole series from scratch: {total:.1f} s (target at most 720 s; 01-05: {core:.1f} s, "
        f"06: {seconds.get('06_experiments.ipynb', 0):.1f} s, target at most 300 s)"
    )
    m = json.loads((work / "default/artifacts/metrics.json").read_text())
    print(
        f"   origin, test accuracy at 0.5: {m['test']['accuracy']:.2%}, astype(int): "
        f"{m['test']['accuracy_astype_int']:.2%}, train: {m['train']['accuracy']:.2%}"
    )
    start = time.perf_counter()
    again = series.run_series(work / "rerun", {}, log=quiet, progress=False)
    rerun = time.perf_counter() - start
    print(
        f"   whole series again (a second make run: new run folder, shared experiment cache): "
        f"{rerun:.1f} s (target under 100 s; 06: {again.get('06_experiments.ipynb', 0):.1f} s)"
    )

    if not local:
        print("\nno local folder of drawings (set QUICKDRAW_DATA_DIR): parts 2 and 4 need one; stopping")
        return
    print("\n2. both configurations, 3 seeds, independent sample = rows 1500-1999", flush=True)
    results = {}
    for seed in SEEDS:
        run = work / f"seed{seed}"
        series.run_series(run, {"seed": seed}, names=["02"], log=quiet, progress=False)
        series.run_series(
            run,
            {"seed": seed, "model": "both", "eval_data_dir": data_dir, "eval_offset": 1500},
            names=["04", "05"],
            log=quiet,
            progress=False,
        )
        for name in helpers.CONFIGS:
            h = json.loads((run / f"artifacts/history_{name}.json").read_text())
            mm = json.loads((run / f"artifacts/metrics_{name}.json").read_text())
            per_epoch = statistics.median(h["epoch_seconds"][1:])
            results.setdefault(name, []).append(
                (
                    mm["independent"]["accuracy"],
                    mm["test"]["accuracy"],
                    per_epoch,
                    h["n_fit"] / per_epoch,
                    h["fit_seconds"],
                    h["epochs_run"],
                )
            )
    print(
        f"   {'config':<9} {'independent acc (mean ± sd, n=1000)':>36} {'test acc':>9} "
        f"{'s/epoch':>8} {'drawings/s':>11} {'fit s':>6} {'epochs':>6}"
    )
    for name, rows in results.items():
        cols = list(zip(*rows))
        print(
            f"   {name:<9} {statistics.mean(cols[0]):>27.2%} ± {statistics.stdev(cols[0]):.2%} "
            f"{statistics.mean(cols[1]):>9.2%} {statistics.mean(cols[2]):>8.2f} "
            f"{statistics.mean(cols[3]):>11,.0f} {statistics.mean(cols[4]):>6.1f} {cols[5][0]:>6}"
        )
        print(f"   {'':<9} per seed {SEEDS}: " + ", ".join(f"{r[0]:.2%}" for r in rows))
    print("   target: improved at least 98.50% on the independent sample")

    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\n3. peak memory: largest notebook kernel {peak:,.0f} MB RSS, this runner {own:,.0f} MB "
        "(target under 2 GB)"
    )

    sent, requests = download_bytes(data_dir)
    assert requests > 0, "the download went nowhere near the server"
    full = sum(FULL_SIZES.values())
    print(
        f"\n4. download of 1,500 + 1,500 drawings through a local Range server: {sent:,} bytes "
        f"in {requests} requests ({sent / 1e6:.2f} MB; target under 2.5 MB), against {full:,} "
        f"bytes for the two full files ({full / sent:,.0f} times more)"
    )
    bench_08(data_dir, work)
    bench_side_by_side(data_dir, work)
    print(f"\nrun folders: {work}")


def bench_side_by_side(data_dir, work):
    """The same four trainings (the origin's recipe: 2 classes x 1,500 drawings, 25 epochs, seeds
    0-3) one by one in this process and side by side, one process per core, each into an empty
    experiment cache. The pool's start (fresh processes importing TensorFlow) is part of its time."""
    from quickdraw_cnn.experiments import run

    print(
        "\n6. four trainings of the origin network (25 epochs, 3,000 drawings), experiments.run", flush=True
    )
    x, y = multiclass.load_many(["apple", "banana"], 1500, data_dir=data_dir)
    data = {"train": (helpers.to_images(x), y)}
    calls = [{"config": "origin", "epochs": 25, "seed": s, "train": "train"} for s in range(4)]
    times = {}
    for count, groups in ((1, [[c] for c in calls]), (os.cpu_count() or 1, [calls])):
        os.environ["QUICKDRAW_EXPERIMENT_CACHE"] = str(work / f"side-by-side-{count}")
        start = time.perf_counter()
        for group in groups:  # one call at a time runs in this process; more, one process per core
            run(helpers.train_and_score, group, data=data)
        times[count] = time.perf_counter() - start
        print(f"   {count} process(es) at a time: {times[count]:.1f} s")
    if len(times) > 1:
        print(f"   speed-up with {max(times)} cores: {times[1] / times[max(times)]:.2f}x")


if __name__ == "__main__":
    main()
