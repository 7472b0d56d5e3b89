"""The store's reading of logged images (store/logged_images.py) from real event files written by
tf.summary.image, through TensorBoard's own data provider (both ingesters)."""

import os

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.plugins.image import metadata as image_metadata

from innspector_tb import errors
from innspector_tb.store import logged_images
from tests.support import tb_readers

CTX = tb_readers.CTX


def _write_run(logdir):
    rng = np.random.default_rng(0)
    batches = {step: rng.integers(0, 256, size=(3, 5, 7, 3), dtype=np.uint8) for step in (0, 2, 5)}
    with tf.summary.create_file_writer(os.path.join(logdir, "loop")).as_default():
        for step, batch in batches.items():
            tf.summary.image("inputs", batch, step=step, max_outputs=3)
            tf.summary.scalar("loss", 1.0, step=step)
        # A blob under the images plugin that is no image: what a foreign writer could leave.
        not_png = tf.constant([b"5", b"7", b"<script>alert(1)</script>"])
        tf.summary.write(
            "forged", not_png, step=0, metadata=image_metadata.create_summary_metadata("forged", "").SerializeToString()
        )
    return batches


def test_content_type_by_magic_bytes():
    assert logged_images.content_type(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert logged_images.content_type(b"\xff\xd8\xff\xe0..") == "image/jpeg"
    assert logged_images.content_type(b"GIF89a..") == "image/gif"
    for other in (b"", b"<svg xmlns=...>", b"\x89PNG", b"BM...."):
        assert logged_images.content_type(other) is None


@pytest.mark.parametrize("ingester", tb_readers.INGESTERS)
def test_reads_the_images_tf_summary_image_wrote(tmp_path, ingester):
    logdir = str(tmp_path)
    batches = _write_run(logdir)
    with tb_readers.data_provider(logdir, ingester) as provider:
        tb_readers.wait_for(provider, lambda p: logged_images.image_tags(p, CTX, "", ["loop"]))
        assert logged_images.image_tags(provider, CTX, "", ["loop", "absent"]) == {"loop": ["forged", "inputs"]}
        series = logged_images.image_series(provider, CTX, "", ["loop"])
        assert series == [
            {"tag": "forged", "series_run": "loop", "steps": [0], "samples": 1},
            {"tag": "inputs", "series_run": "loop", "steps": [0, 2, 5], "samples": 3},
        ]
        data, kind = logged_images.read_image(provider, CTX, "", "loop", "inputs", 2, 1)
        assert kind == "image/png"
        np.testing.assert_array_equal(tf.io.decode_png(data).numpy(), batches[2][1])
        data, _ = logged_images.read_image(provider, CTX, "", "loop", "inputs", None, 2)  # None: the last step
        np.testing.assert_array_equal(tf.io.decode_png(data).numpy(), batches[5][2])
        with pytest.raises(errors.BadRequest, match="not a PNG, JPEG or GIF"):
            logged_images.read_image(provider, CTX, "", "loop", "forged", 0, 0)
        with pytest.raises(errors.NotFound, match="steps: 0, 2, 5"):
            logged_images.read_image(provider, CTX, "", "loop", "inputs", 1, 0)
        with pytest.raises(errors.NotFound, match="has 3 image"):
            logged_images.read_image(provider, CTX, "", "loop", "inputs", 0, 3)
        with pytest.raises(errors.NotFound, match="no images with tag"):
            logged_images.read_image(provider, CTX, "", "loop", "loss", 0, 0)


def test_an_image_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    logdir = str(tmp_path)
    _write_run(logdir)
    monkeypatch.setattr(logged_images, "MAX_IMAGE_BYTES", 20)  # a PNG of 5x7 pixels is larger
    with tb_readers.data_provider(logdir, "python") as provider:
        with pytest.raises(errors.LimitExceeded, match="more than 20"):
            logged_images.read_image(provider, CTX, "", "loop", "inputs", 0, 0)
