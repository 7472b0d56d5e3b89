"""TensorBoard's memory with our sidecar checkpoints against bulk written into event files.

Writes the same weights and activations for N steps two ways into two logdirs:
  sidecar   innspector_tb.capture.summary ops: statistics in the event file, arrays in HDF5
  inline    the arrays themselves as plain tensor summaries (what the sidecars avoid)
then starts a real `tensorboard` on each (every point kept: --samples_per_plugin
innspector=0, the plugin's default) and prints its resident memory after loading,
as a multiple of the bulk size. Each way is measured against the same way with one
tiny step, so fixed costs of a run (imports such as h5py, caches) cancel out and
only the growth with the bulk remains.

    python bench/tensorboard_memory.py [--steps 20] [--mb-per-step 8]
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import tensorflow as tf

import innspector_tb
from innspector_tb.capture import summary
from innspector_tb.format import metadata


def write_sidecar(logdir, arrays_by_step):
    writer = summary.create_file_writer(os.path.join(logdir, "run"))
    with writer.as_default():
        summary.header(innspector_tb.header("run"))
        for step, arrays in enumerate(arrays_by_step):
            summary.activations({"layer": arrays}, step=step)
    writer.close()


def write_inline(logdir, arrays_by_step):
    writer = tf.summary.create_file_writer(os.path.join(logdir, "run"))
    meta = metadata.create_summary_metadata(metadata.Kind.STATISTICS, unit="layer/activations")
    with writer.as_default():
        for step, arrays in enumerate(arrays_by_step):
            tf.summary.write("innspector/bulk/layer", tf.constant(arrays), step=step, metadata=meta)
    writer.close()


def _rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def tensorboard_rss(logdir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tensorboard = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    process = subprocess.Popen(
        [
            tensorboard,
            "--logdir",
            logdir,
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--load_fast",
            "false",
            "--reload_interval",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = "http://127.0.0.1:%d/data/plugin/innspector/models" % port
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url, timeout=10).read()
                break
            except OSError:
                time.sleep(0.5)
        time.sleep(8)  # several reload cycles: everything in the logdir is loaded
        return _rss(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


def rss_growth(write, arrays_by_step, workdir):
    """TensorBoard's extra memory for `arrays_by_step` written by `write`, over one tiny step."""
    tiny = os.path.join(workdir, "tiny")
    full = os.path.join(workdir, "full")
    os.makedirs(tiny)
    os.makedirs(full)
    write(tiny, [np.zeros((1, 1), np.float32)])
    write(full, arrays_by_step)
    return tensorboard_rss(full) - tensorboard_rss(tiny)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--mb-per-step", type=float, default=8.0)
    args = parser.parse_args()
    elements = int(args.mb_per_step * 2**20 / 4)
    rng = np.random.default_rng(0)
    arrays_by_step = [rng.normal(size=(512, elements // 512)).astype(np.float32) for _ in range(args.steps)]
    bulk = sum(a.nbytes for a in arrays_by_step)
    with tempfile.TemporaryDirectory() as sidecar, tempfile.TemporaryDirectory() as inline:
        growth_sidecar = rss_growth(write_sidecar, arrays_by_step, sidecar)
        growth_inline = rss_growth(write_inline, arrays_by_step, inline)
    print("bulk logged: %.0f MB over %d steps" % (bulk / 2**20, args.steps))
    print("TensorBoard RSS growth over the same run with one tiny step, as a multiple of the bulk size:")
    print("  sidecar (ours)  %.3fx  (%+.0f MB)" % (growth_sidecar / bulk, growth_sidecar / 2**20))
    print("  inline tensors  %.3fx  (%+.0f MB)" % (growth_inline / bulk, growth_inline / 2**20))


if __name__ == "__main__":
    main()
