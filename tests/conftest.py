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


@pytest.fixture(scope="session")
def odd_logdir(tmp_path_factory):
    """Runs the demo never writes: no probe samples, predictions of a class no label has, a header
    that is JSON but not an object."""
    import numpy as np
    import tensorflow as tf

    import innspector_tb
    from innspector_tb.capture import summary
    from innspector_tb.format import metadata

    logdir = tmp_path_factory.mktemp("odd")
    # A run logged without probe samples.
    writer = summary.create_file_writer(str(logdir / "no_samples"))
    with writer.as_default():
        summary.header(innspector_tb.header("no_samples"))
        summary.weights({"d/kernel": np.ones((3, 2), np.float32)}, step=0)
    writer.close()
    # A run whose predictions include a class no label has.
    writer = summary.create_file_writer(str(logdir / "outside"))
    with writer.as_default():
        summary.header(innspector_tb.header("outside"))
        summary.samples(np.zeros((6, 2), np.float32), np.array([0, 0, 0, 0, 1, 1]))
        summary.predictions(np.eye(3, dtype=np.float32)[[2, 2, 2, 0, 1, 1]], step=0)
    writer.close()
    # A header that is valid JSON but not an object.
    with tf.summary.create_file_writer(str(logdir / "oops")).as_default():
        tf.summary.write(
            metadata.HEADER_TAG,
            tf.constant('"oops"'),
            step=0,
            metadata=metadata.create_summary_metadata(metadata.Kind.HEADER),
        )
    return str(logdir)
