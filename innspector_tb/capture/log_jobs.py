"""The writing half of the Keras callback, as jobs that run off the training thread.

A job is (kind, meta, arrays): `meta` is JSON-safe, `arrays` maps string keys
to numpy arrays. That shape lets the same jobs run on a background thread or
in a writer process that receives arrays through shared memory.

kinds:
  start    header, architecture and probe samples (step 0)
  step     weights, activations, predictions, runtime statistics, attributions, gradients and feature
           visualisations of a step (a job of visualisations alone adds them to a step logged already)
  metrics  Keras logs as scalars
  labels   the probe labels, for a writer started after the start job
"""

from innspector_tb.capture import gradient_summary, probe_summary, summary, visualisation_summary


class RunLog:
    """Executes jobs against one run directory's RunWriter."""

    def __init__(self, run_dir, dtype="float32", histogram_bins=30, precision="rounded", session=None):
        self.writer = summary.create_file_writer(
            run_dir, dtype=dtype, histogram_bins=histogram_bins, precision=precision, session=session
        )
        self.labels = None

    def execute(self, kind, meta, arrays):
        handler = {"start": self._start, "step": self._step, "metrics": self._metrics, "labels": self._labels}.get(kind)
        if handler is None:
            raise ValueError("unknown log job %r" % (kind,))
        with self.writer.as_default():
            handler(meta, arrays)
        if kind != "metrics":
            # Each step lands whole on disk before the next: a killed process
            # leaves every earlier step readable.
            self.writer.flush()

    def _start(self, meta, arrays):
        self.labels = arrays.get("y")
        step = meta.get("step", 0)  # a resumed run writes them at its first step: readers take the last
        summary.header(meta["header"], step=step)
        summary.architecture(meta["architecture"], step=step)
        if meta.get("inputs"):
            x = [arrays["x:%d" % i] for i in range(meta["inputs"])]
            summary.samples(
                x if len(x) > 1 else x[0],
                self.labels,
                index=arrays.get("index"),
                class_names=meta.get("class_names"),
                vocabulary=meta.get("vocabulary"),
            )

    def _step(self, meta, arrays):
        step = meta["step"]
        weights = {(layer_id, name): arrays["w:%d" % i] for i, (layer_id, name) in enumerate(meta["weights"])}
        if weights:
            bulk_layers = meta.get("bulk_layers")
            summary.weights(weights, step=step, bulk_layers=None if bulk_layers is None else set(bulk_layers))
        if meta.get("plan") is not None:
            probe_summary.plan(meta["plan"], meta.get("bulk_layers") or [], step)
        if meta.get("probe"):
            outputs, classes, subset = _unpack_probe(meta["probe"], arrays)
            probe_summary.probe_outputs(outputs, classes, subset, step)
        acts = {
            layer_id: [arrays["a:%d:%d" % (i, j)] for j in range(outputs)]
            for i, (layer_id, outputs) in enumerate(meta["activations"])
        }
        if acts:
            summary.activations(acts, labels=self.labels, step=step)
        if meta["predictions"]:
            summary.predictions([arrays["p:%d" % i] for i in range(meta["predictions"])], step=step)
        if meta.get("runtime") is not None:
            summary.runtime(meta["runtime"], step=step)
        if meta.get("attributions"):
            summary.write_attribution_arrays(self.writer, step, _unpack_attributions(meta["attributions"], arrays))
        if meta.get("gradients"):
            gradient_summary.write(meta["gradients"], step)
        if meta.get("visualisations"):
            visualisation_summary.write(self.writer, step, meta["visualisations"], arrays)

    def _metrics(self, meta, arrays):
        summary.metrics(meta["logs"], step=meta["step"], prefix=meta.get("prefix", "metrics/"))

    def _labels(self, meta, arrays):
        self.labels = arrays.get("y")

    def close(self):
        self.writer.close()


def start_job(header, architecture, x=None, y=None, index=None, class_names=None, step=0, vocabulary=None):
    """Packs the start job; x is an array, or a list/dict of arrays for several inputs (None: no samples
    are written, e.g. when resuming a run that has them)."""
    arrays = {}
    inputs = 0
    if x is not None:
        values = list(x.values()) if isinstance(x, dict) else list(x) if isinstance(x, (list, tuple)) else [x]
        for i, value in enumerate(values):
            arrays["x:%d" % i] = value
        inputs = len(values)
        if index is not None:
            arrays["index"] = index
    if y is not None:
        arrays["y"] = y  # labels drive the class means of every step, samples logged or not
    meta = {
        "header": header,
        "architecture": architecture,
        "inputs": inputs,
        "class_names": None if class_names is None else [str(c) for c in class_names],
        "vocabulary": vocabulary,
        "step": int(step),
    }
    return "start", meta, arrays


