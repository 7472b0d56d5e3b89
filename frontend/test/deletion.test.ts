// The deletion curves of the Attribution widget (issue 14): rows of the mean curves, the areas in
// order, and the widget's spec with the curves compiled by Vega-Lite and rendered by Vega in node.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import * as vega from "vega";
import { expressionInterpreter } from "vega-interpreter";
import { compile } from "vega-lite";

import { attributionSpec, methodLabel, pixelRows } from "../src/widgets/tools/attribution";
import { areaRows, curveRows, type DeletionCurves, formatArea, RANDOM_LABEL } from "../src/widgets/tools/deletionCurves";

const deletion: DeletionCurves = {
  step: 4,
  target: "predicted",
  fractions: [0, 0.5, 1],
  baseline: 0,
  undefined: 1,
  curves: [
    { method: "saliency", mean: [1, 0.6, 0], auc: [0.55, null], model_auc: 0.55 },
    { method: "lrp_epsilon", mean: [1, 0.2, 0], auc: [0.35, null], model_auc: 0.35 },
    { method: "random", mean: [1, null, 0], auc: [0.7, null], model_auc: 0.7 },
  ],
};

describe("deletion curves", () => {
  it("turns the mean curves into chart rows, leaving undefined points out", () => {
    const rows = curveRows(deletion, methodLabel, "lrp_epsilon");
    assert.equal(rows.length, 8);
    assert.deepEqual(
      rows.filter((r) => r.chosen).map((r) => [r.method, r.fraction, r.score]),
      [["LRP-ε", 0, 1], ["LRP-ε", 0.5, 0.2], ["LRP-ε", 1, 0]],
    );
    assert.deepEqual([...new Set(rows.filter((r) => r.random).map((r) => r.method))], [RANDOM_LABEL]);
  });

  it("lists the areas from the most faithful method down, the sample's and the model's", () => {
    const areas = areaRows(deletion, 0, methodLabel);
    assert.deepEqual(areas.map((a) => a.method), ["lrp_epsilon", "saliency", "random"]);
    assert.deepEqual(areas[0], { method: "lrp_epsilon", label: "LRP-ε", sample: 0.35, model: 0.35 });
    assert.equal(areaRows(deletion, 1, methodLabel)[0].sample, null);
    assert.equal(formatArea(0.35), "0.350");
    assert.equal(formatArea(null), "–");
  });

  it("draws the curves below the input and the map", async () => {
    const rows = [...pixelRows([[0, 1]], [[0.5, -0.5]], 3), ...curveRows(deletion, methodLabel, "saliency")];
    const compiled = compile(attributionSpec("gradient (saliency)", true, 1, true)).spec;
    const view = new vega.View(vega.parse(compiled, undefined, { ast: true }), {
      expr: expressionInterpreter as unknown as vega.ViewOptions["expr"],
      renderer: "none",
    });
    view.data("table", rows);
    await view.runAsync();
    const svg = await view.toSVG();
    assert.match(svg, /deletion curves/);
    // One line per ranking, and the four heatmap cells.
    assert.equal((svg.match(/aria-roledescription="line mark"/g) ?? []).length, 3);
    assert.equal((svg.match(/aria-roledescription="rect mark"/g) ?? []).length, 4);
  });
});
