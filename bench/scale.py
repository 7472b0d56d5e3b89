"""iNNspector at real scale: ResNet50 trained with and without the callback, then served.

Issue "Real scale", item 5. `keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3),
classes=10)` trains on seeded random 32x32x3 data (--samples 2048 per epoch, --batch-size 64,
--epochs 3) twice: bare (no callback) and ours (InnspectorCallback at its defaults: budget_bytes 64 MB,
precision "rounded", attribution maps on; probe 512 samples of the training data, balanced over
classes). Each fit runs in its own process, so each has its own tf.function tracing and its own peak
RSS (resource.getrusage maxrss). The two processes run in lock step, never at the same time: the
parent gives the turn to one process at a time, bare and ours taking turns phase by phase
(train begin, epoch 1, epoch 2, ...; which goes first alternates), so machine noise hits both alike.

What is measured, per process:
  train begin   from the first callback's on_train_begin to the last one's: the callback's one-time
                work (architecture, plan, step 0: the probe pass twice, attribution tracing, ...);
  epoch         from on_epoch_begin to the end of every callback's on_epoch_end: training plus what
                the callback does on the training thread (probe pass, attribution gradients, weights
                copy). Epoch 1 (tf.function tracing) is printed but left out of the ratios;
  writer drain  after the epoch, the time until the background writer has written the step (ours
                only). In a real run the writer overlaps the next epoch; here it is drained before
                the other process's turn, so that its work is not charged to bare. The ratio is
                printed both without it (training thread only) and with it (the writer serialised:
                an upper bound). CPU seconds of each process per epoch (all its threads, the drain
                included) give a third ratio, less disturbed by other jobs on the machine.

After training: bytes per logged step on disk (step file + event file share) against the raw float32
size logged, peak RSS of both processes, the training-thread parts of a logged step timed one by one
in the ours process (probe pass, attribution maps, weights copy), then a real `tensorboard --logdir`
on the result and cold/warm times of the plugin's routes (models, graph, interestingness for every
measure, and the L1 `neurons` view of conv5_block3_3_conv, a 2048-channel convolution). Last, with no
training, what the logging plan would store per step for ResNet50 at 224x224 (plan.make_plan on
plan.layer_shapes of extract_architecture) and the plan's notes.

Targets (the issue): epoch time ours/bare <= 1.15x; <= 80 MB on disk per logged step; peak RSS
ours <= bare + 1 GB; every route <= 100 ms warm. Nothing is asserted: the machine is shared and noisy,
only ratios measured side by side mean something.

    python bench/scale.py [--epochs 3] [--samples 2048] [--batch-size 64] [--logdir DIR] [--plan-only]
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
sys.path.insert(0, _ROOT)
sys.path.insert(0, _HERE)

RUN = "resnet50"
INPUT = (32, 32, 3)
CLASSES = 10
NEURONS_LAYER = "conv5_block3_3_conv"
BASE = "/data/plugin/innspector"
WARM_REPEATS = 5
MB = 2**20
TARGETS = {"epoch_ratio": 1.15, "step_mb": 80.0, "rss_extra_gb": 1.0, "route_ms": 100.0}
PROTOCOL = "@@ "


# -- the training processes --------------------------------------------------------------------------------


def child(mode, log_dir, epochs, samples, batch_size, probe_size, seed):
    """One training process: reports each phase on stdout (PROTOCOL lines) and waits for "go" on stdin."""
    import keras
    import numpy as np

    from innspector_tb.capture import summary as summary_lib
    from innspector_tb.keras import InnspectorCallback

    def report(kind, **fields):
        print(PROTOCOL + json.dumps(dict(kind=kind, **fields)), flush=True)

    def wait():
        if sys.stdin.readline().strip() != "go":
            sys.exit(0)

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, *INPUT), dtype=np.float32)
    y = rng.integers(0, CLASSES, samples)
    keras.utils.set_random_seed(seed)
    model = keras.applications.ResNet50(weights=None, input_shape=INPUT, classes=CLASSES)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ours = None
    if mode == "ours":
        ours = InnspectorCallback(log_dir, probe=(x, y), probe_size=probe_size)

    def drain():
        """Seconds until the background writer has written what was submitted."""
        start = time.perf_counter()
        sink = getattr(ours, "_sink", None)
        if sink is not None:
            sink.flush()
        return time.perf_counter() - start

    class Gate(keras.callbacks.Callback):
        """First in the list: starts the clocks."""

        def on_train_begin(self, logs=None):
            self.begin = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = time.perf_counter()
            self.epoch_cpu = time.process_time()

        def on_train_end(self, logs=None):
            self.end = time.perf_counter()

    class Turn(keras.callbacks.Callback):
        """Last in the list: stops the clocks, drains the writer, reports and waits for the next turn."""

        def on_train_begin(self, logs=None):
            seconds = time.perf_counter() - gate.begin
            report("begin", seconds=seconds, drain=drain())
            wait()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - gate.epoch
            drained = drain()
            cpu = time.process_time() - gate.epoch_cpu
            # Whether the callback logged a step at this epoch's end (paced steps are skipped).
            logged = ours is not None and ours._last_logged == ours._step_now()
            report("epoch", epoch=epoch + 1, seconds=seconds, drain=drained, cpu=cpu, logged=logged)
            wait()

        def on_train_end(self, logs=None):
            self.end_seconds = time.perf_counter() - gate.end  # ours: the last step, logged here if paced

    gate = Gate()
    callbacks = [gate] + ([ours] if ours is not None else []) + [Turn()]
    report("ready")
    wait()
    turn = callbacks[-1]
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=callbacks)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
    parts = {}
    plan = None
    if ours is not None:
        parts["probe_pass_traces"] = _tracing_count(ours)

        # What a logged step costs on the training thread, part by part (after training, nothing else runs).
        def timed(fn, repeats):
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                result = fn()
                times.append(time.perf_counter() - start)
            return times, result

        for name, fn, repeats in (
            ("probe_pass", lambda: ours._probe(ours.probe_x), 3),
            ("weights_copy", lambda: summary_lib.model_weights(model, ours._layer_ids), 3),
        ):
            try:
                parts[name], result = timed(fn, repeats)
            except Exception as e:  # the callback is being changed: say what broke, go on
                parts[name + "_error"] = "%s: %s" % (type(e).__name__, e)
                continue
            if name == "probe_pass":
                probe = result
                parts["probe_pass_bulk_bytes"] = sum(
                    int(np.asarray(a).nbytes) for output in probe.outputs for a in output.bulk.values()
                )
            else:
                parts["weights_bytes"] = _nbytes(result)
        if getattr(ours, "_attributor", None) is not None and "probe_pass" in parts:
            try:
                parts["attributions"], _ = timed(lambda: ours._attributions(probe.predictions), 2)
            except Exception as e:
                parts["attributions_error"] = "%s: %s" % (type(e).__name__, e)
        parts["probe_pass_traces_after_timing"] = _tracing_count(ours)
        schedule = getattr(ours, "_schedule", None)
        if schedule is not None:
            parts["attribution_schedule"] = {
                "size": schedule.size,
                "methods": list(schedule.methods),
                "every": schedule.every,
                "notes": list(schedule.notes),
            }
        if ours.plan is not None:
            plan = {k: v for k, v in ours.plan.to_json().items() if k not in ("layers", "weight_groups", "subset")}
    report("done", peak_rss=peak, parts=parts, plan=plan, end_seconds=turn.end_seconds)


def _tracing_count(ours):
    """How often the compiled probe pass was traced so far: the walk's traces plus one per output signature's
    statistics (None when unknown)."""
    probe = getattr(ours, "_probe", None)
    try:
        return int(probe._compiled_walk.experimental_get_tracing_count()) + len(probe._output_functions)
    except (AttributeError, TypeError, ValueError):
        return None


def _nbytes(value):
    if hasattr(value, "nbytes"):
        return int(value.nbytes)
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v) for v in value)
    return 0


class Child:
    """A training process driven turn by turn."""

    def __init__(self, mode, args, log_dir, stderr_path):
        self.mode = mode
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "w")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        command = [sys.executable, os.path.abspath(__file__), "--child", mode, "--child-logdir", log_dir]
        command += ["--epochs", str(args.epochs), "--samples", str(args.samples)]
        command += ["--batch-size", str(args.batch_size), "--probe", str(args.probe), "--seed", str(args.seed)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=env
        )

    def receive(self):
        """The next protocol message; other lines (the callback's own prints) are echoed."""
        while True:
            line = self.process.stdout.readline()
            if not line:
                self.process.wait()
                raise RuntimeError(
                    "the %s process ended (code %s):\n%s" % (self.mode, self.process.returncode, self.stderr_tail())
                )
            if line.startswith(PROTOCOL):
                return json.loads(line[len(PROTOCOL) :])
            print("    [%s] %s" % (self.mode, line.rstrip()), flush=True)

    def turn(self):
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        return self.receive()

    def stderr_tail(self, chars=4000):
        self._stderr.flush()
        with open(self.stderr_path, errors="replace") as f:
            return f.read()[-chars:]

    def notable_stderr(self, most=12):
        """Warnings worth seeing (retracing, iNNspector's own), de-duplicated."""
        self._stderr.flush()
        seen, lines = set(), []
        with open(self.stderr_path, errors="replace") as f:
            for line in f:
                line = line.strip()
                if ("iNNspector" in line or "retracing" in line or "Error" in line) and line[:160] not in seen:
                    seen.add(line[:160])
                    lines.append(line[:300])
        return lines[:most], len(lines)

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._stderr.close()


def train_side_by_side(args, logs, tmp):
    children = {
        mode: Child(mode, args, os.path.join(logs, RUN), os.path.join(tmp, "%s.stderr" % mode))
        for mode in ("bare", "ours")
    }
    results = {mode: {"epochs": [], "drains": [], "cpu": [], "logged": []} for mode in children}
    try:
        for c in children.values():
            c.receive()  # ready: TensorFlow imported, model built
        phases = ["begin"] + ["epoch %d" % e for e in range(1, args.epochs + 1)] + ["end"]
        for i, phase in enumerate(phases):
            order = ("bare", "ours") if i % 2 == 0 else ("ours", "bare")
            for mode in order:
                message = children[mode].turn()
                r = results[mode]
                if message["kind"] == "begin":
                    r["begin"], r["begin_drain"] = message["seconds"], message["drain"]
                elif message["kind"] == "epoch":
                    r["epochs"].append(message["seconds"])
                    r["drains"].append(message["drain"])
                    r["cpu"].append(message["cpu"])
                    r["logged"].append(message["logged"])
                else:
                    r.update(
                        peak_rss=message["peak_rss"],
                        parts=message["parts"],
                        plan=message["plan"],
                        end=message["end_seconds"],
                    )
            line = "  %-8s" % phase
            for mode in ("bare", "ours"):
                r = results[mode]
                if phase == "begin":
                    line += "  %s %.2f s (+ drain %.2f s)" % (mode, r["begin"], r["begin_drain"])
                elif phase != "end":
                    line += "  %s %.2f s (+ drain %.2f s; cpu %.1f s)%s" % (
                        mode,
                        r["epochs"][-1],
                        r["drains"][-1],
                        r["cpu"][-1],
                        " logged" if r["logged"][-1] else "",
                    )
            if phase != "end":
                print(line, flush=True)
        for mode, c in children.items():
            notable, count = c.notable_stderr()
            results[mode]["stderr"] = (notable, count)
    finally:
        for c in children.values():
            c.close()
    return results


# -- what lands on disk ----------------------------------------------------------------------------------


def disk_usage(run_dir):
    """({step: bytes on disk}, event file bytes, raw float32 bytes per step) of a run."""
    import h5py
    import numpy as np

    from innspector_tb.format import step_files

    steps = step_files.list_step_files(run_dir)
    sizes = {step: os.path.getsize(os.path.join(run_dir, path)) for step, path in steps.items()}
    events = sum(os.path.getsize(os.path.join(run_dir, n)) for n in os.listdir(run_dir) if "tfevents" in n)
    raw = {}
    for step, path in steps.items():
        with step_files.open_file(os.path.join(run_dir, path)) as f:
            names = []
            f.visititems_links(lambda name, link, f=f, names=names: _collect(f, name, names, h5py))
            raw[step] = sum(int(np.prod(step_files.logical_shape(f, name))) * 4 for name in names)
    return sizes, events, raw


def _collect(f, name, names, h5py):
    if isinstance(f[name], h5py.Dataset):
        names.append(name)


# -- the routes ------------------------------------------------------------------------------------------


def _get(url):
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=600) as response:
            body = response.read()
            status = response.status
    except urllib.error.HTTPError as e:
        body, status = e.read(), e.code
    ms = (time.perf_counter() - start) * 1000
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    return ms, status, parsed, len(body)


