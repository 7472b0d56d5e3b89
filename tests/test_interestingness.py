"""Tests of the interestingness measures (mechanism M5): synthetic units with known properties."""

import itertools
import json
import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from innspector_tb.analysis import interestingness as I
from innspector_tb.format import stats

REQUIRED_IDS = {
    "variance",
    "skew",
    "kurtosis",
    "min",
    "max",
    "mean_abs",
    "zero_fraction",
    "non_finite",
    "divergence_from_init",
    "divergence_from_parent",
    "divergence_from_normal",
    "change_since_previous",
    "structural",
}


def unit(run, name, layer_type, samples_by_step, unit_type=None):
    """A UnitSeries whose summaries are computed from actual samples, as the logger does."""
    layer, _, kind = name.rpartition("/")
    series = I.UnitSeries(run=run, unit=name, layer=layer, unit_type=unit_type or kind, layer_type=layer_type)
    for step, values in samples_by_step.items():
        series.stats[step] = stats.as_dict(stats.describe(values))
        series.histograms[step] = stats.histogram(values)
    return series


def stat_unit(run, name, layer_type, stats_by_step):
    """A UnitSeries with hand-written statistics only (no histograms)."""
    layer, _, kind = name.rpartition("/")
    return I.UnitSeries(
        run=run,
        unit=name,
        layer=layer,
        unit_type=kind,
        layer_type=layer_type,
        stats={k: dict(v) for k, v in stats_by_step.items()},
    )


def by_unit(result, run=None):
    return {u["unit"]: u for u in result["units"] if run is None or u["run"] == run}


def rng(seed):
    return np.random.default_rng(seed)


# ------------------------------------------------------------------ descriptors and errors


def test_measure_descriptors():
    ids = [m["id"] for m in I.MEASURES]
    assert REQUIRED_IDS <= set(ids)
    assert len(ids) == len(set(ids))
    for m in I.MEASURES:
        assert {"id", "name", "description", "level", "needs", "higher_is"} <= set(m)
        assert m["level"] in ("unit", "layer")
        assert m["higher_is"] in ("more interesting", "less interesting")
        assert isinstance(m["needs"], list) and m["description"]
    assert I.measure("structural")["level"] == "layer"
    assert "step0" in I.measure("divergence_from_init")["needs"]
    assert I.measure("min")["higher_is"] == "less interesting"


def test_unknown_measure_raises_with_the_known_ids():
    with pytest.raises(ValueError) as err:
        I.score([], "surprisingness")
    for known in REQUIRED_IDS:
        assert known in str(err.value)


# ------------------------------------------------------------------ distances


def test_wasserstein_exact_on_uniform_densities_with_different_edges():
    u01 = np.array([[0.0, 0.5, 1.0], [0.5, 1.0, 1.0]])  # U[0, 1], two bins
    u02 = np.array([[0.0, 1.0, 1.0], [1.0, 2.0, 1.0]])  # U[0, 2], other edges
    assert I.wasserstein_histograms(u01, u02) == pytest.approx(0.5, abs=1e-12)
    assert I.wasserstein_histograms(u02, u01) == pytest.approx(0.5, abs=1e-12)
    assert I.wasserstein_histograms(u01, u01) == 0.0
    shifted = u01 + np.array([3.0, 3.0, 0.0])
    assert I.wasserstein_histograms(u01, shifted) == pytest.approx(3.0)
    # A gap between bins is a flat stretch of the CDF, not density.
    gap = np.array([[0.0, 1.0, 1.0], [2.0, 3.0, 1.0]])
    flat = np.array([[0.0, 1.0, 1.0], [1.0, 2.0, 0.0], [2.0, 3.0, 1.0]])
    assert I.wasserstein_histograms(gap, flat) == pytest.approx(0.0, abs=1e-12)
    uniform03 = np.array([[0.0, 1.5, 1.0], [1.5, 3.0, 1.0]])
    assert I.wasserstein_histograms(gap, uniform03) == pytest.approx(0.25)


