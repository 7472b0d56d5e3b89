// Confusion Matrix: true × predicted classes of a classifier's logged predictions on the probe, at the
// last step (or the widget's step). Class-dependent: only the selected true classes' rows. A clickable
// table below the chart lists the probe samples of a cell in the widget's footer.

import { html } from "../../svg";
import type { DataAnswer, DataArray, MetricsAnswer } from "../../types";
import type { Tool, ToolContext, UnitRef, WidgetContent, WidgetHost, WidgetOptions } from "../types";
import { flatValues } from "./shared/answers";
import { classHeatmapSpec } from "./shared/classHeatmap";
import { className, labelsOfClasses } from "./shared/classes";
import { noteClassification } from "./shared/models";
import { appliesToClassifier } from "./shared/unitPredicates";

/** The step to show: the widget's step if the answer has it, else the last one. */
export function pickStep(available: number[], wanted: WidgetOptions["step"]): number | null {
  if (!available.length) return null;
  if (typeof wanted === "number") {
    if (!available.includes(wanted)) throw new Error(`no classification at step ${wanted} (steps: ${available.join(", ")})`);
    return wanted;
  }
  return Math.max(...available);
}

// ---------------------------------------------------------------------------------------------
// The pure mapping.

export interface ConfusionRow extends Record<string, unknown> {
  true: string;
  predicted: string;
  true_label: number;
  predicted_label: number;
  count: number;
  /** count / samples of the true class (the row): recall on the diagonal. */
  row_share: number | null;
}

export function confusionMatrixContent(
  metrics: MetricsAnswer,
  run: string,
  classNames: string[],
  selected: string[] | null,
  step: WidgetOptions["step"] = "last",
): WidgetContent & { step: number } {
  const entry = metrics.runs[run];
  if (!entry) throw new Error(`no metrics for ${run}`);
  const steps = Object.keys(entry.classification ?? {}).map(Number).filter(Number.isFinite);
  const chosen = pickStep(steps, step);
  if (chosen === null) throw new Error(`${run} has no logged classification (is it a classifier with a probe?)`);
  const matrix = entry.classification[String(chosen)];
  const keep = selected === null ? null : new Set(labelsOfClasses(classNames, selected));
  const rows: ConfusionRow[] = [];
  const names = matrix.classes.map((label) => className(classNames, label));
  matrix.classes.forEach((trueLabel, i) => {
    if (keep && !keep.has(trueLabel)) return;
    const support = matrix.matrix[i].reduce((a, b) => a + b, 0);
    matrix.classes.forEach((predictedLabel, j) => {
      const count = matrix.matrix[i][j];
      rows.push({
        true: names[i],
        predicted: names[j],
        true_label: trueLabel,
        predicted_label: predictedLabel,
        count,
        row_share: support ? count / support : null,
      });
    });
  });
  const trueNames = names.filter((_, i) => !keep || keep.has(matrix.classes[i]));
  const total = rows.reduce((n, r) => n + r.count, 0);
  const right = rows.filter((r) => r.true_label === r.predicted_label).reduce((n, r) => n + r.count, 0);
  const maxCount = Math.max(1, ...rows.map((r) => r.count));
  const spec = classHeatmapSpec({
    predicted: names,
    true: trueNames,
    width: Math.min(300, 24 * names.length),
    titles: { predicted: "predicted", true: "true" },
    value: { field: "count", domain: [0, maxCount], legend: null },
    // The diagonal outlined.
    cell: { stroke: { condition: { test: "datum.true_label === datum.predicted_label", value: "#555555" }, value: null } },
    tooltip: [
      { field: "true", type: "nominal" },
      { field: "predicted", type: "nominal" },
      { field: "count", type: "quantitative" },
      { field: "row_share", type: "quantitative", format: ".0%", title: "share of true class" },
    ],
    labels: { filter: "datum.count > 0", fontSize: 10 },
  });
  const selection = selected === null ? "all classes" : `classes ${trueNames.join(", ")}`;
  return {
    spec,
    rows,
    step: chosen,
    caption: `step ${chosen}; ${total} probe samples of ${selection}; ${right} right (${total ? Math.round((100 * right) / total) : 0}%)`,
  };
}

/** Probe sample indices of each cell, "<true label>:<predicted label>", from top-1 predictions and labels. */
export function cellSamples(topk: DataAnswer, labels: DataAnswer): Map<string, number[]> {
  const value = topk.result.value as { indices?: DataArray } | undefined;
  const predicted = flatValues(value?.indices);
  const truth = flatValues(labels.result.value);
  if (predicted.length !== truth.length) {
    throw new Error(`${predicted.length} predictions but ${truth.length} labels`);
  }
  const cells = new Map<string, number[]>();
  truth.forEach((label, index) => {
    const key = `${label}:${predicted[index]}`;
    const list = cells.get(key);
    if (list) list.push(index);
    else cells.set(key, [index]);
  });
  return cells;
}

