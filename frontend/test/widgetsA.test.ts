// Unit tests of the tools Performance Metrics, Runtime Statistics, Model Save Size, Confusion Matrix,
// Class Probabilities, Input/Reconstruction, Branch Model and Note: the pure mapping of real answers
// (test/fixtures/, saved from the demo logs) to rows and a Vega-Lite spec, and each spec compiled by
// vega-lite and rendered by vega (with the CSP-safe interpreter), counting the marks drawn.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";

import * as vega from "vega";
import { expressionInterpreter } from "vega-interpreter";
import { compile } from "vega-lite";

import { modelColors } from "../src/colors";
import type { Architecture, DataAnswer, MetricsAnswer, Model, ModelsAnswer } from "../src/types";
import type { ToolContext, UnitRef, WidgetContent, WidgetHost, WidgetOptions } from "../src/widgets/types";
import {
  baseMetric,
  colorsInSpec,
  finalMetricsContent,
  mergePerformanceMetrics,
  metricCurvesContent,
  performanceMetricsContent,
  performanceMetricsTool,
  sortMetrics,
} from "../src/widgets/tools/performanceMetrics";

import { formatRuntimeValue, runtimeStatisticsContent } from "../src/widgets/tools/runtimeStatistics";
import { readableUnit } from "../src/widgets/tools/shared/quantities";
import { modelSaveSizeContent } from "../src/widgets/tools/modelSaveSize";

import {
  cellSamples,
  confusionMatrixContent,
  confusionMatrixTool,
  confusionTable,
  type ConfusionRow,
} from "../src/widgets/tools/confusionMatrix";
import { labelsOfClasses } from "../src/widgets/tools/shared/classes";
import { isClassifier } from "../src/widgets/tools/shared/models";
import {
  classProbabilitiesContent,
  classProbabilitiesRequest,
  classProbabilitiesTool,
} from "../src/widgets/tools/classProbabilities";
import {
  inputReconstructionContent,
  inputReconstructionTool,
  reconstructionOutput,
  toGrid,
} from "../src/widgets/tools/inputReconstruction";
import { branchModelContent, branchModelTool, branchSnippet, pythonLiteral } from "../src/widgets/tools/branchModel";
import { debounce, noteTool, renderMarkdown } from "../src/widgets/tools/note";

import modelsJson from "./fixtures/models.json";
import metricsSkipJson from "./fixtures/metrics_cnn_skip.json";
import metricsVaeJson from "./fixtures/metrics_vae.json";
import topkSkipJson from "./fixtures/topk_cnn_skip.json";
import labelsSkipJson from "./fixtures/labels_cnn_skip.json";
import probsSkipJson from "./fixtures/probs_cnn_skip.json";
import probsSkip38Json from "./fixtures/probs_cnn_skip_3_8.json";
import graphVaeJson from "./fixtures/graph_vae_fixed.json";
import graphSkipJson from "./fixtures/graph_cnn_skip.json";
import samplesVae38Json from "./fixtures/samples_vae_3_8.json";
import reconVae38Json from "./fixtures/recon_vae_3_8.json";
import labelsVaeJson from "./fixtures/labels_vae_fixed.json";

// ---------------------------------------------------------------------------------------------
// Fixtures and helpers.

const modelsAnswer = modelsJson as unknown as ModelsAnswer;
const MODELS = new Map(modelsAnswer.models.map((m) => [m.run, m]));
const COLORS = modelColors(MODELS.keys());
const metricsSkip = metricsSkipJson as unknown as MetricsAnswer;
const metricsVae = metricsVaeJson as unknown as MetricsAnswer;
const topkSkip = topkSkipJson as unknown as DataAnswer;
const labelsSkip = labelsSkipJson as unknown as DataAnswer;
const probsSkip = probsSkipJson as unknown as DataAnswer;
const probsSkip38 = probsSkip38Json as unknown as DataAnswer;
const graphVae = graphVaeJson as unknown as { architecture: Architecture };
const graphSkip = graphSkipJson as unknown as { architecture: Architecture };
const samplesVae38 = samplesVae38Json as unknown as DataAnswer;
const reconVae38 = reconVae38Json as unknown as DataAnswer;
const labelsVae = labelsVaeJson as unknown as DataAnswer;
const SKIP_LABELS = (labelsSkip.result.value as { data: number[] }).data;
const VAE_LABELS = (labelsVae.result.value as { data: number[] }).data;
const CLASSES = model("cnn_skip").classes;

function model(run: string): Model {
  const found = MODELS.get(run);
  assert.ok(found, `fixture model ${run}`);
  return found;
}

function modelUnit(run: string): UnitRef {
  return { kind: "model", level: "L3", runs: [run], key: `model:${run}`, label: run };
}

function experimentUnit(runs: string[]): UnitRef {
  return { kind: "experiment", level: "L3", runs, key: "experiment:x", label: "experiment" };
}

interface MarkNode {
  marktype: string;
  role: string;
  name?: string;
  items: unknown[];
}

