"""The compiled probe pass per output against one function over everything, side by side in one run.

    python bench/probe_trace.py [--models resnet50,transformer_text,cnn] [--repeats 2] [--probe 512]

  resnet50          keras.applications.ResNet50 at 32x32x3 (no weights, 10 classes)
  transformer_text  the demo's keras.io transformer text classifier (a traced custom block, attention)
  cnn               the demo's cnn_wide (8x8x1 digits)

The probe pass is compiled either as one function for the walk plus one per distinct output signature
for the statistics (probe_pass.COMPILE_PER_OUTPUT, the default) or as one function over the walk and every
output's statistics (the design before). For each model and setting a fresh process builds the model and
the ProbePass as the callback does (its plan at the default budget, its batch size) and calls it on the
probe: the first call traces (once per training, at train begin), the next calls are what every logged
step pays. Reported per setting, the median over `--repeats` processes: the first call, a traced call (the
median of 3) and the process's peak memory growth over the first call; then the ratios one function / per
output. The settings alternate within a repeat, so machine load hits both alike. Ratios only: the machine
is noisy.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SETTINGS = {"per output": True, "one function": False}


def _model(name, probe):
    import keras

    from demo import models as demo_models
    from demo import text as demo_text

    rng = np.random.default_rng(0)
    if name == "transformer_text":
        x, y, _, _ = demo_text.split()
        return demo_models.compile_classifier(demo_text.transformer_text()), x[:probe], np.asarray(y[:probe])
    labels = rng.integers(0, 10, probe)
    if name == "cnn":
        model = demo_models.compile_classifier(demo_models.cnn((16, 16), 64, "cnn_wide"))
        return model, rng.random((probe, 8, 8, 1), dtype=np.float32), labels
    model = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10)
    return model, rng.random((probe, 32, 32, 3), dtype=np.float32), labels


def _memory_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _measure(name, per_output, probe):
    """One setting in this process: {first, traced, growth_mb}."""
    from innspector_tb.capture import architecture, probe_pass
    from innspector_tb.capture import plan as plan_lib
    from innspector_tb.format import stats

    probe_pass.COMPILE_PER_OUTPUT = per_output
    model, x, y = _model(name, probe)
    arch = architecture.extract_architecture(model)
    layer_ids = [lid for lid, _ in architecture.iter_leaf_layers(model)]
    classes = np.unique(y)
    rows = np.searchsorted(classes, y)
    subset = stats.balanced_indices(y, plan_lib.DEFAULT_SUBSET_SIZE, seed=0)
    shapes = plan_lib.layer_shapes(arch, layer_ids)
    plan = plan_lib.make_plan(shapes, len(x), len(classes), subset=tuple(int(i) for i in subset))
    pass_ = probe_pass.ProbePass(
        model,
        layer_ids,
        plan,
        rows,
        len(classes),
        output_counts={layer["id"]: len(layer.get("output_shapes") or [None]) for layer in arch["layers"]},
        batch_size=probe_pass.batch_size_for(sum(s.sample_size for s in shapes) * plan_lib.BYTES_PER_VALUE),
    )
    before = _memory_mb("VmRSS")
    start = time.perf_counter()
    pass_(x)
    first = time.perf_counter() - start
    growth = _memory_mb("VmHWM") - before
    traced = []
    for _ in range(3):
        start = time.perf_counter()
        pass_(x)
        traced.append(time.perf_counter() - start)
    return {"first": first, "traced": statistics.median(traced), "growth_mb": growth}


def _in_process(name, setting, probe):
    command = [sys.executable, os.path.abspath(__file__), "--child", name, setting, "--probe", str(probe)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="resnet50,transformer_text,cnn")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--probe", type=int, default=512)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        name, setting = args.child
        print(json.dumps(_measure(name, SETTINGS[setting], args.probe)), flush=True)
        return
    print("model             setting        first call   traced call   peak growth of the first call")
    for name in args.models.split(","):
        results = {setting: [] for setting in SETTINGS}
        for _ in range(args.repeats):
            for setting in SETTINGS:
                results[setting].append(_in_process(name, setting, args.probe))
        medians = {
            setting: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
            for setting, runs in results.items()
        }
        for setting, m in medians.items():
            print("%-17s %-14s %8.2f s %11.3f s %12.0f MB" % (name, setting, m["first"], m["traced"], m["growth_mb"]))
        split, one = medians["per output"], medians["one function"]
        print(
            "%-17s one function / per output: first call %.2fx, traced call %.2fx, peak growth %.2fx"
            % (
                name,
                one["first"] / split["first"],
                one["traced"] / split["traced"],
                one["growth_mb"] / split["growth_mb"],
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