def test_one_bin_histogram_is_a_point_mass():
    zeros = stats.histogram(np.zeros(10))  # [[-0.5, 0.5, 10]]
    assert I.wasserstein_histograms(zeros, stats.histogram(np.full(4, 0.3))) == pytest.approx(0.3)
    u01 = np.array([[0.0, 0.5, 1.0], [0.5, 1.0, 1.0]])
    assert I.wasserstein_histograms(zeros, u01) == pytest.approx(0.5)  # E|U[0,1] - 0|
    assert I.wasserstein_to_normal(zeros) == pytest.approx(math.sqrt(2 / math.pi))
    with pytest.raises(ValueError):
        I.wasserstein_histograms(np.zeros((0, 3)), u01)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wasserstein_matches_scipy_on_samples(seed):
    r = rng(seed)
    pairs = [
        (r.normal(0, 1, 100_000), r.gamma(2.0, 1.0, 100_000)),
        (r.normal(0, 1, 100_000), r.normal(0.3, 2.0, 80_000)),
        (r.uniform(-1, 1, 50_000), r.laplace(0.5, 0.2, 120_000)),
    ]
    for a, b in pairs:
        for bins_a, bins_b in ((30, 30), (30, 17), (64, 8)):
            ours = I.wasserstein_histograms(stats.histogram(a, bins_a), stats.histogram(b, bins_b))
            exact = scipy_stats.wasserstein_distance(a, b)
            widths = [(x.max() - x.min()) / n for x, n in ((a, bins_a), (b, bins_b))]
            # Binning moves each value by at most half a bin, on average ~a quarter.
            assert abs(ours - exact) <= 0.25 * max(widths) + 0.01 * exact, (bins_a, bins_b)


def test_wasserstein_to_normal_matches_scipy_on_samples():
    r = rng(5)
    reference = r.normal(0, 1, 400_000)
    for values in (
        r.normal(0, 1, 100_000),
        r.normal(2.0, 0.3, 100_000),
        r.gamma(2.0, 1.0, 100_000),
        r.normal(0, 10, 100_000),
    ):
        ours = I.wasserstein_to_normal(stats.histogram(values))
        exact = scipy_stats.wasserstein_distance(values, reference)
        width = (values.max() - values.min()) / stats.DEFAULT_BINS
        assert abs(ours - exact) <= 0.25 * width + 0.01 * exact + 0.01
    # Against N(mean, std): a shifted copy of the reference is |shift| away.
    shifted = stats.histogram(reference + 1.5, 100)
    assert I.wasserstein_to_normal(shifted, mean=1.5) == pytest.approx(0.0, abs=0.02)
    assert I.wasserstein_to_normal(shifted) == pytest.approx(1.5, abs=0.02)


histograms = st.integers(1, 12).flatmap(
    lambda n: st.tuples(
        st.floats(-50, 50),
        st.floats(0.01, 20),
        st.lists(st.integers(0, 100), min_size=n, max_size=n).filter(lambda c: sum(c) > 0),
    )
)


def _hist(spec):
    start, width, counts = spec
    edges = start + width * np.arange(len(counts) + 1)
    if len(counts) == 1:  # a one-bin histogram means a point mass; keep it a density
        counts = counts + [0]
        edges = np.append(edges, edges[-1] + width)
    return np.stack([edges[:-1], edges[1:], np.asarray(counts, float)], axis=1)


@settings(max_examples=60, deadline=None)
@given(histograms, histograms, histograms)
def test_wasserstein_is_a_metric_and_matches_a_fine_discretisation(a, b, c):
    ha, hb, hc = _hist(a), _hist(b), _hist(c)
    ab, ba = I.wasserstein_histograms(ha, hb), I.wasserstein_histograms(hb, ha)
    assert ab >= 0 and ab == pytest.approx(ba, rel=1e-9, abs=1e-9)
    assert I.wasserstein_histograms(ha, ha) == pytest.approx(0.0, abs=1e-9)
    assert ab <= I.wasserstein_histograms(ha, hc) + I.wasserstein_histograms(hc, hb) + 1e-9
    # Each bin as 400 equal point masses: scipy's weighted W1 is within a sub-bin width.
    k = 400

    def points(h):
        t = (np.arange(k) + 0.5) / k
        values = (h[:, :1] + (h[:, 1:2] - h[:, :1]) * t).ravel()
        return values, np.repeat(h[:, 2] / k, k)

    (va, wa), (vb, wb) = points(ha), points(hb)
    reference = scipy_stats.wasserstein_distance(va, vb, wa, wb)
    assert ab == pytest.approx(reference, abs=max(a[1], b[1]) / k + 1e-9)


# ------------------------------------------------------------------ distribution measures


