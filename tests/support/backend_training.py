"""Trains a small CNN and a small attention text classifier with the callback under the backend
KERAS_BACKEND names (run as a subprocess: Keras picks its backend once per process). Used by
tests/test_jax_backend.py.

    KERAS_BACKEND=jax python -m tests.support.backend_training LOGDIR INITIAL_DIR

The initial weights come from INITIAL_DIR/<run>.weights.h5 (written by the first run when missing), so both
backends train the same models from the same weights, on the same data in the same order (shuffle=False).
No dropout: its random masks differ between backends.
"""

import os
import sys

import keras
import numpy as np
from keras import layers

from demo import text as demo_text
from innspector_tb.capture.callback import InnspectorCallback
from tests.support import trained_models as tm

RUN = "cnn"
TEXT_RUN = "text"
RUNS = (RUN, TEXT_RUN)
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


def text_model():
    """Token ids -> Embedding -> self-attention -> pooled -> softmax: token attributions and attention scores."""
    tokens = keras.Input((demo_text.MAXLEN,), dtype="int32", name="tokens")
    embedded = layers.Embedding(demo_text.VOCAB_SIZE, 8, name="embedding")(tokens)
    attended = layers.MultiHeadAttention(2, 4, name="attention")(embedded, embedded)
    pooled = layers.GlobalAveragePooling1D(name="pool")(attended)
    out = layers.Dense(len(demo_text.ANSWERS), activation="softmax", name="classifier")(pooled)
    return keras.Model(tokens, out, name=TEXT_RUN)


def _fit(logdir, initial_dir, net, x, y, **callback_args):
    initial = os.path.join(initial_dir, net.name + ".weights.h5")
    if os.path.exists(initial):
        net.load_weights(initial)
    else:
        net.save_weights(initial)
    net.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    # time_budget=None: what is logged must not depend on how fast each backend happens to run.
    callback = InnspectorCallback(os.path.join(logdir, net.name), probe=(x, y), time_budget=None, **callback_args)
    net.fit(x, y, epochs=EPOCHS, batch_size=16, shuffle=False, verbose=0, callbacks=[callback])
    loss = float(np.asarray(net.evaluate(x, y, verbose=0)[0]))
    print("trained %s under %s, loss %.6f" % (net.name, keras.backend.backend(), loss))


def main(logdir, initial_dir):
    _fit(logdir, initial_dir, model(), *tm.images(), probe_size=48)
    x, y = demo_text.token_task(n=96)
    _fit(logdir, initial_dir, text_model(), x.astype(np.int32), y, probe_size=48)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
