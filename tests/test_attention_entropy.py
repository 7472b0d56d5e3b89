"""The attention entropy measure (analysis/interestingness/attention_units.py): the lowest head's entropy of
each attention layer, read from the step files; collapse ranks first, missing or non-finite data say why."""

import numpy as np
import pytest

from innspector_tb.analysis import interestingness as I


def _attention(layer, entropy, run="r", layer_type="MultiHeadAttention", unit_type="activations"):
    """A unit whose step files hold `entropy` ([samples, heads]) as its attention_entropy; None: absent."""

    def read(step, name):
        assert name == "attention_entropy"
        if entropy is None:
            raise LookupError("step %d of run %r holds no %s of layer %r" % (step, run, name, layer))
        return np.asarray(entropy, dtype=np.float32)

    return I.UnitSeries(
        run=run,
        unit="%s/%s" % (layer, unit_type),
        layer=layer,
        unit_type=unit_type,
        layer_type=layer_type,
        stats={4: {}},
        layer_datasets=read,
    )


def test_a_collapsed_head_ranks_its_layer_first():
    rng = np.random.default_rng(0)
    uniform = rng.uniform(0.95, 1.0, size=(32, 4))
    collapsed = uniform.copy()
    collapsed[:, 2] = rng.uniform(0.0, 0.1, size=32)  # one head puts each query on one key
    half = rng.uniform(0.4, 0.6, size=(32, 4))
    series = [
        _attention("block_1/attention", uniform),
        _attention("block_2/attention", collapsed),
        _attention("block_3/attention", half),
        _attention("block_4/attention", np.full((32, 4), np.nan)),
        _attention("block_5/attention", None),
        _attention("dense", uniform, layer_type="Dense"),  # not an attention layer: no row
        _attention("block_1/attention", uniform[:, :1], unit_type="activations_1"),  # a second output: no row
    ]
    answer = I.score(series, "attention_entropy")
    by_layer = {u["layer"]: u for u in answer["units"]}
    assert set(by_layer) == {"block_%d/attention" % i for i in range(1, 6)}
    ranked = sorted((u for u in answer["units"] if u["score"] is not None), key=lambda u: -u["score"])
    assert [u["layer"] for u in ranked] == ["block_2/attention", "block_3/attention", "block_1/attention"]
    top = by_layer["block_2/attention"]["detail"]
    assert top["lowest_head"] == 2 and top["step"] == 4
    assert top["entropy"] == pytest.approx(collapsed[:, 2].mean(), rel=1e-5)
    assert top["per_head"] == pytest.approx(collapsed.mean(axis=0), rel=1e-5)
    assert answer["models"] == [{"run": "r", "score": 1.0, "top_layer": "block_2/attention"}]
    assert "no finite value" in by_layer["block_4/attention"]["detail"]["reason"]
    assert "holds no attention_entropy" in by_layer["block_5/attention"]["detail"]["reason"]
    assert by_layer["block_5/attention"]["raw"] is None and by_layer["block_5/attention"]["score"] is None


def test_partly_non_finite_entropies_use_the_finite_samples():
    values = np.array([[0.2, np.nan], [0.4, 0.9], [np.inf, 0.7]])
    (unit,) = I.score([_attention("att", values)], "attention_entropy")["units"]
    assert unit["detail"]["per_head"] == pytest.approx([0.3, 0.8])
    assert unit["raw"] == pytest.approx(0.3)


def test_the_measure_is_listed_with_its_direction():
    measure = I.measure("attention_entropy")
    assert measure["higher_is"] == "less interesting" and "collapse" in measure["description"]
