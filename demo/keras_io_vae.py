"""keras.io's VAE (`generative/vae.py`, "Variational AutoEncoder", fchollet), as published for Keras 3.

A subclassed `keras.Model` holding a functional encoder (z_mean, z_log_var and a `Sampling` layer) and a
functional decoder, with a custom `train_step` and `fit(x)` without labels: the model of the paper's VAE
use cases as people write it. The only change is the image side: the published code is for 28x28 MNIST
(two stride-2 convolutions down to 7x7); `side` makes it fit the demo's 8x8 digits (down to 2x2) and is
28 by default, the published model exactly. The demo trains it as `vae_keras_io`
(demo/train.py); tests/support/keras_io_models.py re-exports it for the tests of traced models.
"""

import keras
import tensorflow as tf
from keras import layers, ops


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


def vae_encoder(latent_dim=2, side=28):
    encoder_inputs = keras.Input(shape=(side, side, 1))
    x = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    x = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling()([z_mean, z_log_var])
    return keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")


def vae_decoder(latent_dim=2, side=28):
    quarter = side // 4  # 7 for MNIST: the encoder's two stride-2 convolutions, undone
    latent_inputs = keras.Input(shape=(latent_dim,))
    x = layers.Dense(quarter * quarter * 64, activation="relu")(latent_inputs)
    x = layers.Reshape((quarter, quarter, 64))(x)
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


def keras_io_vae(name="vae_keras_io", latent_dim=2, side=8):
    """The keras.io VAE for the demo's 8x8 digits, compiled as keras.io does (Adam, no loss: train_step's).

    The published code names few layers: Keras numbers the others per process ("dense_8" after eight
    Dense layers), so a fresh Keras session first gives the demo the same layer ids whatever it trained
    before ("encoder/dense").
    """
    keras.backend.clear_session()
    vae = VAE(vae_encoder(latent_dim, side), vae_decoder(latent_dim, side), name=name)
    vae.compile(optimizer=keras.optimizers.Adam())
    return vae