/** Compiles a content's spec with vega-lite, renders it with vega in node, and lists its mark nodes. */
async function render(content: WidgetContent, signals: Record<string, unknown> = {}, name?: string) {
  assert.ok(content.spec, "a spec");
  const compiled = compile(content.spec).spec;
  const view = new vega.View(vega.parse(compiled, undefined, { ast: true }), {
    expr: expressionInterpreter,
    renderer: "none",
  });
  view.data("table", content.rows);
  for (const [name, value] of Object.entries(signals)) view.signal(name, value);
  await view.runAsync();
  const svg = await view.toSVG();
  // WIDGETS_SVG_DIR=/some/dir npm test: also writes the charts, to look at them.
  const dumpDir = process.env.WIDGETS_SVG_DIR;
  if (dumpDir && name) {
    writeFileSync(join(dumpDir, `${name}.svg`), svg);
    writeFileSync(join(dumpDir, `${name}.json`), JSON.stringify({ spec: compiled, rows: content.rows }));
  }
  const marks: MarkNode[] = [];
  const walk = (node: { marktype?: string; role?: string; name?: string; items?: unknown[] }) => {
    if (node.marktype) marks.push(node as MarkNode);
    for (const item of node.items ?? []) walk(item as typeof node);
  };
  walk((view.scenegraph() as unknown as { root: never }).root);
  const dataMarks = marks.filter((m) => m.role === "mark");
  /** Items of the data marks of a mark type (points of lines, bars, cells, texts). */
  const count = (marktype: string) =>
    dataMarks.filter((m) => m.marktype === marktype).reduce((n, m) => n + m.items.length, 0);
  /** Mark nodes of a type that draw something (lines: one per series and facet). */
  const nodes = (marktype: string) => dataMarks.filter((m) => m.marktype === marktype && m.items.length > 0);
  view.finalize();
  return { view, svg, marks: dataMarks, count, nodes };
}

function items(marks: MarkNode[], marktype: string): Record<string, unknown>[] {
  return marks
    .filter((m) => m.marktype === marktype)
    .flatMap((m) => m.items as { datum?: Record<string, unknown>; fill?: string; stroke?: string; opacity?: number }[])
    .map((item) => ({ ...(item.datum ?? {}), __fill: item.fill, __stroke: item.stroke, __opacity: item.opacity }));
}

// ---------------------------------------------------------------------------------------------
// Performance Metrics.

describe("performanceMetrics", () => {
  it("orders metrics loss first, training before validation", () => {
    assert.deepEqual(sortMetrics(["val_accuracy", "accuracy", "val_loss", "loss"]), [
      "loss",
      "val_loss",
      "accuracy",
      "val_accuracy",
    ]);
    assert.deepEqual(sortMetrics(["val_kl_loss", "reconstruction_loss", "loss", "kl_loss"]), [
      "loss",
      "kl_loss",
      "val_kl_loss",
      "reconstruction_loss",
    ]);
    assert.equal(baseMetric("val_reconstruction_loss"), "reconstruction_loss");
  });

  it("shows several models' final metrics as grouped bars coloured by model", async () => {
    const runs = ["cnn_small", "cnn_skip", "cnn_wide"];
    const content = finalMetricsContent(runs.map(model), COLORS);
    assert.equal(content.rows.length, 12); // 3 models x 4 metrics
    const skipLoss = content.rows.find((r) => r.model === "cnn_skip" && r.metric === "val_loss");
    assert.equal(skipLoss?.value, model("cnn_skip").latest_metrics.val_loss.value);
    assert.equal(content.seriesField, "model");
    assert.deepEqual(colorsInSpec(content.spec), new Map(runs.map((r) => [r, COLORS.get(r)!])));
    const { count, marks } = await render(content, {}, "perf-bars");
    assert.equal(count("rect"), 12);
    // Each bar has its model's colour.
    for (const bar of items(marks, "rect")) assert.equal(bar.__fill, COLORS.get(String(bar.model)));
  });

  it("skips metrics a model does not have and models without metrics", async () => {
    const bare: Model = { ...model("cnn_small"), run: "bare", latest_metrics: {} };
    const partial: Model = {
      ...model("vae_fixed"),
      latest_metrics: { loss: { step: 3, value: 1.5 }, val_loss: { step: 3, value: "nan" } },
    };
    const content = finalMetricsContent([model("cnn_skip"), partial, bare], COLORS);
    assert.equal(content.rows.length, 5);
    assert.ok(!content.rows.some((r) => r.model === "bare"));
    assert.match(content.caption ?? "", /no metrics: bare/);
    const { count } = await render(content);
    assert.equal(count("rect"), 5);
  });

  it("draws one model's training and validation curves, validation dashed", async () => {
    const content = performanceMetricsContent([model("cnn_skip")], metricsSkip, COLORS);
    assert.equal(content.rows.length, 12); // 4 series x 3 steps
    assert.deepEqual(new Set(content.rows.map((r) => r.metric)), new Set(["loss", "accuracy"]));
    assert.deepEqual(content.extents?.x, [1, 3]);
    const values = metricsSkip.runs.cnn_skip.series;
    const all = Object.values(values).flatMap((s) => s.map(([, v]) => v as number));
    assert.deepEqual(content.extents?.y, [Math.min(...all), Math.max(...all)]);
    const { count, nodes } = await render(content, {}, "perf-curves");
    assert.equal(nodes("line").length, 4, "one line per series");
    assert.equal(count("symbol"), 12, "one point per logged value");
    const dashes = nodes("line").map((m) => (m.items[0] as { strokeDash?: number[] }).strokeDash);
    assert.equal(dashes.filter((d) => d && d[0] === 4).length, 2, "val_loss and val_accuracy dashed");
    const strokes = new Set(nodes("line").map((m) => (m.items[0] as { stroke?: string }).stroke));
    assert.deepEqual(strokes, new Set([COLORS.get("cnn_skip")]));
  });

  it("honours a common scale", async () => {
    const content = metricCurvesContent(metricsSkip, ["cnn_skip"], COLORS, { xDomain: [0, 10], yDomain: [0, 5] });
    const text = JSON.stringify(content.spec);
    assert.match(text, /"domain":\[0,10\]/);
    assert.match(text, /"domain":\[0,5\]/);
    await render(content);
  });

  it("merges curves of several models, colour by model", async () => {
    const fixed = metricCurvesContent(metricsVae, ["vae_fixed"], COLORS);
    const careless = metricCurvesContent(metricsVae, ["vae_careless"], COLORS);
    const merged = mergePerformanceMetrics([
      { unit: modelUnit("vae_fixed"), content: fixed },
      { unit: modelUnit("vae_careless"), content: careless },
    ]);
    assert.equal(merged.rows.length, fixed.rows.length + careless.rows.length);
    assert.equal(merged.rows.length, 36); // 2 models x 6 series x 3 steps
    assert.deepEqual(
      colorsInSpec(merged.spec),
      new Map([
        ["vae_fixed", COLORS.get("vae_fixed")!],
        ["vae_careless", COLORS.get("vae_careless")!],
      ]),
    );
    const { nodes, count } = await render(merged, {}, "perf-merged");
    assert.equal(nodes("line").length, 12);
    assert.equal(count("symbol"), 36);
    const strokes = new Set(nodes("line").map((m) => (m.items[0] as { stroke?: string }).stroke));
    assert.deepEqual(strokes, new Set([COLORS.get("vae_fixed"), COLORS.get("vae_careless")]));
  });

  it("merges a curve widget with a bar widget into final bars", async () => {
    const curves = metricCurvesContent(metricsSkip, ["cnn_skip"], COLORS);
    const bars = finalMetricsContent([model("cnn_small"), model("cnn_wide")], COLORS);
    const merged = mergePerformanceMetrics([
      { unit: modelUnit("cnn_skip"), content: curves },
      { unit: experimentUnit(["cnn_small", "cnn_wide"]), content: bars },
    ]);
    assert.equal(merged.rows.length, 12);
    const skipAcc = merged.rows.find((r) => r.model === "cnn_skip" && r.metric === "accuracy");
    assert.equal(skipAcc?.value, metricsSkip.runs.cnn_skip.series.accuracy[2][1]);
    const { count } = await render(merged);
    assert.equal(count("rect"), 12);
  });

  it("loads through the api: curves for a model, bars for an experiment", async () => {
    let asked: string[] | null = null;
    const ctx = fakeContext({
      metrics: async (runs: string[]) => {
        asked = runs;
        return metricsSkip;
      },
    });
    const one = await performanceMetricsTool.load(modelUnit("cnn_skip"), ctx, {}, fakeHost());
    assert.deepEqual(asked, ["cnn_skip"]);
    assert.ok(one.rows.every((r) => "split" in r));
    asked = null;
    const several = await performanceMetricsTool.load(experimentUnit(["cnn_skip", "cnn_wide"]), ctx, {}, fakeHost());
    assert.equal(asked, null, "final metrics come from the models answer");
    assert.equal(several.rows.length, 8);
    assert.ok(performanceMetricsTool.appliesTo(experimentUnit(["a"]), ctx));
    assert.ok(!performanceMetricsTool.appliesTo({ ...modelUnit("cnn_skip"), kind: "layer" }, ctx));
  });
});

