// The suggestion view (iNNvestigate-GUI): which probe samples deserve a look. With several models, a
// scatter of every sample: the mean top-1 score across the models against the number of distinct
// classes they predict (confident agreement bottom right, confusion top left); a click selects the
// sample for every widget and opens its attributions in each model, in sync. With one model, a
// histogram of 1 - p(true class), or of a chosen layer's mean activation; a bin click lists its samples.

import type { TopLevelSpec } from "vega-lite";
import type { DataAnswer, Model } from "../../types";
import type { Tool, ToolContext, UnitRef, WidgetContent, WidgetHost, WidgetOptions } from "../types";
import { column, flatValues } from "./shared/answers";
import { selectControl } from "./shared/controls";
import { isClassifier } from "./shared/models";
import { hasSampleVectors, reducedNotes, reductionOf, storedShape } from "./shared/reduced";
import { CHART_CONFIG } from "./shared/spec";
import { isTokenSequence, loadVocabulary, sequenceText } from "./shared/tokens";

export interface ModelPredictions {
  run: string;
  /** Top-1 score and class per probe sample. */
  scores: number[];
  classes: number[];
}

export interface SuggestionRow {
  sample: number;
  label: number;
  class_name: string;
  mean_score: number;
  distinct: number;
  /** `distinct` spread a little so that samples with equal counts do not hide each other. */
  distinct_jittered: number;
  predictions: string;
  /** The mark's accessible name (Vega writes it as the SVG element's aria-label). */
  aria: string;
  [key: string]: unknown;
}

/** Rows of the scatter: one per probe sample shared by the models. Pure. */
export function suggestionRows(models: ModelPredictions[], labels: number[], classNames: string[], selected: Set<number> | null): SuggestionRow[] {
  const n = Math.min(labels.length, ...models.map((m) => m.scores.length));
  const rows: SuggestionRow[] = [];
  for (let sample = 0; sample < n; sample++) {
    if (selected && !selected.has(labels[sample])) continue;
    // A NaN/Inf prediction arrives as null: it counts as no score, never as a crash.
    const scores = models.map((m) => (Number.isFinite(m.scores[sample]) ? m.scores[sample] : NaN));
    const finite = scores.filter(Number.isFinite);
    const predicted = models.map((m) => m.classes[sample]);
    const distinct = new Set(predicted).size;
    // A fixed pseudo-random offset per sample (golden ratio): deterministic, evenly spread.
    const jitter = (((sample * 0.6180339887) % 1) - 0.5) * 0.5;
    rows.push({
      sample,
      label: labels[sample],
      class_name: classNames[labels[sample]] ?? String(labels[sample]),
      mean_score: finite.length ? finite.reduce((a, b) => a + b, 0) / finite.length : NaN,
      distinct,
      distinct_jittered: distinct + jitter,
      predictions: models.map((m, i) => `${m.run}: ${classNames[predicted[i]] ?? predicted[i]} (${Number.isFinite(scores[i]) ? scores[i].toFixed(2) : "n/a"})`).join(", "),
      aria: `probe sample ${sample}`,
    });
  }
  return rows;
}

export function scatterSpec(rows: SuggestionRow[], modelCount: number): TopLevelSpec {
  const selected = "datum.sample === highlight";
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    data: { name: "table" },
    params: [{ name: "highlight", value: null }],
    width: 300,
    height: 200,
    mark: { type: "point", filled: true, cursor: "pointer", tooltip: true },
    encoding: {
      x: { field: "mean_score", type: "quantitative", title: `mean top-1 score over ${modelCount} models`, scale: { domain: [0, 1] } },
      y: {
        field: "distinct_jittered",
        type: "quantitative",
        title: "distinct predicted classes",
        scale: { domain: [0.5, modelCount + 0.5] },
        axis: { values: Array.from({ length: modelCount }, (_, i) => i + 1), format: "d" },
      },
      color: { field: "class_name", type: "nominal", title: "true class", legend: { columns: 2, symbolLimit: 20 } },
      size: { condition: { test: selected, value: 160 }, value: 36 },
      opacity: { condition: { test: `highlight == null || ${selected}`, value: 0.85 }, value: 0.35 },
      stroke: { condition: { test: selected, value: "#000000" }, value: null },
      description: { field: "aria", type: "nominal" },
      tooltip: [
        { field: "sample", type: "ordinal", title: "probe sample" },
        { field: "class_name", type: "nominal", title: "true class" },
        { field: "predictions", type: "nominal" },
        { field: "mean_score", type: "quantitative", format: ".2f" },
      ],
    },
    config: CHART_CONFIG,
  } as unknown as TopLevelSpec;
}

