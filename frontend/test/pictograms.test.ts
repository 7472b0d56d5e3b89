import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { CATEGORY_COLORS, opCategory, pictogramPath } from "../src/pictograms";

// Every op the inner-graph builders (innspector_tb/format/inner_ops.py) emit for composite layers.
const COMPOSITE_OPS = [
  "attention_scores",
  "attention_softmax",
  "attention_sum",
  "gate",
  "state",
  "interpolate",
  "last_step",
  "reverse",
  "time_steps",
  "pack",
];

describe("pictograms of composite layers' ops", () => {
  it("draws each op with a pictogram of its own, not the generic call box", () => {
    const generic = pictogramPath({ id: "x", kind: "op", label: "x", op: "call" });
    for (const op of COMPOSITE_OPS) {
      assert.notEqual(pictogramPath({ id: op, kind: "op", label: op, op }), generic, op);
    }
  });

  it("colours attention and recurrent steps by their own categories", () => {
    assert.equal(opCategory("attention_softmax"), "attention");
    assert.equal(opCategory("attention_scores"), "attention");
    assert.equal(opCategory("gate"), "recurrent");
    assert.equal(opCategory("state"), "recurrent");
    assert.equal(opCategory("matmul"), "linear");
    for (const category of ["attention", "recurrent"]) assert.match(CATEGORY_COLORS[category] ?? "", /^#/);
  });
});
