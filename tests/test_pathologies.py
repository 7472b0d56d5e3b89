"""Training-pathology rules (issue 16): one planted case per rule in a small real Keras model trained with
the real callback and linted through the real route over TensorBoard's data provider, each found at the
culprit layer and the step it started; sound models (the demo's, keras.io-style convnet, VAE,
transformer and a small ResNet) with no warning-level finding. Rules on synthetic statistics where a
real run cannot plant the case cheaply (divergence, dying ReLU emerging during training).
"""

import keras
import numpy as np
import pytest
from keras import layers

from innspector_tb.analysis.lint import lint
from tests.support import pathology_models as pm
from tests.support import tb_readers

L = layers


def _relu(name="culprit", **kwargs):
    return L.Dense(32, activation="relu", name=name, **kwargs)


class TiedColumns(keras.constraints.Constraint):
    """Every column of the kernel set to their mean after each update: the units become copies."""

    def __call__(self, w):
        return keras.ops.repeat(keras.ops.mean(w, axis=1, keepdims=True), w.shape[1], axis=1)


class RankOne(keras.constraints.Constraint):
    """The kernel projected to rank 1 (outer product of its row and column means, same norm) after each
    update: the layer sees one direction of its input."""

    def __call__(self, w):
        r = keras.ops.mean(w, axis=1, keepdims=True) * keras.ops.mean(w, axis=0, keepdims=True)
        return r * keras.ops.sqrt(keras.ops.sum(w * w)) / (keras.ops.sqrt(keras.ops.sum(r * r)) + 1e-12)


def _deep(activation, initializer=None, depth=8):
    inputs = keras.Input((pm.FEATURES,), name="features")
    h = inputs
    for k in range(depth):
        h = L.Dense(32, activation=activation, kernel_initializer=initializer or "glorot_uniform", name="l%d" % k)(h)
    return keras.Model(inputs, L.Dense(pm.CLASSES, activation="softmax", name="out")(h))


# name -> (build the model, data options): every culprit is the layer `culprit` unless said otherwise.
PLANTED = {
    "bad_init": lambda: pm.dense_model(_relu(kernel_initializer=keras.initializers.RandomNormal(stddev=4.0))),
    "tiny_init": lambda: pm.dense_model(_relu(kernel_initializer=keras.initializers.RandomNormal(stddev=1e-3))),
    "sigmoid": lambda: pm.dense_model(
        L.Dense(32, activation="sigmoid", bias_initializer=keras.initializers.Constant(8.0), name="culprit")
    ),
    "unscaled": lambda: pm.dense_model(_relu()),
    "frozen": lambda: pm.dense_model(_relu(trainable=False)),
    "bottleneck": lambda: pm.dense_model(L.Dense(2, activation="relu", name="culprit")),
    "dead_bias": lambda: pm.dense_model(_relu(bias_initializer=keras.initializers.Constant(-10.0))),
    "constant": lambda: pm.dense_model(
        L.Dense(
            32,
            activation="tanh",
            kernel_initializer="zeros",
            bias_initializer=keras.initializers.Constant(0.5),
            trainable=False,
            name="culprit",
        )
    ),
    "nan": lambda: pm.dense_model(_relu()),
    "plateau": lambda: pm.dense_model(_relu()),
    "overfit": lambda: pm.dense_model(L.Dense(256, activation="relu", name="culprit")),
    "leak": lambda: pm.dense_model(L.Dropout(0.7, name="culprit")),
    "copies": lambda: pm.dense_model(_relu(use_bias=False, kernel_constraint=TiedColumns())),
    "rank_one": lambda: pm.dense_model(
        _relu(kernel_constraint=RankOne(), bias_initializer=keras.initializers.RandomNormal(stddev=1.0))
    ),
    "deep_sigmoid": lambda: _deep("sigmoid"),  # vanishing gradients
    # A deep plain linear MLP, kernels N(0, 1) (gain ~5.7 per layer), SGD at 0.01: exploding gradients.
    "deep_linear": lambda: _deep(None, keras.initializers.RandomNormal(stddev=1.0), depth=6),
    "high_lr": lambda: pm.dense_model(_relu()),  # SGD at 3.0
    "low_lr": lambda: pm.dense_model(_relu()),  # Adam at 1e-7
}


ANY_LAYER = "any layer"

