"""Trains the demo experiments and (unless --no-serve) starts TensorBoard on them.

    python -m demo.train --logdir demo_logs

Four experiments on scikit-learn's digits and one on a synthetic token task, with lineage between models:
  (a) classifiers: a dense baseline, convolutional children, a child with
      capacity moved between two layers, a residual variant;
  (b) VAEs weighting reconstruction against KL 90:10, 50:50 and 25:75;
  (c) a VAE whose z_mean / z_log_var layers carelessly use a ReLU, its fix, and keras.io's VAE
      (demo/keras_io_vae.py: subclassed, custom train_step) as its child;
  (d) a spurious feature: a classifier trained on digits whose 3s carry a corner
      marker that the clean test (probe) images lack, and its child whose decision
      layer was retrained to rely less on the mistake neurons the finder names;
  (e) text: the keras.io transformer text classifier (custom layers, attention) and
      a bidirectional LSTM sibling on a token task made here (demo/text.py).
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

import keras

import innspector_tb
from demo import data as data_lib
from demo import keras_io_vae, models
from demo import text as text_lib
from innspector_tb.analysis import mistakes as mistakes_lib
from innspector_tb.capture import architecture as architecture_lib
from innspector_tb.capture import reliance as reliance_lib
from innspector_tb.capture.callback import InnspectorCallback
from innspector_tb.format import step_files

_NAMESPACE = uuid.UUID("6b1d0c1e-1f4c-4c55-9a64-8b0ac1d2e3f4")
CLASS_NAMES = [str(i) for i in range(10)]
SPURIOUS = "spurious_feature"
SPURIOUS_SEED = 1
TEXT = "text"


class Mitigation:
    """An experiments() entry made from its trained parent by reduce_reliance, not by fit.

    Runs the mistake finder on the parent's last logged step (mistakes.analyse, the
    function behind the `mistakes` route), keeps the neurons whose edits *increase*
    them in more than half of the class's mistakes (at most `max_neurons`; the 3 most
    voted if none is that common), and retrains the parent's decision layer to rely
    less on them for the class.
    """

    def __init__(self, parent, cls, max_neurons=5, min_share=0.5):
        self.parent, self.cls, self.max_neurons, self.min_share = parent, cls, max_neurons, min_share

    def neurons(self, answer):
        increase = [n for n in answer["neurons"] if n["direction"] == "increase"]
        chosen = [n["index"] for n in increase if n["share"] > self.min_share][: self.max_neurons]
        return chosen or [n["index"] for n in increase[:3]]

    def __call__(self, parent_model, parent_dir, log_dir, head, train, validation, probe, probe_size, epochs):
        read, labels, last_step = step_files.run_dir_reader(parent_dir)
        answer = mistakes_lib.analyse(architecture_lib.extract_architecture(parent_model), read, labels, cls=self.cls)
        neurons = self.neurons(answer)
        if not neurons:
            raise RuntimeError(
                "%s: the mistake finder names no neuron to mitigate (%s)" % (head["name"], answer["note"])
            )
        model, fit = reliance_lib.reduce_reliance(
            parent_model,
            answer["decision_layer"],
            neurons,
            self.cls,
            train,
            validation,
            epochs=max(epochs, 2),
            log_dir=log_dir,
            header=head,
            probe=probe,
            probe_size=probe_size,
            class_names=CLASS_NAMES,
            initial_step=last_step,
            return_fit=True,
        )
        return model, "class %d: %d of %d probe mistakes, neurons %s; validation accuracy of class %d %.2f -> %.2f" % (
            self.cls,
            answer["mistakes"],
            answer["samples"],
            neurons,
            self.cls,
            fit.history[0]["val_class_accuracy"],
            fit.history[fit.best_epoch]["val_class_accuracy"],
        )


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
    fixed = _head(
        "vae_fixed", "vae_careless with linear latent layers", [careless], reconstruction_weight=0.5, kl_weight=0.5
    )
    keras_io = _head(
        "vae_keras_io",
        "vae_fixed as keras.io writes a VAE: subclassed, convolutional encoder and decoder, custom train_step",
        [fixed],
        reconstruction_weight=1.0,
        kl_weight=1.0,
    )
    spurious = _head(
        "spurious_dense",
        "Dense classifier; class 3's training images carry a corner marker, the probe's don't",
        batch_size=32,
        marker_class=3,
    )
    mitigated = _head(
        "spurious_mitigated",
        "spurious_dense's decision layer retrained to rely less on the mistake neurons",
        [spurious],
        batch_size=32,
        marker_class=3,
    )

    transformer = _head("transformer_text", "keras.io transformer text classifier (custom layers)", batch_size=32)
    bilstm = _head("bilstm_text", "transformer_text's task with a bidirectional LSTM", [transformer], batch_size=32)

    def classifier(build):
        return lambda: models.compile_classifier(build())

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
        (SPURIOUS, spurious, classifier(models.spurious_dense)),
        (SPURIOUS, mitigated, Mitigation("spurious_dense", cls=data_lib.MARKER_CLASS)),
        (TEXT, transformer, classifier(text_lib.transformer_text)),
        (TEXT, bilstm, classifier(text_lib.bilstm_text)),
        # Last: it starts a fresh Keras session (stable layer names), which leaves the models before alone.
        ("vae_careless", keras_io, lambda: keras_io_vae.keras_io_vae("vae_keras_io")),
    ]


def train_all(logdir, epochs=12, only=None, probe_size=512, verbose=True, models=None):
    """Trains every demo model into logdir/<name>; returns the headers in order.

    `only`: experiment or model names to train; `models`: a dict to fill with the
    trained Keras models of the spurious-feature experiment, by name.
    """
    keras.utils.set_random_seed(0)
    x_train, y_train, x_test, y_test = data_lib.digits()
    headers = []
    trained = {} if models is None else models
    for experiment, head, build in experiments():
        if only and experiment not in only and head["name"] not in only:
            continue
        start = time.perf_counter()
        if experiment == SPURIOUS:
            model, note = _train_spurious(logdir, head, build, trained, epochs, probe_size)
            trained[head["name"]] = model
            headers.append(head)
            if verbose:
                print(
                    "  trained %-18s (%s) in %.1fs%s"
                    % (head["name"], experiment, time.perf_counter() - start, ": " + note if note else ""),
                    flush=True,
                )
            continue
        if experiment == TEXT:
            _train_text(logdir, head, build, epochs, probe_size)
            headers.append(head)
            if verbose:
                print("  trained %-15s (%s) in %.1fs" % (head["name"], experiment, time.perf_counter() - start))
            continue
        is_vae = experiment != "classifiers"
        model = build()
        # keras.io's VAE has a train_step only (no test_step): it trains without validation data, as there.
        validation = None if isinstance(model, keras_io_vae.VAE) else (x_test,) if is_vae else (x_test, y_test)
        _fit_logged(
            model,
            os.path.join(logdir, head["name"]),
            head,
            (x_train, None if is_vae else y_train),
            validation,
            (x_test, y_test),
            probe_size,
            epochs,
        )
        headers.append(head)
        if verbose:
            print("  trained %-15s (%s) in %.1fs" % (head["name"], experiment, time.perf_counter() - start), flush=True)
    return headers


def _train_spurious(logdir, head, build, trained, epochs, probe_size):
    """The spurious-feature experiment: marked training 3s, clean validation and clean probe."""
    x_train, y_train, x_val, y_val, x_test, y_test = data_lib.spurious_digits()
    log_dir = os.path.join(logdir, head["name"])
    if isinstance(build, Mitigation):
        if build.parent not in trained:
            raise ValueError("%s needs its parent %s trained in the same call" % (head["name"], build.parent))
        return build(
            trained[build.parent],
            os.path.join(logdir, build.parent),
            log_dir,
            head,
            (x_train, y_train),
            (x_val, y_val),
            (x_test, y_test),
            probe_size,
            epochs,
        )
    keras.utils.set_random_seed(SPURIOUS_SEED)  # the same model whatever else is trained
    train, validation, probe = (x_train, y_train), (x_val, y_val), (x_test, y_test)
    return _fit_logged(build(), log_dir, head, train, validation, probe, probe_size, epochs), ""


def _train_text(logdir, head, build, epochs, probe_size):
    """The text experiment: token sequences, the held-out part as validation and probe."""
    x_train, y_train, x_test, y_test = text_lib.split()
    log_dir = os.path.join(logdir, head["name"])
    return _fit_logged(
        build(),
        log_dir,
        head,
        (x_train, y_train),
        (x_test, y_test),
        (x_test, y_test),
        probe_size,
        epochs,
        class_names=text_lib.CLASS_NAMES,
        vocabulary=text_lib.VOCABULARY,
    )


def _fit_logged(
    model, log_dir, head, train, validation, probe, probe_size, epochs, class_names=CLASS_NAMES, vocabulary=None
):
    """Fits `model` on train = (x, y or None) with the callback logging into log_dir on probe = (x, y)."""
    # No time budget: the demo's models are small and fast, and it is there to show every view at every
    # epoch. At the default (3% of training) a model this fast would be logged every few epochs only.
    callback = InnspectorCallback(
        log_dir,
        head,
        probe=probe,
        probe_size=probe_size,
        class_names=class_names,
        vocabulary=vocabulary,
        time_budget=None,
    )
    model.fit(
        *train,
        validation_data=validation,
        epochs=epochs,
        batch_size=head["hparams"].get("batch_size", 32),
        verbose=0,
        callbacks=[callback],
    )
    return model


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
    command = [
        sys.executable,
        "-m",
        "tensorboard.main",
        "--logdir",
        args.logdir,
        "--port",
        str(args.port),
        "--host",
        args.host,
    ]
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
