"""The serving side over a remote logdir, run as its own process: `python -m tests.support.remote_reads`.

    python -m tests.support.remote_reads LOGDIR RUN LAYER [--no-tensorflow]

Builds TensorBoard's app with our plugin over LOGDIR (any URL TensorBoard's gfile reads) and prints one
JSON object: the answers of `models`, `graph`, `neurons` (LAYER) and `data` (LAYER's activations at
the last step) for RUN, and what reading LAYER's kernel from the last step file fetched (`read`:
requests, bytes fetched, file length).

--no-tensorflow makes `import tensorflow` fail in this process, as where TensorBoard is installed
without TensorFlow: TensorBoard then reads the logdir with its own stub gfile (s3:// with boto3 and
the S3_ENDPOINT variable, other schemes with fsspec), and so does the plugin.
"""

import argparse
import json
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("logdir")
    parser.add_argument("run")
    parser.add_argument("layer")
    parser.add_argument("--no-tensorflow", action="store_true")
    args = parser.parse_args()
    if args.no_tensorflow:
        sys.modules["tensorflow"] = None  # type: ignore[assignment]  # `import tensorflow` raises ImportError

    from innspector_tb import fs
    from innspector_tb.format import step_files
    from tests.support.backend_app import Client

    client = Client(args.logdir)
    answers = {
        "models": client.get("/models"),
        "graph": client.get("/graph", run=args.run),
        "neurons": client.get("/neurons", run=args.run, layer=args.layer, k=3),
        "data": client.post(
            "/data", {"run": args.run, "unit": {"kind": "activations", "layer": args.layer}, "steps": "last"}
        ),
    }
    run_dir = fs.join(args.logdir, args.run)
    last = max(step_files.list_step_files(run_dir))
    handle = fs.open_read(fs.join(run_dir, step_files.step_file(last)))
    import h5py

    step_files.register_filters()
    with h5py.File(handle, "r") as f:
        step_files.read_array(f, "layers/%s/weights/kernel" % args.layer)
    read = {
        "requests": getattr(handle, "requests", None),
        "bytes_fetched": getattr(handle, "bytes_fetched", None),
        "length": fs.size(fs.join(run_dir, step_files.step_file(last))),
    }
    handle.close()
    print(
        json.dumps(
            {
                "answers": answers,
                "read": read,
                "tensorflow": "tensorflow" in sys.modules and sys.modules["tensorflow"] is not None,
            }
        )
    )


if __name__ == "__main__":
    main()
