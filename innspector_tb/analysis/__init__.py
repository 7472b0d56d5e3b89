"""Analysis: plain numpy over logged data. Transforms, interestingness, lint, structures, neurons,
classification and mistake neurons.

Functions take arrays, dicts and dataclasses and return the same; no I/O, no HTTP. Imports `format`
and the top-level `errors`; never TensorFlow, Keras, `store` or `server`.
"""
