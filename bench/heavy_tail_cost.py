"""What the heavy-tail α measure costs at one step, side by side with the step's other measures and a forward
pass of the probe.

    python bench/heavy_tail_cost.py [--model resnet50|cnn]

  resnet50  keras.applications.ResNet50 at 32x32x3 (no weights, 10 classes): 53 convolution kernels and
            one Dense kernel, the largest 3x3x512x512 and 2048x10
  cnn       the demo's CNN (8x8x1 digits shape)

Times (median of three): α of every Dense/convolution kernel (spectral_tail.kernel_alpha, the eigenvalues
and the fit; reading the kernels from the step file is left out, as the summaries' reading is for the
others); every other unit measure scored over the same model's variables from their summaries (statistics
and histograms at two steps, as the event file holds them; `abnormal` and `structural` left out: they need
the reference and the architecture); a compiled forward of a 512-sample probe (the forward the probe pass is
built on). The machine is shared and noisy: ratios only, absolute times mean little.
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

OTHER_MEASURES = (
    "variance",
    "skew",
    "kurtosis",
    "min",
    "max",
    "mean_abs",
    "zero_fraction",
    "non_finite",
    "divergence_from_init",
    "divergence_from_normal",
    "change_since_previous",
)


def _model(name):
    import keras

    if name == "cnn":
        from demo import models as demo_models

        return demo_models.cnn(), (8, 8, 1)
    return keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10), (32, 32, 3)


def _median_seconds(fn, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _summaries(model):
    """UnitSeries of every variable at steps 0 and 1 (1: the values moved by 1% noise), as from the event file."""
    from innspector_tb.analysis import interestingness as I
    from innspector_tb.format import stats

    rng = np.random.default_rng(0)
    series = []
    for layer in model.layers:
        for variable in layer.weights:
            values = np.asarray(variable.numpy())
            moved = values + 0.01 * float(values.std() or 1.0) * rng.standard_normal(values.shape)
            by_step = {0: values, 1: moved}
            unit_type = variable.path.rpartition("/")[2]
            series.append(
                I.UnitSeries(
                    run="bench",
                    unit="%s/%s" % (layer.name, unit_type),
                    layer=layer.name,
                    unit_type=unit_type,
                    layer_type=type(layer).__name__,
                    stats={s: stats.as_dict(stats.describe(v)) for s, v in by_step.items()},
                    histograms={s: stats.histogram(v) for s, v in by_step.items()},
                )
            )
    return series


def main():
    import tensorflow as tf

    from innspector_tb.analysis import interestingness as I
    from innspector_tb.analysis.interestingness import spectral_tail

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="resnet50", choices=("resnet50", "cnn"))
    args = parser.parse_args()
    model, shape = _model(args.model)
    kernels = [
        (type(layer).__name__, np.asarray(layer.kernel.numpy()))
        for layer in model.layers
        if type(layer).__name__ in ("Dense", "Conv1D", "Conv2D", "Conv3D")
    ]
    probe = np.random.default_rng(0).random((512,) + shape).astype("float32")
    forward_fn = tf.function(lambda x: model(x, training=False))
    forward_fn(probe)
    forward = _median_seconds(lambda: forward_fn(probe).numpy())

    alphas = [spectral_tail.kernel_alpha(k, t) for t, k in kernels]
    alpha_seconds = _median_seconds(lambda: [spectral_tail.kernel_alpha(k, t) for t, k in kernels])
    per_kernel = [
        (_median_seconds(lambda t=t, k=k: spectral_tail.kernel_alpha(k, t)), "x".join(map(str, k.shape)))
        for t, k in kernels
    ]

    series = _summaries(model)
    others = _median_seconds(lambda: [I.score(series, m) for m in OTHER_MEASURES])
    computed = sum("alpha" in a for a in alphas)
    slowest = max(per_kernel)
    print(
        "%s: %d Dense/convolution kernels (%d with α), %d variables" % (args.model, len(kernels), computed, len(series))
    )
    print("forward of the 512-sample probe        %8.3f s" % forward)
    print(
        "%d other measures over every variable   %8.3f s = %5.2fx the forward"
        % (len(OTHER_MEASURES), others, others / forward)
    )
    print(
        "heavy_tail_alpha over every kernel     %8.3f s = %5.2fx the forward, %5.1fx the %d other measures together"
        % (alpha_seconds, alpha_seconds / forward, alpha_seconds / others, len(OTHER_MEASURES))
    )
    print("slowest kernel: %s, %.3f s" % (slowest[1], slowest[0]))


if __name__ == "__main__":
    main()
