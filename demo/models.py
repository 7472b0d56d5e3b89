"""Model builders of the demo: small classifiers and VAEs for 8x8 digits."""

import keras
import tensorflow as tf
from keras import layers

INPUT_SHAPE = (8, 8, 1)
CLASSES = 10


def compile_classifier(model, learning_rate=1e-3):
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    return model


def dense_baseline():
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE, name="image"),
            layers.Flatten(name="flatten"),
            layers.Dense(64, activation="relu", name="dense_hidden"),
            layers.Dense(CLASSES, activation="softmax", name="classifier"),
        ],
        name="dense_baseline",
    )


def cnn(filters=(8,), dense_units=32, name="cnn"):
    model_layers = [keras.Input(INPUT_SHAPE, name="image")]
    for i, f in enumerate(filters):
        model_layers.append(layers.Conv2D(f, 3, padding="same", activation="relu", name="conv_%d" % (i + 1)))
    model_layers += [
        layers.MaxPooling2D(2, name="pool"),
        layers.Flatten(name="flatten"),
        layers.Dense(dense_units, activation="relu", name="dense_hidden"),
        layers.Dense(CLASSES, activation="softmax", name="classifier"),
    ]
    return keras.Sequential(model_layers, name=name)


def cnn_nested():
    """cnn_small with its feature extractor as a nested model: a namespace in the L2 view."""
    features = keras.Sequential(
        [
            keras.Input(INPUT_SHAPE, name="features_input"),
            layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_1"),
            layers.MaxPooling2D(2, name="pool"),
        ],
        name="features",
    )
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE, name="image"),
            features,
            layers.Flatten(name="flatten"),
            layers.Dense(32, activation="relu", name="dense_hidden"),
            layers.Dense(CLASSES, activation="softmax", name="classifier"),
        ],
        name="cnn_nested",
    )


def cnn_batchnorm_dropout():
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE, name="image"),
            layers.Conv2D(16, 3, padding="same", use_bias=False, name="conv_1"),
            layers.BatchNormalization(name="batch_norm"),
            layers.Activation("relu", name="relu"),
            layers.MaxPooling2D(2, name="pool"),
            layers.Flatten(name="flatten"),
            layers.Dropout(0.3, name="dropout"),
            layers.Dense(32, activation="relu", name="dense_hidden"),
            layers.Dense(CLASSES, activation="softmax", name="classifier"),
        ],
        name="cnn_bn_dropout",
    )


def cnn_skip():
    """A functional CNN with a residual (skip) connection."""
    image = keras.Input(INPUT_SHAPE, name="image")
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv_1")(image)
    y = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv_2")(x)
    x = layers.Add(name="skip_add")([x, y])
    x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(32, activation="relu", name="dense_hidden")(x)
    out = layers.Dense(CLASSES, activation="softmax", name="classifier")(x)
    return keras.Model(image, out, name="cnn_skip")


class Sampling(layers.Layer):
    """Draws z = mean + exp(log_var / 2) * eps: the VAE's reparameterisation (a custom layer)."""

    def __init__(self, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(tf.shape(z_mean), seed=self.seed_generator)
        return z_mean + tf.exp(0.5 * z_log_var) * eps


class VAE(keras.Model):
    """A functional VAE with a custom train_step weighting reconstruction against KL.

    Returns extra losses (reconstruction_loss, kl_loss) from train_step, as a
    VAE usually does; the callback logs them as scalars.
    """

    def __init__(self, inputs, outputs, reconstruction_weight=0.5, kl_weight=0.5, **kwargs):
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.reconstruction_weight = float(reconstruction_weight)
        self.kl_weight = float(kl_weight)
        self.total_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_tracker, self.reconstruction_tracker, self.kl_tracker]

    def _weighted_losses(self, x, training):
        reconstruction, z_mean, z_log_var = self(x, training=training)
        per_pixel = keras.losses.binary_crossentropy(
            tf.reshape(x, (tf.shape(x)[0], -1, 1)), tf.reshape(reconstruction, (tf.shape(x)[0], -1, 1))
        )
        reconstruction_loss = tf.reduce_mean(tf.reduce_sum(per_pixel, axis=1))
        kl = -0.5 * (1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var))
        kl_loss = tf.reduce_mean(tf.reduce_sum(kl, axis=1))
        total = self.reconstruction_weight * reconstruction_loss + self.kl_weight * kl_loss
        return total, reconstruction_loss, kl_loss

    def _update(self, total, reconstruction_loss, kl_loss):
        self.total_tracker.update_state(total)
        self.reconstruction_tracker.update_state(reconstruction_loss)
        self.kl_tracker.update_state(kl_loss)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            total, reconstruction_loss, kl_loss = self._weighted_losses(x, training=True)
        grads = tape.gradient(total, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
        return self._update(total, reconstruction_loss, kl_loss)

    def test_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        return self._update(*self._weighted_losses(x, training=False))


def vae(name, reconstruction_weight, kl_weight, latent_activation=None, latent_dim=2):
    """A dense VAE; latent_activation="relu" is the careless mistake of use case 3."""
    image = keras.Input(INPUT_SHAPE, name="image")
    x = layers.Flatten(name="flatten")(image)
    x = layers.Dense(32, activation="relu", name="encoder_hidden")(x)
    z_mean = layers.Dense(latent_dim, activation=latent_activation, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, activation=latent_activation, name="z_log_var")(x)
    z = Sampling(name="sampling")([z_mean, z_log_var])
    x = layers.Dense(32, activation="relu", name="decoder_hidden")(z)
    x = layers.Dense(64, activation="sigmoid", name="decoder_output")(x)
    reconstruction = layers.Reshape(INPUT_SHAPE, name="reconstruction")(x)
    model = VAE(
        image,
        [reconstruction, z_mean, z_log_var],
        reconstruction_weight=reconstruction_weight,
        kl_weight=kl_weight,
        name=name,
    )
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    return model


def spurious_dense():
    """The dense classifier of the spurious-feature experiment (trained on digits whose 3s carry a marker)."""
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE, name="image"),
            layers.Flatten(name="flatten"),
            layers.Dense(32, activation="relu", name="dense_hidden"),
            layers.Dense(CLASSES, activation="softmax", name="classifier"),
        ],
        name="spurious_dense",
    )
