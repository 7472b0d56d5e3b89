"""Cost of logging for iNNspector, measured side by side in one process.

CNNs train on digits repeated with 1-pixel shifts (10k samples per epoch, 8x8x1):
  small       conv 16 -> max-pool 2 -> conv 32 -> dense 64 -> softmax 10, batch 32 (target <= 1.03x)
  wide        the same with conv 32 -> max-pool 2 -> conv 64 -> dense 128, batch 64 (issue "Real
              scale": target <= 1.05x, bytes on disk per step <= 0.5x the raw float32 size logged)
The small CNN trains in the ways below, the wide one in the first, third and fourth (bare, innspector,
no_attr), in rotating order, several rounds, the models' fits interleaved:
  bare        no callback
  keras_tb    Keras' TensorBoard callback with histogram_freq=1
  innspector  our callback at its defaults (a low-priority background writer thread; attribution maps
              on, as for every image classifier)
  no_attr     our callback with attributions=False (what the attribution maps cost is the difference)
  process     our callback with writer="process" (a low-priority writer process)
  sync        our callback with the writer run inline (what a naive synchronous writer costs)
It prints, per model, the mean epoch time of each against the bare run of the same model (a mean: at the
default time budget, 3% of training, logged steps are paced to every k-th epoch, so a median would hide
them), which epochs were logged, and our bytes on disk per step against the raw float32 size of what was
logged.

    python bench/logging_overhead.py [--rounds 3] [--epochs 20] [--models small,wide]

Epoch times exclude each fit's first epoch (graph tracing) and its last (our callback visualises features
at the last logged step by default: a one-time cost, traced then, of 1-3 s on these models, which would
otherwise be a third of the epochs measured). Ratios only: the
machine is shared and noisy, absolute times mean little; the CPU seconds of the
process per epoch are printed as a second ratio, less disturbed by other jobs.
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
from innspector_tb.capture import background, error_log
from innspector_tb.capture.callback import InnspectorCallback
from innspector_tb.format import step_files

VARIANTS = ("bare", "keras_tb", "innspector", "no_attr", "process", "sync")


def cnn(filters=(16, 32), dense=64):
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            layers.Conv2D(filters[0], 3, padding="same", activation="relu", name="conv_1"),
            layers.MaxPooling2D(2, name="pool"),
            layers.Conv2D(filters[1], 3, padding="same", activation="relu", name="conv_2"),
            layers.Flatten(name="flatten"),
            layers.Dense(dense, activation="relu", name="dense"),
            layers.Dense(10, activation="softmax", name="classifier"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def small_cnn():
    return cnn((16, 32), 64)


def wide_cnn():
    return cnn((32, 64), 128)


# name: (build, batch size, variants, targets {measure: at most})
MODELS = {
    "small": (small_cnn, 32, VARIANTS, {"innspector": 1.03}),
    "wide": (wide_cnn, 64, ("bare", "innspector", "no_attr"), {"innspector": 1.05, "bytes": 0.5}),
}


class EpochTimer(keras.callbacks.Callback):
    """Times epochs from begin to end, placed last so other callbacks' epoch-end work counts.

    Wall seconds, and CPU seconds of this process (every thread: training, our writer thread; not a
    writer process), which other jobs on the machine disturb less.
    """

    def __init__(self):
        super().__init__()
        self.times = []
        self.cpu = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._cpu = time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)
        self.cpu.append(time.process_time() - self._cpu)


class InlineWorker:
    """Runs each job at once on the training thread: the naive synchronous writer."""

    def __init__(self, max_pending=2, name=None):
        self.errors = error_log.ErrorLog()

    def submit(self, fn, *args, **kwargs):
        fn(*args, **kwargs)

    def flush(self):
        pass

    def close(self):
        pass


def run_variant(variant, x, y, probe, epochs, logdir, build=small_cnn, batch_size=32):
    keras.utils.set_random_seed(0)
    model = build()
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
        model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=callbacks + [timer])
    finally:
        background.BackgroundWorker = original
    # Neither the first epoch (tracing) nor the last (the one-time feature visualisations of our callback).
    return timer.times[1:-1], timer.cpu[1:-1]


def _dataset_names(f):
    """The path of every dataset in an open HDF5 file, hard-linked duplicates included."""
    names = []
    f.visititems_links(lambda name, link: names.append(name) if isinstance(f[name], h5py.Dataset) else None)
    return names


def disk_usage(run_dir):
    """(bytes on disk per logged step, raw float32 bytes per step, the logged steps) of one run.

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
    return (step_bytes + event_bytes) / len(steps), raw / len(steps), sorted(steps)


