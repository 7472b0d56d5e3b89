"""The package version, kept apart so setup.py can read it without importing TensorFlow."""

VERSION = "0.1.0"