def step_job(
    step,
    weights=None,
    activations=None,
    predictions=None,
    runtime=None,
    attributions=None,
    probe=None,
    plan=None,
    bulk_layers=None,
    gradients=None,
    visualisations=None,
):
    """Packs a step job from {(layer_id, variable): array}, {layer_id: [arrays]}, [arrays], an
    attribution.AttributionResult, a probe_pass.ProbeResult with its class labels, the plan's JSON and
    the layers whose full weights this step holds (None: all), and a feature_visualisation.VisualisationResult."""
    arrays = {}
    weight_keys = []
    for i, (key, value) in enumerate((weights or {}).items()):
        weight_keys.append(list(key))
        arrays["w:%d" % i] = value
    act_keys = []
    for i, (layer_id, outputs) in enumerate((activations or {}).items()):
        act_keys.append([layer_id, len(outputs)])
        for j, value in enumerate(outputs):
            arrays["a:%d:%d" % (i, j)] = value
    for i, value in enumerate(predictions or []):
        arrays["p:%d" % i] = value
    meta = {
        "step": int(step),
        "weights": weight_keys,
        "activations": act_keys,
        "predictions": len(predictions or []),
        "runtime": runtime,
        "attributions": _pack_attributions(attributions, arrays),
        "probe": _pack_probe(probe, arrays),
        "plan": plan,
        "bulk_layers": None if bulk_layers is None else sorted(bulk_layers),
        "gradients": gradients or None,  # {"layer/variable": format.gradients.GRADIENT_FIELDS values}
        "visualisations": visualisation_summary.pack(visualisations, arrays),
    }
    return "step", meta, arrays


def _pack_probe(probe, arrays):
    """Moves a (ProbeResult, classes) pair's arrays into `arrays` ("o:<i>:..."); returns its meta."""
    if probe is None:
        return None
    result, classes = probe
    entries = []
    for i, output in enumerate(result.outputs):
        arrays["o:%d:stats" % i] = output.stats.stats
        if output.stats.histogram is not None:
            arrays["o:%d:hist" % i] = output.stats.histogram
        if output.stats.class_means is not None:
            arrays["o:%d:cm" % i] = output.stats.class_means
        for name, value in output.bulk.items():
            arrays["o:%d:b:%s" % (i, name)] = value
        entries.append({"layer": output.layer, "index": output.index, "bulk": sorted(output.bulk)})
    arrays["o:subset"] = result.subset
    return {"outputs": entries, "classes": None if classes is None else [int(c) for c in classes]}


def _unpack_probe(meta, arrays):
    from innspector_tb.capture import unit_stats
    from innspector_tb.capture.probe_pass import OutputResult

    outputs = []
    for i, entry in enumerate(meta["outputs"]):
        stats = unit_stats.UnitStats(
            stats=arrays["o:%d:stats" % i],
            unit_mean=None,
            unit_std=None,
            unit_min=None,
            unit_max=None,
            unit_zero_fraction=None,
            histogram=arrays.get("o:%d:hist" % i),
            class_means=arrays.get("o:%d:cm" % i),
        )
        bulk = {name: arrays["o:%d:b:%s" % (i, name)] for name in entry["bulk"]}
        outputs.append(OutputResult(entry["layer"], entry["index"], stats, bulk))
    return outputs, meta.get("classes"), arrays.get("o:subset")


def _pack_attributions(result, arrays):
    """Moves an AttributionResult's arrays into `arrays` ("r:<k>", "rc:<target>", "rs"); returns its meta."""
    if result is None:
        return None
    maps: list[list[str]] = []
    for method, by_target in result.items():
        for target, array in by_target.items():
            arrays["r:%d" % len(maps)] = array
            maps.append([method, target])
    for target, classes in result.classes.items():
        arrays["rc:" + target] = classes
    if result.sample is not None:
        arrays["rs"] = result.sample
    return {
        "deletion": _pack_deletion(result.deletion, arrays),
        "maps": maps,
        "targets": list(result.classes),
        "score": result.score,
        "grad_cam_layer": result.grad_cam_layer,
        "skipped": dict(result.skipped),
        "options": dict(result.options),
    }


def _unpack_attributions(meta, arrays):
    from innspector_tb.capture import attribution

    result = attribution.AttributionResult()
    for k, (method, target) in enumerate(meta["maps"]):
        result.setdefault(method, {})[target] = arrays["r:%d" % k]
    result.classes = {target: arrays["rc:" + target] for target in meta["targets"]}
    result.sample = arrays.get("rs")
    result.score, result.grad_cam_layer = meta.get("score", "output"), meta.get("grad_cam_layer")
    result.skipped, result.options = dict(meta.get("skipped") or {}), dict(meta.get("options") or {})
    result.deletion = _unpack_deletion(meta.get("deletion"), arrays)
    return result


def _pack_deletion(result, arrays):
    """Moves a DeletionResult's arrays into `arrays` ("rdf", "rd:<k>"); returns its meta."""
    if result is None:
        return None
    arrays["rdf"] = result.fractions
    curves: list[list[str]] = []
    for name, by_target in result.curves.items():
        for target, array in by_target.items():
            arrays["rd:%d" % len(curves)] = array
            curves.append([name, target])
    return {"curves": curves, "undefined": result.undefined, "skipped": result.skipped, "baseline": result.baseline}


def _unpack_deletion(meta, arrays):
    if meta is None:
        return None
    from innspector_tb.capture import deletion

    curves: dict = {}
    for k, (name, target) in enumerate(meta["curves"]):
        curves.setdefault(name, {})[target] = arrays["rd:%d" % k]
    return deletion.DeletionResult(
        arrays["rdf"], curves, dict(meta["undefined"]), dict(meta["skipped"]), meta["baseline"]
    )


def labels_job(y):
    """Hands the probe labels to a writer that did not see the start job (a later fit())."""
    return "labels", {}, ({} if y is None else {"y": y})


def metrics_job(logs, step, prefix="metrics/"):
    values = {}
    for name, value in (logs or {}).items():
        try:
            values[str(name)] = float(value)
        except (TypeError, ValueError):
            continue  # non-scalar entries are not metrics
    return "metrics", {"logs": values, "step": int(step), "prefix": prefix}, {}
