// Unit tests of the "anything abnormal" top list (panels/abnormal.ts) on an answer shaped like the
// `interestingness` route's for measure=abnormal.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { abnormalTop } from "../src/panels/abnormal";
import type { InterestingnessAnswer } from "../src/types";

function unit(run: string, name: string, unitType: string, score: number, measure: string, step: number) {
  const layer = name.slice(0, name.lastIndexOf("/"));
  return {
    run,
    unit: name,
    layer,
    unit_type: unitType,
    variable_type: unitType === "activations" ? "activations" : `Dense/${unitType}`,
    layer_type: "Dense",
    raw: score,
    score,
    detail: { measure, value: 1.5, score, step },
  };
}

const answer: InterestingnessAnswer = {
  measure: "abnormal",
  step: 4,
  steps: { a: 4, b: 4 },
  normalisation: "reference",
  aggregation: "max",
  units: [
    unit("a", "culprit/activations", "activations", 0.97, "scale_jump", 0),
    unit("a", "culprit/kernel", "kernel", 0.95, "init_scale", 0),
    unit("a", "dense_b/activations", "activations", 0.6, "skew", 3),
    unit("b", "frozen/kernel", "kernel", 0.99, "frozen", 4),
  ],
  layers: [
    { run: "a", layer: "culprit", layer_type: "Dense", score: 0.97, top_unit: "culprit/activations" },
    { run: "a", layer: "dense_b", layer_type: "Dense", score: 0.6, top_unit: "dense_b/activations" },
    { run: "a", layer: "empty", layer_type: "Dense", score: null, top_unit: null },
    { run: "b", layer: "frozen", layer_type: "Dense", score: 0.99, top_unit: "frozen/kernel" },
  ],
  models: [],
  experiments: [],
};

describe("the anything-abnormal top list", () => {
  it("ranks the layers of every model, naming the driving indicator and its step", () => {
    const top = abnormalTop(answer, null);
    assert.deepEqual(
      top.map((e) => [e.run, e.layer, e.indicator, e.step]),
      [
        ["b", "frozen", "frozen", 4],
        ["a", "culprit", "scale_jump", 0],
        ["a", "dense_b", "skew", 3],
      ],
    );
    assert.equal(top[1].label, "a / culprit: activation scale jump (step 0)");
  });

  it("opens the statistics of a variable, the histogram of a layer's activations", () => {
    const [frozen, culprit] = abnormalTop(answer, null);
    assert.equal(frozen.tool, "statistics");
    assert.deepEqual([frozen.unit.kind, frozen.unit.layer, frozen.unit.variable, frozen.unit.key], ["variable", "frozen", "kernel", "var:frozen/kernel"]);
    assert.deepEqual(frozen.options, {});
    assert.equal(culprit.tool, "histogram");
    assert.deepEqual(culprit.options, { step: "all" });
    assert.deepEqual([culprit.unit.kind, culprit.unit.layer, culprit.unit.key], ["layer", "culprit", "layer:culprit"]);
  });

  it("keeps to one model at L2 and to n entries", () => {
    assert.deepEqual(abnormalTop(answer, "a").map((e) => e.layer), ["culprit", "dense_b"]);
    assert.equal(abnormalTop(answer, null, 1).length, 1);
  });
});
