"""Tests of importing paper-layout HDF5 checkpoints (innspector_tb.importer and the CLI).

The checkpoints are built here from a real small Keras model: its weights, a
forward pass layer by layer, class means computed with numpy, its predictions.
What the import wrote is read back through TensorBoard's data provider and
from the step's HDF5 file, and compared with those originals.
"""

import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import h5py
import keras
import numpy as np
import pytest
from tensorboard import context
from tensorboard.backend.event_processing import data_provider as dp
from tensorboard.backend.event_processing import plugin_event_multiplexer as pem

import innspector_tb
from innspector_tb import importer
from innspector_tb.format import (
    metadata,
    stats,
    step_files,
)

CLI = os.path.join(os.path.dirname(sys.executable), "innspector-tb")
N, FEATURES, CLASSES = 40, 6, 3
LAYERS = ["hidden", "mid", "probs"]  # model order; "mid" < "probs" but "hidden" < "mid": use track_order


# ------------------------------------------------------------------ the model and its checkpoint


@pytest.fixture(scope="module")
def original():
    """A small Dense network and everything a paper checkpoint of it holds, computed here."""
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(N, FEATURES)).astype(np.float32)
    y = np.arange(N) % CLASSES  # every class present
    rng.shuffle(y)
    model = keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(8, activation="relu", name="hidden"),
            keras.layers.Dense(5, activation="tanh", name="mid"),
            keras.layers.Dense(CLASSES, activation="softmax", name="probs"),
        ]
    )
    acts, h = {}, x
    for layer in model.layers:
        h = np.asarray(layer(h))
        acts[layer.name] = h
    weights = {layer.name: {"kernel": layer.kernel.numpy(), "bias": layer.bias.numpy()} for layer in model.layers}
    means = {name: {c: a[y == c].astype(np.float64).mean(axis=0) for c in range(CLASSES)} for name, a in acts.items()}
    return {
        "x": x,
        "y": y,
        "onehot": np.eye(CLASSES, dtype=np.float32)[y],
        "acts": acts,
        "weights": weights,
        "means": means,
        "pred": np.asarray(model.predict(x, verbose=0)),
    }


def write_paper_checkpoint(path, o, labels="onehot", extras=True):
    with h5py.File(path, "w") as f:
        samples = f.create_group("data_samples")
        samples["x"] = o["x"]
        samples["y_label"] = o[labels]
        samples["y_prediction"] = o["pred"]
        layers = f.create_group("layers", track_order=True)
        for name in LAYERS:
            group = layers.create_group(name, track_order=True)
            group["activations"] = o["acts"][name]
            for var, value in o["weights"][name].items():
                group["weights/" + var] = value
            for c, mean in o["means"][name].items():
                group["mean_class_activations/class_%d" % c] = mean.astype(np.float32)
        if extras:
            samples["x_augmented"] = o["x"] * 2
            f["optimizer_state"] = np.zeros(3)
            layers["hidden/notes"] = np.zeros(2)
    return str(path)


@pytest.fixture
def paper_file(tmp_path, original):
    return write_paper_checkpoint(tmp_path / "paper.h5", original)


# ------------------------------------------------------------------ readers


def read_run(logdir, run):
    """{tag: [TensorDatum]} of the run's iNNspector summaries, through TensorBoard's data provider."""
    mux = pem.EventMultiplexer(tensor_size_guidance={metadata.PLUGIN_NAME: 0})
    mux.AddRunsFromDirectory(logdir)
    mux.Reload()
    provider = dp.MultiplexerDataProvider(mux, logdir)
    ctx = context.RequestContext()
    listing = provider.list_tensors(ctx, experiment_id="", plugin_name=metadata.PLUGIN_NAME)
    assert run in listing, "run %s not found; runs: %s" % (run, sorted(listing))
    data = provider.read_tensors(ctx, experiment_id="", plugin_name=metadata.PLUGIN_NAME, downsample=1000)
    assert set(data[run]) == set(listing[run])
    return data[run], listing[run]


def json_of(datum):
    raw = datum.numpy.item()
    return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)


def read_h5(f, name):
    # The checkpoint writer may store a dataset as a link to an equal one;
    # read_array, where it exists, restores the shape it was logged with.
    reader = getattr(step_files, "read_array", None)
    return reader(f, name) if reader else f[name][()]


