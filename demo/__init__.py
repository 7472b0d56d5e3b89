"""The demo experiments: the iNNspector paper's three use cases on scikit-learn's digits."""