export interface MissRow {
  sample: number;
  label: number;
  class_name: string;
  value: number;
  [key: string]: unknown;
}

/** Rows of the one-model histogram: 1 - p(true class) per sample (probabilities [n, classes]). Pure. */
export function missRows(probabilities: number[][], labels: number[], classNames: string[], selected: Set<number> | null): MissRow[] {
  const rows: MissRow[] = [];
  probabilities.forEach((p, sample) => {
    const label = labels[sample];
    if (label === undefined || (selected && !selected.has(label))) return;
    rows.push({ sample, label, class_name: classNames[label] ?? String(label), value: 1 - (p[label] ?? 0) });
  });
  return rows;
}

/** The samples whose value falls in [start, end) (the last bin includes its end). Pure. */
export function samplesInBin(rows: { sample: number; value: number }[], start: number, end: number, last: boolean): number[] {
  return rows.filter((r) => r.value >= start && (r.value < end || (last && r.value <= end))).map((r) => r.sample);
}

const BINS = 20;

export function histogramSpec(title: string, domain: [number, number]): TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    data: { name: "table" },
    width: 300,
    height: 170,
    mark: { type: "bar", cursor: "pointer", tooltip: true },
    encoding: {
      x: { field: "value", type: "quantitative", bin: { maxbins: BINS, extent: domain }, title },
      y: { aggregate: "count", type: "quantitative", title: "samples" },
      color: { field: "class_name", type: "nominal", title: "true class" },
    },
    config: CHART_CONFIG,
  } as unknown as TopLevelSpec;
}

async function topOne(ctx: ToolContext, run: string): Promise<ModelPredictions> {
  const answer = await ctx.api.data({ run, unit: { kind: "predictions" }, steps: "last", transform: [{ op: "topk", k: 1, axis: -1 }] });
  const top = answer.result.value as { values: { data: number[][] }; indices: { data: number[][] } };
  return { run, scores: top.values.data.map((v) => (v[0] === null ? NaN : v[0])), classes: top.indices.data.map((v) => v[0] ?? -1) };
}

async function labelsOf(ctx: ToolContext, run: string): Promise<number[]> {
  return flatValues(column(await ctx.api.data({ run, unit: { kind: "labels" } }))).map(Number);
}

function selectedLabels(ctx: ToolContext, classNames: string[]): Set<number> | null {
  if (!ctx.classes) return null;
  return new Set(ctx.classes.map((c) => classNames.indexOf(c)).filter((i) => i >= 0));
}

function wrapAll(...parts: (HTMLElement | undefined)[]): HTMLElement | undefined {
  const present = parts.filter((p): p is HTMLElement => !!p);
  if (!present.length || typeof document === "undefined") return undefined;
  const box = document.createElement("div");
  box.append(...present);
  return box;
}

/** Draws a 2-D grey image (values scaled to their range) into a canvas. */
function drawImage(canvas: HTMLCanvasElement, image: number[][]): void {
  const h = image.length;
  const w = image[0]?.length ?? 0;
  const context = canvas.getContext("2d");
  if (!context || !h || !w) return;
  canvas.width = w;
  canvas.height = h;
  const flat = image.flat().filter(Number.isFinite);
  const lo = Math.min(...flat);
  const span = Math.max(...flat) - lo || 1;
  const pixels = context.createImageData(w, h);
  image.forEach((line, r) =>
    line.forEach((v, c) => {
      const g = 255 - Math.round(((Number.isFinite(v) ? v : lo) - lo) / span * 255);
      pixels.data.set([g, g, g, 255], (r * w + c) * 4);
    }),
  );
  context.putImageData(pixels, 0, 0);
}

