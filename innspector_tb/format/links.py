"""Lineage declared after the fact: `<run>/innspector/link.json`, written by `innspector-tb link`, names
the parents of a run without re-training it and without touching its event files (a plain run written
by Keras' own callback or a custom loop, or one of ours).

    {"format_version": 1, "parents": ["<model id>", ...]}

A model id is the parent's header id, or `plain:<run>` for a plain parent (store/plain_runs.py). The
plugin adds these parents to the model's own when it lists the models.
"""

from __future__ import annotations

import json
from typing import Any

from innspector_tb import errors, fs
from innspector_tb.format import step_files, strict_json

LINK_FILE = step_files.STEP_FILES_DIR + "/link.json"
LINK_FORMAT_VERSION = 1
MAX_LINK_BYTES = 64 * 1024
MAX_PARENTS = 100


class LinkError(errors.FormatError):
    """A link file that cannot be read as written by `innspector-tb link`."""


def link_path(run_dir: str) -> str:
    return fs.join(run_dir, LINK_FILE)


def read_parents(run_dir: str) -> list[str] | None:
    """The parents a run's link file declares, None without one; LinkError for a malformed file."""
    path = link_path(run_dir)
    if not fs.exists(path):
        return None
    if fs.size(path) > MAX_LINK_BYTES:
        raise LinkError("%s is larger than %d bytes" % (LINK_FILE, MAX_LINK_BYTES))
    with fs.open_read(path) as f:
        raw = f.read(MAX_LINK_BYTES + 1)
    try:
        value = strict_json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise LinkError("%s is not JSON: %s" % (LINK_FILE, e)) from e
    return _checked(value)


def _checked(value: Any) -> list[str]:
    parents = value.get("parents") if isinstance(value, dict) else None
    if not isinstance(parents, list) or not all(isinstance(p, str) and p for p in parents):
        raise LinkError('%s must hold {"parents": [model id, ...]}' % LINK_FILE)
    if len(parents) > MAX_PARENTS:
        raise LinkError("%s names more than %d parents" % (LINK_FILE, MAX_PARENTS))
    return list(dict.fromkeys(parents))


def write_parents(run_dir: str, parents: list[str]) -> None:
    """Writes the link file (the whole list of parents; the run's event files are not touched)."""
    text = json.dumps({"format_version": LINK_FORMAT_VERSION, "parents": _checked({"parents": parents})}, indent=1)
    fs.makedirs(fs.join(run_dir, step_files.STEP_FILES_DIR))
    fs.write_bytes(link_path(run_dir), (text + "\n").encode("utf-8"))
