"""Tests of innspector_tb.analysis.lint: real Keras models (the demo's among them) and hand-written edge cases."""

import math
import os
import types

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest
from keras import layers

from demo import models as demo_models
from innspector_tb import importer
from innspector_tb.analysis.lint import RULES, Finding, lint, rules_json
from innspector_tb.capture.architecture import extract_architecture
from innspector_tb.format.stats import STAT_FIELDS, as_dict, describe


def of_rule(findings, rule):
    return [f for f in findings if f.rule == rule]


def loss_header(loss, output_activations=None):
    """A header's hparams as the Keras callback writes them for a compiled loss object."""
    hparams = {"loss": {"name": type(loss).__name__, "config": loss.get_config()}}
    if output_activations is not None:
        hparams["output_activations"] = output_activations
    return {"id": "m", "name": "m", "parents": [], "hparams": hparams}


def stats(**fields):
    """A STATISTICS dict with every field (NaN unless given)."""
    values = {name: float("nan") for name in STAT_FIELDS}
    values.update({"count": 100.0, "finite_count": 100.0, "nan_count": 0.0, "inf_count": 0.0})
    values.update(fields)
    return values


# ------------------------------------------------------------------ registry


def test_rules_are_registered_with_ids_and_descriptions():
    ids = [rule.id for rule in RULES]
    assert ids == [
        "double-activation",
        "relu-on-distribution-parameter",
        "sigmoid-softmax-with-regression-loss",
        "softmax-with-from-logits",
        "dead-units",
        "exploding-weights",
        "vanishing-weights",
        "non-finite",
        "activation-scale",
        "init-scale",
        "saturation",
        "dying-relu",
        "input-scale",
        "constant-units",
        "narrow-bottleneck",
        "correlated-units",
        "rank-collapse",
        "loss-non-finite",
        "loss-divergence",
        "loss-plateau",
        "overfitting",
        "validation-better",
        "frozen-layer",
        "vanishing-gradients",
        "exploding-gradients",
        "update-ratio",
    ]
    listed = rules_json()
    assert [r["id"] for r in listed] == ids
    assert all(r["description"] and r["kind"] in ("architecture", "data", "activations", "training") for r in listed)


def test_finding_to_json():
    finding = Finding("non-finite", "error", "bad", "dense/kernel", "dense", 3)
    assert finding.to_json() == {
        "rule": "non-finite",
        "severity": "error",
        "message": "bad",
        "unit": "dense/kernel",
        "layer": "dense",
        "step": 3,
    }


# ------------------------------------------------------------------ distribution parameters


def test_careless_vae_names_z_mean_and_z_log_var():
    arch = extract_architecture(demo_models.vae("vae_careless", 0.5, 0.5, latent_activation="relu"))
    found = of_rule(lint(arch, {}, {}), "relu-on-distribution-parameter")
    assert sorted(f.layer for f in found) == ["z_log_var", "z_mean"]
    assert all(f.severity == "error" for f in found)
    assert all("relu" in f.message and "sampling" in f.message for f in found)


def test_fixed_vae_has_no_findings():
    arch = extract_architecture(demo_models.vae("vae_fixed", 0.5, 0.5))
    header = {"hparams": {"output_activations": ["linear", "linear", "linear"]}}
    assert lint(arch, header, {}) == []


def test_vae_pattern_without_telling_names():
    """Structure alone: two Dense heads from one input feeding a custom layer."""
    x_in = keras.Input((6,))
    h = layers.Dense(8, activation="relu", name="hidden")(x_in)
    a = layers.Dense(2, activation="relu", name="head_a")(h)
    b = layers.Dense(2, activation="softplus", name="head_b")(h)
    z = demo_models.Sampling(name="draw")([a, b])
    arch = extract_architecture(keras.Model(x_in, z))
    found = {f.layer: f for f in of_rule(lint(arch, {}, {}), "relu-on-distribution-parameter")}
    # structure alone is weaker evidence than structure and name (an error)
    assert found["head_a"].severity == "warning"  # first input: taken as the mean
    assert found["head_b"].severity == "info"  # unknown role: softplus fine only for a std
    assert "hidden" not in found


