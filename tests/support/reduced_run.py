"""A run logged with reduced data (docs/format.md, "Reduced data"), written directly, and the same model
logged in full the old way: a ResNet-style toy with a conv stack and a residual add.

`write_reduced_run` writes what the callback writes for a big model under a logging plan: statistics,
histograms and class means of every unit in the event file at every step, an `innspector/plan` summary
at every step, and step files holding full activations of some layers, pooled vectors (with the maps of a
sample subset) of others, nothing of one, per-unit statistics of every output and each layer's full
weights every 2 logged steps. `write_full_run` logs the same model with the summary ops of before plans
(everything in full, no plan). No training: weights are the model's initial ones, activations the model
on a random probe.
"""

import numpy as np

PROBE = 40
CLASSES = (0, 1, 2)
SUBSET = (0, 1, 2, 10, 11, 12)  # probe rows whose maps the reduced layers keep; labels 0, 1, 2, 1, 2, 0
STEPS = (0, 1, 2, 3)
WEIGHTS_EVERY = 2
# The plan: conv_1 pinned in full, wide_conv pooled with subset maps, proj pooled only, add nothing,
# gap and head in full (vectors); each layer's kernels every 2 logged steps.
LAYER_PLANS = {
    "conv_1": {"activations": "full", "sample_maps": False, "class_maps": True},
    "wide_conv": {"activations": "pooled", "sample_maps": True, "class_maps": False},
    "proj": {"activations": "pooled", "sample_maps": False, "class_maps": False},
    "add": {"activations": "none", "sample_maps": False, "class_maps": False},
    "gap": {"activations": "full", "sample_maps": False, "class_maps": False},
    "head": {"activations": "full", "sample_maps": False, "class_maps": False},
}
WEIGHT_GROUPS = {"conv_1": 0, "wide_conv": 1, "proj": 0, "head": 1}


def build_model():
    """input 8x8x3 -> conv_1 (16) -> wide_conv (256) -> proj (1x1, 256) -> add(wide_conv, proj) -> gap -> head."""
    import keras

    inputs = keras.Input((8, 8, 3), name="input")
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv_1")(inputs)
    wide = keras.layers.Conv2D(256, 3, padding="same", activation="relu", name="wide_conv")(x)
    proj = keras.layers.Conv2D(256, 1, name="proj")(wide)
    x = keras.layers.Add(name="add")([wide, proj])
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(len(CLASSES), activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs, name="resnet_toy")


def probe():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(PROBE, 8, 8, 3)).astype(np.float32)
    y = np.arange(PROBE) % len(CLASSES)
    return x, y


def _layer_outputs(model, x):
    import keras

    names = [layer.name for layer in model.layers if layer.name != "input"]
    extractor = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    return dict(zip(names, [np.asarray(a) for a in extractor([x])], strict=True))


def _weights(model):
    from innspector_tb.capture import summary

    return summary.model_weights(model)


def plan_json(step_index):
    due = sorted(layer for layer, group in WEIGHT_GROUPS.items() if group == step_index % WEIGHTS_EVERY)
    return {
        "version": 1,
        "budget_bytes": 400_000,
        "probe_size": PROBE,
        "subset": list(SUBSET),
        "layers": LAYER_PLANS,
        "weights_every": WEIGHTS_EVERY,
        "weight_groups": WEIGHT_GROUPS,
        "planned_bytes": 390_000,
        "reduced": True,
        "notes": [
            "2 layers: activations pooled per unit (mean over positions) for all 40 probe samples (wide_conv, proj)",
            "1 layers: full activation maps for 6 of 40 probe samples (wide_conv)",
            "1 layers: statistics only, no per-sample activations (add)",
            "weights: statistics every step, each layer's full weights every 2 logged steps",
        ],
        "weights_logged": due,
    }


def unit_statistics(activations):
    flat = activations.reshape(-1, activations.shape[-1]).astype(np.float64)
    return np.stack([flat.mean(0), flat.std(0), flat.min(0), flat.max(0), (flat == 0).mean(0)]).astype(np.float32)


