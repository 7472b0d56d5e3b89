"""Images a run logged with TensorBoard's own image summaries (`tf.summary.image`, Keras' TensorBoard
callback with write_images=True), read through TensorBoard's data provider as blob sequences of the
`images` plugin: each datum is [width, height, image 0, image 1, ...], the images encoded as logged
(PNG for tf.summary.image).

Only what TensorBoard kept is here: its Python ingester keeps a sample of each image tag's steps (a
reservoir of 4 by default; `--samples_per_plugin images=all` keeps every step).

An image is served only if its bytes are a PNG, JPEG or GIF (by their magic bytes) and at most
MAX_IMAGE_BYTES long: a blob is whatever the event file holds, and the browser must never be handed
something else under an image's name.
"""

from __future__ import annotations

from typing import Any

from tensorboard import errors as tb_errors
from tensorboard.data import provider as provider_lib

from innspector_tb import errors

IMAGES_PLUGIN = "images"
MAX_IMAGE_BYTES = 16 * 2**20
MAX_LISTED_STEPS = 1000
_ALL_POINTS = 1 << 30
_HEADER_BLOBS = 2  # width and height come before the images
# Magic bytes of the formats a browser shows in an <img> and TensorBoard's images plugin serves.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def content_type(data: bytes) -> str | None:
    """image/png, image/jpeg or image/gif by the bytes' signature; None for anything else."""
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            return kind
    return None


def image_tags(data_provider: Any, ctx: Any, experiment_id: str, runs: list[str]) -> dict[str, list[str]]:
    """{run: sorted image tags} of the runs that logged images (one listing call, no image read)."""
    if not runs:
        return {}
    listing = data_provider.list_blob_sequences(
        ctx,
        experiment_id=experiment_id,
        plugin_name=IMAGES_PLUGIN,
        run_tag_filter=provider_lib.RunTagFilter(runs=runs),
    )
    return {run: sorted(by_tag) for run, by_tag in sorted(listing.items()) if by_tag}


def image_series(data_provider: Any, ctx: Any, experiment_id: str, runs: list[str]) -> list[dict[str, Any]]:
    """Every image tag of the runs: [{tag, series_run, steps, samples}], sorted by tag then run.

    `series_run` is the TensorBoard run holding the tag (a model may fold several, e.g. Keras'
    train/validation), `steps` the steps TensorBoard kept (at most MAX_LISTED_STEPS, the newest),
    `samples` the most images one step holds.
    """
    if not runs:
        return []
    data = data_provider.read_blob_sequences(
        ctx,
        experiment_id=experiment_id,
        plugin_name=IMAGES_PLUGIN,
        downsample=_ALL_POINTS,
        run_tag_filter=provider_lib.RunTagFilter(runs=runs),
    )
    series = []
    for run in runs:
        for tag, points in sorted(data.get(run, {}).items()):
            steps = sorted({int(p.step) for p in points if len(p.values) > _HEADER_BLOBS})
            if not steps:
                continue
            samples = max(len(p.values) - _HEADER_BLOBS for p in points)
            series.append({"tag": tag, "series_run": run, "steps": steps[-MAX_LISTED_STEPS:], "samples": samples})
    return sorted(series, key=lambda s: (s["tag"], s["series_run"]))


def read_image(
    data_provider: Any, ctx: Any, experiment_id: str, run: str, tag: str, step: int | None, sample: int
) -> tuple[bytes, str]:
    """(bytes, content type) of one logged image: `sample` of the images at `step` (None: the last step).

    NotFound for a tag, step or sample the run does not hold; LimitExceeded above MAX_IMAGE_BYTES;
    BadRequest when the bytes are not a PNG, JPEG or GIF (never served as an image).
    """
    data = data_provider.read_blob_sequences(
        ctx,
        experiment_id=experiment_id,
        plugin_name=IMAGES_PLUGIN,
        downsample=_ALL_POINTS,
        run_tag_filter=provider_lib.RunTagFilter(runs=[run], tags=[tag]),
    )
    points = {int(p.step): p for p in data.get(run, {}).get(tag, [])}
    if not points:
        raise errors.NotFound("run %r logged no images with tag %r" % (run, tag))
    chosen = max(points) if step is None else step
    point = points.get(chosen)
    if point is None:
        kept = sorted(points)
        raise errors.NotFound(
            "no images of %r at step %d (steps: %s%s)"
            % (tag, chosen, ", ".join(map(str, kept[:8])), ", ..." if len(kept) > 8 else "")
        )
    count = len(point.values) - _HEADER_BLOBS
    if not 0 <= sample < count:
        raise errors.NotFound("step %d of %r has %d image(s); no sample %d" % (chosen, tag, max(count, 0), sample))
    try:
        blob = data_provider.read_blob(ctx, blob_key=point.values[_HEADER_BLOBS + sample].blob_key)
    except tb_errors.NotFoundError:  # dropped from TensorBoard's sample since it was listed
        raise errors.NotFound("the image %r at step %d is no longer held by TensorBoard" % (tag, chosen)) from None
    if len(blob) > MAX_IMAGE_BYTES:
        raise errors.LimitExceeded(
            "the image is %d bytes, more than %d" % (len(blob), MAX_IMAGE_BYTES),
            "image_bytes",
            len(blob),
            MAX_IMAGE_BYTES,
        )
    kind = content_type(blob)
    if kind is None:
        raise errors.BadRequest(
            "the logged image %r at step %d of run %r is not a PNG, JPEG or GIF; not served" % (tag, chosen, run)
        )
    return blob, kind