def test_separate_relu_layer_on_a_vae_head_and_std_head():
    x_in = keras.Input((6,))
    h = layers.Dense(8, activation="relu", name="hidden")(x_in)
    mu = layers.ReLU(name="mu_relu")(layers.Dense(2, name="mu")(h))
    sigma = layers.Dense(2, activation="softplus", name="sigma")(h)
    z = demo_models.Sampling(name="sampling")([mu, sigma])
    arch = extract_architecture(keras.Model(x_in, z))
    found = of_rule(lint(arch, {}, {}), "relu-on-distribution-parameter")
    assert [(f.layer, f.severity) for f in found] == [("mu", "error")]
    assert "mu_relu" in found[0].message


def test_relu_on_std_is_a_warning_and_name_only_is_weaker():
    model = keras.Sequential(
        [
            keras.Input((4,)),
            layers.Dense(3, activation="relu", name="dense_mu"),
            layers.Dense(2, activation="relu", name="sigma"),
        ]
    )
    found = {
        f.layer: f.severity
        for f in of_rule(lint(extract_architecture(model), {}, {}), "relu-on-distribution-parameter")
    }
    assert found == {"dense_mu": "warning", "sigma": "warning"}


def test_leaky_relu_and_tanh_are_not_flagged():
    x_in = keras.Input((6,))
    h = layers.Dense(8, name="hidden")(x_in)
    m = layers.Dense(2, activation="leaky_relu", name="z_mean")(h)
    v = layers.Dense(2, activation="tanh", name="z_log_var")(h)
    arch = extract_architecture(keras.Model(x_in, demo_models.Sampling(name="s")([m, v])))
    assert of_rule(lint(arch, {}, {}), "relu-on-distribution-parameter") == []


# ------------------------------------------------------------------ outputs and losses


def classifier(activation, units=10):
    return keras.Sequential(
        [
            keras.Input((8,)),
            layers.Dense(16, activation="relu", name="hidden"),
            layers.Dense(units, activation=activation, name="out"),
        ]
    )


def test_softmax_with_from_logits_true_is_an_error():
    model = classifier("softmax")
    header = loss_header(keras.losses.CategoricalCrossentropy(from_logits=True), ["softmax"])
    found = of_rule(lint(extract_architecture(model), header, {}), "softmax-with-from-logits")
    assert [(f.severity, f.layer) for f in found] == [("error", "out")]
    assert "from_logits=True" in found[0].message


def test_softmax_with_from_logits_false_is_fine():
    header = loss_header(keras.losses.CategoricalCrossentropy(from_logits=False), ["softmax"])
    assert lint(extract_architecture(classifier("softmax")), header, {}) == []


def test_linear_output_with_probability_loss_is_info():
    header = loss_header(keras.losses.SparseCategoricalCrossentropy(), ["linear"])
    found = of_rule(lint(extract_architecture(classifier(None)), header, {}), "softmax-with-from-logits")
    assert [f.severity for f in found] == ["info"]
    # a loss given by its string name has Keras' default from_logits=False
    string = {"hparams": {"loss": "sparse_categorical_crossentropy"}}
    assert [
        f.severity
        for f in of_rule(lint(extract_architecture(classifier(None)), string, {}), "softmax-with-from-logits")
    ] == ["info"]


def test_sigmoid_with_mse_is_found():
    model = classifier("sigmoid", units=1)
    header = loss_header(keras.losses.MeanSquaredError(), ["sigmoid"])
    found = of_rule(lint(extract_architecture(model), header, {}), "sigmoid-softmax-with-regression-loss")
    assert [(f.severity, f.layer) for f in found] == [("warning", "out")]
    assert "MeanSquaredError" in found[0].message


def test_regression_loss_by_string_names():
    for name in ("mse", "mean_absolute_error", "huber", "log_cosh", "Huber"):
        header = {"hparams": {"loss": {"name": name, "config": {}}}}
        found = lint(extract_architecture(classifier("softmax")), header, {})
        assert [f.rule for f in found] == ["sigmoid-softmax-with-regression-loss"], name
    header = {"hparams": {"loss": {"name": "binary_crossentropy", "config": {}}}}
    assert lint(extract_architecture(classifier("sigmoid", 1)), header, {}) == []
    header = {"hparams": {"loss": {"name": "mse", "config": {}}}}
    assert lint(extract_architecture(classifier(None, 1)), header, {}) == []


