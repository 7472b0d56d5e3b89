"""The serving side never imports TensorFlow or Keras: TensorBoard imports every installed plugin at start."""

import json
import subprocess
import sys

import pytest

_PROBE = """
import json, sys
import innspector_tb.plugin
loader = innspector_tb.plugin.InnspectorLoader()
print(json.dumps(sorted(name for name in sys.modules
                        if name.split(".")[0] in ("tensorflow", "keras", "tf_keras", "jax"))))
"""


def test_importing_the_plugin_imports_no_tensorflow_or_keras():
    out = subprocess.run([sys.executable, "-c", _PROBE], check=True, capture_output=True, text=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


@pytest.mark.slow
def test_the_probe_sees_tensorflow_when_it_is_imported():
    # The check above can fail: the same probe after importing the capture side lists TensorFlow.
    probe = "import innspector_tb.keras\n" + _PROBE
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    assert "tensorflow" in json.loads(out.stdout.strip().splitlines()[-1])