/** The hovered sample's input, shown beside the scatter (fetched once per sample). */
function samplePreview(ctx: ToolContext, run: string, rows: SuggestionRow[]): { element: HTMLElement; show(sample: number | null): void } | undefined {
  if (typeof document === "undefined") return undefined;
  const element = document.createElement("div");
  element.className = "inn-sample-preview inn-small";
  element.style.display = "flex";
  element.style.gap = "8px";
  element.style.alignItems = "center";
  element.style.minHeight = "52px";
  const canvas = document.createElement("canvas");
  canvas.style.width = "48px";
  canvas.style.height = "48px";
  canvas.style.imageRendering = "pixelated";
  canvas.style.border = "1px solid #ddd";
  const text = document.createElement("div");
  text.textContent = "Hover a sample to preview it.";
  element.append(canvas, text);
  const tokens = document.createElement("div");
  tokens.className = "inn-sample-tokens";
  tokens.style.fontFamily = "monospace";
  element.append(tokens);
  // A text model's sample is a token sequence: shown as its words (the run's vocabulary), not drawn.
  const vocabulary = loadVocabulary(ctx, ctx.models.get(run));
  const images = new Map<number, Promise<number[][] | string>>();
  let current: number | null = null;
  const load = (sample: number) => {
    let image = images.get(sample);
    if (!image) {
      image = ctx.api
        .data({ run, unit: { kind: "samples" }, transform: [{ op: "select", indices: [sample], axis: 0 }] })
        .then(async (answer) => {
          const data = (column(answer).data as unknown[])[0];
          if (isTokenSequence(data)) return sequenceText(data, await vocabulary);
          // [H, W] or [H, W, C]: channels averaged for the preview.
          return (data as unknown[][]).map((line) => line.map((cell) => (Array.isArray(cell) ? cell.reduce((a: number, b) => a + Number(b), 0) / cell.length : Number(cell))));
        });
      images.set(sample, image);
    }
    return image;
  };
  return {
    element,
    show(sample) {
      if (sample === null || sample === current) return;
      current = sample;
      element.dataset.sample = String(sample);
      const row = rows.find((r) => r.sample === sample);
      text.textContent = row ? `#${sample}, true class ${row.class_name}: ${row.predictions}` : `#${sample}`;
      load(sample)
        .then((image) => {
          if (current !== sample) return;
          canvas.style.display = typeof image === "string" ? "none" : "";
          tokens.textContent = typeof image === "string" ? image : "";
          if (typeof image !== "string") drawImage(canvas, image);
        })
        .catch((error) => (text.textContent = `#${sample}: ${(error as Error).message}`));
    },
  };
}

/** Checkboxes choosing the models of the scatter (at least two). */
function modelChooser(all: string[], chosen: string[], host: WidgetHost): HTMLElement | undefined {
  if (typeof document === "undefined") return undefined;
  const box = document.createElement("div");
  box.className = "inn-widget-controls inn-small inn-model-chooser";
  for (const run of all) {
    const label = document.createElement("label");
    label.style.marginRight = "8px";
    const input = document.createElement("input");
    input.type = "checkbox";
    input.value = run;
    input.checked = chosen.includes(run);
    input.addEventListener("change", () => {
      const next = [...box.querySelectorAll<HTMLInputElement>("input:checked")].map((i) => i.value);
      if (next.length < 2) {
        input.checked = true; // the scatter compares at least two models
        return;
      }
      host.reload({ runs: next });
    });
    label.append(input, ` ${run}`);
    box.append(label);
  }
  return box;
}

async function severalModels(unit: UnitRef, ctx: ToolContext, options: WidgetOptions, host: WidgetHost): Promise<WidgetContent> {
  const classifiers = unit.runs.filter((r) => isClassifier(ctx.models.get(r)));
  const wanted = Array.isArray(options.runs) ? classifiers.filter((r) => (options.runs as unknown[]).includes(r)) : classifiers;
  const models = (wanted.length >= 2 ? wanted : classifiers).map((r) => ctx.models.get(r)).filter((m): m is Model => !!m);
  if (models.length < 2) throw new Error("the suggestion scatter needs two or more classifiers");
  const [predictions, labels] = await Promise.all([Promise.all(models.map((m) => topOne(ctx, m.run))), labelsOf(ctx, models[0].run)]);
  const counts = new Set(predictions.map((p) => p.scores.length));
  if (counts.size > 1 || !counts.has(labels.length)) {
    throw new Error(`the models do not share their probe (${models.map((m, i) => `${m.run}: ${predictions[i].scores.length}`).join(", ")} samples)`);
  }
  const classNames = models[0].classes;
  const rows = suggestionRows(predictions, labels, classNames, selectedLabels(ctx, classNames));
  const runs = models.map((m) => m.run);
  const preview = samplePreview(ctx, runs[0], rows);
  const controls = modelChooser(classifiers, runs, host);
  return {
    spec: scatterSpec(rows, models.length),
    rows,
    sampleField: "sample",
    html: wrapAll(controls, preview?.element),
    onHover: (datum) => preview?.show(datum && Number.isInteger(datum.sample) ? Number(datum.sample) : null),
    caption: `${rows.length} probe samples of ${runs.length} models; click a sample to see its attributions in every model`,
    onClick(datum) {
      const sample = Number(datum.sample);
      if (!Number.isInteger(sample)) return;
      host.selectSample(sample);
      host.open(
        "attribution",
        runs.map((run) => ({ kind: "model", level: "L3", runs: [run], key: `model:${run}`, label: run })),
        { sample },
      );
    },
  };
}

