"""A worker of a distributed training, run as its own process: `python -m tests.support.multi_worker_training`.

    python -m tests.support.multi_worker_training RUN_DIR --strategy multi_worker|mirrored|none
        [--ports P0,P1 --index I] [--epochs N]

`multi_worker`: TF_CONFIG is set from --ports and --index (a cluster of `worker` tasks on localhost,
worker 0 the chief) before TensorFlow is imported, and a small dense classifier trains under
`MultiWorkerMirroredStrategy` with the iNNspector callback on RUN_DIR, every worker building the same
callback as a user's script would. Keras 3's `fit` cannot train under this strategy (it reduces whole
batches and scalar logs the strategy refuses: keras-team/keras#20585), so the training is the custom
loop Keras' guide writes for it (`strategy.run` in a `tf.function`), calling the callbacks through
`keras.callbacks.CallbackList` as `fit` does. `none`: the same loop without a strategy (the single-worker
reference). `mirrored`: `model.fit` under `MirroredStrategy` over two logical CPUs of this process.

Prints, flushed: `CHIEF <0|1>` (whether the callback logs), `PROBE_CALLS <n>` (probe passes this
process ran), `WEIGHTS <sum of the final kernels>` and `DONE` at the end.
"""

import argparse
import json
import os

SAMPLES, FEATURES, CLASSES, BATCH = 128, 8, 3, 32


def _arguments():
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("--strategy", choices=("multi_worker", "mirrored", "none"), required=True)
    parser.add_argument("--ports", default="")
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=2)
    return parser.parse_args()


def _strategy(kind, tf):
    if kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    return tf.distribute.get_strategy()


def _custom_loop(model, strategy, data, callback, epochs, tf, keras):
    """Keras' custom training loop under a strategy, with the callbacks called where `fit` calls them."""
    dataset = strategy.experimental_distribute_dataset(data)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction=None)

    @tf.function
    def train_step(x, y):
        def replica_step(x, y):
            with tf.GradientTape() as tape:
                loss = tf.nn.compute_average_loss(loss_fn(y, model(x, training=True)), global_batch_size=BATCH)
            grads = tape.gradient(loss, model.trainable_variables)
            model.optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return loss

        return strategy.reduce("SUM", strategy.run(replica_step, args=(x, y)), axis=None)

    steps = SAMPLES // BATCH
    callbacks = keras.callbacks.CallbackList([callback], model=model, epochs=epochs, steps=steps, verbose=0)
    callbacks.on_train_begin()
    for epoch in range(epochs):
        callbacks.on_epoch_begin(epoch)
        total = 0.0
        for batch, (x, y) in enumerate(dataset):
            callbacks.on_train_batch_begin(batch)
            loss = float(train_step(x, y))
            total += loss
            callbacks.on_train_batch_end(batch, {"loss": loss})
        callbacks.on_epoch_end(epoch, {"loss": total / steps})
    callbacks.on_train_end()


def main():
    args = _arguments()
    if args.strategy == "multi_worker":
        workers = ["localhost:%s" % port for port in args.ports.split(",")]
        os.environ["TF_CONFIG"] = json.dumps(
            {"cluster": {"worker": workers}, "task": {"type": "worker", "index": args.index}}
        )
    import tensorflow as tf

    # Before anything runs an op: collective ops are configured when the strategy is made.
    strategy = _strategy(args.strategy, tf)

    import keras
    import numpy as np

    import innspector_tb
    from innspector_tb.capture import probe_pass
    from innspector_tb.capture.callback import InnspectorCallback

    calls = [0]
    original = probe_pass.ProbePass.__call__

    def counted(self, *a, **k):
        calls[0] += 1
        return original(self, *a, **k)

    probe_pass.ProbePass.__call__ = counted  # counts, changes nothing

    rng = np.random.default_rng(0)
    y = np.arange(SAMPLES) % CLASSES
    x = rng.normal(0, 0.5, size=(SAMPLES, FEATURES)).astype(np.float32)
    x[np.arange(SAMPLES), y] += 1.5
    with strategy.scope():
        keras.utils.set_random_seed(1)
        model = keras.Sequential(
            [
                keras.Input((FEATURES,), name="features"),
                keras.layers.Dense(6, activation="relu", name="hidden"),
                keras.layers.Dense(CLASSES, activation="softmax", name="out"),
            ],
            name="distributed",
        )
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH).with_options(options)
    callback = InnspectorCallback(
        args.run_dir,
        innspector_tb.header("distributed"),
        probe=(x[:48], y[:48]),
        probe_size=48,
        attributions=False,
        time_budget=None,  # every epoch logged, whatever the machine's speed
    )
    print("CHIEF %d" % int(callback.logging), flush=True)
    if args.strategy == "mirrored":
        model.fit(data, epochs=args.epochs, verbose=0, callbacks=[callback])
    else:
        _custom_loop(model, strategy, data, callback, args.epochs, tf, keras)
    print("PROBE_CALLS %d" % calls[0], flush=True)
    print("WEIGHTS %.6f" % sum(float(np.sum(v.numpy())) for v in model.trainable_variables), flush=True)
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
