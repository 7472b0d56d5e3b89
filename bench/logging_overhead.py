"""Cost of logging for iNNspector, measured side by side in one process.

A small CNN trains on digits repeated with 1-pixel shifts (10k samples per
epoch) in four ways, in rotating order, several rounds:
  bare        no callback
  keras_tb    Keras' TensorBoard callback with histogram_freq=1
  innspector  our callback at its defaults (a low-priority background writer thread; attribution maps
              on, as for every image classifier)
  no_attr     our callback with attributions=False (what the attribution maps cost is the difference)
  process     our callback with writer="process" (a low-priority writer process)
  sync        our callback with the writer run inline (what a naive synchronous writer costs)
It prints the median epoch time of each against the bare run, and our bytes
on disk per step against the raw float32 size of what was logged.

    python bench/logging_overhead.py [--rounds 3] [--epochs 4]

Epoch times exclude each fit's first epoch (graph tracing). Ratios only: the
machine is shared and noisy, absolute times mean little.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import h5py
import keras
import numpy as np
from keras import layers

import innspector_tb
from demo import data as demo_data
from innspector_tb.capture import background
from innspector_tb.capture.callback import InnspectorCallback
from innspector_tb.format import step_files

VARIANTS = ("bare", "keras_tb", "innspector", "no_attr", "process", "sync")


def small_cnn():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            layers.Conv2D(16, 3, padding="same", activation="relu", name="conv_1"),
            layers.MaxPooling2D(2, name="pool"),
            layers.Conv2D(32, 3, padding="same", activation="relu", name="conv_2"),
            layers.Flatten(name="flatten"),
            layers.Dense(64, activation="relu", name="dense"),
            layers.Dense(10, activation="softmax", name="classifier"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class EpochTimer(keras.callbacks.Callback):
    """Times epochs from begin to end, placed last so other callbacks' epoch-end work counts."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


class InlineWorker:
    """Runs each job at once on the training thread: the naive synchronous writer."""

    def __init__(self, max_pending=2, name=None):
        self.errors = []

    def submit(self, fn, *args, **kwargs):
        fn(*args, **kwargs)

    def flush(self):
        pass

    def close(self):
        pass


def run_variant(variant, x, y, probe, epochs, logdir):
    keras.utils.set_random_seed(0)
    model = small_cnn()
    original = background.BackgroundWorker
    if variant == "sync":
        background.BackgroundWorker = InlineWorker  # before the callback starts its writer
    try:
        callbacks = []
        if variant == "keras_tb":
            callbacks.append(keras.callbacks.TensorBoard(os.path.join(logdir, "keras_tb"), histogram_freq=1))
        elif variant in ("innspector", "no_attr", "process", "sync"):
            writer = "process" if variant == "process" else "thread"
            callbacks.append(
                InnspectorCallback(
                    os.path.join(logdir, variant),
                    innspector_tb.header(variant),
                    probe=probe,
                    writer=writer,
                    attributions=False if variant == "no_attr" else None,
                )
            )
        timer = EpochTimer()
        model.fit(x, y, epochs=epochs, batch_size=32, verbose=0, callbacks=callbacks + [timer])
    finally:
        background.BackgroundWorker = original
    return timer.times[1:]


def _dataset_names(f):
    """The path of every dataset in an open HDF5 file, hard-linked duplicates included."""
    names = []
    f.visititems_links(lambda name, link: names.append(name) if isinstance(f[name], h5py.Dataset) else None)
    return names


def disk_usage(run_dir):
    """(bytes on disk per logged step, raw float32 bytes per step) of one run.

    Raw size counts every logged array at its logged shape as float32, hard-linked
    duplicates included: that is what was logged, before deduplication and compression.
    """
    steps = step_files.list_step_files(run_dir)
    step_bytes = sum(os.path.getsize(os.path.join(run_dir, path)) for path in steps.values())
    event_bytes = sum(os.path.getsize(os.path.join(run_dir, n)) for n in os.listdir(run_dir) if "tfevents" in n)
    raw = 0
    for path in steps.values():
        with step_files.open_file(os.path.join(run_dir, path)) as f:
            raw += sum(int(np.prod(step_files.logical_shape(f, name))) * 4 for name in _dataset_names(f))
    return (step_bytes + event_bytes) / len(steps), raw / len(steps)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--samples", type=int, default=10_000)
    args = parser.parse_args()
    x, y = demo_data.shifted_digits(args.samples)
    _, _, x_test, y_test = demo_data.digits()
    probe = (x[:2048], y[:2048])  # the callback keeps 512, balanced over classes
    times = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="innspector-bench-") as tmp:
        for r in range(args.rounds):
            order = VARIANTS[r % len(VARIANTS) :] + VARIANTS[: r % len(VARIANTS)]
            for variant in order:
                logdir = os.path.join(tmp, "round_%d" % r)
                times[variant] += run_variant(variant, x, y, probe, args.epochs, logdir)
        per_step, raw = disk_usage(os.path.join(tmp, "round_0", "innspector"))
    bare = statistics.median(times["bare"])
    result = {v: statistics.median(times[v]) / bare for v in VARIANTS}
    print(
        "epochs measured per variant: %d (%d rounds x %d epochs, first of each fit excluded)"
        % (len(times["bare"]), args.rounds, args.epochs - 1)
    )
    print("median epoch time vs bare (lower is better):")
    for v in VARIANTS:
        print("  %-11s %.3fx" % (v, result[v]))
    print(
        "attribution maps at defaults: innspector / no_attr = %.3fx"
        % (statistics.median(times["innspector"]) / statistics.median(times["no_attr"]))
    )
    print(
        "innspector bytes on disk per step: %d; raw float32 size of what was logged: %d; ratio %.3f"
        % (per_step, raw, per_step / raw)
    )
    print(
        json.dumps(
            {
                "epoch_time_ratio": result,
                "bytes_per_step_ratio": per_step / raw,
                "attributions_ratio": statistics.median(times["innspector"]) / statistics.median(times["no_attr"]),
            }
        )
    )


if __name__ == "__main__":
    main()