# name -> [(rule, layer, step)] that must be found (a warning or an error, but validation-better below
# 0.5x, an info: dropout alone makes the keras.io convnet's validation loss 0.7x its training loss);
# None: not step-bound.
EXPECTED = {
    "bad_init": [("init-scale", "culprit", 0), ("activation-scale", "culprit", 0)],
    "tiny_init": [("init-scale", "culprit", 0), ("activation-scale", "culprit", 0)],
    "sigmoid": [("saturation", "culprit", 0)],
    "unscaled": [("input-scale", "features", 0)],
    "frozen": [("frozen-layer", "culprit", 0)],
    "bottleneck": [("narrow-bottleneck", "culprit", None)],
    "dead_bias": [("dying-relu", "culprit", 0)],
    "constant": [("constant-units", "culprit", 0)],
    "nan": [("loss-non-finite", None, 1)],
    "plateau": [("loss-plateau", None, 1)],
    "overfit": [("overfitting", None, "after the validation minimum")],
    "leak": [("validation-better", None, 5)],
    # The constraints act after the first update: step 0 (before training) is sound.
    "copies": [("correlated-units", "culprit", 1)],
    "rank_one": [("rank-collapse", "culprit", 1)],
    "deep_sigmoid": [("vanishing-gradients", "l0", 0)],
    # The first logged step after the blow-up: every kernel's gradient is NaN, the first layer is named.
    "deep_linear": [("exploding-gradients", "l0", 1), ("loss-non-finite", None, 1)],
    "high_lr": [("update-ratio", ANY_LAYER, 1)],
    "low_lr": [("update-ratio", ANY_LAYER, 1)],
}


def _train_planted(logdir, name):
    x, y = pm.features()
    xv, yv = pm.features(128, seed=1)
    options = {"validation": (xv, yv)}
    if name == "unscaled":  # pixel-like values 0..255
        x, xv = (np.round((a + 3) * 40).clip(0, 255).astype(np.float32) for a in (x, xv))
        options["validation"] = (xv, yv)
    elif name == "nan":
        options["optimizer"] = keras.optimizers.SGD(1e6)
    elif name == "plateau":
        options["optimizer"] = keras.optimizers.SGD(1e-9)
    elif name == "overfit":  # 48 samples with random labels, 30 epochs
        x, y = x[:48], np.random.default_rng(3).integers(0, pm.CLASSES, 48)
        options.update(epochs=30, batch_size=16, optimizer=keras.optimizers.Adam(3e-3))
    elif name == "deep_linear":
        options["optimizer"] = keras.optimizers.SGD(0.01)
    elif name == "high_lr":
        options["optimizer"] = keras.optimizers.SGD(3.0)
    elif name == "low_lr":
        options["optimizer"] = keras.optimizers.Adam(1e-7)
    elif name == "leak":  # dropout 0.7 in the middle: the validation loss stays well below the training loss
        options.update(epochs=8, optimizer=keras.optimizers.Adam(1e-2))
    keras.utils.set_random_seed(0)
    pm.train(logdir, name, PLANTED[name](), x, y, **options)


class Planted:
    """The planted runs of one logdir, each trained the first time a test asks for it."""

    def __init__(self, logdir):
        self.logdir, self.trained = logdir, set()

    def __call__(self, name):
        if name not in self.trained:
            _train_planted(self.logdir, name)
            self.trained.add(name)
        return name


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return Planted(str(tmp_path_factory.mktemp("planted")))


def _val_loss(logdir, run):
    with tb_readers.data_provider(logdir, "python") as provider:
        return tb_readers.scalars(provider, run)["metrics/val_loss"]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PLANTED))
def test_each_planted_pathology_is_named_at_its_layer_and_step(planted, name):
    found = pm.findings(planted.logdir, planted(name))
    serious = [f for f in found if f["severity"] in ("warning", "error") or f["rule"] == "validation-better"]
    for rule, layer, step in EXPECTED[name]:
        hits = [f for f in serious if f["rule"] == rule and layer in (f["layer"], ANY_LAYER)]
        assert hits, "%s: no %s finding at %s among %s" % (name, rule, layer, [(f["rule"], f["layer"]) for f in found])
        if step == "after the validation minimum":
            val = _val_loss(planted.logdir, name)
            best = min(val, key=val.get)
            step = min(s for s in val if s > best)
        assert hits[0]["step"] == step, hits[0]
        assert hits[0]["message"]