async function oneModel(unit: UnitRef, ctx: ToolContext, options: WidgetOptions, host: WidgetHost): Promise<WidgetContent> {
  const run = unit.runs[0];
  const model = ctx.models.get(run);
  const classNames = model?.classes ?? [];
  const labels = await labelsOf(ctx, run);
  const selected = selectedLabels(ctx, classNames);
  const arch = await ctx.graph(run);
  const layer = typeof options.layer === "string" ? options.layer : "";
  let rows: MissRow[];
  let title: string;
  let notes: string[] = [];
  if (layer) {
    // A layer kept pooled (reduced data) answers one vector of units per sample.
    const shape = storedShape(arch.layers.find((l) => l.id === layer)?.output_shapes?.[0] ?? [], reductionOf(ctx, run, layer)) ?? [];
    const axes = Array.from({ length: Math.max(0, shape.length - 1) }, (_, i) => i + 1);
    const answer: DataAnswer = await ctx.api.data({ run, unit: { kind: "activations", layer }, steps: "last", transform: axes.length ? [{ op: "mean", axis: axes }] : [] });
    notes = reducedNotes(answer);
    const means = flatValues(column(answer)).map(Number);
    rows = means
      .map((value, sample) => ({ sample, label: labels[sample], class_name: classNames[labels[sample]] ?? String(labels[sample]), value }))
      .filter((r) => !selected || selected.has(r.label));
    title = `mean activation of ${layer}`;
  } else {
    const answer = await ctx.api.data({ run, unit: { kind: "predictions" }, steps: "last" });
    rows = missRows(column(answer).data as number[][], labels, classNames, selected);
    title = "1 − p(true class)";
  }
  const values = rows.map((r) => r.value).filter(Number.isFinite);
  const domain: [number, number] = layer ? [Math.min(...values, 0), Math.max(...values, 1e-9)] : [0, 1];
  // Layers whose plan keeps only statistics (reduced data) have no per-sample values to show.
  const withValues = arch.layers.filter((l) => !l.is_input && hasSampleVectors(reductionOf(ctx, run, l.id)));
  const choices = [{ value: "", label: "1 − p(true class)" }, ...withValues.map((l) => ({ value: l.id, label: `mean activation of ${l.id}` }))];
  const control = selectControl("show", choices, layer, (value) => host.reload({ layer: value }));
  return {
    spec: histogramSpec(title, domain),
    rows,
    html: control,
    caption: `${rows.length} probe samples of ${run}; click a bar to list its samples`,
    notes: notes.length ? notes : undefined,
    onClick(datum) {
      // Vega-Lite names the binned field's bounds bin_maxbins_<n>_value and ..._end.
      const start = Number(Object.entries(datum).find(([k]) => k.startsWith("bin_") && !k.endsWith("_end"))?.[1]);
      const end = Number(Object.entries(datum).find(([k]) => k.startsWith("bin_") && k.endsWith("_end"))?.[1]);
      if (!Number.isFinite(start) || !Number.isFinite(end)) return;
      const samples = samplesInBin(rows, start, end, end >= domain[1]);
      host.showSamples(`${title} in [${start.toFixed(2)}, ${end.toFixed(2)})`, samples);
    },
  };
}

export const suggestionsTool: Tool = {
  id: "suggestions",
  name: "Suggestions",
  category: "Explain",
  description:
    "Which samples deserve a look. Several models: mean top-1 score against the number of distinct predicted classes per probe sample (click one for its attributions). One model: 1 − p(true class) or a layer's mean activation (click a bin to list its samples).",
  icon: "M4 20V4M4 20h16M8 15h.01M12 9h.01M16 13h.01M18 6h.01M10 17h.01",
  classDependent: true,
  appliesTo(unit, ctx) {
    if (unit.kind === "experiment") return unit.runs.filter((r) => isClassifier(ctx.models.get(r))).length >= 2;
    return unit.kind === "model" && isClassifier(ctx.models.get(unit.runs[0]));
  },
  load(unit, ctx, options, host) {
    return unit.kind === "experiment" ? severalModels(unit, ctx, options, host) : oneModel(unit, ctx, options, host);
  },
};
