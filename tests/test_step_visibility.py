"""Every logged step is visible to TensorBoard by default, with both ingesters.

TensorBoard keeps 10 (Python) or 100 (Rust) points per tag of a third-party
plugin unless told otherwise; the loader's fix_flags keeps them all, and a
user's own --samples_per_plugin still wins.
"""

import numpy as np
import pytest

import innspector_tb
from innspector_tb.capture import summary
from innspector_tb.format import metadata
from tests.support import tb_readers

STEPS = 120  # above both ingesters' defaults


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("visibility")
    writer = summary.create_file_writer(str(root / "run"))
    with writer.as_default():
        summary.header(innspector_tb.header("run"))
        for step in range(STEPS):
            summary.weights({"dense/kernel": np.full((3, 2), step, dtype=np.float32)}, step=step)
    writer.close()
    return str(root)


def _steps(provider):
    data = tb_readers.read_all(provider, "run", [metadata.STATS_TAG_PREFIX + "dense/kernel"])
    return [d.step for d in data.get(metadata.STATS_TAG_PREFIX + "dense/kernel", [])]


@pytest.mark.parametrize("ingester", tb_readers.INGESTERS)
def test_all_steps_visible_by_default(logdir, ingester):
    with tb_readers.data_provider(logdir, ingester) as provider:
        tb_readers.wait_for(provider, lambda p: len(_steps(p)) >= STEPS)
        steps = _steps(provider)
    assert steps == list(range(STEPS))
    # Values are the ones written at each step, not a resample.
    assert steps[-1] == STEPS - 1


@pytest.mark.parametrize("ingester", tb_readers.INGESTERS)
def test_users_samples_per_plugin_is_respected(logdir, ingester):
    args = ["--samples_per_plugin", "innspector=7"]
    with tb_readers.data_provider(logdir, ingester, args) as provider:
        tb_readers.wait_for(provider, lambda p: _steps(p) and _steps(p)[-1] == STEPS - 1)
        steps = _steps(provider)
    assert len(steps) == 7
