"""Capture: what runs in the training process. The only room that imports TensorFlow or Keras.

Owns the Keras callback, the summary ops, the background writer (thread or process), the probe pass
(activations), architecture extraction from a Keras model, attribution maps, runtime statistics and
reliance reduction (retraining a decision layer). It may import `format` (to write what is on disk)
and the top-level `errors` and `fs`; never `store`, `analysis` or `server`.
"""
