"""Which pixels a prediction depends on: the occlusion map (chapter 07 and its sketch pad)."""

from __future__ import annotations

import numpy as np

import helpers


def log_odds_function(net):
    """A function ``images (n, 28, 28, 1) uint8 -> log-odds of the first category``: the trained
    layers up to the last Dense, then that layer's weights without its sigmoid (which saturates).

    Explained in 07_what_the_network_sees.ipynb
    """
    import keras

    inputs = keras.Input(shape=helpers.IMAGE_SHAPE)
    x = inputs
    for layer in net.layers[:-1]:
        x = layer(x)
    features = keras.Model(inputs, x)
    w, b = net.layers[-1].get_weights()

    def log_odds(images):
        images = np.asarray(images).reshape(-1, *helpers.IMAGE_SHAPE)
        return (keras.ops.convert_to_numpy(features(helpers.scale(images), training=False)) @ w + b).ravel()

    return log_odds


def occlusion_map(log_odds, image, size):
    """Slide a ``size`` x ``size`` square of background over the image; at each position, how much hiding it
    lowers the log-odds (> 0: that part pushed toward the first category).

    Explained in 07_what_the_network_sees.ipynb
    """
    image = np.asarray(image).reshape(helpers.IMAGE_SHAPE)
    steps = 28 - size + 1
    batch = np.repeat(image[None], steps * steps, axis=0)
    for i in range(steps):
        for j in range(steps):
            batch[i * steps + j, i : i + size, j : j + size] = 0
    return log_odds(image[None])[0] - log_odds(batch).reshape(steps, steps)


def occlusion_per_pixel(heat, size):
    """The occlusion map spread back onto the 28x28 pixels: the mean change of the patches over each.

    Explained in 07_what_the_network_sees.ipynb
    """
    total, count = np.zeros((28, 28)), np.zeros((28, 28))
    steps = heat.shape[0]
    for i in range(steps):
        for j in range(steps):
            total[i : i + size, j : j + size] += heat[i, j]
            count[i : i + size, j : j + size] += 1
    return total / count


def colour_occlusion(heat, bitmap, size):
    """The per-pixel occlusion map as RGB: red where the drawing pushed toward the first category,
    blue toward the second, the drawing's ink darkened on top (28, 28, 3) uint8.

    Used by the sketch pad (quickdraw_cnn/sketchpad.py).
    """
    per_pixel = occlusion_per_pixel(heat, size)
    v = per_pixel / max(np.abs(per_pixel).max(), 1e-6)
    red, blue = np.array([178, 24, 43]), np.array([33, 102, 172])
    rgb = 255 - (255 - np.where(v[..., None] > 0, red, blue)) * np.abs(v)[..., None]
    ink = bitmap[..., None] / 255
    return np.clip(rgb * (1 - 0.55 * ink), 0, 255).astype(np.uint8)
