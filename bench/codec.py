"""Step file precision and codec, measured side by side on real step files.

    .venv/bin/python -m bench.codec demo_logs                 # the largest step file of each of 3 runs
    .venv/bin/python -m bench.codec demo_logs/cnn_wide/innspector/step_000000012.h5
    .venv/bin/python -m bench.codec demo_logs --levels        # also scan the zstd level (rounded)

Reads every array of the step files and writes them again with StepFileWriter (same chunks, the
writer's own direct-chunk compression) under each configuration:

  exact gzip     format version 1's storage: lossless, shuffle + gzip level 4
  exact zstd     lossless, shuffle + Zstandard
  rounded gzip   float32 rounded to 10 mantissa bits, shuffle + gzip level 4
  rounded zstd   the default: rounded, shuffle + Zstandard

and prints, per configuration, the bytes over the raw size (every float counted as float32), the write
time (median of --repeats) and the time to read every array back, each also relative to exact gzip.
Times are CPU seconds of this process (what the writer takes from training, and less disturbed by
other load than wall time); they still depend on the machine: only ratios measured in one run compare.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

import h5py
import numpy as np

from innspector_tb.capture import step_writer
from innspector_tb.format import step_files

CONFIGS = (
    ("exact gzip", "exact", "gzip", None),
    ("exact zstd", "exact", "zstd", None),
    ("rounded gzip", "rounded", "gzip", None),
    ("rounded zstd", "rounded", "zstd", None),
)
SCAN_LEVELS = (1, 2, 3, 4, 5, 6, 9)


def step_file_paths(target, runs=3):
    """The step files to measure: `target` itself, or the largest step file of the `runs` largest runs."""
    if os.path.isfile(target):
        return [target]
    largest = []
    for run in sorted(os.listdir(target)):
        run_dir = os.path.join(target, run)
        steps = step_files.list_step_files(run_dir) if os.path.isdir(run_dir) else {}
        paths = [os.path.join(run_dir, relpath) for relpath in steps.values()]
        if paths:
            largest.append(max(paths, key=os.path.getsize))
    return sorted(largest, key=os.path.getsize, reverse=True)[:runs]


def read_arrays(path):
    """{name: array} of every dataset name (linked duplicates included), with the group attributes."""
    arrays, attrs = {}, {}
    with step_files.open_file(path) as f:
        precision = f.attrs.get("precision", "exact")

        def visit(name, link):
            if not isinstance(link, h5py.HardLink):
                return
            obj = f[name]
            if isinstance(obj, h5py.Dataset):
                arrays[name] = step_files.read_array(f, name)
            elif obj.attrs:
                attrs[name] = dict(obj.attrs)

        f.visititems_links(visit)
    return arrays, attrs, precision


def write_once(arrays, attrs, precision, codec, level, directory):
    writer = step_writer.StepFileWriter(directory, precision=precision, codec=codec, compression_level=level)
    started = time.process_time()
    manifest = writer.write("innspector/step.h5", arrays, attrs)
    return time.process_time() - started, manifest


def read_back(path):
    started = time.process_time()
    datasets = []
    with step_files.open_file(path) as f:
        f.visititems(lambda name, obj: datasets.append(name) if isinstance(obj, h5py.Dataset) else None)
        for name in datasets:
            f[name][()]
    return time.process_time() - started


def measure(files, configs, repeats):
    """{label: (bytes, raw bytes, write seconds, read seconds)} summed over the files (medians of repeats)."""
    totals = {label: [0, 0, 0.0, 0.0] for label, *_ in configs}
    for path in files:
        arrays, attrs, stored_precision = read_arrays(path)
        if stored_precision != "exact":
            print("  note: %s was stored %s: 'exact' measures already rounded values" % (path, stored_precision))
        with tempfile.TemporaryDirectory(prefix="bench-codec-") as tmp:
            writes = {label: [] for label, *_ in configs}
            reads = {label: [] for label, *_ in configs}
            manifests = {}
            for _ in range(repeats):  # interleaved, so that a change of load hits every configuration alike
                for label, precision, codec, level in configs:
                    directory = os.path.join(tmp, label.replace(" ", "_"))
                    seconds, manifests[label] = write_once(arrays, attrs, precision, codec, level, directory)
                    writes[label].append(seconds)
                    reads[label].append(read_back(os.path.join(directory, "innspector/step.h5")))
            for label, *_ in configs:
                total = totals[label]
                total[0] += manifests[label]["bytes"]
                total[1] += manifests[label]["raw_float32_bytes"]
                total[2] += statistics.median(writes[label])
                total[3] += statistics.median(reads[label])
    return totals


def report(totals, reference):
    ref_bytes, _, ref_write, ref_read = totals[reference]
    print("%-16s %12s %9s %9s %10s %9s %10s" % ("", "bytes", "x raw", "write s", "x speed", "read s", "x speed"))
    for label, (size, raw, write, read) in totals.items():
        print(
            "%-16s %12d %9.3f %9.3f %10.2f %9.3f %10.2f"
            % (label, size, size / raw, write, ref_write / write, read, ref_read / read)
        )
    print("(x raw: bytes / raw float32 bytes; x speed: exact gzip's time / this time, higher is faster)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("target", help="a step file, or a logdir whose runs' largest step files are measured")
    parser.add_argument("--runs", type=int, default=3, help="runs measured in a logdir (the largest)")
    parser.add_argument("--repeats", type=int, default=3, help="writes of each configuration (median)")
    parser.add_argument(
        "--levels", action="store_true", help="also scan zstd levels %s on rounded data" % (SCAN_LEVELS,)
    )
    args = parser.parse_args(argv)
    files = step_file_paths(args.target, args.runs)
    if not files:
        sys.exit("no step files in %s" % args.target)
    print("step files: %s" % ", ".join("%s (%.1f MB)" % (p, os.path.getsize(p) / 1e6) for p in files))
    report(measure(files, CONFIGS, args.repeats), "exact gzip")
    if args.levels:
        scan = [("exact gzip", "exact", "gzip", None)]
        scan += [("rounded gzip", "rounded", "gzip", None)]
        scan += [("rounded zstd %d" % level, "rounded", "zstd", level) for level in SCAN_LEVELS]
        scan += [("exact zstd %d" % level, "exact", "zstd", level) for level in SCAN_LEVELS]
        print("\nzstd levels:")
        report(measure(files, scan, args.repeats), "exact gzip")
    print("numpy %s, h5py %s" % (np.__version__, h5py.__version__))


if __name__ == "__main__":
    main()
