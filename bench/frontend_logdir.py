"""The logdirs of bench/frontend.py, written without training.

Large logdir (201 runs):
  big_1000     a Keras 3 functional model of exactly 1,000 layers (plus its Input `features`):
               `stem_dense`, 249 residual blocks in 10 stages of 25 (the last 24), named like
               Keras' ResNets: `stage_S_block_NNN_{dense,norm,relu,add}` (Dense(16),
               BatchNormalization with a small initial scale, ReLU Activation, Add of the
               block's input as the skip connection), then `head_norm`, `head_relu` and a
               10-way `classifier`. So blocks can be found from name prefixes at two depths
               (stage_2 > stage_2_block_031).
  m_000..m_199 200 small models (dense and convolutional variants for 8x8 digits, widths and
               depths varied) in 8 experiments of 25 runs; each experiment is a tree of
               lineage (a root, children, grandchildren, up to 4 generations; two runs of
               the tree have two parents).

Baseline logdir (`--baseline`): the demo's models (11 or so) and their lineage (demo/train.py's
experiments), built, not trained.

Every run gets, through innspector_tb's summary ops: its header, its architecture, runtime
statistics (parameter counts), and at step 0 its weights, its predictions on a probe of 32
digits and the loss and accuracy of those predictions (an untrained model: chance level).
`--no-weights` leaves the step-0 data out (header, architecture and runtime only).

    python bench/frontend_logdir.py DIR              # the 201 runs into DIR/<run>
    python bench/frontend_logdir.py --baseline DIR   # the demo's models into DIR/<run>
"""

import argparse
import os
import sys
import time
import uuid

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras
import numpy as np
from keras import layers

import innspector_tb
from demo import data as demo_data
from demo import models as demo_models
from demo import train as demo_train
from innspector_tb.capture import summary
from innspector_tb.format import stats

BIG_RUN = "big_1000"
BIG_LAYERS = 1000
BIG_WIDTH = 16
BLOCKS = (BIG_LAYERS - 4) // 4  # stem + 4 per block + head_norm, head_relu, classifier = 1000
BLOCKS_PER_STAGE = 25
SMALL_RUNS = 200
EXPERIMENTS = 8
MAX_DEPTH = 3  # generations 0..3: four levels
PROBE = 32
CLASSES = demo_models.CLASSES
DONE_MARKER = ".frontend_bench_complete"
BASELINE_MARKER = ".frontend_baseline_complete"
BASELINE_RUN = "cnn_skip"  # the demo's residual CNN: the demo-sized model of the baseline
_NAMESPACE = uuid.UUID("3c7e2a10-93b5-4f0c-bb61-5e2d0f9a4c17")

assert 1 + 4 * BLOCKS + 3 == BIG_LAYERS


def run_id(run):
    return str(uuid.uuid5(_NAMESPACE, run))


def small_run(i):
    return "m_%03d" % i


# ------------------------------------------------------------------ the 1,000-layer model


