"""What the feature visualisations cost per logged step, as a ratio to a forward pass of the probe.

    python bench/feature_visualisation.py [--model cnn|resnet50] [--steps 256] [--results 4]

  cnn       the demo's CNN (8x8x1 digits shape): the callback's default targets, 2 neurons of
            dense_hidden for each of 4 classes and a class visualisation of each of the 10 classes
  resnet50  keras.applications.ResNet50 at 32x32x3 (no weights, 10 classes): the same targets on
            its last pooling layer's channels (avg_pool)

against the median of three compiled forward passes of a 512-sample probe (`Attributor.scores`, the
forward the probe pass is built on, as bench/attribution_cost.py). Reported: the first call (tracing
the optimisation's compiled function, once per model), the median of two later calls, and what one
optimisation step of the whole batch costs. The callback fits them into the time budget (fewer steps,
results, targets), so a big model's cost is bounded by its training time, not by this figure.
Random inputs: the costs do not depend on the values. The machine is shared and noisy: ratios only.
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _model(name):
    import keras

    if name == "cnn":
        from demo import models as demo_models

        return demo_models.compile_classifier(demo_models.cnn()), (8, 8, 1), "dense_hidden"
    model = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model, (32, 32, 3), "avg_pool"


def _median_seconds(fn, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    from innspector_tb.capture import attribution
    from innspector_tb.capture import feature_visualisation as fv

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="cnn", choices=("cnn", "resnet50"))
    parser.add_argument("--steps", type=int, default=fv.DEFAULT_OPTIONS["steps"])
    parser.add_argument("--results", type=int, default=fv.DEFAULT_OPTIONS["results"])
    args = parser.parse_args()
    model, shape, layer = _model(args.model)
    rng = np.random.default_rng(0)
    probe = rng.random((512,) + shape).astype("float32")
    scores = attribution.Attributor(model).scores
    scores(probe)  # traces
    forward = _median_seconds(lambda: scores(probe))
    targets = [fv.Target(layer, unit, cls, "mistakes") for cls in range(4) for unit in (2 * cls, 2 * cls + 1)]
    targets += [fv.Target(None, None, cls, "class") for cls in range(10)]
    visualiser = fv.Visualiser(model, [layer], (0.0, 1.0))
    options = {"steps": args.steps, "results": args.results}
    start = time.perf_counter()
    visualiser(targets, probe, **options)
    first = time.perf_counter() - start
    later = _median_seconds(lambda: visualiser(targets, probe, **options), repeats=2)
    rows = len(targets) * args.results
    print("model %s, input %s, probe forward (512 samples): %.3f s" % (args.model, shape, forward))
    print(
        "%d targets x %d results = %d images, %d optimisation steps:" % (len(targets), args.results, rows, args.steps)
    )
    print("  first call (traces): %.2f s = %.0fx the probe forward" % (first, first / forward))
    print("  later calls (median of 2): %.2f s = %.0fx the probe forward" % (later, later / forward))
    print("  one optimisation step of the batch: %.2fx the probe forward" % (later / args.steps / forward))


if __name__ == "__main__":
    main()
