// Histogram tool: the distribution of a variable's values or of a layer's (or one neuron's) activations at
// one step (30 bins, binned on the server), or over the steps of training (a heatmap step x bin).
// The helpers at the top are shared by the tools of this group (distribution, kernel images, ...).

import type { TopLevelSpec } from "vega-lite";
import type { Architecture, DataAnswer, DataArray, DataRequest, Layer, Shape } from "../../types";
import type { Tool, ToolContext, UnitRef, WidgetContent, WidgetHost, WidgetOptions } from "../types";
import { divergingColor } from "../../colors";

// ---------------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------------

type Json = Record<string, unknown>;

/** The fallback palette for series that would otherwise share a model's colour. */
export const SERIES_PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

/** A small common configuration: compact axes, no view border. */
export const CHART_CONFIG = {
  view: { stroke: null },
  axis: { labelFontSize: 10, titleFontSize: 11, titleFontWeight: "normal" },
  legend: { labelFontSize: 10, titleFontSize: 10, symbolSize: 60 },
  header: { labelFontSize: 10, titleFontSize: 10 },
};

/** An array column of a `data` answer (throws a readable error when it is missing). */
export function column(answer: DataAnswer, name = "value"): DataArray {
  const col = answer.result?.[name] as DataArray | undefined;
  if (!col || !("data" in col) || !Array.isArray(col.shape)) throw new Error(`the answer has no array column '${name}'`);
  return col;
}

/** An op's own object in a `data` answer (histogram, kde, topk, pca). */
export function opResult<T>(answer: DataAnswer, name = "value"): T {
  const col = answer.result?.[name];
  if (!col || typeof col !== "object") throw new Error(`the answer has no column '${name}'`);
  return col as T;
}

/** The resolved steps of an answer, always as a list. */
export function answerSteps(answer: DataAnswer): number[] {
  const steps = answer.steps;
  if (Array.isArray(steps)) return steps;
  return typeof steps === "number" ? [steps] : [];
}

/** Where the data of a unit is read: the `unit` of a data request plus ops to apply first. */
export interface DataSource {
  unit: DataRequest["unit"];
  /** Ops applied before the tool's own (a neuron: select its index along the last axis). */
  pre: Json[];
  /** Per-sample data, so the class selection applies. */
  perSample: boolean;
  /** For captions: "kernel", "activations", "neuron 3". */
  what: string;
  /** The `statistics`/`histogram` unit name: "conv_1/kernel", "conv_1/activations" (not for neurons). */
  statsUnit: string | null;
}

export function dataSource(unit: UnitRef): DataSource | null {
  const layer = unit.layer;
  if (!layer) return null;
  switch (unit.kind) {
    case "variable":
      if (!unit.variable) return null;
      return { unit: { kind: "weights", layer, variable: unit.variable }, pre: [], perSample: false, what: unit.variable, statsUnit: `${layer}/${unit.variable}` };
    case "activation":
    case "layer":
      return { unit: { kind: "activations", layer }, pre: [], perSample: true, what: "activations", statsUnit: `${layer}/activations` };
    case "neuron":
      if (typeof unit.neuron !== "number") return null;
      return {
        unit: { kind: "activations", layer },
        pre: [{ op: "select", indices: [unit.neuron], axis: -1 }],
        perSample: true,
        what: `neuron ${unit.neuron}`,
        statsUnit: null,
      };
    default:
      return null;
  }
}

/** At most `n` items picked evenly, always keeping the first and the last. */
export function evenSample<T>(items: T[], n: number): T[] {
  if (items.length <= n) return [...items];
  if (n <= 1) return items.slice(-1);
  const picked: T[] = [];
  for (let i = 0; i < n; i++) picked.push(items[Math.round((i * (items.length - 1)) / (n - 1))]);
  return [...new Set(picked)];
}

/**
 * Sends a request over some steps; when the route refuses it for reading or computing too many elements
 * (a 400 naming a limit), retries with an even half of the steps, down to two.
 */
export async function withStepBudget<T>(steps: number[], send: (steps: number[]) => Promise<T>): Promise<{ answer: T; steps: number[] }> {
  let current = steps;
  for (;;) {
    try {
      return { answer: await send(current), steps: current };
    } catch (error) {
      const e = error as { status?: number; message?: string };
      if (e?.status !== 400 || !/element|limit/i.test(e.message ?? "") || current.length <= 2) throw error;
      current = evenSample(current, Math.max(2, Math.floor(current.length / 2)));
    }
  }
}

