"""Builds the layer-transition corpus behind the structural interestingness measure.

    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python tools/build_layer_corpus.py [--skip-large]

Builds every ``keras.applications`` model with ``weights=None`` (random
initialisation: nothing is downloaded), extracts its architecture with
``innspector_tb.capture.architecture.extract_architecture`` and counts, over the
architecture's data-flow edges between leaf layers, how often a layer of type A
feeds a layer of type B. Writes ``innspector_tb/data/layer_transitions.json``:

    {"source": "...", "keras_version": "...", "models": [names built],
     "skipped": {name: reason}, "seconds": float, "edges": int,
     "counts": {"Conv2D": {"BatchNormalization": 123, ...}, ...}}

All 40 applications of Keras 3.15 build in about 100 s on two cores (2.7 GB peak
memory), so all are built. ``--skip-large`` leaves out the five largest variants
(listed in the JSON's "skipped"): their layer types and transitions are those of
smaller siblings of the same family, only repeated more often. ``--only NAME ...``
builds the named applications (for trying things out, not for the committed
file). The JSON is plain data: ``innspector_tb.analysis.interestingness`` reads it with
``json`` only, nothing in it is ever executed.
"""

import argparse
import gc
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

OUTPUT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "innspector_tb", "data", "layer_transitions.json"
)

# The largest variants (--skip-large): each is a bigger copy of a smaller model
# of its family that is built anyway (same layer types and transitions).
LARGE = {
    "ConvNeXtXLarge": "largest ConvNeXt (350M parameters); ConvNeXtTiny..Large built",
    "ConvNeXtLarge": "large ConvNeXt (198M parameters); ConvNeXtTiny..Base built",
    "EfficientNetV2L": "largest EfficientNetV2; EfficientNetV2B0..S..M built",
    "EfficientNetB7": "largest EfficientNet (66M parameters); EfficientNetB0..B6 built",
    "NASNetLarge": "large NASNet (89M parameters, 1000+ layers); NASNetMobile built",
}

# Constructors that need an input shape with weights=None get this one.
FALLBACK_INPUT_SHAPE = (224, 224, 3)


def application_names(keras):
    return sorted(n for n in dir(keras.applications) if n[:1].isupper() and callable(getattr(keras.applications, n)))


def build(keras, name):
    constructor = getattr(keras.applications, name)
    try:
        return constructor(weights=None)
    except (ValueError, TypeError) as exc:
        print(f"  {name}: {exc}; retrying with input_shape={FALLBACK_INPUT_SHAPE}", flush=True)
        return constructor(weights=None, input_shape=FALLBACK_INPUT_SHAPE)


def count_transitions(arch, counts):
    """Adds the arch's producer-type -> consumer-type edge counts to `counts`.

    Uses the same edge reading as the structural measure
    (``interestingness.layer_transitions``: nested models' InputLayers are
    pass-throughs), so corpus and scored models count alike.
    """
    from innspector_tb.analysis.interestingness import layer_transitions

    pairs, types, _ = layer_transitions(arch)
    for source, target in pairs:
        row = counts.setdefault(types[source], {})
        row[types[target]] = row.get(types[target], 0) + 1
    return len(pairs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-large", action="store_true", help="leave out the largest variants to save build time")
    parser.add_argument("--only", nargs="*", help="build only these applications")
    parser.add_argument("--output", default=None, help=f"where to write the JSON (default {OUTPUT})")
    args = parser.parse_args(argv)
    if args.only and args.output is None:
        parser.error("--only builds a partial corpus: give --output, the committed file holds every application")
    args.output = args.output or OUTPUT

    import keras

    from innspector_tb.capture.architecture import extract_architecture

    names = args.only or application_names(keras)
    counts, built, skipped, edges = {}, [], {}, 0
    started = time.perf_counter()
    for name in names:
        if name in LARGE and args.skip_large:
            skipped[name] = "skipped for build time: " + LARGE[name]
            print(f"{name}: skipped (large variant)", flush=True)
            continue
        t0 = time.perf_counter()
        try:
            model = build(keras, name)
            arch = extract_architecture(model)
        except Exception as exc:  # one odd constructor must not stop the corpus
            skipped[name] = f"failed: {type(exc).__name__}: {exc}"
            print(f"{name}: FAILED ({type(exc).__name__}: {exc})", flush=True)
            continue
        finally:
            model = None
            keras.backend.clear_session()
            gc.collect()
        n = count_transitions(arch, counts)
        edges += n
        built.append(name)
        print(f"{name}: {len(arch['layers'])} layers, {n} edges, {time.perf_counter() - t0:.1f} s", flush=True)
    seconds = time.perf_counter() - started

    result = {
        "source": (
            "layer-type transitions (producer type -> consumer type over the "
            "data-flow edges between leaf layers; top-level InputLayers are producers, "
            "nested models' InputLayers are pass-throughs) of the "
            "keras.applications models built with weights=None, extracted with "
            "innspector_tb.capture.architecture.extract_architecture by "
            "tools/build_layer_corpus.py"
        ),
        "keras_version": keras.__version__,
        "models": built,
        "skipped": skipped,
        "seconds": round(seconds, 1),
        "edges": edges,
        "counts": {a: dict(sorted(row.items())) for a, row in sorted(counts.items())},
    }
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    tmp = args.output + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1, sort_keys=False)
        f.write("\n")
    os.replace(tmp, args.output)
    print(f"{len(built)} models, {edges} edges, {len(counts)} producer types, {seconds:.0f} s -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
