import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# The demo package lives at the repository root, beside the tests.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
