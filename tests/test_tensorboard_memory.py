"""TensorBoard's memory does not grow with the bulk data (it stays in the HDF5 sidecars)."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
import tensorboard_memory

# Starts four tensorboard processes and reads their memory.
pytestmark = pytest.mark.slow


def test_sidecars_keep_bulk_out_of_tensorboard_memory(tmp_path):
    rng = np.random.default_rng(0)
    arrays_by_step = [rng.normal(size=(512, 4096)).astype(np.float32) for _ in range(10)]  # 80 MB
    bulk = sum(a.nbytes for a in arrays_by_step)
    # Each against the same kind of run with one tiny step: a run's fixed costs (h5py's import,
    # caches: ~15 MB) do not grow with the bulk and are not what this test is about.
    sidecar = tensorboard_memory.rss_growth(tensorboard_memory.write_sidecar, arrays_by_step, str(tmp_path / "s"))
    inline = tensorboard_memory.rss_growth(tensorboard_memory.write_inline, arrays_by_step, str(tmp_path / "i"))
    # The same arrays as tensor summaries do cost TensorBoard their size: the measurement sees it.
    assert inline > 0.8 * bulk, (inline, bulk)
    assert sidecar < 0.2 * bulk, (sidecar, bulk)
