"""Reading logs back the way TensorBoard does: its own flags, loader and data ingesters."""

import contextlib
import json
import time

from tensorboard import context as tb_context
from tensorboard import default, program
from tensorboard.data import provider as provider_lib

from innspector_tb.format import metadata
from innspector_tb.server.plugin import InnspectorLoader

INGESTERS = ("python", "rust")


def configured_tensorboard(logdir, ingester, extra_args=()):
    """A configured (not started) TensorBoard with our loader, as `tensorboard --logdir` builds it."""
    tb = program.TensorBoard(plugins=default.get_static_plugins() + [InnspectorLoader])
    args = ["tensorboard", "--logdir", logdir]
    if ingester == "python":
        args += ["--load_fast", "false", "--reload_task", "blocking", "--reload_interval", "0"]
    else:
        args += ["--load_fast", "true", "--reload_interval", "1"]
    tb.configure(argv=args + list(extra_args))
    return tb


@contextlib.contextmanager
def data_provider(logdir, ingester, extra_args=()):
    """Yields TensorBoard's data provider over logdir, built by TensorBoard's own code path."""
    tb = configured_tensorboard(logdir, ingester, extra_args)
    ingester_obj = tb._make_data_ingester()
    try:
        yield ingester_obj.data_provider
    finally:
        # The Rust data server exits when its stdin closes (--die_after_stdin).
        stdin = getattr(ingester_obj, "_stdin_handle", None)
        if stdin is not None:
            stdin.close()


CTX = tb_context.RequestContext()


def wait_for(provider, predicate, timeout=60.0):
    """Polls until predicate(provider) is true (the Rust server loads in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate(provider):
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("TensorBoard did not load the expected data within %.0fs" % timeout)
        time.sleep(0.5)


def read_all(provider, run, tags=None):
    """{tag: [TensorDatum]} of every iNNspector tensor of a run (or of `tags`)."""
    result = provider.read_tensors(
        CTX,
        experiment_id="",
        plugin_name=metadata.PLUGIN_NAME,
        downsample=1 << 30,
        run_tag_filter=provider_lib.RunTagFilter(runs=[run], tags=tags),
    )
    return result.get(run, {})


def json_of(datum):
    raw = datum.numpy.item()
    return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)


def scalars(provider, run):
    listing = provider.list_scalars(
        CTX, experiment_id="", plugin_name="scalars", run_tag_filter=provider_lib.RunTagFilter(runs=[run])
    )
    data = provider.read_scalars(
        CTX,
        experiment_id="",
        plugin_name="scalars",
        downsample=1 << 30,
        run_tag_filter=provider_lib.RunTagFilter(runs=[run], tags=list(listing.get(run, {}))),
    )
    return {tag: {p.step: p.value for p in points} for tag, points in data.get(run, {}).items()}
