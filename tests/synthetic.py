"""Generated apple-, banana- and rainbow-like drawings, for tests on a clone with no real sample."""

import numpy as np

SYNTHETIC_ROWS = 2000


def draw_synthetic(kind, n, seed=0):
    """``n`` generated 28x28 drawings flattened to (n, 784) uint8: 'apple' (a ring with a stem),
    'rainbow' (three arcs) or 'banana' (a crescent), at random places and sizes, strokes 255 on 0,
    zero border."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28]
    out = np.zeros((n, 28, 28), np.float32)
    for i in range(n):
        cy, cx = rng.uniform(11, 17, 2)
        r = rng.uniform(6, 9)
        d = np.hypot(yy - cy, xx - cx)
        ring = np.clip(1.5 - np.abs(d - r), 0, 1)
        if kind == "apple":
            stem = (np.abs(xx - cx) < 1) & (yy < cy - r + 1) & (yy > cy - r - 3)
            img = np.maximum(ring, stem)
        elif kind == "rainbow":  # three concentric arcs, the upper half
            arcs = [np.clip(1.5 - np.abs(d - rr), 0, 1) for rr in (r, r - 2.5, r - 5)]
            img = np.max(arcs, axis=0) * (yy < cy + 1)
        elif kind != "banana":  # any other category: a polygon whose corners depend on the name
            corners = 3 + sum(map(ord, kind)) % 6
            angle = np.arctan2(yy - cy, xx - cx) + rng.uniform(-0.2, 0.2)
            sector = np.pi / corners
            edge = r * np.cos(sector) / np.maximum(np.cos((angle % (2 * sector)) - sector), 1e-3)
            img = np.clip(1.5 - np.abs(d - edge), 0, 1)
            if sum(map(ord, kind)) % 2:  # and for half of them a cross through the middle
                img = np.maximum(img, (np.abs(yy - cy) < 0.8) * (d < r))
        else:
            angle = np.arctan2(yy - cy, xx - cx) + rng.uniform(-0.5, 0.5)
            img = ring * (np.sin(angle) > 0.1)
            img = np.maximum(
                img,
                np.clip(1.5 - np.abs(np.hypot(yy - cy + r / 2, xx - cx) - r), 0, 1) * (np.sin(angle) > 0.5),
            )
        out[i] = img
    out[:, [0, 1, -2, -1], :] = 0
    out[:, :, [0, 1, -2, -1]] = 0
    out = np.round(out * 255)
    return out.reshape(n, 784).astype(np.uint8)
