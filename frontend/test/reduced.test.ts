// Unit tests of the tools on reduced data (docs/format.md, "Reduced data"): a model whose logging plan keeps
// a 256-channel convolution pooled with the maps of a sample subset, another pooled only, one layer with
// statistics only, and each layer's weights every 2 steps. The tools ask for what is stored, map subset
// rows to their probe samples, grey out what has no data, and carry the answers' notes to the widget.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import * as vega from "vega";
import { expressionInterpreter } from "vega-interpreter";
import { compile, type TopLevelSpec } from "vega-lite";

import type { Architecture, DataAnswer, DataRequest, Model } from "../src/types";
import { jsonTool } from "../src/widgets/jsonTool";
import { activationMapsContent, activationMapsRequests, activationMapsTool } from "../src/widgets/tools/activationMaps";
import { distributionTool, histogramQuantiles } from "../src/widgets/tools/distribution";
import { featureDistributionTool } from "../src/widgets/tools/featureDistribution";
import { histogramTool, mergeHistograms } from "../src/widgets/tools/histogram";
import { kernelImagesTool } from "../src/widgets/tools/kernelImages";
import { neuronsByClassesTool } from "../src/widgets/tools/neuronsByClasses";
import { projectionTool } from "../src/widgets/tools/projection";
import {
  hasClassMaps,
  hasSampleMaps,
  hasSampleVectors,
  layerReduction,
  reducedNotes,
  storedShape,
  subsetRows,
  withNotes,
} from "../src/widgets/tools/shared/reduced";
import { statisticsTool } from "../src/widgets/tools/statistics";
import type { ToolContext, UnitRef, WidgetContent, WidgetHost } from "../src/widgets/types";

const RUN = "resnet_reduced";
const CLASS_NAMES = ["0", "1", "2"];
const PROBE_LABELS = Array.from({ length: 40 }, (_, i) => i % 3);
const SUBSET = [0, 1, 2, 10, 11, 12];
const POOLED_NOTE = "pooled over 8x8 positions (mean per channel)";

function layer(id: string, type: string, output: (number | null)[], variables: [string, number[]][] = []) {
  return {
    id,
    name: id,
    type,
    module: "keras.layers",
    namespace: "",
    custom: false,
    is_input: type === "InputLayer",
    calls: 1,
    config: {},
    input_shapes: [],
    output_shapes: [output],
    params: { trainable: 0, non_trainable: 0 },
    variables: variables.map(([name, shape]) => ({ name, shape })),
    inner: { nodes: [], edges: [] },
  };
}

const ARCH: Architecture = {
  format_version: 1,
  layers: [
    layer("input", "InputLayer", [null, 8, 8, 3]),
    layer("conv_1", "Conv2D", [null, 8, 8, 16], [["kernel", [3, 3, 3, 16]], ["bias", [16]]]),
    layer("wide_conv", "Conv2D", [null, 8, 8, 256], [["kernel", [3, 3, 16, 256]], ["bias", [256]]]),
    layer("proj", "Conv2D", [null, 8, 8, 256], [["kernel", [1, 1, 256, 256]], ["bias", [256]]]),
    layer("add", "Add", [null, 8, 8, 256]),
    layer("gap", "GlobalAveragePooling2D", [null, 256]),
    layer("head", "Dense", [null, 3], [["kernel", [256, 3]], ["bias", [3]]]),
  ],
  edges: [],
  inputs: ["input"],
  outputs: [{ layer: "head", output_index: 0 }],
  namespaces: [],
  model: { class: "Functional", functional: true, name: RUN, notes: [] },
  params: { trainable: 0, non_trainable: 0 },
};

const MODEL: Model = {
  run: RUN, id: RUN, name: RUN, label: RUN, parents: [], hparams: {}, steps: [0, 1, 2, 3], params: null, runtime: null,
  layer_count: 6, classes: CLASS_NAMES, glyph: [], attributions: null, latest_metrics: {}, errors: [], plain: false, series_runs: [RUN],
  plan: {
    reduced: true,
    notes: ["2 layers: activations pooled per unit (mean over positions) for all 40 probe samples (wide_conv, proj)"],
    probe_size: 40,
    subset_size: 6,
    weights_every: 2,
    log_every: 1,
    reduced_layers: {
      wide_conv: { activations: "pooled", sample_maps: true, class_maps: false },
      proj: { activations: "pooled", sample_maps: false, class_maps: false },
      add: { activations: "none", sample_maps: false, class_maps: false },
    },
  },
};