// ---------------------------------------------------------------------------------------------
// Runtime Statistics and Model Save Size.

describe("runtimeStatistics", () => {
  it("picks readable units", () => {
    assert.deepEqual(readableUnit("bytes", [70180, 44809]), ["kB", 1e-3]);
    assert.deepEqual(readableUnit("bytes", [770015232]), ["MB", 1e-6]);
    assert.deepEqual(readableUnit("seconds", [0.000142]), ["ms", 1e3]);
    assert.deepEqual(readableUnit("seconds", [0.3]), ["ms", 1e3]);
    assert.deepEqual(readableUnit("seconds", [2e-6]), ["µs", 1e6]);
    assert.deepEqual(readableUnit("seconds", [2.5]), ["s", 1]);
    assert.equal(formatRuntimeValue(0.1424817968853631, "ms"), "0.142 ms");
    assert.equal(formatRuntimeValue(8762, ""), "8,762");
  });

  it("draws one bar chart per quantity across models", async () => {
    const runs = ["cnn_bn_dropout", "cnn_small", "vae_fixed"];
    const content = runtimeStatisticsContent(runs.map(model), COLORS);
    assert.equal(content.rows.length, 15); // 3 models x 5 quantities
    const inference = content.rows.find((r) => r.model === "cnn_bn_dropout" && r.field === "inference_seconds_per_sample");
    assert.equal(inference?.unit, "ms");
    assert.ok(Math.abs(Number(inference?.value) - 0.1424817968853631) < 1e-12);
    const memory = content.rows.find((r) => r.model === "cnn_small" && r.field === "peak_memory_bytes");
    assert.equal(memory?.quantity, "peak memory (MB)");
    assert.ok(Math.abs(Number(memory?.value) - 716.0832) < 1e-9);
    assert.ok(content.rows.some((r) => r.quantity === "time per epoch (s)" || r.quantity === "time per epoch (ms)"));
    const { count, marks } = await render(content, {}, "runtime-several");
    assert.equal(count("rect"), 15);
    for (const bar of items(marks, "rect")) assert.equal(bar.__fill, COLORS.get(String(bar.model)));
  });

  it("shows one model as a table", async () => {
    const content = runtimeStatisticsContent([model("cnn_skip")], COLORS);
    assert.equal(content.rows.length, 5);
    const texts = content.rows.map((r) => r.text);
    assert.ok(texts.includes("11,034"), "parameter count");
    assert.ok(texts.includes("80.0 kB"), "save size");
    const { count, svg } = await render(content, {}, "runtime-one");
    assert.equal(count("text"), 5);
    assert.match(svg, /0\.112 ms/);
    assert.match(content.caption ?? "", /measured at step 0/);
  });

  it("skips models without runtime statistics", () => {
    const bare: Model = { ...model("cnn_small"), run: "bare", runtime: null };
    const content = runtimeStatisticsContent([model("cnn_small"), bare, model("cnn_wide")], COLORS);
    assert.ok(!content.rows.some((r) => r.model === "bare"));
    assert.match(content.caption ?? "", /no runtime statistics: bare/);
  });
});

