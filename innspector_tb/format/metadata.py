"""Summary metadata of the iNNspector plugin: building and parsing it."""

import numpy as np
from tensorboard.compat.proto import summary_pb2

from innspector_tb import errors
from innspector_tb.format import strict_json
from innspector_tb.format.proto import plugin_data_pb2

PLUGIN_NAME = "innspector"

# Version of the plugin data this package writes; readers refuse newer ones.
PROTO_VERSION = 1

Kind = plugin_data_pb2.InnspectorPluginData

# Tag prefix of every iNNspector summary, so the data provider can filter cheaply.
TAG_PREFIX = "innspector/"
HEADER_TAG = TAG_PREFIX + "header"
ARCHITECTURE_TAG = TAG_PREFIX + "architecture"
RUNTIME_TAG = TAG_PREFIX + "runtime"
PLAN_TAG = TAG_PREFIX + "plan"
CHECKPOINT_TAG = TAG_PREFIX + "checkpoint"  # a step file's manifest (the tag predates the name "step file")
SAMPLES_TAG = TAG_PREFIX + "samples"
STATS_TAG_PREFIX = TAG_PREFIX + "stats/"
HISTOGRAM_TAG_PREFIX = TAG_PREFIX + "histogram/"
CLASS_MEANS_TAG_PREFIX = TAG_PREFIX + "class_means/"

# Keras metrics go out as ordinary scalars under this prefix.
METRICS_TAG_PREFIX = "metrics/"

# Data classes by kind: JSON and vectors are tensors; nothing is a blob, since
# bulk arrays live in the HDF5 step files and not in TensorBoard's memory.
_DATA_CLASS = summary_pb2.DATA_CLASS_TENSOR


class MetadataError(errors.FormatError):
    """Plugin data that this version cannot read."""


def create_summary_metadata(kind, unit="", unit_type="", class_names=(), description=""):
    """Returns a `SummaryMetadata` proto for one iNNspector summary."""
    content = plugin_data_pb2.InnspectorPluginData(
        version=PROTO_VERSION,
        kind=kind,
        unit=unit,
        unit_type=unit_type,
        class_names=[str(c) for c in class_names],
    )
    return summary_pb2.SummaryMetadata(
        summary_description=description,
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=content.SerializeToString()
        ),
        data_class=_DATA_CLASS,
    )


def parse_plugin_metadata(content):
    """Parses the plugin data bytes of a summary; raises MetadataError if unreadable."""
    if not isinstance(content, bytes):
        raise MetadataError("plugin content must be bytes, got %s" % type(content).__name__)
    result = plugin_data_pb2.InnspectorPluginData()
    try:
        result.ParseFromString(content)
    except Exception as e:  # protobuf raises DecodeError, a private type
        raise MetadataError("corrupted iNNspector plugin data: %s" % e) from e
    if result.version == 0 or result.version > PROTO_VERSION:
        raise MetadataError(
            "iNNspector plugin data version %d is not supported (this reader knows 1..%d); "
            "upgrade innspector-tb" % (result.version, PROTO_VERSION)
        )
    return result


def json_payload(datum):
    """The JSON object a HEADER/ARCHITECTURE/RUNTIME/... summary carries (a TensorDatum).

    Raises ValueError for anything else, so a damaged log is reported, not crashed on.
    """
    raw = datum.numpy.item() if isinstance(datum.numpy, np.ndarray) else datum.numpy
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    if not isinstance(raw, str):
        raise ValueError("expected a JSON string, got %s" % type(raw).__name__)
    value = strict_json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object, got %s" % type(value).__name__)
    return value