const unit = (kind: UnitRef["kind"], layerId: string, extra: Partial<UnitRef> = {}): UnitRef => ({
  kind, level: "L2", runs: [RUN], layer: layerId, key: `layer:${layerId}`, label: `${RUN} / ${layerId}`, ...extra,
});

function context(answer: (request: DataRequest) => DataAnswer) {
  const requests: DataRequest[] = [];
  const graph = Promise.resolve(ARCH);
  const ctx = {
    models: new Map([[RUN, MODEL]]),
    graph: () => graph,
    classes: null,
    allClasses: CLASS_NAMES,
    colors: new Map([[RUN, "#4e79a7"]]),
    api: {
      data: async (request: DataRequest) => {
        requests.push(structuredClone(request));
        return structuredClone(answer(request));
      },
    },
  } as unknown as ToolContext;
  return { ctx, requests };
}

const host: WidgetHost = { saveOptions() {}, reload() {}, showSamples() {}, open() {}, jump() {}, selectSample() {} };

async function render(content: WidgetContent): Promise<vega.View> {
  assert.ok(content.spec, "a chart spec");
  const compiled = compile(content.spec as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled, undefined, { ast: true }), {
    expr: expressionInterpreter as unknown as vega.ViewOptions["expr"],
    renderer: "none",
  });
  view.data("table", content.rows);
  await view.runAsync();
  assert.match(await view.toSVG(), /^<svg/);
  return view;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const LABELS: DataAnswer = { run: RUN, unit: { kind: "labels" }, result: { value: { shape: [40], dtype: "int64", data: PROBE_LABELS } } };

/** The subset maps of wide_conv, sliced as the tool asks: 6 maps of 8x8 (one channel). */
const SUBSET_MAPS: DataAnswer = {
  run: RUN,
  unit: { kind: "activations", layer: "wide_conv", form: "samples" },
  steps: [3],
  classes: [0, 1, 2],
  class_dependent: true,
  reduced: { form: "samples", note: "6 of 40 probe samples", rows: SUBSET, stored: ["pooled", "samples"] },
  result: {
    value: { shape: [6, 8, 8], dtype: "float32", data: range(6).map((s) => range(8).map((r) => range(8).map((c) => s + r * 0.1 - c * 0.05))) },
    label: { shape: [6], dtype: "int64", data: SUBSET.map((r) => PROBE_LABELS[r]) },
  },
};

const PCA_POOLED: DataAnswer = {
  run: RUN,
  unit: { kind: "activations", layer: "wide_conv" },
  steps: [3],
  classes: [0, 1, 2],
  class_dependent: true,
  reduced: { form: "pooled", note: POOLED_NOTE, stored: ["pooled", "samples"] },
  result: {
    value: { coordinates: { shape: [40, 2], dtype: "float64", data: range(40).map((i) => [i * 0.1, -i * 0.05]) }, explained_variance_ratio: [0.6, 0.2], samples_used: 40 },
    label: { shape: [40], dtype: "int64", data: PROBE_LABELS },
  },
};

describe("reduced data: what the plan keeps", () => {
  it("reads the plan of the models answer, full by default", () => {
    assert.deepEqual(layerReduction(MODEL, "wide_conv"), { activations: "pooled", sample_maps: true, class_maps: false });
    assert.equal(layerReduction(MODEL, "conv_1"), null);
    assert.equal(layerReduction({ ...MODEL, plan: undefined }, "wide_conv"), null); // logs without a plan: full
    const none = layerReduction(MODEL, "add");
    assert.equal(hasSampleVectors(none), false);
    assert.equal(hasSampleVectors(null) && hasSampleMaps(null) && hasClassMaps(null), true);
    assert.equal(hasSampleMaps(layerReduction(MODEL, "proj")), false);
  });

  it("gives the stored shape of a pooled layer: one value per unit and sample", () => {
    assert.deepEqual(storedShape([null, 8, 8, 256], layerReduction(MODEL, "wide_conv")), [null, 256]);
    assert.deepEqual(storedShape([null, 8, 8, 16], null), [null, 8, 8, 16]);
    assert.deepEqual(storedShape([null, 256], layerReduction(MODEL, "wide_conv")), [null, 256]);
  });

  it("collects the notes of data and neurons answers once", () => {
    const weights: DataAnswer = { run: RUN, unit: {}, steps: [2], from_step: 1, note: "kernel from step 1", result: {} };
    assert.deepEqual(reducedNotes(PCA_POOLED, weights, PCA_POOLED, null), [POOLED_NOTE, "kernel from step 1"]);
    assert.deepEqual(reducedNotes({ notes: ["kernel from step 2"] } as never), ["kernel from step 2"]);
    const plain: WidgetContent = { spec: null, rows: [] };
    assert.equal(withNotes(plain, LABELS), plain, "full data: the content is unchanged");
    assert.deepEqual(withNotes(plain, PCA_POOLED).notes, [POOLED_NOTE]);
    assert.deepEqual(subsetRows(SUBSET_MAPS), SUBSET);
    assert.equal(subsetRows(PCA_POOLED), null);
  });
});

