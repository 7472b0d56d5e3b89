"""Small real Keras models trained with the callback, shared by the round-trip tests."""

import os

import keras
import numpy as np
from keras import layers

import innspector_tb
from innspector_tb.capture.callback import InnspectorCallback

CLASSES = 3
EPOCHS = 3


def images(n=96, seed=0):
    """Images whose class shows in the mean brightness of a region: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % CLASSES
    x = rng.normal(0, 0.3, size=(n, 6, 6, 1)).astype(np.float32)
    for c in range(CLASSES):
        x[y == c, 2 * c : 2 * c + 2, :, 0] += 1.0
    return x, y.astype(np.int64)


class Scale(layers.Layer):
    """A custom layer with a variable of its own."""

    def build(self, input_shape):
        self.factor = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="factor")

    def call(self, x):
        return x * self.factor


def sequential():
    return keras.Sequential(
        [
            keras.Input((6, 6, 1), name="image"),
            layers.Conv2D(4, 3, activation="relu", name="conv"),
            layers.BatchNormalization(name="bn"),
            layers.MaxPooling2D(2, name="pool"),
            layers.Flatten(name="flatten"),
            layers.Dropout(0.2, name="dropout"),
            layers.Dense(CLASSES, activation="softmax", name="out"),
        ],
        name="seq",
    )


def functional_skip():
    image = keras.Input((6, 6, 1), name="image")
    a = layers.Conv2D(3, 3, padding="same", activation="relu", name="conv_a")(image)
    b = layers.Conv2D(3, 3, padding="same", activation="relu", name="conv_b")(a)
    merged = layers.Add(name="skip")([a, b])
    flat = layers.Flatten(name="flatten")(merged)
    out = layers.Dense(CLASSES, activation="softmax", name="out")(flat)
    return keras.Model(image, out, name="skip_model")


def nested():
    block_in = keras.Input((36,), name="block_in")
    hidden = layers.Dense(8, activation="relu", name="hidden")(block_in)
    block = keras.Model(block_in, Scale(name="scale")(hidden), name="block")
    image = keras.Input((6, 6, 1), name="image")
    flat = layers.Flatten(name="flatten")(image)
    out = layers.Dense(CLASSES, activation="softmax", name="out")(block(flat))
    return keras.Model(image, out, name="nested_model")


class InitialWeights(keras.callbacks.Callback):
    """Records the variables before the first update, to compare with step 0."""

    def on_train_begin(self, logs=None):
        self.values = {v.path: v.numpy().copy() for v in self.model.weights}


def train(logdir, name, model, parents=(), epochs=EPOCHS, vae=False, **callback_args):
    """Trains `model` with the callback into logdir/name; returns (model, header, probe, initial)."""
    x, y = images()
    head = innspector_tb.header(name, parents=parents, hparams={"batch_size": 16})
    if not vae:
        model.compile(
            optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
    initial = InitialWeights()
    # No time budget unless a test asks: what is logged must not depend on how fast the machine runs.
    callback_args.setdefault("time_budget", None)
    callback = InnspectorCallback(os.path.join(logdir, name), head, probe=(x, y), probe_size=48, **callback_args)
    model.fit(x, None if vae else y, epochs=epochs, batch_size=16, verbose=0, callbacks=[initial, callback])
    return {"model": model, "header": head, "x": x, "y": y, "initial": initial.values, "callback": callback}
