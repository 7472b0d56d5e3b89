// Statistics: a table of a variable's (or a layer's activations') summary statistics at step 0 and at the
// last step, and mean ± std over the steps of training, from the statistics logged with every step.

import type { TopLevelSpec } from "vega-lite";
import type { DataAnswer, DataRequest } from "../../types";
import type { Tool, UnitRef, WidgetContent, WidgetOptions } from "../types";
import { answerSteps, column } from "./shared/answers";
import { dataSource } from "./shared/dataSource";
import { colorOf, seriesColorScale } from "./shared/seriesColors";
import { CHART_CONFIG, extentOf, scaleWith } from "./shared/spec";
import { unitHasData } from "./shared/unitPredicates";

/** The statistics shown in the table, in order, with their labels (others of the answer are in the rows). */
export const TABLE_FIELDS: [string, string][] = [
  ["count", "count"],
  ["min", "min"],
  ["max", "max"],
  ["mean", "mean"],
  ["std", "std"],
  ["skew", "skew"],
  ["kurtosis", "kurtosis"],
  ["mean_abs", "mean |x|"],
  ["l2_norm", "L2 norm"],
  ["zero_fraction", "zero fraction"],
  ["nan_count", "NaN count"],
  ["inf_count", "±Inf count"],
];

export function statisticsRequest(unit: UnitRef): DataRequest {
  const source = dataSource(unit);
  if (!source?.statsUnit) throw new Error(`no statistics for ${unit.label}`);
  return { run: unit.runs[0], unit: { kind: "statistics", unit: source.statsUnit }, steps: "all" };
}

export interface StatisticsTable {
  /** Steps of the two columns: the first and the last (one column when they are the same). */
  steps: number[];
  rows: { field: string; label: string; values: (number | null)[] }[];
}

/** Per-step rows {step, <field>: value, ..., lo: mean - std, hi: mean + std} of a statistics answer. */
export function statisticsRows(answer: DataAnswer, run: string): Record<string, number | string | null>[] {
  const fields = (answer.fields as string[] | undefined) ?? [];
  const matrix = column(answer).data as (number | null)[][];
  const steps = answerSteps(answer);
  if (matrix.length !== steps.length) throw new Error(`${matrix.length} rows of statistics for ${steps.length} steps`);
  return steps.map((step, i) => {
    const row: Record<string, number | string | null> = { run, step };
    fields.forEach((f, j) => (row[f] = matrix[i][j] ?? null));
    const mean = row.mean;
    const std = row.std;
    row.lo = typeof mean === "number" && typeof std === "number" ? mean - std : null;
    row.hi = typeof mean === "number" && typeof std === "number" ? mean + std : null;
    return row;
  });
}

/** The table: the known fields present in the answer, at the first and the last step. */
export function statisticsTable(rows: Record<string, number | string | null>[], fields: string[]): StatisticsTable {
  if (!rows.length) return { steps: [], rows: [] };
  const picked = rows.length > 1 ? [rows[0], rows[rows.length - 1]] : [rows[0]];
  return {
    steps: picked.map((r) => Number(r.step)),
    rows: TABLE_FIELDS.filter(([f]) => fields.includes(f)).map(([field, label]) => ({
      field,
      label,
      values: picked.map((r) => (typeof r[field] === "number" ? (r[field] as number) : null)),
    })),
  };
}

/** A number for the table: 4 significant digits, exponential when very large or small; "–" when missing. */
function fmt(v: unknown, digits = 4): string {
  if (v === null || v === undefined) return "–";
  if (typeof v !== "number") return String(v);
  if (!Number.isFinite(v)) return String(v);
  if (v !== 0 && (Math.abs(v) >= 1e5 || Math.abs(v) < 1e-3)) return v.toExponential(2);
  return Number(v.toPrecision(digits)).toString();
}

