"""Relevance propagation (LRP), Guided Backprop / DeconvNet and occlusion against independent computations.

Real small Keras models, in float64 where an identity is checked to float tolerance.
"""

import os

import keras
import numpy as np
import pytest
from keras import layers

from demo import data as demo_data
from demo import models as demo_models
from innspector_tb.capture import attribution
from innspector_tb.capture.relevance import occlusion
from innspector_tb.format import step_files
from tests.support import trained_models as tm
from tests.support.backend_app import Client

F64 = "float64"


def _bias_free_relu_net(use_bias=False, negative_biases=False):
    """A functional ReLU CNN with max and average pooling, a skip Add and a Concatenate, in float64."""
    keras.utils.set_random_seed(1)
    image = keras.Input((8, 8, 2), dtype=F64)
    a = layers.Conv2D(4, 3, padding="same", activation="relu", use_bias=use_bias, dtype=F64)(image)
    b = layers.Conv2D(4, 3, padding="same", activation="relu", use_bias=use_bias, dtype=F64)(a)
    h = layers.Add(dtype=F64)([a, b])
    left = layers.MaxPooling2D(2, dtype=F64)(h)
    right = layers.AveragePooling2D(2, dtype=F64)(h)
    h = layers.Concatenate(dtype=F64)([left, right])
    h = layers.Flatten(dtype=F64)(h)
    h = layers.Dense(12, activation="relu", use_bias=use_bias, dtype=F64)(h)
    h = layers.Dropout(0.3, dtype=F64)(h)
    out = layers.Dense(4, activation="softmax", use_bias=use_bias, dtype=F64)(h)
    model = keras.Model(image, out)
    if use_bias:
        for layer in model.layers:
            if getattr(layer, "bias", None) is not None:
                bias = np.random.default_rng(2).normal(0, 0.3, layer.bias.shape)
                layer.bias.assign(-0.1 * np.abs(bias) if negative_biases else bias)
    return model


def _inputs(n=6, shape=(8, 8, 2), seed=0):
    return np.random.default_rng(seed).random((n,) + shape)  # positive, in [0, 1)


def _maps(model, x, methods, compile=False, **options):
    """{method: map of the predicted class} and the predicted class's logit of each sample.

    Eager by default (tracing each method's walk costs seconds; the values are the same, which
    test_lrp_0_equals_gradient_times_input... checks for the compiled functions the callback uses)."""
    found = attribution.Attributor(model, compile=compile)
    result = found(x, methods=methods, targets=("predicted",), **options)
    scores = found.scores(x)
    logit = scores[np.arange(len(x)), scores.argmax(axis=1)]
    return {m: result[m]["predicted"] for m in result}, logit, result


def _sums(a):
    return a.reshape(a.shape[0], -1).sum(axis=1)


@pytest.mark.slow
def test_lrp_0_equals_gradient_times_input_on_a_bias_free_relu_network():
    model = _bias_free_relu_net()
    x = _inputs()
    maps, logit, _ = _maps(model, x, ("gradient_x_input", "lrp_z"), compile=True)
    scale = np.abs(maps["gradient_x_input"]).max()
    assert scale > 1e-3  # not trivially zero
    eager, _, _ = _maps(model, x, ("lrp_z",))
    np.testing.assert_allclose(maps["lrp_z"], eager["lrp_z"], rtol=1e-9, atol=1e-12)
    # Float tolerance: the z-rule's stabiliser (1e-9) moves R_j / z_j of a near-zero z_j a little.
    np.testing.assert_allclose(maps["lrp_z"], maps["gradient_x_input"], rtol=1e-5, atol=1e-5 * scale)
    # ... and both add up to the logit (a bias-free ReLU network is positively homogeneous).
    np.testing.assert_allclose(_sums(maps["lrp_z"]), logit, rtol=1e-6)


