// Unit tests of the overlays' data (overlayData.ts): interestingness scores per drawn unit and
// localization badges, on excerpts shaped like the `interestingness` and `structures` answers.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { buildModelGraph } from "../src/graph/modelGraph";
import {
  layerBadges,
  layerOfUnit,
  layerScores,
  localizationLabel,
  localizationOptions,
  modelBadges,
  modelScores,
  type Badge,
} from "../src/overlayData";
import type { InterestingnessAnswer, StructuresAnswer } from "../src/types";
import { architecture, convInner, denseInner, edge, layer, namespace, opInner } from "./archFixtures";

type UnitRow = InterestingnessAnswer["units"][number];
type LayerRow = InterestingnessAnswer["layers"][number];

function unit(run: string, path: string, unit_type: string, score: number | null): UnitRow {
  const layer = path.slice(0, path.lastIndexOf("/"));
  const variable_type = path.slice(path.lastIndexOf("/") + 1);
  return { run, unit: path, layer, unit_type, variable_type, layer_type: "Dense", score, raw: score === null ? null : score * 2, detail: null };
}

function layerRow(run: string, id: string, score: number | null, layer_type = "Dense"): LayerRow {
  return { run, layer: id, layer_type, score, top_unit: null };
}

// -- layerOfUnit

describe("layerOfUnit", () => {
  const ids = new Set(["encoder/dense_1", "dense", "image", "a/b"]);

  it("finds the layer at the start of a unit path", () => {
    assert.equal(layerOfUnit("encoder/dense_1/kernel", ids), "encoder/dense_1");
    assert.equal(layerOfUnit("encoder/dense_1/activations", ids), "encoder/dense_1");
    assert.equal(layerOfUnit("encoder/dense_1", ids), "encoder/dense_1");
    assert.equal(layerOfUnit("dense/bias", ids), "dense");
    assert.equal(layerOfUnit("a/b/c/d", ids), "a/b");
  });

  it("matches whole path segments only", () => {
    assert.equal(layerOfUnit("dense_1/kernel", ids), null);
    assert.equal(layerOfUnit("encoder/dense_10/kernel", ids), null);
    assert.equal(layerOfUnit("imagery", ids), null);
  });

  it("gives null for unknown units", () => {
    assert.equal(layerOfUnit("decoder/dense_1/kernel", ids), null);
    assert.equal(layerOfUnit("", ids), null);
    assert.equal(layerOfUnit("/kernel", ids), null);
    assert.equal(layerOfUnit("kernel", new Set()), null);
  });
});

// -- scores

describe("modelScores", () => {
  it("keys models by run and experiments by id", () => {
    const answer: InterestingnessAnswer = {
      measure: "variance",
      step: 3,
      steps: {},
      normalisation: "rank",
      aggregation: "max",
      units: [],
      layers: [],
      models: [
        { run: "cnn_skip", score: 0.9594594594594594, top_layer: "dense_hidden" },
        { run: "vae_90_10", score: 1.0, top_layer: "sampling" },
        { run: "broken", score: null, top_layer: null },
      ],
      experiments: [{ experiment: "0503ef6a-7167-58cd-8556-de22fddcc332", score: 1.0, top_run: "cnn_rebalanced" }],
    };
    assert.deepEqual(
      modelScores(answer),
      new Map<string, number | null>([
        ["model:cnn_skip", 0.9594594594594594],
        ["model:vae_90_10", 1.0],
        ["model:broken", null],
        ["experiment:0503ef6a-7167-58cd-8556-de22fddcc332", 1.0],
      ]),
    );
  });
});

// A small VAE-like model: the encoder's Dense layers have activation ops, the decoder's Reshape has none.
function vaeGraph() {
  return buildModelGraph(
    architecture(
      [
        layer("image", { type: "InputLayer", inner: { nodes: [{ id: "input", kind: "input", label: "input" }], edges: [] } }),
        layer("encoder/dense_1", { namespace: "encoder" }),
        layer("encoder/dense_2", { namespace: "encoder" }),
        layer("decoder/reshape", { namespace: "decoder", type: "Reshape", inner: opInner("reshape") }),
        layer("decoder/out", { namespace: "decoder" }),
        layer("head", { inner: denseInner("softmax") }),
      ],
      [
        edge("image", "encoder/dense_1"),
        edge("encoder/dense_1", "encoder/dense_2"),
        edge("encoder/dense_2", "decoder/reshape"),
        edge("decoder/reshape", "decoder/out"),
        edge("decoder/out", "head"),
      ],
      [namespace("encoder", null), namespace("decoder", null)],
    ),
  );
}