def test_growing_std_scores_highest_on_divergence_from_init():
    r = rng(10)
    steps = range(0, 11)
    series = []
    for i in range(4):
        w0 = r.normal(0, 0.05, 2000)
        series.append(
            unit("run", f"dense_{i}/kernel", "Dense", {s: w0 + r.normal(0, 0.002, w0.size) * (s > 0) for s in steps})
        )
    w0 = r.normal(0, 0.05, 2000)
    series.append(unit("run", "dense_grow/kernel", "Dense", {s: w0 * (1 + 0.2 * s) for s in steps}))
    result = I.score(series, "divergence_from_init")
    assert result["step"] == 10
    units = by_unit(result)
    assert units["dense_grow/kernel"]["score"] == 1.0
    top = max(result["units"], key=lambda u: u["raw"])
    assert top["unit"] == "dense_grow/kernel"
    assert all(units[f"dense_{i}/kernel"]["raw"] < 0.2 for i in range(4))
    # The raw distance grows with the std, step after step.
    raws = [by_unit(I.score(series, "divergence_from_init", step=s))["dense_grow/kernel"]["raw"] for s in steps]
    assert raws[0] == 0.0 and all(b > a for a, b in itertools.pairwise(raws))


def test_distances_are_in_pooled_standard_deviations():
    r = rng(21)
    z = r.normal(0, 1, 20_000)
    series = [
        unit("run", "small/kernel", "Dense", {0: 0.01 * z, 1: 0.01 * z + 0.01}),
        unit("run", "large/kernel", "Dense", {0: 100 * z, 1: 100 * z + 100}),
        unit("run", "nudged/kernel", "Dense", {0: z, 1: z + 0.1}),
        # A zero-initialised bias that moved: std 0 at step 0, the floor keeps it finite.
        unit("run", "zero/bias", "Dense", {0: np.zeros(64), 1: 0.01 + 0.001 * z[:64]}),
        unit("run", "still/bias", "Dense", {0: np.zeros(64), 1: np.zeros(64)}),
        # Constant at both steps: no spread at all, the floor is 1e-3 of the magnitude.
        unit("run", "const/bias", "Dense", {0: np.zeros(64), 1: np.full(64, 0.01)}),
    ]
    units = by_unit(I.score(series, "divergence_from_init"))
    # The same move, one standard deviation, at magnitudes 1e4 apart.
    assert units["small/kernel"]["raw"] == pytest.approx(1.0, rel=0.05)
    assert units["large/kernel"]["raw"] == pytest.approx(1.0, rel=0.05)
    assert units["nudged/kernel"]["raw"] == pytest.approx(0.1, rel=0.1)
    assert 5 < units["zero/bias"]["raw"] < 50 and units["still/bias"]["raw"] == 0.0
    assert units["const/bias"]["raw"] == pytest.approx(1000.0)
    h0, h1 = series[1].histograms[0], series[1].histograms[1]
    assert I.scaled_wasserstein(h0, h1) == pytest.approx(I.wasserstein_histograms(h0, h1) / 100, rel=0.05)


def test_zero_fraction_ranks_the_dead_activation_first():
    r = rng(11)
    series = []
    for i, dead in enumerate([0.1, 0.2, 0.95, 0.05, 0.3]):
        a = np.maximum(r.normal(0, 1, (64, 32)), 0)
        a[:, : int(round(dead * 32))] = 0.0  # dead neurons
        series.append(unit("run", f"dense_{i}/activations", "Dense", {0: a, 3: a}))
    result = I.score(series, "zero_fraction")
    ranked = sorted(result["units"], key=lambda u: -u["score"])
    assert ranked[0]["unit"] == "dense_2/activations"
    assert ranked[0]["raw"] >= 0.95 and ranked[0]["score"] == 1.0
    assert result["units"][0]["variable_type"] == "activations"


def test_activations_of_every_layer_type_are_one_variable_type():
    series = [
        stat_unit("run", "flatten/activations", "Flatten", {1: {"zero_fraction": 0.5}}),
        stat_unit("run", "z_mean/activations", "Dense", {1: {"zero_fraction": 0.8}}),
        stat_unit("run", "hidden/activations", "Dense", {1: {"zero_fraction": 0.1}}),
    ]
    units = by_unit(I.score(series, "zero_fraction"))
    # A lone Flatten layer is ranked with the Dense layers' activations, not on its own.
    assert units["z_mean/activations"]["score"] == 1.0
    assert units["flatten/activations"]["score"] == pytest.approx(0.5)
    assert units["hidden/activations"]["score"] == 0.0


