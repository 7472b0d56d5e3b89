"""The `innspector-tb` command.

    innspector-tb import CHECKPOINT.h5 --logdir DIR --run NAME [--step N]
                         [--header HEADER.json] [--overwrite]
    innspector-tb link --logdir DIR CHILD_RUN PARENT_RUN

Exit codes: 0 on success, 2 for bad input (unreadable checkpoint or header,
a step that already has data, a run that does not exist, bad arguments), 1 for
unexpected failures.
"""

import argparse
import json
import logging
import os
import sys

EXIT_OK = 0
EXIT_BAD_INPUT = 2


class _InputError(Exception):
    pass


def _parser():
    parser = argparse.ArgumentParser(
        prog="innspector-tb", description="iNNspector for TensorBoard: tools for its logs."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    imp = commands.add_parser(
        "import",
        help="import a checkpoint in the iNNspector paper's HDF5 layout into a run",
        description="Imports an HDF5 checkpoint (data_samples/{x,y_label,y_prediction}, "
        "layers/<name>/{activations,mean_class_activations/class_<k>,weights/<var>}) "
        "as one step of the run LOGDIR/RUN.",
    )
    imp.add_argument("checkpoint", metavar="CHECKPOINT.h5", help="the HDF5 checkpoint to import")
    imp.add_argument("--logdir", required=True, help="TensorBoard's log directory")
    imp.add_argument("--run", required=True, help="the run (model) directory inside the logdir")
    imp.add_argument("--step", type=_step, default=0, help="the step the checkpoint becomes (default 0)")
    imp.add_argument(
        "--header",
        metavar="HEADER.json",
        help="the model's header as JSON (default: the run's header, or a new one named after the run)",
    )
    imp.add_argument("--overwrite", action="store_true", help="replace data the run already has at this step")
    imp.add_argument("-q", "--quiet", action="store_true", help="do not list skipped datasets")
    link = commands.add_parser(
        "link",
        help="declare a run's parent in the tree of models, without re-training",
        description="Adds PARENT_RUN to the parents of CHILD_RUN (runs of any origin: ours, Keras' own "
        "TensorBoard callback, a custom loop) by writing CHILD_RUN/innspector/link.json; the run's event "
        "files are not touched, and linking twice changes nothing.",
    )
    link.add_argument("--logdir", required=True, help="TensorBoard's log directory")
    link.add_argument("child", metavar="CHILD_RUN", help="the run to give a parent")
    link.add_argument("parent", metavar="PARENT_RUN", help="its parent run")
    return parser


def _step(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be an integer >= 0, got %r" % text) from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be an integer >= 0, got %d" % value)
    return value


def _read_header(path):
    from innspector_tb.format import headers

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise _InputError("cannot read header %s: %s" % (path, e.strerror or e)) from e
    except UnicodeDecodeError as e:
        raise _InputError("header %s is not UTF-8 text: %s" % (path, e)) from e
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise _InputError("header %s is not valid JSON: %s" % (path, e)) from e
    try:
        return headers.validate(value)
    except headers.HeaderError as e:
        raise _InputError("header %s is invalid: %s" % (path, e)) from e


def _import(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.basicConfig(level=logging.ERROR if args.quiet else logging.WARNING, format="innspector-tb: %(message)s")
    header = _read_header(args.header) if args.header else None
    from innspector_tb import importer

    try:
        report = importer.import_checkpoint(
            args.checkpoint, args.logdir, args.run, step=args.step, header=header, overwrite=args.overwrite
        )
    except importer.CheckpointImportError as e:
        raise _InputError(str(e)) from e
    skipped = len(report["skipped"])
    print(
        "imported %s into %s at step %d: %d layers, %d weights, %d activations, %s samples, "
        "%s predictions; %d datasets skipped"
        % (
            args.checkpoint,
            report["run_dir"],
            report["step"],
            len(report["layers"]),
            report["weights"],
            report["activations"],
            "no" if report["samples"] is None else report["samples"],
            "with" if report["predictions"] else "no",
            skipped,
        )
    )
    return EXIT_OK


def _link(args):
    from innspector_tb import errors
    from innspector_tb import link as link_lib

    try:
        result = link_lib.link(args.logdir, args.child, args.parent)
    except errors.InnspectorError as e:
        raise _InputError(str(e)) from e
    print(
        "%s %s as a parent of %s (parents: %s)"
        % (
            "linked" if result["changed"] else "already linked:",
            result["parent_id"],
            result["child"],
            ", ".join(result["parents"]),
        )
    )
    return EXIT_OK


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)  # bad usage exits with code 2
    try:
        if args.command == "import":
            return _import(args)
        if args.command == "link":
            return _link(args)
    except _InputError as e:
        print("innspector-tb %s: error: %s" % (args.command, e), file=sys.stderr)
        return EXIT_BAD_INPUT
    parser.error("unknown command %r" % args.command)


if __name__ == "__main__":
    sys.exit(main())
