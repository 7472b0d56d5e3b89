// Unit tests of the Feature Visualisation tool (widgets/tools/featureVisualisation.ts) and the image
// helpers it shares with the Mistake Neurons widget and the L1 tooltip, on answers shaped like the
// `feature_visualisations` route's.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import type { FeatureVisualisationsAnswer, Model, VisualisationItem } from "../src/types";
import type { ToolContext, UnitRef } from "../src/widgets/types";
import { featureVisualisationTool, hasVisualisations, shownItems, visualisationRows } from "../src/widgets/tools/featureVisualisation";
import { imageToRgba, itemsOf, resultLabel, targetLabel } from "../src/widgets/tools/shared/visualisationImages";

const result = (percentile: number, rank: number) => ({ activation: 3, percentile, class_rank: rank, class_probability: 0.5 });
const item = (layer: string | null, unit: number | null, cls: number, source: VisualisationItem["source"]): VisualisationItem => ({
  layer, unit, class: cls, source, images: [[[[0]]], [[[1]]]], results: [result(99.5, 1), result(100, 2)],
});
const answer: FeatureVisualisationsAnswer = {
  run: "m", step: 12, steps: [12], input_shape: [1, 1, 1], value_range: [0, 1], score: "logit", options: { steps: 256 }, notes: [],
  items: [item("dense", 7, 3, "mistakes"), item("dense", 7, 1, "mistakes"), item("dense", 9, 3, "user"), item(null, null, 3, "class")],
};

function model(run: string, visualised: boolean): Model {
  return {
    run, id: run, name: run, label: run, parents: [], hparams: {}, steps: [0, 12], params: null, runtime: null, layer_count: 3,
    classes: ["a", "b", "c", "d"], glyph: [], attributions: null, latest_metrics: {}, errors: [], plain: false, series_runs: [run],
    ...(visualised ? { feature_visualisations: { steps: [12], targets: 4 } } : {}),
  };
}

describe("feature visualisation images", () => {
  it("scales grey (high values dark), colour and vector images from the probe's range to 0-255", () => {
    const grey = imageToRgba([[[0], [0.5]], [[1], [2]]], [0, 1]);
    assert.equal(grey.width, 2);
    assert.equal(grey.height, 2);
    assert.deepEqual([...grey.data.slice(0, 8)], [255, 255, 255, 255, 127, 127, 127, 255]);
    assert.deepEqual([...grey.data.slice(12, 16)], [0, 0, 0, 255], "values beyond the range are clamped");
    const colour = imageToRgba([[[-1, 0, 1]]], [-1, 1]);
    assert.deepEqual([...colour.data], [0, 128, 255, 255]);
    const vector = imageToRgba([0, 1, 0.25], [0, 1]);
    assert.equal(vector.height, 1);
    assert.equal(vector.width, 3);
    assert.deepEqual([...vector.data.slice(4, 8)], [0, 0, 0, 255]);
    const many = imageToRgba([[[0.2, 0.9, 0.9, 0.9]]], [0, 1]);
    assert.deepEqual([...many.data], [204, 204, 204, 255], "other channel counts: the first channel");
  });

  it("names targets and results, and puts a neuron's items of the analysed class first", () => {
    assert.equal(targetLabel(answer.items[0], ["zero", "one", "two", "three"]), "dense #7 · class three");
    assert.equal(targetLabel(answer.items[3]), "class 3 (class visualisation)");
    assert.equal(resultLabel(result(99.54, 2)), "p99.5, class rank 2 (0.50)");
    assert.deepEqual(itemsOf(answer, "dense", 7, 1).map((i) => i.class), [1, 3]);
    assert.deepEqual(itemsOf(answer, "dense", 7).map((i) => i.class), [3, 1]);
    assert.deepEqual(itemsOf(answer, "dense", 8), []);
  });
});

describe("the Feature Visualisation tool", () => {
  const ctx = { models: new Map([["m", model("m", true)], ["plain", model("plain", false)]]) } as unknown as ToolContext;
  const unit = (kind: UnitRef["kind"], run: string, extra: Partial<UnitRef> = {}): UnitRef => ({ kind, level: "L3", runs: [run], key: `${kind}:${run}`, label: run, ...extra });

  it("applies to models (and their neurons) that logged visualisations, and says why not otherwise", () => {
    assert.ok(hasVisualisations(model("m", true)));
    assert.equal(hasVisualisations(model("plain", false)), false);
    assert.equal(featureVisualisationTool.appliesTo(unit("model", "m"), ctx), true);
    assert.equal(featureVisualisationTool.appliesTo(unit("neuron", "m", { layer: "dense", neuron: 7 }), ctx), true);
    assert.equal(featureVisualisationTool.appliesTo(unit("layer", "m", { layer: "dense" }), ctx), false);
    assert.equal(featureVisualisationTool.appliesTo(unit("model", "plain"), ctx), false);
    assert.match(featureVisualisationTool.whyNot?.(unit("model", "plain"), ctx) ?? "", /no feature visualisations logged/);
    assert.equal(featureVisualisationTool.whyNot?.(unit("model", "m"), ctx), undefined);
  });

  it("shows a neuron's items, filters by the selected classes, and downloads one row per image", () => {
    assert.equal(shownItems(answer, { kind: "model" }, null).length, 4);
    assert.deepEqual(shownItems(answer, { kind: "neuron", layer: "dense", neuron: 7 }, null).map((i) => i.class), [3, 1]);
    assert.deepEqual(shownItems(answer, { kind: "model" }, [1]).map((i) => [i.layer, i.unit]), [["dense", 7]]);
    const rows = visualisationRows(answer.items.slice(0, 1));
    assert.deepEqual(rows.map((r) => [r.unit, r.class, r.result, r.percentile, r.class_rank]), [[7, 3, 0, 99.5, 1], [7, 3, 1, 100, 2]]);
  });
});