def test_latent_far_from_standard_normal_ranks_above_a_normal_one():
    r = rng(12)
    series = [
        unit("vae", "z/activations", "Dense", {0: r.normal(0, 1, 5000), 5: r.normal(0, 1, 5000)}),
        unit("vae", "z_far/activations", "Dense", {0: r.normal(0, 1, 5000), 5: r.normal(2.0, 0.3, 5000)}),
        unit("vae", "z_wide/activations", "Dense", {0: r.normal(0, 1, 5000), 5: r.normal(0, 1.6, 5000)}),
    ]
    units = by_unit(I.score(series, "divergence_from_normal"))
    assert units["z/activations"]["raw"] < 0.06
    assert units["z_far/activations"]["raw"] > 1.5
    assert units["z_far/activations"]["score"] > units["z_wide/activations"]["score"] > units["z/activations"]["score"]


def test_parent_divergence_compares_the_same_unit_at_the_nearest_earlier_step():
    r = rng(13)
    n = 4000
    parent = [
        # u1 at the parent's step 4 is what the child's u1 is at step 5; its
        # other steps (0: before, 6: after 5) are far away.
        unit("parent", "d/kernel", "Dense", {0: r.normal(3, 1, n), 4: r.normal(0, 1, n), 6: r.normal(-3, 1, n)}),
        unit("parent", "e/kernel", "Dense", {0: r.normal(5, 1, n), 4: r.normal(5, 1, n), 6: r.normal(5, 1, n)}),
    ]
    child = [
        unit("child", "d/kernel", "Dense", {0: r.normal(0, 1, n), 5: r.normal(0, 1, n)}),
        unit("child", "e/kernel", "Dense", {0: r.normal(0, 1, n), 5: r.normal(0, 1, n)}),
    ]
    orphan = [unit("orphan", "d/kernel", "Dense", {0: r.normal(0, 1, n), 5: r.normal(0, 1, n)})]
    result = I.score(
        parent + child + orphan,
        "divergence_from_parent",
        parents={"child": "parent", "orphan": None},
        runs=["child", "orphan"],
    )
    assert result["steps"] == {"child": 5, "orphan": 5}
    assert {u["run"] for u in result["units"]} == {"child", "orphan"}  # parent only referenced
    units = by_unit(result, "child")
    assert units["d/kernel"]["raw"] < 0.1  # same as the parent's d at step 4
    assert units["e/kernel"]["raw"] > 4.0  # the parent's e is 5 std away
    assert units["e/kernel"]["score"] > units["d/kernel"]["score"]
    assert by_unit(result, "orphan")["d/kernel"]["raw"] is None
    assert by_unit(result, "orphan")["d/kernel"]["score"] is None
    # Before the parent's first step there is nothing to compare with.
    early = I.score(parent + child, "divergence_from_parent", parents={"child": "parent"}, runs=["child"], step=0)
    assert by_unit(early)["d/kernel"]["raw"] > 2.5  # parent step 0 is N(3, 1)


def test_change_since_previous_uses_the_previous_logged_step():
    r = rng(14)
    base = r.normal(0, 1, 3000)
    series = [
        unit("run", "a/kernel", "Dense", {0: base, 2: base * 1.01, 7: base * 1.02}),
        unit("run", "b/kernel", "Dense", {0: base, 2: base * 1.01, 7: base + 4.0}),
        unit("run", "c/kernel", "Dense", {0: base, 2: base + 4.0, 7: base + 4.0}),
    ]
    units = by_unit(I.score(series, "change_since_previous"))
    assert units["b/kernel"]["score"] == 1.0
    assert units["c/kernel"]["raw"] < 0.05  # changed, but not since step 2
    assert by_unit(I.score(series, "change_since_previous", step=0))["a/kernel"]["raw"] is None


# ------------------------------------------------------------------ statistics measures