def _block_prefix(b):
    return "stage_%d_block_%03d" % (b // BLOCKS_PER_STAGE + 1, b)


def big_model():
    """A functional residual MLP of exactly BIG_LAYERS layers (the Input not counted)."""
    inputs = keras.Input((BIG_WIDTH * 4,), name="features")
    x = layers.Dense(BIG_WIDTH, name="stem_dense")(inputs)
    for b in range(BLOCKS):
        p = _block_prefix(b)
        skip = x
        h = layers.Dense(BIG_WIDTH, name=p + "_dense")(x)
        # A small initial scale of the residual branch (as in zero-init residual nets) keeps 249
        # untrained blocks from overflowing.
        h = layers.BatchNormalization(gamma_initializer=keras.initializers.Constant(0.02), name=p + "_norm")(h)
        h = layers.Activation("relu", name=p + "_relu")(h)
        x = layers.Add(name=p + "_add")([skip, h])
    x = layers.BatchNormalization(name="head_norm")(x)
    x = layers.Activation("relu", name="head_relu")(x)
    outputs = layers.Dense(CLASSES, activation="softmax", name="classifier")(x)
    model = keras.Model(inputs, outputs, name=BIG_RUN)
    assert len([layer for layer in model.layers if not isinstance(layer, layers.InputLayer)]) == BIG_LAYERS
    return model


# ------------------------------------------------------------------ the 200 small models


def small_model(i, rng):
    """A small dense or convolutional digits classifier, its size drawn from rng."""
    name = small_run(i)
    model_layers = [keras.Input(demo_models.INPUT_SHAPE, name="image")]
    if rng.random() < 0.5:
        model_layers.append(layers.Flatten(name="flatten"))
        for d in range(int(rng.integers(1, 4))):
            model_layers.append(
                layers.Dense(int(rng.choice([16, 32, 48, 64, 96])), activation="relu", name="dense_%d" % (d + 1))
            )
            if rng.random() < 0.25:
                model_layers.append(layers.Dropout(0.2, name="dropout_%d" % (d + 1)))
    else:
        for c in range(int(rng.integers(1, 3))):
            model_layers.append(
                layers.Conv2D(
                    int(rng.choice([4, 8, 16])), 3, padding="same", activation="relu", name="conv_%d" % (c + 1)
                )
            )
            if rng.random() < 0.3:
                model_layers.append(layers.BatchNormalization(name="batch_norm_%d" % (c + 1)))
        model_layers += [
            layers.MaxPooling2D(2, name="pool"),
            layers.Flatten(name="flatten"),
            layers.Dense(int(rng.choice([16, 32, 64])), activation="relu", name="dense_hidden"),
        ]
    model_layers.append(layers.Dense(CLASSES, activation="softmax", name="classifier"))
    return keras.Sequential(model_layers, name=name)


def lineage(rng):
    """{run: [parent runs]} of the 200 small runs: EXPERIMENTS trees, parents before children."""
    per = SMALL_RUNS // EXPERIMENTS
    parents, depth = {}, {}
    for e in range(EXPERIMENTS):
        members = [small_run(e * per + j) for j in range(per)]
        root = members[0]
        parents[root], depth[root] = [], 0
        for j, run in enumerate(members[1:], start=1):
            # Mostly branch from a recent model (deep chains), sometimes from an older one (fan-out).
            candidates = [m for m in members[:j] if depth[m] < MAX_DEPTH]
            recent = candidates[-3:]
            parent = (
                recent[int(rng.integers(len(recent)))]
                if rng.random() < 0.6
                else candidates[int(rng.integers(len(candidates)))]
            )
            parents[run], depth[run] = [parent], depth[parent] + 1
        # Two merges per experiment: a model derived from two earlier ones at the same depth.
        for run in members[-2:]:
            others = [
                m
                for m in members
                if m != run and m not in parents[run] and depth[m] == depth[run] - 1 and run not in parents[m]
            ]
            if others:
                parents[run].append(others[int(rng.integers(len(others)))])
    return parents


def small_plan(seed=0):
    """[(run, parent runs, experiment index, builder)] of the 200 small runs, parents first."""
    rng = np.random.default_rng(seed)
    parents = lineage(rng)
    per = SMALL_RUNS // EXPERIMENTS
    plan = []
    for i in range(SMALL_RUNS):
        model_rng = np.random.default_rng(seed * 1000 + i)
        plan.append((small_run(i), parents[small_run(i)], i // per, lambda i=i, r=model_rng: small_model(i, r)))
    return plan


# ------------------------------------------------------------------ writing runs


def probe(size=PROBE):
    _, _, x_test, y_test = demo_data.digits()
    keep = stats.balanced_indices(y_test, size)
    return x_test[keep], y_test[keep]


def write_run(logdir, head, model, x, y, step0=True):
    """Writes one run: header, architecture, runtime and (step0) weights, predictions, metrics at step 0."""
    trainable = int(sum(np.prod(v.shape) for v in model.trainable_weights))
    non_trainable = int(sum(np.prod(v.shape) for v in model.non_trainable_weights))
    writer = summary.create_file_writer(os.path.join(logdir, head["name"]))
    with writer.as_default():
        summary.header(head)
        summary.architecture(model)
        runtime = {
            "params": {"trainable": trainable, "non_trainable": non_trainable, "total": trainable + non_trainable},
            "step_unit": "epoch",
        }
        if step0:
            summary.samples(x, y, class_names=[str(c) for c in range(CLASSES)])
            start = time.perf_counter()
            outputs = model(x, training=False)
            outputs = [np.asarray(o) for o in outputs] if isinstance(outputs, (list, tuple)) else np.asarray(outputs)
            runtime["inference_seconds_per_sample"] = (time.perf_counter() - start) / len(x)
            summary.weights(model, step=0)
            summary.predictions(outputs, step=0)
            if isinstance(outputs, np.ndarray) and outputs.shape == (len(y), CLASSES):  # a classifier
                p = np.clip(outputs[np.arange(len(y)), y], 1e-7, 1.0)
                summary.metrics(
                    {"loss": float(-np.log(p).mean()), "accuracy": float((outputs.argmax(axis=1) == y).mean())}, step=0
                )
        summary.runtime(runtime, step=0)
    writer.close()


def _head(run, parents, label, **hparams):
    return innspector_tb.header(
        run,
        label=label,
        parents=[run_id(p) for p in parents],
        id=run_id(run),
        hparams=dict(
            batch_size=32,
            step_unit="epoch",
            loss={"name": "SparseCategoricalCrossentropy"},
            output_activations=["softmax"],
            **hparams,
        ),
    )


def generate(logdir, step0=True, verbose=True):
    """Writes big_1000 and m_000..m_199 into logdir (reused if complete). Returns seconds spent."""
    marker = os.path.join(logdir, DONE_MARKER)
    if os.path.exists(marker):
        return 0.0
    os.makedirs(logdir, exist_ok=True)
    start = time.perf_counter()
    x, y = probe()
    keras.utils.set_random_seed(0)
    model = big_model()
    write_run(
        logdir,
        _head(BIG_RUN, [], "Residual MLP of %d layers (%d blocks), generated, untrained" % (BIG_LAYERS, BLOCKS)),
        model,
        x.reshape(len(x), -1),
        y,
        step0,
    )
    keras.backend.clear_session()
    if verbose:
        print("  wrote %s in %.1fs" % (BIG_RUN, time.perf_counter() - start), flush=True)
    t = time.perf_counter()
    for i, (run, parents, experiment, build) in enumerate(small_plan()):
        keras.utils.set_random_seed(i)
        model = build()
        label = "experiment %d: %s" % (experiment, "root" if not parents else "from " + " + ".join(parents))
        write_run(logdir, _head(run, parents, label, experiment=experiment), model, x, y, step0)
        keras.backend.clear_session()
        if verbose and (i + 1) % 25 == 0:
            print("  wrote %d small runs in %.1fs" % (i + 1, time.perf_counter() - t), flush=True)
    with open(marker, "w") as f:
        f.write("complete\n")
    return time.perf_counter() - start


def baseline_entries():
    """The demo's models that are built (not derived from a trained parent, as the mitigated one is)."""
    return [e for e in demo_train.experiments() if not isinstance(e[2], demo_train.Mitigation)]


def generate_baseline(logdir, step0=True, verbose=True):
    """Writes the demo's models (untrained) with their headers into logdir. Returns seconds spent."""
    marker = os.path.join(logdir, BASELINE_MARKER)
    if os.path.exists(marker):
        return 0.0
    os.makedirs(logdir, exist_ok=True)
    start = time.perf_counter()
    x, y = probe()
    keras.utils.set_random_seed(0)
    for _experiment, head, build in baseline_entries():
        model = build()
        write_run(logdir, head, model, x, y, step0)
        keras.backend.clear_session()
    if verbose:
        print("  wrote %d demo models in %.1fs" % (len(baseline_entries()), time.perf_counter() - start), flush=True)
    with open(marker, "w") as f:
        f.write("complete\n")
    return time.perf_counter() - start


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logdir")
    parser.add_argument("--baseline", action="store_true", help="write the demo-sized baseline logdir instead")
    parser.add_argument("--no-weights", action="store_true", help="header, architecture and runtime only")
    args = parser.parse_args()
    if args.baseline:
        seconds = generate_baseline(args.logdir, step0=not args.no_weights)
    else:
        seconds = generate(args.logdir, step0=not args.no_weights)
    print("generated in %.1fs" % seconds)