function vaeInterest(): InterestingnessAnswer {
  return {
    measure: "variance",
    step: 3,
    steps: {},
    normalisation: "rank",
    aggregation: "max",
    layers: [
      layerRow("vae", "image", 0.1, "InputLayer"),
      layerRow("vae", "encoder/dense_2", 0.9),
      layerRow("vae", "encoder/dense_1", 0.4),
      layerRow("vae", "decoder/reshape", null, "Reshape"),
      layerRow("vae", "decoder/out", 0.2),
      layerRow("vae", "head", 0.6),
      layerRow("other", "head", 1.0), // another run: ignored
      layerRow("vae", "ghost", 0.99), // not in the graph: ignored
    ],
    units: [
      unit("vae", "encoder/dense_1/kernel", "kernel", 0.3),
      unit("vae", "encoder/dense_1/bias", "bias", 0.7),
      unit("vae", "encoder/dense_1/activations", "activations", 0.8),
      unit("vae", "decoder/reshape/activations", "activations", 0.5), // no activation op: not drawn
      unit("vae", "head/activations", "activations", null),
      unit("vae", "ghost/kernel", "kernel", 0.5),
      unit("other", "head/kernel", "kernel", 0.5),
      unit("vae", "head", "kernel", 0.5), // the layer itself, no variable: nothing to key
    ],
    models: [{ run: "vae", score: 0.9, top_layer: "encoder/dense_2" }],
    experiments: [],
  };
}

describe("layerScores", () => {
  const graph = vaeGraph();

  it("keys layers, variables and activation ops; closed groups get the max of their layers", () => {
    const scores = layerScores(vaeInterest(), "vae", graph, new Set());
    assert.deepEqual(
      scores,
      new Map<string, number | null>([
        ["layer:image", 0.1],
        ["layer:encoder/dense_2", 0.9],
        ["group:encoder", 0.9],
        ["layer:encoder/dense_1", 0.4],
        ["layer:decoder/reshape", null],
        ["group:decoder", 0.2],
        ["layer:decoder/out", 0.2],
        ["layer:head", 0.6],
        ["var:encoder/dense_1/kernel", 0.3],
        ["var:encoder/dense_1/bias", 0.7],
        ["op:encoder/dense_1/activation", 0.8],
        ["op:head/activation", null],
      ]),
    );
  });

  it("gives open groups no score", () => {
    const scores = layerScores(vaeInterest(), "vae", graph, new Set(["encoder", "decoder"]));
    assert.ok(![...scores.keys()].some((k) => k.startsWith("group:")));
    assert.equal(scores.get("layer:encoder/dense_2"), 0.9);
    const half = layerScores(vaeInterest(), "vae", graph, new Set(["encoder"]));
    assert.equal(half.get("group:decoder"), 0.2);
    assert.equal(half.has("group:encoder"), false);
  });

  it("keeps a group null only when all its layers are null, whatever the order", () => {
    const answer = vaeInterest();
    answer.layers = [layerRow("vae", "decoder/out", 0.2), layerRow("vae", "decoder/reshape", null)];
    assert.equal(layerScores(answer, "vae", graph, new Set()).get("group:decoder"), 0.2);
    answer.layers = [layerRow("vae", "decoder/out", null), layerRow("vae", "decoder/reshape", null)];
    const scores = layerScores(answer, "vae", graph, new Set());
    assert.equal(scores.has("group:decoder"), true);
    assert.equal(scores.get("group:decoder"), null);
  });

  it("uses the unit path when the unit type is not 'activations'", () => {
    const answer = vaeInterest();
    answer.layers = [];
    answer.units = [unit("vae", "encoder/dense_2/activations", "output", 0.25)];
    assert.deepEqual(layerScores(answer, "vae", graph, new Set()), new Map([["op:encoder/dense_2/activation", 0.25]]));
  });

  it("gives nothing for another run", () => {
    assert.equal(layerScores(vaeInterest(), "nobody", graph, new Set()).size, 0);
  });

  it("lands a hidden layer's score on its closed block", () => {
    // 45 unprefixed layers: chunked in pairs (layer42 and layer43 share a block), layer44 left alone.
    const names = Array.from({ length: 45 }, (_, i) => `layer${i}`);
    const big = buildModelGraph(architecture(names.map((n) => layer(n)), []));
    const block = big.groupOf.get("layer42")!;
    assert.ok(block?.startsWith("block:"));
    assert.equal(big.groupOf.get("layer43"), block);
    assert.equal(big.groupOf.get("layer44"), null);
    const answer: InterestingnessAnswer = {
      measure: "m",
      step: 1,
      steps: {},
      normalisation: "rank",
      aggregation: "max",
      units: [],
      layers: [layerRow("big", "layer43", 0.3), layerRow("big", "layer42", 0.7), layerRow("big", "layer0", 0.1), layerRow("big", "layer44", 0.5)],
      models: [],
      experiments: [],
    };
    const scores = layerScores(answer, "big", big, new Set());
    assert.equal(scores.get(`group:${block}`), 0.7);
    assert.equal(scores.get(`group:${big.groupOf.get("layer0")}`), 0.1);
    assert.equal(scores.get("layer:layer44"), 0.5);
    assert.equal([...scores.keys()].filter((k) => k.startsWith("group:")).length, 2);
    // Opened, the block shows its layers' own scores and has none itself.
    assert.equal(layerScores(answer, "big", big, new Set([block])).has(`group:${block}`), false);
  });
});

