"""Step file precision and codecs: rounded float32, shuffle + Zstandard written chunk by chunk, read by plain h5py."""

import h5py
import hdf5plugin
import numpy as np
import pytest
import zstandard

from innspector_tb import errors
from innspector_tb.capture import step_writer
from innspector_tb.format import rounding, step_files
from tests.support import step_data

RNG = np.random.default_rng(0)
# Shapes whose chunks leave edge chunks on the last axis, on the first axis, or none.
ARRAYS = {
    "f32/last_axis_edge": RNG.normal(size=(3000, 50)).astype(np.float32),  # chunks (3000, 21)
    "f32/first_axis_edge": RNG.normal(size=(70000, 3)).astype(np.float32),  # chunks (65536, 1)
    "f32/4d": np.maximum(RNG.normal(size=(64, 6, 6, 10)), 0).astype(np.float32),
    "f32/special": np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 3.4028235e38, 1e-45] * 40, np.float32),
    "f16/edges": RNG.normal(size=(700, 130)).astype(np.float16),  # stored as float32
    "i64/labels": RNG.integers(-(2**40), 2**40, size=(5000, 7)),
    "i32/edges": RNG.integers(-100, 100, size=(1200, 77)).astype(np.int32),
    "u8/no_shuffle": RNG.integers(0, 255, size=(40000,), dtype=np.uint8),
    "bool/mask": RNG.random((3000, 5)) > 0.5,
    "f32/small_contiguous": RNG.normal(size=(3, 4)).astype(np.float32),
}


def _stored(array, precision):
    if array.dtype.kind == "f":
        array = array.astype(np.float32)  # the storage dtype of every float
    if precision == "rounded" and array.dtype == np.float32:
        return rounding.round_mantissa(array, step_files.MANTISSA_BITS)
    return array