def test_statistics_measures_read_the_right_fields():
    r = rng(15)
    skewed = r.exponential(1.0, 5000)
    series = [
        unit("run", "a/kernel", "Dense", {1: r.normal(0, 1, 5000)}),
        unit("run", "b/kernel", "Dense", {1: -skewed}),
        unit("run", "c/kernel", "Dense", {1: r.standard_t(3, 5000) * 0.1}),
        unit("run", "d/kernel", "Dense", {1: r.normal(0, 3, 5000)}),
    ]
    top = {
        m: max(I.score(series, m)["units"], key=lambda u: u["score"])["unit"]
        for m in ("variance", "skew", "kurtosis", "max", "mean_abs")
    }
    assert top == {
        "variance": "d/kernel",
        "skew": "b/kernel",
        "kurtosis": "c/kernel",
        "max": "d/kernel",
        "mean_abs": "d/kernel",
    }
    assert by_unit(I.score(series, "skew"))["b/kernel"]["raw"] > 1.5  # |skew| of -exp
    # min: the lowest value is the interesting one.
    lowest = min(series, key=lambda s: s.stats[1]["min"]).unit
    result = by_unit(I.score(series, "min"))
    assert result[lowest]["score"] == 1.0
    assert result[lowest]["raw"] == min(u["raw"] for u in result.values())


def test_nan_statistics_are_null_except_for_the_non_finite_count():
    r = rng(16)
    broken = r.normal(0, 1, 100)
    broken[:7] = np.nan
    broken[7:9] = np.inf
    series = [
        unit("run", "ok/kernel", "Dense", {0: r.normal(0, 1, 100), 1: r.normal(0, 1, 100)}),
        unit("run", "nan/kernel", "Dense", {0: r.normal(0, 1, 100), 1: np.full(100, np.nan)}),
        unit("run", "some/kernel", "Dense", {0: r.normal(0, 1, 100), 1: broken}),
    ]
    # Every per-unit measure but the count of non-finite values (checked below) and the two that need
    # another model (a parent) or the architecture.
    for m in sorted(REQUIRED_IDS - {"non_finite", "divergence_from_parent", "structural"}):
        nan_unit = by_unit(I.score(series, m))["nan/kernel"]
        assert nan_unit["raw"] is None and nan_unit["score"] is None, m
    counts = by_unit(I.score(series, "non_finite"))
    assert counts["nan/kernel"]["raw"] == 100 and counts["some/kernel"]["raw"] == 9
    assert counts["ok/kernel"]["raw"] == 0
    assert counts["nan/kernel"]["score"] == 1.0 and counts["ok/kernel"]["score"] == 0.0


# ------------------------------------------------------------------ normalisation, aggregation


def test_normalisation_is_within_variable_type():
    r = rng(17)
    series = [unit("run", f"dense_{i}/kernel", "Dense", {0: r.normal(0, 0.01 * (i + 1), 500)}) for i in range(3)]
    series += [
        unit("run", "conv/kernel", "Conv2D", {0: r.normal(0, 10.0, 500)}),
        unit("run", "conv/bias", "Conv2D", {0: r.normal(0, 0.5, 50)}),
        unit("run", "conv_2/bias", "Conv2D", {0: r.normal(0, 0.1, 50)}),
    ]
    units = by_unit(I.score(series, "variance"))
    assert units["dense_0/kernel"]["variable_type"] == "Dense/kernel"
    assert units["conv/kernel"]["variable_type"] == "Conv2D/kernel"
    assert units["conv/bias"]["variable_type"] == "Conv2D/bias"
    # The huge Conv2D kernel does not squash the Dense kernels: they span [0, 1] among themselves.
    assert [units[f"dense_{i}/kernel"]["score"] for i in range(3)] == [0.0, 0.5, 1.0]
    assert units["conv/kernel"]["score"] == 0.5  # alone of its type
    assert units["conv/bias"]["score"] == 1.0 and units["conv_2/bias"]["score"] == 0.0
    # The same units across runs are one group.
    other = [unit("run2", "dense_0/kernel", "Dense", {0: r.normal(0, 1.0, 500)})]
    units = by_unit(I.score(series + other, "variance"), "run")
    assert units["dense_2/kernel"]["score"] == pytest.approx(2 / 3)


def test_ties_and_a_lone_unit_get_the_middle():
    series = [stat_unit("run", f"d{i}/activations", "Dense", {1: {"zero_fraction": 0.0, "std": 1.0}}) for i in range(4)]
    assert {u["score"] for u in I.score(series, "zero_fraction")["units"]} == {0.5}
    series[0].stats[1]["zero_fraction"] = 0.5
    scores = [u["score"] for u in I.score(series, "zero_fraction")["units"]]
    assert scores == [1.0, 1 / 3, 1 / 3, 1 / 3]


