"""The committed generated code is what the sources produce now (`make proto`)."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_protobuf_code_is_fresh(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I" + os.path.join(ROOT, "proto"),
            "--python_out=" + str(tmp_path),
            os.path.join(ROOT, "proto", "plugin_data.proto"),
        ],
        check=True,
    )
    with (
        open(tmp_path / "plugin_data_pb2.py") as fresh,
        open(os.path.join(ROOT, "innspector_tb", "format", "proto", "plugin_data_pb2.py")) as committed,
    ):
        assert fresh.read() == committed.read(), "innspector_tb/format/proto is stale: run `make proto` and commit"