@pytest.mark.parametrize("codec", ["zstd", "gzip"])
@pytest.mark.parametrize("precision", ["rounded", "exact"])
def test_plain_h5py_with_hdf5plugin_reads_back_what_the_direct_chunk_writer_stored(tmp_path, codec, precision):
    writer = step_writer.StepFileWriter(str(tmp_path), precision=precision, codec=codec)
    manifest = writer.write("innspector/s.h5", ARRAYS)
    assert (manifest["codec"], manifest["precision"], manifest["format_version"]) == (codec, precision, 2)
    assert manifest["mantissa_bits"] == (10 if precision == "rounded" else 23)
    with h5py.File(tmp_path / "innspector/s.h5", "r") as f:  # hdf5plugin is imported: its filters are registered
        assert f.attrs["precision"] == precision and f.attrs["format_version"] == 2
        for name, array in ARRAYS.items():
            dataset = f[name]
            expected = _stored(array, precision)
            np.testing.assert_array_equal(dataset[()].view(np.uint8), expected.view(np.uint8), err_msg=name)
            if dataset.chunks is None:
                continue
            filters = dataset.id.get_create_plist()
            ids = [filters.get_filter(i)[0] for i in range(filters.get_nfilters())]
            shuffle = [h5py.h5z.FILTER_SHUFFLE] if array.dtype.itemsize > 1 else []
            codec_id = hdf5plugin.ZSTD_ID if codec == "zstd" else h5py.h5z.FILTER_DEFLATE
            assert ids == shuffle + [codec_id], name
            # A slice across chunk boundaries reads like the array's.
            cut = tuple(slice(n // 3, n - n // 5) for n in array.shape)
            np.testing.assert_array_equal(dataset[cut], expected[cut], err_msg=name)


def test_the_zstd_chunks_are_what_hdf5s_own_filter_pipeline_decodes(tmp_path):
    """The same data through h5py's pipeline (shuffle + hdf5plugin's Zstd) and through the direct chunks."""
    data = ARRAYS["f32/last_axis_edge"]
    writer = step_writer.StepFileWriter(str(tmp_path), precision="exact")
    writer.write("innspector/s.h5", {"x": data})
    with h5py.File(tmp_path / "pipeline.h5", "w") as f:
        f.create_dataset(
            "x",
            data=data,
            chunks=step_writer.chunk_shape(data.shape),
            shuffle=True,
            **hdf5plugin.Zstd(clevel=writer.compression_level),
        )
    with h5py.File(tmp_path / "innspector/s.h5", "r") as mine, h5py.File(tmp_path / "pipeline.h5", "r") as theirs:
        assert mine["x"].chunks == theirs["x"].chunks
        assert mine["x"].id.get_create_plist().get_filter(1)[:3] == theirs["x"].id.get_create_plist().get_filter(1)[:3]
        for offset in [(0, 0), (0, 42)]:  # a full chunk and the edge chunk
            _, stored = mine["x"].id.read_direct_chunk(offset)
            _, reference = theirs["x"].id.read_direct_chunk(offset)
            # The same shuffled bytes in a frame that records its size (the filter sizes its output by it).
            # (At the pinned versions the frames are even byte for byte the same; a libzstd update may change that.)
            assert zstandard.frame_content_size(stored) == np.prod(mine["x"].chunks) * 4
            assert zstandard.decompress(stored) == zstandard.decompress(reference)
        np.testing.assert_array_equal(mine["x"][()], theirs["x"][()])


def test_rounded_is_the_default_within_the_bound_and_smaller_than_exact(tmp_path):
    data = np.maximum(RNG.normal(size=(512, 256)), 0).astype(np.float32) * np.float32(0.37)
    rounded = step_writer.StepFileWriter(str(tmp_path / "r")).write("innspector/s.h5", {"x": data})
    exact = step_writer.StepFileWriter(str(tmp_path / "e"), precision="exact").write("innspector/s.h5", {"x": data})
    assert rounded["precision"] == "rounded" and rounded["codec"] == "zstd"
    assert rounded["bytes"] < 0.8 * exact["bytes"]
    stored = step_data.read_dataset(str(tmp_path / "r/innspector/s.h5"), "x")
    assert not np.array_equal(stored, data)
    np.testing.assert_allclose(stored, data, rtol=2.0**-11, atol=0)
    np.testing.assert_array_equal(step_data.read_dataset(str(tmp_path / "e/innspector/s.h5"), "x"), data)


def test_float16_storage_is_not_rounded_further(tmp_path):
    data = RNG.normal(size=(300, 40)).astype(np.float32)
    manifest = step_writer.StepFileWriter(str(tmp_path), dtype="float16").write("innspector/s.h5", {"x": data})
    assert manifest["mantissa_bits"] == 10 and manifest["datasets"]["x"]["dtype"] == "float16"
    stored = step_data.read_dataset(str(tmp_path / "innspector/s.h5"), "x")
    np.testing.assert_array_equal(stored, data.astype(np.float16))


def test_merging_into_a_rounded_file_says_rounded(tmp_path):
    data = RNG.normal(size=(100, 30)).astype(np.float32)
    # One logging session (a file of another session is never merged into: test_resume_and_faults.py).
    step_writer.StepFileWriter(str(tmp_path), session="one").write("innspector/s.h5", {"a": data})
    exact = step_writer.StepFileWriter(str(tmp_path), precision="exact", session="one")
    manifest = exact.write("innspector/s.h5", {"b": data})
    assert manifest["precision"] == "rounded" and manifest["mantissa_bits"] == 10
    with step_files.open_file(str(tmp_path / "innspector/s.h5")) as f:
        assert f.attrs["precision"] == "rounded"
        np.testing.assert_array_equal(f["b"][()], data)  # written exactly all the same
        np.testing.assert_array_equal(f["a"][()], rounding.round_mantissa(data))


def test_version_1_files_written_with_gzip_still_read(tmp_path):
    """A step file as format version 1 wrote it: gzip + shuffle, no precision attributes."""
    data = RNG.normal(size=(2000, 40)).astype(np.float32)
    path = tmp_path / "innspector" / "step_000000003.h5"
    path.parent.mkdir()
    with h5py.File(path, "w") as f:
        f.attrs["format_version"] = 1
        f.create_dataset(
            "layers/d/weights/kernel",
            data=data,
            chunks=(2000, 32),
            compression="gzip",
            compression_opts=4,
            shuffle=True,
        )
    read, _, step = step_files.run_dir_reader(str(tmp_path))
    assert step == 3
    np.testing.assert_array_equal(read("layers/d/weights/kernel"), data)
    # A new logging session does not merge into the old file (no session of its own): refused, file unchanged.
    with pytest.raises(step_files.StepFileError, match="earlier writer"):
        step_writer.StepFileWriter(str(tmp_path)).write(step_files.step_file(3), {"layers/d/weights/bias": data[0]})
    with step_files.open_file(str(path)) as f:
        assert f.attrs["format_version"] == 1 and "layers/d/weights/bias" not in f
        np.testing.assert_array_equal(f["layers/d/weights/kernel"][()], data)


def test_bad_precision_and_codec_are_configuration_errors(tmp_path):
    with pytest.raises(errors.ConfigurationError, match="precision"):
        step_writer.StepFileWriter(str(tmp_path), precision="lossy")
    with pytest.raises(errors.ConfigurationError, match="codec"):
        step_writer.StepFileWriter(str(tmp_path), codec="lz4")


@pytest.mark.slow  # imports TensorFlow, reads through TensorBoard's ingester
def test_statistics_are_computed_before_rounding(tmp_path):
    """A logged step's statistics, histogram and class means come from the logged values, not the stored ones."""
    from innspector_tb.capture import summary
    from innspector_tb.format import metadata, stats
    from tests.support import tb_readers

    kernel = RNG.normal(size=(64, 48)).astype(np.float32) * np.float32(0.1)
    acts = np.maximum(RNG.normal(size=(90, 32)), 0).astype(np.float32)
    labels = np.arange(90) % 3
    writer = summary.create_file_writer(str(tmp_path / "run"))  # the default: rounded
    with writer.as_default():
        summary.weights({"d/kernel": kernel}, step=1)
        summary.activations({"d": acts}, labels=labels, step=1)
    writer.close()
    with step_files.open_file(str(tmp_path / "run" / step_files.step_file(1))) as f:
        stored_kernel = f["layers/d/weights/kernel"][()]
        stored_acts = f["layers/d/activations"][()]
        assert f.attrs["precision"] == "rounded"
    for stored, original in ((stored_kernel, kernel), (stored_acts, acts)):
        assert not np.array_equal(stored, original)
        np.testing.assert_allclose(stored, original, rtol=rounding.relative_error_bound(10), atol=0)
    with tb_readers.data_provider(str(tmp_path), "python") as provider:
        data = tb_readers.read_all(provider, "run")
    kernel_stats = data[metadata.STATS_TAG_PREFIX + "d/kernel"][0].numpy
    np.testing.assert_array_equal(kernel_stats, stats.describe(kernel))
    assert not np.array_equal(kernel_stats, stats.describe(stored_kernel))
    fields = stats.as_dict(kernel_stats)
    assert fields["min"] == kernel.min() and fields["max"] == kernel.max()
    assert fields["min"] != stored_kernel.min() or fields["max"] != stored_kernel.max()
    assert fields["mean"] == pytest.approx(np.mean(kernel, dtype=np.float64), rel=1e-12, abs=1e-15)
    assert fields["std"] == pytest.approx(np.std(kernel, dtype=np.float64), rel=1e-9)
    histogram = data[metadata.HISTOGRAM_TAG_PREFIX + "d/kernel"][0].numpy
    np.testing.assert_array_equal(histogram, stats.histogram(kernel))
    np.testing.assert_array_equal(data[metadata.STATS_TAG_PREFIX + "d/activations"][0].numpy, stats.describe(acts))
    means = data[metadata.CLASS_MEANS_TAG_PREFIX + "d/activations"][0].numpy
    np.testing.assert_allclose(means, [acts[labels == c].mean(axis=0) for c in range(3)], rtol=1e-6)


def test_callback_and_summary_writer_refuse_an_unknown_precision(tmp_path):
    from innspector_tb.capture import summary
    from innspector_tb.capture.callback import InnspectorCallback

    with pytest.raises(errors.ConfigurationError, match="precision"):
        InnspectorCallback(str(tmp_path / "a"), precision="float8")
    with pytest.raises(errors.ConfigurationError, match="precision"):
        summary.create_file_writer(str(tmp_path / "b"), precision=None)


@pytest.mark.slow  # trains a model, with the writer process
def test_callback_precision_reaches_the_writer_process(tmp_path):
    import innspector_tb
    from innspector_tb.capture import writer_process
    from innspector_tb.capture.callback import InnspectorCallback
    from tests.support import trained_models as tm

    x, y = tm.images()
    model = tm.sequential()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    run = str(tmp_path / "exact")
    callback = InnspectorCallback(run, innspector_tb.header("exact"), probe=(x, y), precision="exact", writer="process")
    assert isinstance(callback._sink, writer_process.ProcessSink)
    model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[callback])
    with step_files.open_file(str(tmp_path / "exact" / step_files.step_file(1))) as f:
        assert f.attrs["precision"] == "exact" and f.attrs["mantissa_bits"] == 23
        np.testing.assert_array_equal(f["layers/out/weights/kernel"][()], model.get_layer("out").kernel.numpy())


def test_the_importer_reads_zstd_compressed_checkpoints(tmp_path):
    """A checkpoint in the paper's layout compressed with Zstandard (e.g. a step file of ours) imports."""
    from innspector_tb import importer

    kernel = RNG.normal(size=(64, 10)).astype(np.float32)
    acts = RNG.normal(size=(50, 10)).astype(np.float32)
    writer = step_writer.StepFileWriter(str(tmp_path / "source"), precision="exact")
    writer.write(
        "innspector/paper.h5",
        {
            "data_samples/x": RNG.normal(size=(50, 64)).astype(np.float32),
            "data_samples/y_label": np.arange(50) % 2,
            "layers/dense/weights/kernel": kernel,
            "layers/dense/activations": acts,
        },
    )
    source = str(tmp_path / "source/innspector/paper.h5")
    with h5py.File(source, "r") as f:
        assert f["layers/dense/weights/kernel"].compression is None  # not gzip: the Zstandard filter
    report = importer.import_checkpoint(source, str(tmp_path / "logs"), "run", step=2)
    assert report["weights"] == 1 and report["activations"] == 1
    read, _, step = step_files.run_dir_reader(str(tmp_path / "logs/run"))
    assert step == 2
    np.testing.assert_array_equal(read("layers/dense/weights/kernel"), kernel)  # imports are kept exactly
    np.testing.assert_array_equal(read("layers/dense/activations"), acts)
