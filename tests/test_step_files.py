"""Unit tests of the step file writer and reader (precision and codecs: test_step_codec.py)."""

import os

import h5py
import numpy as np
import pytest

from innspector_tb.capture import step_writer
from innspector_tb.format import metadata, step_files


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path):
    writer = step_writer.StepFileWriter(str(tmp_path), precision="exact")
    arrays = {
        "layers/d/weights/kernel": np.random.rand(64, 32).astype(np.float32),
        "data_samples/y_prediction": np.random.rand(10, 3).astype(np.float32),
    }
    manifest = writer.write(step_files.step_file(5), arrays, {"layers/d": {"unit": "d"}})
    assert os.listdir(tmp_path / "innspector") == ["step_000000005.h5"]
    assert manifest["datasets"]["layers/d/weights/kernel"] == {"shape": [64, 32], "dtype": "float32"}
    assert manifest["raw_float32_bytes"] == (64 * 32 + 30) * 4
    with step_files.open_file(str(tmp_path / step_files.step_file(5))) as f:
        np.testing.assert_array_equal(f["layers/d/weights/kernel"][()], arrays["layers/d/weights/kernel"])
        assert f["layers/d"].attrs["unit"] == "d"
        assert f.attrs["format_version"] == step_files.FORMAT_VERSION


def test_second_write_of_a_step_merges(tmp_path):
    writer = step_writer.StepFileWriter(str(tmp_path))
    writer.write("innspector/step_000000001.h5", {"a/x": np.ones(3), "a/y": np.zeros(2)}, {"a": {"unit": "a"}})
    writer.write("innspector/step_000000001.h5", {"a/y": np.full(2, 7.0), "b/z": np.ones(1)})
    with step_files.open_file(str(tmp_path / "innspector/step_000000001.h5")) as f:
        assert f["a/x"][()].tolist() == [1, 1, 1]
        assert f["a/y"][()].tolist() == [7, 7]
        assert f["b/z"][()].tolist() == [1]
        assert f["a"].attrs["unit"] == "a"


def test_float16_storage_and_compression(tmp_path):
    data = np.maximum(np.random.default_rng(0).normal(size=(512, 256)), 0).astype(np.float32)
    f32 = step_writer.StepFileWriter(str(tmp_path / "a")).write("innspector/s.h5", {"x": data})
    f16 = step_writer.StepFileWriter(str(tmp_path / "b"), dtype="float16").write("innspector/s.h5", {"x": data})
    assert f16["datasets"]["x"]["dtype"] == "float16"
    assert f16["bytes"] < f32["bytes"] < data.nbytes  # half of ReLU outputs are zeros: gzip helps
    with step_files.open_file(str(tmp_path / "b/innspector/s.h5")) as f:
        np.testing.assert_allclose(f["x"][()], data, rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="float32 or float16"):
        step_writer.StepFileWriter(str(tmp_path), dtype="int8")


def test_chunks_split_neurons_so_one_column_reads_alone(tmp_path):
    assert step_writer.chunk_shape((512, 8, 8, 16)) == (512, 8, 8, 2)
    assert step_writer.chunk_shape((512, 10)) == (512, 10)
    assert step_writer.chunk_shape((4096, 4096))[-1] == 16
    assert step_writer.chunk_shape((100000, 64, 64, 3))[0] < 100000
    assert step_writer.chunk_shape(()) is None
    writer = step_writer.StepFileWriter(str(tmp_path))
    writer.write("innspector/c.h5", {"act": np.random.rand(512, 1024).astype(np.float32)})
    with h5py.File(tmp_path / "innspector/c.h5", "r") as f:
        assert f["act"].chunks[0] == 512 and f["act"].chunks[1] < 1024


def test_list_step_files_ignores_temporary_and_foreign_files(tmp_path):
    writer = step_writer.StepFileWriter(str(tmp_path))
    writer.write(step_files.step_file(0), {"x": np.ones(1)})
    writer.write(step_files.step_file(12), {"x": np.ones(1)})
    (tmp_path / "innspector" / ("step_000000013.h5" + step_files.TEMP_MARK + "abc")).write_bytes(b"half")
    (tmp_path / "innspector" / "notes.txt").write_text("x")
    (tmp_path / "innspector" / "step_xyz.h5").write_text("x")
    assert step_files.list_step_files(str(tmp_path)) == {
        0: "innspector/step_000000000.h5",
        12: "innspector/step_000000012.h5",
    }
    assert step_files.list_step_files(str(tmp_path / "missing")) == {}