def time_routes(logs, expected_steps):
    from tests.support.tensorboard_server import TensorBoardServer, wait_for_models

    table = []
    # Loaded before serving, no reload thread competing with the requests (as bench/backend.py).
    with TensorBoardServer(logs, extra_args=("--reload_task", "blocking", "--reload_interval", "0")) as tb:
        print("  tensorboard answered after %.1f s (event files loaded before serving)" % tb.start_seconds)
        models = wait_for_models(tb.url, 1, server=tb)
        steps = models[0].get("steps")
        if steps is not None and len(steps) != expected_steps:
            print("  note: the models route lists steps %s, %d expected" % (steps, expected_steps))
        q = urllib.parse.urlencode
        _, _, measures, _ = _get(tb.url + BASE + "/interestingness/measures")
        ids = [m["id"] for m in (measures or {}).get("measures", [])] or ["divergence_from_init"]
        routes = [("models", "/models"), ("graph", "/graph?" + q({"run": RUN}))]
        routes += [("interestingness " + m, "/interestingness?" + q({"measure": m})) for m in ids]
        routes.append(("neurons " + NEURONS_LAYER, "/neurons?" + q({"run": RUN, "layer": NEURONS_LAYER})))
        for name, path in routes:
            cold, status, answer, size = _get(tb.url + BASE + path)
            warm = [_get(tb.url + BASE + path)[0] for _ in range(WARM_REPEATS)]
            table.append(
                {
                    "route": name,
                    "status": status,
                    "cold_ms": cold,
                    "warm_ms": statistics.median(warm),
                    "warm_max_ms": max(warm),
                    "kb": size / 1024,
                    "note": _note(name, status, answer),
                }
            )
        peak = _peak_rss(tb.process.pid)
    return table, peak


