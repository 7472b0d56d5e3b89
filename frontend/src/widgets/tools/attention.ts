// Attention: an attention layer's scores on the probe, one heatmap queries × keys per head, for one probe
// sample or the mean over one class's samples, with each head's entropy (1: uniform attention, 0: every
// query on one key) over the whole probe and per class beside it. The scores are logged by the probe
// pass (capture/attention_scores.py) and read through the data route's `attention` kinds.

import type { TopLevelSpec } from "vega-lite";
import type { DataAnswer, DataRequest } from "../../types";
import type { Tool, ToolContext, UnitRef, WidgetContent, WidgetOptions } from "../types";
import { answerSteps, column } from "./shared/answers";
import { findLayer, knownArchitecture } from "./shared/architecture";
import { oneStepControl, selectControl, withControls } from "./shared/controls";
import { CHART_CONFIG } from "./shared/spec";
import { singleStep } from "./shared/steps";

export const ATTENTION_TYPES = ["MultiHeadAttention"];
/** Probe samples offered one by one in the selector. */
const MAX_SAMPLE_CHOICES = 32;

/** What the heatmaps show: a probe row, or one class's mean ("class:<k>"). Default: the first sample kept. */
export function shownOf(options: WidgetOptions, rows: number[]): { sample: number } | { cls: number } {
  const shown = options.attention;
  if (typeof shown === "string" && shown.startsWith("class:")) return { cls: Number(shown.slice(6)) };
  if (typeof shown === "number" && (rows.length === 0 || rows.includes(shown))) return { sample: shown };
  return { sample: rows.length ? rows[0] : 0 };
}

export function entropyRequest(run: string, layer: string, options: WidgetOptions): DataRequest {
  return { run, unit: { kind: "attention_entropy", layer }, steps: singleStep(options) };
}

export function scoresRequest(run: string, layer: string, shown: { sample: number } | { cls: number }, options: WidgetOptions): DataRequest {
  const unit = "cls" in shown ? { kind: "attention" as const, layer, class: shown.cls } : { kind: "attention" as const, layer, sample: shown.sample };
  return { run, unit, steps: singleStep(options) };
}

export interface EntropySummary {
  heads: number;
  /** Mean over the probe, per head. */
  overall: number[];
  /** Mean over each class's samples, per head. */
  byClass: { cls: number; count: number; perHead: number[] }[];
}

/** Each head's mean entropy over the probe and per class, from an `attention_entropy` answer [probe, heads]. */
export function entropySummary(answer: DataAnswer): EntropySummary {
  const value = column(answer);
  const data = value.data as (number | null)[][];
  const heads = value.shape[1] ?? 0;
  const labels = answer.result.label ? (column(answer, "label").data as number[]) : null;
  const mean = (rows: (number | null)[][], h: number) => {
    const vs = rows.map((r) => r[h]).filter((v): v is number => typeof v === "number");
    return vs.length ? vs.reduce((a, b) => a + b, 0) / vs.length : NaN;
  };
  const overall = Array.from({ length: heads }, (_, h) => mean(data, h));
  const byClass: EntropySummary["byClass"] = [];
  if (labels) {
    for (const cls of [...new Set(labels)].sort((a, b) => a - b)) {
      const rows = data.filter((_, i) => labels[i] === cls);
      byClass.push({ cls, count: rows.length, perHead: Array.from({ length: heads }, (_, h) => mean(rows, h)) });
    }
  }
  return { heads, overall, byClass };
}

/** Rows {head, query, key, value} of a scores answer [heads, queries, keys]. */
export function scoreRows(answer: DataAnswer): { head: number; query: number; key: number; value: number | null }[] {
  const data = column(answer).data as (number | null)[][][];
  return data.flatMap((grid, head) => grid.flatMap((line, query) => line.map((value, key) => ({ head, query, key, value }))));
}

function heatmapSpec(queries: number, keys: number, heads: number, max: number): TopLevelSpec {
  // Two heads side by side fit the widget panel.
  const cell = Math.max(2, Math.min(10, Math.floor(130 / Math.max(queries, keys))));
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    data: { name: "table" },
    facet: { field: "head", type: "ordinal", title: "head", header: { labelFontSize: 10 } },
    columns: Math.min(2, heads),
    spacing: 6,
    spec: {
      width: keys * cell,
      height: queries * cell,
      mark: { type: "rect" },
      encoding: {
        x: { field: "key", type: "ordinal", title: "key position", axis: { labels: keys <= 32, ticks: false } },
        y: { field: "query", type: "ordinal", title: "query position", axis: { labels: queries <= 32, ticks: false } },
        color: { field: "value", type: "quantitative", title: "attention", scale: { scheme: "blues", domain: [0, max > 0 ? max : 1] } },
        tooltip: [
          { field: "head", type: "ordinal" },
          { field: "query", type: "ordinal" },
          { field: "key", type: "ordinal" },
          { field: "value", type: "quantitative", format: ".3f" },
        ],
      },
    },
    config: { ...CHART_CONFIG, facet: { spacing: 6 } },
  };
  return spec as unknown as TopLevelSpec;
}