def test_aggregation_is_max_up_to_layers_models_and_experiments():
    def zf(run, name, layer_type, value):
        return stat_unit(run, name, layer_type, {2: {"zero_fraction": value}})

    series = [
        zf("a", "l1/kernel", "Dense", 0.1),
        zf("a", "l2/kernel", "Dense", 0.2),
        zf("b", "l1/kernel", "Dense", 0.3),
        zf("b", "l2/kernel", "Dense", 0.4),
        zf("c", "l1/kernel", "Dense", 0.5),
        zf("c", "l2/kernel", "Dense", 0.0),
        zf("a", "c1/kernel", "Conv2D", 0.9),
        zf("b", "c1/kernel", "Conv2D", 0.1),
    ]
    result = I.score(series, "zero_fraction", experiments={"a": "e1", "b": "e1", "c": "e2"})
    assert "max" in result["aggregation"]
    units = {(u["run"], u["unit"]): u["score"] for u in result["units"]}
    # Dense/kernel: 0.0, 0.1, 0.2, 0.3, 0.4, 0.5 -> 0, .2, .4, .6, .8, 1
    assert units[("a", "l1/kernel")] == pytest.approx(0.2)
    assert units[("c", "l1/kernel")] == 1.0
    assert units[("a", "c1/kernel")] == 1.0 and units[("b", "c1/kernel")] == 0.0
    layers = {(row["run"], row["layer"]): row["score"] for row in result["layers"]}
    assert layers[("a", "l2")] == pytest.approx(0.4)
    models = {row["run"]: row for row in result["models"]}
    assert models["a"]["score"] == 1.0 and models["a"]["top_layer"] == "c1"
    assert models["b"]["score"] == pytest.approx(0.8) and models["b"]["top_layer"] == "l2"
    assert models["c"]["score"] == 1.0
    exps = {row["experiment"]: row for row in result["experiments"]}
    assert exps["e1"]["score"] == 1.0 and exps["e1"]["top_run"] == "a"
    assert exps["e2"]["score"] == 1.0
    # With the Conv2D units gone, e1's best is run b's Dense layer l2.
    result = I.score(series[:6], "zero_fraction", experiments={"a": "e1", "b": "e1", "c": "e2"})
    exps = {row["experiment"]: row for row in result["experiments"]}
    assert exps["e1"]["score"] == pytest.approx(0.8) and exps["e1"]["top_run"] == "b"


def test_missing_data_is_null_and_skipped_not_zero():
    r = rng(18)
    series = [
        unit("a", "l1/kernel", "Dense", {0: r.normal(0, 1, 500), 4: r.normal(0, 1, 500)}),
        unit("a", "l1/bias", "Dense", {0: r.normal(0, 1, 50), 4: r.normal(1, 1, 50)}),
        unit("a", "l2/kernel", "Dense", {0: r.normal(0, 1, 500), 4: r.normal(0, 2, 500)}),
        # No step-0 summaries: nothing to compare with.
        unit("a", "l3/kernel", "Dense", {4: r.normal(0, 5, 500)}),
        unit("a", "l3/bias", "Dense", {4: r.normal(0, 5, 50)}),
    ]
    series[1].histograms.pop(4)  # l1/bias logged its statistics but not its histogram
    result = I.score(series, "divergence_from_init", experiments={"a": "e"})
    units = by_unit(result)
    for name in ("l1/bias", "l3/kernel", "l3/bias"):
        assert units[name]["raw"] is None and units[name]["score"] is None
    # Only two Dense kernels take part in the ranking.
    assert units["l1/kernel"]["score"] == 0.0 and units["l2/kernel"]["score"] == 1.0
    layers = {row["layer"]: row["score"] for row in result["layers"]}
    assert layers == {"l1": 0.0, "l2": 1.0, "l3": None}
    assert result["models"][0]["score"] == 1.0
    # A run with no usable data is null at every level, not 0.
    only_missing = I.score(series[3:], "divergence_from_init", experiments={"a": "e"})
    assert only_missing["models"] == [{"run": "a", "score": None, "top_layer": None}]
    assert only_missing["experiments"][0]["score"] is None
    json.dumps(result, allow_nan=False)  # null, never NaN, in the JSON


