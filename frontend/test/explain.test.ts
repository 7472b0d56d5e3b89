// The Explain tools: suggestions, attributions, mistake neurons. Pure mappings, and each spec
// compiled by Vega-Lite and rendered by Vega in node with its marks counted.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import * as vega from "vega";
import { expressionInterpreter } from "vega-interpreter";
import { compile, type TopLevelSpec } from "vega-lite";

import type { MistakesAnswer, Model } from "../src/types";
import type { ToolContext, UnitRef } from "../src/widgets/types";
import { attributionSpec, attributionTool, chooseMethod, hasAttributions, loggedMethods, METHODS, pixelRows, toMap } from "../src/widgets/tools/attribution";
import { analysedClass, mistakeRows, mistakeSpec } from "../src/widgets/tools/mistakeNeurons";
import { histogramSpec, missRows, samplesInBin, scatterSpec, suggestionRows } from "../src/widgets/tools/suggestions";

async function render(spec: TopLevelSpec, rows: Record<string, unknown>[]): Promise<vega.View> {
  const compiled = compile(spec).spec;
  const view = new vega.View(vega.parse(compiled, undefined, { ast: true }), {
    expr: expressionInterpreter as unknown as vega.ViewOptions["expr"],
    renderer: "none",
  });
  view.data("table", rows);
  await view.runAsync();
  assert.match(await view.toSVG(), /^<svg/);
  return view;
}

/** Items of the data marks of a type (role "mark"), in every nested group. */
function items(view: vega.View, marktype: string): Record<string, unknown>[] {
  type Mark = { marktype: string; role?: string; items: (Record<string, unknown> & { items?: Mark[] })[] };
  const found: Record<string, unknown>[] = [];
  const visit = (mark: Mark) => {
    if (mark.marktype === marktype && mark.role === "mark") found.push(...mark.items);
    for (const item of mark.items ?? []) for (const child of item.items ?? []) visit(child);
  };
  visit((view.scenegraph() as unknown as { root: Mark }).root);
  return found;
}

const names = ["0", "1", "2", "3"];

describe("suggestions", () => {
  const models = [
    { run: "a", scores: [0.9, 0.5, 0.4], classes: [0, 1, 2] },
    { run: "b", scores: [0.7, 0.3, 0.8], classes: [0, 2, 2] },
    { run: "c", scores: [0.8, 0.4, 0.6], classes: [0, 3, 1] },
  ];

  it("scores each sample by the models' mean top-1 score and their disagreement", () => {
    const rows = suggestionRows(models, [0, 1, 2], names, null);
    assert.deepEqual(rows.map((r) => r.sample), [0, 1, 2]);
    assert.deepEqual(rows.map((r) => r.distinct), [1, 3, 2]);
    assert.ok(Math.abs(rows[0].mean_score - 0.8) < 1e-12 && Math.abs(rows[1].mean_score - 0.4) < 1e-12);
    assert.match(rows[1].predictions, /a: 1 \(0\.50\), b: 2 \(0\.30\), c: 3 \(0\.40\)/);
    for (const r of rows) assert.ok(Math.abs(r.distinct_jittered - r.distinct) <= 0.25);
  });

  it("survives non-finite scores (NaN predictions arrive as null)", () => {
    const broken = [{ run: "a", scores: [NaN, 0.5], classes: [0, 1] }, { run: "b", scores: [0.6, NaN], classes: [0, 1] }];
    const rows = suggestionRows(broken, [0, 1], names, null);
    assert.deepEqual(rows.map((r) => r.mean_score), [0.6, 0.5]);
    assert.match(rows[0].predictions, /a: 0 \(n\/a\)/);
    const none = suggestionRows([{ run: "a", scores: [NaN], classes: [0] }, { run: "b", scores: [NaN], classes: [0] }], [0], names, null);
    assert.ok(Number.isNaN(none[0].mean_score));
  });

  it("keeps the selected classes only, and the samples the models share", () => {
    assert.deepEqual(suggestionRows(models, [0, 1, 2], names, new Set([2])).map((r) => r.sample), [2]);
    assert.equal(suggestionRows([{ run: "a", scores: [0.5], classes: [1] }, models[1]], [0, 1, 2], names, null).length, 1);
  });

  it("draws one point per sample", async () => {
    const rows = suggestionRows(models, [0, 1, 2], names, null);
    const view = await render(scatterSpec(rows, 3), rows);
    assert.equal(items(view, "symbol").length, 3);
    view.signal("highlight", 1);
    await view.runAsync();
    const sizes = items(view, "symbol").map((i) => i.size);
    assert.ok((sizes[1] as number) > (sizes[0] as number), "the highlighted sample is drawn bigger");
  });

  it("turns probabilities into 1 - p(true class), and lists a bin's samples", async () => {
    const rows = missRows([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], [0, 0, 1], ["0", "1"], null);
    assert.deepEqual(rows.map((r) => Number(r.value.toFixed(2))), [0.1, 0.8, 0.6]);
    assert.deepEqual(missRows([[0.9, 0.1], [0.2, 0.8]], [0, 1], ["0", "1"], new Set([1])).map((r) => r.sample), [1]);
    assert.deepEqual(samplesInBin(rows, 0.5, 0.8, false), [2]);
    assert.deepEqual(samplesInBin(rows, 0.5, 0.8, true), [1, 2]);
    const view = await render(histogramSpec("1 - p", [0, 1]), rows);
    const bars = items(view, "rect");
    assert.ok(bars.length >= 2 && bars.length <= 3, `${bars.length} bars`);
  });
});

