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
from keras import layers

from demo import keras_io_vae as demo_vae
from demo import text as demo_text

# ------------------------------------------------------------------ generative/vae.py


# Sampling, the encoder, the decoder and VAE as published (the demo trains the same code: demo/keras_io_vae.py).
Sampling = demo_vae.Sampling
vae_encoder = demo_vae.vae_encoder
vae_decoder = demo_vae.vae_decoder
VAE = demo_vae.VAE


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
