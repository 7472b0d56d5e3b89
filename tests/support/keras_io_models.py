"""Model definitions of two keras.io examples, as published there (Keras 3), for tests of traced models.

- `generative/vae.py` ("Variational AutoEncoder", fchollet): a subclassed `keras.Model` holding a
  functional encoder and decoder, a `Sampling` layer, a custom `train_step`, `fit(x)` without labels.
- `nlp/text_classification_with_transformer.py` ("Text classification with Transformer", Apoorv
  Nandan): the custom layers `TransformerBlock` and `TokenAndPositionEmbedding` in a functional model.

The model code is the examples'; only the sizes are parameters (the tests train small) and the data are
synthetic (no download): blob images for the VAE, a token task for the transformer.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from demo import text as demo_text

# ------------------------------------------------------------------ generative/vae.py


class Sampling(layers.Layer):
    """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch = ops.shape(z_mean)[0]
        dim = ops.shape(z_mean)[1]
        epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


def vae_encoder(latent_dim=2):
    encoder_inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    x = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling()([z_mean, z_log_var])
    return keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")


def vae_decoder(latent_dim=2):
    latent_inputs = keras.Input(shape=(latent_dim,))
    x = layers.Dense(7 * 7 * 64, activation="relu")(latent_inputs)
    x = layers.Reshape((7, 7, 64))(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
    decoder_outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x)
    return keras.Model(latent_inputs, decoder_outputs, name="decoder")


class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [
            self.total_loss_tracker,
            self.reconstruction_loss_tracker,
            self.kl_loss_tracker,
        ]

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss = ops.mean(
                ops.sum(
                    keras.losses.binary_crossentropy(data, reconstruction),
                    axis=(1, 2),
                )
            )
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {
            "loss": self.total_loss_tracker.result(),
            "reconstruction_loss": self.reconstruction_loss_tracker.result(),
            "kl_loss": self.kl_loss_tracker.result(),
        }

    def call(self, x):
        z_mean, z_log_var, z = self.encoder(x)
        return self.decoder(z)


def blob_images(n=128, seed=0):
    """28x28 images in [0, 1], one bright square per image at one of 4 places (the class)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    x = rng.uniform(0, 0.1, size=(n, 28, 28, 1)).astype(np.float32)
    for i, c in enumerate(y):
        row, col = divmod(int(c), 2)
        x[i, 4 + 12 * row : 12 + 12 * row, 4 + 12 * col : 12 + 12 * col, 0] = 0.9
    return x, y.astype(np.int64)


# ------------------------------------------------------------------ nlp/text_classification_with_transformer.py


# TransformerBlock and TokenAndPositionEmbedding as published; the demo's text experiment uses the same
# code (demo/text.py), whose only change is passing **kwargs (a layer name) on to keras' Layer.
TransformerBlock = demo_text.TransformerBlock
TokenAndPositionEmbedding = demo_text.TokenAndPositionEmbedding


def text_classifier(maxlen=20, vocab_size=40, embed_dim=32, num_heads=2, ff_dim=32):
    inputs = layers.Input(shape=(maxlen,))
    embedding_layer = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)
    x = embedding_layer(inputs)
    transformer_block = TransformerBlock(embed_dim, num_heads, ff_dim)
    x = transformer_block(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.1)(x)
    x = layers.Dense(20, activation="relu")(x)
    x = layers.Dropout(0.1)(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs)


def token_task(n=256, maxlen=20, vocab_size=40, seed=0):
    """Token sequences; the class is whether token 3 occurs more often than token 4 (ties: class 0)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(5, vocab_size, size=(n, maxlen))
    y = np.arange(n) % 2
    for i, c in enumerate(y):
        many, few = (3, 4) if c else (4, 3)
        slots = rng.permutation(maxlen)
        x[i, slots[:3]] = many
        x[i, slots[3:4]] = few
    return x.astype(np.int64), y.astype(np.int64)


# ------------------------------------------------------------------ trained with the callback


def train(logdir, epochs=2, probe=32):
    """Both models trained briefly with the callback into <logdir>/vae and <logdir>/transformer."""
    import os

    from innspector_tb.capture.callback import InnspectorCallback

    x, y = blob_images(64)
    vae = VAE(vae_encoder(), vae_decoder())
    vae.compile(optimizer=keras.optimizers.Adam())
    callback = InnspectorCallback(os.path.join(logdir, "vae"), probe=(x[:probe], y[:probe]))
    vae.fit(x, epochs=epochs, batch_size=32, verbose=0, callbacks=[callback])

    tokens, labels = token_task(128)
    classifier = text_classifier()
    classifier.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callback = InnspectorCallback(os.path.join(logdir, "transformer"), probe=(tokens[:probe], labels[:probe]))
    classifier.fit(tokens, labels, epochs=epochs, batch_size=32, verbose=0, callbacks=[callback])
    return {"vae": vae, "transformer": classifier}