describe("reduced data: which tools apply", () => {
  it("greys out per-sample tools on a layer with statistics only, not the statistics", () => {
    const { ctx } = context(() => LABELS);
    for (const tool of [projectionTool, featureDistributionTool]) {
      assert.equal(tool.appliesTo(unit("activation", "add"), ctx), false, tool.id);
      assert.equal(tool.appliesTo(unit("activation", "wide_conv"), ctx), true, tool.id);
    }
    // The histogram and distribution of a statistics-only layer come from the event file's logged histograms.
    for (const tool of [histogramTool, distributionTool]) {
      assert.equal(tool.appliesTo(unit("activation", "add"), ctx), true, tool.id);
      assert.equal(tool.appliesTo(unit("layer", "add"), ctx), true, tool.id);
    }
    assert.equal(statisticsTool.appliesTo(unit("activation", "add"), ctx), true);
    assert.equal(neuronsByClassesTool.appliesTo(unit("layer", "add"), ctx), true, "class means are in the event file");
    assert.equal(histogramTool.appliesTo(unit("variable", "add", { variable: "kernel" }), ctx), true);
    const declared = jsonTool({
      format: 1,
      id: "activation-histogram",
      name: "Activation histogram",
      category: "Activations",
      description: "d",
      icon: "M0 0",
      applies_to: ["layer", "activation"],
      class_dependent: true,
      data: { unit: { kind: "activations", layer: "{layer}" }, steps: "last", transform: [] },
      rows: { column: "value", as: "histogram" },
      spec: {},
      source: "builtin",
      path: "activation-histogram.json",
    } as never);
    assert.equal(declared.appliesTo(unit("layer", "add"), ctx), false, "a JSON tool reading activations");
    assert.equal(declared.appliesTo(unit("layer", "proj"), ctx), true);
  });

  it("activation maps need sample maps or class maps", async () => {
    const { ctx } = context(() => LABELS);
    activationMapsTool.appliesTo(unit("layer", "wide_conv"), ctx);
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(activationMapsTool.appliesTo(unit("layer", "wide_conv"), ctx), true);
    assert.equal(activationMapsTool.appliesTo(unit("layer", "proj"), ctx), false);
    assert.equal(activationMapsTool.appliesTo(unit("layer", "add"), ctx), false);
    assert.equal(activationMapsTool.appliesTo(unit("layer", "conv_1"), ctx), true);
  });
});

describe("reduced data: logged histograms", () => {
  const logged = (steps: number[]): DataAnswer => ({
    run: RUN,
    unit: { kind: "histogram", unit: "add/activations" },
    steps,
    result: Object.fromEntries(
      steps.map((s) => [
        steps.length > 1 ? `value_${s}` : "value",
        { shape: [3, 3], dtype: "float64", data: [[-1, 0, 4 + s], [0, 1, 10], [1, 2.5, 2]] },
      ]),
    ),
  });

  it("a statistics-only layer's histogram is read from the event file, not binned from arrays", async () => {
    const { ctx, requests } = context(() => logged([3]));
    const content = await histogramTool.load(unit("layer", "add"), ctx, {}, host);
    assert.deepEqual(requests.map((r) => r.unit), [{ kind: "histogram", unit: "add/activations" }]);
    assert.deepEqual(
      content.rows.map((r) => [r.lo, r.hi, r.count]),
      [[-1, 0, 7], [0, 1, 10], [1, 2.5, 2]],
    );
    assert.deepEqual(content.extents, { x: [-1, 2.5], y: [0, 10] });
    assert.match(content.notes?.[0] ?? "", /logged histogram/);
    await render(content);
  });

  it("over the steps of training: a heatmap of each step's own bins", async () => {
    const { ctx, requests } = context(() => logged([0, 3]));
    const content = await histogramTool.load(unit("layer", "add"), ctx, { step: "all" }, host);
    assert.equal(requests[0].steps, "all");
    assert.deepEqual([...new Set(content.rows.map((r) => r.step))], [0, 3]);
    assert.equal(content.rows.length, 6);
    await render(content);
  });
});

