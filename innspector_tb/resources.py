"""Where the package's data files are: the built frontend, the layer corpus and the built-in JSON tools."""

import os

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
STATIC_DIR = os.path.join(PACKAGE_DIR, "static")  # the bundle `make frontend` builds
DATA_DIR = os.path.join(PACKAGE_DIR, "data")  # the layer-transition corpus (tools/build_layer_corpus.py)
TOOLS_DIR = os.path.join(PACKAGE_DIR, "tools")  # built-in tools declared in JSON