def test_relevance_is_conserved_by_the_conserving_rules():
    model = _bias_free_relu_net()
    x = _inputs(seed=3)
    # (Not α2β1: a neuron without negative contributions passes 2R, one without positive ones -R.)
    methods = ("lrp_epsilon", "lrp_z_plus", "lrp_alpha1_beta0", "deep_taylor", "lrp_z")
    maps, logit, _ = _maps(model, x, methods, lrp_epsilon=1e-9)
    for method in methods:
        np.testing.assert_allclose(_sums(maps[method]), logit, rtol=1e-5, err_msg=method)
    # A larger ε absorbs relevance (the exact share: test_epsilon_absorbs_...).
    maps, logit, _ = _maps(model, x, ("lrp_epsilon",), lrp_epsilon=1.0)
    assert np.abs(_sums(maps["lrp_epsilon"]) - logit).min() > 1e-3


def test_z_plus_ignores_biases_and_still_conserves():
    """With negative biases every active ReLU has a positive contribution, so z⁺ loses nothing."""
    model = _bias_free_relu_net(use_bias=True, negative_biases=True)
    x = _inputs(seed=4)
    maps, logit, _ = _maps(model, x, ("lrp_z_plus", "lrp_z"))
    assert np.abs(maps["lrp_z_plus"]).max() > 1e-3  # the network is alive
    np.testing.assert_allclose(_sums(maps["lrp_z_plus"]), logit, rtol=1e-5)
    # LRP-0 leaves the biases' shares with the biases: its sum differs from the logit here.
    assert np.abs(_sums(maps["lrp_z"]) - logit).max() > 1e-3


@pytest.mark.parametrize("epsilon", [1e-9, 0.1, 1.0])
def test_epsilon_absorbs_the_bias_share_and_epsilon_as_documented(epsilon):
    """One Dense layer z = xW + b: sum_i R_i = (z - b) z / (z + ε sign z) with R = z at the output."""
    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((7,), dtype=F64), layers.Dense(3, activation="softmax", dtype=F64)])
    dense = model.layers[-1]
    dense.bias.assign(np.array([0.5, -0.4, 0.2]))
    x = np.random.default_rng(5).normal(size=(9, 7))
    z = x @ np.asarray(dense.kernel) + np.asarray(dense.bias)
    predicted = z.argmax(axis=1)
    maps, _, _ = _maps(model, x, ("lrp_epsilon",), lrp_epsilon=epsilon)
    zc, bc = z[np.arange(9), predicted], np.asarray(dense.bias)[predicted]
    expected = (zc - bc) * zc / (zc + epsilon * np.where(zc >= 0, 1, -1))
    np.testing.assert_allclose(_sums(maps["lrp_epsilon"]), expected, rtol=1e-6)
    # Per input: x_i w_ic z / (z + ε): the share of each contribution.
    w = np.asarray(dense.kernel)[:, predicted].T
    np.testing.assert_allclose(maps["lrp_epsilon"], x * w * (zc / (zc + epsilon * np.sign(zc)))[:, None], rtol=1e-6)


def test_w_square_and_flat_do_not_depend_on_the_input_and_conserve():
    keras.utils.set_random_seed(6)
    model = keras.Sequential(
        [
            keras.Input((5,), dtype=F64),
            layers.Dense(4, activation="relu", dtype=F64),
            layers.Dense(3, activation="softmax", dtype=F64),
        ]
    )
    x = _inputs(4, (5,), seed=6)
    maps, logit, _ = _maps(model, x, ("lrp_w_square", "lrp_flat"))
    for method in ("lrp_w_square", "lrp_flat"):
        np.testing.assert_allclose(_sums(maps[method]), logit, rtol=1e-6)
    # Flat on Dense layers: each neuron's relevance spread evenly, so every input gets the same.
    np.testing.assert_allclose(maps["lrp_flat"], np.repeat((logit / 5)[:, None], 5, axis=1), rtol=1e-6)
    # w²: the input relevance is W1² W2²-weighted, the same direction for every sample of a class.
    w1, w2 = (np.asarray(layer.kernel) ** 2 for layer in model.layers)
    c = attribution.Attributor(model).scores(x).argmax(axis=1)
    upper = w2[:, c] / w2.sum(axis=0)[c]  # [4, n]: share of each hidden neuron
    expected = (w1 / w1.sum(axis=0)) @ upper * logit  # [5, n]
    np.testing.assert_allclose(maps["lrp_w_square"], expected.T, rtol=1e-6)


