import os
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# The demo package lives at the repository root, beside the tests.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DEMO_EPOCHS = 2


@pytest.fixture(scope="session")
def demo_logs(tmp_path_factory):
    """The demo experiments trained small (2 epochs, 64 probe samples): (logdir, headers)."""
    from demo import train as demo_train

    logdir = str(tmp_path_factory.mktemp("demo"))
    headers = demo_train.train_all(logdir, epochs=DEMO_EPOCHS, probe_size=64, verbose=False)
    return logdir, headers
