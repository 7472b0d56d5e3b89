"""`innspector-tb link`: declares a run's parent without re-training, for runs of any origin.

The child's `innspector/link.json` (format/links.py) gets the parent's model id: its header id when the
parent is one of ours, else `plain:<run>` (store/plain_runs.py). Runs are named as TensorBoard names
them; a Keras callback's `train` or `validation` sub-run names its model (the directory above). Linking
twice changes nothing; the run's event files are never touched.
"""

from __future__ import annotations

from typing import Any

from innspector_tb import errors, fs
from innspector_tb.format import links
from innspector_tb.store import plain_runs


class LinkRequestError(errors.ConfigurationError):
    """A link that cannot be made as asked (a run that does not exist, a run its own parent)."""


def _model_dir(logdir: str, run: str) -> tuple[str, str]:
    """(model key, its directory) of a run name inside the logdir."""
    name = run.strip().replace("\\", "/").strip("/")
    parts = name.split("/")
    if not name or run.startswith(("/", "\\")) or ".." in parts or "://" in run:
        raise LinkRequestError("run %r must be a relative name inside the logdir" % run)
    directory = fs.join(logdir, name)
    if not fs.isdir(directory):
        raise LinkRequestError("no run %r in %s" % (run, logdir))
    key = plain_runs.model_key(name)
    return key, fs.join(logdir, key)


def model_id(logdir: str, run: str) -> str:
    """The id the tree of models knows a run's model by: its header's id, else the plain id."""
    from innspector_tb import importer

    key, directory = _model_dir(logdir, run)
    header = importer.latest_header(directory)
    if isinstance(header, dict) and isinstance(header.get("id"), str) and header["id"]:
        return header["id"]
    return plain_runs.plain_id(key)


def link(logdir: str, child: str, parent: str) -> dict[str, Any]:
    """Adds `parent` to the parents of `child`; {child, parent_id, parents, changed}."""
    child_key, child_dir = _model_dir(logdir, child)
    parent_key, _ = _model_dir(logdir, parent)
    if child_key == parent_key:
        raise LinkRequestError("run %r cannot be its own parent" % child)
    parent_id = model_id(logdir, parent)
    try:
        parents = links.read_parents(child_dir) or []
    except links.LinkError as e:
        raise LinkRequestError("run %r: %s; remove it to link anew" % (child_key, e)) from e
    changed = parent_id not in parents
    if changed:
        parents = parents + [parent_id]
        links.write_parents(child_dir, parents)
    return {"child": child_key, "parent_id": parent_id, "parents": parents, "changed": changed}
