"""Reading a step file's datasets as stored, for the tests' comparisons (the plugin reads them through
the run store, BoundRunStore.read)."""

from innspector_tb.format import step_files


def read_dataset(path, dataset):
    """A whole dataset of a step file, as stored (no logical reshape); StepFileError when it is missing."""
    with step_files.open_file(path) as f:
        if dataset not in f:
            raise step_files.StepFileError("%s has no dataset %s" % (path, dataset))
        return f[dataset][()]
