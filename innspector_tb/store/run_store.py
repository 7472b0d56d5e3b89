"""Everything logged about the runs of a logdir: summaries through TensorBoard's
data provider, bulk arrays from the runs' step files (HDF5, one per logged step), with a bounded cache.

The plugin's routes read through one RunStore. Each run's data is versioned by
the newest point TensorBoard has of it, so the cache is invalidated as soon as
new steps land, and a broken run only ever affects its own answers. Files are
read through `innspector_tb.fs` (local paths and remote URLs alike).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import h5py
import numpy as np
from tensorboard.data import provider as provider_lib

from innspector_tb import errors, fs
from innspector_tb.format import architecture as architecture_lib
from innspector_tb.format import log_checks, metadata, step_files, strict_json
from innspector_tb.format import stats as stats_lib
from innspector_tb.store.cache import ByteBudgetCache

_ALL_POINTS = 1 << 30
# What one read of a dataset may decompress (declared by the file): above the largest array a route needs
# (routes_data.MAX_DATA_ELEMENTS float32 values), far below what a crafted file can declare.
MAX_READ_BYTES = 256 * 2**20

T = TypeVar("T")
Json = dict[str, Any]  # a JSON object read from a summary or a step file


class RunStore:
    """Reads runs for one request context; cheap to create per request over a shared cache."""

    def __init__(self, data_provider: provider_lib.DataProvider, logdir: str | None, cache: ByteBudgetCache) -> None:
        self._provider = data_provider
        self._logdir = logdir
        self._cache = cache

    def bind(self, ctx: Any, experiment_id: str) -> BoundRunStore:
        """A store for one request: `ctx` is TensorBoard's RequestContext."""
        return BoundRunStore(self, ctx, experiment_id)