/** n + 1 equally spaced edges of n bins over [lo, hi]. */
export function binEdges(lo: number, hi: number, bins: number): number[] {
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  return Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : lo + ((hi - lo) * i) / bins));
}

/** The largest absolute finite value (1 when there is none or all are 0). */
export function maxAbs(values: Iterable<unknown>): number {
  let m = 0;
  for (const v of values) if (typeof v === "number" && Number.isFinite(v)) m = Math.max(m, Math.abs(v));
  return m > 0 ? m : 1;
}

/** A Vega-Lite colour scale in the project's blue-white-red colours, symmetric around 0. */
export function divergingScale(max: number): Json {
  const stops = 7;
  const domain = Array.from({ length: stops }, (_, i) => -max + (2 * max * i) / (stops - 1));
  const range = Array.from({ length: stops }, (_, i) => divergingColor(i / (stops - 1)));
  return { type: "linear", domain, range, clamp: true };
}

/** [min, max] of the finite numbers (null when there is none). */
export function extentOf(values: Iterable<unknown>): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (typeof v !== "number" || !Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : null;
}

/** A quantitative scale honouring a common domain set by the widget panel. */
export function scaleWith(domain: [number, number] | undefined, base: Json = {}): Json {
  return domain ? { ...base, domain: [...domain], nice: false, zero: false } : base;
}

/** A model's colour (grey when unknown). */
export function colorOf(ctx: Pick<ToolContext, "colors">, run: string): string {
  return ctx.colors.get(run) ?? "#4e79a7";
}

/** An explicit colour scale for series, each with its model's colour unless another series took it. */
export function seriesColorScale(series: { name: string; color?: string }[]): { domain: string[]; range: string[] } {
  const domain: string[] = [];
  const range: string[] = [];
  for (const s of series) {
    if (domain.includes(s.name)) continue;
    let color = s.color && !range.includes(s.color) ? s.color : undefined;
    color ??= SERIES_PALETTE.find((c) => !range.includes(c)) ?? SERIES_PALETTE[domain.length % SERIES_PALETTE.length];
    domain.push(s.name);
    range.push(color);
  }
  return { domain, range };
}

/** Series of rows (in order of appearance) with the colour of their first row. */
export function seriesOf(rows: Json[], field: string): { name: string; color?: string }[] {
  const seen = new Map<string, string | undefined>();
  for (const row of rows) {
    const name = String(row[field]);
    if (!seen.has(name)) seen.set(name, typeof row.color === "string" ? row.color : undefined);
  }
  return [...seen].map(([name, color]) => ({ name, color }));
}

// Architectures known synchronously (appliesTo is synchronous; ctx.graph caches its promise).
const knownGraphs = new WeakMap<object, Architecture>();

/** The architecture of a run if it has already arrived; asks for it otherwise (then undefined). */
export function knownArchitecture(ctx: ToolContext, run: string): Architecture | undefined {
  let promise: Promise<Architecture>;
  try {
    promise = ctx.graph(run);
  } catch {
    return undefined;
  }
  if (!promise || typeof promise.then !== "function") return undefined;
  const arch = knownGraphs.get(promise);
  if (!arch) promise.then((a) => knownGraphs.set(promise, a)).catch(() => undefined);
  return arch;
}

export function findLayer(arch: Architecture | undefined, id: string | undefined): Layer | undefined {
  return id === undefined ? undefined : arch?.layers.find((l) => l.id === id);
}

export function isInputLayer(layer: Layer): boolean {
  return Boolean(layer.is_input) || layer.type === "InputLayer";
}

/** The first output shape of a layer (with its batch dimension). */
export function outputShape(layer: Layer | undefined): Shape | null {
  return layer?.output_shapes?.[0] ?? null;
}

/** The shape of a layer's variable. */
export function variableShape(layer: Layer | undefined, name: string | undefined): Shape | null {
  const v = (layer?.variables as { name?: string; shape?: Shape }[] | undefined)?.find((x) => x?.name === name);
  return v?.shape ?? null;
}

export function hasVariable(layer: Layer | undefined, name: string | undefined): boolean {
  return (layer?.variables as { name?: string }[] | undefined)?.some((x) => x?.name === name) ?? false;
}