# The culprit of each planted model with a layer to blame (the unscaled inputs are no unit: the layer
# that receives them).
ABNORMAL_CULPRITS = {
    "bad_init": "culprit",
    "tiny_init": "culprit",
    "sigmoid": "culprit",
    "unscaled": "dense_a",
    "frozen": "culprit",
    "bottleneck": "culprit",
    "dead_bias": "culprit",
    "constant": "culprit",
    "deep_sigmoid": "l0",  # its gradient, 1e-5 of the output layer's (gradient_deficit)
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ABNORMAL_CULPRITS))
def test_anything_abnormal_puts_each_planted_culprit_in_its_models_top_3(planted, name):
    ranking = pm.abnormal_layers(planted.logdir, planted(name))
    top = [layer for layer, _, _ in ranking[:3]]
    assert ABNORMAL_CULPRITS[name] in top, ranking
    assert all(measure for _, _, measure in ranking[:3]), ranking  # the driving indicator is named


@pytest.mark.slow
def test_planted_culprits_are_not_blamed_on_their_neighbours(planted):
    """A consequence downstream (dead units behind a saturated or constant layer) is not reported."""
    for name in ("sigmoid", "constant", "bottleneck", "copies", "rank_one"):
        layers_blamed = {
            f["layer"]
            for f in pm.findings(planted.logdir, planted(name))
            if f["severity"] in ("warning", "error") and f["layer"]
        }
        assert layers_blamed == {"culprit"}, (name, layers_blamed)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["convnet", "resnet", "transformer", "vae"])
def test_sound_keras_io_style_models_have_no_warning(tmp_path, name):
    keras.utils.set_random_seed(0)
    if name == "transformer":
        x, y = pm.tokens()
        validation = pm.tokens(96, seed=1)
        pm.train(str(tmp_path), name, pm.transformer(), x, y, validation=validation)
    elif name == "vae":
        x, _ = pm.images()
        pm.train(str(tmp_path), name, pm.VAE(name="vae"), (x > 0.5).astype(np.float32), None, loss="vae")
    else:
        x, y = pm.images()
        model = pm.convnet() if name == "convnet" else pm.resnet()
        pm.train(str(tmp_path), name, model, x, y, validation=pm.images(96, seed=1))
    serious = [f for f in pm.findings(str(tmp_path), name) if f["severity"] in ("warning", "error")]
    assert serious == []


@pytest.mark.slow
def test_the_demo_models_have_no_warning(demo_logs):
    import os

    logdir, _ = demo_logs
    runs = sorted(
        os.path.relpath(root, logdir)
        for root, _, files in os.walk(logdir)
        if any(f.startswith("events.out") for f in files)
    )
    assert runs
    for run in runs:
        if run == "vae_careless":
            continue  # the demo's deliberate mistake (ReLU on z_mean and z_log_var), found by the lint
        serious = [f for f in pm.findings(logdir, run) if f["severity"] in ("warning", "error")]
        if run == "vae_keras_io":
            # keras.io's VAE on 8x8 digits: its encoder's 16 ReLU units die as it trains (about half by
            # epoch 4 of the demo's 12), a real finding the demo shows; nothing else may be found.
            assert {(f["rule"], f["layer"]) for f in serious} <= {("dying-relu", "encoder/dense")}, serious
            continue
        assert serious == [], run


# ----------------------------------------------------------------- synthetic statistics


def _acts(**steps):
    return {int(k[1:]): v for k, v in steps.items()}


def _dense_arch(activation="relu"):
    return {
        "layers": [
            {"id": "x", "type": "InputLayer", "is_input": True, "output_shapes": [[None, 8]]},
            {"id": "h", "type": "Dense", "config": {"activation": activation}, "output_shapes": [[None, 16]]},
            {"id": "out", "type": "Dense", "config": {"activation": "softmax"}, "output_shapes": [[None, 4]]},
        ],
        "edges": [{"from": "x", "to": "h"}, {"from": "h", "to": "out"}],
        "outputs": [{"layer": "out"}],
    }


