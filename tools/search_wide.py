"""Choose chapter 08's wide configuration on validation rows only: train each candidate, print its top-1.

Part of ``make bench``; explained in 08_many_categories.ipynb.
"""

import argparse
import sys

import numpy as np

import helpers
from quickdraw_cnn import multiclass
from quickdraw_cnn.data import SAMPLE_CATEGORIES
from quickdraw_cnn.experiments import run

# (name, changes to multiclass.WIDE, epochs): 08's configuration before this search, and neighbours of it
CANDIDATES = [
    ("24/48/96, 8 epochs", {}, 8),
    ("24/48/96, 5 epochs", {}, 5),
    ("16/32/64, 8 epochs", {"widths": [16, 32, 64]}, 8),
    ("32/64/128, 5 epochs", {"widths": [32, 64, 128]}, 5),
]


def split_rows(x, y, k, n, validation):
    """Per class, rows 0 .. n-validation-1 to fit on and the last ``validation`` rows to choose on."""
    rows = np.arange(k * n).reshape(k, n)
    fit, held = rows[:, : n - validation].ravel(), rows[:, n - validation :].ravel()
    return (x[fit], y[fit]), (x[held], y[held])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", nargs="+", default=SAMPLE_CATEGORIES)
    ap.add_argument("--n", type=int, default=1500, help="08's training rows per class, 0 .. n-1")
    ap.add_argument("--validation", type=int, default=150, help="the last rows of those, held out")
    ap.add_argument("--epochs", type=int, help="for a quick try: every candidate this many epochs")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    x, y = multiclass.load_many(args.classes, args.n)
    x = helpers.to_images(x)
    fit, held = split_rows(x, y, len(args.classes), args.n, args.validation)
    calls = [{"change": change, "epochs": args.epochs or epochs} for _, change, epochs in CANDIDATES]
    shared = {"seed": args.seed, "train": "fit", "score": ["validation"]}
    data = {"fit": fit, "validation": held}
    results = run(multiclass.wide_and_score, calls, version=multiclass.WIDE_VERSION, data=data, **shared)
    top1 = [multiclass.top_share(r, held[1], 1, "validation") for r in results]
    best = int(np.argmax(top1))
    e = np.sqrt(top1[best] * (1 - top1[best]) / len(held[1]))
    near = [i for i in range(len(top1)) if top1[i] >= top1[best] - e]
    chosen = min(near, key=lambda i: results[i]["seconds"])
    print(
        f"{len(args.classes)} classes, fit on {len(fit[1]):,} drawings, validation {len(held[1]):,}, "
        f"seed {args.seed}; e = {100 * e:.2f} points"
    )
    for (name, _, _), t, r in zip(CANDIDATES, top1, results):
        print(f"  {name:<22} validation top-1 {t:.2%}   fit {r['seconds']:4.0f} s, {r['params']:,} weights")
    print(f"chosen: {CANDIDATES[chosen][0]} (highest, or the cheapest within e of the highest)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
