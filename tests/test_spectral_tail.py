"""The heavy-tail exponent α of a kernel's spectrum (WeightWatcher's measure): the estimator on matrices whose
spectrum is known, kernels it refuses with a reason, the measure's ranking, and real trained models read back
through the interestingness route (the demo's kernels, and a layer deliberately over-trained on tiny data)."""

import os

import numpy as np
import pytest

from innspector_tb.analysis import interestingness as I
from innspector_tb.analysis.interestingness import spectral_tail as st

# ------------------------------------------------------------------ the estimator


def with_spectrum(eigenvalues, rows, seed=0):
    """A rows x M matrix W (M = len(eigenvalues) ≤ rows) whose WᵀW / rows has exactly these eigenvalues."""
    rng = np.random.default_rng(seed)
    m = len(eigenvalues)
    left, _ = np.linalg.qr(rng.normal(size=(rows, m)))
    right, _ = np.linalg.qr(rng.normal(size=(m, m)))
    return (left * np.sqrt(rows * np.asarray(eigenvalues))) @ right.T


def pareto(alpha, n, seed):
    """n values with density ∝ x^-alpha for x ≥ 1."""
    return np.random.default_rng(seed + 100).uniform(size=n) ** (-1.0 / (alpha - 1.0))


@pytest.mark.parametrize("alpha", [1.5, 2.5, 4.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_pareto_spectrum_gives_back_its_exponent(alpha, seed):
    result = st.kernel_alpha(with_spectrum(pareto(alpha, 400, seed), 800, seed))
    assert result["alpha"] == pytest.approx(alpha, rel=0.1), result
    assert result["eigenvalues"] == 400 and result["matrix"] == "800x400 matrix"
    assert result["tail"] >= st.MIN_TAIL and result["ks"] < 0.1


def test_pareto_singular_values_give_the_exponent_of_their_squares():
    # Singular values s with density ∝ s^-5: λ = s² / N has density ∝ λ^-(5 + 1) / 2 = λ^-3.
    rng = np.random.default_rng(7)
    singular = pareto(5.0, 500, 7)
    left, _ = np.linalg.qr(rng.normal(size=(500, 500)))
    right, _ = np.linalg.qr(rng.normal(size=(500, 500)))
    result = st.kernel_alpha((left * singular) @ right.T)
    assert result["alpha"] == pytest.approx(3.0, rel=0.1), result


def test_a_gaussian_random_matrix_has_no_heavy_tail():
    # Marchenko-Pastur: a bounded spectrum, so the fitted tail is steep: far above an over-fitted or even a
    # well-trained layer's α (seeds 0-5 measured: 4.6 to 14.6, median above 6).
    alphas = [st.kernel_alpha(np.random.default_rng(s).normal(size=(500, 500)))["alpha"] for s in range(6)]
    assert min(alphas) > 4.0, alphas
    assert np.median(alphas) > st.UNDER_TRAINED, alphas
    heavy = st.kernel_alpha(with_spectrum(pareto(2.5, 500, 0), 500))["alpha"]
    assert heavy < min(alphas) - 1.5


def test_alpha_does_not_depend_on_the_kernel_s_scale_or_orientation():
    w = with_spectrum(pareto(3.0, 200, 3), 300, 3)
    base = st.kernel_alpha(w)
    assert st.kernel_alpha(w * 1e-3)["alpha"] == pytest.approx(base["alpha"], rel=1e-6)
    assert st.kernel_alpha(w.T)["alpha"] == pytest.approx(base["alpha"], rel=1e-6)
    assert base["lambda_max"] == pytest.approx(max(np.linalg.eigvalsh(w.T @ w / 300)), rel=1e-9)


def test_verdicts_follow_weightwatcher_s_thresholds():
    assert st.verdict(1.7).startswith("over-fitted")
    assert st.verdict(3.0).startswith("well trained")
    assert st.verdict(8.0).startswith("under-trained")
    result = st.kernel_alpha(with_spectrum(pareto(1.5, 400, 0), 800))
    assert result["verdict"].startswith("over-fitted")


def test_a_convolution_pools_the_eigenvalues_of_its_spatial_slices():
    # Each of the 3x3 positions gets its own 40x30 matrix with a Pareto spectrum: the pooled spectrum is
    # their union (270 eigenvalues), and α is the one all of them share.
    slices = [with_spectrum(pareto(2.5, 30, s), 40, s) for s in range(9)]
    kernel = np.stack(slices).reshape(3, 3, 40, 30)
    result = st.kernel_alpha(kernel, "Conv2D")
    assert result["eigenvalues"] == 270 and result["matrix"] == "3x3 slices of 40x30, eigenvalues pooled"
    pooled = np.sort(np.concatenate([st.eigenvalues(m) for m in slices]))
    assert result["alpha"] == pytest.approx(st.fit_power_law(pooled)["alpha"], rel=1e-9)
    assert result["alpha"] == pytest.approx(2.5, rel=0.15)
    assert st.kernel_alpha(kernel.reshape(9, 40, 30), "Conv1D")["alpha"] == pytest.approx(result["alpha"])


@pytest.mark.parametrize(
    "kernel, layer_type, says",
    [
        (np.where(np.eye(40, 30) > 0, np.nan, 1.0), "Dense", "30 NaN/Inf values"),
        (np.full((20, 20), np.inf), "Dense", "400 NaN/Inf values"),
        (np.ones((32, 2)), "Dense", "2 eigenvalues (32x2 matrix), fewer than the 10"),
        (np.ones((3, 3, 1, 8)), "Conv2D", "9 eigenvalues (3x3 slices of 1x8, eigenvalues pooled), fewer than the 10"),
        (np.zeros((40, 30)), "Dense", "0 of 30 eigenvalues are non-zero"),
        (np.outer(np.arange(1.0, 41), np.arange(1.0, 31)), "Dense", "1 of 30 eigenvalues are non-zero"),
        (np.ones((4, 8, 16)), "EinsumDense", "a 3-D kernel of a EinsumDense layer is neither"),
        (np.ones(5), "Dense", "a 1-D kernel"),
        (np.array([["a", "b"]]), "Dense", "not numbers"),
    ],
)
def test_kernels_without_a_spectrum_to_fit_get_a_reason_not_an_alpha(kernel, layer_type, says):
    result = st.kernel_alpha(kernel, layer_type)
    assert "alpha" not in result
    assert says in result["reason"], result["reason"]


def test_matrices_too_large_for_eigvalsh_are_skipped_with_their_size(monkeypatch):
    monkeypatch.setattr(st, "MAX_MATRIX_DIM", 50)
    result = st.kernel_alpha(np.ones((80, 60)))
    assert "smaller dimension is 60, over the 50" in result["reason"]
    assert st.kernel_alpha(with_spectrum(pareto(3.0, 50, 0), 80))["alpha"] > 1


# ------------------------------------------------------------------ the measure


def _kernel(unit, values, layer_type="Dense", run="r", read_step=3):
    layer, _, variable = unit.rpartition("/")

    def weights(step):
        if values is None:
            raise LookupError("run %r has no weights %s of layer %r in any step file" % (run, variable, layer))
        return read_step, lambda: values

    return I.UnitSeries(
        run=run, unit=unit, layer=layer, unit_type=variable, layer_type=layer_type, stats={4: {}}, weights=weights
    )


def test_the_measure_ranks_the_heaviest_tail_first_across_layer_types():
    series = [
        _kernel("random/kernel", np.random.default_rng(0).normal(size=(300, 200))),
        _kernel("heavy/kernel", with_spectrum(pareto(1.8, 200, 1), 300)),
        _kernel("trained/kernel", with_spectrum(pareto(3.5, 200, 2), 300)),
        _kernel("conv/kernel", np.stack([with_spectrum(pareto(2.6, 20, s), 30, s) for s in range(9)]), "Conv1D"),
        _kernel("nan/kernel", np.full((30, 20), np.nan)),
        _kernel("missing/kernel", None),
        I.UnitSeries(run="r", unit="heavy/bias", layer="heavy", unit_type="bias", layer_type="Dense", stats={4: {}}),
    ]
    answer = I.score(series, "heavy_tail_alpha")
    by_unit = {u["unit"]: u for u in answer["units"]}
    assert "heavy/bias" not in by_unit  # only kernels have a spectrum
    ranked = sorted((u for u in answer["units"] if u["score"] is not None), key=lambda u: -u["score"])
    assert [u["layer"] for u in ranked] == ["heavy", "conv", "trained", "random"]
    assert [u["score"] for u in ranked] == pytest.approx([1.0, 2 / 3, 1 / 3, 0.0])
    assert answer["models"] == [{"run": "r", "score": 1.0, "top_layer": "heavy"}]
    heavy = by_unit["heavy/kernel"]["detail"]
    assert heavy["verdict"].startswith("over-fitted") and heavy["step"] == 3 and heavy["alpha"] < 2
    assert by_unit["random/kernel"]["detail"]["verdict"].startswith("under-trained")
    assert by_unit["nan/kernel"]["raw"] is None and by_unit["nan/kernel"]["score"] is None
    assert "NaN/Inf" in by_unit["nan/kernel"]["detail"]["reason"]
    assert "in any step file" in by_unit["missing/kernel"]["detail"]["reason"]
    assert answer["normalisation"] == I.NORMALISATION_TEXT["rank-all"]


def test_the_measure_computes_each_kernel_once_per_step_read_through_the_cache():
    computed = {}

    def cache(run, key, compute):
        key = (run,) + key
        if key not in computed:
            computed[key] = compute()
        return computed[key]

    reads = []
    values = with_spectrum(pareto(3.0, 50, 0), 80)
    series = [_kernel("a/kernel", values)]
    series[0].weights = lambda step: (2, lambda: reads.append(step) or values)
    first = I.score(series, "heavy_tail_alpha", cache=cache)
    again = I.score(series, "heavy_tail_alpha", cache=cache)
    assert first["units"] == again["units"] and list(computed) == [("r", "heavy_tail_alpha", "a/kernel", 2)]
    assert reads == [4]  # the array is read only when the cache has no α for it


# ------------------------------------------------------------------ real models through the route

CONVS = ("Conv1D", "Conv2D", "Conv3D")


def _route(logdir, **params):
    from tests.support.backend_app import Client

    status, answer = Client(logdir).get("/interestingness", measure="heavy_tail_alpha", **params)
    assert status == 200, answer
    return answer


def _expected_eigenvalues(shape):
    shape = list(shape)
    slices = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return slices * min(shape[-2:])


@pytest.mark.slow
def test_every_dense_and_conv_kernel_of_the_demo_gets_alpha_or_the_reason(demo_logs):
    from tests.support.backend_app import Client

    logdir, _ = demo_logs
    answer = _route(logdir)
    client = Client(logdir)
    by_unit = {(u["run"], u["unit"]): u for u in answer["units"]}
    checked = computed = 0
    for model in client.get("/models")[1]["models"]:
        run = model["run"]
        for layer in client.get("/graph", run=run)[1]["architecture"]["layers"]:
            if layer["type"] != "Dense" and layer["type"] not in CONVS:
                continue
            kernel = next(v for v in layer["variables"] if v["name"] == "kernel")
            unit = by_unit[(run, layer["id"] + "/kernel")]
            count = _expected_eigenvalues(kernel["shape"])
            checked += 1
            if count >= st.MIN_EIGENVALUES:
                computed += 1
                assert unit["raw"] is not None and 0 <= unit["score"] <= 1, unit
                assert unit["detail"]["eigenvalues"] == count and unit["detail"]["step"] == answer["steps"][run]
                assert 1 < unit["raw"] < 100
            else:  # the first convolution of a 1-channel image (9 eigenvalues), the VAE's 2-unit latent heads
                assert unit["raw"] is None and "fewer than the 10" in unit["detail"]["reason"], unit
    assert checked >= 40 and computed >= 30, (checked, computed)
    # Every classifier's Dense kernels have α: dense_hidden and the 10-class output.
    for run in ("dense_baseline", "cnn_small", "cnn_wide", "cnn_skip", "spurious_dense"):
        assert by_unit[(run, "classifier/kernel")]["raw"] is not None
        assert by_unit[(run, "dense_hidden/kernel")]["raw"] is not None


def _over_trained_model():
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((8, 8, 1), name="image"),
            layers.Flatten(name="flatten"),
            layers.Dense(256, activation="relu", name="a"),
            layers.Dense(256, activation="relu", name="b"),
            layers.Dense(256, activation="relu", name="c"),
            layers.Dense(10, activation="softmax", name="out"),
        ],
        name="over_trained",
    )