// -- badges

// Propagated counts as in the `structures` answer without a run (excerpt of the real sample).
function propagated(): StructuresAnswer["propagated"] {
  return {
    models: {
      cnn_skip: {
        structures: { skip_connection: 1, multi_branch: 0 },
        layer: { InputLayer: 1, Conv2D: 2, Add: 1, MaxPooling2D: 1, Flatten: 1, Dense: 2 },
        op: {},
        variable: { kernel: 4, bias: 4 },
        activation: { relu: 3, softmax: 1 },
      },
      cnn_small: {
        structures: { skip_connection: 0, multi_branch: 0 },
        layer: { InputLayer: 1, Conv2D: 1, MaxPooling2D: 1, Flatten: 1, Dense: 2 },
        op: {},
        variable: { kernel: 3, bias: 3 },
        activation: { relu: 2, softmax: 1 },
      },
      vae_90_10: {
        structures: { skip_connection: 0, multi_branch: 1 },
        layer: { InputLayer: 1, Flatten: 1, Dense: 5, Sampling: 1, Reshape: 1 },
        op: {},
        variable: { kernel: 5, bias: 5 },
        activation: { relu: 2, sigmoid: 1 },
      },
    },
    experiments: {},
    total: {
      models: 3,
      models_with: { skip_connection: 1, multi_branch: 1 },
      structures: { skip_connection: 1, multi_branch: 1 },
      layer: {},
      op: {},
      variable: {},
      activation: {},
    },
  };
}

const badge = (count: number, ...labels: string[]): Badge => ({ count, labels });

describe("localizationLabel", () => {
  it("drops the category and underscores", () => {
    assert.equal(localizationLabel("structure:skip_connection"), "skip connection");
    assert.equal(localizationLabel("layer:Conv2D"), "Conv2D");
    assert.equal(localizationLabel("variable:moving_mean"), "moving mean");
    assert.equal(localizationLabel("op:a:b"), "a:b");
    assert.equal(localizationLabel("plain_key"), "plain key");
  });
});

