"""Latency and memory of the plugin's routes, served by a real `tensorboard` process.

On a generated logdir of 20 runs x 11 steps (bench/backend_logdir.py: small
Keras models with lineage, weights perturbed step by step, no training; one run
holds a 1000x1000 Dense kernel), this script:

  1. starts `tensorboard --load_fast=false` on it (loaded once, before serving:
     --reload_task blocking --reload_interval 0, so no reload thread competes
     with the requests), and times over HTTP every route of the plugin:
     cold = the first request of each route, in the fixed order printed (the
     routes share one cache of architectures, summaries and arrays, so a route
     called later profits from what earlier ones read), and warm = p50/p95
     over --repeats rounds in which the routes take turns (side by side, so
     machine noise hits all of them alike). TensorBoard's own histograms route
     is timed the same way on the same logdir; each warm p95 is also printed
     as a multiple of it;
  2. prints the resident memory of TensorBoard after loading this logdir and
     after loading a copy without the sidecar HDF5 files (event files alone),
     measured with bench/tensorboard_memory.py's method, and the growth of the
     timed process over the requests (the plugin's cache);
  3. scores interestingness on every variable of ResNet50 (built with
     weights=None, 25.6M parameters, two steps: the initial weights and a
     slightly perturbed copy), in process with innspector_tb.analysis.interestingness,
     and through a fresh TensorBoard whose first request is the route.

Targets (from the issue): warm p95 <= 50 ms for models, tree, graph and
interestingness; a histogram of a 1M-element kernel <= 50 ms warm;
interestingness of every variable of ResNet50 <= 1 s cold. The machine is
shared and noisy: nothing is asserted, figures are printed.

    python bench/backend.py [--repeats 30] [--logdir DIR] [--skip-resnet]
"""

import argparse
import gzip
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))
sys.path.insert(0, _HERE)

import numpy as np

import backend_logdir
import tensorboard_memory

BASE = "/data/plugin/innspector"
TARGET_MS = 50.0
RESNET_TARGET_S = 1.0
SMALL_RUN = "a_cnn_16_16"  # conv_1 -> conv_2 -> pool -> flatten -> dense_hidden -> classifier


def routes():
    """[(name, method, path, JSON body or None, target ms or None)], in the order of the cold pass."""
    q = urllib.parse.urlencode
    big = backend_logdir.BIG_RUN

    def hist_body(run, layer):
        return {
            "run": run,
            "unit": {"kind": "weights", "layer": layer, "variable": "kernel"},
            "steps": "last",
            "transform": [{"op": "histogram", "bins": 30}],
        }

    return [
        (
            "tb histograms (1M kernel)",
            "GET",
            "/data/plugin/histograms/histograms?"
            + q({"run": big, "tag": "weights/%s/kernel" % backend_logdir.BIG_LAYER}),
            None,
            None,
        ),
        (
            "tb histograms (small kernel)",
            "GET",
            "/data/plugin/histograms/histograms?" + q({"run": SMALL_RUN, "tag": "weights/dense_hidden/kernel"}),
            None,
            None,
        ),
        ("models", "GET", BASE + "/models", None, TARGET_MS),
        ("tree", "GET", BASE + "/tree", None, TARGET_MS),
        ("graph", "GET", BASE + "/graph?" + q({"run": "a_cnn_skip"}), None, TARGET_MS),
        ("neurons (dense)", "GET", BASE + "/neurons?" + q({"run": SMALL_RUN, "layer": "dense_hidden"}), None, None),
        ("neurons (conv)", "GET", BASE + "/neurons?" + q({"run": SMALL_RUN, "layer": "conv_2"}), None, None),
        ("data hist (16k kernel)", "POST", BASE + "/data", hist_body(SMALL_RUN, "dense_hidden"), None),
        ("data hist (1M kernel)", "POST", BASE + "/data", hist_body(big, backend_logdir.BIG_LAYER), TARGET_MS),
        ("interestingness variance", "GET", BASE + "/interestingness?measure=variance", None, TARGET_MS),
        ("interestingness div_init", "GET", BASE + "/interestingness?measure=divergence_from_init", None, TARGET_MS),
        ("interestingness/measures", "GET", BASE + "/interestingness/measures", None, None),
        ("structures", "GET", BASE + "/structures", None, None),
        ("lint", "GET", BASE + "/lint?" + q({"run": "a_cnn_bn_dropout"}), None, None),
        ("metrics", "GET", BASE + "/metrics", None, None),
    ]


