"""What tracing the compiled probe pass costs with and without AutoGraph, side by side in one run.

    python bench/probe_trace.py [--models transformer_text,cnn,resnet50] [--repeats 3]

  transformer_text  the demo's keras.io transformer text classifier (a traced custom block, attention)
  cnn               the demo's cnn_wide (8x8x1 digits)
  resnet50          keras.applications.ResNet50 at 32x32x3 (no weights, 10 classes)

For each model and each setting (probe_pass.AUTOGRAPH off, the default, and on), a fresh ProbePass is built
and called on a 64-sample probe: its first call traces the compiled function (once per model, at the first
logged step); a second call shows the traced pass. Reported: the median first-call time over `--repeats`
fresh passes, and the ratio with AutoGraph to without (above 1: AutoGraph costs that much more). The two
settings alternate within a repeat, so machine load hits both alike. Ratios only: the machine is noisy.
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

PROBE = 64


def _model(name):
    import keras

    from demo import models as demo_models
    from demo import text as demo_text

    if name == "transformer_text":
        x, _, _, _ = demo_text.split()
        return demo_models.compile_classifier(demo_text.transformer_text()), x[:PROBE]
    if name == "cnn":
        model = demo_models.compile_classifier(demo_models.cnn((16, 16), 64, "cnn_wide"))
        return model, np.random.default_rng(0).random((PROBE, 8, 8, 1), dtype=np.float32)
    model = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10)
    return model, np.random.default_rng(0).random((PROBE, 32, 32, 3), dtype=np.float32)


def _first_call(model, x, autograph):
    from innspector_tb.capture import architecture, probe_pass

    probe_pass.AUTOGRAPH = autograph
    layer_ids = [lid for lid, _ in architecture.iter_leaf_layers(model)]
    outputs = {layer["id"]: len(layer["output_shapes"]) for layer in architecture.extract_architecture(model)["layers"]}
    labels = np.arange(len(x)) % 3
    # output_counts, as the callback passes them: one trace with a fixed signature
    probe = probe_pass.ProbePass(model, layer_ids, labels=labels, num_classes=3, output_counts=outputs)
    start = time.perf_counter()
    probe(x)
    first = time.perf_counter() - start
    start = time.perf_counter()
    probe(x)
    return first, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="transformer_text,cnn,resnet50")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print("model             first call without AutoGraph   with AutoGraph   ratio   (a traced call: without / with)")
    for name in args.models.split(","):
        model, x = _model(name)
        times = {False: [], True: []}
        traced = {False: [], True: []}
        for _ in range(args.repeats):
            for autograph in (False, True):
                first, second = _first_call(model, x, autograph)
                times[autograph].append(first)
                traced[autograph].append(second)
        off, on = statistics.median(times[False]), statistics.median(times[True])
        print(
            "%-17s %10.2f s %28.2f s %8.2fx   (%.3f s / %.3f s)"
            % (name, off, on, on / off, statistics.median(traced[False]), statistics.median(traced[True])),
            flush=True,
        )


if __name__ == "__main__":
    main()