def test_corrupted_file_gives_a_clear_error(tmp_path):
    path = tmp_path / "broken.h5"
    path.write_bytes(b"this is not hdf5")
    with pytest.raises(step_files.StepFileError, match="cannot read step file"):
        with step_files.open_file(str(path)):
            pass


def test_metadata_round_trip_and_version_check():
    meta = metadata.create_summary_metadata(
        metadata.Kind.CLASS_MEANS, unit="d/activations", unit_type="activations", class_names=[0, 1]
    )
    assert meta.plugin_data.plugin_name == "innspector"
    parsed = metadata.parse_plugin_metadata(meta.plugin_data.content)
    assert parsed.unit == "d/activations" and list(parsed.class_names) == ["0", "1"]
    future = metadata.plugin_data_pb2.InnspectorPluginData(version=99).SerializeToString()
    with pytest.raises(metadata.MetadataError, match="version 99"):
        metadata.parse_plugin_metadata(future)
    with pytest.raises(metadata.MetadataError, match="corrupted"):
        metadata.parse_plugin_metadata(b"\xff\xff\xff")


def test_identical_arrays_are_stored_once_and_read_back_with_their_shape(tmp_path):
    pooled = np.random.default_rng(0).random((200, 4, 4, 8)).astype(np.float32)
    arrays = {
        "layers/pool/activations": pooled,
        "layers/flatten/activations": pooled.reshape(200, -1),  # a Flatten layer's output
        "layers/dropout/activations": pooled.reshape(200, -1).copy(),  # identity at inference
        "layers/dense/activations": pooled[:, 0, 0, :].copy(),  # different values: stored
    }
    writer = step_writer.StepFileWriter(str(tmp_path), precision="exact")
    manifest = writer.write("innspector/d.h5", arrays)
    single = step_writer.StepFileWriter(str(tmp_path / "single"), precision="exact").write(
        "innspector/d.h5",
        {"layers/pool/activations": pooled, "layers/dense/activations": arrays["layers/dense/activations"]},
    )
    assert manifest["bytes"] < single["bytes"] * 1.05  # the duplicates cost (almost) nothing
    assert manifest["raw_float32_bytes"] == sum(a.size * 4 for a in arrays.values())
    assert sum("same_as" in entry for entry in manifest["datasets"].values()) == 2
    with step_files.open_file(str(tmp_path / "innspector/d.h5")) as f:
        for name, array in arrays.items():
            assert step_files.logical_shape(f, name) == array.shape
            np.testing.assert_array_equal(step_files.read_array(f, name), array)


def test_merging_a_step_keeps_linked_duplicates(tmp_path):
    pooled = np.random.default_rng(0).random((50, 2, 2, 4)).astype(np.float32)
    writer = step_writer.StepFileWriter(str(tmp_path), precision="exact")
    writer.write(
        "innspector/s.h5", {"layers/pool/activations": pooled, "layers/flatten/activations": pooled.reshape(50, -1)}
    )
    writer.write("innspector/s.h5", {"layers/dense/weights/kernel": np.ones((16, 3), np.float32)})
    with step_files.open_file(str(tmp_path / "innspector/s.h5")) as f:
        np.testing.assert_array_equal(step_files.read_array(f, "layers/pool/activations"), pooled)
        np.testing.assert_array_equal(step_files.read_array(f, "layers/flatten/activations"), pooled.reshape(50, -1))
        assert f["layers/dense/weights/kernel"].shape == (16, 3)
    # Replacing the link by a plain array drops the reshape note that described the link.
    writer.write("innspector/s.h5", {"layers/flatten/activations": np.zeros((50, 16), np.float32)})
    with step_files.open_file(str(tmp_path / "innspector/s.h5")) as f:
        assert step_files.logical_shape(f, "layers/flatten/activations") == (50, 16)
        assert not step_files.read_array(f, "layers/flatten/activations").any()
