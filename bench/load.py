"""The plugin under load: a real TensorBoard over the demo logs, many concurrent clients mixing every route.

    python bench/load.py [LOGDIR] [--clients 50] [--seconds 60]

LOGDIR defaults to demo_logs (trained first, as `make demo` would, if missing). Each client loops over a
seeded random mix of the light routes (models, tree, graph, lint, structures, tools, measures) and the
heavy ones (data: samples, full activations across every step, weight histograms; neurons;
interestingness; metrics; mistakes): a route picked uniformly, then one of its requests on a random run
and layer of the logdir. Prints the
answers by status, latency percentiles of light and heavy routes, and TensorBoard's resident memory:
idle (loaded, every route answered once) and the peak under load (sampled every 50 ms).

Targets (issue 12): no 5xx other than 503 (the bound on concurrent heavy work answering "busy"); p95 of
the light routes <= 250 ms under that load; peak RSS <= 2x idle.
"""

import argparse
import collections
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
sys.path.insert(0, _ROOT)

from innspector_tb.server.interpreter_tuning import GC_FREEZE_ENV  # noqa: E402
from tests.support.tensorboard_server import TensorBoardServer, wait_for_models  # noqa: E402

BASE = "/data/plugin/innspector"
TARGETS = {"light_p95_ms": 250.0, "rss_ratio": 2.0}
LIGHT, HEAVY = "light", "heavy"