def write_reduced_run(run_dir, name="resnet_reduced"):
    """The toy logged under the plan above; returns {"activations": {layer: array}, "weights": {...}, "x", "y"}."""
    import tensorflow as tf

    import innspector_tb
    from innspector_tb.capture import summary
    from innspector_tb.format import metadata, stats, step_files
    from innspector_tb.format.architecture import layer_h5_name

    model = build_model()
    x, y = probe()
    outputs = _layer_outputs(model, x)
    weights = _weights(model)
    writer = summary.create_file_writer(str(run_dir), precision="exact")
    with writer.as_default():
        summary.header(innspector_tb.header(name, label="ResNet-style toy, reduced data"))
        summary.architecture(model)
        summary.samples(x, y)
        for index, step in enumerate(STEPS):
            plan = plan_json(index)
            summary._write_json(metadata.PLAN_TAG, metadata.Kind.PLAN, plan, step)
            bulk = {"data_samples/y_prediction": outputs["head"], "data_samples/subset": np.array(SUBSET, np.int64)}
            # Every weight's statistics; full weights of the layers due.
            for (layer_id, variable), array in weights.items():
                summary._write_unit_stats(writer, "%s/%s" % (layer_id, variable), variable, array, step)
                if layer_id in plan["weights_logged"]:
                    group = step_files.layer_group(layer_h5_name(layer_id))
                    bulk["%s/weights/%s" % (group, variable)] = array
            # Every output's statistics and class means; bulk arrays by the plan.
            for layer_id, activations in outputs.items():
                unit = "%s/activations" % layer_id
                summary._write_unit_stats(writer, unit, "activations", activations, step)
                tf.summary.write(
                    metadata.CLASS_MEANS_TAG_PREFIX + unit,
                    tf.constant(stats.class_mean_matrix(activations, y, list(CLASSES))),
                    step=step,
                    metadata=metadata.create_summary_metadata(
                        metadata.Kind.CLASS_MEANS, unit=unit, unit_type="activations", class_names=list(CLASSES)
                    ),
                )
                group = step_files.layer_group(layer_h5_name(layer_id))
                layer_plan = LAYER_PLANS[layer_id]
                if layer_plan["activations"] == "full":
                    bulk[group + "/activations"] = activations
                elif layer_plan["activations"] == "pooled":
                    bulk[group + "/pooled_activations"] = activations.mean(axis=(1, 2))
                if layer_plan["sample_maps"]:
                    bulk[group + "/sample_activations"] = activations[list(SUBSET)]
                if layer_plan["class_maps"]:
                    for c, mean in stats.class_means(activations, y, list(CLASSES)).items():
                        bulk["%s/mean_class_activations/class_%d" % (group, c)] = mean
                bulk[group + "/unit_statistics"] = unit_statistics(activations)
            writer.add_bulk(step, bulk)
    writer.close()
    return {"activations": outputs, "weights": weights, "x": x, "y": y}


def write_full_run(run_dir, name="resnet_full"):
    """The same toy logged in full with the summary ops of before plans (no plan, no unit statistics)."""
    import innspector_tb
    from innspector_tb.capture import summary

    model = build_model()
    x, y = probe()
    outputs = _layer_outputs(model, x)
    weights = _weights(model)
    writer = summary.create_file_writer(str(run_dir), precision="exact")
    with writer.as_default():
        summary.header(innspector_tb.header(name, label="ResNet-style toy, full data"))
        summary.architecture(model)
        summary.samples(x, y)
        for step in STEPS:
            summary.weights(weights, step=step)
            summary.activations(outputs, labels=y, step=step)
            summary.predictions(outputs["head"], step=step)
    writer.close()
    return {"activations": outputs, "weights": weights, "x": x, "y": y}


def write_logdir(logdir):
    """Both runs in one logdir: {run: what was logged}."""
    import os

    return {
        "resnet_reduced": write_reduced_run(os.path.join(logdir, "resnet_reduced")),
        "resnet_full": write_full_run(os.path.join(logdir, "resnet_full")),
    }