def test_sigmoid_behind_a_reshape_counts_as_the_output_activation():
    model = keras.Sequential(
        [
            keras.Input((4,)),
            layers.Dense(6, activation="sigmoid", name="dec"),
            layers.Reshape((2, 3), name="reconstruction"),
        ]
    )
    # the callback writes "linear" for a Reshape output; the architecture knows better
    header = {"hparams": {"loss": "mse", "output_activations": ["linear"]}}
    found = of_rule(lint(extract_architecture(model), header, {}), "sigmoid-softmax-with-regression-loss")
    assert [f.layer for f in found] == ["dec"]


def test_output_rules_from_the_header_alone():
    header = {"hparams": {"loss": {"name": "MeanSquaredError", "config": {}}, "output_activations": ["softmax"]}}
    found = lint({}, header, {})
    assert [f.rule for f in found] == ["sigmoid-softmax-with-regression-loss"]
    assert found[0].layer is None and found[0].unit == "output_0"


def test_losses_per_output():
    x_in = keras.Input((4,))
    a = layers.Dense(3, activation="softmax", name="cls")(x_in)
    b = layers.Dense(1, activation="sigmoid", name="reg")(x_in)
    arch = extract_architecture(keras.Model(x_in, [a, b]))
    header = {
        "hparams": {
            "loss": [
                {"name": "CategoricalCrossentropy", "config": {"from_logits": False}},
                {"name": "mse", "config": {}},
            ]
        }
    }
    assert [(f.rule, f.layer) for f in lint(arch, header, {})] == [("sigmoid-softmax-with-regression-loss", "reg")]
    header = {
        "hparams": {
            "loss": {
                "cls": {"name": "mae", "config": {}},
                "reg": {"name": "BinaryCrossentropy", "config": {"from_logits": True}},
            }
        }
    }
    assert sorted((f.rule, f.layer) for f in lint(arch, header, {})) == [
        ("sigmoid-softmax-with-regression-loss", "cls"),
        ("softmax-with-from-logits", "reg"),
    ]


# ------------------------------------------------------------------ double activation


def test_dense_relu_then_activation_relu_is_found():
    model = keras.Sequential(
        [keras.Input((4,)), layers.Dense(3, activation="relu", name="dense"), layers.Activation("relu", name="act")]
    )
    found = of_rule(lint(extract_architecture(model), {}, {}), "double-activation")
    assert [(f.layer, f.severity) for f in found] == [("act", "warning")]
    assert "'dense'" in found[0].message


def test_softmax_twice_is_an_error_and_works_through_flatten():
    model = keras.Sequential(
        [
            keras.Input((4, 2)),
            layers.Dense(3, activation="softmax", name="dense"),
            layers.Flatten(name="flat"),
            layers.Softmax(name="again"),
        ]
    )
    found = of_rule(lint(extract_architecture(model), {}, {}), "double-activation")
    assert [(f.layer, f.severity) for f in found] == [("again", "error")]
    assert "flat" in found[0].message


def test_keras_ops_activation_after_an_activation():
    x_in = keras.Input((4,))
    x = layers.Dense(3, activation="sigmoid", name="dense")(x_in)
    x = keras.ops.relu(x)
    found = of_rule(lint(extract_architecture(keras.Model(x_in, x)), {}, {}), "double-activation")
    assert [f.severity for f in found] == ["warning"]


def test_single_activations_are_not_double():
    model = keras.Sequential(
        [
            keras.Input((4,)),
            layers.Dense(3, name="dense"),
            layers.Activation("relu", name="act"),
            layers.Dense(3, activation="relu", name="next"),
        ]
    )
    assert lint(extract_architecture(model), {}, {}) == []
    for build in (demo_models.cnn_batchnorm_dropout, demo_models.cnn_skip, demo_models.dense_baseline):
        arch = extract_architecture(demo_models.compile_classifier(build()))
        header = loss_header(keras.losses.SparseCategoricalCrossentropy(), ["softmax"])
        assert lint(arch, header, {}) == [], build.__name__


