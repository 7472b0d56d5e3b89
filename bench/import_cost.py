"""What installing innspector-tb costs every TensorBoard launch: importing the plugin.

TensorBoard imports every installed plugin at start, whatever the logdir holds. Each measure runs in a
fresh interpreter, several times (medians), side by side:

  default      TensorBoard's default plugins loaded (`tensorboard.default.get_static_plugins()`), nothing else
  + ours       the same, then `import innspector_tb.plugin` (its own time measured after the defaults)
  histogram    `import tensorboard.plugins.histogram.histograms_plugin` alone, for scale

Prints our import time, the histogram plugin's, peak RSS with ours against the defaults alone, and
whether TensorFlow or Keras got imported (they must not). Targets: <= 0.3 s, <= 1.3x peak RSS.
"""

import json
import statistics
import subprocess
import sys

REPEATS = 5

_PROBE = r"""
import json, resource, sys, time
what = sys.argv[1]
t0 = time.perf_counter()
if what in ("default", "ours"):
    import tensorboard.default
    tensorboard.default.get_static_plugins()  # not the entry points: those include ours
t1 = time.perf_counter()
if what == "ours":
    import innspector_tb.plugin  # noqa: F401
elif what == "histogram":
    import tensorboard.plugins.histogram.histograms_plugin  # noqa: F401
t2 = time.perf_counter()
print(json.dumps({
    "base_s": t1 - t0, "import_s": t2 - t1,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "heavy": sorted(m for m in ("tensorflow", "keras") if m in sys.modules),
}))
"""


def main():
    # Interleaved so that machine noise hits all three alike.
    results = {"default": [], "ours": [], "histogram": []}
    for _ in range(REPEATS):
        for what in results:
            results[what].append(measure_once(what))
    summary = {what: _median(runs) for what, runs in results.items()}
    ours, default, histogram = summary["ours"], summary["default"], summary["histogram"]
    print("import innspector_tb.plugin (after TensorBoard's defaults): %.3f s  (target <= 0.3 s)" % ours["import_s"])
    print(
        "import of TensorBoard's histogram plugin alone:            %.3f s  (ours / histogram: %.1fx)"
        % (histogram["import_s"], ours["import_s"] / max(histogram["import_s"], 1e-9))
    )
    print(
        "peak RSS, default plugins alone: %.0f MB; with ours: %.0f MB  -> %.2fx  (target <= 1.3x)"
        % (default["peak_rss_mb"], ours["peak_rss_mb"], ours["peak_rss_mb"] / default["peak_rss_mb"])
    )
    print("TensorFlow/Keras imported by the plugin: %s" % (", ".join(ours["heavy"]) or "no"))


def measure_once(what):
    out = subprocess.run([sys.executable, "-c", _PROBE, what], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(runs):
    return {
        "import_s": statistics.median(r["import_s"] for r in runs),
        "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
        "heavy": sorted({m for r in runs for m in r["heavy"]}),
    }


if __name__ == "__main__":
    main()