def test_step_selection():
    r = rng(19)

    def make(run, steps):
        return unit(run, "d/kernel", "Dense", {s: r.normal(0, 1 + s, 200) for s in steps})

    result = I.score([make("a", [0, 1, 2, 3]), make("b", [0, 1, 2])], "variance")
    assert result["step"] == 2 and result["steps"] == {"a": 2, "b": 2}
    # Runs that share only step 0 are each scored at their last step.
    result = I.score([make("a", [0, 3]), make("b", [0, 5])], "variance")
    assert result["step"] is None and result["steps"] == {"a": 3, "b": 5}
    result = I.score([make("a", [0, 3]), make("b", [0, 5])], "variance", step=3)
    assert by_unit(result, "b")["d/kernel"]["raw"] is None  # b has no step 3


# ------------------------------------------------------------------ structural


def arch(layers, edges):
    return {"layers": [{"id": lid, "type": t} for lid, t in layers], "edges": [{"from": a, "to": b} for a, b in edges]}


def test_corpus_is_plain_json_built_from_keras_applications():
    with open(I.CORPUS_PATH, encoding="utf-8") as f:
        raw = json.load(f)
    corpus = I.load_corpus()
    assert {"ResNet50", "MobileNetV2", "VGG16", "DenseNet121"} <= set(corpus["models"])
    assert "keras.applications" in corpus["source"]
    assert corpus["counts"]["Conv2D"]["BatchNormalization"] == raw["counts"]["Conv2D"]["BatchNormalization"] > 1000
    assert "Conv2D" not in corpus["counts"]["Dense"]
    assert all("InputLayer" not in row for row in corpus["counts"].values())  # pass-throughs


def test_structural_rare_transition_scores_above_a_common_one():
    model = I.TransitionModel(I.load_corpus()["counts"])
    assert model.probability("Conv2D", "BatchNormalization") > 0.3
    assert model.probability("Dense", "Conv2D") < 0.01
    architecture = arch(
        [
            ("in", "InputLayer"),
            ("conv", "Conv2D"),
            ("bn", "BatchNormalization"),
            ("act", "Activation"),
            ("pool", "GlobalAveragePooling2D"),
            ("dense", "Dense"),
            ("reshape", "Reshape"),
            ("conv_2", "Conv2D"),
            ("dense_2", "Dense"),
        ],
        [
            ("in", "conv"),
            ("conv", "bn"),
            ("bn", "act"),
            ("act", "pool"),
            ("pool", "dense"),
            ("dense", "conv_2"),
            ("conv_2", "dense_2"),
            ("reshape", "conv_2"),
        ],
    )
    result = I.score([], "structural", architectures={"m": architecture}, experiments={"m": "e"})
    units = by_unit(result)
    assert units["in"]["raw"] is None and units["in"]["score"] is None  # no incoming edge
    assert units["conv_2"]["raw"] > units["bn"]["raw"]
    assert units["conv_2"]["detail"]["from_type"] == "Dense"  # the rarer of its two inputs
    assert max(result["units"], key=lambda u: u["score"] or -1)["unit"] in ("conv_2", "dense_2")
    assert units["bn"]["score"] < 0.2
    assert result["models"][0]["score"] == 1.0 and result["experiments"][0]["score"] == 1.0
    assert result["step"] is None
    json.dumps(result, allow_nan=False)


def test_structural_unknown_types_and_nested_inputs():
    model = I.TransitionModel({"A": {"B": 8, "C": 2}, "B": {"C": 5}})
    # Known types A, B, C plus one slot for unknown types: V = 4.
    assert model.probability("A", "B") == pytest.approx(9 / 14)
    assert model.probability("A", "Custom") == pytest.approx(1 / 14)
    # An unknown producer backs off to the smoothed marginal of consumer types.
    assert model.probability("Custom", "C") == pytest.approx(8 / 19)
    assert model.probability("Custom", "Other") == pytest.approx(1 / 19)
    nested = arch(
        [("in", "InputLayer"), ("add", "Add"), ("block/input", "InputLayer"), ("block/norm", "LayerNormalization")],
        [("in", "add"), ("add", "block/input"), ("block/input", "block/norm")],
    )
    pairs, _, passthrough = I.layer_transitions(nested)
    assert pairs == [("in", "add"), ("add", "block/norm")] and passthrough == {"block/input"}
    units = by_unit(I.score([], "structural", architectures={"m": nested}))
    assert "block/input" not in units
    assert units["block/norm"]["detail"]["from_type"] == "Add"


