"""iNNspector for TensorBoard: log a model's structure and data, inspect it in TensorBoard.

    import innspector_tb
    head = innspector_tb.header("cnn", parents=[baseline["id"]])
    model.fit(..., callbacks=[innspector_tb.keras.InnspectorCallback(log_dir, head, probe=(x, y))])

Submodules load lazily so `import innspector_tb` stays cheap for TensorBoard.
"""

import importlib

from innspector_tb.format.headers import branch, header
from innspector_tb.version import VERSION as __version__

__all__ = ["header", "branch", "summary", "keras", "reliance", "__version__"]


def __getattr__(name):
    # `innspector_tb.summary`, `.keras` and `.reliance` import TensorFlow and Keras; load them on
    # first use only.
    if name in ("summary", "keras", "reliance"):
        return importlib.import_module("innspector_tb." + name)
    raise AttributeError("module 'innspector_tb' has no attribute %r" % name)