describe("reduced data: distribution from logged histograms", () => {
  it("quantiles interpolate within the bins", () => {
    // 10 values in [0, 1), 30 in [1, 2), 60 in [2, 4].
    const q = histogramQuantiles([0, 1, 2, 4], [10, 30, 60], [0.05, 0.1, 0.25, 0.5, 1]);
    assert.deepEqual(q, [0.5, 1, 1.5, 2 + (10 / 60) * 2, 4]);
    assert.deepEqual(histogramQuantiles([0, 1], [0]), [null, null, null, null, null]);
    assert.deepEqual(histogramQuantiles([0, 1, 2], [5]), [null, null, null, null, null], "edges and counts disagree");
  });

  it("a statistics-only layer's bands over the steps of training, from each step's logged histogram", async () => {
    const answer = (steps: number[]): DataAnswer => ({
      run: RUN,
      unit: { kind: "histogram", unit: "add/activations" },
      steps,
      result: Object.fromEntries(
        steps.map((s) => [`value_${s}`, { shape: [2, 3], dtype: "float64", data: [[0, 1, 50], [1, 1 + s, 50]] }]),
      ),
    });
    const { ctx, requests } = context(() => answer([0, 2]));
    const content = await distributionTool.load(unit("layer", "add"), ctx, {}, host);
    assert.deepEqual(requests.map((r) => [r.unit, r.steps]), [[{ kind: "histogram", unit: "add/activations" }, "all"]]);
    assert.deepEqual(content.rows.map((r) => r.step), [0, 2]);
    assert.deepEqual(content.rows.map((r) => r.q50), [1, 1]);
    assert.deepEqual(content.rows.map((r) => r.q95), [1, 1 + 0.9 * 2]);
    assert.match(content.notes?.[0] ?? "", /interpolated within the bins/);
    await render(content);
  });
});

