"""Builds the reference of the "anything abnormal" measure: what units of sound models show.

    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python tools/build_abnormal_reference.py [--logdir DIR]

Trains sound models briefly with the callback: the demo's models (4 epochs) but its deliberate mistake
`vae_careless` and `spurious_mitigated` (fine-tuned with layers frozen on purpose), and the keras.io-style
convnet, small ResNet, text transformer and VAE of `tests/support/pathology_models.py` (4 epochs). Reads
every run back through TensorBoard's data provider, computes every unit's indicators
(`analysis/interestingness/abnormal.py`) at every logged step and writes, per unit family (activations,
kernel, bias, variable) and indicator, the 0th, 5th, ..., 100th percentiles to
`innspector_tb/data/abnormal_reference.json`. With `--logdir` and an existing logdir, nothing is trained:
its runs are read as they are. Plain JSON, read with `json` only.
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
OUT = os.path.join(ROOT, "innspector_tb", "data", "abnormal_reference.json")
# Left out: the demo's deliberate mistake, and its model fine-tuned with layers frozen on purpose.
DELIBERATE_MISTAKES = ("vae_careless", "spurious_mitigated")
EPOCHS = 4


def train(logdir):
    import keras

    from demo import train as demo_train
    from tests.support import pathology_models as pm

    demo_train.train_all(logdir, epochs=EPOCHS, probe_size=256, verbose=False)
    keras.utils.set_random_seed(0)
    images, labels = pm.images()
    validation = pm.images(96, seed=1)
    pm.train(logdir, "convnet", pm.convnet(), images, labels, epochs=EPOCHS, validation=validation)
    pm.train(logdir, "resnet", pm.resnet(), images, labels, epochs=EPOCHS, validation=validation)
    tokens, classes = pm.tokens()
    pm.train(logdir, "transformer", pm.transformer(), tokens, classes, epochs=EPOCHS, validation=pm.tokens(96, seed=1))
    binary = (images > 0.5).astype(np.float32)
    pm.train(logdir, "vae", pm.VAE(name="vae"), binary, None, epochs=EPOCHS, loss="vae")


def indicator_values(logdir):
    """{family: {indicator: [values]}} over every unit and logged step of every run but the mistakes."""
    from innspector_tb.analysis.interestingness import abnormal
    from innspector_tb.server import routes_models
    from innspector_tb.store import run_store
    from innspector_tb.store.cache import ByteBudgetCache
    from tests.support import tb_readers

    values: dict[str, dict[str, list[float]]] = {}
    runs = []
    with tb_readers.data_provider(logdir, "python") as provider:
        store = run_store.RunStore(provider, logdir, ByteBudgetCache(1 << 28)).bind(tb_readers.CTX, "")
        for run in store.runs():
            if run.rsplit("/", 1)[-1] in DELIBERATE_MISTAKES:
                continue
            runs.append(run)
            series = routes_models.unit_series(store, run)
            computer = abnormal.Indicators(
                store.architecture(run),
                {s.unit: s.stats for s in series},
                {s.unit: s.histograms for s in series},
                {s.unit: s.gradients for s in series if s.gradients},
            )
            for s in series:
                for step in s.stats:
                    for name, value in computer.of(s.unit, s.layer, s.unit_type, step).items():
                        if np.isfinite(value):
                            values.setdefault(abnormal.family(s.unit_type), {}).setdefault(name, []).append(value)
    return runs, values


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logdir", help="read these runs (trained into it first when it does not exist)")
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args()
    started = time.time()
    logdir = args.logdir or tempfile.mkdtemp(prefix="abnormal_reference_")
    if not os.path.exists(logdir) or not os.listdir(logdir):
        train(logdir)
    runs, values = indicator_values(logdir)
    percentiles = list(range(0, 101, 5))
    families = {
        family: {name: [float(v) for v in np.percentile(vals, percentiles)] for name, vals in sorted(by.items())}
        for family, by in sorted(values.items())
    }
    counts = {family: {name: len(vals) for name, vals in sorted(by.items())} for family, by in sorted(values.items())}
    document = {
        "source": "tools/build_abnormal_reference.py",
        "runs": runs,
        "epochs": EPOCHS,
        "percentiles": percentiles,
        "counts": counts,
        "families": families,
        "seconds": round(time.time() - started, 1),
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(document, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote %s: %d runs, %s" % (args.out, len(runs), {f: len(v) for f, v in families.items()}))


if __name__ == "__main__":
    main()
