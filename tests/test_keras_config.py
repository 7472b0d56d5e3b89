"""A plain run's graph from the Keras model config it logged (store/keras_config.py): read as data only."""

import pytest

from innspector_tb.store import keras_config


def _layer(class_name, name, inbound=None, **config):
    layer = {"class_name": class_name, "module": "keras.layers", "config": {"name": name, **config}}
    if inbound is not None:
        layer["inbound_nodes"] = [
            {"args": [{"class_name": "__keras_tensor__", "config": {"keras_history": [src, 0, 0]}} for src in inbound]}
        ]
    return layer


def test_a_functional_config_gives_layers_variables_and_edges():
    config = {
        "class_name": "Functional",
        "config": {
            "name": "net",
            "layers": [
                _layer("InputLayer", "x", batch_shape=[None, 4]),
                _layer("Dense", "a", ["x"], units=3, use_bias=False),
                _layer("Dense", "b", ["x"], units=3),
                _layer("Add", "sum", ["a", "b"]),
                _layer("BatchNormalization", "bn", ["sum"], center=False),
            ],
        },
    }
    arch = keras_config.architecture_from_keras_config(config)
    variables = {layer["id"]: [v["name"] for v in layer["variables"]] for layer in arch["layers"]}
    assert variables == {
        "x": [],
        "a": ["kernel"],
        "b": ["kernel", "bias"],
        "sum": [],
        "bn": ["gamma", "moving_mean", "moving_variance"],
    }
    edges = {(e["from"], e["to"], e["to_input"]) for e in arch["edges"]}
    assert edges == {("x", "a", 0), ("x", "b", 0), ("a", "sum", 0), ("b", "sum", 1), ("sum", "bn", 0)}
    assert arch["outputs"] == [{"layer": "bn", "output_index": 0}] and arch["inputs"] == ["x"]
    assert keras_config.histogram_tag("net", "b/kernel") == "net/b/kernel/histogram"


def test_crafted_config_values_are_data_not_behaviour():
    # "__init__" as an attribute of the stand-in layer object would make building it fail.
    config = {
        "class_name": "Sequential",
        "config": {"name": "m", "layers": [_layer("Dense", "d", __init__=5, __class__=1)]},
    }
    arch = keras_config.architecture_from_keras_config(config)
    assert [v["name"] for v in arch["layers"][0]["variables"]] == ["kernel", "bias"]


@pytest.mark.parametrize(
    "config",
    [None, [], {"config": 5}, {"class_name": "Sequential", "config": {"layers": 5}}, {"config": {"layers": [5]}}],
)
def test_what_is_not_a_model_config_is_a_value_error(config):
    with pytest.raises(ValueError):
        keras_config.architecture_from_keras_config(config)
