"""Train on many categories with several worker processes (tf_keras + MultiWorkerMirroredStrategy).

Explained in 10_beyond_one_machine.ipynb.
"""

import argparse
import sys

from quickdraw_cnn import workers
from quickdraw_cnn.errors import QuickDrawError


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2, help="worker processes on 127.0.0.1")
    ap.add_argument("--classes", nargs="+", default=["cat", "dog", "fish"])
    ap.add_argument("--n", type=int, default=500, help="drawings per class, from row --offset")
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--data-dir", default="", help="folder with <category>.npy (default: as load_drawings)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32, help="per worker")
    ap.add_argument("--config", default="origin", help="a configuration of helpers.CONFIGS")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="CPU threads per worker")
    ap.add_argument("--timeout", type=float, default=300, help="seconds before all workers are stopped")
    ap.add_argument("--ports", type=int, nargs="+", help="one port per worker (default: free ones)")
    ap.add_argument("--fresh", action="store_true", help="start anew over the backup of another job")
    ap.add_argument("--out", default="runs/multiworker")
    try:
        result = workers.train(**vars(ap.parse_args(argv)))
    except (QuickDrawError, ValueError, TypeError) as e:
        print(f"multiworker: {e}", file=sys.stderr)
        return 1
    for r in result.reports:
        print(
            f"worker {r['index']}: epochs {r['epochs_run']}, {r['fit_seconds']:.1f} s, "
            f"{r['drawings_per_second']:,.0f} drawings/s (all workers), loss {r['history']['loss'][-1]:.4f}"
        )
    same = result.identical_weights
    print(f"{len(result.reports)} worker(s), {result.seconds:.1f} s in all; identical weights: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