/**
 * Whether a unit has data of the kinds the tool reads, judged from the architecture when known
 * (without it, from the unit's kind only).
 */
export function unitHasData(unit: UnitRef, ctx: ToolContext, kinds: UnitRef["kind"][]): boolean {
  if (!kinds.includes(unit.kind) || unit.runs.length === 0 || !unit.layer) return false;
  if (unit.kind === "variable" && !unit.variable) return false;
  if (unit.kind === "neuron" && typeof unit.neuron !== "number") return false;
  const arch = knownArchitecture(ctx, unit.runs[0]);
  if (!arch) return true;
  const layer = findLayer(arch, unit.layer);
  if (!layer) return false;
  if (unit.kind === "variable") return hasVariable(layer, unit.variable);
  return !isInputLayer(layer);
}

/** Class names of a run's probe (label i is class names[i]). */
export function classNamesOf(ctx: Pick<ToolContext, "models" | "allClasses">, run: string): string[] {
  return ctx.models.get(run)?.classes ?? ctx.allClasses;
}

/**
 * The probe indices of the samples kept by a class selection: the filtered labels are a subsequence of
 * all labels, in order; matched greedily, so a selection (any set of classes) maps back exactly.
 */
export function keptSamples(allLabels: number[], filteredLabels: number[]): number[] {
  const kept: number[] = [];
  let j = 0;
  for (let i = 0; i < allLabels.length && j < filteredLabels.length; i++) {
    if (allLabels[i] === filteredLabels[j]) {
      kept.push(i);
      j++;
    }
  }
  if (j < filteredLabels.length) throw new Error("the labels of the class selection do not match the probe's labels");
  return kept;
}

/** "classes 1, 2" or "all classes". */
export function classesCaption(classes: string[] | null | undefined): string {
  return classes ? `class${classes.length === 1 ? "" : "es"} ${classes.join(", ")}` : "all classes";
}

export function fmt(v: unknown, digits = 4): string {
  if (v === null || v === undefined) return "–";
  if (typeof v !== "number") return String(v);
  if (!Number.isFinite(v)) return String(v);
  if (v !== 0 && (Math.abs(v) >= 1e5 || Math.abs(v) < 1e-3)) return v.toExponential(2);
  return Number(v.toPrecision(digits)).toString();
}

/** A labelled <select> (null outside a browser, e.g. in unit tests). */
export function selectControl(
  label: string,
  choices: { value: string; label: string }[],
  current: string,
  onChange: (value: string) => void,
): HTMLElement | undefined {
  if (typeof document === "undefined") return undefined;
  const wrap = document.createElement("label");
  wrap.className = "inn-small inn-widget-control";
  wrap.append(`${label} `);
  const select = document.createElement("select");
  for (const choice of choices) {
    const option = document.createElement("option");
    option.value = choice.value;
    option.textContent = choice.label;
    if (choice.value === current) option.selected = true;
    select.append(option);
  }
  select.addEventListener("change", () => onChange(select.value));
  wrap.append(select);
  return wrap;
}

/** Several controls in one row. */
export function controlsRow(...controls: (HTMLElement | undefined)[]): HTMLElement | undefined {
  const present = controls.filter((c): c is HTMLElement => Boolean(c));
  if (typeof document === "undefined" || present.length === 0) return undefined;
  const row = document.createElement("div");
  row.className = "inn-widget-controls";
  row.style.display = "flex";
  row.style.gap = "8px";
  row.style.flexWrap = "wrap";
  row.append(...present);
  return row;
}

/** A step selector: "last", every step of the model, and optionally "all". */
export function stepControl(steps: number[], current: WidgetOptions["step"], host: WidgetHost, withAll: boolean): HTMLElement | undefined {
  const choices = [{ value: "last", label: steps.length ? `last (${steps[steps.length - 1]})` : "last" }];
  for (const s of steps) choices.push({ value: String(s), label: String(s) });
  if (withAll) choices.push({ value: "all", label: "all steps" });
  const value = current === undefined ? "last" : String(current);
  return selectControl("step", choices, value, (v) => host.reload({ step: v === "last" || v === "all" ? v : Number(v) }));
}

/** The step of a single-step request: a number or "last" ("all" falls back to "last"). */
export function singleStep(options: WidgetOptions): number | "last" {
  return typeof options.step === "number" ? options.step : "last";
}

