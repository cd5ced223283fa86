"""Benchmark of the series on this machine: `make bench` prints every figure, measured now.

The series from scratch and again, seconds per epoch and accuracy per configuration, peak RSS, download
bytes, chapter 08 (cached, streamed) and multi-worker. Targets (reported, not tests): the series within 600 s,
06 within 300 s, a second run under 100 s, 08 and 10 within 180 s, peak RSS under 2 GB, download under 2.5 MB.
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
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import numpy as np

import helpers
from quickdraw_cnn import data as quickdraw_data
from quickdraw_cnn import multiclass, series

REPO = Path(__file__).resolve().parents[1]
FULL_SIZES = {"apple": 113_462_128, "banana": 241_421_904}
SEEDS = (0, 1, 2)


def machine():
    """One line: the host, CPU, cores, memory, versions and the device TensorFlow trains on."""
    import keras
    import tensorflow as tf

    info = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "")
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gpus = [g.name for g in tf.config.list_physical_devices("GPU")]
    return (
        f"{platform.node()}: {cpu or platform.processor()}, {os.cpu_count()} cores, {mem:.0f} GiB, "
        f"{platform.system()} {platform.machine()}, Python {platform.python_version()}, TensorFlow "
        f"{tf.__version__}, Keras {keras.__version__}; trains on {', '.join(gpus) or 'the CPU'}"
    )


class RangeFiles(BaseHTTPRequestHandler):
    """GET <name>.npy: the Range asked for of ``server.folder``'s file; body bytes sent in ``server.sent``."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = (self.server.folder / unquote(self.path.rsplit("/", 1)[-1])).read_bytes()
        first, _, last = self.headers.get("Range", "bytes=0-").removeprefix("bytes=").partition("-")
        first, last = int(first), min(int(last or len(body) - 1), len(body) - 1)
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {first}-{last}/{len(body)}")
        self.send_header("Content-Length", str(last + 1 - first))
        self.end_headers()
        self.wfile.write(body[first : last + 1])
        self.server.sent.append(last + 1 - first)


def download_bytes(data_dir, n=1500):
    """Bytes the server sent for ``n`` drawings per class loaded into an empty cache, and requests."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), RangeFiles)
    server.folder, server.sent = Path(data_dir), []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    saved = os.environ.pop("QUICKDRAW_DATA_DIR", None)  # or the folder would be read, not the server
    os.environ["QUICKDRAW_BASE_URL"] = f"http://127.0.0.1:{server.server_address[1]}/numpy_bitmap"
    try:
        with tempfile.TemporaryDirectory() as cache:
            for category in FULL_SIZES:
                quickdraw_data.load_drawings(category, n, cache_dir=cache, progress=False)
        return sum(server.sent), len(server.sent)
    finally:
        server.shutdown()
        os.environ.pop("QUICKDRAW_BASE_URL", None)
        os.environ.update({"QUICKDRAW_DATA_DIR": saved} if saved else {})


STREAM_PROBE = """
import json, resource, sys, time
from quickdraw_cnn import multiclass
classes, n, folder = json.loads(sys.argv[1])
start, seen = time.perf_counter(), 0
for images, labels in multiclass.stream(classes, n, 0, folder, batch_size=256):
    seen += len(labels)
