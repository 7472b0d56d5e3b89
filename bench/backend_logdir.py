"""The logdir of bench/backend.py: 20 runs x 11 steps with lineage, generated without training.

Each run is a small real Keras model for 8x8 digits (dense and CNN variants of
demo/models.py), built, not trained: its weights take a random walk, step by
step (steps 0..10), and at every step the run logs, through innspector_tb's
summary ops, the weights, the activations on a probe of 256 digits (with
labels, so class means too), the predictions, runtime statistics and, as
metrics, the loss and accuracy of those predictions. The same weights also go
out as TensorBoard histogram summaries (`weights/<layer>/<variable>`), so
TensorBoard's own histograms route has comparable data on the same logdir.

One run (`b_dense_big`) holds a 1000x1000 Dense kernel (1M elements).

    python bench/backend_logdir.py DIR      # writes DIR/<run> for the 20 runs
"""

import os
import sys
import time
import uuid

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras
import numpy as np
import tensorflow as tf
from keras import layers

import innspector_tb
from demo import data as demo_data
from demo import models as demo_models
from innspector_tb.capture import summary
from innspector_tb.format import stats

STEPS = 11  # steps 0..10
PROBE = 256
BIG_RUN = "b_dense_big"
BIG_LAYER = "dense_big"  # its kernel is 1000 x 1000
DONE_MARKER = ".backend_bench_complete"
_NAMESPACE = uuid.UUID("0f5a3c52-4f0e-4b7e-8d7c-2f1b1f6c9e01")


def dense(units, name):
    return keras.Sequential(
        [
            keras.Input(demo_models.INPUT_SHAPE, name="image"),
            layers.Flatten(name="flatten"),
            layers.Dense(units, activation="relu", name="dense_hidden"),
            layers.Dense(demo_models.CLASSES, activation="softmax", name="classifier"),
        ],
        name=name,
    )


def dense_big(name):
    """A 64 -> 1000 -> 1000 -> 10 MLP: dense_big/kernel has 1M elements."""
    return keras.Sequential(
        [
            keras.Input(demo_models.INPUT_SHAPE, name="image"),
            layers.Flatten(name="flatten"),
            layers.Dense(1000, activation="relu", name="dense_wide"),
            layers.Dense(1000, activation="relu", name=BIG_LAYER),
            layers.Dense(demo_models.CLASSES, activation="softmax", name="classifier"),
        ],
        name=name,
    )


def plan():
    """[(run, parent runs, builder)] of the 20 runs, parents first: four experiments."""
    cnn = demo_models.cnn
    return [
        # experiment a (6): a chain with a fan-out at the end
        ("a_dense_64", [], lambda: dense(64, "a_dense_64")),
        ("a_cnn_8", ["a_dense_64"], lambda: cnn((8,), 32, "a_cnn_8")),
        ("a_cnn_16_16", ["a_cnn_8"], lambda: cnn((16, 16), 64, "a_cnn_16_16")),
        ("a_cnn_bn_dropout", ["a_cnn_16_16"], demo_models.cnn_batchnorm_dropout),
        ("a_cnn_skip", ["a_cnn_16_16"], demo_models.cnn_skip),
        ("a_cnn_8_32", ["a_cnn_16_16"], lambda: cnn((8, 32), 64, "a_cnn_8_32")),
        # experiment b (5), with the 1M-element kernel
        ("b_dense_128", [], lambda: dense(128, "b_dense_128")),
        (BIG_RUN, ["b_dense_128"], lambda: dense_big(BIG_RUN)),
        ("b_cnn_4", ["b_dense_128"], lambda: cnn((4,), 32, "b_cnn_4")),
        ("b_cnn_8_8", ["b_cnn_4"], lambda: cnn((8, 8), 32, "b_cnn_8_8")),
        ("b_cnn_16_32", ["b_cnn_8_8"], lambda: cnn((16, 32), 64, "b_cnn_16_32")),
        # experiment c (5), with a merge (two parents)
        ("c_dense_32", [], lambda: dense(32, "c_dense_32")),
        ("c_cnn_8_d16", ["c_dense_32"], lambda: cnn((8,), 16, "c_cnn_8_d16")),
        ("c_cnn_12_d32", ["c_dense_32"], lambda: cnn((12,), 32, "c_cnn_12_d32")),
        ("c_cnn_skip", ["c_cnn_8_d16", "c_cnn_12_d32"], demo_models.cnn_skip),
        ("c_cnn_bn", ["c_cnn_skip"], demo_models.cnn_batchnorm_dropout),
        # experiment d (4)
        ("d_cnn_16", [], lambda: cnn((16,), 32, "d_cnn_16")),
        ("d_cnn_16_16_d64", ["d_cnn_16"], lambda: cnn((16, 16), 64, "d_cnn_16_16_d64")),
        ("d_cnn_skip", ["d_cnn_16_16_d64"], demo_models.cnn_skip),
        ("d_cnn_bn", ["d_cnn_skip"], demo_models.cnn_batchnorm_dropout),
    ]