def step_arrays(run_dir, step):
    """{path: array} of every dataset name in a step file (hard-linked duplicates included)."""
    names = []
    with step_files.open_file(os.path.join(run_dir, step_files.step_file(step))) as f:
        f.visititems_links(
            lambda name, link: (
                names.append(name) if isinstance(link, h5py.HardLink) and isinstance(f[name], h5py.Dataset) else None
            )
        )
        return {name: read_h5(f, name) for name in names}


def run_cli(*args):
    assert os.path.exists(CLI), "console script missing: pip install -e /work/main"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, env=env, timeout=300)


def run_has_data(run_dir):
    return os.path.exists(run_dir) and any(files for _, _, files in os.walk(run_dir))


# ------------------------------------------------------------------ imports that work


@pytest.mark.slow
def test_cli_import_round_trips_through_tensorboard_and_hdf5(tmp_path, paper_file, original):
    logdir = str(tmp_path / "logs")
    head = {
        "id": "model-a",
        "name": "paper_mlp",
        "label": "MLP from the paper",
        "parents": ["root-model"],
        "hparams": {"batch_size": 32, "optimizer": "sgd", "learning_rate": 0.01},
    }
    header_path = tmp_path / "header.json"
    header_path.write_text(json.dumps(head))

    result = run_cli("import", paper_file, "--logdir", logdir, "--run", "mlp", "--step", 3, "--header", header_path)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    assert "3 layers" in lines[0] and "step 3" in lines[0] and "3 datasets skipped" in lines[0]
    for extra in ("data_samples/x_augmented", "optimizer_state", "layers/hidden/notes"):
        assert extra in result.stderr  # each skipped dataset is named

    run_dir = os.path.join(logdir, "mlp")
    data, listing = read_run(logdir, "mlp")
    # The header round-trips unchanged (it was already in normal form).
    assert [d.step for d in data[metadata.HEADER_TAG]] == [3]
    assert json_of(data[metadata.HEADER_TAG][0]) == head
    content = metadata.parse_plugin_metadata(listing[metadata.HEADER_TAG].plugin_content)
    assert content.kind == metadata.Kind.HEADER

    # The architecture shows what the file shows: layers in file order, shapes, no edges.
    arch = json_of(data[metadata.ARCHITECTURE_TAG][0])
    assert arch["format_version"] == 1
    assert [layer["id"] for layer in arch["layers"]] == LAYERS
    assert arch["edges"] == []
    assert any(
        "imported from %s: layer types and data-flow edges are unknown" % paper_file in note
        for note in arch["model"]["notes"]
    )
    widths = {"hidden": (FEATURES, 8), "mid": (8, 5), "probs": (5, CLASSES)}
    for layer in arch["layers"]:
        fan_in, fan_out = widths[layer["id"]]
        assert layer["type"] == "Unknown" and layer["custom"] is True
        assert layer["output_shapes"] == [[None, fan_out]]
        assert {v["name"]: v["shape"] for v in layer["variables"]} == {"kernel": [fan_in, fan_out], "bias": [fan_out]}
    total = sum(a * b + b for a, b in widths.values())
    assert arch["params"]["trainable"] + arch["params"]["non_trainable"] == total

    # Statistics summaries equal the statistics of the original arrays.
    kernel = original["weights"]["hidden"]["kernel"]
    kernel_stats = data[metadata.STATS_TAG_PREFIX + "hidden/kernel"]
    assert [d.step for d in kernel_stats] == [3]
    np.testing.assert_array_equal(kernel_stats[0].numpy, stats.describe(kernel))
    named = stats.as_dict(kernel_stats[0].numpy)
    assert named["count"] == kernel.size
    assert named["min"] == pytest.approx(float(kernel.min()))
    assert named["max"] == pytest.approx(float(kernel.max()))
    assert named["mean"] == pytest.approx(float(kernel.astype(np.float64).mean()))
    act_stats = stats.as_dict(data[metadata.STATS_TAG_PREFIX + "mid/activations"][0].numpy)
    assert act_stats["std"] == pytest.approx(float(original["acts"]["mid"].astype(np.float64).std()))

    # The class-means summary: rows are classes, columns neurons.
    matrix = data[metadata.CLASS_MEANS_TAG_PREFIX + "hidden/activations"][0].numpy
    expected = np.stack([original["means"]["hidden"][c] for c in range(CLASSES)])
    np.testing.assert_allclose(matrix, expected, rtol=1e-6, atol=1e-7)
    means_meta = metadata.parse_plugin_metadata(
        listing[metadata.CLASS_MEANS_TAG_PREFIX + "hidden/activations"].plugin_content
    )
    assert list(means_meta.class_names) == ["0", "1", "2"]

    # The step's HDF5 file holds the original arrays exactly.
    assert sorted(step_files.list_step_files(run_dir)) == [3]
    arrays = step_arrays(run_dir, 3)
    for name in LAYERS:
        for var, value in original["weights"][name].items():
            np.testing.assert_array_equal(arrays["layers/%s/weights/%s" % (name, var)], value)
        np.testing.assert_array_equal(arrays["layers/%s/activations" % name], original["acts"][name])
        for c in range(CLASSES):
            np.testing.assert_allclose(
                arrays["layers/%s/mean_class_activations/class_%d" % (name, c)],
                original["means"][name][c],
                rtol=1e-6,
                atol=1e-7,
            )
    np.testing.assert_array_equal(arrays["data_samples/y_prediction"], original["pred"])
    manifest = json_of(data[metadata.CHECKPOINT_TAG][0])
    assert manifest["path"] == step_files.step_file(3) and manifest["step"] == 3

    # Samples: inputs exactly, one-hot labels as class ids.
    with step_files.open_file(os.path.join(run_dir, step_files.SAMPLES_FILE)) as f:
        np.testing.assert_array_equal(read_h5(f, "data_samples/x"), original["x"])
        np.testing.assert_array_equal(read_h5(f, "data_samples/y_label"), original["y"])
    assert json_of(data[metadata.SAMPLES_TAG][0])["classes"] == [0, 1, 2]


