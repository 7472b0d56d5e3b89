"""Trains the demo experiments and (unless --no-serve) starts TensorBoard on them.

    python -m demo.train --logdir demo_logs

Three experiments on scikit-learn's digits, with lineage between models:
  (a) classifiers: a dense baseline, convolutional children, a child with
      capacity moved between two layers, a residual variant;
  (b) VAEs weighting reconstruction against KL 90:10, 50:50 and 25:75;
  (c) a VAE whose z_mean / z_log_var layers carelessly use a ReLU, and its fix.
"""

import argparse
import logging
import os
import shutil
import subprocess
import sys
import time
import uuid

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

import innspector_tb  # noqa: E402
from innspector_tb.keras import InnspectorCallback  # noqa: E402

from demo import data as data_lib  # noqa: E402
from demo import models  # noqa: E402

_NAMESPACE = uuid.UUID("6b1d0c1e-1f4c-4c55-9a64-8b0ac1d2e3f4")
CLASS_NAMES = [str(i) for i in range(10)]


def _head(name, label, parents=(), **hparams):
    # Stable ids, so re-running the demo gives the same tree of models.
    return innspector_tb.header(
        name, label=label, parents=[p["id"] for p in parents], id=str(uuid.uuid5(_NAMESPACE, name)), hparams=hparams
    )


def experiments():
    """Returns [(experiment, run name, header, builder)] in training order (parents first)."""
    base = _head("dense_baseline", "Dense baseline: flatten, 64 ReLU units", batch_size=32)
    small = _head("cnn_small", "CNN: one 8-filter convolution", [base], batch_size=32)
    wide = _head("cnn_wide", "CNN: two 16-filter convolutions", [small], batch_size=32)
    bn = _head("cnn_bn_dropout", "CNN with batch norm and dropout", [small], batch_size=32)
    rebalanced = _head(
        "cnn_rebalanced", "cnn_wide with capacity moved from conv_1 (16->8) to conv_2 (16->32)", [wide], batch_size=32
    )
    skip = _head("cnn_skip", "cnn_wide with a residual connection", [wide], batch_size=32)
    nested = _head("cnn_nested", "cnn_small with its features as a nested model", [small], batch_size=32)
    vae_90 = _head("vae_90_10", "VAE, reconstruction:KL = 90:10", reconstruction_weight=0.9, kl_weight=0.1)
    vae_50 = _head("vae_50_50", "VAE, reconstruction:KL = 50:50", [vae_90], reconstruction_weight=0.5, kl_weight=0.5)
    vae_25 = _head("vae_25_75", "VAE, reconstruction:KL = 25:75", [vae_90], reconstruction_weight=0.25, kl_weight=0.75)
    careless = _head(
        "vae_careless", "VAE with ReLU on z_mean and z_log_var (careless)", reconstruction_weight=0.5, kl_weight=0.5
    )
    fixed = _head("vae_fixed", "vae_careless with linear latent layers", [careless], reconstruction_weight=0.5, kl_weight=0.5)
    classifier = lambda build: (lambda: models.compile_classifier(build()))
    return [
        ("classifiers", base, classifier(models.dense_baseline)),
        ("classifiers", small, classifier(lambda: models.cnn((8,), 32, "cnn_small"))),
        ("classifiers", wide, classifier(lambda: models.cnn((16, 16), 64, "cnn_wide"))),
        ("classifiers", bn, classifier(models.cnn_batchnorm_dropout)),
        ("classifiers", rebalanced, classifier(lambda: models.cnn((8, 32), 64, "cnn_rebalanced"))),
        ("classifiers", skip, classifier(models.cnn_skip)),
        ("classifiers", nested, classifier(models.cnn_nested)),
        ("vae_balance", vae_90, lambda: models.vae("vae_90_10", 0.9, 0.1)),
        ("vae_balance", vae_50, lambda: models.vae("vae_50_50", 0.5, 0.5)),
        ("vae_balance", vae_25, lambda: models.vae("vae_25_75", 0.25, 0.75)),
        ("vae_careless", careless, lambda: models.vae("vae_careless", 0.5, 0.5, latent_activation="relu")),
        ("vae_careless", fixed, lambda: models.vae("vae_fixed", 0.5, 0.5)),
    ]


def train_all(logdir, epochs=12, only=None, probe_size=512, verbose=True):
    """Trains every demo model into logdir/<name>; returns the headers in order."""
    keras.utils.set_random_seed(0)
    x_train, y_train, x_test, y_test = data_lib.digits()
    headers = []
    for experiment, head, build in experiments():
        if only and experiment not in only and head["name"] not in only:
            continue
        start = time.perf_counter()
        model = build()
        callback = InnspectorCallback(
            os.path.join(logdir, head["name"]),
            head,
            probe=(x_test, y_test),
            probe_size=probe_size,
            class_names=CLASS_NAMES,
        )
        is_vae = experiment != "classifiers"
        model.fit(
            x_train,
            None if is_vae else y_train,
            validation_data=(x_test, None if is_vae else y_test) if not is_vae else (x_test,),
            epochs=epochs,
            batch_size=head["hparams"].get("batch_size", 32),
            verbose=0,
            callbacks=[callback],
        )
        headers.append(head)
        if verbose:
            print("  trained %-15s (%s) in %.1fs" % (head["name"], experiment, time.perf_counter() - start), flush=True)
    return headers


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logdir", default="demo_logs", help="where the demo writes its runs (cleared first)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--port", type=int, default=6006)
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--no-serve", action="store_true", help="train only; do not start TensorBoard")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if os.path.isdir(args.logdir):
        shutil.rmtree(args.logdir)
    print("Training the iNNspector demo into %s ..." % args.logdir, flush=True)
    start = time.perf_counter()
    train_all(args.logdir, epochs=args.epochs)
    print("Trained in %.0fs." % (time.perf_counter() - start), flush=True)
    if args.no_serve:
        return 0
    url = "http://%s:%d/#innspector" % (args.host, args.port)
    print("Starting TensorBoard: open %s (Ctrl-C stops it)" % url, flush=True)
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", args.logdir, "--port", str(args.port),
               "--host", args.host]
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
