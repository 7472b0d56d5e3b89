"""The `vocabulary` route: the token strings a run's probe was logged with (format/vocabulary.py)."""

from __future__ import annotations

from typing import Any

from innspector_tb import errors
from innspector_tb.format import vocabulary as vocabulary_lib
from innspector_tb.store.run_store import BoundRunStore


def vocabulary(store: BoundRunStore, run: str | None) -> dict[str, Any]:
    """{"run", "tokens"}: NotFound without a vocabulary, BadRequest for one that is not a list of strings."""
    run = store.require_run(run)
    value = store.samples_manifest(run).get("vocabulary")
    if value is None:
        raise errors.NotFound("run %r logged no vocabulary (InnspectorCallback(vocabulary=...))" % run)
    try:
        tokens = vocabulary_lib.check(value)
    except vocabulary_lib.VocabularyError as e:
        raise errors.BadRequest("run %r: unreadable vocabulary: %s" % (run, e)) from None
    return {"run": run, "tokens": tokens}