describe("modelSaveSize", () => {
  it("draws save size and trainable parameters per model", async () => {
    const runs = ["dense_baseline", "cnn_small", "cnn_wide", "vae_fixed"];
    const content = modelSaveSizeContent(runs.map(model), COLORS);
    assert.equal(content.rows.length, 4);
    const wide = content.rows.find((r) => r.model === "cnn_wide");
    assert.equal(wide?.save_size_bytes, 108620);
    assert.equal(wide?.size_unit, "kB");
    assert.ok(Math.abs(Number(wide?.save_size) - 108.62) < 1e-9);
    assert.equal(wide?.trainable_params, 19578);
    const { count, marks, svg } = await render(content, {}, "save-size");
    assert.equal(count("rect"), 8, "two bars per model");
    assert.equal(count("text"), 8, "a value at the end of each bar");
    for (const bar of items(marks, "rect")) assert.equal(bar.__fill, COLORS.get(String(bar.model)));
    assert.match(svg, /108\.6 kB/);
  });

  it("switches to MB for big models and skips models without data", () => {
    const big: Model = { ...model("cnn_small"), run: "big", runtime: { ...model("cnn_small").runtime!, save_size_bytes: 98_000_000 } };
    const none: Model = { ...model("cnn_small"), run: "none", runtime: null, params: null };
    const content = modelSaveSizeContent([model("cnn_small"), big, none], COLORS);
    assert.deepEqual(content.rows.map((r) => r.model), ["cnn_small", "big"]);
    assert.equal(content.rows[1].size_unit, "MB");
    assert.equal(content.rows[1].save_size, 98);
    assert.match(content.caption ?? "", /nothing logged for none/);
  });
});

// ---------------------------------------------------------------------------------------------
// Confusion Matrix and Class Probabilities.

describe("confusionMatrix", () => {
  const matrix = metricsSkip.runs.cnn_skip.classification["3"];

  it("maps the last step's matrix to one cell per true x predicted class", async () => {
    const content = confusionMatrixContent(metricsSkip, "cnn_skip", CLASSES, null);
    assert.equal(content.step, 3);
    assert.equal(content.rows.length, 100);
    const cell = content.rows.find((r) => r.true === "1" && r.predicted === "8");
    assert.equal(cell?.count, matrix.matrix[1][8]);
    assert.equal(cell?.count, 1);
    assert.equal(content.rows.reduce((n, r) => n + Number(r.count), 0), 64);
    assert.match(content.caption ?? "", /step 3; 64 probe samples of all classes; 55 right \(86%\)/);
    const { count, marks } = await render(content, {}, "confusion-all");
    assert.equal(count("rect"), 100);
    const texts = items(marks, "text");
    assert.equal(texts.length, content.rows.filter((r) => Number(r.count) > 0).length);
    // The colour follows the count: empty cells near white, the fullest cell darkest.
    const cells = items(marks, "rect");
    const fillOf = (count: number) => new Set(cells.filter((c) => c.count === count).map((c) => c.__fill));
    assert.deepEqual(fillOf(0), new Set(["rgb(244, 248, 252)"]));
    assert.deepEqual(fillOf(7), new Set(["rgb(8, 81, 156)"]));
  });

  it("keeps only the selected true classes' rows", async () => {
    const content = confusionMatrixContent(metricsSkip, "cnn_skip", CLASSES, ["3", "8"]);
    assert.equal(content.rows.length, 20);
    assert.deepEqual(new Set(content.rows.map((r) => r.true)), new Set(["3", "8"]));
    assert.equal(content.rows.reduce((n, r) => n + Number(r.count), 0), 13);
    assert.match(content.caption ?? "", /13 probe samples of classes 3, 8; 12 right/);
    const { count } = await render(content, {}, "confusion-3-8");
    assert.equal(count("rect"), 20);
  });

  it("shows an earlier step on request and refuses a missing one", () => {
    const content = confusionMatrixContent(metricsSkip, "cnn_skip", CLASSES, null, 1);
    assert.equal(content.step, 1);
    assert.equal(content.rows.find((r) => r.true === "0" && r.predicted === "0")?.count, metricsSkip.runs.cnn_skip.classification["1"].matrix[0][0]);
    assert.throws(() => confusionMatrixContent(metricsSkip, "cnn_skip", CLASSES, null, 7), /no classification at step 7/);
    assert.throws(() => confusionMatrixContent(metricsVae, "vae_fixed", CLASSES, null), /no logged classification/);
  });

  it("lists the probe samples of each cell, consistent with the matrix", () => {
    const cells = cellSamples(topkSkip, labelsSkip);
    let total = 0;
    matrix.classes.forEach((t, i) =>
      matrix.classes.forEach((p, j) => {
        const samples = cells.get(`${t}:${p}`) ?? [];
        assert.equal(samples.length, matrix.matrix[i][j], `cell ${t}:${p}`);
        for (const index of samples) assert.equal(SKIP_LABELS[index], t);
        total += samples.length;
      }),
    );
    assert.equal(total, 64);
    assert.deepEqual(cells.get("1:8")?.length, 1);
  });

  it("makes a clickable table that lists a cell's samples", () => {
    withFakeDocument(() => {
      const content = confusionMatrixContent(metricsSkip, "cnn_skip", CLASSES, ["1"]);
      const host = fakeHost();
      const table = confusionTable(content.rows as ConfusionRow[], cellSamples(topkSkip, labelsSkip), host) as unknown as FakeElement;
      const buttons = table.findAll("button");
      assert.equal(buttons.length, 3, "class 1 is predicted as 1, 8 and 9");
      const wrong = buttons.find((b) => b.getAttribute("title")?.startsWith("true 1 → predicted 8"));
      assert.ok(wrong);
      wrong.dispatch("click");
      assert.equal(host.samples.length, 1);
      const [title, samples] = host.samples[0];
      assert.equal(title, "true 1 → predicted 8");
      assert.equal(samples.length, 1);
      assert.equal(SKIP_LABELS[samples[0]], 1);
    });
  });

  it("loads the matrix, the predictions and the labels", async () => {
    await withFakeDocumentAsync(async () => {
      const requests: unknown[] = [];
      const ctx = fakeContext(
        {
          metrics: async () => metricsSkip,
          data: async (body: { unit: { kind: string } }) => {
            requests.push(body);
            return body.unit.kind === "labels" ? labelsSkip : topkSkip;
          },
        },
        ["1", "9"],
      );
      const host = fakeHost();
      const content = await confusionMatrixTool.load(modelUnit("cnn_skip"), ctx, {}, host);
      assert.equal(content.rows.length, 20);
      assert.deepEqual(requests[0], {
        run: "cnn_skip",
        unit: { kind: "predictions" },
        steps: 3,
        transform: [{ op: "topk", k: 1, axis: -1 }],
      });
      const buttons = (content.html as unknown as FakeElement).findAll("button");
      assert.equal(buttons.length, 6);
    });
  });

  it("applies to classifiers only", () => {
    const ctx = fakeContext();
    assert.ok(isClassifier(model("cnn_skip")));
    assert.ok(!isClassifier(model("vae_fixed")));
    assert.ok(confusionMatrixTool.appliesTo(modelUnit("dense_baseline"), ctx));
    assert.ok(!confusionMatrixTool.appliesTo(modelUnit("vae_25_75"), ctx));
    assert.ok(!confusionMatrixTool.appliesTo(experimentUnit(["cnn_skip", "cnn_wide"]), ctx));
    assert.deepEqual(labelsOfClasses(["zero", "one", "two"], ["two", "zero", "nine"]), [0, 2]);
  });
});

