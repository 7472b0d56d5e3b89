"""Small Keras models with one planted training pathology each, and sound models in the style of the
keras.io examples, trained briefly with the real callback; `findings` lints a trained run through the
real route function over TensorBoard's data provider.

Every planted model names its culprit layer `culprit` (the input of the unscaled-input model is
`pixels`), so a test can check that a finding names the right layer.
"""

import os

import keras
import numpy as np
from keras import layers

import innspector_tb
from innspector_tb.capture.callback import InnspectorCallback
from innspector_tb.server import routes_models
from innspector_tb.store import run_store
from innspector_tb.store.cache import ByteBudgetCache
from tests.support import tb_readers

CLASSES = 4
FEATURES = 16


def features(n=384, seed=0):
    """Unit-scale features whose class is the sign pattern of two of them: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, FEATURES)).astype(np.float32)
    y = ((x[:, 0] > 0).astype(np.int64) * 2 + (x[:, 1] > 0)).astype(np.int64)
    return x, y


def images(n=256, size=12, seed=0):
    """Unit-scale images whose class is a bright quadrant."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % CLASSES
    x = rng.normal(0, 0.5, size=(n, size, size, 1)).astype(np.float32)
    half = size // 2
    for c in range(CLASSES):
        r, q = divmod(c, 2)
        x[y == c, r * half : (r + 1) * half, q * half : (q + 1) * half, 0] += 1.0
    return x, y.astype(np.int64)


def tokens(n=256, length=12, vocabulary=50, seed=0):
    """Token sequences whose class (2) is whether token 1 occurs."""
    rng = np.random.default_rng(seed)
    x = rng.integers(2, vocabulary, size=(n, length))
    y = np.arange(n) % 2
    x[y == 1, rng.integers(0, length, size=int(y.sum()))] = 1
    return x.astype(np.int64), y.astype(np.int64)


def dense_model(culprit, inputs=FEATURES, name="planted", head_width=CLASSES):
    """input -> dense_a (32 relu) -> culprit -> dense_b (32 relu) -> out (softmax)."""
    x_in = keras.Input((inputs,), name="features")
    h = layers.Dense(32, activation="relu", name="dense_a")(x_in)
    h = culprit(h)
    h = layers.Dense(32, activation="relu", name="dense_b")(h)
    out = layers.Dense(head_width, activation="softmax", name="out")(h)
    return keras.Model(x_in, out, name=name)


def train(logdir, name, model, x, y, epochs=4, optimizer=None, validation=None, loss=None, batch_size=32, **fit):
    """Trains `model` with the callback into logdir/name (metrics every epoch, step = epoch)."""
    if loss == "vae":  # the model's train_step computes its loss
        model.compile(optimizer=optimizer or keras.optimizers.Adam(1e-3))
    else:
        model.compile(
            optimizer=optimizer or keras.optimizers.Adam(1e-3),
            loss=loss or "sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
    callback = InnspectorCallback(
        os.path.join(logdir, name),
        innspector_tb.header(name),
        probe=(x, None if y is None else y),
        probe_size=128,
        time_budget=None,  # every epoch logged, whatever the machine's speed
    )
    model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
        callbacks=[callback],
        validation_data=validation,
        **fit,
    )
    return model


def findings(logdir, run):
    """The lint findings of a run, as the `lint` route answers them."""
    with tb_readers.data_provider(logdir, "python") as provider:
        store = run_store.RunStore(provider, logdir, ByteBudgetCache(1 << 26)).bind(tb_readers.CTX, "")
        return routes_models.lint(store, run)["findings"]


# ----------------------------------------------------------------- sound models (keras.io style)


