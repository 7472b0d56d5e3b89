"""Format: what is on disk and in event files, readable without TensorFlow.

Owns the plugin metadata and its versioned proto, the per-step HDF5 *step files* (layout, reading), the
model header, the architecture JSON's names, unit statistics and the inner-operation tables of layers.
Imports numpy, h5py and protobuf only (and the top-level `errors` and `fs`); every other room may import it.
"""