// ---------------------------------------------------------------------------------------------------
// Histogram
// ---------------------------------------------------------------------------------------------------

export const HISTOGRAM_BINS = 30;
/** At most this many steps in the histogram over training (each costs two ops of the 32 allowed). */
export const HISTOGRAM_MAX_STEPS = 12;

interface HistogramResult {
  edges: number[];
  counts: number[];
  dropped?: number;
  nonfinite?: number;
  below?: number;
  above?: number;
}

export interface HistogramInputs {
  run: string;
  color: string;
  /** The series label (default "<run> step <n>"). */
  series?: string;
  /** Selected classes (captions only). */
  classes?: string[] | null;
  /** Steps of the model, when the histogram over training shows a sample of them. */
  totalSteps?: number;
}

/** The histogram op: 30 bins, or 30 equal bins over a common domain so grouped widgets share bins. */
export function histogramOp(options: WidgetOptions, input?: string): Json {
  const op: Json = options.xDomain ? { op: "histogram", edges: binEdges(options.xDomain[0], options.xDomain[1], HISTOGRAM_BINS) } : { op: "histogram", bins: HISTOGRAM_BINS };
  if (input) op.in = input;
  return op;
}

/** Request of one histogram at one step. */
export function histogramRequest(unit: UnitRef, options: WidgetOptions, classes: string[] | null): DataRequest {
  const source = dataSource(unit);
  if (!source) throw new Error(`no data for ${unit.label}`);
  const request: DataRequest = { run: unit.runs[0], unit: source.unit, steps: singleStep(options), transform: [...source.pre, histogramOp(options)] };
  if (source.perSample && classes) request.classes = classes;
  return request;
}

/** Request of the value range over some steps (for bins shared by the steps). */
export function rangeRequest(unit: UnitRef, steps: number[], classes: string[] | null): DataRequest {
  const source = dataSource(unit);
  if (!source) throw new Error(`no data for ${unit.label}`);
  const request: DataRequest = {
    run: unit.runs[0],
    unit: source.unit,
    steps,
    transform: [...source.pre, { op: "min", axis: null, out: "lo" }, { op: "max", axis: null, out: "hi" }, { op: "select_columns", columns: ["lo", "hi"] }],
  };
  if (source.perSample && classes) request.classes = classes;
  return request;
}

/** Request of one histogram per step with common edges, in one pipeline: columns s0, s1, ... */
export function stepsHistogramRequest(unit: UnitRef, steps: number[], edges: number[], classes: string[] | null): DataRequest {
  const source = dataSource(unit);
  if (!source) throw new Error(`no data for ${unit.label}`);
  const names = steps.map((_, i) => `s${i}`);
  const transform: Json[] = [...source.pre, { op: "branch", from: "value", to: names }];
  names.forEach((name, i) => {
    transform.push({ op: "select", in: name, indices: [i], axis: 0 });
    transform.push({ op: "histogram", in: name, edges });
  });
  transform.push({ op: "select_columns", columns: names });
  const request: DataRequest = { run: unit.runs[0], unit: source.unit, steps, transform };
  if (source.perSample && classes) request.classes = classes;
  return request;
}

function histogramRows(h: HistogramResult, base: Json): Json[] {
  return h.counts.map((count, i) => ({ ...base, bin: i, lo: h.edges[i], hi: h.edges[i + 1], count }));
}

function outsideNote(hs: HistogramResult[]): string {
  const outside = hs.reduce((n, h) => n + (h.below ?? 0) + (h.above ?? 0), 0);
  const nonfinite = hs.reduce((n, h) => n + (h.nonfinite ?? 0), 0);
  const notes: string[] = [];
  if (outside) notes.push(`${outside} values outside the common range`);
  if (nonfinite) notes.push(`${nonfinite} non-finite values`);
  return notes.length ? `; ${notes.join(", ")}` : "";
}

function barsSpec(options: WidgetOptions, colors: { domain: string[]; range: string[] }, overlay: boolean): TopLevelSpec {
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    width: 300,
    height: 180,
    data: { name: "table" },
    mark: { type: "rect", opacity: overlay ? 0.5 : 0.85, stroke: "white", strokeWidth: overlay ? 0 : 0.5, clip: true },
    encoding: {
      x: { field: "lo", type: "quantitative", title: "value", scale: scaleWith(options.xDomain, { zero: false }) },
      x2: { field: "hi" },
      y: { field: "count", type: "quantitative", title: "count", stack: null, scale: scaleWith(options.yDomain) },
      color: { field: "series", type: "nominal", title: null, scale: colors, legend: overlay ? { orient: "top", direction: "horizontal" } : null },
      tooltip: [
        { field: "series", type: "nominal" },
        { field: "lo", type: "quantitative", format: ".4g" },
        { field: "hi", type: "quantitative", format: ".4g" },
        { field: "count", type: "quantitative" },
      ],
    },
    config: CHART_CONFIG,
  };
  return spec as unknown as TopLevelSpec;
}

