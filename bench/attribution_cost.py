"""What each attribution method costs per logged step, as a ratio to a forward pass of the probe.

    python bench/attribution_cost.py [--model cnn|resnet50] [--methods lrp_epsilon,occlusion,...]

  cnn       the demo's CNN (8x8x1 digits shape), 32 attributed samples, a 512-sample probe
  resnet50  keras.applications.ResNet50 at 32x32x3 (no weights, 10 classes), 16 attributed samples
            (what the callback keeps of it within budget_bytes), a 512-sample probe

For each method: the first call (tracing its compiled function, once per model at step 0) and the
median of three later calls for the predicted and the true class, against the median of three
compiled forward passes of the whole probe (`Attributor.scores`, the forward the probe pass is built
on; the probe pass adds statistics to it). Then the deletion curves (capture/deletion.py) of the methods
that have maps, and of the random ranking, at `--deletion-steps` points (16, the default; 0: not
measured): all of them, and per ranking. Random inputs: the costs do not depend on the values.
The machine is shared and noisy: ratios only, absolute times mean little.
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

        return demo_models.compile_classifier(demo_models.cnn()), (8, 8, 1), 32
    model = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model, (32, 32, 3), 16


def _median_seconds(fn, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    from innspector_tb.capture import attribution

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="cnn", choices=("cnn", "resnet50"))
    parser.add_argument("--methods", default=",".join(attribution.METHODS))
    parser.add_argument("--deletion-steps", type=int, default=16)
    args = parser.parse_args()
    model, shape, size = _model(args.model)
    rng = np.random.default_rng(0)
    probe = rng.random((512,) + shape).astype("float32")
    x, y = probe[:size], np.arange(size) % 10
    attributor = attribution.Attributor(model)
    attributor.scores(probe)
    forward = _median_seconds(lambda: attributor.scores(probe))
    print(
        "%s: forward of the 512-sample probe %.3f s; %d samples, predicted and true class" % (args.model, forward, size)
    )
    mapped = []
    for method in args.methods.split(","):
        start = time.perf_counter()
        result = attributor(x, y, methods=(method,))
        first = time.perf_counter() - start
        if method not in result:
            print("%-24s skipped: %s" % (method, result.skipped.get(method)))
            continue
        mapped.append(method)
        seconds = _median_seconds(lambda m=method: attributor(x, y, methods=(m,)))
        print(
            "%-24s first call %6.2f s, then %7.3f s = %5.2fx the probe's forward"
            % (method, first, seconds, seconds / forward)
        )
    if args.deletion_steps and mapped:
        _deletion_cost(attributor, x, y, mapped, args.deletion_steps, forward)


def _deletion_cost(attributor, x, y, methods, steps, forward):
    """The deletion curves of the methods' maps and the random ranking, as a ratio to the probe's forward."""
    from innspector_tb.capture import deletion

    maps = attributor(x, y, methods=tuple(methods))
    curves = lambda: deletion.curves(deletion.batch_scores(attributor), x, maps, maps.classes, steps=steps)  # noqa: E731
    start = time.perf_counter()
    curves()
    first = time.perf_counter() - start
    seconds = _median_seconds(curves)
    rankings = len(methods) + 1
    print(
        "%-24s first call %6.2f s, then %7.3f s = %5.2fx the probe's forward (%d points, %d rankings: %.2fx each)"
        % ("deletion curves", first, seconds, seconds / forward, steps, rankings, seconds / forward / rankings)
    )


if __name__ == "__main__":
    main()
