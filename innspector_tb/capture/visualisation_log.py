"""What the Keras callback visualises (capture/feature_visualisation.py), at which steps, within its time budget.

    InnspectorCallback(..., visualize=[("dense_2", 17, 3)], visualize_steps=5)

**What.** `visualize`: None (the default) visualises image classifiers (the rule of the attribution maps:
one 4-D input, one score per class, a probe with labels) and nothing else; True any classifier; False
nothing. A list of (layer, unit, class) adds those targets; a dict takes `targets` (that list),
`mistake_neurons` (2: per class with mistakes, the first this many neurons the mistake finder says to
raise; 0: none), `mistake_classes` (4: the classes with the most mistakes), `classes` (True: a class
visualisation of every class) and any option of feature_visualisation.DEFAULT_OPTIONS. The mistake finder
is analysis/mistakes.py, run at the step on the probe (the same pure function the `mistakes` route runs),
on the decision layer's input: the neurons the Mistake Neurons widget names for the class.

**When.** `visualize_steps`: None (the default) the last step of the training only (logged at train
end); an int k every k-th logged step and the last; a list the logged steps among those and the last.

**Time budget.** A visualisation may take `time_budget` x PART_SHARE of the training time since the
previous one (at least MIN_SECONDS; its first call's tracing is not counted). What one row-step costs is
measured once (two short runs of the whole batch, their difference); then, until the estimate fits: fewer optimisation
steps (halved, down to MIN_STEPS), fewer results per target (down to MIN_RESULTS), no class
visualisations, one mistake neuron per class, fewer targets; else none at this step. Each reduction is
said in the result's notes and printed once.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from innspector_tb import errors
from innspector_tb.capture import attribution_setup, backend_ops, step_pacing
from innspector_tb.capture import feature_visualisation as fv

logger = logging.getLogger("innspector_tb")

MIN_SECONDS = 2.0
MIN_STEPS = 64
MIN_RESULTS = 2
_KEYS = ("targets", "mistake_neurons", "mistake_classes", "classes") + tuple(fv.DEFAULT_OPTIONS)


def parse(value, steps):
    """The checked `visualize` and `visualize_steps` arguments: a config dict, or None (off)."""
    if value is False:
        return None
    auto = value is None
    if auto or value is True:
        value = {}
    elif isinstance(value, (list, tuple)):
        value = {"targets": list(value)}
    if not isinstance(value, dict):
        raise errors.ConfigurationError(
            "visualize must be None, True, False, a list of (layer, unit, class) or a dict, got %r" % (value,)
        )
    unknown = sorted(set(value) - set(_KEYS))
    if unknown:
        raise errors.ConfigurationError("unknown visualize option(s) %s; options: %s" % (unknown, ", ".join(_KEYS)))
    try:
        options = fv.check_options({k: v for k, v in value.items() if k in fv.DEFAULT_OPTIONS})
    except fv.VisualisationError as e:
        raise errors.ConfigurationError("visualize: %s" % e) from None
    targets = []
    for entry in value.get("targets") or []:
        if (
            not isinstance(entry, (list, tuple))
            or len(entry) != 3
            or not isinstance(entry[0], str)
            or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0 for v in entry[1:])
        ):
            raise errors.ConfigurationError(
                "visualize targets are (layer id, unit, class) with unit and class ints >= 0, got %r" % (entry,)
            )
        targets.append(fv.Target(entry[0], int(entry[1]), int(entry[2]), "user"))
    counts = {}
    for name, default in (("mistake_neurons", 2), ("mistake_classes", 4)):
        count = value.get(name, default)
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
            raise errors.ConfigurationError("visualize %s must be an integer >= 0, got %r" % (name, count))
        counts[name] = int(count)
    if not isinstance(value.get("classes", True), bool):
        raise errors.ConfigurationError("visualize classes must be True or False, got %r" % (value["classes"],))
    if steps is not None:
        every = isinstance(steps, (int, np.integer)) and not isinstance(steps, bool)
        listed = isinstance(steps, (list, tuple, set)) and all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0 for s in steps
        )
        if not (every and steps >= 1) and not listed:
            raise errors.ConfigurationError(
                "visualize_steps must be None (the last step), an int k >= 1 (every k-th logged step) or a list "
                "of steps, got %r" % (steps,)
            )
    return {
        "auto": auto,
        "targets": targets,
        "classes": bool(value.get("classes", True)),
        "options": options,
        "steps": steps,
        **counts,
    }


class VisualisationLog:
    """The callback's feature visualisations: prepared at train begin, called at the steps due."""

    def __init__(self, config, time_budget, seed=0):
        self.config = config
        self.time_budget = time_budget
        self.seed = int(seed)
        self.visualiser: fv.Visualiser | None = None
        self.decision: tuple[str, str] | None = None  # (decision layer, feature layer) for mistake neurons
        self._row_step_seconds: float | None = None
        self._since: float | None = None  # training clock at the previous visualisation
        self._notes: tuple[str, ...] = ()
        self._logged = 0
        self.last_step: int | None = None
        self._labels: np.ndarray | None = None

    @property
    def on(self):
        return self.visualiser is not None

    def check_targets(self, model):
        """Refuses (errors.ConfigurationError) targets naming a layer the model does not have, before training."""
        for target in (self.config or {}).get("targets", []):
            try:
                attribution_setup.find_layer(model, target.layer)
            except attribution_setup.AttributionError as e:
                raise errors.ConfigurationError("visualize: %s" % e) from None

    def prepare(self, model, arch, probe_x, labels):
        """Builds the visualiser, or turns visualisation off (auto) / raises errors.ConfigurationError."""
        config = self.config
        if config is None:
            return
        self._labels = labels
        if probe_x is None:
            if not config["auto"]:
                logger.warning("iNNspector: no probe: feature visualisations are off (they need its value range)")
            self.config = None
            return
        if config["auto"]:
            reason = attribution_setup.image_classifier_reason(model, labels)
            if reason is not None:
                logger.info("iNNspector: feature visualisations are off for %s: %s", model.name, reason)
                self.config = None
                return
        jax_reason = backend_ops.unsupported_reason("feature visualisation", backend_ops.NO_TF_OPTIMISER)
        if jax_reason:
            logger.warning("iNNspector: feature visualisations are off for %s: %s", model.name, jax_reason)
            self.config = None
            return
        layers = [t.layer for t in config["targets"]]
        if config["mistake_neurons"] and labels is not None:
            from innspector_tb.analysis import mistakes

            try:
                self.decision = mistakes.decision_layers(arch)
                layers.append(self.decision[1])
            except mistakes.MistakeError as e:
                logger.info("iNNspector: no mistake neurons to visualise for %s: %s", model.name, e)
        x = attribution_setup._flat(probe_x)[0]
        try:
            self.visualiser = fv.Visualiser(model, layers, (float(np.min(x)), float(np.max(x))))
        except fv.VisualisationError as e:
            if config["auto"] and not config["targets"]:
                logger.info("iNNspector: feature visualisations are off for %s: %s", model.name, e)
                self.config = None
                return
            raise errors.ConfigurationError("visualize: %s" % e) from None
        for target in config["targets"]:
            k = self.visualiser.layer_ids.index(attribution_setup.find_layer(model, target.layer)[0])
            if target.unit >= self.visualiser.units[k] or target.cls >= self.visualiser.classes:
                raise errors.ConfigurationError(
                    "visualize target %r: layer %r has %d units and the model %d classes"
                    % (
                        (target.layer, target.unit, target.cls),
                        target.layer,
                        self.visualiser.units[k],
                        self.visualiser.classes,
                    )
                )
        self._since = time.perf_counter()

    def due(self, step, final):
        """Whether the step being logged is visualised (counts logged steps)."""
        if not self.on:
            return False
        index, self._logged = self._logged, self._logged + 1
        steps = self.config["steps"]
        if final or steps is None:
            return bool(final)
        if isinstance(steps, (list, tuple, set)):
            return int(step) in {int(s) for s in steps}
        return (index + 1) % int(steps) == 0  # the k-th, 2k-th, ... logged step after the baseline

    def __call__(self, model, step, probe_x):
        """The step's VisualisationResult (None when nothing fits the time budget)."""
        visualiser = self.visualiser
        assert visualiser is not None
        x = attribution_setup._flat(probe_x)[0]
        probe_values = visualiser.evaluate(x)  # one forward of the probe: the finder's features, the percentiles
        mistake_targets = self._mistake_targets(model, probe_values, self._labels)
        class_targets = (
            [fv.Target(None, None, c, "class") for c in range(visualiser.classes)] if self.config["classes"] else []
        )
        user = [
            fv.Target(attribution_setup.find_layer(model, t.layer)[0], t.unit, t.cls, "user")
            for t in self.config["targets"]
        ]
        options = dict(self.config["options"])
        if self._row_step_seconds is None and self.time_budget is not None:
            self._row_step_seconds = self._calibrate(user + mistake_targets + class_targets, x)
        started = time.perf_counter()
        covered = started - (self._since or started)
        fitted = self._fit(user, mistake_targets, class_targets, options, covered)
        self._since = started
        if fitted is None:
            self._say(("left out at step %d: not even one target fits the time budget" % step,))
            return None
        targets, options, notes = fitted
        self._say(notes)
        result = visualiser(targets, x, seed=self.seed, probe_values=probe_values, **options)
        result.notes = list(notes)
        self.last_step = int(step)
        return result

    def _mistake_targets(self, model, probe_values, labels):
        """The neurons the mistake finder says to raise, per class with mistakes (most mistakes first)."""
        if self.decision is None or labels is None or not self.config["mistake_neurons"]:
            return []
        from innspector_tb.analysis import mistakes

        decision, feature = self.decision
        visualiser = self.visualiser
        assert visualiser is not None
        scores, reduced = probe_values
        features = reduced[visualiser.layer_ids.index(feature)]
        layer = attribution_setup.find_layer(model, decision)[1]
        kernel = np.asarray(layer.kernel)
        bias = np.asarray(layer.bias) if getattr(layer, "bias", None) is not None else None
        if features.shape[1] != kernel.shape[0]:
            return []  # the feature layer's units are channels reduced over positions, not the kernel's rows
        labels = np.asarray(labels)
        predicted = np.argmax(scores, axis=1)
        wrong = np.bincount(labels[predicted != labels], minlength=visualiser.classes)
        classes = [int(c) for c in np.argsort(-wrong, kind="stable") if wrong[c] > 0][: self.config["mistake_classes"]]
        targets = []
        for c in classes:
            try:
                answer = mistakes.find_mistake_neurons(features, labels, predicted, kernel, bias, cls=c)
            except mistakes.MistakeError as e:
                logger.info("iNNspector: no mistake neurons for class %d: %s", c, e)
                continue
            raised = [n["index"] for n in answer["neurons"] if n["direction"] == "increase"]
            targets += [fv.Target(feature, int(i), c, "mistakes") for i in raised[: self.config["mistake_neurons"]]]
        return targets

    def _calibrate(self, targets, x):
        """Seconds of one row for one optimisation step: the slope between two short runs of the whole
        batch (after a first call that traces), so a run's fixed cost is left out."""
        results = self.config["options"]["results"]
        visualiser = self.visualiser
        assert visualiser is not None
        runs = []
        for steps in (2, 8, 24):
            start = time.perf_counter()
            visualiser(targets, x[:1], seed=self.seed, **dict(self.config["options"], steps=steps))
            runs.append(time.perf_counter() - start)
        return max((runs[2] - runs[1]) / (16 * len(targets) * results), 1e-9)

    def _fit(self, user, mistake_targets, class_targets, options, covered):
        """(targets, options, notes) whose estimated cost fits the budget, or None."""
        requested = (len(user), len(mistake_targets), len(class_targets), options["steps"], options["results"])
        if self.time_budget is None or self._row_step_seconds is None:
            return user + mistake_targets + class_targets, options, ()
        budget = max(float(self.time_budget) * step_pacing.PART_SHARE * covered, MIN_SECONDS)
        per_class = self.config["mistake_neurons"]

        def cost():
            rows = (len(user) + len(mistake_targets) + len(class_targets)) * options["results"]
            return rows * options["steps"] * self._row_step_seconds

        while cost() > budget:
            if options["steps"] > MIN_STEPS:
                options["steps"] = max(MIN_STEPS, options["steps"] // 2)
            elif options["results"] > MIN_RESULTS:
                options["results"] = max(MIN_RESULTS, options["results"] // 2)
            elif class_targets:
                class_targets = []
            elif per_class > 1:
                per_class = 1
                seen = set()
                kept = []
                for t in mistake_targets:
                    if t.cls not in seen:
                        kept.append(t)
                        seen.add(t.cls)
                mistake_targets = kept
            elif len(user) + len(mistake_targets) > 1:
                if mistake_targets:
                    mistake_targets = mistake_targets[:-1]
                else:
                    user = user[:-1]
            else:
                return None
        notes = []
        if options["steps"] != requested[3]:
            notes.append("%d optimisation steps instead of %d" % (options["steps"], requested[3]))
        if options["results"] != requested[4]:
            notes.append("%d results per target instead of %d" % (options["results"], requested[4]))
        if len(class_targets) != requested[2]:
            notes.append("no class visualisations")
        if len(mistake_targets) != requested[1] or len(user) != requested[0]:
            notes.append("%d of %d targets" % (len(user) + len(mistake_targets), requested[0] + requested[1]))
        return user + mistake_targets + class_targets, options, tuple(notes)

    def _say(self, notes):
        if notes and notes != self._notes:
            print("iNNspector: feature visualisations fitted to the time budget: %s" % "; ".join(notes))
        self._notes = tuple(notes)