def test_function_import_with_int_labels_nested_and_mean_only_layers(tmp_path, original, caplog):
    path = str(tmp_path / "nested.h5")
    write_paper_checkpoint(path, original, labels="y", extras=False)
    mean_only = {c: np.full(4, c + 0.5, dtype=np.float32) for c in (0, 2)}
    nested_kernel = np.arange(12, dtype=np.float32).reshape(3, 4)
    nested_acts = np.linspace(-1, 1, N * 4, dtype=np.float32).reshape(N, 4)
    with h5py.File(path, "a") as f:
        f["layers/block/inner/weights/kernel"] = nested_kernel  # id "block/inner"
        f["layers/block/inner/activations"] = nested_acts
        for c, mean in mean_only.items():
            f["layers/summary_only/mean_class_activations/class_%d" % c] = mean
        f["layers/summary_only/mean_class_activations/average"] = np.zeros(4)
        f["layers/empty_group"] = h5py.SoftLink("/layers/hidden")  # a link: not followed
    head = innspector_tb.header("imported", hparams={"epochs": 5})
    logdir = str(tmp_path / "logs")

    report = importer.import_checkpoint(path, logdir, "nested", step=0, header=head)

    assert report["run_dir"] == os.path.join(logdir, "nested")
    assert report["step"] == 0
    assert report["layers"] == LAYERS + ["block/inner", "summary_only"]
    assert report["class_means_from_file"] == ["summary_only"]
    assert report["header_id"] == head["id"]
    assert sorted(s.split(":")[0] for s in report["skipped"]) == [
        "layers/empty_group",
        "layers/summary_only/mean_class_activations/average",
    ]
    arrays = step_arrays(report["run_dir"], 0)
    np.testing.assert_array_equal(arrays["layers/block:inner/weights/kernel"], nested_kernel)
    np.testing.assert_array_equal(arrays["layers/block:inner/activations"], nested_acts)
    for c in range(CLASSES):  # recomputed from the int labels
        np.testing.assert_allclose(
            arrays["layers/block:inner/mean_class_activations/class_%d" % c],
            nested_acts[original["y"] == c].astype(np.float64).mean(axis=0),
            rtol=1e-6,
        )
    assert {k for k in arrays if k.startswith("layers/summary_only/")} == {
        "layers/summary_only/mean_class_activations/class_0",
        "layers/summary_only/mean_class_activations/class_2",
    }
    for c, mean in mean_only.items():
        np.testing.assert_array_equal(arrays["layers/summary_only/mean_class_activations/class_%d" % c], mean)
    with h5py.File(os.path.join(report["run_dir"], step_files.step_file(0)), "r") as f:
        assert f["layers/block:inner"].attrs["unit"] == "block/inner"
        assert f["layers/summary_only"].attrs["unit"] == "summary_only"

    data, _ = read_run(logdir, "nested")
    assert json_of(data[metadata.HEADER_TAG][0]) == head
    arch = json_of(data[metadata.ARCHITECTURE_TAG][0])
    layers = {layer["id"]: layer for layer in arch["layers"]}
    assert layers["block/inner"]["namespace"] == "block" and layers["block/inner"]["name"] == "inner"
    assert layers["block/inner"]["output_shapes"] == [[None, 4]]
    assert layers["summary_only"]["output_shapes"] == [[None, 4]]  # from a class mean's shape
    assert layers["summary_only"]["variables"] == []
    assert [ns["id"] for ns in arch["namespaces"]] == ["block"]
    np.testing.assert_array_equal(
        data[metadata.STATS_TAG_PREFIX + "block/inner/kernel"][0].numpy, stats.describe(nested_kernel)
    )