@pytest.fixture(scope="module")
def over_trained(tmp_path_factory):
    """Trained normally on the digits for 3 epochs (steps 0-3), then layer b alone memorises 64 digits with
    random labels (SGD at 0.5, 800 batches of 8: one more epoch, step 4), each stage logged by the callback."""
    import keras

    import innspector_tb
    from demo.data import digits
    from innspector_tb.capture.callback import InnspectorCallback

    logdir = str(tmp_path_factory.mktemp("over_trained"))
    x, y, _, _ = digits()
    head = innspector_tb.header("over_trained")
    probe = {"probe": (x[:64], y[:64]), "probe_size": 64}
    model = _over_trained_model()
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    run_dir = os.path.join(logdir, "over_trained")
    model.fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=[InnspectorCallback(run_dir, head, **probe)])
    for layer in model.layers:
        layer.trainable = layer.name == "b"
    tiny_x = np.tile(x[:64], (100, 1, 1, 1))
    tiny_y = np.tile(np.random.default_rng(0).integers(0, 10, 64), 100)
    model.compile(keras.optimizers.SGD(0.5), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(
        tiny_x,
        tiny_y,
        initial_epoch=3,
        epochs=4,
        batch_size=8,
        shuffle=True,
        verbose=0,
        callbacks=[InnspectorCallback(run_dir, head, **probe)],
    )
    memorised = model.evaluate(x[:64], tiny_y[:64], verbose=0, return_dict=True)["accuracy"]
    assert memorised > 0.9  # the random labels are learnt by heart
    return logdir


@pytest.mark.slow
def test_a_layer_over_trained_on_tiny_data_ranks_first(over_trained):
    after = _route(over_trained, step=4)
    alphas = {u["layer"]: u["raw"] for u in after["units"]}
    assert set(alphas) == {"a", "b", "c", "out"} and None not in alphas.values()
    assert after["models"][0]["top_layer"] == "b", alphas
    assert min(alphas, key=alphas.get) == "b"
    b = next(u for u in after["units"] if u["layer"] == "b")
    assert b["score"] == 1.0 and b["detail"]["verdict"] == st.verdict(b["raw"]), b["detail"]
    # Measured: b 1.91 (over-fitted), the others 4.1 to 7.5. A margin, not the threshold: α near 2 is a
    # matter of hundredths.
    assert b["raw"] < 2.5 and min(v for k, v in alphas.items() if k != "b") - b["raw"] > 1.0, alphas
    # Before the over-training the same layer was well trained (3.72): the over-training made its tail heavy.
    before = {u["layer"]: u for u in _route(over_trained, step=3)["units"]}
    assert before["b"]["raw"] > 3.0 and before["b"]["detail"]["step"] == 3
    assert before["b"]["raw"] - b["raw"] > 1.0
    # At initialisation every kernel is random-like: no layer's α is below the well-trained range.
    initial = _route(over_trained, step=0)
    assert min(u["raw"] for u in initial["units"]) > 3.0, [(u["layer"], u["raw"]) for u in initial["units"]]