/** The table as an HTML element (null outside a browser). */
export function statisticsTableElement(table: StatisticsTable): HTMLElement | undefined {
  if (typeof document === "undefined") return undefined;
  const el = document.createElement("table");
  el.className = "inn-stats-table inn-small";
  el.style.borderCollapse = "collapse";
  el.style.marginTop = "4px";
  const head = el.createTHead().insertRow();
  for (const text of ["", ...table.steps.map((s) => `step ${s}`)]) {
    const th = document.createElement("th");
    th.textContent = text;
    th.style.textAlign = "right";
    th.style.padding = "1px 8px";
    head.append(th);
  }
  const body = el.createTBody();
  for (const row of table.rows) {
    const tr = body.insertRow();
    const th = document.createElement("th");
    th.textContent = row.label;
    th.style.textAlign = "left";
    th.style.fontWeight = "normal";
    th.style.padding = "1px 8px 1px 0";
    tr.append(th);
    for (const v of row.values) {
      const td = tr.insertCell();
      td.textContent = row.field.endsWith("count") && typeof v === "number" ? String(v) : fmt(v);
      td.style.textAlign = "right";
      td.style.padding = "1px 8px";
      td.style.fontVariantNumeric = "tabular-nums";
      if ((row.field === "nan_count" || row.field === "inf_count") && typeof v === "number" && v > 0) td.style.color = "#c62828";
    }
  }
  return el;
}

function meanStdSpec(options: WidgetOptions, run: string, color: string): TopLevelSpec {
  const colors = seriesColorScale([{ name: run, color }]);
  const x = { field: "step", type: "quantitative", title: "step", scale: scaleWith(options.xDomain, { zero: false }), axis: { tickMinStep: 1, format: "d" } };
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    width: 300,
    height: 160,
    data: { name: "table" },
    encoding: { x, color: { field: "run", type: "nominal", scale: colors, legend: null } },
    layer: [
      { mark: { type: "area", opacity: 0.25, clip: true }, encoding: { y: { field: "lo", type: "quantitative", title: "mean ± std", scale: scaleWith(options.yDomain, { zero: false }) }, y2: { field: "hi" } } },
      {
        mark: { type: "line", point: { size: 18 }, clip: true },
        encoding: {
          y: { field: "mean", type: "quantitative" },
          tooltip: [
            { field: "step", type: "quantitative" },
            { field: "mean", type: "quantitative", format: ".4g" },
            { field: "std", type: "quantitative", format: ".4g" },
          ],
        },
      },
    ],
    config: CHART_CONFIG,
  };
  return spec as unknown as TopLevelSpec;
}

export interface StatisticsInputs {
  run: string;
  color: string;
}

/** Rows per step (every field of the answer), a mean ± std chart, and the table's model in `table`. */
export function statisticsContent(answer: DataAnswer, unit: UnitRef, options: WidgetOptions, inputs: StatisticsInputs): WidgetContent & { table: StatisticsTable } {
  const rows = statisticsRows(answer, inputs.run);
  const fields = (answer.fields as string[] | undefined) ?? [];
  const table = statisticsTable(rows, fields);
  const x = extentOf(rows.map((r) => r.step));
  const y = extentOf(rows.flatMap((r) => [r.lo, r.hi]));
  const what = dataSource(unit)?.statsUnit ?? unit.label;
  const nonFinite = rows.find((r) => (Number(r.nan_count) || 0) + (Number(r.inf_count) || 0) > 0);
  const warn = nonFinite ? `; non-finite values from step ${nonFinite.step}` : "";
  const perSample = unit.kind === "variable" ? "" : " (over all probe samples)";
  return {
    spec: meanStdSpec(options, inputs.run, inputs.color),
    rows,
    seriesField: "run",
    extents: { ...(x ? { x } : {}), ...(y ? { y } : {}) },
    caption: `${what}${perSample}: statistics at steps ${table.steps.join(" and ")}; mean ± std over ${rows.length} steps${warn}`,
    table,
  };
}

export const statisticsTool: Tool = {
  id: "statistics",
  name: "Statistics",
  category: "Weights",
  description: "Min, max, mean, std, skew, kurtosis, zero fraction and non-finite counts at step 0 and the last step, and mean ± std over training.",
  icon: "M3 4h18v3H3zM3 9h8v2H3zM13 9h8v2h-8zM3 13h8v2H3zM13 13h8v2h-8zM3 17h8v2H3zM13 17h8v2h-8z",
  classDependent: false,
  appliesTo(unit, ctx) {
    return unitHasData(unit, ctx, ["variable", "activation", "layer"], false); // the event file's statistics
  },
  async load(unit, ctx, options) {
    const run = unit.runs[0];
    const answer = await ctx.api.data(statisticsRequest(unit));
    const { table, ...content } = statisticsContent(answer, unit, options, { run, color: colorOf(ctx, run) });
    const html = statisticsTableElement(table);
    return html ? { ...content, html } : content;
  },
};
