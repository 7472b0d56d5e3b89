"""How fast a widget appears: the Histogram tool applied to a 1M-element kernel, in headless Chromium.

Target (from the issue): from applying the tool to the painted widget in at most 300 ms, warm.

This script writes a logdir with one run, `dense_1m`: a Dense(1000) layer on 1000 inputs (a 1,000,000-
element kernel), its weights logged at steps 0 and 1 through our summary ops (no training), starts a
real `tensorboard` on it (tests/support/tensorboard_server.py), and runs frontend/e2e/bench_widgets.mjs: per
repeat, a fresh page on the model's L2 view, the tool applied to the kernel (cold: Vega's chunk loads,
the server reads the kernel), then applied again in the same page (warm). It prints the medians and
their ratios to the target. Side by side, the same for a small kernel (`dense_small`, 64x10), so the
1M-element cost is visible against the fixed cost of a widget.

    python bench/widgets.py [--repeats 5] [--logdir DIR]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

TARGET_MS = 300.0


def write_logdir(logdir):
    import keras
    import numpy as np

    import innspector_tb
    from innspector_tb.capture import summary

    for name, inputs, units in (("dense_1m", 1000, 1000), ("dense_small", 64, 10)):
        keras.backend.clear_session()
        model = keras.Sequential(
            [keras.Input((inputs,), name="features"), keras.layers.Dense(units, activation="relu", name="dense")],
            name=name,
        )
        head = innspector_tb.header(name, label="%s: a %dx%d kernel" % (name, inputs, units))
        writer = summary.create_file_writer(os.path.join(logdir, name))
        with writer.as_default():
            summary.header(head)
            summary.architecture(model)
            rng = np.random.default_rng(0)
            for step in (0, 1):
                if step:
                    kernel, bias = model.get_weights()
                    model.set_weights([kernel + rng.normal(0, 0.01, kernel.shape).astype("float32"), bias])
                summary.weights(model, step=step)
        writer.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--logdir", help="reuse (or write into) this logdir instead of a temporary one")
    args = parser.parse_args()

    from tests.support.tensorboard_server import TensorBoardServer, wait_for_models

    node = shutil.which("node")
    if node is None:
        sys.exit("node is not on PATH (the browser part runs on Node.js)")
    temporary = None
    logdir = args.logdir
    if logdir is None:
        temporary = tempfile.mkdtemp(prefix="innspector-widgets-bench-")
        logdir = temporary
    try:
        if not os.path.isdir(os.path.join(logdir, "dense_1m")):
            write_logdir(logdir)
        results = {}
        with TensorBoardServer(logdir) as server:
            wait_for_models(server.url, 2, server=server)
            for run in ("dense_1m", "dense_small"):
                print("[%s] applying Histogram to dense/kernel" % run, file=sys.stderr)
                out = subprocess.run(
                    [
                        node,
                        os.path.join(REPO, "frontend", "e2e", "bench_widgets.mjs"),
                        server.url,
                        "--run",
                        run,
                        "--unit",
                        "var:dense/kernel",
                        "--repeats",
                        str(args.repeats),
                    ],
                    cwd=REPO,
                    stdout=subprocess.PIPE,
                    text=True,
                    timeout=900,
                    check=False,
                )
                results[run] = json.loads(out.stdout)
        report(results)
    finally:
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)


def report(results):
    print("\nHistogram tool -> painted widget, headless Chromium, median of the repeats (fresh page each)")
    print("ratio = median / %d ms (<= 1 meets the target, which is for warm)" % TARGET_MS)
    print("%-34s %9s %6s %9s %6s %10s" % ("", "warm", "ratio", "cold", "ratio", "1st cold"))
    for run, label in (
        ("dense_1m", "1M-element kernel (1000x1000)"),
        ("dense_small", "small kernel (64x10), baseline"),
    ):
        result = results[run]
        if result.get("error") or not result["warm_ms"]:
            print("%-34s failed: %s" % (label, result.get("error")))
            continue
        warm = statistics.median(result["warm_ms"])
        cold = statistics.median(result["cold_ms"])
        print(
            "%-34s %6.0f ms %6.2f %6.0f ms %6.2f %7.0f ms"
            % (label, warm, warm / TARGET_MS, cold, cold / TARGET_MS, result["cold_ms"][0])
        )
    big, small = results["dense_1m"], results["dense_small"]
    if big["warm_ms"] and small["warm_ms"]:
        print(
            "1M kernel / small kernel, warm: %.2fx"
            % (statistics.median(big["warm_ms"]) / statistics.median(small["warm_ms"]))
        )


if __name__ == "__main__":
    main()
