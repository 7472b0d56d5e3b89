"""The demo's text experiment: a synthetic token task (made here, no download) and two classifiers of it.

Each sequence holds random filler tokens, a cue token and, right after it, one of three answer tokens;
the class is the answer that follows the cue. The answer tokens also occur elsewhere as distractors, so
counting tokens does not solve the task: a model must relate each position to the one before it.
`transformer_text` is the keras.io text classifier with transformer (custom TransformerBlock and
TokenAndPositionEmbedding layers, traced into namespaces whose attention, normalisations and feed-forward
are units); `bilstm_text` its recurrent sibling (an Embedding and a Bidirectional LSTM).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

MAXLEN = 16
VOCAB_SIZE = 32
CUE = 2
ANSWERS = (3, 4, 5)
FILLER_START = 6  # tokens 0 and 1 are unused (0: padding), 2 the cue, 3-5 the answers
CLASS_NAMES = ["after cue: %d" % token for token in ANSWERS]
# The token strings the views show: the answers are named by their id, as in the class names.
VOCABULARY = (
    ["<pad>", "<unused>", "CUE"] + ["ans%d" % t for t in ANSWERS] + ["w%d" % t for t in range(FILLER_START, VOCAB_SIZE)]
)
DISTRACTORS = 2


def token_task(n=1500, seed=0):
    """(tokens [n, MAXLEN] int64, labels [n] int64): the class is which answer token follows the cue."""
    rng = np.random.default_rng(seed)
    x = rng.integers(FILLER_START, VOCAB_SIZE, size=(n, MAXLEN))
    y = np.arange(n) % len(ANSWERS)
    rng.shuffle(y)
    for i, c in enumerate(y):
        cue = int(rng.integers(0, MAXLEN - 1))
        free = [p for p in range(MAXLEN) if p not in (cue, cue + 1)]
        for p in rng.choice(free, size=DISTRACTORS, replace=False):
            x[i, p] = rng.choice(ANSWERS)
        x[i, cue], x[i, cue + 1] = CUE, ANSWERS[c]
    return x.astype(np.int64), y.astype(np.int64)


def split(n=1500, test_fraction=0.2, seed=0):
    """(x_train, y_train, x_test, y_test) of the token task."""
    x, y = token_task(n, seed)
    cut = int(n * (1 - test_fraction))
    return x[:cut], y[:cut], x[cut:], y[cut:]


# ------------------------------------------------------------------ keras.io: text classification with transformer


class TransformerBlock(layers.Layer):
    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1, **kwargs):
        super().__init__(**kwargs)
        self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.ffn = keras.Sequential([layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)])
        self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = layers.Dropout(rate)
        self.dropout2 = layers.Dropout(rate)

    def call(self, inputs):
        attn_output = self.att(inputs, inputs)
        attn_output = self.dropout1(attn_output)
        out1 = self.layernorm1(inputs + attn_output)
        ffn_output = self.ffn(out1)
        ffn_output = self.dropout2(ffn_output)
        return self.layernorm2(out1 + ffn_output)


class TokenAndPositionEmbedding(layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        maxlen = ops.shape(x)[-1]
        positions = ops.arange(start=0, stop=maxlen, step=1)
        positions = self.pos_emb(positions)
        x = self.token_emb(x)
        return x + positions


def transformer_text(embed_dim=32, num_heads=2, ff_dim=32):
    inputs = layers.Input(shape=(MAXLEN,), dtype="int64", name="tokens")
    x = TokenAndPositionEmbedding(MAXLEN, VOCAB_SIZE, embed_dim, name="embedding")(inputs)
    x = TransformerBlock(embed_dim, num_heads, ff_dim, name="transformer_block")(x)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    x = layers.Dropout(0.1, name="dropout")(x)
    x = layers.Dense(20, activation="relu", name="dense_hidden")(x)
    outputs = layers.Dense(len(ANSWERS), activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name="transformer_text")


def bilstm_text(embed_dim=16, units=16):
    return keras.Sequential(
        [
            keras.Input((MAXLEN,), dtype="int64", name="tokens"),
            layers.Embedding(VOCAB_SIZE, embed_dim, name="embedding"),
            layers.Bidirectional(layers.LSTM(units), name="bilstm"),
            layers.Dense(len(ANSWERS), activation="softmax", name="classifier"),
        ],
        name="bilstm_text",
    )