def _bn_model(fold_bias_to_zero=False):
    keras.utils.set_random_seed(7)
    image = keras.Input((6, 6, 2), dtype=F64)
    h = layers.Conv2D(5, 3, use_bias=not fold_bias_to_zero, name="conv", dtype=F64)(image)
    h = layers.BatchNormalization(name="bn", dtype=F64)(h)
    h = layers.Activation("relu", dtype=F64)(h)
    h = layers.Flatten(dtype=F64)(h)
    h = layers.Dense(6, activation="relu", use_bias=not fold_bias_to_zero, name="hidden", dtype=F64)(h)
    h = layers.BatchNormalization(name="bn_dense", dtype=F64)(h)
    out = layers.Dense(3, activation="softmax", use_bias=not fold_bias_to_zero, name="out", dtype=F64)(h)
    model = keras.Model(image, out)
    rng = np.random.default_rng(7)
    for name in ("bn", "bn_dense"):
        bn = model.get_layer(name)
        size = bn.gamma.shape[0]
        bn.gamma.assign(rng.uniform(0.5, 2.0, size))
        bn.moving_variance.assign(rng.uniform(0.5, 2.0, size))
        bn.moving_mean.assign(rng.normal(0, 0.5, size))
        scale = np.asarray(bn.gamma) / np.sqrt(np.asarray(bn.moving_variance) + bn.epsilon)
        # A zero folded bias when asked: beta = mean * scale.
        bn.beta.assign(np.asarray(bn.moving_mean) * scale if fold_bias_to_zero else rng.normal(0, 0.5, size))
    return model


def _folded_by_hand(model):
    """The same function without BatchNormalization: conv and hidden with the BN folded in numpy."""
    image = keras.Input((6, 6, 2), dtype=F64)
    h = layers.Conv2D(5, 3, name="conv", dtype=F64)(image)
    h = layers.Activation("relu", dtype=F64)(h)
    h = layers.Flatten(dtype=F64)(h)
    h = layers.Dense(6, activation="linear", name="hidden", dtype=F64)(h)
    out = layers.Dense(3, activation="softmax", name="out", dtype=F64)(h)
    folded = keras.Model(image, out)
    for linear, norm in (("conv", "bn"), ("hidden", "bn_dense")):
        layer, bn = model.get_layer(linear), model.get_layer(norm)
        scale = np.asarray(bn.gamma) / np.sqrt(np.asarray(bn.moving_variance) + bn.epsilon)
        bias = np.asarray(layer.bias) if layer.use_bias else 0.0
        folded.get_layer(linear).kernel.assign(np.asarray(layer.kernel) * scale)
        folded.get_layer(linear).bias.assign((bias - np.asarray(bn.moving_mean)) * scale + np.asarray(bn.beta))
    out_layer = model.get_layer("out")
    folded.get_layer("out").kernel.assign(np.asarray(out_layer.kernel))
    folded.get_layer("out").bias.assign(np.asarray(out_layer.bias) if out_layer.use_bias else np.zeros(3))
    return folded


