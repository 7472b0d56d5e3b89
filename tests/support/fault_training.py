"""A training script for the fault tests, run as its own process: `python -m tests.support.fault_training`.

    python -m tests.support.fault_training RUN_DIR --writer thread|process --epochs N
        [--initial-epoch K] [--freq-unit epoch|batch]

Trains the small sequential model of trained_models with the callback and prints, flushed, one line per
event the test waits for: `WRITER_PID <pid>` (the writer process, if any), `LOGGED <step>` after each
step the callback handed to its writer, `DONE` at the end.

With INNSPECTOR_TEST_SLOW_DISK=<seconds> in the environment, `slow_disk/sitecustomize.py` (put on
PYTHONPATH by the test) makes every step-file write take that much longer, in this process and in
the writer process alike: the writer falls behind training, so steps are queued when Ctrl-C comes.
"""

import argparse

import keras
import numpy as np

import innspector_tb
from innspector_tb.capture import writer_process
from innspector_tb.capture.callback import InnspectorCallback
from tests.support import trained_models as tm


class Announce(keras.callbacks.Callback):
    """Placed after the iNNspector callback: says which steps it has handed over."""

    def __init__(self, innspector):
        super().__init__()
        self.innspector = innspector
        self.said = None

    def _say(self):
        step = self.innspector._last_logged
        if step is not None and step != self.said:
            self.said = step
            print("LOGGED %d" % step, flush=True)

    def on_epoch_begin(self, epoch, logs=None):
        self._say()

    def on_train_batch_end(self, batch, logs=None):
        self._say()

    def on_epoch_end(self, epoch, logs=None):
        self._say()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("--writer", default="thread")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--initial-epoch", type=int, default=0)
    parser.add_argument("--freq-unit", default="epoch")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    x, y = tm.images()
    model = tm.sequential()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    callback = InnspectorCallback(
        args.run_dir,
        innspector_tb.header("faults"),
        probe=(x, y),
        probe_size=48,
        writer=args.writer,
        freq_unit=args.freq_unit,
        attributions=False,
        time_budget=None,  # every epoch logged, whatever the machine's speed
    )
    if isinstance(callback._sink, writer_process.ProcessSink):
        print("WRITER_PID %d" % callback._sink._process.pid, flush=True)
    model.fit(
        x,
        y,
        epochs=args.epochs,
        initial_epoch=args.initial_epoch,
        batch_size=16,
        verbose=0,
        callbacks=[callback, Announce(callback)],
    )
    print("DONE %s" % np.int64(callback._last_logged), flush=True)


if __name__ == "__main__":
    main()