def run_id(run):
    return str(uuid.uuid5(_NAMESPACE, run))


def probe(size=PROBE):
    """(x, y): `size` test digits balanced over classes."""
    _, _, x_test, y_test = demo_data.digits()
    keep = stats.balanced_indices(y_test, size)
    return x_test[keep], y_test[keep]


def _perturbed(weights, rng, step, scale):
    """Step `step` of a random walk from the initial weights (cumulative, in place)."""
    if step == 0:
        return weights
    result = []
    for w in weights:
        spread = scale * (float(np.std(w)) + 1e-3)
        result.append((w + rng.normal(0.0, spread, size=w.shape)).astype(w.dtype))
    return result


def _fix_batchnorm(model, weights):
    """Keeps moving variances positive after the walk (BatchNormalization divides by them)."""
    out, i = [], 0
    for layer in model.layers:
        for variable in layer.weights:
            w = weights[i]
            if isinstance(layer, layers.BatchNormalization) and "variance" in variable.name:
                w = np.abs(w) + 1e-3
            out.append(w)
            i += 1
    return out


def write_run(logdir, run, parents, build, x, y, seed):
    keras.utils.set_random_seed(seed)
    model = build()
    rng = np.random.default_rng(seed)
    head = innspector_tb.header(
        run,
        label="%s (generated, untrained)" % run,
        parents=[run_id(p) for p in parents],
        id=run_id(run),
        hparams={
            "batch_size": 32,
            "step_unit": "epoch",
            "epochs": STEPS - 1,
            "loss": {"name": "SparseCategoricalCrossentropy"},
            "output_activations": ["softmax"],
        },
    )
    trainable = int(sum(np.prod(v.shape) for v in model.trainable_weights))
    non_trainable = int(sum(np.prod(v.shape) for v in model.non_trainable_weights))
    scale = 0.02 + 0.01 * (seed % 5)  # runs drift at different speeds
    writer = summary.create_file_writer(os.path.join(logdir, run))
    weights = model.get_weights()
    with writer.as_default():
        summary.header(head)
        summary.architecture(model)
        summary.samples(x, y, class_names=[str(c) for c in range(demo_models.CLASSES)])
        for step in range(STEPS):
            weights = _fix_batchnorm(model, _perturbed(weights, rng, step, scale))
            model.set_weights(weights)
            start = time.perf_counter()
            y_pred = np.asarray(model(x, training=False))
            seconds = time.perf_counter() - start
            summary.weights(model, step=step)
            summary.activations(model, x, labels=y, step=step)
            summary.predictions(y_pred, step=step)
            summary.runtime(
                {
                    "params": {
                        "trainable": trainable,
                        "non_trainable": non_trainable,
                        "total": trainable + non_trainable,
                    },
                    "inference_seconds_per_sample": seconds / len(x),
                    "step_unit": "epoch",
                },
                step=step,
            )
            p = np.clip(y_pred[np.arange(len(y)), y], 1e-7, 1.0)
            summary.metrics(
                {"loss": float(-np.log(p).mean()), "accuracy": float((y_pred.argmax(axis=1) == y).mean())}, step=step
            )
            # TensorBoard's own histograms of the same weights, for its histograms route.
            for (layer_id, variable), array in summary.model_weights(model).items():
                tf.summary.histogram("weights/%s/%s" % (layer_id, variable), array, step=step)
    writer.close()
    return head


def generate(logdir, verbose=True):
    """Writes the 20 runs into logdir (reused if a previous generation completed). Returns seconds spent."""
    marker = os.path.join(logdir, DONE_MARKER)
    if os.path.exists(marker):
        return 0.0
    os.makedirs(logdir, exist_ok=True)
    start = time.perf_counter()
    x, y = probe()
    for seed, (run, parents, build) in enumerate(plan()):
        t = time.perf_counter()
        write_run(logdir, run, parents, build, x, y, seed)
        if verbose:
            print("  wrote %-18s in %.1fs" % (run, time.perf_counter() - t), flush=True)
    with open(marker, "w") as f:
        f.write("complete\n")
    return time.perf_counter() - start


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print("generated in %.0fs" % generate(sys.argv[1]))