class BoundRunStore:
    """The runs of one experiment, read for one request context."""

    def __init__(self, store: RunStore, ctx: Any, experiment_id: str) -> None:
        self._store = store
        self._provider = store._provider
        self._cache = store._cache
        self._ctx = ctx
        self._eid = experiment_id
        self._listing: dict[str, dict[str, Any]] | None = None
        self._versions: dict[str, tuple[int, int, float]] = {}

    # Listing and versions.

    def listing(self) -> dict[str, dict[str, Any]]:
        """{run: {tag: TensorTimeSeries}} of every run with iNNspector data."""
        if self._listing is None:
            self._listing = self._provider.list_tensors(
                self._ctx, experiment_id=self._eid, plugin_name=metadata.PLUGIN_NAME
            )
        return self._listing

    def runs(self) -> list[str]:
        return sorted(self.listing())

    def require_run(self, run: object) -> str:
        if not isinstance(run, str) or run not in self.listing():
            raise errors.NotFound("no run %r with iNNspector data" % (run,))
        return run

    def version(self, run: str) -> tuple[int, int, float]:
        """Changes whenever TensorBoard has a new point of any of the run's summaries."""
        if run not in self._versions:
            series = self.listing().get(run, {})
            # The newest point over all tags, and how many tags: cheap to compare.
            self._versions[run] = (
                len(series),
                max((s.max_step for s in series.values()), default=-1),
                max((s.max_wall_time for s in series.values()), default=0.0),
            )
        return self._versions[run]

    def experiment_version(self) -> tuple[tuple[str, tuple[int, int, float]], ...]:
        return tuple((run, self.version(run)) for run in self.runs())

    def cached(self, kind: Hashable, compute: Callable[[], T]) -> T:
        """A value computed from every run, cached until any run changes."""
        key = (self._eid, "*", kind, self.experiment_version())
        value = self._cache.get(key)
        if value is None:
            value = self._cache.put(key, compute())
        return value

    def run_dir(self, run: str) -> str:
        """The run's directory, never outside the logdir (run names come from TensorBoard)."""
        self.require_run(run)
        logdir = self._store._logdir
        if not logdir:
            raise errors.BadRequest("the step files need TensorBoard started with --logdir")
        if os.path.isabs(run) or any(part == ".." for part in run.replace("\\", "/").split("/")):
            raise errors.NotFound("run %r is not inside the logdir" % (run,))
        return logdir if run in (".", "") else fs.join(logdir, run)

    def run_cached(self, run: str, kind: Hashable, compute: Callable[[], T]) -> T:
        """A value computed from one run's data, cached until that run changes (others may go on logging)."""
        return self._cached(run, kind, compute)

    def _cached(self, run: str, kind: Hashable, compute: Callable[[], T]) -> T:
        key = (self._eid, run, kind, self.version(run))
        value = self._cache.get(key)
        if value is None:
            value = self._cache.put(key, compute())
        return value

    def _read(self, run: str, tags: list[str]) -> dict[str, list[Any]]:
        data = self._provider.read_tensors(
            self._ctx,
            experiment_id=self._eid,
            plugin_name=metadata.PLUGIN_NAME,
            downsample=_ALL_POINTS,
            run_tag_filter=provider_lib.RunTagFilter(runs=[run], tags=tags),
        )
        return data.get(run, {})

    def _tags(self, run: str, prefix: str) -> list[str]:
        """Tags with the prefix whose plugin data this version can read (newer ones are skipped)."""
        series = self.listing().get(self.require_run(run), {})
        tags = []
        for tag in sorted(series):
            if tag.startswith(prefix):
                try:
                    metadata.parse_plugin_metadata(series[tag].plugin_content)
                except metadata.MetadataError:
                    continue
                tags.append(tag)
        return tags

    def _check_version(self, run: str, tag: str) -> None:
        series = self.listing()[run].get(tag)
        if series is not None:
            try:
                metadata.parse_plugin_metadata(series.plugin_content)
            except metadata.MetadataError as e:
                raise errors.BadRequest("run %r: %s" % (run, e)) from e

    # Model-level summaries (JSON, step 0).

    def _json_at_last(self, run: str, tag: str, what: str, check: Callable[[Json], Json] | None = None) -> Json:
        self.require_run(run)

        def compute():
            self._check_version(run, tag)
            points = self._read(run, [tag]).get(tag, [])
            if not points:
                return {"__missing__": True}
            try:
                value = metadata.json_payload(points[-1])
                return check(value) if check is not None else value
            except (ValueError, UnicodeDecodeError) as e:
                return {"__error__": "unreadable %s: %s" % (what, e)}

        value = self._cached(run, tag, compute)
        if value.get("__missing__"):
            raise errors.NotFound("run %r has no %s" % (run, what))
        if "__error__" in value:
            raise errors.BadRequest("run %r: %s" % (run, value["__error__"]))
        return value

    def header(self, run: str) -> Json:
        return self._json_at_last(run, metadata.HEADER_TAG, "header", log_checks.check_header)

    def architecture(self, run: str) -> Json:
        return self._json_at_last(run, metadata.ARCHITECTURE_TAG, "architecture", log_checks.check_architecture)

    def samples_manifest(self, run: str) -> Json:
        return self._json_at_last(run, metadata.SAMPLES_TAG, "probe samples")

    def manifests(self, run: str) -> dict[int, Json]:
        """{step: step-file manifest} of the complete steps TensorBoard knows of (the summaries tagged
        `innspector/checkpoint`, metadata.CHECKPOINT_TAG)."""
        self.require_run(run)

        def compute():
            result = {}
            for datum in self._read(run, [metadata.CHECKPOINT_TAG]).get(metadata.CHECKPOINT_TAG, []):
                try:
                    result[int(datum.step)] = metadata.json_payload(datum)
                except (ValueError, UnicodeDecodeError):
                    continue  # a damaged manifest: that step is simply not offered
            return result

        return self._cached(run, "manifests", compute)

    def steps(self, run: str) -> list[int]:
        return sorted(self.manifests(run))

    def resolve_step(self, run: str, step: int | str | None) -> int:
        """The step asked for (None or "last": the newest complete step); NotFound for another one."""
        steps = self.steps(run)
        if not steps:
            raise errors.NotFound("run %r has no complete step yet" % (run,))
        if step is None or step == "last":
            return steps[-1]
        if step not in steps:
            raise errors.NotFound("run %r has no step %r (steps: %s)" % (run, step, _short(steps)))
        return step

    # Per-unit summaries.

    def unit_stats(self, run: str) -> dict[str, dict[int, dict[str, float]]]:
        """{unit: {step: {field: value}}} of every STATISTICS summary of the run."""

        def compute():
            tags = self._tags(run, metadata.STATS_TAG_PREFIX)
            data = self._read(run, tags) if tags else {}
            return {
                tag[len(metadata.STATS_TAG_PREFIX) :]: {int(d.step): stats_lib.as_dict(d.numpy) for d in points}
                for tag, points in data.items()
            }

        self.require_run(run)
        return self._cached(run, "unit_stats", compute)

    def histograms(self, run: str) -> dict[str, dict[int, np.ndarray]]:
        """{unit: {step: float64 [bins, 3]}}."""

        def compute():
            tags = self._tags(run, metadata.HISTOGRAM_TAG_PREFIX)
            data = self._read(run, tags) if tags else {}
            return {
                tag[len(metadata.HISTOGRAM_TAG_PREFIX) :]: {
                    int(d.step): np.asarray(d.numpy, dtype=np.float64) for d in points
                }
                for tag, points in data.items()
            }

        self.require_run(run)
        return self._cached(run, "histograms", compute)

    def unit_types(self, run: str) -> dict[str, str]:
        """{unit: unit_type} from the plugin data of the STATISTICS summaries."""
        result: dict[str, str] = {}
        for tag in self._tags(run, metadata.STATS_TAG_PREFIX):
            try:
                parsed = metadata.parse_plugin_metadata(self.listing()[run][tag].plugin_content)
            except metadata.MetadataError:
                continue
            result[tag[len(metadata.STATS_TAG_PREFIX) :]] = parsed.unit_type
        return result

    def class_means(self, run: str, layer_id: str) -> tuple[dict[int, np.ndarray], list[str]]:
        """({step: float32 [classes, units]}, class names) of a layer's activations."""
        tag = metadata.CLASS_MEANS_TAG_PREFIX + layer_id + "/activations"
        self.require_run(run)
        if tag not in self.listing()[run]:
            raise errors.NotFound(
                "run %r has no class means of layer %r (no labels, or no such layer)" % (run, layer_id)
            )

        def compute():
            try:
                names = list(metadata.parse_plugin_metadata(self.listing()[run][tag].plugin_content).class_names)
            except metadata.MetadataError as e:
                raise errors.BadRequest("run %r: %s" % (run, e)) from e
            points = self._read(run, [tag]).get(tag, [])
            return {"by_step": {int(d.step): np.asarray(d.numpy) for d in points}, "classes": names}

        value = self._cached(run, tag, compute)
        return value["by_step"], value["classes"]

    # Bulk arrays.

    def step_file_path(self, run: str, step: int) -> str:
        """The path of a complete step's step file, as its manifest says (never outside the run directory)."""
        manifest = self.manifests(run).get(step)
        if manifest is None:
            raise errors.NotFound("run %r has no step file at step %r" % (run, step))
        relpath = str(manifest.get("path", step_files.step_file(step)))
        if os.path.isabs(relpath) or ".." in relpath.replace("\\", "/").split("/"):
            raise errors.BadRequest("run %r: step file path %r leaves the run directory" % (run, relpath))
        return fs.join(self.run_dir(run), relpath)

    def samples_path(self, run: str) -> str:
        return fs.join(self.run_dir(run), step_files.SAMPLES_FILE)

    def read(
        self, run: str, step: int | None, dataset: str, selection: Any = None, max_bytes: int = MAX_READ_BYTES
    ) -> np.ndarray:
        """A dataset of the step's step file (of samples.h5 when step is None), sliced by `selection`.

        Checked before any data is read (format/step_files.py, read_checked): only hard links inside the
        run directory's real path, no external or virtual storage, plain numbers, and a declared size
        (the file's own shape and item size, not its manifest's) of at most max_bytes.
        """
        path = self.samples_path(run) if step is None else self.step_file_path(run, step)
        # The run's version is in the key: a step logged again (merged) is read anew.
        key = ("array", path, dataset, repr(selection), self.version(run))

        def compute():
            if not fs.exists(path):
                raise errors.NotFound("%s: %s does not exist" % (_where(run, step), os.path.basename(path)))
            try:
                with step_files.open_file(path, within=self.run_dir(run)) as f:
                    data = step_files.read_checked(f, dataset, selection, max_bytes)
            except step_files.DatasetTooLarge as e:
                raise errors.LimitExceeded(
                    "%s: %s declares %d bytes, over the %d bytes one read may take"
                    % (_where(run, step), dataset, e.declared_bytes, e.limit_bytes),
                    limit="read_bytes",
                ) from e
            except step_files.StepFileError as e:
                raise errors.BadRequest("%s: %s" % (_where(run, step), _without_paths(e, path))) from e
            except (OSError, ValueError, IndexError, TypeError) as e:
                raise errors.BadRequest("%s: cannot read %s: %s" % (_where(run, step), dataset, e)) from e
            if data is None:
                raise errors.NotFound("%s: no dataset %s" % (_where(run, step), dataset))
            return data

        value = self._cache.get(key)
        if value is None:
            value = self._cache.put(key, np.asarray(compute()))
        return value

    def attribution_info(self, run: str, step: int) -> Json:
        """The `attributions` group's attributes at a step ({} without attributions): score,
        grad_cam_layer, and methods, targets, skipped, options decoded from JSON."""
        path = self.step_file_path(run, step)
        key = ("attribution_info", path, self.version(run))

        def compute():
            try:
                with step_files.open_file(path, within=self.run_dir(run)) as f:
                    # Only a hard link: get() without getlink would follow an external link to another file.
                    if not isinstance(f.get("attributions", getlink=True), h5py.HardLink):
                        return {}
                    group = f["attributions"]
                    if not isinstance(group, h5py.Group):
                        return {}
                    info: Json = {}
                    for name, value in group.attrs.items():
                        value = value.decode("utf-8") if isinstance(value, bytes) else value
                        if name in ("methods", "targets", "skipped", "options"):
                            try:
                                value = strict_json.loads(value)
                            except (TypeError, ValueError):
                                continue
                        elif not isinstance(value, str):
                            continue
                        info[name] = value
                    return info
            except (step_files.StepFileError, OSError, ValueError) as e:
                raise errors.BadRequest("%s: %s" % (_where(run, step), e)) from e

        value = self._cache.get(key)
        if value is None:
            value = self._cache.put(key, compute())
        return value

    def labels(self, run: str) -> np.ndarray | None:
        """int labels of the probe samples, or None without labels."""
        try:
            return self.read(run, None, "data_samples/y_label")
        except errors.NotFound:
            return None

    # Reduced data (docs/format.md, "Reduced data"): the logging plan and where each array is.

    def plans(self, run: str) -> dict[int, Json]:
        """{step: plan} of the run's `innspector/plan` summaries; {} for logs written before plans."""
        self.require_run(run)
        if metadata.PLAN_TAG not in self.listing()[run]:
            return {}

        def compute():
            self._check_version(run, metadata.PLAN_TAG)
            result: dict[int, Json] = {}
            for datum in self._read(run, [metadata.PLAN_TAG]).get(metadata.PLAN_TAG, []):
                try:
                    result[int(datum.step)] = metadata.json_payload(datum)
                except (ValueError, UnicodeDecodeError):
                    continue  # a damaged plan: read that step as its datasets say
            return result

        return self._cached(run, "plans", compute)

    def plan(self, run: str, step: int) -> Json | None:
        """The logging plan of a step (its own, else the newest before it, else the first), or None for logs
        without plans: every array is then stored in full, at every step."""
        plans = self.plans(run)
        if not plans:
            return None
        if step in plans:
            return plans[step]
        earlier = [s for s in plans if s <= step]
        return plans[max(earlier)] if earlier else plans[min(plans)]

    def _datasets(self, run: str, step: int) -> dict[str, Any] | None:
        """{name: {shape, ...}} of the step file's manifest, or None when the manifest lists none (then
        every dataset is assumed present, as logs before reduced data were read)."""
        datasets = self.manifests(run).get(step, {}).get("datasets")
        return datasets if isinstance(datasets, dict) else None

    def has_dataset(self, run: str, step: int, dataset: str) -> bool:
        datasets = self._datasets(run, step)
        return datasets is None or dataset in datasets

    def dataset_shape(self, run: str, step: int, dataset: str) -> list[int] | None:
        """The shape the manifest gives a dataset, or None."""
        entry = (self._datasets(run, step) or {}).get(dataset)
        shape = entry.get("shape") if isinstance(entry, dict) else None
        return [int(d) for d in shape] if isinstance(shape, list) else None

    def activation_source(
        self, run: str, step: int, layer_id: str, output: int = 0, form: str | None = None
    ) -> ActivationSource:
        """Where a layer output's activations are at a step: an ActivationSource of the first form stored
        (full for the whole probe, else pooled per unit, else the maps of the sample subset), or of `form`
        when asked. Raises NotFound saying what the step holds of the layer when nothing fits."""
        if form not in (None,) + ACTIVATION_FORMS:
            raise errors.BadRequest("unit.form must be one of %s, got %r" % (", ".join(ACTIVATION_FORMS), form))
        names = {f: self.layer_dataset(layer_id, _output_name(base, output)) for f, base in _FORM_DATASETS.items()}
        datasets = self._datasets(run, step)
        if datasets is None:  # a manifest without a listing: read the full activations, as before plans
            found = [FULL]
        else:
            found = [f for f in ACTIVATION_FORMS if names[f] in datasets]
        wanted = [f for f in found if form in (None, f)]
        if not wanted:
            held = ", ".join(found) if found else "none"
            plan = self.plan(run, step) or {}
            planned = (plan.get("layers") or {}).get(layer_id) if isinstance(plan.get("layers"), dict) else None
            kept = planned.get("activations") if isinstance(planned, dict) else None
            why = {
                NONE: " (the logging plan keeps only its statistics, in the event file)",
                POOLED: " (the logging plan keeps it pooled per unit)",
                FULL: " (the logging plan keeps it in full)",
            }.get(kept or "", "")
            if form is None:
                raise errors.NotFound(
                    "%s: no activations of layer %r output %d%s" % (_where(run, step), layer_id, output, why)
                )
            raise errors.NotFound(
                "%s: no %s activations of layer %r output %d; stored forms: %s%s"
                % (_where(run, step), form, layer_id, output, held, why)
            )
        chosen = wanted[0]
        rows = None
        if chosen == SAMPLES:
            rows = np.asarray(self.read(run, step, SUBSET_DATASET), dtype=np.int64).reshape(-1)
        return ActivationSource(chosen, names[chosen], rows, found)

    def weights_source(self, run: str, step: int, layer_id: str, variable: str) -> tuple[str, int]:
        """(dataset, from_step) of a layer's variable for a step: the step's own file when it holds the full
        weights, else the newest earlier step whose file does, else the first later one (weights rotate
        when the plan reduces them). NotFound when no step file holds them."""
        dataset = self.layer_dataset(layer_id, "weights/" + variable)
        if self.has_dataset(run, step, dataset):
            return dataset, step
        holding = [s for s in self.steps(run) if dataset in (self._datasets(run, s) or {})]
        if not holding:
            where = " (its statistics and histograms are in the event file)" if self.plans(run) else ""
            raise errors.NotFound(
                "run %r has no weights %s of layer %r in any step file%s" % (run, variable, layer_id, where)
            )
        earlier = [s for s in holding if s <= step]
        return dataset, (max(earlier) if earlier else min(holding))

    def layer_dataset(self, layer_id: str, name: str) -> str:
        """The name in a step file of a layer's dataset `name` ("activations", "weights/kernel", ...)."""
        return "%s/%s" % (step_files.layer_group(architecture_lib.layer_h5_name(layer_id)), name)


