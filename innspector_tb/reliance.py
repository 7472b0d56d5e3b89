"""Reduce a classifier's reliance on some neurons (public name; the code is in `capture/reliance.py`).

Importing it imports TensorFlow and Keras.
"""

from innspector_tb.capture.reliance import DecisionFit, RelianceError, features_of, reduce_reliance

__all__ = ["DecisionFit", "RelianceError", "features_of", "reduce_reliance"]