describe("classProbabilities", () => {
  it("asks the server for per-class means of the selected classes", () => {
    assert.deepEqual(classProbabilitiesRequest("cnn_skip", model("cnn_skip"), ["8", "3"], "last"), {
      run: "cnn_skip",
      unit: { kind: "predictions" },
      steps: "last",
      classes: [3, 8],
      transform: [{ op: "group_by_class", reduce: "mean" }],
    });
    const all = classProbabilitiesRequest("cnn_skip", model("cnn_skip"), null, 2);
    assert.equal(all.steps, 2);
    assert.ok(!("classes" in all));
  });

  it("maps the selected classes' mean probabilities to a heatmap", async () => {
    const content = classProbabilitiesContent(probsSkip38, CLASSES);
    assert.equal(content.rows.length, 20);
    const three = content.rows.find((r) => r.true === "3" && r.predicted === "3");
    assert.ok(Math.abs(Number(three?.probability) - 0.7864760160446167) < 1e-12);
    assert.equal(three?.samples, 7);
    assert.equal(content.rows.find((r) => r.true === "8")?.samples, 6);
    // Each true class's mean probabilities sum to 1 (softmax outputs).
    for (const t of ["3", "8"]) {
      const sum = content.rows.filter((r) => r.true === t).reduce((n, r) => n + Number(r.probability), 0);
      assert.ok(Math.abs(sum - 1) < 1e-5, `class ${t} sums to ${sum}`);
    }
    assert.match(content.caption ?? "", /step 3; 13 probe samples of classes 3, 8/);
    const { count, marks } = await render(content, {}, "class-probs-3-8");
    assert.equal(count("rect"), 20);
    const darkest = items(marks, "rect").reduce((a, b) => (Number(a.probability) > Number(b.probability) ? a : b));
    assert.equal(darkest.true, "8");
    assert.equal(darkest.predicted, "8");
    assert.equal(items(marks, "text").length, content.rows.filter((r) => Number(r.probability) >= 0.05).length);
  });

  it("shows every class when none is selected", async () => {
    const content = classProbabilitiesContent(probsSkip, CLASSES);
    assert.equal(content.rows.length, 100);
    assert.match(content.caption ?? "", /64 probe samples of all classes/);
    const { count } = await render(content, {}, "class-probs-all");
    assert.equal(count("rect"), 100);
  });

  it("loads with the class selection", async () => {
    let body: unknown = null;
    const ctx = fakeContext(
      {
        data: async (request: unknown) => {
          body = request;
          return probsSkip38;
        },
      },
      ["3", "8"],
    );
    const content = await classProbabilitiesTool.load(modelUnit("cnn_skip"), ctx, {}, fakeHost());
    assert.deepEqual((body as { classes: number[] }).classes, [3, 8]);
    assert.equal(content.rows.length, 20);
    assert.ok(classProbabilitiesTool.classDependent);
    assert.ok(!classProbabilitiesTool.appliesTo(modelUnit("vae_fixed"), ctx));
  });
});

