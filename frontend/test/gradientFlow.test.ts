// Unit tests of the Gradient Flow tool (widgets/tools/gradientFlow.ts) on answers shaped like the
// `gradients` route's.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import * as vega from "vega";
import { expressionInterpreter } from "vega-interpreter";
import { compile, type TopLevelSpec } from "vega-lite";

import type { GradientsAnswer } from "../src/types";
import type { WidgetContent } from "../src/widgets/types";
import { gradientFlowContent, gradientFlowTool, gradientRows } from "../src/widgets/tools/gradientFlow";

/** The chart's SVG, compiled and rendered by Vega in node as the widget panel does. */
async function renderSpec(content: WidgetContent): Promise<string> {
  const compiled = compile(content.spec as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled, undefined, { ast: true }), {
    expr: expressionInterpreter as unknown as vega.ViewOptions["expr"],
    renderer: "none",
  });
  view.data("table", content.rows);
  await view.runAsync();
  return view.toSVG();
}

const answer: GradientsAnswer = {
  run: "deep",
  steps: [0, 1],
  fields: ["grad_norm", "grad_rms", "weight_norm", "update_ratio", "update_ratio_per_batch"],
  variables: [
    { unit: "l0/kernel", layer: "l0", variable: "kernel", values: { grad_rms: [1e-6, 0], update_ratio_per_batch: [null, 1e-3] } },
    { unit: "l0/bias", layer: "l0", variable: "bias", values: { grad_rms: [1e-3, 1e-3], update_ratio_per_batch: [null, 1e-3] } },
    { unit: "out/kernel", layer: "out", variable: "kernel", values: { grad_rms: [0.01, null], update_ratio_per_batch: [null, 2e-3] } },
  ],
};

describe("the Gradient Flow tool", () => {
  it("has a kernel x step row for every logged step, log10 of the gradient, null where there is none", () => {
    const rows = gradientRows([answer]);
    assert.deepEqual(
      rows.map((r) => [r.variable, r.step, r.log10_grad_rms, r.update_ratio_per_batch]),
      [
        ["l0/kernel", 0, -6, null],
        ["l0/kernel", 1, null, 1e-3],
        ["out/kernel", 0, -2, null],
        ["out/kernel", 1, null, 2e-3],
      ],
    );
  });

  it("names the model in front when several are shown, and renders its heatmap", async () => {
    const rows = gradientRows([answer, { ...answer, run: "other" }]);
    assert.equal(rows[0].variable, "deep / l0/kernel");
    assert.equal(rows.at(-1)?.variable, "other / out/kernel");
    const content = gradientFlowContent([answer]);
    assert.match(content.caption ?? "", /^deep: kernels x logged steps/);
    const svg = await renderSpec(content);
    assert.match(svg, /^<svg/);
    assert.match(svg, /l0\/kernel/);
  });

  it("applies to models", () => {
    assert.equal(gradientFlowTool.appliesTo({ kind: "model", level: "L3", runs: ["deep"], key: "model:deep", label: "deep" }, {} as never), true);
    assert.equal(gradientFlowTool.appliesTo({ kind: "layer", level: "L2", runs: ["deep"], layer: "l0", key: "layer:l0", label: "l0" }, {} as never), false);
  });
});