def test_dying_relu_emerging_during_training_names_the_step_it_started():
    dead = {0: 0.0, 1: 0.1, 2: 0.6, 3: 0.8}
    stats = {"h/activations": {s: {"mean": 0.3, "std": 0.5, "dead_unit_fraction": d} for s, d in dead.items()}}
    found = [f for f in lint(_dense_arch(), {}, stats) if f.rule == "dying-relu"]
    assert [(f.layer, f.step, f.severity) for f in found] == [("h", 2, "warning")]
    assert "from step 2" in found[0].message and "0% at step 0" in found[0].message
    stats["h/activations"][2]["dead_unit_fraction"] = 0.4
    stats["h/activations"][3]["dead_unit_fraction"] = 0.45
    assert not [f for f in lint(_dense_arch(), {}, stats) if f.rule == "dying-relu"]


def test_loss_divergence_starts_after_the_minimum():
    metrics = {"loss": {1: 1.0, 2: 0.6, 3: 0.5, 4: 0.9, 5: 1.4}}
    found = [f for f in lint({}, {}, {}, metrics=metrics) if f.rule == "loss-divergence"]
    assert [(f.step, f.severity) for f in found] == [(4, "warning")]
    falling = {"loss": {1: 1.0, 2: 0.6, 3: 0.5, 4: 0.55, 5: 0.52}}
    assert not [f for f in lint({}, {}, {}, metrics=falling) if f.rule.startswith("loss-")]


def test_training_rules_read_batch_step_metric_names_and_skip_missing_data():
    metrics = {"epoch_loss": {1: 2.0, 2: 2.0, 3: 2.0}}
    assert [f.rule for f in lint({}, {}, {}, metrics=metrics)] == ["loss-plateau"]
    assert lint({}, {}, {}, metrics={"loss": {"a": "b"}, 3: None}) == []


def test_saturated_fraction_from_a_histogram():
    from innspector_tb.analysis.lint.rules_activations import saturated_fraction

    histogram = [[0.0, 0.01, 30.0], [0.01, 0.5, 20.0], [0.5, 0.99, 10.0], [0.99, 1.0, 40.0]]
    assert saturated_fraction(histogram, "sigmoid") == pytest.approx(
        (30 + 20 * 0.01 / 0.49 + 10 * 0.01 / 0.49 + 40) / 100
    )
    assert saturated_fraction([[-1.0, -0.98, 5.0], [-0.98, 0.98, 5.0]], "tanh") == pytest.approx(
        (5 + 5 * 0.04 / 1.96) / 10
    )
    assert saturated_fraction([], "tanh") is None


# ----------------------------------------------------------------- anything abnormal, synthetic


def test_indicator_scores_stay_below_0_9_inside_the_reference_and_grow_outside():
    from innspector_tb.analysis.interestingness.abnormal import INSIDE, indicator_score

    quantiles = [0.0, 0.1, 0.2, 0.3, 0.4]
    inside = [indicator_score(v, quantiles, 0.1) for v in (0.0, 0.15, 0.4)]
    outside = [indicator_score(v, quantiles, 0.1) for v in (0.5, 1.0, 5.0)]
    assert inside == sorted(inside) and max(inside) <= INSIDE
    assert outside == sorted(outside) and INSIDE < outside[0] < outside[-1] <= 1.0
    # an all-zero reference (dead units in sound models): zero is normal, anything above is not
    assert indicator_score(0.0, [0.0] * 21, 0.05) == pytest.approx(0.45)
    assert indicator_score(0.3, [0.0] * 21, 0.05) > 0.99


def test_abnormal_unit_names_its_driving_indicator_and_nan_scores_1():
    from innspector_tb.analysis.interestingness.abnormal import score_unit

    reference = {"activations": {"dead_units": [0.0] * 21, "skew": [0.0, 0.5, 1.0, 2.0]}}
    score, detail = score_unit({"dead_units": 0.6, "skew": 1.0}, "activations", reference)
    assert detail["measure"] == "dead_units" and score > 0.99
    score, detail = score_unit({"non_finite": float("inf")}, "kernel", reference)
    assert (score, detail["measure"], detail["value"]) == (1.0, "non_finite", None)
    assert score_unit({}, "activations", reference) == (None, None)


def _gradients(rms_by_layer, step=1):
    return {
        "%s/kernel" % layer: {step: {"grad_norm": value * 10, "grad_rms": value, "update_ratio_per_batch": 1e-3}}
        for layer, value in rms_by_layer.items()
    }