def test_batch_normalization_is_folded_into_the_layer_before_it():
    model = _bn_model()
    # "hidden" has a ReLU before its BN: only the convolution's BN folds; the hand-made model differs there.
    found = attribution.attribute(model, _inputs(2, (6, 6, 2)), methods=("lrp_epsilon",), targets="predicted")
    assert "lrp_epsilon" not in found
    assert found.skipped["lrp_epsilon"] == (
        "BatchNormalization 'bn_dense' cannot be folded into a linear layer: 'hidden' before it has an activation"
    )
    model.get_layer("hidden").activation = keras.activations.linear  # Dense -> BN -> Dense: folds
    folded = _folded_by_hand(model)
    x = _inputs(5, (6, 6, 2), seed=8)
    np.testing.assert_allclose(folded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-9)
    methods = ("lrp_epsilon", "lrp_z_plus", "lrp_alpha2_beta1", "lrp_epsilon_plus_flat", "lrp_epsilon_gamma_box")
    canonized, _, _ = _maps(model, x, methods)
    by_hand, _, _ = _maps(folded, x, methods)
    for method in methods:
        np.testing.assert_allclose(canonized[method], by_hand[method], rtol=1e-7, atol=1e-12, err_msg=method)


def test_batch_normalization_folding_with_lrp_0_equals_gradient_times_input():
    """With the folded biases zero, the BN network is bias-free and ReLU: LRP-0 is gradient x input."""
    model = _bn_model(fold_bias_to_zero=True)
    model.get_layer("hidden").activation = keras.activations.linear
    x = _inputs(5, (6, 6, 2), seed=9)
    maps, logit, _ = _maps(model, x, ("gradient_x_input", "lrp_z"))
    scale = np.abs(maps["gradient_x_input"]).max()
    np.testing.assert_allclose(maps["lrp_z"], maps["gradient_x_input"], rtol=1e-5, atol=1e-5 * scale)
    np.testing.assert_allclose(_sums(maps["lrp_z"]), logit, rtol=1e-6)


def _relu_mlp():
    keras.utils.set_random_seed(10)
    return keras.Sequential(
        [
            keras.Input((6,), dtype=F64),
            layers.Dense(8, activation="relu", name="d1", dtype=F64),
            layers.Dense(7, name="d2", dtype=F64),
            layers.ReLU(dtype=F64),
            layers.Dense(5, name="d3", dtype=F64),
            layers.Activation("relu", dtype=F64),
            layers.Dense(3, activation="softmax", name="out", dtype=F64),
        ]
    )