# ------------------------------------------------------------------ data rules


def test_nan_at_step_3_is_an_error_naming_step_3():
    unit_stats = {
        "dense/kernel": {
            0: stats(),
            1: stats(),
            2: stats(),
            3: stats(nan_count=5.0),
            4: stats(nan_count=50.0, inf_count=2.0),
        },
        "dense/bias": {0: stats(), 4: stats()},
    }
    found = lint({}, {}, unit_stats)
    assert [(f.rule, f.severity, f.unit, f.step) for f in found] == [("non-finite", "error", "dense/kernel", 3)]
    assert "step 3" in found[0].message and "5 NaN" in found[0].message


def test_non_finite_from_real_statistics_vectors():
    values = np.ones(10)
    values[2] = np.inf
    unit_stats = {"out/activations": {0: as_dict(describe(np.ones(10))), 7: as_dict(describe(values))}}
    found = lint({}, {}, unit_stats)
    assert [(f.rule, f.step, f.layer) for f in found] == [("non-finite", 7, "out")]
    assert "1 Inf" in found[0].message


def test_kernel_std_growing_20x_is_exploding():
    unit_stats = {
        "dense/kernel": {
            0: stats(std=0.05, l2_norm=1.0),
            5: stats(std=0.5, l2_norm=2.0),
            10: stats(std=1.0, l2_norm=3.0),
        }
    }
    found = lint({}, {}, unit_stats)
    assert [(f.rule, f.severity, f.step, f.layer) for f in found] == [("exploding-weights", "warning", 10, "dense")]
    assert "20.0x" in found[0].message


def test_exploding_error_above_100x_and_large_std():
    unit_stats = {
        "a/kernel": {0: stats(l2_norm=1.0, std=0.1), 3: stats(l2_norm=500.0, std=0.2)},
        "b/bias": {0: stats(std=0.0), 3: stats(std=250.0)},
    }
    found = {f.unit: f for f in lint({}, {}, unit_stats)}
    assert found["a/kernel"].rule == "exploding-weights" and found["a/kernel"].severity == "error"
    assert found["b/bias"].rule == "exploding-weights" and found["b/bias"].severity == "error"


def test_vanishing_and_stable_weights():
    unit_stats = {
        "enc/conv/kernel": {0: stats(l2_norm=4.0, std=0.2), 9: stats(l2_norm=0.2, std=0.01)},
        "ok/kernel": {0: stats(l2_norm=4.0, std=0.2), 9: stats(l2_norm=9.0, std=0.5)},
        "single/kernel": {0: stats(l2_norm=4.0, std=0.2)},
        "zero_start/kernel": {0: stats(l2_norm=0.0, std=0.0), 9: stats(l2_norm=9.0, std=0.5)},
    }
    found = lint({}, {}, unit_stats)
    assert [(f.rule, f.unit, f.severity) for f in found] == [("vanishing-weights", "enc/conv/kernel", "warning")]


def test_dead_units_thresholds_and_layers():
    model = keras.Sequential(
        [
            keras.Input((4,), name="image"),
            layers.Dense(3, activation="relu", name="a"),
            layers.Dense(3, activation="relu", name="b"),
            layers.Flatten(name="flat"),
            layers.Dense(3, activation="relu", name="c"),
            layers.Dense(2, name="d"),
        ]
    )
    arch = extract_architecture(model)
    unit_stats = {
        "image/activations": {0: stats(zero_fraction=1.0)},  # input layers are skipped
        "a/activations": {0: stats(zero_fraction=0.3), 5: stats(zero_fraction=0.995)},
        "b/activations": {0: stats(zero_fraction=0.3), 5: stats(zero_fraction=0.95)},
        "flat/activations": {5: stats(zero_fraction=0.95)},  # reported at its producer b
        "c/activations": {0: stats(zero_fraction=0.95), 5: stats(zero_fraction=0.5)},  # recovered
        "d/activations": {5: stats(zero_fraction=float("nan"))},
    }
    found = lint(arch, {}, unit_stats)
    assert [(f.rule, f.layer, f.severity, f.step) for f in found] == [
        ("dead-units", "a", "error", 5),
        ("dead-units", "b", "warning", 5),
    ]
    assert "30.0% at step 0" in found[0].message


