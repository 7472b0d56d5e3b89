"""The Keras callback (public name; the code is in `capture/callback.py`). Importing it imports Keras."""

from innspector_tb.capture.callback import InnspectorCallback
from innspector_tb.errors import ConfigurationError, InnspectorError

__all__ = ["InnspectorCallback", "ConfigurationError", "InnspectorError"]