def test_second_step_reuses_the_runs_header_and_samples(tmp_path, paper_file):
    logdir = str(tmp_path / "logs")
    first = importer.import_checkpoint(paper_file, logdir, "run", step=0)
    second = importer.import_checkpoint(paper_file, logdir, "run", step=1)
    assert second["header_id"] == first["header_id"]
    assert first["samples_written"] and not second["samples_written"]
    assert sorted(step_files.list_step_files(first["run_dir"])) == [0, 1]
    data, _ = read_run(logdir, "run")
    assert {json_of(d)["id"] for d in data[metadata.HEADER_TAG]} == {first["header_id"]}
    assert json_of(data[metadata.HEADER_TAG][0])["name"] == "run"


# ------------------------------------------------------------------ bad input


def _truncated(tmp_path, paper_file):
    data = open(paper_file, "rb").read()
    path = tmp_path / "truncated.h5"
    path.write_bytes(data[: len(data) // 2])
    return str(path)


def _not_hdf5(tmp_path, paper_file):
    path = tmp_path / "weights.h5"
    path.write_text("this is a CSV file, not HDF5\n1,2,3\n")
    return str(path)


def _missing(tmp_path, paper_file):
    return str(tmp_path / "does_not_exist.h5")


@pytest.mark.parametrize("make_bad", [_not_hdf5, _truncated, _missing], ids=["not-hdf5", "truncated", "missing"])
def test_bad_checkpoints_fail_clearly_and_write_nothing(tmp_path, paper_file, make_bad):
    bad = make_bad(tmp_path, paper_file)
    logdir = str(tmp_path / "logs")
    result = run_cli("import", bad, "--logdir", logdir, "--run", "broken")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "innspector-tb import: error:" in result.stderr and bad in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not run_has_data(os.path.join(logdir, "broken"))

    with pytest.raises(importer.CheckpointImportError, match=bad.replace(".", r"\.")) as caught:
        importer.import_checkpoint(bad, logdir, "broken")
    assert isinstance(caught.value, ValueError)
    assert not run_has_data(os.path.join(logdir, "broken"))


def test_truncated_file_is_really_damaged(tmp_path, paper_file):
    # The truncated test above must fail on damage, not on something else.
    bad = _truncated(tmp_path, paper_file)
    with pytest.raises(importer.CheckpointImportError, match="truncated or corrupt|not an HDF5"):
        importer.import_checkpoint(bad, str(tmp_path / "logs"), "broken")


def test_malformed_header_json_fails_clearly_and_writes_nothing(tmp_path, paper_file):
    logdir = str(tmp_path / "logs")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"name": "x", "hparams": {')
    result = run_cli("import", paper_file, "--logdir", logdir, "--run", "r", "--header", bad_json)
    assert result.returncode == 2
    assert "not valid JSON" in result.stderr and str(bad_json) in result.stderr
    assert not run_has_data(os.path.join(logdir, "r"))

    unknown_key = tmp_path / "unknown.json"
    unknown_key.write_text(json.dumps({"name": "x", "color": "red"}))
    result = run_cli("import", paper_file, "--logdir", logdir, "--run", "r", "--header", unknown_key)
    assert result.returncode == 2
    assert "unknown keys: color" in result.stderr
    assert not run_has_data(os.path.join(logdir, "r"))

    with pytest.raises(importer.CheckpointImportError, match="invalid header"):
        importer.import_checkpoint(paper_file, logdir, "r", header={"name": ""})
    assert not run_has_data(os.path.join(logdir, "r"))


def test_inconsistent_sample_counts_are_refused_before_writing(tmp_path, original):
    path = write_paper_checkpoint(tmp_path / "short.h5", original, extras=False)
    with h5py.File(path, "a") as f:
        del f["layers/mid/activations"]
        f["layers/mid/activations"] = original["acts"]["mid"][:-1]
    with pytest.raises(
        importer.CheckpointImportError, match="sample counts disagree.*layers/mid/activations has %d" % (N - 1)
    ):
        importer.import_checkpoint(path, str(tmp_path / "logs"), "r")
    assert not run_has_data(str(tmp_path / "logs" / "r"))


@pytest.mark.slow
def test_existing_step_is_refused_without_overwrite(tmp_path, paper_file, original):
    logdir = str(tmp_path / "logs")
    run_dir = os.path.join(logdir, "mlp")
    assert run_cli("import", paper_file, "--logdir", logdir, "--run", "mlp", "--step", 2).returncode == 0
    step_path = os.path.join(run_dir, step_files.step_file(2))
    before = (sorted(os.listdir(run_dir)), open(step_path, "rb").read())

    result = run_cli("import", paper_file, "--logdir", logdir, "--run", "mlp", "--step", 2)
    assert result.returncode == 2
    assert "already has data at step 2" in result.stderr and "--overwrite" in result.stderr
    assert (sorted(os.listdir(run_dir)), open(step_path, "rb").read()) == before
    with pytest.raises(importer.CheckpointImportError, match="already has data at step 2"):
        importer.import_checkpoint(paper_file, logdir, "mlp", step=2)

    # With --overwrite, the step is replaced by the new file's data whole.
    changed = write_paper_checkpoint(tmp_path / "changed.h5", original, extras=False)
    with h5py.File(changed, "a") as f:
        del f["layers/probs"]
        f["layers/mid/weights/kernel"][...] = 1.0
    result = run_cli("import", changed, "--logdir", logdir, "--run", "mlp", "--step", 2, "--overwrite")
    assert result.returncode == 0, result.stderr
    arrays = step_arrays(run_dir, 2)
    np.testing.assert_array_equal(arrays["layers/mid/weights/kernel"], np.ones((8, 5), np.float32))
    assert not any(name.startswith("layers/probs") for name in arrays)


def test_different_samples_are_refused_without_overwrite(tmp_path, paper_file, original):
    logdir = str(tmp_path / "logs")
    importer.import_checkpoint(paper_file, logdir, "run", step=0)
    other = dict(original, x=original["x"] + 1)
    other_path = write_paper_checkpoint(tmp_path / "other.h5", other, extras=False)
    with pytest.raises(importer.CheckpointImportError, match="probe inputs"):
        importer.import_checkpoint(other_path, logdir, "run", step=1)
    assert sorted(step_files.list_step_files(os.path.join(logdir, "run"))) == [0]


def test_cli_usage_errors_exit_2(tmp_path, paper_file):
    result = run_cli("import", paper_file, "--run", "r")  # no --logdir
    assert result.returncode == 2 and "--logdir" in result.stderr
    result = run_cli("import", paper_file, "--logdir", str(tmp_path), "--run", "r", "--step", "-1")
    assert result.returncode == 2 and "--step" in result.stderr
    result = run_cli("import", paper_file, "--logdir", str(tmp_path), "--run", "../escape")
    assert result.returncode == 2 and "relative name" in result.stderr
    assert not os.path.exists(tmp_path / "escape")


def test_indirections_and_bombs_in_a_checkpoint_are_skipped_not_read(tmp_path, original):
    """A checkpoint is a file from elsewhere: data stored outside it or declaring more than it holds is
    skipped with the reason, never read (issue 12)."""
    path = str(tmp_path / "hostile.h5")
    write_paper_checkpoint(path, original, extras=False)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"SECRET" * 8)
    with h5py.File(path, "a") as f:
        f["layers/hidden/weights"].create_dataset("external", shape=(48,), dtype="u1", external=[(str(secret), 0, 48)])
        f["layers/hidden/weights"].create_dataset(
            "bomb", shape=(5_000_000_000,), dtype="f4", chunks=(1 << 20,), compression="gzip"
        )
    report = importer.import_checkpoint(path, str(tmp_path / "logs"), "hostile", step=0)
    skipped = {s.split(":")[0]: s for s in report["skipped"]}
    assert "external files" in skipped["layers/hidden/weights/external"]
    assert "over the import limit" in skipped["layers/hidden/weights/bomb"]
    arrays = step_arrays(report["run_dir"], 0)
    assert not any(name.endswith(("/external", "/bomb")) for name in arrays)
