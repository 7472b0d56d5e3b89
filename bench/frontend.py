"""How fast the iNNspector tab paints and pans, in headless Chromium against a real TensorBoard.

Targets (from the issue): from navigation to a painted view within 1 s for (a) the L2 view of a
1,000-layer model and (b) the L3 view of 200 models; (c) pan and zoom at >= 50 frames/s.

This script:
  1. writes the logdirs (bench/frontend_logdir.py, no training): 201 runs (`big_1000`, a
     1,000-layer residual model, and 200 small models in 8 lineage trees), and as a side-by-side
     baseline the demo's models (demo/train.py, ~11);
  2. starts `tensorboard` on each in turn (tests/support/tensorboard_server.py), waits until the plugin
     lists every model, and runs frontend/e2e/bench.mjs: N page loads per view, each in a fresh
     browser context, timed from navigation start to the app's painted mark; a reload after each
     load gives the warm figure; then frames per second during a scripted pan and zoom of the L2
     view (synthetic DOM events, and trusted input through Chromium's input pipeline);
  3. prints medians with their ratios to the targets (time / 1 s: <= 1 meets it; frames/s / 50:
     >= 1 meets it).

Nothing is asserted: a benchmark reports. Headless Chromium draws at most ~60 frames/s (the idle
figure printed is that ceiling on this machine).

    python bench/frontend.py [--loads 5] [--fps-seconds 2] [--logdir DIR] [--baseline-logdir DIR]
                             [--json FILE]
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(_HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, _HERE)

import frontend_logdir
from tests.support.tensorboard_server import TensorBoardServer, wait_for_models

BENCH_JS = os.path.join(REPO, "frontend", "e2e", "bench.mjs")
TARGET_PAINT_MS = 1000.0
TARGET_FPS = 50.0
NODE_TIMEOUT = 1800


def run_browser(node, url, l2_run, loads, fps_seconds, timeout):
    """Runs bench.mjs against `url` (progress on stderr); returns its JSON."""
    command = [
        node,
        BENCH_JS,
        url,
        "--l2",
        l2_run,
        "--l3",
        "--fps",
        l2_run,
        "--loads",
        str(loads),
        "--fps-seconds",
        str(fps_seconds),
        "--timeout",
        str(timeout),
    ]
    # A session of its own, so a hang ends node and its browser together.
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, start_new_session=True)
    try:
        stdout, _ = process.communicate(timeout=NODE_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return {"error": "bench.mjs did not finish within %d s" % NODE_TIMEOUT, "scenarios": [], "fps": []}
    if process.returncode != 0:
        return {
            "error": "bench.mjs exited with %d (its stderr is above)" % process.returncode,
            "scenarios": [],
            "fps": [],
        }
    return json.loads(stdout)


def measure(name, logdir, expected_models, l2_run, args, node):
    """Starts TensorBoard on logdir, waits for its models, runs the browser part. Returns a result dict."""
    print("\n[%s] tensorboard on %s" % (name, logdir), flush=True)
    start = time.monotonic()
    with TensorBoardServer(logdir, load_fast=args.load_fast) as server:
        wait_for_models(server.url, expected_models, timeout=300, server=server)
        loaded = time.monotonic() - start
        print(
            "[%s] serving after %.1fs, %d models listed after %.1fs"
            % (name, server.start_seconds, expected_models, loaded),
            flush=True,
        )
        result = run_browser(node, server.url, l2_run, args.loads, args.fps_seconds, args.timeout)
    result.update(
        name=name,
        models=expected_models,
        l2_run=l2_run,
        tensorboard={"serving_s": server.start_seconds, "models_listed_s": loaded},
    )
    return result


# ------------------------------------------------------------------ report


def _scenario(result, level):
    return next((s for s in result.get("scenarios", []) if s["level"] == level), None)


def _fps(result, kind):
    entry = next(iter(result.get("fps", [])), None)
    return None if entry is None else (entry.get(kind) or {"error": entry.get("error")})


def _ms(value):
    return "-" if value is None else "%.0f ms" % value


def _paint_cells(scenario):
    if scenario is None:
        return ["-"] * 4
    if scenario.get("median_cold_ms") is None:
        return ["FAILED", "", "", ""]
    cold = scenario["median_cold_ms"]
    return [
        _ms(cold),
        "%.2f" % (cold / TARGET_PAINT_MS),
        _ms(scenario.get("median_warm_ms")),
        _ms(scenario.get("first_cold_ms")),
    ]


def _fps_cells(entry, ratio=True):
    if entry is None or entry.get("fps") is None:
        return ["FAILED" if entry is not None else "-", "", "", ""]
    return [
        "%.1f" % entry["fps"],
        "%.2f" % (entry["fps"] / TARGET_FPS) if ratio else "",
        "%.1f ms" % entry["longest_frame_ms"],
        "%.0f" % entry.get("inputs_per_s", 0),
    ]


def report(large, small, loads):
    print(
        "\nFrontend: headless Chromium %s, median of %d page loads (fresh browser context each)"
        % (large.get("chromium") or small.get("chromium") or "?", loads)
    )
    print(
        "paint = navigation start -> view painted; ratio = median / %.0f ms (<= 1 meets the target); "
        "warm = after a reload" % TARGET_PAINT_MS
    )
    header = ["", "cold", "ratio", "warm", "1st load"]
    width = [44, 9, 6, 9, 9]

    def row(cells):
        padded = (str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, width, strict=True)))
        print("  " + "".join(padded))

    for result in (large, small):
        if result.get("error"):
            print("  %s: %s" % (result["name"], result["error"]))
    row(header)
    row(["L2 view, %s (1,000 layers)" % large["l2_run"]] + _paint_cells(_scenario(large, "L2")))
    row(["L3 view, %d models" % large["models"]] + _paint_cells(_scenario(large, "L3")))
    row(["L2 view, %s (demo-sized baseline)" % small["l2_run"]] + _paint_cells(_scenario(small, "L2")))
    row(["L3 view, %d models (demo baseline)" % small["models"]] + _paint_cells(_scenario(small, "L3")))
    print("\npan and zoom of the L2 view at 60 Hz input; ratio = frames/s / %.0f (>= 1 meets the target)" % TARGET_FPS)
    header = ["", "frames/s", "ratio", "longest", "inputs/s"]
    row(header)
    for result, what in ((large, "1,000 layers"), (small, "demo-sized")):
        for kind, label in (("synthetic", "DOM events"), ("trusted", "real input"), ("idle", "idle, no input")):
            row(["%s (%s), %s" % (result["l2_run"], what, label)] + _fps_cells(_fps(result, kind), kind != "idle"))
    notes = []
    for result in (large, small):
        for scenario in result.get("scenarios", []):
            if scenario.get("error"):
                notes.append("%s / %s: %s" % (result["name"], scenario["name"], scenario["error"]))
            facts = scenario.get("facts")
            if facts and scenario.get("median_cold_ms") is not None:
                notes.append(
                    "%s / %s: module %.0f kB (transferred) loaded at %s; %d route requests, %.0f kB, "
                    "last answered at %s (last load)"
                    % (
                        result["name"],
                        scenario["name"],
                        (facts["module_bytes"] or 0) / 1e3,
                        _ms(facts["module_loaded_ms"]),
                        facts["requests"],
                        facts["route_bytes"] / 1e3,
                        _ms(facts["last_route_response_ms"]),
                    )
                )
        for entry in result.get("fps", []):
            if entry.get("error"):
                notes.append("%s / %s: %s" % (result["name"], entry["name"], entry["error"]))
            for kind in ("synthetic", "trusted"):
                if entry.get(kind) and entry[kind].get("stage_mutations") == 0:
                    notes.append(
                        "%s / %s (%s): no DOM change in .inn-stage during the input: the view did not "
                        "react (or draws on a canvas)" % (result["name"], entry["name"], kind)
                    )
    if notes:
        print("\nnotes:")
        for note in notes:
            print("  " + note)
    for result in (large, small):
        tb = result["tensorboard"]
        print(
            "tensorboard (%s, %d models): serving after %.1fs, every model listed after %.1fs"
            % (result["name"], result["models"], tb["serving_s"], tb["models_listed_s"])
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=5, help="page loads per view (median reported)")
    parser.add_argument("--fps-seconds", type=float, default=2.0, help="seconds of scripted pan and zoom")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a painted view")
    parser.add_argument("--logdir", help="the 201-run logdir (generated there unless complete; kept)")
    parser.add_argument("--baseline-logdir", help="the demo-sized logdir (generated there unless complete; kept)")
    parser.add_argument("--load-fast", default="false", help="tensorboard --load_fast (false: Python ingester)")
    parser.add_argument("--json", help="also write the raw results to this file")
    args = parser.parse_args()

    node = shutil.which("node")
    if node is None:
        sys.exit("bench/frontend.py needs Node.js (`node` on PATH) and frontend/node_modules (npm ci in frontend/)")
    if not os.path.exists(os.path.join(REPO, "frontend", "node_modules", "playwright-core")):
        sys.exit("frontend/node_modules/playwright-core is missing: run `npm ci` in frontend/")

    temp = tempfile.mkdtemp(prefix="innspector-frontend-bench-")
    try:
        logdir = args.logdir or os.path.join(temp, "large")
        baseline = args.baseline_logdir or os.path.join(temp, "baseline")
        spent = frontend_logdir.generate(logdir, verbose=False)
        print("large logdir (201 runs): %s" % ("generated in %.1fs" % spent if spent else "reused"), flush=True)
        spent = frontend_logdir.generate_baseline(baseline, verbose=False)
        print(
            "baseline logdir (the demo's models): %s" % ("generated in %.1fs" % spent if spent else "reused"),
            flush=True,
        )
        count = 1 + frontend_logdir.SMALL_RUNS
        large = measure("large", logdir, count, frontend_logdir.BIG_RUN, args, node)
        small = measure(
            "baseline", baseline, len(frontend_logdir.baseline_entries()), frontend_logdir.BASELINE_RUN, args, node
        )
        report(large, small, args.loads)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"large": large, "baseline": small}, f, indent=2)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main()