# ------------------------------------------------------------------ robustness


def test_missing_and_malformed_inputs_never_raise():
    assert lint({}, {}, {}) == []
    assert lint(None, None, None) == []
    weird_arch = {
        "layers": [None, {"id": "x"}, {"id": "y", "type": None, "config": None, "inner": {"nodes": None}}],
        "edges": [None, {"from": "x", "to": "y"}, {"from": "x", "to": "nope"}, {"from": "y", "to": "y"}],
        "outputs": [None, {"layer": 3}, "y"],
    }
    weird_header = {"hparams": {"loss": 5, "output_activations": [None, 3, "softmax"]}}
    weird_stats = {
        "u": None,
        3: {},
        "x/activations": {"1": {"zero_fraction": "nan"}, "bad": {}, 2: None, 3: {"nan_count": "2"}},
        "x/kernel": {0: {"std": None, "l2_norm": "inf"}, 1: {"std": True}},
    }
    found = lint(weird_arch, weird_header, weird_stats)
    assert [(f.rule, f.step) for f in found] == [("non-finite", 3)]


def test_subclassed_model_without_edges():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = layers.Dense(4, activation="relu", name="z_mean")
            self.act = layers.Activation("relu", name="act")

        def call(self, x):
            if keras.ops.any(x > 1e9):  # a branch on a value: not traced, so no edges
                x = x * 0.0
            return self.act(self.hidden(x))

    net = Net()
    net(np.zeros((1, 3), dtype="float32"))
    arch = extract_architecture(net)
    assert arch["edges"] == []
    found = lint(arch, {"hparams": {"loss": "mse"}}, {"z_mean/kernel": {0: stats(std=1.0)}})
    # by name only: a warning; no edges, so no double activation
    assert [(f.rule, f.severity) for f in found] == [("relu-on-distribution-parameter", "warning")]


def test_imported_model_with_unknown_layers():
    layer = types.SimpleNamespace(
        id="encoder/z_mean",
        weights={"kernel": np.ones((3, 2), np.float32)},
        activations=np.zeros((5, 2), np.float32),
        class_means={},
    )
    arch = importer.build_architecture([layer], "imported", "file.h5")
    assert arch["layers"][0]["type"] == "Unknown"
    unit_stats = {
        "encoder/z_mean/activations": {0: stats(zero_fraction=1.0)},
        "encoder/z_mean/kernel": {0: stats(std=math.nan), 1: stats(nan_count=1.0)},
    }
    found = lint(arch, {}, unit_stats)
    assert sorted((f.rule, f.layer) for f in found) == [
        ("dead-units", "encoder/z_mean"),
        ("non-finite", "encoder/z_mean"),
    ]


def test_a_failing_rule_is_skipped(monkeypatch):
    def broken(ctx):
        raise RuntimeError("boom")

    from innspector_tb.analysis import lint as lint_module

    rules = [lint_module.Rule("broken", "data", "always fails", broken)] + list(lint_module.RULES)
    monkeypatch.setattr(lint_module, "RULES", rules)
    found = lint_module.lint({}, {}, {"a/kernel": {2: stats(nan_count=1.0)}})
    assert [f.rule for f in found] == ["non-finite"]


def test_findings_sorted_errors_first():
    model = keras.Sequential(
        [keras.Input((4,)), layers.Dense(3, activation="relu", name="dense"), layers.Activation("relu", name="act")]
    )
    found = lint(extract_architecture(model), {}, {"x/kernel": {1: stats(inf_count=1.0)}})
    assert [f.severity for f in found] == ["error", "warning"]


@pytest.mark.parametrize("activation", ["relu", "relu6", "softplus", "sigmoid", "exponential"])
def test_non_negative_activations_on_a_log_variance(activation):
    arch = extract_architecture(demo_models.vae("v", 0.5, 0.5, latent_activation=activation))
    found = {f.layer: f.severity for f in of_rule(lint(arch, {}, {}), "relu-on-distribution-parameter")}
    assert found == {"z_mean": "error", "z_log_var": "error"}
