// Colouring the tree of models by a hyper-parameter or a final metric.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { divergingColor, MISSING_COLOR } from "../src/colors";
import type { Model } from "../src/types";
import { colorByOptions, colorsBy, tint } from "../src/views/colorBy";

function model(run: string, hparams: Record<string, unknown>, loss?: number): Model {
  return {
    run, id: run, name: run, label: run, parents: [], hparams, steps: [0], params: null, runtime: null, layer_count: 1,
    classes: [], glyph: [], attributions: null, errors: [], plain: false, series_runs: [run],
    latest_metrics: loss === undefined ? {} : { loss: { step: 3, value: loss } },
  };
}

const MODELS = [model("a", { lr: 0.1, optimizer: "sgd" }, 0.5), model("b", { lr: 0.01, optimizer: "adam" }, 1.5), model("c", { nested: { x: 1 } })];

describe("colour by", () => {
  it("offers every scalar hyper-parameter and final metric", () => {
    assert.deepEqual(colorByOptions(MODELS).map((o) => o.key), ["hparam:lr", "hparam:optimizer", "metric:loss"]);
  });

  it("numbers on the blue-to-red scale over their range, a missing value grey", () => {
    const { fills, legend } = colorsBy(MODELS, "metric:loss");
    assert.equal(fills.get("a"), divergingColor(0));
    assert.equal(fills.get("b"), divergingColor(1));
    assert.equal(fills.get("c"), MISSING_COLOR);
    assert.match(legend, /blue 0\.5 … red 1\.5/);
    assert.equal(colorsBy(MODELS, "hparam:lr").fills.get("a"), divergingColor(1));
  });

  it("tints towards white for the box", () => {
    assert.equal(tint("#000000", 0.5), "#808080");
    assert.equal(tint("#ffffff"), "#ffffff");
  });

  it("other values a colour each", () => {
    const { fills, legend } = colorsBy(MODELS, "hparam:optimizer");
    assert.notEqual(fills.get("a"), fills.get("b"));
    assert.equal(fills.get("c"), MISSING_COLOR);
    assert.match(legend, /2 values: adam, sgd/);
  });
});