describe("reduced data: the tools", () => {
  it("activation maps ask for the sample subset and no class maps the plan does not keep", () => {
    const reduction = layerReduction(MODEL, "wide_conv");
    const requests = activationMapsRequests(RUN, "wide_conv", [8, 8, 256], { channel: 5 }, ["1"], reduction);
    assert.deepEqual(requests.samples!.unit, { kind: "activations", layer: "wide_conv", form: "samples" });
    assert.deepEqual(requests.samples!.transform, [{ op: "slice", slices: [[0, 6], [0, 8, 1], [0, 8, 1], 5] }]);
    assert.equal(requests.means, null);
    const full = activationMapsRequests(RUN, "conv_1", [8, 8, 16], {}, null, null);
    assert.deepEqual(full.samples!.unit, { kind: "activations", layer: "conv_1" });
    assert.ok(full.means);
  });

  it("activation maps show the subset rows as probe samples, with the note", async () => {
    const content = activationMapsContent(SUBSET_MAPS, null, unit("layer", "wide_conv"), { channel: 5 }, {
      allLabels: PROBE_LABELS,
      classNames: CLASS_NAMES,
      hwc: [8, 8, 256],
      classes: null,
    });
    const samples = [...new Set(content.rows.map((r) => r.sample))];
    assert.deepEqual(samples, SUBSET);
    assert.deepEqual(content.notes, ["6 of 40 probe samples"]);
    assert.match(content.caption!, /6 of 6 samples, no class mean maps stored/);
    await render(content);
  });

  it("activation maps load two requests on a reduced layer", async () => {
    const { ctx, requests } = context((r) => (r.unit.kind === "labels" ? LABELS : SUBSET_MAPS));
    const content = await activationMapsTool.load(unit("layer", "wide_conv"), ctx, {}, host);
    assert.deepEqual(requests.map((r) => r.unit.kind).sort(), ["activations", "labels"]);
    assert.deepEqual(content.notes, ["6 of 40 probe samples"]);
  });

  it("projection projects the pooled vectors as they are and carries the note", async () => {
    const { ctx, requests } = context((r) => (r.unit.kind === "labels" ? LABELS : PCA_POOLED));
    const content = await projectionTool.load(unit("layer", "wide_conv"), ctx, {}, host);
    const pca = requests.find((r) => r.unit.kind === "activations")!;
    assert.deepEqual(pca.transform, [{ op: "pca", components: 2 }], "no mean over positions: the vectors are pooled");
    assert.deepEqual(content.notes, [POOLED_NOTE]);
    assert.match(content.caption!, /256 features/);
    assert.deepEqual(content.rows.slice(0, 3).map((r) => r.sample), [0, 1, 2]);
    await render(content);
  });

  it("feature distribution counts the pooled units as features", async () => {
    const kde: DataAnswer = {
      ...PCA_POOLED,
      result: { value: { columns: [{ x: [0, 1, 2], density: [0.1, 0.5, 0.1], bandwidth: 0.3, samples: 40, column: 0 }] }, label: PCA_POOLED.result.label },
    };
    const { ctx, requests } = context(() => kde);
    const content = await featureDistributionTool.load(unit("layer", "wide_conv"), ctx, {}, host);
    assert.deepEqual(requests[0].transform?.slice(0, 2), [{ op: "flatten", start_axis: 1 }, { op: "slice", axis: 1, start: 0, stop: 16 }]);
    assert.match(content.caption!, /of 256 dimensions/);
    assert.deepEqual(content.notes, [POOLED_NOTE]);
  });

  it("kernel images and histograms say where the weights come from", async () => {
    const kernel: DataAnswer = {
      run: RUN,
      unit: { kind: "weights", layer: "proj", variable: "kernel" },
      steps: [3],
      from_step: 2,
      note: "kernel from step 2 (full weights every 2 logged steps)",
      result: { value: { shape: [64, 1, 1], dtype: "float32", data: range(64).map((i) => [[i / 64]]) } },
    };
    const { ctx } = context(() => kernel);
    const content = await kernelImagesTool.load(unit("variable", "proj", { variable: "kernel" }), ctx, {}, host);
    assert.deepEqual(content.notes, ["kernel from step 2 (full weights every 2 logged steps)"]);
    const hist: DataAnswer = { ...kernel, result: { value: { edges: [0, 0.5, 1], counts: [3, 4], dropped: 0, nonfinite: 0, below: 0, above: 0 } } };
    const histogram = await histogramTool.load(unit("variable", "proj", { variable: "kernel" }), context(() => hist).ctx, {}, host);
    assert.deepEqual(histogram.notes, ["kernel from step 2 (full weights every 2 logged steps)"]);
    const merged = mergeHistograms([
      { unit: unit("variable", "proj", { variable: "kernel" }), content: histogram },
      { unit: unit("variable", "conv_1", { variable: "kernel" }), content: { ...histogram, notes: undefined } },
    ]);
    assert.deepEqual(merged.notes, histogram.notes);
    await render(merged);
  });

  it("neurons x classes reads per-unit class means when no maps are stored", async () => {
    const note = "class means pooled over 8x8 positions (mean per channel), from the event file (no per-class maps stored)";
    const base = { run: RUN, unit: { kind: "class_means", layer: "proj" }, steps: [3], classes: ["0", "1", "2"], reduced: { form: "pooled" as const, note } };
    const spread: DataAnswer = {
      ...base,
      result: { value: { values: { shape: [64], dtype: "float32", data: range(64).map((i) => 1 - i / 64) }, indices: { shape: [64], dtype: "int64", data: range(64).map((i) => i * 4) } } },
    };
    const matrix: DataAnswer = { ...base, result: { value: { shape: [3, 64], dtype: "float32", data: range(3).map((c) => range(64).map((i) => c - i / 64)) } } };
    const { ctx, requests } = context((r) => (r.transform?.some((op) => op.op === "topk") ? spread : matrix));
    const content = await neuronsByClassesTool.load(unit("layer", "proj"), ctx, {}, host);
    assert.deepEqual(requests[0].transform, [{ op: "std", axis: 0 }, { op: "topk", k: 64, axis: 0 }], "no mean over positions");
    assert.deepEqual(requests[1].transform, [{ op: "select", indices: range(64).map((i) => i * 4), axis: 1 }]);
    assert.deepEqual(content.notes, [note]);
    assert.equal(content.rows.length, 3 * 64);
    await render(content);
  });
});