describe("modelBadges", () => {
  const experimentOf = new Map([
    ["cnn_skip", "E1"],
    ["cnn_small", "E1"],
    ["vae_90_10", "E2"],
  ]);

  it("counts the selected unit types and structures per model and experiment", () => {
    const badges = modelBadges({ propagated: propagated() }, ["layer:Conv2D", "structure:skip_connection", "structure:multi_branch"], experimentOf);
    assert.deepEqual(
      badges,
      new Map([
        ["model:cnn_skip", badge(3, "Conv2D", "skip connection")],
        ["experiment:E1", badge(4, "Conv2D", "skip connection")],
        ["model:cnn_small", badge(1, "Conv2D")],
        ["model:vae_90_10", badge(1, "multi branch")],
        ["experiment:E2", badge(1, "multi branch")],
      ]),
    );
  });

  it("counts variables and activations, and leaves runs without an experiment alone", () => {
    const badges = modelBadges({ propagated: propagated() }, ["variable:kernel", "activation:sigmoid"], new Map([["cnn_skip", "E1"]]));
    assert.deepEqual(
      badges,
      new Map([
        ["model:cnn_skip", badge(4, "kernel")],
        ["experiment:E1", badge(4, "kernel")],
        ["model:cnn_small", badge(3, "kernel")],
        ["model:vae_90_10", badge(6, "kernel", "sigmoid")],
      ]),
    );
  });

  it("gives nothing for nothing selected or unknown keys", () => {
    assert.equal(modelBadges({ propagated: propagated() }, [], experimentOf).size, 0);
    assert.equal(modelBadges({ propagated: propagated() }, ["layer:LSTM", "bogus:x", "structure:loop"], experimentOf).size, 0);
  });
});

// cnn_skip with its convolutions and the skip connection inside a nested model "features".
function cnnGraph() {
  return buildModelGraph(
    architecture(
      [
        layer("image", { type: "InputLayer" }),
        layer("features/conv_1", { type: "Conv2D", namespace: "features", inner: convInner() }),
        layer("features/conv_2", { type: "Conv2D", namespace: "features", inner: convInner([3, 3, 16, 16]) }),
        layer("features/skip_add", { type: "Add", namespace: "features", inner: opInner("add", 2) }),
        layer("pool", { type: "MaxPooling2D" }),
        layer("dense_hidden"),
        layer("classifier", { inner: denseInner("softmax") }),
      ],
      [
        edge("image", "features/conv_1"),
        edge("features/conv_1", "features/conv_2"),
        edge("features/conv_1", "features/skip_add"),
        edge("features/conv_2", "features/skip_add"),
        edge("features/skip_add", "pool"),
        edge("pool", "dense_hidden"),
        edge("dense_hidden", "classifier"),
      ],
      [namespace("features", null)],
    ),
  );
}

function cnnStructures(): StructuresAnswer {
  return {
    run: "cnn_skip",
    unit_types: {
      layer: { InputLayer: ["image"], Conv2D: ["features/conv_1", "features/conv_2"], Dense: ["dense_hidden", "classifier"] },
      op: { activation: ["features/conv_1", "features/conv_2", "dense_hidden", "classifier"] },
      variable: {
        kernel: ["features/conv_1/kernel", "features/conv_2/kernel", "dense_hidden/kernel", "classifier/kernel", "ghost/kernel"],
      },
      activation: { relu: ["features/conv_1", "features/conv_2", "dense_hidden"], softmax: ["classifier"] },
    },
    structures: [
      {
        kind: "skip_connection",
        from: "features/conv_1",
        to: "features/skip_add",
        layers: ["features/conv_1", "features/conv_2", "features/skip_add"],
        namespace: "features",
      },
      { kind: "multi_branch", layers: ["dense_hidden", "classifier", "ghost"], namespace: "" },
    ],
    counts: {
      layer: { InputLayer: 1, Conv2D: 2, Add: 1, Dense: 2, Removed: 0 },
      op: {},
      variable: { kernel: 4 },
      activation: {},
      structures: { skip_connection: 1, multi_branch: 0 },
      by_namespace: { "": { skip_connection: 1, multi_branch: 0 } },
    },
    propagated: propagated(),
  };
}

