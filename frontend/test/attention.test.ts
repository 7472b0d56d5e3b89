// The Attention tool's pure parts: what is shown, the entropy summary per head and class, the heatmap rows.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import type { DataAnswer } from "../src/types";
import { entropySummary, scoreRows, scoresRequest, shownOf } from "../src/widgets/tools/attention";

function answer(value: { shape: number[]; data: unknown }, label?: number[]): DataAnswer {
  const result: Record<string, unknown> = { value: { dtype: "float32", ...value } };
  if (label) result.label = { dtype: "int64", shape: [label.length], data: label };
  return { run: "r", unit: {}, steps: [3], result } as unknown as DataAnswer;
}

describe("attention tool", () => {
  it("summarises each head's entropy over the probe and per class", () => {
    const entropy = answer({ shape: [4, 2], data: [[1, 0.2], [0.5, 0.4], [0.9, null], [0.6, 0.0]] }, [0, 1, 0, 1]);
    const summary = entropySummary(entropy);
    assert.equal(summary.heads, 2);
    assert.deepEqual(summary.overall.map((v) => +v.toFixed(4)), [0.75, 0.2]);
    assert.deepEqual(summary.byClass.map((c) => [c.cls, c.count, c.perHead.map((v) => +v.toFixed(4))]), [
      [0, 2, [0.95, 0.2]],
      [1, 2, [0.55, 0.2]],
    ]);
  });

  it("makes a row per head, query and key", () => {
    const scores = answer({ shape: [2, 1, 2], data: [[[0.25, 0.75]], [[1, 0]]] });
    assert.deepEqual(scoreRows(scores), [
      { head: 0, query: 0, key: 0, value: 0.25 },
      { head: 0, query: 0, key: 1, value: 0.75 },
      { head: 1, query: 0, key: 0, value: 1 },
      { head: 1, query: 0, key: 1, value: 0 },
    ]);
  });

  it("shows a chosen sample or class, else the first sample", () => {
    assert.deepEqual(shownOf({}, [4, 7]), { sample: 4 });
    assert.deepEqual(shownOf({ attention: 7 }, [4, 7]), { sample: 7 });
    assert.deepEqual(shownOf({ attention: 9 }, [4, 7]), { sample: 4 });
    assert.deepEqual(shownOf({ attention: "class:3" }, [4, 7]), { cls: 3 });
    assert.deepEqual(scoresRequest("r", "l", { cls: 3 }, { step: 5 }).unit, { kind: "attention", layer: "l", class: 3 });
    assert.deepEqual(scoresRequest("r", "l", { sample: 2 }, {}), { run: "r", unit: { kind: "attention", layer: "l", sample: 2 }, steps: "last" });
  });
});
