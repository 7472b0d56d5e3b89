"""Trains one small CNN with the callback under the backend KERAS_BACKEND names (run as a subprocess:
Keras picks its backend once per process). Used by tests/test_jax_backend.py.

    KERAS_BACKEND=jax python -m tests.support.backend_training LOGDIR INITIAL.weights.h5

The initial weights come from INITIAL (written by the first run when missing), so both backends train
the same model from the same weights, on the same data in the same order (shuffle=False).
"""

import os
import sys

import keras
import numpy as np
from keras import layers

from innspector_tb.capture.callback import InnspectorCallback
from tests.support import trained_models as tm

RUN = "cnn"
EPOCHS = 2


def model():
    """A demo-like CNN (demo/models.py's cnn at the test images' size)."""
    return keras.Sequential(
        [
            keras.Input((6, 6, 1), name="image"),
            layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_1"),
            layers.MaxPooling2D(2, name="pool"),
            layers.Flatten(name="flatten"),
            layers.Dense(8, activation="relu", name="dense_hidden"),
            layers.Dense(tm.CLASSES, activation="softmax", name="classifier"),
        ],
        name=RUN,
    )


def main(logdir, initial):
    x, y = tm.images()
    net = model()
    if os.path.exists(initial):
        net.load_weights(initial)
    else:
        net.save_weights(initial)
    net.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    # time_budget=None: what is logged must not depend on how fast each backend happens to run.
    callback = InnspectorCallback(os.path.join(logdir, RUN), probe=(x, y), probe_size=48, time_budget=None)
    net.fit(x, y, epochs=EPOCHS, batch_size=16, shuffle=False, verbose=0, callbacks=[callback])
    print("trained under", keras.backend.backend(), "loss", float(np.asarray(net.evaluate(x, y, verbose=0)[0])))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