describe("attributions", () => {
  it("sums channels into a signed map and keeps 2-D maps", () => {
    assert.deepEqual(toMap([[[1, 2], [3, -5]], [[null, 1], [0, 0]]]), [[3, -2], [1, 0]]);
    assert.deepEqual(toMap([[0.5, null]]), [[0.5, null]]);
  });

  it("draws the input and the map side by side", async () => {
    const rows = pixelRows([[0, 1], [1, 0]], [[0.5, -0.5], [0, 1]], 7);
    assert.equal(rows.length, 8);
    assert.ok(rows.every((r) => r.sample === 7));
    const view = await render(attributionSpec("integrated gradients", true, 1), rows);
    assert.equal(items(view, "rect").length, 8);
    const gradcam = await render(attributionSpec("Grad-CAM", false, 1), pixelRows([[0]], [[0.2]], 0));
    assert.equal(items(gradcam, "rect").length, 2);
  });

  it("offers the methods the model logged, in the tool's order, and picks one of them", () => {
    const logged = ["occlusion", "saliency", "lrp_epsilon", "not_a_method"];
    const offered = loggedMethods(logged);
    assert.deepEqual(offered.map((m) => m.id), ["saliency", "lrp_epsilon", "occlusion"]);
    assert.equal(offered.find((m) => m.id === "lrp_epsilon")?.label, "LRP-ε");
    assert.equal(chooseMethod("lrp_epsilon", offered), "lrp_epsilon");
    // A method this model did not log (LRP unavailable, a group synced from another model): the first logged.
    assert.equal(chooseMethod("deep_taylor", offered), "saliency");
    assert.equal(chooseMethod(undefined, loggedMethods(["grad_cam", "integrated_gradients"])), "integrated_gradients");
    // Unknown what the model logged (an older models answer): every method.
    assert.equal(loggedMethods(null), METHODS);
    assert.equal(METHODS.length, new Set(METHODS.map((m) => m.id)).size);
  });
});

describe("mistake neurons", () => {
  const answer: MistakesAnswer = {
    run: "r",
    step: 3,
    decision_layer: "classifier",
    feature_layer: "dense_hidden",
    class: null,
    samples: 64,
    mistakes: 10,
    solved: 9,
    mistake_samples: [],
    neurons: [
      { index: 4, direction: "decrease", votes: 3, share: 0.3, mean_edit: -0.2, importance_ratio: 1.2 },
      { index: 9, direction: "increase", votes: 8, share: 0.8, mean_edit: 0.4, importance_ratio: 2.5 },
    ],
    importance: [],
    note: null,
    features: 32,
    classes: 10,
    parameters: {
      alpha: 0.1,
      beta: 0.01,
      max_iterations: 1000,
      top_per_direction: 5,
      min_share: 0.03,
      solver: "FISTA",
      importance_on: "class-mean feature vector",
    },
  };

  it("lists the neurons most voted first, one bar each", async () => {
    const rows = mistakeRows(answer);
    assert.deepEqual(rows.map((r) => [r.neuron, r.direction]), [[9, "increase"], [4, "decrease"]]);
    const view = await render(mistakeSpec(rows), rows);
    assert.equal(items(view, "rect").length, 2);
  });

  it("analyses the one selected class, else every class", () => {
    assert.equal(analysedClass({ classes: ["2"] }, ["0", "1", "2"]), 2);
    assert.equal(analysedClass({ classes: ["1", "2"] }, ["0", "1", "2"]), null);
    assert.equal(analysedClass({ classes: null }, ["0", "1", "2"]), null);
    assert.equal(analysedClass({ classes: ["x"] }, ["0", "1", "2"]), null);
  });
});

describe("the Attribution tool's applicability", () => {
  function classifier(run: string, methods: string[] | null): Model {
    return {
      run, id: run, name: run, label: run, parents: [], hparams: {}, steps: [0, 2], params: null, runtime: null, layer_count: 3,
      classes: ["a", "b"], glyph: [], latest_metrics: { accuracy: { step: 2, value: 0.9 } }, errors: [], plain: false, series_runs: [run],
      attributions: methods ? { methods, targets: ["predicted"], samples: 32, step: 2 } : null,
    };
  }
  const ctx = { models: new Map([["image", classifier("image", ["saliency"])], ["text", classifier("text", null)]]) } as unknown as ToolContext;
  const unit = (run: string): UnitRef => ({ kind: "model", level: "L3", runs: [run], key: `model:${run}`, label: run });

  it("applies to a classifier that logged maps, and says why not to one that logged none (a text model)", () => {
    assert.ok(hasAttributions(classifier("image", ["saliency"])));
    assert.equal(attributionTool.appliesTo(unit("image"), ctx), true);
    assert.equal(attributionTool.whyNot?.(unit("image"), ctx), undefined);
    assert.equal(attributionTool.appliesTo(unit("text"), ctx), false);
    assert.match(attributionTool.whyNot?.(unit("text"), ctx) ?? "", /no attribution maps logged/);
  });
});
