"""Every view keeps working on reduced data (docs/format.md, "Reduced data"): a run whose logging plan keeps
some layers pooled, some as the maps of a sample subset, one not at all, and each layer's weights every 2
logged steps, read through the routes; and the same model logged in full, read exactly as before plans."""

import numpy as np
import pytest

from tests.support import reduced_run, tb_readers
from tests.support.backend_app import Client

RUN, FULL_RUN = "resnet_reduced", "resnet_full"


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("reduced"))
    return logdir, reduced_run.write_logdir(logdir)


@pytest.fixture(scope="module")
def client(logged):
    return Client(logged[0])


def _data(client, body, status=200):
    got, answer = client.post("/data", body)
    assert got == status, answer
    return answer


def _value(answer, column="value"):
    return np.array(answer["result"][column]["data"], dtype=np.float64)


def test_store_reads_the_plan_and_finds_each_dataset(logged):
    from innspector_tb.store import run_store
    from innspector_tb.store.cache import ByteBudgetCache

    with tb_readers.data_provider(logged[0], "python") as provider:
        store = run_store.RunStore(provider, logged[0], ByteBudgetCache(1 << 24)).bind(tb_readers.CTX, "")
        assert store.plan(FULL_RUN, 0) is None and store.plans(FULL_RUN) == {}
        assert store.plan(RUN, 2)["weights_logged"] == ["conv_1", "proj"]
        assert store.activation_source(FULL_RUN, 3, "wide_conv").form == run_store.FULL
        source = store.activation_source(RUN, 3, "wide_conv")
        assert (source.form, source.dataset, source.stored) == (
            "pooled",
            "layers/wide_conv/pooled_activations",
            ["pooled", "samples"],
        )
        source = store.activation_source(RUN, 3, "wide_conv", form="samples")
        assert source.dataset == "layers/wide_conv/sample_activations" and list(source.rows) == list(reduced_run.SUBSET)
        assert store.weights_source(RUN, 3, "proj", "kernel") == ("layers/proj/weights/kernel", 2)
        assert store.weights_source(RUN, 0, "head", "kernel")[1] == 1  # none earlier: the first later
        assert store.weights_source(FULL_RUN, 3, "proj", "kernel")[1] == 3