// ---------------------------------------------------------------------------------------------
// Input/Reconstruction.

describe("inputReconstruction", () => {
  it("finds the output with the input's shape", () => {
    assert.deepEqual(reconstructionOutput(graphVae.architecture), { output: 0, layer: "reconstruction", shape: [8, 8, 1] });
    assert.equal(reconstructionOutput(graphSkip.architecture), null);
  });

  it("turns arrays into pixel grids", () => {
    assert.deepEqual(toGrid([1, 2, 3, 4], [2, 2]), { rows: 2, cols: 2, pixels: [1, 2, 3, 4] });
    assert.deepEqual(toGrid([1, 3, 2, 4], [1, 2, 2]), { rows: 1, cols: 2, pixels: [2, 3] });
    assert.deepEqual(toGrid([1, 2, 3, 4, 5, 6, 7, 8, 9], [9]), { rows: 3, cols: 3, pixels: [1, 2, 3, 4, 5, 6, 7, 8, 9] });
    assert.deepEqual(toGrid([1, null, 3], [3]).pixels, [1, null, 3]);
  });

  it("shows inputs, reconstructions and differences of the selected classes' samples", async () => {
    const indices = VAE_LABELS.flatMap((label, i) => (label === 3 || label === 8 ? [i] : [])).slice(0, 4);
    const labels = indices.map((i) => VAE_LABELS[i]);
    const content = inputReconstructionContent(samplesVae38, reconVae38, indices, labels, CLASSES, "4 samples");
    assert.equal(content.rows.length, 4 * 64 * 3);
    assert.equal(content.sampleField, "sample");
    assert.deepEqual([...new Set(content.rows.map((r) => r.sample))], indices);
    assert.ok(content.rows.every((r) => r.class === "3" || r.class === "8"));
    const input = (samplesVae38.result.value as { data: number[][][][] }).data;
    const recon = (reconVae38.result.value as { data: number[][][][] }).data;
    const pixel = (image: string) => content.rows.find((r) => r.sample === indices[1] && r.image === image && r.row === 2 && r.col === 3);
    assert.equal(pixel("input")?.value, input[1][2][3][0]);
    assert.equal(pixel("reconstruction")?.value, recon[1][2][3][0]);
    assert.ok(Math.abs(Number(pixel("|difference|")?.value) - Math.abs(input[1][2][3][0] - recon[1][2][3][0])) < 1e-12);
    assert.deepEqual((content.spec as { params?: unknown }).params, [{ name: "highlight", value: null }]);

    const { count, marks } = await render(content, {}, "reconstruction");
    assert.equal(count("rect"), 4 * 64 * 3);
    assert.equal(count("text"), 4 + 3, "a title per sample, a name per image row");
    // Grey scale: 0 is white, the largest input value black.
    const cells = items(marks, "rect");
    assert.ok(cells.every((c) => c.__opacity === 1));
    const inputs = cells.filter((c) => c.image === "input");
    assert.ok(inputs.filter((c) => c.value === 0).every((c) => c.__fill === "rgb(255, 255, 255)"), String(inputs[0].__fill));
    assert.ok(inputs.some((c) => c.value === 1 && c.__fill === "rgb(0, 0, 0)"));
    // A hovered sample stays opaque, the others fade.
    const highlighted = await render(content, { highlight: indices[2] });
    const faded = items(highlighted.marks, "rect");
    assert.equal(faded.filter((c) => c.__opacity === 1).length, 64 * 3);
    assert.ok(faded.filter((c) => c.sample !== indices[2]).every((c) => Number(c.__opacity) < 1));
  });

  it("loads the first samples of the selected classes with their probe indices", async () => {
    const requests: { unit: { kind: string; output?: number }; classes?: number[]; transform?: unknown; steps?: unknown }[] = [];
    const ctx = fakeContext(
      {
        data: async (body: (typeof requests)[number]) => {
          requests.push(body);
          if (body.unit.kind === "labels") return labelsVae;
          return body.unit.kind === "samples" ? samplesVae38 : reconVae38;
        },
      },
      ["3", "8"],
      { vae_fixed: graphVae, cnn_skip: graphSkip },
    );
    const content = await inputReconstructionTool.load(modelUnit("vae_fixed"), ctx, { count: 4 }, fakeHost());
    const samples = requests.find((r) => r.unit.kind === "samples");
    const outputs = requests.find((r) => r.unit.kind === "predictions");
    assert.deepEqual(samples?.classes, [3, 8]);
    assert.deepEqual(outputs?.unit, { kind: "predictions", output: 0 });
    assert.deepEqual(outputs?.transform, [{ op: "slice", axis: 0, start: 0, stop: 4 }]);
    const expected = VAE_LABELS.flatMap((label, i) => (label === 3 || label === 8 ? [i] : [])).slice(0, 4);
    assert.deepEqual([...new Set(content.rows.map((r) => r.sample))], expected);
    assert.match(content.caption ?? "", /4 probe samples of classes 3, 8; output "reconstruction"/);
    await assert.rejects(inputReconstructionTool.load(modelUnit("cnn_skip"), ctx, {}, fakeHost()), /no output with the shape of its input/);
    assert.ok(!inputReconstructionTool.appliesTo(modelUnit("cnn_skip"), ctx), "known after a load");
    assert.ok(inputReconstructionTool.appliesTo(modelUnit("vae_fixed"), ctx));
  });
});

// ---------------------------------------------------------------------------------------------
// Branch Model.

