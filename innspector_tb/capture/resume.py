"""Where a training continues when its run directory already holds logged steps.

A second `fit` in a new process (`fit(initial_epoch=3)` after loading a checkpoint, or simply more
epochs) logs into the same run: its steps continue after the last step already logged, or from the
step of `initial_epoch` when that is later, so no step file is written by two sessions. The run's
probe samples stay those of its first session: a resumed session must log on the same probe.
"""

import dataclasses

import numpy as np

from innspector_tb import errors, fs
from innspector_tb.format import step_files


@dataclasses.dataclass(frozen=True)
class RunState:
    """What a run directory holds already, read once at train begin."""

    last_step: int | None  # the last step file of the run; None: no step yet
    has_samples: bool  # samples.h5 is there

    @property
    def resumed(self) -> bool:
        return self.last_step is not None or self.has_samples


def read_state(run_dir: str) -> RunState:
    steps = step_files.list_step_files(run_dir)
    return RunState(max(steps) if steps else None, fs.exists(fs.join(run_dir, step_files.SAMPLES_FILE)))


def first_step(state: RunState, initial: int) -> tuple[int, bool]:
    """(this session's first step, whether its baseline is logged there).

    `initial` is the step Keras starts at (initial_epoch, in steps). A step already logged is not
    logged again: the session starts from it (its state is the checkpoint training resumed from) and
    logs the steps after it.
    """
    if state.last_step is None or initial > state.last_step:
        return initial, True
    return state.last_step, False


def check_probe(run_dir: str, index, labels) -> None:
    """Refuses a probe other than the run's: the activations of old and new steps would not compare."""
    from innspector_tb.format import stats

    path = fs.join(run_dir, step_files.SAMPLES_FILE)
    try:
        with step_files.open_file(path) as f:
            old_index = np.asarray(f["data_samples/index"][()]) if "data_samples/index" in f else None
            old_labels = np.asarray(f["data_samples/y_label"][()]) if "data_samples/y_label" in f else None
    except (errors.FormatError, OSError, KeyError) as e:
        raise errors.ConfigurationError("iNNspector cannot read the probe samples of %s: %s" % (run_dir, e)) from None
    new_labels = stats.labels_to_classes(labels)
    same = (index is None or old_index is None or np.array_equal(old_index, np.asarray(index))) and (
        new_labels is None or old_labels is None or np.array_equal(old_labels, new_labels)
    )
    if not same:
        raise errors.ConfigurationError(
            "iNNspector: %s already holds probe samples that differ from this probe; resume with the same "
            "probe, probe_size and seed, or log into another run directory" % run_dir
        )