FULL, POOLED, SAMPLES, NONE = "full", "pooled", "samples", "none"
ACTIVATION_FORMS = (FULL, POOLED, SAMPLES)  # the order a reader prefers them in
_FORM_DATASETS = {FULL: "activations", POOLED: "pooled_activations", SAMPLES: "sample_activations"}
SUBSET_DATASET = "data_samples/subset"  # probe rows of the sample_activations datasets


class ActivationSource:
    """Where a layer output's activations are at a step.

    form: "full" ([probe, ...]), "pooled" ([probe, units], the mean over positions) or "samples"
    ([subset, ...] full maps of the probe rows `rows`); dataset: its name in the step file; stored: every
    form the step file holds of the output, in ACTIVATION_FORMS order.
    """

    __slots__ = ("form", "dataset", "rows", "stored")

    def __init__(
        self, form: str, dataset: str, rows: np.ndarray | None = None, stored: tuple[str, ...] | list[str] = ()
    ) -> None:
        self.form, self.dataset, self.rows, self.stored = form, dataset, rows, list(stored)

    def __repr__(self) -> str:
        return "ActivationSource(%r, %r)" % (self.form, self.dataset)


def _output_name(base, output):
    return base if not output else "%s_%d" % (base, output)


def _without_paths(exc, path):
    """An error's text with the file's absolute path cut to its name: answers never show the server's
    directories."""
    return str(exc).replace(path, os.path.basename(path))


def _where(run, step):
    return "run %r samples" % (run,) if step is None else "run %r step %s" % (run, step)


def _short(values, n=8):
    values = list(values)
    return ", ".join(map(str, values[:n])) + (", ..." if len(values) > n else "")