def convnet():
    """keras.io "Simple MNIST convnet", at 12x12."""
    return keras.Sequential(
        [
            keras.Input((12, 12, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(CLASSES, activation="softmax"),
        ],
        name="convnet",
    )


def resnet():
    """A small ResNet: conv-BN-ReLU stem, two residual blocks, global pooling, softmax head."""
    x_in = keras.Input((12, 12, 1))
    x = layers.Conv2D(16, 3, padding="same", use_bias=False)(x_in)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    for filters, stride in ((16, 1), (32, 2)):
        shortcut = x
        y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
        y = layers.BatchNormalization()(y)
        y = layers.ReLU()(y)
        y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
        y = layers.BatchNormalization()(y)
        if stride != 1 or shortcut.shape[-1] != filters:
            shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False)(shortcut)
            shortcut = layers.BatchNormalization()(shortcut)
        x = layers.ReLU()(layers.Add()([shortcut, y]))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(x_in, layers.Dense(CLASSES, activation="softmax")(x), name="resnet")


class TokenAndPositionEmbedding(layers.Layer):
    def __init__(self, maxlen, vocabulary, dim, **kwargs):
        super().__init__(**kwargs)
        self.token_emb = layers.Embedding(vocabulary, dim)
        self.pos_emb = layers.Embedding(maxlen, dim)

    def call(self, x):
        positions = keras.ops.arange(0, keras.ops.shape(x)[-1], 1)
        return self.token_emb(x) + self.pos_emb(positions)


class TransformerBlock(layers.Layer):
    def __init__(self, dim, heads, hidden, rate=0.1, **kwargs):
        super().__init__(**kwargs)
        self.att = layers.MultiHeadAttention(num_heads=heads, key_dim=dim)
        self.ffn = keras.Sequential([layers.Dense(hidden, activation="relu"), layers.Dense(dim)])
        self.norm1 = layers.LayerNormalization(epsilon=1e-6)
        self.norm2 = layers.LayerNormalization(epsilon=1e-6)
        self.drop1 = layers.Dropout(rate)
        self.drop2 = layers.Dropout(rate)

    def call(self, x, training=False):
        out1 = self.norm1(x + self.drop1(self.att(x, x), training=training))
        return self.norm2(out1 + self.drop2(self.ffn(out1), training=training))


def transformer(length=12, vocabulary=50):
    """keras.io "Text classification with Transformer"."""
    x_in = keras.Input((length,), dtype="int32")
    x = TokenAndPositionEmbedding(length, vocabulary, 16)(x_in)
    x = TransformerBlock(16, 2, 16)(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.1)(x)
    x = layers.Dense(20, activation="relu")(x)
    x = layers.Dropout(0.1)(x)
    return keras.Model(x_in, layers.Dense(2, activation="softmax")(x), name="transformer")


class Sampling(layers.Layer):
    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(keras.ops.shape(z_mean), seed=1)
        return z_mean + keras.ops.exp(0.5 * z_log_var) * eps


class VAE(keras.Model):
    """keras.io "Variational AutoEncoder" (a train_step of its own), on 12x12 images."""

    def __init__(self, **kwargs):
        image = keras.Input((12, 12, 1), name="image")
        h = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(image)
        h = layers.Flatten()(h)
        h = layers.Dense(16, activation="relu")(h)
        z_mean = layers.Dense(2, name="z_mean")(h)
        z_log_var = layers.Dense(2, name="z_log_var")(h)
        z = Sampling(name="z")([z_mean, z_log_var])
        d = layers.Dense(6 * 6 * 16, activation="relu")(z)
        d = layers.Reshape((6, 6, 16))(d)
        d = layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu")(d)
        decoded = layers.Conv2DTranspose(1, 3, padding="same", activation="sigmoid", name="decoded")(d)
        super().__init__(image, [z_mean, z_log_var, decoded], **kwargs)

    def train_step(self, data):
        import tensorflow as tf

        x = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            z_mean, z_log_var, decoded = self(x, training=True)
            reconstruction = keras.ops.mean(keras.ops.sum(keras.losses.binary_crossentropy(x, decoded), axis=(1, 2)))
            kl = -0.5 * keras.ops.mean(
                keras.ops.sum(1 + z_log_var - keras.ops.square(z_mean) - keras.ops.exp(z_log_var), axis=1)
            )
            loss = reconstruction + kl
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
        return {"loss": loss}


def abnormal_layers(logdir, run):
    """[(layer, score, driving measure)] of a run under the "abnormal" measure, most abnormal first, as
    the `interestingness` route answers it."""
    from innspector_tb.store import models as models_lib

    with tb_readers.data_provider(logdir, "python") as provider:
        store = run_store.RunStore(provider, logdir, ByteBudgetCache(1 << 26)).bind(tb_readers.CTX, "")
        listed = models_lib.list_models(provider, tb_readers.CTX, "", with_metrics=False)
        answer = routes_models.interestingness_scores(store, listed, "abnormal", runs=[run])
    detail = {(u["run"], u["unit"]): u["detail"] for u in answer["units"]}
    rows = [r for r in answer["layers"] if r["score"] is not None]
    rows.sort(key=lambda r: -r["score"])
    return [(r["layer"], r["score"], (detail.get((run, r["top_unit"])) or {}).get("measure")) for r in rows]