def test_pooled_activations_are_answered_with_a_note(client, logged):
    logged_arrays = logged[1][RUN]["activations"]
    answer = _data(client, {"run": RUN, "unit": {"kind": "activations", "layer": "wide_conv"}})
    assert answer["reduced"] == {
        "form": "pooled",
        "note": "pooled over 8x8 positions (mean per channel)",
        "stored": ["pooled", "samples"],
    }
    assert answer["result"]["value"]["shape"] == [reduced_run.PROBE, 256]
    np.testing.assert_allclose(_value(answer), logged_arrays["wide_conv"].mean(axis=(1, 2)), rtol=1e-6, atol=1e-7)
    # Classes apply to the pooled rows as to full ones.
    answer = _data(client, {"run": RUN, "unit": {"kind": "activations", "layer": "proj"}, "classes": [2]})
    assert answer["result"]["value"]["shape"] == [reduced_run.PROBE // 3, 256]
    assert set(answer["result"]["label"]["data"]) == {2}
    assert answer["reduced"]["stored"] == ["pooled"]


def test_sample_maps_are_answered_with_their_rows_and_labels(client, logged):
    logged_arrays = logged[1][RUN]["activations"]
    body = {"run": RUN, "unit": {"kind": "activations", "layer": "wide_conv", "form": "samples"}}
    answer = _data(client, body)
    assert answer["reduced"]["form"] == "samples"
    assert answer["reduced"]["note"] == "6 of 40 probe samples"
    assert answer["reduced"]["rows"] == list(reduced_run.SUBSET)
    assert answer["result"]["value"]["shape"] == [6, 8, 8, 256]
    np.testing.assert_allclose(_value(answer), logged_arrays["wide_conv"][list(reduced_run.SUBSET)], atol=1e-6)
    # The labels of the subset rows select classes; a class is known even if the subset lacked it.
    answer = _data(client, dict(body, classes=[1]))
    assert answer["reduced"]["rows"] == [1, 10]
    assert answer["result"]["label"]["data"] == [1, 1]
    assert answer["result"]["value"]["shape"] == [2, 8, 8, 256]
    # Across steps the subset stays, and the form must agree.
    answer = _data(client, dict(body, steps="all", transform=[{"op": "mean", "axis": [2, 3]}]))
    assert answer["result"]["value"]["shape"] == [4, 6, 256]


def test_forms_that_are_not_stored_are_404_saying_what_is(client):
    body = {"run": RUN, "unit": {"kind": "activations", "layer": "wide_conv", "form": "full"}}
    status, answer = client.post("/data", body)
    assert status == 404 and "stored forms: pooled, samples" in answer["error"]
    status, answer = client.post("/data", {"run": RUN, "unit": {"kind": "activations", "layer": "add"}})
    assert status == 404 and "'add'" in answer["error"] and "keeps only its statistics" in answer["error"]
    status, answer = client.post("/data", {"run": RUN, "unit": {"kind": "activations", "layer": "proj", "form": "x"}})
    assert status == 400 and "unit.form" in answer["error"]
    # A layer kept in full answers as before: no `reduced`.
    answer = _data(client, {"run": RUN, "unit": {"kind": "activations", "layer": "conv_1"}})
    assert "reduced" not in answer and answer["result"]["value"]["shape"] == [40, 8, 8, 16]


def test_class_means_without_maps_come_from_the_event_file(client, logged):
    logged_arrays = logged[1][RUN]["activations"]
    answer = _data(client, {"run": RUN, "unit": {"kind": "class_means", "layer": "wide_conv"}, "classes": [0, 2]})
    assert answer["reduced"]["form"] == "pooled"
    assert "event file" in answer["reduced"]["note"]
    y = reduced_run.probe()[1]
    expected = [logged_arrays["wide_conv"][y == c].mean(axis=(0, 1, 2)) for c in (0, 2)]
    np.testing.assert_allclose(_value(answer), expected, rtol=1e-5, atol=1e-6)
    # A layer without positions: the event file's class means are its maps, nothing is reduced.
    answer = _data(client, {"run": RUN, "unit": {"kind": "class_means", "layer": "gap"}})
    assert "reduced" not in answer and answer["result"]["value"]["shape"] == [3, 256]
    # Maps where they are stored.
    answer = _data(client, {"run": RUN, "unit": {"kind": "class_means", "layer": "conv_1"}})
    assert "reduced" not in answer and answer["result"]["value"]["shape"] == [3, 8, 8, 16]


def test_weights_fall_back_to_the_newest_step_holding_them(client, logged):
    kernel = logged[1][RUN]["weights"][("wide_conv", "kernel")]
    # wide_conv's kernel is logged at steps 1 and 3 (group 1 of 2).
    answer = _data(
        client, {"run": RUN, "unit": {"kind": "weights", "layer": "wide_conv", "variable": "kernel"}, "steps": 2}
    )
    assert answer["steps"] == [2] and answer["from_step"] == 1
    assert answer["note"] == "kernel from step 1 (full weights every 2 logged steps)"
    np.testing.assert_allclose(_value(answer), kernel, atol=1e-7)
    # At a step holding them: no note.
    answer = _data(
        client, {"run": RUN, "unit": {"kind": "weights", "layer": "wide_conv", "variable": "kernel"}, "steps": 3}
    )
    assert "from_step" not in answer and "note" not in answer
    # Before the first step holding them: the first one.
    answer = _data(
        client, {"run": RUN, "unit": {"kind": "weights", "layer": "wide_conv", "variable": "bias"}, "steps": 0}
    )
    assert answer["from_step"] == 1
    # All steps: the steps whose files hold them.
    answer = _data(
        client, {"run": RUN, "unit": {"kind": "weights", "layer": "proj", "variable": "kernel"}, "steps": "all"}
    )
    assert answer["steps"] == [0, 2] and answer["result"]["value"]["shape"][0] == 2
    assert answer["note"] == "kernel at 2 of 4 logged steps (full weights every 2 logged steps)"
    # A list of steps: each from its own source.
    answer = _data(
        client, {"run": RUN, "unit": {"kind": "weights", "layer": "proj", "variable": "kernel"}, "steps": [1, 2, 3]}
    )
    assert answer["from_steps"] == [0, 2, 2] and "1 for 3" not in answer["note"] and "2 for 3" in answer["note"]


def test_unit_statistics_are_a_data_kind(client, logged):
    logged_arrays = logged[1]
    answer = _data(client, {"run": RUN, "unit": {"kind": "unit_statistics", "layer": "wide_conv"}})
    assert answer["fields"] == ["mean", "std", "min", "max", "zero_fraction"]
    np.testing.assert_allclose(
        _value(answer), reduced_run.unit_statistics(logged_arrays[RUN]["activations"]["wide_conv"]), atol=1e-6
    )
    status, answer = client.post(
        "/data", {"run": RUN, "unit": {"kind": "unit_statistics", "layer": "add", "output": 1}}
    )
    assert status == 404 and "no unit statistics of layer 'add' output 1" in answer["error"]
    # Logs without them: computed from the full activations.
    answer = _data(client, {"run": FULL_RUN, "unit": {"kind": "unit_statistics", "layer": "conv_1"}, "steps": "all"})
    assert answer["result"]["value"]["shape"] == [4, 5, 16]
    np.testing.assert_allclose(
        _value(answer)[0], reduced_run.unit_statistics(logged_arrays[FULL_RUN]["activations"]["conv_1"]), atol=1e-5
    )


def test_neurons_of_a_256_channel_convolution_without_full_activations(client, logged):
    status, answer = client.get("/neurons", run=RUN, layer="proj", step=3, k=5)
    assert status == 200, answer
    assert answer["layer"]["units"] == 256 and answer["previous"]["units"] == 256
    assert answer["previous_layer"] == "wide_conv"
    assert len(answer["weights"]) == 5
    # The kernel is from step 2 (proj's weights are logged at even steps), and the answer says so.
    assert answer["kernel_step"] == 2
    assert "kernel from step 2" in answer["notes"]
    assert "no per-class maps stored for this layer" in answer["notes"]
    assert answer["class_maps"] is None
    # Means come from the event file's class means: the probe mean of each channel.
    activations = logged[1][RUN]["activations"]["proj"]
    means = {n["index"]: n["mean"] for n in answer["layer"]["neurons"]}
    for index, mean in means.items():
        assert mean == pytest.approx(float(activations[..., index].mean()), rel=1e-4, abs=1e-6)
    # std and zero fraction per neuron, from the step file's unit statistics.
    neuron = answer["layer"]["neurons"][0]
    assert neuron["std"] == pytest.approx(float(activations[..., neuron["index"]].std()), rel=1e-4)
    assert 0.0 <= answer["previous"]["neurons"][0]["zero_fraction"] <= 1.0
    # A layer with maps keeps them.
    status, answer = client.get("/neurons", run=RUN, layer="conv_1", step=2)
    assert status == 200 and sorted(answer["class_maps"]) == ["0", "1", "2"] and "kernel_step" not in answer
    # At a step before the kernel was first logged, the first step that has it.
    status, answer = client.get("/neurons", run=RUN, layer="wide_conv", step=0)
    assert status == 200 and answer["kernel_step"] == 1 and answer["weights"]


def test_models_say_what_the_plan_reduced(client):
    status, answer = client.get("/models")
    assert status == 200
    models = {m["run"]: m for m in answer["models"]}
    assert "plan" not in models[FULL_RUN]
    plan = models[RUN]["plan"]
    assert plan["reduced"] and plan["weights_every"] == 2 and plan["subset_size"] == 6 and plan["probe_size"] == 40
    assert plan["reduced_layers"] == {
        "wide_conv": {"activations": "pooled", "sample_maps": True, "class_maps": False},
        "proj": {"activations": "pooled", "sample_maps": False, "class_maps": False},
        "add": {"activations": "none", "sample_maps": False, "class_maps": False},
    }
    assert any("pooled" in note for note in plan["notes"])


def test_interestingness_lint_and_statistics_read_the_event_file(client):
    for measure in ("variance", "zero_fraction", "divergence_from_init", "change_since_previous"):
        status, answer = client.get("/interestingness", measure=measure, runs=RUN)
        assert status == 200, answer
        units = {u["unit"] for u in answer["units"]}
        assert "add/activations" in units and "wide_conv/kernel" in units
        scored = [u for u in answer["units"] if u["unit"] == "add/activations"]
        assert scored[0]["raw"] is not None
    status, answer = client.get("/lint", run=RUN)
    assert status == 200 and isinstance(answer["findings"], list)
    status, answer = client.get("/structures", run=RUN)
    assert status == 200
    # Histograms and statistics over steps of a layer with no bulk activations at all.
    answer = _data(client, {"run": RUN, "unit": {"kind": "statistics", "unit": "add/activations"}})
    assert answer["steps"] == list(reduced_run.STEPS)
    answer = _data(client, {"run": RUN, "unit": {"kind": "histogram", "unit": "wide_conv/kernel"}, "steps": 2})
    assert answer["result"]["value"]["shape"][1] == 3


def test_a_full_run_answers_as_before_plans(client, logged):
    logged_arrays = logged[1][FULL_RUN]
    for layer in ("conv_1", "wide_conv", "proj", "add"):
        answer = _data(client, {"run": FULL_RUN, "unit": {"kind": "activations", "layer": layer}, "steps": 1})
        assert set(answer) == {"run", "unit", "steps", "classes", "class_dependent", "result"}
        np.testing.assert_allclose(_value(answer), logged_arrays["activations"][layer], atol=1e-6)
        answer = _data(client, {"run": FULL_RUN, "unit": {"kind": "class_means", "layer": layer}})
        assert "reduced" not in answer and answer["result"]["value"]["shape"] == [
            3,
            8,
            8,
            256 if layer != "conv_1" else 16,
        ]
    answer = _data(
        client, {"run": FULL_RUN, "unit": {"kind": "weights", "layer": "proj", "variable": "kernel"}, "steps": "all"}
    )
    assert set(answer) == {"run", "unit", "steps", "result"} and answer["steps"] == list(reduced_run.STEPS)
    status, answer = client.get("/neurons", run=FULL_RUN, layer="proj", step=2)
    assert status == 200 and "notes" not in answer and "kernel_step" not in answer
    assert all(set(n) == {"index", "mean", "share"} for n in answer["layer"]["neurons"])
    assert sorted(answer["class_maps"]) == ["0", "1", "2"]
    status, answer = client.post(
        "/data", {"run": FULL_RUN, "unit": {"kind": "weights", "layer": "add", "variable": "kernel"}}
    )
    assert status == 404 and "event file" not in answer["error"]


@pytest.mark.slow
def test_a_training_under_a_reduced_plan_rotates_kernels_and_keeps_all_at_the_last_step(tmp_path):
    """The callback honours a reduced plan on disk: one weight group per logged step, every group at the last."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from innspector_tb.format import step_files
    from tests.support import trained_models as tm

    # 6 kB per step: two weight groups (out's kernel; conv_a's and conv_b's), all of them within 1.5 budgets.
    result = tm.train(str(tmp_path), "rotating", tm.functional_skip(), epochs=3, budget_bytes=6000, attributions=False)
    plan = result["callback"].plan
    assert plan.reduced and plan.weights_every == 2
    run = tmp_path / "rotating"
    kernels = {}
    for step, relpath in sorted(step_files.list_step_files(str(run)).items()):
        with step_files.open_file(str(run / relpath)) as f:
            kernels[step] = {name for name in ("conv_a", "conv_b", "out") if "layers/%s/weights/kernel" % name in f}
    assert kernels[0] == kernels[2] == plan.weights_due(0) and kernels[1] == plan.weights_due(1)
    assert kernels[0] != kernels[1] and kernels[3] == {"conv_a", "conv_b", "out"}
    assert "all of them at the last step" in plan.notes[-1]
    status, models = Client(str(tmp_path)).get("/models")
    (entry,) = models["models"]
    assert status == 200 and entry["plan"]["reduced"] and plan.notes[-1] in entry["plan"]["notes"]


@pytest.mark.slow
def test_fit_in_a_loop_keeps_all_weights_at_most_once_per_rotation(tmp_path):
    """Every fit(epochs=1) ends at its step: all weight groups only every weights_every logged steps."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    import innspector_tb
    from innspector_tb.capture.callback import InnspectorCallback
    from innspector_tb.format import step_files
    from tests.support import trained_models as tm

    x, y = tm.images()
    model = tm.functional_skip()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    run = tmp_path / "loop"
    callback = InnspectorCallback(
        str(run), innspector_tb.header("loop"), probe=(x, y), probe_size=48, budget_bytes=6000, attributions=False
    )
    for epoch in range(3):
        model.fit(x, y, initial_epoch=epoch, epochs=epoch + 1, batch_size=16, verbose=0, callbacks=[callback])
    callback.close()
    plan = callback.plan
    assert plan.weights_every == 2
    kernels = {}
    for step, relpath in sorted(step_files.list_step_files(str(run)).items()):
        with step_files.open_file(str(run / relpath)) as f:
            kernels[step] = {name for name in ("conv_a", "conv_b", "out") if "layers/%s/weights/kernel" % name in f}
    everything = {"conv_a", "conv_b", "out"}
    assert kernels[1] == kernels[3] == everything and kernels[2] == plan.weights_due(2) != everything, kernels
