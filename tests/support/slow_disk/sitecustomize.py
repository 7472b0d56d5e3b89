"""A slow disk for the fault tests: on PYTHONPATH with INNSPECTOR_TEST_SLOW_DISK=<seconds>, every step-file
write of this process (the training process, or its writer process) takes that much longer.

Loaded by Python at start-up (site imports `sitecustomize`), so it reaches the writer process too, which
the test cannot patch otherwise.
"""

import os
import time

_DELAY = float(os.environ.get("INNSPECTOR_TEST_SLOW_DISK") or 0)

if _DELAY > 0:
    from innspector_tb.capture import step_writer

    _write = step_writer.StepFileWriter.write

    def _slow_write(self, *args, **kwargs):
        time.sleep(_DELAY)
        return _write(self, *args, **kwargs)

    step_writer.StepFileWriter.write = _slow_write