describe("branchModel", () => {
  it("writes Python literals", () => {
    assert.equal(pythonLiteral(null), "None");
    assert.equal(pythonLiteral(true), "True");
    assert.equal(pythonLiteral(false), "False");
    assert.equal(pythonLiteral(1e-7), "1e-7");
    assert.equal(pythonLiteral(32), "32");
    assert.equal(pythonLiteral('say "hi"\n'), '"say \\"hi\\"\\n"');
    assert.equal(pythonLiteral([1, "a", null]), '[1, "a", None]');
    assert.equal(pythonLiteral({}), "{}");
    assert.equal(pythonLiteral({ a: { b: false } }), '{\n    "a": {\n        "b": False,\n    },\n}');
  });

  it("rebuilds the parent's header and branches a child", () => {
    const parent = model("cnn_bn_dropout");
    const snippet = branchSnippet(parent);
    assert.ok(snippet);
    assert.match(snippet, /^import innspector_tb$/m);
    assert.ok(snippet.includes(`"id": "${parent.id}"`));
    assert.ok(snippet.includes(`"parents": ["${parent.parents[0]}"]`));
    assert.ok(snippet.includes('"from_logits": False'));
    assert.ok(snippet.includes('"ignore_class": None'));
    assert.ok(snippet.includes('"learning_rate": 0.0010000000474974513'));
    assert.ok(!/\b(true|false|null)\b/.test(snippet), "no JSON keywords");
    assert.match(snippet, /^child = innspector_tb\.branch\(parent, "cnn_bn_dropout_child", label="branched from cnn_bn_dropout"\)$/m);
    assert.equal(branchSnippet({ ...parent, id: null }), null);
    const named = branchModelContent(parent, { childName: 'x"y', childLabel: "a\nb" });
    assert.match(String(named.snippet), /branch\(parent, "x\\"y", label="a\\nb"\)/);
  });

  it("shows the snippet with a copy button and saves the child's name", async () => {
    await withFakeDocumentAsync(async () => {
      const host = fakeHost();
      const ctx = fakeContext();
      const content = await branchModelTool.load(modelUnit("vae_careless"), ctx, {}, host);
      const body = content.html as unknown as FakeElement;
      const code = body.findAll("textarea")[0];
      assert.equal(code.value, branchSnippet(model("vae_careless")));
      const [nameInput] = body.findAll("input");
      nameInput.value = "vae_careless_linear";
      nameInput.dispatch("input");
      assert.match(code.value, /branch\(parent, "vae_careless_linear"/);
      assert.deepEqual(host.saved.at(-1), { childName: "vae_careless_linear", childLabel: "branched from vae_careless" });
      // No clipboard in node: the text is selected instead.
      body.findAll("button")[0].dispatch("click");
      await new Promise((resolve) => setTimeout(resolve, 0));
      assert.ok(code.selected);
      assert.match(body.findAll("span")[0].textContent, /Ctrl\+C/);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Note.

describe("renderMarkdown", () => {
  it("escapes HTML everywhere", () => {
    const out = renderMarkdown('<script>alert("x")</script>\n\n# <img src=x onerror=alert(1)>\n\n- <b>&</b>');
    assert.ok(!out.includes("<script"));
    assert.ok(!out.includes("<img"));
    assert.ok(!out.includes("<b>"));
    assert.ok(out.includes("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
    assert.ok(out.includes("<h1>&lt;img src=x onerror=alert(1)&gt;</h1>"));
    assert.ok(out.includes("<li>&lt;b&gt;&amp;&lt;/b&gt;</li>"));
  });

  it("renders headings, paragraphs, emphasis, code and lists", () => {
    assert.equal(renderMarkdown("# One\n## Two\n### Three\n#### Four"), "<h1>One</h1>\n<h2>Two</h2>\n<h3>Three</h3>\n<p>#### Four</p>");
    assert.equal(renderMarkdown("first line\nsecond\n\nnext"), "<p>first line\nsecond</p>\n<p>next</p>");
    assert.equal(renderMarkdown("**bold** and *it* and `a*b*c <x>`"), "<p><strong>bold</strong> and <em>it</em> and <code>a*b*c &lt;x&gt;</code></p>");
    assert.equal(renderMarkdown("- a\n* **b**\n+ c"), "<ul><li>a</li><li><strong>b</strong></li><li>c</li></ul>");
    assert.equal(renderMarkdown("text\n- item"), "<p>text</p>\n<ul><li>item</li></ul>");
    assert.equal(renderMarkdown("val_loss and snake_case_name"), "<p>val_loss and snake_case_name</p>");
  });

  it("renders fenced code blocks verbatim", () => {
    const out = renderMarkdown("```python\nx = '<tag>' * 2  # **not bold**\n\n# not a heading\n```\nafter");
    assert.equal(
      out,
      '<pre><code class="language-python">x = &#39;&lt;tag&gt;&#39; * 2  # **not bold**\n\n# not a heading</code></pre>\n<p>after</p>',
    );
    assert.equal(renderMarkdown("```\nunclosed <b>"), "<pre><code>unclosed &lt;b&gt;</code></pre>");
  });

  it("links only http(s) URLs", () => {
    assert.equal(
      renderMarkdown("[docs](https://example.org/a?b=1&c=2)"),
      '<p><a href="https://example.org/a?b=1&amp;c=2" rel="noopener noreferrer" target="_blank">docs</a></p>',
    );
    const unsafe = ["javascript:alert(1)", "JAVASCRIPT:alert%281%29", "javascript://x%0Aalert%281%29", "data:text/html,x", "/relative", "vbscript:x", "ftp://host/file"];
    for (const url of unsafe) {
      const out = renderMarkdown(`[x](${url})`);
      assert.ok(!out.includes("<a"), `${url} is not linked: ${out}`);
      assert.ok(!out.includes("href"), url);
    }
    const quoted = renderMarkdown('[x](https://e.org/"onmouseover="alert(1))');
    assert.ok(!/<a [^>]*onmouseover/.test(quoted), quoted);
  });
});

describe("note", () => {
  it("debounces calls", async () => {
    const calls: string[] = [];
    const save = debounce((text: string) => calls.push(text), 20);
    save("a");
    save("ab");
    save("abc");
    assert.deepEqual(calls, []);
    await new Promise((resolve) => setTimeout(resolve, 40));
    assert.deepEqual(calls, ["abc"]);
    save("abcd");
    save.flush();
    assert.deepEqual(calls, ["abc", "abcd"]);
  });

  it("edits markdown with a safe preview and saves the text", async () => {
    await withFakeDocumentAsync(async () => {
      const host = fakeHost();
      const unit: UnitRef = { kind: "neuron", level: "L1", runs: ["cnn_skip"], layer: "dense", neuron: 3, key: "neuron:dense:3", label: "cnn_skip / dense / 3" };
      assert.ok(noteTool.appliesTo(unit, fakeContext()));
      const content = await noteTool.load(unit, fakeContext(), { text: "# Start" }, host);
      assert.equal(content.spec, null);
      const body = content.html as unknown as FakeElement;
      const editor = body.findAll("textarea")[0];
      const preview = body.findAll("div").find((d) => d.getAttribute("class") === "inn-note-preview")!;
      assert.equal(editor.value, "# Start");
      assert.equal(preview.innerHTML, "<h1>Start</h1>");
      editor.value = "**dead** units <script>";
      editor.dispatch("input");
      assert.equal(preview.innerHTML, "<p><strong>dead</strong> units &lt;script&gt;</p>");
      assert.equal(content.rows[0].text, "**dead** units <script>");
      assert.deepEqual(host.saved, [], "saving waits for a pause");
      await new Promise((resolve) => setTimeout(resolve, 350));
      assert.deepEqual(host.saved, [{ text: "**dead** units <script>" }]);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// A minimal DOM for the HTML bodies (node has no document).

class FakeElement {
  readonly tagName: string;
  readonly attributes = new Map<string, string>();
  readonly children: FakeElement[] = [];
  private text = "";
  private listeners = new Map<string, ((event: unknown) => void)[]>();
  value = "";
  innerHTML = "";
  selected = false;

  constructor(tag: string) {
    this.tagName = tag.toUpperCase();
  }
  setAttribute(name: string, value: string) {
    this.attributes.set(name, String(value));
  }
  getAttribute(name: string) {
    return this.attributes.get(name) ?? null;
  }
  removeAttribute(name: string) {
    this.attributes.delete(name);
  }
  appendChild(child: FakeElement) {
    this.children.push(child);
    return child;
  }
  get textContent(): string {
    return this.text + this.children.map((c) => c.textContent).join("");
  }
  set textContent(value: string) {
    this.text = value;
    this.children.length = 0;
  }
  addEventListener(type: string, listener: (event: unknown) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  dispatch(type: string) {
    for (const listener of this.listeners.get(type) ?? []) listener({ type, target: this });
  }
  focus() {}
  select() {
    this.selected = true;
  }
  findAll(tag: string): FakeElement[] {
    const found: FakeElement[] = [];
    for (const child of this.children) {
      if (child.tagName === tag.toUpperCase()) found.push(child);
      found.push(...child.findAll(tag));
    }
    return found;
  }
}

function installDocument(): () => void {
  const previous = (globalThis as { document?: unknown }).document;
  (globalThis as { document?: unknown }).document = { createElement: (tag: string) => new FakeElement(tag) };
  return () => {
    (globalThis as { document?: unknown }).document = previous;
  };
}

function withFakeDocument(fn: () => void) {
  const restore = installDocument();
  try {
    fn();
  } finally {
    restore();
  }
}

async function withFakeDocumentAsync(fn: () => Promise<void>) {
  const restore = installDocument();
  try {
    await fn();
  } finally {
    restore();
  }
}

// ---------------------------------------------------------------------------------------------
// A context and a host without a server.

type ApiOverrides = Partial<Record<keyof ToolContext["api"], unknown>>;

function fakeContext(overrides: ApiOverrides = {}, classes: string[] | null = null, graphs: Record<string, unknown> = {}): ToolContext {
  const unavailable = (name: string) => async () => {
    throw new Error(`api.${name} not expected`);
  };
  const api = Object.fromEntries(
    ["models", "tree", "graph", "neurons", "measures", "interestingness", "structures", "lint", "lintAll", "metrics", "data"].map(
      (name) => [name, overrides[name as keyof ToolContext["api"]] ?? unavailable(name)],
    ),
  ) as unknown as ToolContext["api"];
  return {
    models: MODELS,
    graph: async (run: string) => {
      const answer = graphs[run] as { architecture: Architecture } | undefined;
      if (!answer) throw new Error(`no graph of ${run}`);
      return answer.architecture;
    },
    classes,
    allClasses: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
    colors: COLORS,
    api,
  };
}

interface RecordingHost extends WidgetHost {
  saved: Partial<WidgetOptions>[];
  samples: [string, number[]][];
}

function fakeHost(): RecordingHost {
  const host: RecordingHost = {
    saved: [],
    samples: [],
    saveOptions(patch) {
      host.saved.push(patch);
    },
    reload() {},
    showSamples(title, samples) {
      host.samples.push([title, samples]);
    },
    open() {},
    jump() {},
    selectSample() {},
  };
  return host;
}