def test_guided_backprop_and_deconvnet_modify_only_the_relus():
    model = _relu_mlp()
    x = np.random.default_rng(10).normal(size=(6, 6))
    maps, _, result = _maps(model, x, ("saliency", "guided_backprop", "deconvnet"))
    c = result.classes["predicted"]
    w = {n: np.asarray(model.get_layer(n).kernel) for n in ("d1", "d2", "d3", "out")}
    b = {n: np.asarray(model.get_layer(n).bias) for n in ("d1", "d2", "d3", "out")}
    z1 = x @ w["d1"] + b["d1"]
    z2 = np.maximum(z1, 0) @ w["d2"] + b["d2"]
    z3 = np.maximum(z2, 0) @ w["d3"] + b["d3"]

    def backward(relu):
        g = w["out"][:, c].T  # d logit_c / d a3
        for z, name in ((z3, "d3"), (z2, "d2"), (z1, "d1")):
            g = relu(g, z) @ w[name].T
        return g

    plain = backward(lambda g, z: g * (z > 0))
    guided = backward(lambda g, z: g * (z > 0) * (g > 0))
    deconv = backward(lambda g, z: np.maximum(g, 0))
    np.testing.assert_allclose(maps["saliency"], plain, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(maps["guided_backprop"], guided, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(maps["deconvnet"], deconv, rtol=1e-9, atol=1e-12)
    assert np.abs(guided - plain).max() > 1e-3  # negative gradients were there to drop


def test_guided_grad_cam_is_guided_backprop_times_the_upsampled_grad_cam():
    model = _bias_free_relu_net()
    x = _inputs(3, seed=11)
    found = attribution.attribute(
        model, x, methods=("guided_backprop", "grad_cam", "guided_grad_cam"), targets="predicted"
    )
    cam, guided = found["grad_cam"]["predicted"], found["guided_backprop"]["predicted"]
    assert cam.shape == (3, 8, 8)  # the last convolution keeps the input's 8x8: upsampling is the identity
    np.testing.assert_allclose(found["guided_grad_cam"]["predicted"], guided * cam[..., None], rtol=1e-9)


def test_occlusion_by_one_patch_over_everything_is_the_score_drop():
    model = _bias_free_relu_net(use_bias=True)
    x = _inputs(3, seed=12)
    maps, logit, result = _maps(model, x, ("occlusion",), occlusion_patch=8, occlusion_baseline=0.25)
    scores = attribution.Attributor(model).scores(np.full_like(x, 0.25))
    drop = logit - scores[np.arange(3), result.classes["predicted"]]
    # The map of every element is the drop divided among the 2 channels.
    np.testing.assert_allclose(maps["occlusion"], np.broadcast_to((drop / 2)[:, None, None, None], x.shape))


def test_occlusion_windows_cover_the_input_to_its_end():
    assert occlusion.positions((8, 8, 1), {"occlusion_patch": 0, "occlusion_stride": 0}) == 7 * 7  # 2x2 by 1
    assert occlusion.positions((28, 28, 3), {"occlusion_patch": 7, "occlusion_stride": 3}) == 8 * 8
    starts = [w[0].start for w in occlusion.windows((10, 1), 4, 3)]
    assert starts == [0, 3, 6] and occlusion.windows((10, 1), 4, 4)[-1][0] == slice(6, 10)
    assert occlusion.baseline_value(np.array([0.0, 1.0, 0.2]), "grey") == 0.5


@pytest.mark.slow
def test_occlusion_of_the_planted_marker_lights_the_marker():
    """The spurious-feature demo: a model trained on digits whose 3s carry a corner marker predicts 3
    from the marker; occluding the marker of marked 3s lowers the class-3 score most."""
    keras.utils.set_random_seed(0)
    x_train, y_train, _, _, x_test, y_test = demo_data.spurious_digits()
    model = demo_models.compile_classifier(demo_models.spurious_dense())
    model.fit(x_train, y_train, epochs=12, batch_size=32, verbose=0)
    marked = demo_data.add_marker(x_test[y_test == demo_data.MARKER_CLASS][:16])
    found = attribution.attribute(
        model, marked, np.full(16, 3), methods=("occlusion",), targets="true", occlusion_patch=2, occlusion_stride=1
    )
    maps = found["occlusion"]["true"][..., 0]
    corner = maps[:, :2, :2].mean(axis=(1, 2))
    rest = (maps.sum(axis=(1, 2)) - maps[:, :2, :2].sum(axis=(1, 2))) / (64 - 4)
    assert np.median(corner) > 5 * max(np.median(rest), 1e-6)
    # The corner's 2x2 block holds the map's largest value in most samples.
    top = maps.reshape(16, -1).argmax(axis=1)
    assert np.mean([(t // 8) < 2 and (t % 8) < 2 for t in top]) >= 0.75


class _Doubler(layers.Layer):
    def call(self, x):
        return 2 * x


def test_a_layer_without_a_rule_makes_lrp_unavailable_with_the_reason():
    image = keras.Input((4, 4, 1))
    h = _Doubler(name="doubler")(image)
    h = layers.Flatten()(h)
    model = keras.Model(image, layers.Dense(3, activation="softmax")(h))
    x = _inputs(2, (4, 4, 1)).astype("float32")
    found = attribution.attribute(model, x, methods=("saliency", "lrp_epsilon", "deep_taylor", "guided_backprop"))
    assert sorted(found) == ["guided_backprop", "saliency"]
    for method in ("lrp_epsilon", "deep_taylor"):
        assert found.skipped[method] == "layer 'doubler' (_Doubler) has no relevance rule"
    # A softmax inside the network is no layer relevance passes either (the last one is left out).
    inner = keras.Sequential(
        [keras.Input((4,)), layers.Dense(4, activation="softmax", name="inner"), layers.Dense(2, activation="softmax")]
    )
    found = attribution.attribute(inner, _inputs(2, (4,)).astype("float32"), methods=("lrp_z",))
    assert found.skipped["lrp_z"] == "layer 'inner' (Dense) applies a softmax inside the network"


# The callback and the route.


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("relevance"))
    asked = ("saliency", "lrp_epsilon", "lrp_epsilon_gamma_box", "deep_taylor", "guided_grad_cam", "occlusion")
    # No time budget: what is logged must not depend on how busy the machine is (test_time_budget.py).
    runs = {
        "default": tm.train(logdir, "default", tm.functional_skip(), epochs=1, time_budget=None),
        "asked": tm.train(
            logdir, "asked", tm.functional_skip(), epochs=1, time_budget=None, attributions={"methods": asked}
        ),
        # Its BatchNormalization follows a ReLU: LRP is unavailable, with the reason.
        "bn_after_relu": tm.train(logdir, "bn_after_relu", tm.sequential(), epochs=1, time_budget=None),
    }
    return logdir, runs, asked


@pytest.mark.slow
def test_the_callback_logs_the_relevance_methods_and_the_route_serves_them(logged):
    logdir, runs, asked = logged
    client = Client(logdir)
    status, listing = client.get("/models")
    by_run = {m["run"]: m["attributions"] for m in listing["models"]}
    assert by_run["default"]["methods"] == list(attribution.DEFAULT_METHODS)
    assert by_run["asked"]["methods"] == list(asked)
    run = runs["asked"]
    last = max(step_files.list_step_files(os.path.join(logdir, "asked")))
    for method in asked:
        status, answer = client.post(
            "/data", {"run": "asked", "unit": {"kind": "attributions", "method": method}, "steps": "last"}
        )
        assert status == 200, answer
        value = np.array(answer["result"]["value"]["data"], dtype=np.float64)
        assert value.shape == (32, 6, 6, 1) and np.abs(value).max() > 0, method
    # The last step's LRP-ε maps are those of the trained model (stored as float32 or float16).
    sample = np.array(answer["result"]["sample"]["data"])
    status, answer = client.post(
        "/data", {"run": "asked", "unit": {"kind": "attributions", "method": "lrp_epsilon"}, "steps": last}
    )
    recomputed = attribution.attribute(
        run["model"], run["callback"].probe_x[sample], methods=("lrp_epsilon",), targets="predicted"
    )["lrp_epsilon"]["predicted"]
    stored = np.array(answer["result"]["value"]["data"], dtype=np.float64)
    np.testing.assert_allclose(stored, recomputed, rtol=2e-2, atol=2e-3 * np.abs(recomputed).max())
    # LRP of a model it cannot pass: not logged, and the route says why.
    assert "lrp_epsilon" not in by_run["bn_after_relu"]["methods"] and "occlusion" in by_run["bn_after_relu"]["methods"]
    status, answer = client.post(
        "/data", {"run": "bn_after_relu", "unit": {"kind": "attributions", "method": "lrp_epsilon"}, "steps": "last"}
    )
    assert status == 404 and answer["error"].endswith(
        "BatchNormalization 'bn' cannot be folded into a linear layer: 'conv' before it has an activation"
    ), answer


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"lrp_epsilon": -1}, "lrp_epsilon must be a number from 0"),
        ({"lrp_gamma": "big"}, "lrp_gamma must be a number"),
        ({"occlusion_patch": 2.5}, "occlusion_patch must be an integer"),
        ({"occlusion_stride": -1}, "occlusion_stride must be an integer"),
        ({"occlusion_baseline": "black"}, 'occlusion_baseline must be "grey" or a finite number'),
        ({"occlusion_baseline": float("nan")}, 'occlusion_baseline must be "grey" or a finite number'),
    ],
)
def test_bad_options_are_refused_with_their_name(options, fragment):
    with pytest.raises(attribution.AttributionError, match=fragment):
        attribution.check_options(options)
    assert attribution.check_options({"occlusion_baseline": 0})["occlusion_baseline"] == 0.0