const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : "–");

/** The entropy table: one row for the probe and one per class, a column per head. */
function entropyTable(summary: EntropySummary): HTMLElement | undefined {
  if (typeof document === "undefined") return undefined;
  const table = document.createElement("table");
  table.className = "inn-small inn-attention-entropy";
  const head = table.insertRow();
  for (const text of ["entropy", ...summary.overall.map((_, h) => `head ${h}`)]) {
    const th = document.createElement("th");
    th.textContent = text;
    head.append(th);
  }
  const add = (label: string, values: number[]) => {
    const row = table.insertRow();
    row.insertCell().textContent = label;
    values.forEach((v) => (row.insertCell().textContent = fmt(v)));
  };
  add("probe", summary.overall);
  for (const c of summary.byClass) add(`class ${c.cls} (${c.count})`, c.perHead);
  return table;
}

/** The widget of a scores answer and the entropy summary. */
export function attentionContent(scores: DataAnswer, summary: EntropySummary, shown: { sample: number } | { cls: number }): WidgetContent {
  const value = column(scores);
  const [heads, queries, keys] = value.shape as number[];
  const steps = answerSteps(scores);
  const what = "cls" in shown ? `mean over class ${shown.cls}'s probe samples` : `probe sample ${shown.sample}`;
  const label = (scores as { sample_label?: number }).sample_label;
  const entropy = summary.overall.map((v, h) => `head ${h} ${fmt(v)}`).join(", ");
  const rows = scoreRows(scores);
  const max = rows.reduce((m, r) => (typeof r.value === "number" && r.value > m ? r.value : m), 0);
  return {
    spec: heatmapSpec(queries, keys, heads, max),
    rows,
    caption:
      `step ${steps[steps.length - 1]}: ${what}${label !== undefined ? ` (label ${label})` : ""}; ${heads} heads × ${queries} queries × ${keys} keys. ` +
      `Colours from 0 to the largest score (${max.toFixed(3)}). Entropy over the probe (1 uniform, 0 one key): ${entropy}`,
  };
}

async function isAttentionLayer(unit: UnitRef, ctx: ToolContext): Promise<boolean> {
  if (unit.kind !== "layer" || !unit.layer || !unit.runs.length) return false;
  const arch = knownArchitecture(ctx, unit.runs[0]) ?? (await ctx.graph(unit.runs[0]));
  const layer = findLayer(arch, unit.layer);
  return Boolean(layer && ATTENTION_TYPES.includes(String(layer.type)));
}

export const attentionTool: Tool = {
  id: "attention",
  name: "Attention",
  category: "Activations",
  description: "An attention layer's scores on the probe: a heatmap queries × keys per head for a sample or a class's mean, and each head's entropy.",
  icon: "M3 3h18v18H3zM3 9h18M3 15h18M9 3v18M15 3v18M5 5h2v2H5zM17 17h2v2h-2zM11 11h2v2h-2z",
  classDependent: false,
  appliesTo(unit, ctx) {
    return isAttentionLayer(unit, ctx);
  },
  whyNot(unit) {
    return unit.kind === "layer" ? "not an attention layer (MultiHeadAttention)" : undefined;
  },
  async load(unit, ctx, options, host) {
    const run = unit.runs[0];
    if (!unit.layer) throw new Error(`${unit.label} is not a layer`);
    const entropy = await ctx.api.data(entropyRequest(run, unit.layer, options));
    const summary = entropySummary(entropy);
    const probeRows = Array.from({ length: (column(entropy).shape[0] as number) ?? 0 }, (_, i) => i);
    let shown = shownOf(options, probeRows);
    let scores: DataAnswer;
    const notes: string[] = [];
    try {
      scores = await ctx.api.data(scoresRequest(run, unit.layer, shown, options));
    } catch (error) {
      // A large layer keeps the scores of the plan's sample subset only: show a class's mean instead.
      if ("cls" in shown || !summary.byClass.length) throw error;
      notes.push(`${error instanceof Error ? error.message : String(error)}: showing class ${summary.byClass[0].cls}'s mean`);
      shown = { cls: summary.byClass[0].cls };
      scores = await ctx.api.data(scoresRequest(run, unit.layer, shown, options));
    }
    const content = { ...attentionContent(scores, summary, shown), ...(notes.length ? { notes } : {}) };
    const choices = probeRows.slice(0, MAX_SAMPLE_CHOICES).map((r) => ({ value: String(r), label: `sample ${r}` }));
    for (const c of summary.byClass) choices.push({ value: `class:${c.cls}`, label: `class ${c.cls} mean` });
    const current = "cls" in shown ? `class:${shown.cls}` : String(shown.sample);
    const select = selectControl("show", choices, current, (v) => host.reload({ attention: v.startsWith("class:") ? v : Number(v) }));
    const table = entropyTable(summary);
    const withSelect = withControls(content, oneStepControl(ctx, run, options, host), select);
    if (table && withSelect.html) withSelect.html.append(table);
    return withSelect;
  },
};