/** The clickable table below the chart: the same matrix; a cell lists its samples in the footer. */
export function confusionTable(rows: ConfusionRow[], samples: Map<string, number[]> | null, host: WidgetHost, note?: string): HTMLElement {
  // Collapsible, open: the same matrix as the chart, as buttons.
  const wrap = html("details", { class: "inn-confusion", open: "" });
  html("summary", { class: "inn-small" }, wrap, "Samples by cell");
  const trueNames: string[] = [];
  const predictedNames: string[] = [];
  for (const row of rows) {
    if (!trueNames.includes(row.true)) trueNames.push(row.true);
    if (!predictedNames.includes(row.predicted)) predictedNames.push(row.predicted);
  }
  const table = html(
    "table",
    { class: "inn-confusion-table inn-small", style: "border-collapse:collapse;text-align:center;margin-top:4px" },
    wrap,
  );
  const head = html("tr", {}, html("thead", {}, table));
  html("th", { title: "true \\ predicted" }, head, "t\\p");
  for (const name of predictedNames) html("th", { scope: "col" }, head, name);
  const body = html("tbody", {}, table);
  for (const trueName of trueNames) {
    const tr = html("tr", {}, body);
    html("th", { scope: "row" }, tr, trueName);
    for (const row of rows.filter((r) => r.true === trueName)) {
      const diagonal = row.true_label === row.predicted_label;
      const td = html("td", { class: diagonal ? "inn-diagonal" : null, style: `min-width:18px;padding:0 1px${diagonal ? ";font-weight:bold" : ""}` }, tr);
      const indices = samples?.get(`${row.true_label}:${row.predicted_label}`) ?? [];
      if (row.count > 0 && indices.length) {
        const title = `true ${row.true} → predicted ${row.predicted}`;
        const button = html(
          "button",
          { type: "button", title: `${title}: list the ${indices.length} samples`, style: "padding:0 3px;min-width:18px;font:inherit" },
          td,
          String(row.count),
        );
        button.addEventListener("click", () => host.showSamples(title, indices));
      } else {
        td.textContent = row.count > 0 ? String(row.count) : "";
      }
    }
  }
  const hint = note ?? (samples ? "Click a count to list its probe samples." : "Per-sample predictions are not available.");
  html("div", { class: "inn-small inn-muted" }, wrap, hint);
  return wrap;
}

// ---------------------------------------------------------------------------------------------
// The tool.

export async function loadConfusionMatrix(unit: UnitRef, ctx: ToolContext, options: WidgetOptions, host: WidgetHost): Promise<WidgetContent> {
  const run = unit.runs[0];
  const model = ctx.models.get(run);
  if (!model) throw new Error(`no model ${run}`);
  const metrics = await ctx.api.metrics([run]);
  const entry = metrics.runs[run];
  noteClassification(run, Object.keys(entry?.classification ?? {}).length > 0);
  const { step, ...content } = confusionMatrixContent(metrics, run, model.classes, ctx.classes, options.step);
  let samples: Map<string, number[]> | null = null;
  let note: string | undefined;
  try {
    const [topk, labels] = await Promise.all([
      ctx.api.data({ run, unit: { kind: "predictions" }, steps: step, transform: [{ op: "topk", k: 1, axis: -1 }] }),
      ctx.api.data({ run, unit: { kind: "labels" } }),
    ]);
    samples = cellSamples(topk, labels);
  } catch (error) {
    note = `Per-sample predictions are not available: ${(error as Error).message}`;
  }
  content.html = confusionTable(content.rows as ConfusionRow[], samples, host, note);
  return content;
}

export const confusionMatrixTool: Tool = {
  id: "confusion-matrix",
  name: "Confusion Matrix",
  category: "Performance",
  description:
    "True × predicted classes of the probe samples at the last step (class selection: the true classes). Click a count to list its samples.",
  // A 3 × 3 grid of cells.
  icon: "M3 3h5v5H3V3zm6.5 0h5v5h-5V3zM16 3h5v5h-5V3zM3 9.5h5v5H3v-5zm6.5 0h5v5h-5v-5zM16 9.5h5v5h-5v-5zM3 16h5v5H3v-5zm6.5 0h5v5h-5v-5zM16 16h5v5h-5v-5z",
  appliesTo: appliesToClassifier,
  classDependent: true,
  load: loadConfusionMatrix,
};