def _rss(pid, field="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _request(url, body=None, timeout=120):
    """(status, seconds) of one request; the answer is read whole."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    headers = {"Content-Type": "application/json"} if data else {}
    req = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as e:
        e.read()
        status = e.code
    except OSError:
        status = 0  # refused or reset: counted apart, as a failure of the server
    return status, time.perf_counter() - start


def _get(url):
    with urllib.request.urlopen(url, timeout=120) as response:
        return json.loads(response.read())


def request_mix(url):
    """[(kind, route name, url, body)] over every run and layer of the logdir."""
    models = _get(url + BASE + "/models")["models"]
    runs = [m["run"] for m in models if not m["errors"]]
    mix = []
    q = urllib.parse.urlencode
    for route in ("/models", "/tree", "/structures", "/tools", "/interestingness/measures"):
        mix.append((LIGHT, route, url + BASE + route, None))
    for run in runs:
        graph = _get(url + BASE + "/graph?" + q({"run": run}))
        layers = [layer for layer in graph["architecture"]["layers"] if not layer.get("is_input")]
        with_kernel = [la for la in layers if any(v.get("name") == "kernel" for v in la.get("variables", []))]
        mix.append((LIGHT, "/graph", url + BASE + "/graph?" + q({"run": run}), None))
        mix.append((LIGHT, "/lint", url + BASE + "/lint?" + q({"run": run}), None))
        mix.append((HEAVY, "/metrics", url + BASE + "/metrics?" + q({"runs": run}), None))
        mix.append((HEAVY, "/interestingness", url + BASE + "/interestingness?" + q({"measure": "variance"}), None))
        mix.append((HEAVY, "/data samples", url + BASE + "/data", {"run": run, "unit": {"kind": "samples"}}))
        for layer in layers:
            mix.append(
                (
                    HEAVY,
                    "/data activations (all steps)",
                    url + BASE + "/data",
                    {"run": run, "unit": {"kind": "activations", "layer": layer["id"]}, "steps": "all"},
                )
            )
        for layer in with_kernel:
            mix.append(
                (HEAVY, "/neurons", url + BASE + "/neurons?" + q({"run": run, "layer": layer["id"], "k": 50}), None)
            )
            body = {
                "run": run,
                "unit": {"kind": "weights", "layer": layer["id"], "variable": "kernel"},
                "steps": "all",
                "transform": [{"op": "histogram", "bins": 30}],
            }
            mix.append((HEAVY, "/data weight histograms", url + BASE + "/data", body))
        mix.append((HEAVY, "/mistakes", url + BASE + "/mistakes?" + q({"run": run}), None))
    return mix


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.answers = []  # (kind, route, status, seconds)

    def add(self, *answer):
        with self.lock:
            self.answers.append(answer)


def client_loop(mix, seed, stop_at, recorder):
    """Picks a route name uniformly, then one of its requests: each route gets its share of the load,
    however many layers and runs it has requests for."""
    rng = random.Random(seed)
    by_route = collections.defaultdict(list)
    for item in mix:
        by_route[item[1]].append(item)
    routes = sorted(by_route)
    while time.monotonic() < stop_at:
        kind, route, url, body = rng.choice(by_route[rng.choice(routes)])
        status, seconds = _request(url, body)
        recorder.add(kind, route, status, seconds)


def client_process(mix, seeds, seconds):
    """One process's clients (a thread per seed) for `seconds`; returns their answers."""
    recorder = Recorder()
    stop_at = time.monotonic() + seconds
    threads = [threading.Thread(target=client_loop, args=(mix, seed, stop_at, recorder)) for seed in seeds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return recorder.answers


def rss_sampler(pid, stop, peak):
    while not stop.is_set():
        try:
            peak[0] = max(peak[0], _rss(pid))
        except OSError:
            return
        stop.wait(0.05)


def percentile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def ensure_logdir(logdir):
    if os.path.isdir(logdir) and os.listdir(logdir):
        return
    print("training the demo into %s first ..." % logdir, flush=True)
    subprocess.run([sys.executable, "-m", "demo.train", "--logdir", logdir, "--no-serve"], cwd=_ROOT, check=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("logdir", nargs="?", default=os.path.join(_ROOT, "demo_logs"))
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--processes", type=int, default=5, help="client processes the clients are spread over")
    parser.add_argument(
        "--gc-freeze",
        choices=("on", "off"),
        default="on",
        help="off: TensorBoard's process keeps its garbage collector untouched (%s=0), to compare" % GC_FREEZE_ENV,
    )
    args = parser.parse_args(argv)
    ensure_logdir(args.logdir)
    os.environ[GC_FREEZE_ENV] = "1" if args.gc_freeze == "on" else "0"  # TensorBoardServer passes it on
    with TensorBoardServer(args.logdir) as tb:
        count = len([name for name in os.listdir(args.logdir) if os.path.isdir(os.path.join(args.logdir, name))])
        wait_for_models(tb.url, count, timeout=300, server=tb)
        mix = request_mix(tb.url)
        warm = [(route, _request(url, body)[0]) for _, route, url, body in mix]  # every request once
        idle = _rss(tb.process.pid)
        recorder, stop, peak = Recorder(), threading.Event(), [idle]
        sampler = threading.Thread(target=rss_sampler, args=(tb.process.pid, stop, peak), daemon=True)
        sampler.start()
        # Clients in several processes: 50 threads of one Python would wait for their own interpreter lock
        # and count that as the server's latency.
        started = time.monotonic()
        with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
            shares = [list(range(p, args.clients, args.processes)) for p in range(args.processes)]
            for answers in pool.starmap(client_process, [(mix, seeds, args.seconds) for seeds in shares]):
                recorder.answers.extend(answers)
        elapsed = time.monotonic() - started
        stop.set()
        sampler.join()
        alive = tb.alive()
    report(args, mix, warm, recorder.answers, idle, peak[0], elapsed, alive)


def report(args, mix, warm, answers, idle, peak, elapsed, alive):
    statuses = collections.Counter(status for _, _, status, _ in answers)
    bad = sum(n for status, n in statuses.items() if status >= 500 and status != 503 or status == 0)
    light = [s * 1000 for kind, _, status, s in answers if kind == LIGHT and status < 500]
    heavy = [s * 1000 for kind, _, status, s in answers if kind == HEAVY and status < 500]
    warm_errors = collections.Counter(status for _, status in warm if status >= 400)
    print(
        "load: %d clients for %.0f s over %d distinct requests (%s), heap freeze %s"
        % (args.clients, elapsed, len(mix), args.logdir, args.gc_freeze)
    )
    print("  warm-up pass: every request once; errors by status: %s" % (dict(warm_errors) or "none"))
    print(
        "  answers: %d (%.1f/s); by status: %s" % (len(answers), len(answers) / elapsed, dict(sorted(statuses.items())))
    )
    print("  5xx other than 503 (and refused connections): %d   [target 0]" % bad)
    for name, values in (("light", light), ("heavy", heavy)):
        print(
            "  %-5s routes: %5d answers, p50 %7.1f ms, p95 %7.1f ms, max %8.1f ms"
            % (
                name,
                len(values),
                statistics.median(values) if values else float("nan"),
                percentile(values, 95),
                max(values, default=float("nan")),
            )
        )
    print("  light p95 %.1f ms   [target <= %.0f ms]" % (percentile(light, 95), TARGETS["light_p95_ms"]))
    by_route = collections.defaultdict(list)
    for _, route, status, seconds in answers:
        by_route[route].append((status, seconds * 1000))
    for route, items in sorted(by_route.items()):
        times = [ms for status, ms in items if status < 500]
        busy = sum(1 for status, _ in items if status == 503)
        print("    %-34s %5d answers, %4d busy (503), p95 %8.1f ms" % (route, len(items), busy, percentile(times, 95)))
    print(
        "  TensorBoard RSS: idle %.0f MB, peak under load %.0f MB, ratio %.2fx   [target <= %.1fx]; alive after: %s"
        % (idle / 2**20, peak / 2**20, peak / idle, TARGETS["rss_ratio"], alive)
    )


if __name__ == "__main__":
    main()