REFERENCE = "tb histograms (1M kernel)"


# ------------------------------------------------------------------ HTTP


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TensorBoard:
    """A `tensorboard` process that loads the logdir once, fully, before it serves."""

    def __init__(self, logdir):
        self.port = _free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        executable = os.path.join(os.path.dirname(sys.executable), "tensorboard")
        self._stderr = tempfile.TemporaryFile()
        start = time.monotonic()
        self.process = subprocess.Popen(
            [
                executable,
                "--logdir",
                logdir,
                "--port",
                str(self.port),
                "--host",
                "127.0.0.1",
                "--load_fast",
                "false",
                "--reload_task",
                "blocking",
                "--reload_interval",
                "0",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        deadline = start + 300
        while True:
            try:
                urllib.request.urlopen(self.base + "/data/runs", timeout=10).read()  # a core route, not ours
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    self._stderr.seek(0)
                    raise RuntimeError("tensorboard did not start: %s" % self._stderr.read().decode()[-3000:]) from None
                time.sleep(0.25)
        self.start_seconds = time.monotonic() - start

    def rss(self):
        return tensorboard_memory._rss(self.process.pid)

    def request(self, method, path, body=None):
        """(milliseconds, status, bytes, parsed JSON or error text) of one request.

        Like a browser, the request accepts gzip (TensorBoard then compresses
        every textual answer); the time includes reading and decompressing it.
        """
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Accept-Encoding": "gzip"}
        if data:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=300) as response:
                raw, status, encoding = response.read(), response.status, response.headers.get("Content-Encoding")
        except urllib.error.HTTPError as e:
            raw, status, encoding = e.read(), e.code, e.headers.get("Content-Encoding")
        if encoding == "gzip":
            raw = gzip.decompress(raw)
        ms = (time.perf_counter() - start) * 1000.0
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw[:300].decode("utf-8", "replace")
        return ms, status, len(raw), parsed

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._stderr.close()


def _percentile(values, q):
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else math.nan


def _check(name, status, parsed):
    """A short note when an answer is not what the route should give (the timing then means little)."""
    if status != 200:
        return "HTTP %d: %s" % (status, (parsed.get("error") if isinstance(parsed, dict) else parsed))
    if name.startswith("data hist") and isinstance(parsed, dict):
        counts = parsed.get("result", {}).get("value", {}).get("counts")
        if not counts:
            return "no histogram in the answer"
    if name.startswith("interestingness ") and isinstance(parsed, dict):
        units = parsed.get("units", [])
        scored = sum(1 for u in units if u.get("score") is not None)
        if not scored:
            return "no unit scored (of %d)" % len(units)
    if name == "models" and isinstance(parsed, dict) and len(parsed.get("models", [])) != 20:
        return "%d models listed, expected 20" % len(parsed.get("models", []))
    return None


def time_routes(tb, repeats):
    """{name: {cold_ms, warm: [ms], status, bytes, note, target_ms}} for every route."""
    table = {}
    order = routes()
    for name, method, path, body, target in order:  # cold pass, fixed order
        ms, status, size, parsed = tb.request(method, path, body)
        table[name] = {
            "cold_ms": ms,
            "warm": [],
            "status": status,
            "bytes": size,
            "note": _check(name, status, parsed),
            "target_ms": target,
            "answer": parsed,
        }
    tb.rss_after_cold = tb.rss()
    for _ in range(repeats):  # warm: round robin, routes side by side
        for name, method, path, body, _target in order:
            ms, status, _, _ = tb.request(method, path, body)
            table[name]["warm"].append(ms)
            if status != 200:
                table[name]["note"] = table[name]["note"] or "HTTP %d on a warm call" % status
    for entry in table.values():
        entry["p50_ms"] = _percentile(entry["warm"], 50)
        entry["p95_ms"] = _percentile(entry["warm"], 95)
    return table


def _answer_facts(table):
    """A few facts about the answers, printed beside the times (sizes explain a lot)."""
    facts = []
    models = table["models"]["answer"]
    if isinstance(models, dict):
        facts.append("models: %d listed" % len(models.get("models", [])))
    for name in ("interestingness variance", "interestingness div_init"):
        answer = table[name]["answer"]
        if isinstance(answer, dict) and "units" in answer:
            units = answer["units"]
            facts.append(
                "%s: %d units (%d scored), step %s"
                % (name, len(units), sum(1 for u in units if u.get("score") is not None), answer.get("step"))
            )
    answer = table["data hist (1M kernel)"]["answer"]
    if isinstance(answer, dict) and isinstance(answer.get("result"), dict):
        counts = answer["result"].get("value", {}).get("counts") or []
        facts.append(
            "data hist (1M kernel): %d bins, %d values counted, step %s"
            % (len(counts), int(sum(c for c in counts if c is not None)), answer.get("steps"))
        )
    answer = table["metrics"]["answer"]
    if isinstance(answer, dict):
        runs = answer.get("runs", {})
        facts.append(
            "metrics: %d runs, %d confusion matrices"
            % (len(runs), sum(len(r.get("classification", {})) for r in runs.values()))
        )
    return facts


# ------------------------------------------------------------------ memory


def events_only_copy(logdir, destination):
    """The logdir without its sidecar HDF5 files (event files alone)."""

    def ignore(directory, names):
        return [n for n in names if n.endswith(".h5") and os.path.basename(directory) == "innspector"]

    shutil.copytree(logdir, destination, ignore=ignore)
    return destination


def _tree_bytes(path, suffix=None, contains=None):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            if (suffix is None or f.endswith(suffix)) and (contains is None or contains in f):
                total += os.path.getsize(os.path.join(root, f))
    return total


# ------------------------------------------------------------------ ResNet50


def resnet50_series(seed=0):
    """(UnitSeries of every variable at steps 0 and 1, architecture, parameter count, seconds to prepare)."""
    import keras

    from innspector_tb.analysis import interestingness
    from innspector_tb.capture import architecture as architecture_lib
    from innspector_tb.capture import summary
    from innspector_tb.format import stats

    start = time.perf_counter()
    keras.utils.set_random_seed(seed)
    model = keras.applications.ResNet50(weights=None)  # no download
    arch = architecture_lib.extract_architecture(model)
    type_of_layer = {layer["id"]: layer.get("type") for layer in arch["layers"]}
    rng = np.random.default_rng(seed)
    series, params = [], 0
    for (layer_id, variable), w0 in summary.model_weights(model).items():
        params += w0.size
        w1 = w0 + rng.normal(0.0, 0.01 * (float(w0.std()) + 1e-3), size=w0.shape).astype(w0.dtype)
        series.append(
            interestingness.UnitSeries(
                run="resnet50",
                unit="%s/%s" % (layer_id, variable),
                layer=layer_id,
                unit_type=variable,
                layer_type=type_of_layer.get(layer_id),
                stats={0: stats.as_dict(stats.describe(w0)), 1: stats.as_dict(stats.describe(w1))},
                histograms={0: stats.histogram(w0), 1: stats.histogram(w1)},
            )
        )
    return model, series, arch, params, time.perf_counter() - start


def time_resnet_scores(
    series,
    arch,
    measures=("variance", "divergence_from_init", "divergence_from_normal", "change_since_previous", "structural"),
):
    from innspector_tb.analysis import interestingness

    result = {}
    for measure in measures:
        kwargs = {"architectures": {"resnet50": arch}} if measure == "structural" else {}
        times = []
        for _ in range(2):  # the first call is the cold one (corpus, lazy state); the second for reference
            start = time.perf_counter()
            answer = interestingness.score(series, measure, **kwargs)
            times.append(time.perf_counter() - start)
        scored = sum(1 for u in answer["units"] if u["score"] is not None)
        result[measure] = {"cold_s": times[0], "second_s": times[1], "units": len(answer["units"]), "scored": scored}
    return result


def write_resnet_logdir(logdir, model, series, arch):
    """A run with ResNet50's header, architecture and per-variable statistics/histograms (no sidecars)."""
    import tensorflow as tf

    import innspector_tb
    from innspector_tb.capture import summary
    from innspector_tb.format import metadata
    from innspector_tb.format import stats as stats_lib

    writer = summary.create_file_writer(os.path.join(logdir, "resnet50"))
    with writer.as_default():
        summary.header(innspector_tb.header("resnet50", id="resnet50-bench"))
        summary.architecture(arch)
        for s in series:
            for step in (0, 1):
                vector = np.array([s.stats[step][f] for f in stats_lib.STAT_FIELDS], dtype=np.float64)
                tf.summary.write(
                    metadata.STATS_TAG_PREFIX + s.unit,
                    tf.constant(vector),
                    step=step,
                    metadata=metadata.create_summary_metadata(
                        metadata.Kind.STATISTICS, unit=s.unit, unit_type=s.unit_type
                    ),
                )
                tf.summary.write(
                    metadata.HISTOGRAM_TAG_PREFIX + s.unit,
                    tf.constant(s.histograms[step]),
                    step=step,
                    metadata=metadata.create_summary_metadata(
                        metadata.Kind.HISTOGRAM, unit=s.unit, unit_type=s.unit_type
                    ),
                )
    writer.close()


def time_resnet_route(logdir, repeats=5):
    """Cold (first request of a fresh TensorBoard) and warm times of the interestingness route on ResNet50."""
    out = {}
    for measure in ("variance", "divergence_from_init"):
        tb = TensorBoard(logdir)
        try:
            path = BASE + "/interestingness?measure=" + measure
            cold, status, size, parsed = tb.request("GET", path)
            warm = [tb.request("GET", path)[0] for _ in range(repeats)]
            units = parsed.get("units", []) if isinstance(parsed, dict) else []
            out[measure] = {
                "cold_ms": cold,
                "warm_p50_ms": _percentile(warm, 50),
                "status": status,
                "bytes": size,
                "units": len(units),
                "scored": sum(1 for u in units if u.get("score") is not None),
                "note": _check("interestingness " + measure, status, parsed),
            }
        finally:
            tb.stop()
    return out


# ------------------------------------------------------------------ report


def _fmt(ms):
    return "%8.1f" % ms if ms is not None and math.isfinite(ms) else "%8s" % "-"


def _mb(n):
    return n / 2**20


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30, help="warm requests per route")
    parser.add_argument("--logdir", help="where to generate (or reuse) the logdir; default: a temporary one")
    parser.add_argument("--skip-resnet", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    figures = {"repeats": args.repeats}
    scratch = tempfile.mkdtemp(prefix="innspector_bench_")
    try:
        logdir = args.logdir or os.path.join(scratch, "logdir")
        print("== logdir: 20 runs x %d steps (no training) in %s" % (backend_logdir.STEPS, logdir), flush=True)
        seconds = backend_logdir.generate(logdir, verbose=False)
        sidecar_bytes = _tree_bytes(logdir, suffix=".h5")
        event_bytes = _tree_bytes(logdir, contains="tfevents")
        figures["logdir"] = {"generate_s": seconds, "sidecar_mb": _mb(sidecar_bytes), "event_mb": _mb(event_bytes)}
        print(
            "generated in %.1fs%s: %.1f MB of event files, %.1f MB of sidecar HDF5"
            % (seconds, " (reused)" if seconds == 0 else "", _mb(event_bytes), _mb(sidecar_bytes)),
            flush=True,
        )

        # 1. Routes.
        print("\n== routes over HTTP (tensorboard --load_fast=false, loaded before serving)", flush=True)
        tb = TensorBoard(logdir)
        try:
            rss_loaded = tb.rss()
            print(
                "tensorboard started and loaded in %.1fs; RSS %.0f MB" % (tb.start_seconds, _mb(rss_loaded)), flush=True
            )
            table = time_routes(tb, args.repeats)
            rss_after = tb.rss()
        finally:
            tb.stop()
        reference = table[REFERENCE]["p95_ms"]
        print(
            "\ncold = first request of each route, in this order (shared caches: later routes profit from earlier"
            " ones);\nwarm = p50/p95 of %d requests per route, routes taking turns; x ref = warm p95 / warm p95 of"
            " '%s'" % (args.repeats, REFERENCE)
        )
        print("%-28s %8s %8s %8s %8s %9s  %s" % ("route", "cold ms", "p50 ms", "p95 ms", "x ref", "answer KB", "note"))
        for name, entry in table.items():
            print(
                "%-28s %s %s %s %8.2f %9.1f  %s"
                % (
                    name,
                    _fmt(entry["cold_ms"]),
                    _fmt(entry["p50_ms"]),
                    _fmt(entry["p95_ms"]),
                    entry["p95_ms"] / reference,
                    entry["bytes"] / 1024,
                    entry["note"] or "",
                )
            )
        for fact in _answer_facts(table):
            print("  " + fact)
        print(
            "timed process RSS: %.0f MB after loading, %.0f MB after the cold pass, %.0f MB after the warm"
            " pass (%+.0f MB over the requests: the plugin's cache and answers)"
            % (_mb(rss_loaded), _mb(tb.rss_after_cold), _mb(rss_after), _mb(rss_after - rss_loaded)),
            flush=True,
        )
        figures["routes"] = {
            name: {
                k: (round(v, 3) if isinstance(v, float) else v) for k, v in entry.items() if k not in ("warm", "answer")
            }
            for name, entry in table.items()
        }
        figures["tensorboard_start_s"] = tb.start_seconds

        # 2. Memory with and without the sidecars.
        print("\n== TensorBoard RSS after loading (bench/tensorboard_memory.py's method)", flush=True)
        empty = os.path.join(scratch, "empty")
        os.makedirs(empty)
        events_only = events_only_copy(logdir, os.path.join(scratch, "events_only"))
        rss_empty = tensorboard_memory.tensorboard_rss(empty)
        rss_full = tensorboard_memory.tensorboard_rss(logdir)
        rss_events = tensorboard_memory.tensorboard_rss(events_only)
        print("empty logdir                     %7.0f MB" % _mb(rss_empty))
        print(
            "with sidecars (%6.1f MB of h5)  %7.0f MB  (%+.0f MB over empty)"
            % (_mb(sidecar_bytes), _mb(rss_full), _mb(rss_full - rss_empty))
        )
        print(
            "event files alone (no *.h5)      %7.0f MB  (%+.0f MB over empty)"
            % (_mb(rss_events), _mb(rss_events - rss_empty))
        )
        print(
            "difference with - without        %+7.1f MB  (%.3fx of the sidecar bytes)"
            % (_mb(rss_full - rss_events), (rss_full - rss_events) / max(sidecar_bytes, 1))
        )
        print("after serving every route above  %7.0f MB  (the timed process)" % _mb(rss_after), flush=True)
        figures["rss_mb"] = {
            "empty": _mb(rss_empty),
            "with_sidecars": _mb(rss_full),
            "events_only": _mb(rss_events),
            "difference": _mb(rss_full - rss_events),
            "timed_after_load": _mb(rss_loaded),
            "timed_after_cold": _mb(tb.rss_after_cold),
            "timed_after_routes": _mb(rss_after),
        }

        # 3. ResNet50.
        if not args.skip_resnet:
            print("\n== interestingness of every variable of ResNet50 (weights=None), steps 0 and 1", flush=True)
            model, series, arch, params, prep = resnet50_series()
            print(
                "%d variables, %.1fM parameters; model, architecture, statistics and histograms of both steps"
                " prepared in %.1fs" % (len(series), params / 1e6, prep),
                flush=True,
            )
            scores = time_resnet_scores(series, arch)
            print("%-24s %9s %9s %7s  %s" % ("interestingness.score", "cold s", "2nd s", "scored", "target"))
            for measure, r in scores.items():
                print(
                    "%-24s %9.3f %9.3f %7s  <= %.0f s cold: %s"
                    % (
                        measure,
                        r["cold_s"],
                        r["second_s"],
                        "%d/%d" % (r["scored"], r["units"]),
                        RESNET_TARGET_S,
                        "met" if r["cold_s"] <= RESNET_TARGET_S else "NOT met",
                    )
                )
            resnet_logdir = os.path.join(scratch, "resnet_logdir")
            write_resnet_logdir(resnet_logdir, model, series, arch)
            route = time_resnet_route(resnet_logdir)
            print(
                "the route, as the first request of a fresh tensorboard (statistics and histograms in the event file):"
            )
            for measure, r in route.items():
                print(
                    "  /interestingness?measure=%-22s cold %7.1f ms, then p50 %7.1f ms, %d/%d scored, %.0f KB%s"
                    % (
                        measure,
                        r["cold_ms"],
                        r["warm_p50_ms"],
                        r["scored"],
                        r["units"],
                        r["bytes"] / 1024,
                        ("  [%s]" % r["note"]) if r["note"] else "",
                    ),
                    flush=True,
                )
            figures["resnet50"] = {
                "variables": len(series),
                "params": params,
                "prepare_s": prep,
                "score": scores,
                "route": route,
            }

        # 4. Summary.
        print(
            "\n== summary (target: warm p95 <= %.0f ms where given; ResNet50 interestingness <= %.0f s cold)"
            % (TARGET_MS, RESNET_TARGET_S)
        )
        print("%-40s %9s %9s %9s %10s  %s" % ("route", "cold ms", "p50 ms", "p95 ms", "target", "result"))
        met_all = True
        for name, entry in table.items():
            target = entry["target_ms"]
            if target is None:
                verdict, target_text = "", "-"
            else:
                ok = entry["p95_ms"] <= target and entry["status"] == 200
                met_all &= ok
                verdict, target_text = ("met" if ok else "NOT met"), "p95<=%.0f" % target
            print(
                "%-40s %s  %s  %s %10s  %s"
                % (name, _fmt(entry["cold_ms"]), _fmt(entry["p50_ms"]), _fmt(entry["p95_ms"]), target_text, verdict)
            )
        if "resnet50" in figures:
            for measure, r in figures["resnet50"]["score"].items():
                ok = r["cold_s"] <= RESNET_TARGET_S
                met_all &= ok
                print(
                    "%-40s %s  %8s  %8s %10s  %s"
                    % (
                        "resnet50 score " + measure,
                        _fmt(r["cold_s"] * 1000),
                        "-",
                        "-",
                        "cold<=1s",
                        "met" if ok else "NOT met",
                    )
                )
            for measure, r in figures["resnet50"]["route"].items():
                ok = r["cold_ms"] <= RESNET_TARGET_S * 1000 and r["status"] == 200
                met_all &= ok
                print(
                    "%-40s %s  %s  %8s %10s  %s"
                    % (
                        "resnet50 route " + measure,
                        _fmt(r["cold_ms"]),
                        _fmt(r["warm_p50_ms"]),
                        "-",
                        "cold<=1s",
                        "met" if ok else "NOT met",
                    )
                )
        figures["all_targets_met"] = met_all
        figures["total_s"] = time.perf_counter() - started
        print("all targets met: %s; benchmark took %.0fs" % ("yes" if met_all else "NO", figures["total_s"]))
        print("JSON " + json.dumps(figures, sort_keys=True, default=float))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