function heatmapSpec(options: WidgetOptions, facet: boolean): TopLevelSpec {
  const inner = {
    width: 300,
    height: facet ? 90 : 180,
    mark: { type: "rect", clip: true },
    encoding: {
      x: { field: "lo", type: "quantitative", title: "value", scale: scaleWith(options.xDomain, { zero: false }) },
      x2: { field: "hi" },
      y: { field: "step", type: "ordinal", title: "step", sort: "descending" },
      color: { field: "count", type: "quantitative", title: "count", scale: { type: "sqrt", scheme: "blues" }, legend: { orient: "right", gradientLength: 100 } },
      // Empty bins stay blank.
      opacity: { condition: { test: "datum.count > 0", value: 1 }, value: 0 },
      tooltip: [
        { field: "step", type: "ordinal" },
        { field: "lo", type: "quantitative", format: ".4g" },
        { field: "hi", type: "quantitative", format: ".4g" },
        { field: "count", type: "quantitative" },
      ],
    },
  };
  const spec = facet
    ? { $schema: "https://vega.github.io/schema/vega-lite/v6.json", data: { name: "table" }, facet: { row: { field: "series", type: "nominal", title: null } }, spec: inner, config: CHART_CONFIG }
    : { $schema: "https://vega.github.io/schema/vega-lite/v6.json", data: { name: "table" }, ...inner, config: CHART_CONFIG };
  return spec as unknown as TopLevelSpec;
}

/**
 * Maps a histogram answer to a widget: one histogram (column `value`: edges and counts) as bars, or one
 * histogram per step (columns s0, s1, ... with common edges) as a heatmap step x bin.
 */
export function histogramContent(answer: DataAnswer, unit: UnitRef, options: WidgetOptions, inputs: HistogramInputs): WidgetContent {
  const steps = answerSteps(answer);
  const classNote = inputs.classes !== undefined && unit.kind !== "variable" ? `, ${classesCaption(inputs.classes)}` : "";
  if (answer.result && "s0" in answer.result) {
    const hs = steps.map((_, i) => opResult<HistogramResult>(answer, `s${i}`));
    const series = inputs.series ?? inputs.run;
    const rows = hs.flatMap((h, i) => histogramRows(h, { series, run: inputs.run, step: steps[i], color: inputs.color, mode: "steps" }));
    const edges = hs[0]?.edges ?? [];
    const sampled = inputs.totalSteps && inputs.totalSteps > steps.length ? ` (${steps.length} of ${inputs.totalSteps} steps)` : "";
    const range = steps.length ? `steps ${steps[0]}–${steps[steps.length - 1]}` : "no steps";
    return {
      spec: heatmapSpec(options, false),
      rows,
      seriesField: "series",
      extents: edges.length ? { x: [edges[0], edges[edges.length - 1]] } : undefined,
      caption: `${range}${sampled}: ${unit.kind === "neuron" ? `neuron ${unit.neuron}` : dataSource(unit)?.what ?? ""}${classNote}${outsideNote(hs)}`,
    };
  }
  const h = opResult<HistogramResult>(answer, "value");
  if (!Array.isArray(h.edges) || !Array.isArray(h.counts)) throw new Error("the answer has no histogram");
  const step = steps[steps.length - 1];
  const series = inputs.series ?? `${inputs.run} step ${step}`;
  const rows = histogramRows(h, { series, run: inputs.run, step, color: inputs.color, mode: "step" });
  const colors = seriesColorScale([{ name: series, color: inputs.color }]);
  const maxCount = Math.max(0, ...h.counts);
  return {
    spec: barsSpec(options, colors, false),
    rows,
    seriesField: "series",
    extents: { x: [h.edges[0], h.edges[h.edges.length - 1]], y: [0, maxCount] },
    caption: `step ${step}${classNote}${outsideNote([h])}`,
  };
}

