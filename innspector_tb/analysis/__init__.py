"""Analysis: plain numpy over logged data. Transforms, interestingness, lint, structures, neurons,
classification and mistake neurons.

Functions take arrays, dicts and dataclasses and return the same; no HTTP, and no I/O but one exception:
packaged read-only data, i.e. `interestingness/corpus.py` reads the layer corpus
`data/layer_transitions.json` (where `resources` says, once, cached). Imports `format`, the top-level
`errors` and `resources`; never TensorFlow, Keras, `store` or `server`.
"""