def _target(value, limit):
    return "" if limit is None else "  (target <= %.2fx: %s)" % (limit, "met" if value <= limit else "MISSED")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--epochs", type=int, default=20, help="per fit; the first and the last are left out (paced: enough for k)"
    )
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--models", default="small,wide", help="comma-separated, of: %s" % ", ".join(MODELS))
    args = parser.parse_args()
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown or not names:
        parser.error("--models: choose from %s, got %r" % (", ".join(MODELS), args.models))
    started = time.perf_counter()
    x, y = demo_data.shifted_digits(args.samples)
    probe = (x[:2048], y[:2048])  # the callback keeps 512, balanced over classes
    times = {(m, v): [] for m in names for v in MODELS[m][2]}
    cpu = {key: [] for key in times}
    usage = {}
    with tempfile.TemporaryDirectory(prefix="innspector-bench-") as tmp:
        for r in range(args.rounds):
            for name in names:
                build, batch_size, variants, _ = MODELS[name]
                order = variants[r % len(variants) :] + variants[: r % len(variants)]
                for variant in order:
                    logdir = os.path.join(tmp, name, "round_%d" % r)
                    wall, seconds = run_variant(
                        variant, x, y, probe, args.epochs, logdir, build=build, batch_size=batch_size
                    )
                    times[name, variant] += wall
                    cpu[name, variant] += seconds
        for name in names:
            usage[name] = disk_usage(os.path.join(tmp, name, "round_0", "innspector"))
    summary = {}
    for name in names:
        _, batch_size, variants, targets = MODELS[name]
        bare = statistics.fmean(times[name, "bare"])
        ratios = {v: statistics.fmean(times[name, v]) / bare for v in variants}
        bare_cpu = statistics.fmean(cpu[name, "bare"])
        cpu_ratios = {v: statistics.fmean(cpu[name, v]) / bare_cpu for v in variants}
        attributions = statistics.fmean(times[name, "innspector"]) / statistics.fmean(times[name, "no_attr"])
        per_step, raw, logged = usage[name]
        print(
            "\n== %s CNN, batch %d: epochs measured per variant: %d (%d rounds x %d epochs, the first and last of"
            " each fit excluded)" % (name, batch_size, len(times[name, "bare"]), args.rounds, args.epochs - 2)
        )
        print(
            "mean epoch time vs bare (lower is better), wall and CPU of this process (process: its writer"
            " process's CPU not counted); the variant's wall seconds, median (min-max):"
        )
        for v in variants:
            t = times[name, v]
            print(
                "  %-11s %.3fx  cpu %.3fx   %.2f s (%.2f-%.2f)%s"
                % (
                    v,
                    ratios[v],
                    cpu_ratios[v],
                    statistics.median(t),
                    min(t),
                    max(t),
                    _target(ratios[v], targets.get(v)),
                )
            )
        print("attribution maps at defaults: innspector / no_attr = %.3fx" % attributions)
        print("innspector steps logged (round 0): %s" % logged)
        print(
            "innspector bytes on disk per step: %d; raw float32 size of what was logged: %d; ratio %.3f%s"
            % (per_step, raw, per_step / raw, _target(per_step / raw, targets.get("bytes")))
        )
        summary[name] = {
            "epoch_time_ratio": ratios,
            "epoch_cpu_ratio": cpu_ratios,
            "epoch_seconds": {v: times[name, v] for v in variants},
            "epoch_cpu_seconds": {v: cpu[name, v] for v in variants},
            "bytes_per_step": per_step,
            "raw_bytes_per_step": raw,
            "bytes_per_step_ratio": per_step / raw,
            "attributions_ratio": attributions,
            "logged_steps": logged,
        }
    print("\nelapsed: %.0f s" % (time.perf_counter() - started))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