/** Labels that tell merged parts apart: the run, the unit when units differ, and the step. */
function mergeLabels(parts: { unit: UnitRef; content: WidgetContent }[]): string[] {
  const paths = parts.map((p) => [p.unit.layer, p.unit.variable ?? (p.unit.kind === "neuron" ? `neuron ${p.unit.neuron}` : "activations")].join("/"));
  const samePath = paths.every((p) => p === paths[0]);
  const labels = parts.map((p, i) => {
    const row = p.content.rows[0] ?? {};
    const run = String(row.run ?? p.unit.runs[0]);
    const step = row.mode === "steps" ? "" : ` step ${row.step}`;
    return `${run}${samePath ? "" : ` ${paths[i]}`}${step}`;
  });
  // Identical labels (the same histogram twice) get a number.
  return labels.map((l, i) => (labels.indexOf(l) === i ? l : `${l} #${labels.slice(0, i + 1).filter((x) => x === l).length}`));
}

/** Overlays histograms (colour per series); histograms over steps go one under the other. */
export function mergeHistograms(parts: { unit: UnitRef; content: WidgetContent }[]): WidgetContent {
  const labels = mergeLabels(parts);
  const rows: Record<string, unknown>[] = parts.flatMap((p, i) => p.content.rows.map((r) => ({ ...r, series: labels[i] })));
  const overSteps = rows.some((r) => r.mode === "steps");
  const xs = parts.map((p) => p.content.extents?.x).filter((x): x is [number, number] => Boolean(x));
  const ys = parts.map((p) => p.content.extents?.y).filter((y): y is [number, number] => Boolean(y));
  const x = extentOf(xs.flat());
  const y = extentOf(ys.flat());
  const extents = { ...(x ? { x } : {}), ...(y && !overSteps ? { y } : {}) };
  const spec = overSteps ? heatmapSpec({}, true) : barsSpec({}, seriesColorScale(seriesOf(rows, "series")), true);
  return { spec, rows, seriesField: "series", extents, caption: `${labels.length} histograms: ${labels.join("; ")}` };
}

export const histogramTool: Tool = {
  id: "histogram",
  name: "Histogram",
  category: "Weights",
  description: "Distribution of a variable's values or a layer's (or neuron's) activations at one step, or over the steps of training.",
  icon: "M3 21h18v-1.5H3zM4 19V13h3v6zM8.5 19V6h3v13zM13 19V9h3v10zM17.5 19v-4h3v4z",
  classDependent: true,
  appliesTo(unit, ctx) {
    return unitHasData(unit, ctx, ["variable", "activation", "layer", "neuron"]);
  },
  async load(unit, ctx, options, host) {
    const run = unit.runs[0];
    const source = dataSource(unit);
    if (!source) throw new Error(`no data for ${unit.label}`);
    const modelSteps = ctx.models.get(run)?.steps ?? [];
    const classes = source.perSample ? ctx.classes : undefined;
    const inputs: HistogramInputs = { run, color: colorOf(ctx, run), classes };
    let content: WidgetContent;
    if (options.step === "all") {
      const sampled = evenSample(modelSteps, HISTOGRAM_MAX_STEPS);
      if (!sampled.length) throw new Error(`${run} has no steps`);
      const { answer } = await withStepBudget(sampled, async (steps) => {
        let edges: number[];
        if (options.xDomain) edges = binEdges(options.xDomain[0], options.xDomain[1], HISTOGRAM_BINS);
        else {
          const range = await ctx.api.data(rangeRequest(unit, steps, ctx.classes));
          const lo = column(range, "lo").data as number | null;
          const hi = column(range, "hi").data as number | null;
          if (typeof lo !== "number" || typeof hi !== "number") throw new Error("no finite values to bin");
          edges = binEdges(lo, hi, HISTOGRAM_BINS);
        }
        return ctx.api.data(stepsHistogramRequest(unit, steps, edges, ctx.classes));
      });
      content = histogramContent(answer, unit, options, { ...inputs, series: run, totalSteps: modelSteps.length });
    } else {
      const answer = await ctx.api.data(histogramRequest(unit, options, ctx.classes));
      content = histogramContent(answer, unit, options, inputs);
    }
    const html = stepControl(modelSteps, options.step, host, true);
    return html ? { ...content, html } : content;
  },
  merge: mergeHistograms,
};
