"""TensorBoard's memory with our sidecar checkpoints against bulk written into event files.

Writes the same weights and activations for N steps two ways into two logdirs:
  sidecar   innspector_tb.capture.summary ops: statistics in the event file, arrays in HDF5
  inline    the arrays themselves as plain tensor summaries (what the sidecars avoid)
then starts a real `tensorboard` on each (every point kept: --samples_per_plugin
innspector=0, the plugin's default) and prints its resident memory after loading,
against an empty logdir, as a multiple of the bulk size.

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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--mb-per-step", type=float, default=8.0)
    args = parser.parse_args()
    elements = int(args.mb_per_step * 2**20 / 4)
    rng = np.random.default_rng(0)
    arrays_by_step = [rng.normal(size=(512, elements // 512)).astype(np.float32) for _ in range(args.steps)]
    bulk = sum(a.nbytes for a in arrays_by_step)
    with (
        tempfile.TemporaryDirectory() as empty,
        tempfile.TemporaryDirectory() as sidecar,
        tempfile.TemporaryDirectory() as inline,
    ):
        write_sidecar(sidecar, arrays_by_step)
        write_inline(inline, arrays_by_step)
        base = tensorboard_rss(empty)
        rss_sidecar = tensorboard_rss(sidecar)
        rss_inline = tensorboard_rss(inline)
    print("bulk logged: %.0f MB over %d steps" % (bulk / 2**20, args.steps))
    print("TensorBoard RSS growth over an empty logdir, as a multiple of the bulk size:")
    print("  sidecar (ours)  %.3fx  (%+.0f MB)" % ((rss_sidecar - base) / bulk, (rss_sidecar - base) / 2**20))
    print("  inline tensors  %.3fx  (%+.0f MB)" % ((rss_inline - base) / bulk, (rss_inline - base) / 2**20))


if __name__ == "__main__":
    main()