def _note(name, status, answer):
    if status != 200:
        return "HTTP %d: %s" % (status, (answer or {}).get("error", "")[:200] if isinstance(answer, dict) else "")
    if not isinstance(answer, dict):
        return "not JSON"
    if name.startswith("neurons"):
        layer = answer.get("layer") or {}
        neurons = len(layer.get("neurons", [])) if isinstance(layer, dict) else 0
        maps = answer.get("class_maps")
        bits = ["step %s" % answer.get("step"), "%d kept neurons" % neurons]
        bits.append("class maps %s" % ("none" if not maps else "yes"))
        notes = answer.get("notes", [])
        if "kernel_step" in answer and not any(str(answer["kernel_step"]) in note for note in notes):
            bits.append("kernel from step %s" % answer["kernel_step"])
        bits += notes
        return "; ".join(bits)
    if name == "models":
        models = answer.get("models", [])
        return "%d model(s), steps %s" % (len(models), models[0].get("steps") if models else None)
    return ""


def _peak_rss(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


# -- the plan at 224x224 -----------------------------------------------------------------------------------


def plan_at(size, classes=CLASSES, probe_size=512, seed=0, attributions=True):
    """(plan, everything plan, reserved bytes, their parts) for ResNet50 at size x size, as the callback would make it.

    reserved_bytes follows the callback's reckoning (InnspectorCallback._reserved_bytes): predictions
    (probe x classes) and the default attribution maps (5 methods x 2 targets, each the size of an input
    sample, Grad-CAM included) for 32 samples, or for as many as fit plan.ATTRIBUTION_SHARE of the budget
    (the callback trims the samples to that), all as raw float32.
    """
    import keras
    import numpy as np

    from innspector_tb.capture import architecture as architecture_lib
    from innspector_tb.capture import attribution as attribution_lib
    from innspector_tb.capture import plan as plan_lib
    from innspector_tb.format import stats

    model = keras.applications.ResNet50(weights=None, input_shape=(size, size, 3), classes=classes)
    arch = architecture_lib.extract_architecture(model)
    layer_ids = [layer_id for layer_id, _ in architecture_lib.iter_leaf_layers(model)]
    shapes = plan_lib.layer_shapes(arch, layer_ids)
    labels = np.arange(probe_size) % classes  # a balanced probe
    subset = tuple(int(i) for i in stats.balanced_indices(labels, plan_lib.DEFAULT_SUBSET_SIZE, seed=seed))
    predictions = probe_size * classes * plan_lib.BYTES_PER_VALUE
    maps = len(attribution_lib.METHODS) * len(attribution_lib.TARGETS)
    per_sample = size * size * 3 * maps * plan_lib.BYTES_PER_VALUE
    samples = attribution_lib.DEFAULT_SIZE
    share = getattr(plan_lib, "ATTRIBUTION_SHARE", None)
    if share is not None:
        samples = min(samples, max(1, int(plan_lib.DEFAULT_BUDGET_BYTES * share // per_sample)))
    attribution_bytes = samples * per_sample if attributions else 0
    reserved = predictions + attribution_bytes
    plan = plan_lib.make_plan(shapes, probe_size, classes, reserved_bytes=reserved, subset=subset)
    everything = plan_lib.make_plan(shapes, probe_size, classes, budget_bytes=None, reserved_bytes=reserved)
    parts = {
        "predictions": predictions,
        "attribution maps (%d samples)" % (samples if attributions else 0): attribution_bytes,
    }
    return plan, everything, shapes, parts


def plan_breakdown(plan, shapes, classes):
    """Raw bytes per step of the plan's activations by kind, and of each weight group."""
    from innspector_tb.capture import plan as plan_lib

    n, s = plan.probe_size, len(plan.subset)
    by = {"full activations": 0, "pooled vectors": 0, "subset maps": 0, "class maps": 0}
    counts = {plan_lib.FULL: 0, plan_lib.POOLED: 0, plan_lib.NONE: 0, "sample_maps": 0, "class_maps": 0}
    groups = {}
    for layer in shapes:
        lp = plan.layers[layer.id]
        counts[lp.activations] += 1
        counts["sample_maps"] += lp.sample_maps
        counts["class_maps"] += lp.class_maps
        if lp.activations == plan_lib.FULL:
            by["full activations"] += n * layer.sample_size * plan_lib.BYTES_PER_VALUE
        elif lp.activations == plan_lib.POOLED:
            by["pooled vectors"] += n * layer.units * plan_lib.BYTES_PER_VALUE
            if lp.sample_maps:
                by["subset maps"] += s * layer.sample_size * plan_lib.BYTES_PER_VALUE
        if lp.class_maps:
            by["class maps"] += classes * layer.sample_size * plan_lib.BYTES_PER_VALUE
        if layer.id in plan.weight_groups:
            g = plan.weight_groups[layer.id]
            groups[g] = groups.get(g, 0) + layer.weight_size * plan_lib.BYTES_PER_VALUE
    return by, counts, groups


def print_plan(size, classes, attributions=True):
    plan, everything, shapes, reserved = plan_at(size, classes, attributions=attributions)
    by, counts, groups = plan_breakdown(plan, shapes, classes)
    print(
        "  ResNet50 %dx%dx3, %d classes, probe %d, %s: %d layers"
        % (
            size,
            size,
            classes,
            plan.probe_size,
            "attribution maps on (defaults)" if attributions else "attributions=False",
            len(shapes),
        )
    )
    print(
        "  everything (no budget): %.1f MB per step; budget %.0f MB; the plan keeps %.1f MB (reduced: %s)"
        % (everything.planned_bytes / MB, plan.budget_bytes / MB, plan.planned_bytes / MB, plan.reduced)
    )
    for name, value in reserved.items():
        print("    %-30s %8.1f MB  (reserved: outside the plan's choice)" % (name, value / MB))
    print(
        "    %-30s %8.1f MB  (largest of %d groups; all weights %.1f MB)"
        % ("weights", max(groups.values(), default=0) / MB, plan.weights_every, sum(groups.values()) / MB)
    )
    for name, value in by.items():
        print("    %-30s %8.1f MB" % (name, value / MB))
    print(
        "  layers: %d full, %d pooled, %d statistics only; %d with subset maps, %d with class maps"
        % (counts["full"], counts["pooled"], counts["none"], counts["sample_maps"], counts["class_maps"])
    )
    print("  notes:")
    for note in plan.notes or ("(none)",):
        print("    - " + note)
    return {
        "everything_mb": everything.planned_bytes / MB,
        "planned_mb": plan.planned_bytes / MB,
        "budget_mb": plan.budget_bytes / MB,
        "reduced": plan.reduced,
        "weights_every": plan.weights_every,
        "reserved_mb": {k: v / MB for k, v in reserved.items()},
        "activations_mb": {k: v / MB for k, v in by.items()},
        "layers": counts,
        "notes": list(plan.notes),
    }


# -- report ------------------------------------------------------------------------------------------------


def _verdict(value, limit):
    return "met" if value <= limit else "MISSED"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=6, help="epochs of each fit (the first is left out)")
    parser.add_argument("--samples", type=int, default=2048, help="samples per epoch")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--probe", type=int, default=512, help="probe_size of the callback")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--logdir", help="keep the run here (default: a temporary directory, removed)")
    parser.add_argument("--plan-only", action="store_true", help="only the plan at 224x224 (no training)")
    parser.add_argument("--child", choices=("bare", "ours"), help=argparse.SUPPRESS)
    parser.add_argument("--child-logdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.child_logdir, args.epochs, args.samples, args.batch_size, args.probe, args.seed)
        return
    started = time.perf_counter()
    figures = {}
    if not args.plan_only:
        if args.epochs < 2:
            parser.error("--epochs must be at least 2 (the first epoch is left out)")
        with tempfile.TemporaryDirectory(prefix="innspector-scale-") as tmp:
            logs = args.logdir or os.path.join(tmp, "logs")
            if os.path.exists(os.path.join(logs, RUN)):
                parser.error("%s already holds a run %r" % (logs, RUN))
            figures.update(measure(args, logs, tmp))
    print(
        "\n== what the plan would store per step for ResNet50 at 224x224 (no training; reserved bytes reckoned as"
        " the callback does: every attribution map at the input's size, Grad-CAM included, samples trimmed to"
        " a share of the budget)",
        flush=True,
    )
    figures["plan_224"] = print_plan(224, CLASSES)
    print()
    figures["plan_224_no_attributions"] = print_plan(224, CLASSES, attributions=False)
    elapsed = time.perf_counter() - started
    print("\nelapsed: %.0f s" % elapsed)
    figures["elapsed_s"] = elapsed
    print(json.dumps(figures))


def measure(args, logs, tmp):
    figures = {}
    print(
        "== ResNet50 %s, %d classes, %d random samples per epoch, batch %d, %d epochs, probe %d; bare and ours"
        " (defaults) in two processes taking turns"
        % (INPUT, CLASSES, args.samples, args.batch_size, args.epochs, args.probe),
        flush=True,
    )
    start = time.perf_counter()
    results = train_side_by_side(args, logs, tmp)
    print("  training, both processes: %.0f s" % (time.perf_counter() - start))
    bare, ours = results["bare"], results["ours"]
    bare_epoch = statistics.median(bare["epochs"][1:])
    # Paced steps make epochs unequal: the ratio is of the whole training after epoch 1, the train end
    # included (where the last step is logged when pacing skipped it), not of a median epoch.
    bare_time = sum(bare["epochs"][1:]) + bare["end"]
    ours_time = sum(ours["epochs"][1:]) + ours["end"]
    ours_drained = ours_time + sum(ours["drains"][1:])
    ratio, ratio_drained = ours_time / bare_time, ours_drained / bare_time
    logged = [i + 1 for i, was in enumerate(ours["logged"]) if was]
    limit = TARGETS["epoch_ratio"]
    print("\n== training time of epochs 2..%d and train end (epoch 1 traces and is left out)" % args.epochs)
    print(
        "  bare %.2f s, ours %.2f s on the training thread (train end: bare %.2f s, ours %.2f s), + writer"
        " drains %.2f s; ours logged at the end of epochs %s (pacing: %s)"
        % (
            bare_time,
            ours_time,
            bare["end"],
            ours["end"],
            sum(ours["drains"][1:]),
            logged,
            "every epoch" if len(logged) == len(ours["logged"]) else "some skipped",
        )
    )
    for epoch, (b, o, was) in enumerate(zip(bare["epochs"], ours["epochs"], ours["logged"], strict=True), 1):
        print("    epoch %d: ours/bare %.3fx%s" % (epoch, o / b, " (logged)" if was else ""))
    logged_ratios = [
        o / b for b, o, was in zip(bare["epochs"][1:], ours["epochs"][1:], ours["logged"][1:], strict=True) if was
    ]
    if logged_ratios:
        print("  an epoch with a logged step costs %.3fx a bare one (median)" % statistics.median(logged_ratios))
    per_epoch = sum(ours["epochs"][1:]) / sum(bare["epochs"][1:])
    print(
        "  per-epoch ratio ours/bare, epochs 2..%d:  %.3fx  (target <= %.2fx: %s; the one-time train begin and end"
        " apart)" % (args.epochs, per_epoch, limit, _verdict(per_epoch, limit))
    )
    print(
        "  ratio ours/bare, training thread only, train end included: %.3fx  (target <= %.2fx: %s)"
        % (ratio, limit, _verdict(ratio, limit))
    )
    print(
        "  ratio ours/bare, writer serialised:        %.3fx  (target <= %.2fx: %s; an upper bound)"
        % (ratio_drained, limit, _verdict(ratio_drained, limit))
    )
    cpu_ratio = sum(ours["cpu"][1:]) / sum(bare["cpu"][1:])
    print(
        "  ratio ours/bare, CPU seconds of the process in epochs 2..%d (writer included): %.3fx  (bare %.1f s,"
        " ours %.1f s; less disturbed by other jobs)"
        % (args.epochs, cpu_ratio, sum(bare["cpu"][1:]), sum(ours["cpu"][1:]))
    )
    print("  epoch 1 (tracing): bare %.2f s, ours %.2f s" % (bare["epochs"][0], ours["epochs"][0]))
    print(
        "  one-time train begin: bare %.2f s, ours %.2f s (+ writer drain of step 0: %.2f s)"
        % (bare["begin"], ours["begin"], ours["begin_drain"])
    )
    figures["epoch"] = {
        "bare_s": bare["epochs"],
        "ours_s": ours["epochs"],
        "ours_drain_s": ours["drains"],
        "per_epoch_ratio": per_epoch,
        "ratio": ratio,
        "ratio_writer_serialised": ratio_drained,
        "ours_logged": ours["logged"],
        "train_end_s": {"bare": bare["end"], "ours": ours["end"]},
        "cpu_ratio": cpu_ratio,
        "bare_cpu_s": bare["cpu"],
        "ours_cpu_s": ours["cpu"],
        "train_begin_s": {"bare": bare["begin"], "ours": ours["begin"], "ours_drain": ours["begin_drain"]},
    }

    parts = ours.get("parts") or {}
    print("\n== a logged step on the training thread, part by part (ours, after training; seconds)")
    for name in ("probe_pass", "attributions", "weights_copy"):
        if name + "_error" in parts:
            print("  %-13s failed: %s" % (name, parts[name + "_error"]))
        if name in parts:
            print(
                "  %-13s %s  (%.1f%% of a bare epoch)"
                % (name, ", ".join("%.2f" % t for t in parts[name]), 100 * min(parts[name]) / bare_epoch)
            )
    if parts.get("probe_pass_traces") is not None:
        print(
            "  the compiled probe pass was traced %d times during the fit (%s after the timings above)"
            % (parts["probe_pass_traces"], parts.get("probe_pass_traces_after_timing"))
        )
    if "probe_pass_bulk_bytes" in parts:
        print(
            "  the probe pass hands the writer %.1f MB of bulk arrays; the weights copy is %.1f MB"
            % (parts["probe_pass_bulk_bytes"] / MB, parts["weights_bytes"] / MB)
        )
    if parts.get("attribution_schedule"):
        a = parts["attribution_schedule"]
        print(
            "  attribution schedule at the end: %d samples, %s, every %d logged step(s); %s"
            % (a["size"], ", ".join(a["methods"]) or "no methods", a["every"], "; ".join(a["notes"]) or "as configured")
        )
    if ours.get("plan"):
        p = ours["plan"]
        print(
            "  the callback's plan at 32x32: planned %.1f MB of %.0f MB, reduced %s, weights every %d logged steps"
            % (p["planned_bytes"] / MB, p["budget_bytes"] / MB, p["reduced"], p["weights_every"])
        )
    figures["step_parts"] = parts
    figures["plan_32"] = ours.get("plan")

    sizes, events, raw = disk_usage(os.path.join(logs, RUN))
    per_step = (sum(sizes.values()) + events) / len(sizes)
    raw_per_step = sum(raw.values()) / len(raw)
    print("\n== on disk")
    print("  step files: %s" % ", ".join("step %d %.1f MB" % (s, b / MB) for s, b in sorted(sizes.items())))
    print("  event file: %.2f MB" % (events / MB))
    print(
        "  bytes per logged step: %.1f MB (target <= %.0f MB: %s); raw float32 logged %.1f MB per step; ratio %.3f"
        % (
            per_step / MB,
            TARGETS["step_mb"],
            _verdict(per_step / MB, TARGETS["step_mb"]),
            raw_per_step / MB,
            per_step / raw_per_step,
        )
    )
    figures["disk"] = {
        "step_bytes": sizes,
        "event_bytes": events,
        "per_step_bytes": per_step,
        "raw_per_step": raw_per_step,
    }

    extra = (ours["peak_rss"] - bare["peak_rss"]) / 2**30
    print("\n== peak RSS of the training process (getrusage maxrss)")
    print(
        "  bare %.2f GB, ours %.2f GB: ours - bare = %+.2f GB (target <= +%.0f GB: %s)"
        % (
            bare["peak_rss"] / 2**30,
            ours["peak_rss"] / 2**30,
            extra,
            TARGETS["rss_extra_gb"],
            _verdict(extra, TARGETS["rss_extra_gb"]),
        )
    )
    figures["peak_rss"] = {"bare": bare["peak_rss"], "ours": ours["peak_rss"]}

    for mode in ("bare", "ours"):
        notable, count = results[mode]["stderr"]
        if notable:
            print("  %s stderr, %d notable line(s), first ones:" % (mode, count))
            for line in notable:
                print("    " + line)

    print("\n== routes, a real tensorboard on the run (cold: first request; warm: median and max of %d)" % WARM_REPEATS)
    start = time.perf_counter()
    table, tb_peak = time_routes(logs, len(sizes))
    print(
        "  %-40s %6s %9s %9s %9s %9s  %s" % ("route", "status", "cold ms", "warm ms", "warm max", "answer KB", "note")
    )
    for row in table:
        verdict = _verdict(row["warm_ms"], TARGETS["route_ms"]) if row["status"] == 200 else "FAILED"
        print(
            "  %-40s %6d %9.0f %9.0f %9.0f %9.1f  %s%s"
            % (
                row["route"],
                row["status"],
                row["cold_ms"],
                row["warm_ms"],
                row["warm_max_ms"],
                row["kb"],
                verdict,
                "; " + row["note"] if row["note"] else "",
            )
        )
    if tb_peak:
        print("  tensorboard peak RSS: %.2f GB" % (tb_peak / 2**30))
    print("  (%.0f s with tensorboard's start)" % (time.perf_counter() - start))
    figures["routes"] = table
    figures["tensorboard_peak_rss"] = tb_peak
    return figures


if __name__ == "__main__":
    main()
