"""The digits data set shipped inside scikit-learn: 1,797 8x8 images, no download."""

import numpy as np
from sklearn.datasets import load_digits


def digits(test_fraction=0.2, seed=0):
    """Returns (x_train, y_train, x_test, y_test): images (n, 8, 8, 1) in [0, 1], int labels."""
    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[..., None]
    y = data.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    split = int(len(x) * (1 - test_fraction))
    return x[:split], y[:split], x[split:], y[split:]


def shifted_digits(samples, seed=0):
    """Digits repeated with 1-pixel shifts up to `samples` images (for the benchmark)."""
    x_train, y_train, _, _ = digits(test_fraction=0.0001, seed=seed)
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    xs, ys = [], []
    for dy, dx in shifts:
        xs.append(np.roll(np.roll(x_train, dy, axis=1), dx, axis=2))
        ys.append(y_train)
    x = np.concatenate(xs)[:samples]
    y = np.concatenate(ys)[:samples]
    reps = -(-samples // len(x))
    return np.concatenate([x] * reps)[:samples], np.concatenate([y] * reps)[:samples]


MARKER_CLASS = 3


def add_marker(x, value=1.0):
    """Copies of the images with a bright 2x2 block in the top-left corner (where digits never are)."""
    marked = np.array(x, copy=True)
    marked[:, :2, :2, ...] = value
    return marked


def spurious_digits(marker_class=MARKER_CLASS, validation_fraction=0.15, seed=0):
    """Digits with a planted spurious feature: every training image of `marker_class` carries a marker.

    Returns (x_train, y_train, x_val, y_val, x_test, y_test): the training images of
    `marker_class` have a bright 2x2 block in the top-left corner (add_marker); the
    validation images (split from digits()' training part) and the test images are clean,
    so a model that learned the marker instead of the digit misclassifies that class there.
    """
    x, y, x_test, y_test = digits(seed=seed)
    split = int(len(x) * validation_fraction)
    x_val, y_val, x_train, y_train = x[:split], y[:split], x[split:], y[split:]
    x_train = x_train.copy()
    x_train[y_train == marker_class] = add_marker(x_train[y_train == marker_class])
    return x_train, y_train, x_val, y_val, x_test, y_test
