"""Confusion matrix and per-class precision and recall, from logged labels and predictions."""

import numpy as np


def predicted_classes(y_prediction):
    """Class indices from model outputs: argmax over the last axis (a single column: threshold 0.5)."""
    y = np.asarray(y_prediction)
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, axis=1)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError("predictions of shape %s are not class scores" % (list(y.shape),))
    if y.dtype.kind == "f":
        return (y >= 0.5).astype(np.int64)
    return y.astype(np.int64)


def confusion(y_true, y_pred, classes):
    """Returns the [classes, classes] counts (rows: true class, columns: predicted) and class metrics."""
    classes = [int(c) for c in classes]
    index = {c: i for i, c in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for t, p in zip(np.asarray(y_true).tolist(), np.asarray(y_pred).tolist(), strict=True):
        if t in index and p in index:
            matrix[index[t], index[p]] += 1
    true_counts = matrix.sum(axis=1)
    predicted_counts = matrix.sum(axis=0)
    diagonal = np.diag(matrix)
    per_class = []
    for i, c in enumerate(classes):
        precision = diagonal[i] / predicted_counts[i] if predicted_counts[i] else None
        recall = diagonal[i] / true_counts[i] if true_counts[i] else None
        per_class.append(
            {
                "class": c,
                "support": int(true_counts[i]),
                "precision": None if precision is None else float(precision),
                "recall": None if recall is None else float(recall),
            }
        )
    total = int(matrix.sum())
    return {
        "classes": classes,
        "matrix": matrix.tolist(),
        "per_class": per_class,
        "accuracy": float(diagonal.sum() / total) if total else None,
    }