print(json.dumps({"drawings": seen, "seconds": time.perf_counter() - start,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def probe(classes, n, folder):
    """Peak memory and speed of one streamed pass, in a fresh process (peak RSS is per process)."""
    command = [sys.executable, "-c", STREAM_PROBE, json.dumps([classes, n, str(folder)])]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_08(data_dir, work):
    """Part 5: 08 and 10 from scratch (an experiment cache of its own) and cached, their figures, and
    tools/search_wide.py (how 08's wide configuration is chosen: on validation rows)."""
    print("\n5. chapters 08 and 10, many categories and beyond one machine", flush=True)
    start, own = time.perf_counter(), {"QUICKDRAW_EXPERIMENT_CACHE": str(work / "experiment-cache-08")}
    series.run_series(work / "c08", {}, names=["08", "10"], log=quiet, env=own)
    scratch, start = time.perf_counter() - start, time.perf_counter()
    series.run_series(work / "c08", {}, names=["08", "10"], log=quiet, env=own)
    cached = time.perf_counter() - start
    print(
        f"   08 and 10: {scratch:.1f} s from scratch, {cached:.1f} s cached (targets: 180 s, a few seconds)"
    )
    print("   tools/search_wide.py (08's wide configuration, chosen on validation rows):", flush=True)
    subprocess.run(
        [sys.executable, str(REPO / "tools" / "search_wide.py")], check=True, env={**os.environ, **own}
    )
    m = json.loads((work / "c08/artifacts/multiclass_metrics.json").read_text())
    for name, c in m["configurations"].items():
        t = c["test"]
        top = f"top-1 {t['top1']:.2%} ± {t['top1_sd']:.2%}, top-3 {t['top3']:.2%} ± {t['top3_sd']:.2%}"
        print(f"   {name:<9} {top} (seeds {c['seeds']}, {c['epochs']} epochs, {t['n']:,} test drawings)")
    wide = m["configurations"]["wide"]["test"]["top1"]
    print(f"   wide, top-1 on the test rows (chosen on validation rows): {wide:.2%}")
    curve = ", ".join(f"{c}: {v['top1']:.2%} ({v['chance']:.1%})" for c, v in m["classes_curve"].items())
    print(f"   classes curve (origin, top-1, chance): {curve}")


def bench_stream(data_dir, work):
    """Part 5: the streamed pipeline on 1x, 10x and 100x the sample (its rows repeated, on disk)."""
    classes = quickdraw_data.SAMPLE_CATEGORIES
    rows = min(quickdraw_data.npy_layout(quickdraw_data.find_category_file(data_dir, c))[1] for c in classes)
    print(f"   streamed pipeline, {len(classes)} classes, each file's {rows:,} rows repeated 1-100 times")
    for factor in (1, 10, 100):
        folder = work / f"x{factor}"
        folder.mkdir()
        for c in classes:
            base = quickdraw_data.load_from_folder(data_dir, c, n=rows)
            with open(folder / f"{c}.npy", "wb") as fh:  # the header, then the rows, factor times
                header = {"descr": "|u1", "fortran_order": False, "shape": (rows * factor, 784)}
                np.lib.format.write_array_header_1_0(fh, header)
                for _ in range(factor):
                    fh.write(base.tobytes())
        s = probe(classes, rows * factor, folder)
        size = sum(f.stat().st_size for f in folder.iterdir()) / 1e6
        print(
            f"   {factor:>3}x: {s['drawings']:,} drawings, {size:,.0f} MB on disk; streamed: peak RSS "
            f"{s['peak_mb']:,.0f} MB, {s['drawings'] / s['seconds']:,.0f} drawings/s"
        )
        for f in folder.iterdir():
            f.unlink()


def bench_workers(data_dir, work):
    """Part 5: multi-worker training with 1 and 2 workers (one thread each)."""
    from quickdraw_cnn import workers

    classes = multiclass.SAMPLE_CATEGORIES
    print(f"   multi-worker training ({workers.ROUTE}), {len(classes)} classes x 500, 3 epochs, batch 32")
    for count in (1, 2):
        result = workers.train(classes, 500, 3, count, work / f"mw{count}", data_dir=data_dir, timeout=600)
        same = "" if count == 1 else f", identical weights: {result.identical_weights}"
        rate = result.reports[0]["drawings_per_second"]
        print(f"   {count} worker(s): {rate:,.0f} drawings/s in all, {result.seconds:.1f} s wall time{same}")


def bench_series(work):
    """Part 1: the whole series from scratch, then again (a second make run)."""
    print("\n1. the whole series at default parameters (fresh artifacts, empty experiment cache)", flush=True)
    start = time.perf_counter()
    seconds = series.run_series(work / "default", {}, log=quiet, progress=False)
    total = time.perf_counter() - start
    for name, s in seconds.items():
        print(f"   {name:<34} {s:6.1f} s")
    core, six = sum(s for n, s in seconds.items() if n[:2] <= "05"), seconds.get("06_experiments.ipynb", 0)
    print(f"   from scratch: {total:.1f} s (target 600 s); 01-05: {core:.1f} s, 06: {six:.1f} s (300 s)")
    m = json.loads((work / "default/artifacts/metrics.json").read_text())
    print(f"   origin, test accuracy at 0.5: {m['test']['accuracy']:.2%}")
    start = time.perf_counter()
    again = series.run_series(work / "rerun", {}, log=quiet, progress=False)
    rerun, six = time.perf_counter() - start, again.get("06_experiments.ipynb", 0)
    print(f"   again (new run folder, same experiment cache): {rerun:.1f} s (target 100 s; 06: {six:.1f} s)")


def bench_configurations(data_dir, work):
    """Part 2: both configurations over three seeds, with an independent sample (rows 1,500-1,999)."""
    print("\n2. both configurations, 3 seeds, independent sample = rows 1500-1999", flush=True)
    results = {}
    for seed in SEEDS:
        run, params = work / f"seed{seed}", {"seed": seed, "model": "both", "eval_offset": 1500}
        series.run_series(run, {"seed": seed}, names=["02"], log=quiet, progress=False)
        series.run_series(run, {**params, "eval_data_dir": data_dir}, ["04", "05"], log=quiet, progress=False)
        for name in helpers.CONFIGS:
            h = json.loads((run / f"artifacts/history_{name}.json").read_text())
            mm = json.loads((run / f"artifacts/metrics_{name}.json").read_text())
            epoch = statistics.median(h["epoch_seconds"][1:])
            row = (mm["independent"]["accuracy"], mm["test"]["accuracy"], epoch, h["n_fit"] / epoch)
            results.setdefault(name, []).append((*row, h["fit_seconds"], h["epochs_run"]))
    print(f"   {'config':<9} {'independent, mean ± sd':>23} {'test':>7} {'s/epoch':>8} {'drawings/s':>11}")
    for name, rows in results.items():
        c = [statistics.mean(col) for col in zip(*rows)]
        sd = statistics.stdev(r[0] for r in rows)
        print(f"   {name:<9} {c[0]:>15.2%} ± {sd:.2%} {c[1]:>7.2%} {c[2]:>8.2f} {c[3]:>11,.0f}")
        print(f"   {'':<9} per seed {SEEDS}: " + ", ".join(f"{r[0]:.2%}" for r in rows))
    print("   target: improved at least 98.50% on the independent sample")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only-08", action="store_true", help="run part 5 (chapter 08) alone")
    args = ap.parse_args(argv)
    data_dir = os.environ.get("QUICKDRAW_DATA_DIR") or str(REPO.parent / "shared/quickdraw/numpy_bitmap")
    local, strokes = Path(data_dir).is_dir(), Path(data_dir).parent / "simplified"  # 07's comparison
    if local:
        os.environ["QUICKDRAW_DATA_DIR"] = data_dir
        os.environ.setdefault("QUICKDRAW_STROKES_DIR", str(strokes))
    print("machine:", machine(), flush=True)
    work = Path(tempfile.mkdtemp(prefix="quickdraw-bench-"))
    # An empty experiment cache of its own: "from scratch" computes everything, as on a fresh clone;
    # a second run, in another run folder like a second `make run`, finds every result there.
    os.environ["QUICKDRAW_EXPERIMENT_CACHE"] = str(work / "experiment-cache")
    if not args.only_08:
        bench_series(work)
    if not local:
        return print("\nno local folder of drawings (set QUICKDRAW_DATA_DIR): parts 2, 4 and 5 need one")
    if not args.only_08:
        bench_configurations(data_dir, work)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"\n3. peak memory: largest notebook kernel {peak:,.0f} MB RSS, this runner {own:,.0f} MB")
        sent, requests = download_bytes(data_dir)
        full = sum(FULL_SIZES.values())
        print(
            f"\n4. download of 1,500 + 1,500 drawings through a local Range server: {sent:,} bytes in "
            f"{requests} requests ({sent / 1e6:.2f} MB; target 2.5 MB); the two full files: {full:,} bytes"
        )
    bench_08(data_dir, work)
    bench_stream(data_dir, work)
    bench_workers(data_dir, work)
    print(f"\nrun folders: {work}")


quiet = lambda *args, **kwargs: None


if __name__ == "__main__":
    main()
