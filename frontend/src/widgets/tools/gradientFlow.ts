// Gradient Flow: a model's kernels x logged steps, coloured by the root mean square of the loss's
// gradient on a probe batch (log scale), from the `gradients` route (issue 16). Vanishing gradients show
// as a pale band at the input side, exploding ones as a dark row; the tooltip adds the update ratio.

import type { TopLevelSpec } from "vega-lite";
import type { GradientsAnswer } from "../../types";
import type { Tool, WidgetContent } from "../types";
import { CHART_CONFIG } from "./shared/spec";
import { appliesToModels } from "./shared/unitPredicates";

export interface GradientRow extends Record<string, unknown> {
  model: string;
  /** "layer/variable" (with the model in front when several models are shown). */
  variable: string;
  step: number;
  grad_rms: number | null;
  log10_grad_rms: number | null;
  update_ratio_per_batch: number | null;
}

/** Rows of the kernel-like variables (the others would crowd the map), in the route's layer order. */
export function gradientRows(answers: GradientsAnswer[]): GradientRow[] {
  const rows: GradientRow[] = [];
  const several = answers.length > 1;
  for (const answer of answers) {
    for (const v of answer.variables) {
      if (!v.variable.includes("kernel") && v.variable !== "embeddings") continue;
      const rms = v.values.grad_rms ?? [];
      const update = v.values.update_ratio_per_batch ?? [];
      answer.steps.forEach((step, i) => {
        const value = rms[i] ?? null;
        rows.push({
          model: answer.run,
          variable: several ? `${answer.run} / ${v.unit}` : v.unit,
          step,
          grad_rms: value,
          log10_grad_rms: value !== null && value > 0 ? Math.log10(value) : null,
          update_ratio_per_batch: update[i] ?? null,
        });
      });
    }
  }
  return rows;
}

export function gradientFlowContent(answers: GradientsAnswer[]): WidgetContent {
  const rows = gradientRows(answers);
  const order = [...new Set(rows.map((r) => r.variable))];
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    data: { name: "table" },
    width: { step: 18 },
    height: { step: 14 },
    mark: { type: "rect", tooltip: true },
    encoding: {
      x: { field: "step", type: "ordinal", title: "logged step" },
      y: { field: "variable", type: "nominal", sort: order, title: null, axis: { labelLimit: 160 } },
      color: {
        field: "log10_grad_rms",
        type: "quantitative",
        title: "log10 grad rms",
        scale: { scheme: "viridis" },
      },
      tooltip: [
        { field: "variable", type: "nominal" },
        { field: "step", type: "ordinal" },
        { field: "grad_rms", type: "quantitative", title: "gradient rms", format: ".3g" },
        { field: "update_ratio_per_batch", type: "quantitative", title: "update / weights per batch", format: ".2g" },
      ],
    },
    config: CHART_CONFIG,
  } as unknown as TopLevelSpec;
  const runs = answers.map((a) => a.run);
  return {
    spec,
    rows,
    seriesField: "model",
    caption: `${runs.length === 1 ? runs[0] : `${runs.length} models`}: kernels x logged steps, gradient on the first 64 probe samples`,
  };
}

export const gradientFlowTool: Tool = {
  id: "gradient-flow",
  name: "Gradient Flow",
  category: "Weights",
  description:
    "Each kernel's gradient (root mean square, log scale) at every logged step: vanishing gradients show as a pale band at the input side, exploding ones as a dark row; the tooltip gives the update per batch (about 1e-3 of the weights is healthy).",
  // Arrows flowing back through stacked layers.
  icon: "M4 4h4v16H4zM10 7h4v10h-4zM16 10h4v4h-4zM21 12l-2-2v4z",
  appliesTo: appliesToModels,
  classDependent: false,
  async load(unit, ctx) {
    const answers = await Promise.all(unit.runs.map((run) => ctx.api.gradients(run)));
    const content = gradientFlowContent(answers);
    if (!content.rows.length) throw new Error(`${unit.label}: no gradients logged (a model without a compiled loss, or a probe without labels)`);
    return content;
  },
};
