"""Store: reading a logdir. The run store over TensorBoard's data provider, the models and their lineage.

Imports `format`, the top-level `errors` and `fs`, and TensorBoard's data provider; never TensorFlow,
Keras, `analysis` or `server`.
"""
