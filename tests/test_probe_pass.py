"""The probe pass (capture/probe_pass.py): statistics in the graph equal numpy's; bulk arrays follow the plan."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras import layers  # noqa: E402

from innspector_tb.capture import activations as activations_lib  # noqa: E402
from innspector_tb.capture import plan as plan_lib  # noqa: E402
from innspector_tb.capture.probe_pass import ProbePass  # noqa: E402
from innspector_tb.format import stats  # noqa: E402


@pytest.fixture(scope="module")
def cnn():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((8, 8, 1), name="image")
    x = layers.Conv2D(6, 3, padding="same", activation="relu", name="conv")(inputs)
    x = layers.MaxPooling2D(name="pool")(x)
    seq = layers.Reshape((16, 6), name="as_sequence")(x)
    x = layers.Flatten(name="flatten")(seq)
    outputs = layers.Dense(4, activation="softmax", name="dense")(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 1.0, (70, 8, 8, 1)).astype("float32")
    labels = rng.integers(0, 4, 70)
    return model, x, labels


def _ids(model):
    return ["conv", "pool", "as_sequence", "flatten", "dense"]


def test_statistics_equal_numpy_on_the_same_activations(cnn):
    model, x, labels = cnn
    reference = activations_lib.layer_activations(model, x)
    probe = ProbePass(model, _ids(model), None, labels, 4, batch_size=32)
    result = probe(x)
    by_layer = {output.layer: output for output in result.outputs}
    assert set(by_layer) == set(_ids(model))
    for layer_id, output in by_layer.items():
        full = reference[layer_id][0]
        np.testing.assert_allclose(output.stats.stats, stats.describe(full), rtol=2e-5, atol=1e-6, equal_nan=True)
        np.testing.assert_allclose(
            output.stats.class_means, stats.class_mean_matrix(full, labels, range(4)), rtol=1e-5, atol=1e-6
        )
        units = stats.per_unit(full)
        np.testing.assert_allclose(output.bulk["unit_statistics"][0], units.mean(axis=0), rtol=1e-5, atol=1e-6)
        # No plan: everything in full (a compiled graph of its own: equal up to float rounding, not bit for bit).
        np.testing.assert_allclose(output.bulk["activations"], full, rtol=1e-6, atol=1e-6)
        for c, mean in stats.class_means(full, labels, range(4)).items():
            np.testing.assert_allclose(output.bulk["mean_class_activations/class_%d" % c], mean, rtol=1e-5, atol=1e-6)
        hist = output.stats.histogram
        assert hist[:, 2].sum() == full.size  # every value counted, in the step-0 edges
    np.testing.assert_allclose(result.predictions[0], np.asarray(model(x)), rtol=1e-5, atol=1e-6)


def test_histogram_edges_stay_fixed_and_extend_when_values_leave_them(cnn):
    model, x, labels = cnn
    probe = ProbePass(model, ["conv"], None, labels, 4, batch_size=64)
    first = probe(x).outputs[0].stats.histogram
    again = probe(x).outputs[0].stats.histogram
    np.testing.assert_array_equal(first, again)
    wider = probe(x * 2.0).outputs[0].stats.histogram  # values leave the edges: an overflow bin, counted
    assert wider[:, 2].sum() == first[:, 2].sum() and wider[-1, 1] > first[-1, 1]
    after = probe(x * 2.0).outputs[0].stats.histogram
    np.testing.assert_allclose(after[: len(first), :2], first[:, :2], rtol=1e-6)  # old bins kept, more appended
    assert len(after) > len(first) and after[-1, 1] >= wider[-1, 1] - 1e-5
    huge = probe(x * 50.0).outputs[0].stats.histogram
    merged = probe(x * 50.0).outputs[0].stats.histogram  # past 4x the bins: neighbours merge, edges aligned
    assert len(merged) <= 4 * stats.DEFAULT_BINS and merged[:, 2].sum() == huge[:, 2].sum()
    assert merged[-1, 1] >= huge[-1, 1] - 1e-3


def test_a_plan_keeps_pooled_vectors_and_subset_maps(cnn):
    model, x, labels = cnn
    subset = (1, 5, 40, 69)
    layers_plan = {
        "conv": plan_lib.LayerPlan(plan_lib.POOLED, sample_maps=True, class_maps=True),
        "pool": plan_lib.LayerPlan(plan_lib.NONE),
        "dense": plan_lib.LayerPlan(plan_lib.FULL),
    }
    plan = plan_lib.Plan(1, 70, subset, layers_plan, 1, {}, 0, True)
    reference = activations_lib.layer_activations(model, x)
    result = ProbePass(model, ["conv", "pool", "dense"], plan, labels, 4, batch_size=32)(x)
    by_layer = {output.layer: output for output in result.outputs}
    conv = by_layer["conv"].bulk
    assert "activations" not in conv
    np.testing.assert_allclose(conv["pooled_activations"], stats.per_unit(reference["conv"][0]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(conv["sample_activations"], reference["conv"][0][list(subset)], rtol=1e-6, atol=1e-6)
    assert "mean_class_activations/class_0" in conv
    assert set(by_layer["pool"].bulk) == {"unit_statistics"}  # statistics only
    # Per-sample pooled vectors are held only where the plan pools them (a ResNet50's are 180 MB).
    assert by_layer["conv"].stats.pooled is not None
    assert by_layer["pool"].stats.pooled is None and by_layer["dense"].stats.pooled is None
    np.testing.assert_allclose(by_layer["dense"].bulk["activations"], reference["dense"][0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        by_layer["pool"].stats.stats, stats.describe(reference["pool"][0]), rtol=2e-5, atol=1e-6, equal_nan=True
    )


def test_with_output_counts_the_pass_is_traced_once_for_every_step(cnn):
    model, x, labels = cnn
    counts = {layer_id: 1 for layer_id in _ids(model)}
    probe = ProbePass(model, _ids(model), None, labels, 4, batch_size=32, output_counts=counts)
    reference = ProbePass(model, _ids(model), None, labels, 4, batch_size=32)
    first = probe(x)  # step 0: provisional edges, then fixed ones
    probe(x * 3.0)  # values leave the edges: they are extended (another length)
    probe(x[:50])  # another batch shape
    # One trace of the walk and one concrete function per output signature (every output here has its
    # own shape), used for every step: a call it did not fit would have fallen back to the eager pass.
    assert probe._compiled_walk.experimental_get_tracing_count() == 1
    assert len(probe._output_functions) == len(_ids(model))
    assert probe._compiled == probe._run_split
    expected = reference(x)
    for ours, theirs in zip(first.outputs, expected.outputs, strict=True):
        np.testing.assert_allclose(ours.stats.histogram, theirs.stats.histogram, rtol=1e-6)
        np.testing.assert_allclose(ours.stats.stats, theirs.stats.stats, rtol=1e-6, equal_nan=True)


def test_outputs_of_one_signature_share_one_compiled_function_and_match_one_function(monkeypatch):
    from innspector_tb.capture import probe_pass

    keras.utils.set_random_seed(5)
    inputs = keras.Input((5,))
    x = inputs
    for i in range(4):
        x = layers.Dense(8, activation="tanh", name="dense_%d" % i)(x)
    model = keras.Model(inputs, x)
    ids = ["dense_%d" % i for i in range(4)]
    data = np.random.default_rng(1).normal(size=(40, 5)).astype("float32")
    labels = np.arange(40) % 3
    per_output = ProbePass(model, ids, None, labels, 3, batch_size=16, output_counts={i: 1 for i in ids})
    ours = per_output(data)
    assert len(per_output._output_functions) == 1  # four outputs of one shape, dtype and plan
    monkeypatch.setattr(probe_pass, "COMPILE_PER_OUTPUT", False)
    one_function = ProbePass(model, ids, None, labels, 3, batch_size=16, output_counts={i: 1 for i in ids})
    assert one_function._compiled != one_function._run_split
    theirs = one_function(data)
    reference = activations_lib.layer_activations(model, data)
    for a, b in zip(ours.outputs, theirs.outputs, strict=True):
        assert a.layer == b.layer
        np.testing.assert_allclose(a.stats.stats, b.stats.stats, rtol=1e-5, atol=1e-6, equal_nan=True)
        np.testing.assert_allclose(a.stats.histogram, b.stats.histogram, rtol=1e-6)
        np.testing.assert_allclose(a.bulk["activations"], reference[a.layer][0], rtol=1e-6, atol=1e-6)


def test_the_probe_batch_keeps_its_activations_within_a_bound():
    from innspector_tb.capture import probe_pass

    bound = probe_pass.BATCH_ACTIVATION_BYTES
    assert probe_pass.batch_size_for(4 * 2**10) == probe_pass.MAX_BATCH  # the demo's models: whole batches
    resnet50_32 = 3 * 2**20  # a ResNet50 at 32x32: about 3 MB of activations per sample
    size = probe_pass.batch_size_for(resnet50_32)
    assert size == 64 and size * resnet50_32 <= bound < 2 * size * resnet50_32
    assert probe_pass.batch_size_for(150 * 2**20) == 1  # at 224x224 one sample at a time
    assert probe_pass.batch_size_for(0) == probe_pass.MAX_BATCH
    for sample_bytes in (1, 1000, 123457, 2**21 + 1, 10**9):
        size = probe_pass.batch_size_for(sample_bytes)
        assert size & (size - 1) == 0 and 1 <= size <= probe_pass.MAX_BATCH
        assert size == 1 or size * sample_bytes <= bound
