"""Format: what is on disk and in event files, readable without TensorFlow.

Owns the plugin metadata and its versioned proto, the per-step HDF5 *step files* (layout, reading), the
rounding of stored floats, the model header, the architecture JSON's names, unit statistics and the
inner-operation tables of layers. Imports numpy, h5py, hdf5plugin (its HDF5 filters, on the first step
file opened), protobuf and TensorBoard's summary proto (`tensorboard.compat.proto.summary_pb2`, which
needs no TensorFlow), and the top-level `errors` and `fs`; every other room may import it.
"""