def test_structural_on_an_extracted_keras_model():
    keras = pytest.importorskip("keras")
    from innspector_tb.capture.architecture import extract_architecture

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Activation("relu", name="act")(x)
    x = keras.layers.Dense(4, name="dense")(x)  # on the channels of a 4-D tensor
    x = keras.layers.Conv2D(2, 3, name="conv_2")(x)
    model = keras.Model(inputs, x)
    units = by_unit(I.score([], "structural", architectures={"m": extract_architecture(model)}))
    # Dense -> Conv2D never occurs in the corpus; Activation -> Dense is 4 % of
    # Activation's edges; Conv2D -> BatchNormalization is the rule.
    assert units["conv_2"]["score"] == 1.0
    assert units["bn"]["score"] < units["dense"]["score"] < units["conv_2"]["score"]


# ------------------------------------------------------------------ performance


def _synthetic(runs, units, steps, seed=20):
    r = rng(seed)
    series = []
    types = ("Dense", "Conv2D", "BatchNormalization", "DepthwiseConv2D")
    kinds = ("kernel", "bias", "activations")
    for run in range(runs):
        for u in range(units):
            s = I.UnitSeries(
                f"run{run}", f"layer_{u // 3}/{kinds[u % 3]}", f"layer_{u // 3}", kinds[u % 3], types[(u // 3) % 4]
            )
            for step in range(steps):
                mean, std = r.normal(0, 0.1), 0.05 * (1 + step * r.random())
                edges = np.linspace(mean - 3 * std, mean + 3 * std, 31)
                counts = r.integers(0, 100, 30).astype(float)
                s.histograms[step] = np.stack([edges[:-1], edges[1:], counts], axis=1)
                s.stats[step] = {
                    "count": 3000.0,
                    "finite_count": 3000.0,
                    "nan_count": 0.0,
                    "inf_count": 0.0,
                    "min": edges[0],
                    "max": edges[-1],
                    "mean": mean,
                    "std": std,
                    "skew": r.normal(),
                    "kurtosis": r.normal(),
                    "mean_abs": abs(mean) + 0.8 * std,
                    "l2_norm": 1.0,
                    "zero_fraction": r.random() * 0.1,
                }
            series.append(s)
    return series


def _best_time(fn, repeat=3):
    return _best_times([fn], repeat)[0]


def _best_times(fns, repeat=3):
    """The best time of each function, measured in turns: a busy machine slows them alike."""
    best = [math.inf] * len(fns)
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    return best


def test_scoring_is_cheap_and_linear_in_the_number_of_units():
    runs, units, steps = 5, 500, 11
    series = _synthetic(runs, units, steps)
    parents = {f"run{i}": (f"run{i - 1}" if i else None) for i in range(runs)}
    experiments = {f"run{i}": f"e{i % 2}" for i in range(runs)}

    def baseline():
        # The least any histogram measure must do per unit: read its last
        # histogram and integrate once over its edges.
        total = 0.0
        for s in series:
            h = s.histograms[steps - 1]
            total += float(np.dot(np.diff(h[:, 0]), np.interp(h[:, 0], h[:, 1], h[:, 2])[1:]))
        return total

    def scoring(subset, runs=None):
        def run():
            for m in ("divergence_from_init", "divergence_from_parent", "variance"):
                result = I.score(subset, m, parents=parents, experiments=experiments, runs=runs)
                assert len(result["units"]) == units * len(result["models"])

        return run

    # One run with its parent's data present (t_one): the same work per unit.
    t_base, t_all, t_one = _best_times(
        [baseline, scoring(series), scoring(series[: 2 * units], runs=["run1"])], repeat=5
    )
    print(
        f"baseline {t_base * 1e3:.1f} ms; 3 measures on {runs}x{units} units "
        f"{t_all * 1e3:.0f} ms, on {units} units {t_one * 1e3:.0f} ms"
    )
    # Three measures (two of them distances, one against another run) cost a
    # small multiple of the trivial loop (about 20x): summaries only, each
    # histogram prepared once, parents found by dict lookup.
    assert t_all < 60 * t_base
    assert t_all < 1.6 * runs * t_one  # linear in the number of units