def test_exploding_gradients_from_nan_or_an_outsized_kernel():
    arch = {"layers": [{"id": name, "type": "Dense"} for name in ("a", "b", "c", "d")]}
    found = lint(arch, {}, {}, gradients=_gradients({"a": 0.01, "b": 0.02, "c": 0.01, "d": 5.0}))
    assert [(f.rule, f.layer, f.step, f.severity) for f in found] == [("exploding-gradients", "d", 1, "error")]
    found = lint(arch, {}, {}, gradients=_gradients({"a": float("nan"), "b": 0.02}))
    assert [(f.rule, f.layer) for f in found] == [("exploding-gradients", "a")]
    assert lint(arch, {}, {}, gradients=_gradients({"a": 0.01, "b": 0.02, "c": 0.05})) == []


def test_abnormal_indicators_read_a_kernel_s_gradient_against_the_model_s_largest():
    from innspector_tb.analysis.interestingness.abnormal import Indicators

    arch = {"layers": [{"id": name, "type": "Dense"} for name in ("a", "b", "c", "d")]}
    stats = {"%s/kernel" % name: {1: {"mean": 0.0, "std": 0.1}} for name in "abcd"}
    gradients = _gradients({"a": 1e-6, "b": 0.01, "c": 0.01, "d": 0.04})
    computer = Indicators(arch, stats, {}, gradients)
    assert computer.of("a/kernel", "a", "kernel", 1)["gradient_deficit"] == pytest.approx(np.log10(4e4))
    assert computer.of("d/kernel", "d", "kernel", 1)["gradient_deficit"] == pytest.approx(0.0)
    assert computer.of("b/kernel", "b", "kernel", 1)["update_ratio"] == pytest.approx(-3.0)
    nan = Indicators(arch, stats, {}, _gradients({"a": float("nan"), "b": 0.01}))
    assert nan.of("a/kernel", "a", "kernel", 1)["non_finite"] == float("inf")
    assert "gradient_deficit" not in Indicators(arch, stats, {}).of("a/kernel", "a", "kernel", 1)


def test_attention_query_and_key_gradients_do_not_count_as_vanishing():
    gradients = _gradients({"block/attention/query": 1e-6, "block/attention/key": 1e-6, "head": 0.02})
    assert lint({}, {}, {}, gradients=gradients) == []
    gradients = _gradients({"first": 1e-6, "head": 0.02})
    assert [(f.rule, f.layer) for f in lint({}, {}, {}, gradients=gradients)] == [("vanishing-gradients", "first")]


# ----------------------------------------------------------------- gradients at logging time


@pytest.mark.slow
def test_gradients_are_logged_and_served_layer_by_layer(planted):
    """The callback's gradient pass reaches the event file and the `gradients` route (answer checked against
    the OpenAPI document): eight sigmoid layers, the first one's gradient orders of magnitude below the last's;
    the update ratio is NaN (null) at the first step and positive after."""
    from tests.support.backend_app import Client

    run = planted("deep_sigmoid")
    status, answer = Client(planted.logdir).get("/gradients", run=run)
    assert status == 200, answer
    kernels = {v["layer"]: v["values"] for v in answer["variables"] if v["variable"] == "kernel"}
    assert list(kernels) == ["l%d" % k for k in range(8)] + ["out"]  # the architecture's order
    assert answer["steps"] == [0, 1, 2, 3, 4]
    first, last = kernels["l0"]["grad_rms"][0], kernels["out"]["grad_rms"][0]
    assert 0 < first < 1e-3 * last
    assert kernels["l0"]["update_ratio"][0] is None and kernels["l0"]["update_ratio"][1] > 0
    assert Client(planted.logdir).get("/gradients", run="nope")[0] == 404


def test_the_gradient_pass_fits_the_time_budget_by_halving_its_samples():
    from innspector_tb.capture.gradient_pass import MIN_SAMPLES, GradientPass

    x, y = pm.features(128)
    model = pm.dense_model(_relu())
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    gradients = GradientPass(model, x, y)
    assert gradients.samples() == 64
    gradients.seconds = 1.0
    assert gradients.fit_to(2.0) is None and gradients.samples() == 64
    assert gradients.fit_to(0.3) == "gradients on 16 probe samples instead of 64"
    assert gradients.samples() == 16 and len(gradients.y) == 16
    gradients.seconds = 1.0  # measured again on 16 samples
    assert gradients.fit_to(0.01).startswith("gradients off: a pass on %d samples" % MIN_SAMPLES)
    assert gradients({}, 3) == {}
    unlabelled = GradientPass(model, x, None)
    assert not unlabelled.ready and unlabelled({}, 0) == {}