describe("layerBadges", () => {
  const graph = cnnGraph();

  it("counts unit types per visible layer; hidden layers count on their closed group", () => {
    const badges = layerBadges(cnnStructures(), ["layer:Conv2D", "variable:kernel"], graph, new Set());
    assert.deepEqual(
      badges,
      new Map([
        ["group:features", badge(4, "Conv2D", "kernel")],
        ["layer:dense_hidden", badge(1, "kernel")],
        ["layer:classifier", badge(1, "kernel")],
      ]),
    );
  });

  it("puts badges on the layers of an open group", () => {
    const badges = layerBadges(cnnStructures(), ["layer:Conv2D", "variable:kernel"], graph, new Set(["features"]));
    assert.deepEqual(
      badges,
      new Map([
        ["layer:features/conv_1", badge(2, "Conv2D", "kernel")],
        ["layer:features/conv_2", badge(2, "Conv2D", "kernel")],
        ["layer:dense_hidden", badge(1, "kernel")],
        ["layer:classifier", badge(1, "kernel")],
      ]),
    );
  });

  it("marks the layers of a structure; a closed group counts the structure once", () => {
    assert.deepEqual(
      layerBadges(cnnStructures(), ["structure:skip_connection"], graph, new Set(["features"])),
      new Map([
        ["layer:features/conv_1", badge(1, "skip connection")],
        ["layer:features/conv_2", badge(1, "skip connection")],
        ["layer:features/skip_add", badge(1, "skip connection")],
      ]),
    );
    assert.deepEqual(
      layerBadges(cnnStructures(), ["structure:skip_connection"], graph, new Set()),
      new Map([["group:features", badge(1, "skip connection")]]),
    );
    // Unknown layers of a structure are skipped.
    assert.deepEqual(
      layerBadges(cnnStructures(), ["structure:multi_branch"], graph, new Set()),
      new Map([
        ["layer:dense_hidden", badge(1, "multi branch")],
        ["layer:classifier", badge(1, "multi branch")],
      ]),
    );
  });

  it("counts activations and ops by layer", () => {
    assert.deepEqual(
      layerBadges(cnnStructures(), ["activation:softmax", "op:activation"], graph, new Set()),
      new Map([
        ["layer:classifier", badge(2, "softmax", "activation")],
        ["group:features", badge(2, "activation")],
        ["layer:dense_hidden", badge(1, "activation")],
      ]),
    );
  });

  it("gives nothing for unknown keys or an answer without unit types", () => {
    assert.equal(layerBadges(cnnStructures(), ["layer:LSTM", "bogus:x", "structure:loop"], graph, new Set()).size, 0);
    assert.equal(layerBadges({ propagated: propagated() }, ["layer:Conv2D", "structure:skip_connection"], graph, new Set()).size, 0);
    assert.equal(layerBadges(cnnStructures(), [], graph, new Set()).size, 0);
  });
});

describe("localizationOptions", () => {
  it("lists one run's counts, keeping structures found zero times and dropping other zeros", () => {
    assert.deepEqual(localizationOptions(cnnStructures(), "cnn_skip"), [
      { key: "layer:InputLayer", category: "layer", type: "InputLayer", count: 1 },
      { key: "layer:Conv2D", category: "layer", type: "Conv2D", count: 2 },
      { key: "layer:Add", category: "layer", type: "Add", count: 1 },
      { key: "layer:Dense", category: "layer", type: "Dense", count: 2 },
      { key: "variable:kernel", category: "variable", type: "kernel", count: 4 },
      { key: "structure:skip_connection", category: "structure", type: "skip_connection", count: 1 },
      { key: "structure:multi_branch", category: "structure", type: "multi_branch", count: 0 },
    ]);
  });

  it("sums the propagated counts over the models without a run", () => {
    const options = localizationOptions({ propagated: propagated() }, null);
    const byKey = new Map(options.map((o) => [o.key, o.count]));
    assert.equal(byKey.get("layer:Conv2D"), 3);
    assert.equal(byKey.get("layer:Dense"), 9);
    assert.equal(byKey.get("layer:Sampling"), 1);
    assert.equal(byKey.get("variable:kernel"), 12);
    assert.equal(byKey.get("activation:relu"), 7);
    assert.equal(byKey.get("structure:skip_connection"), 1);
    assert.equal(byKey.get("structure:multi_branch"), 1);
    assert.equal(options.length, 8 + 2 + 3 + 2);
    assert.equal(new Set(options.map((o) => o.key)).size, options.length);
    for (const o of options) assert.equal(o.key, `${o.category}:${o.type}`);
  });

  it("uses the totals when a run is given but the answer has no per-run counts", () => {
    assert.deepEqual(localizationOptions({ propagated: propagated() }, "cnn_skip"), localizationOptions({ propagated: propagated() }, null));
  });

  it("uses the totals, not the run's counts, without a run", () => {
    const options = localizationOptions(cnnStructures(), null);
    assert.equal(options.find((o) => o.key === "layer:Conv2D")!.count, 3);
  });
});
