// Feature Visualisation (NeuroInspect's second stage, without CLIP): inputs optimised at logging time to
// raise a neuron (or channel) together with a class, and to raise a class alone, for the neurons the
// mistake finder names and those the user listed (InnspectorCallback(visualize=...)). The widget shows
// each target's images with the percentile the neuron reaches among the probe's values and the class's rank.

import type { FeatureVisualisationsAnswer, Model, VisualisationItem } from "../../types";
import type { Tool, ToolContext, UnitRef, WidgetContent, WidgetHost, WidgetOptions } from "../types";
import { selectControl } from "./shared/controls";
import { itemsOf, visualisationFigure } from "./shared/visualisationImages";

/** Whether a model logged feature visualisations (its models entry). */
export function hasVisualisations(model: Model | undefined): boolean {
  return (model?.feature_visualisations?.steps.length ?? 0) > 0;
}

export interface VisualisationRow extends Record<string, unknown> {
  layer: string | null;
  unit: number | null;
  class: number;
  source: string;
  result: number;
  activation: number;
  percentile: number;
  class_rank: number;
  class_probability: number;
}

/** One row per image: what the CSV and JSON downloads hold. Pure. */
export function visualisationRows(items: VisualisationItem[]): VisualisationRow[] {
  return items.flatMap((item) =>
    item.results.map((r, result) => ({ layer: item.layer, unit: item.unit, class: item.class, source: item.source, result, ...r })),
  );
}

/** The items a widget shows: a neuron's (any class), else every item; with classes selected, only theirs. Pure. */
export function shownItems(answer: FeatureVisualisationsAnswer, unit: Pick<UnitRef, "kind" | "layer" | "neuron">, classes: number[] | null): VisualisationItem[] {
  const items = unit.kind === "neuron" ? itemsOf(answer, unit.layer, unit.neuron) : answer.items;
  return classes === null ? items : items.filter((i) => classes.includes(i.class));
}

const SECTIONS: { source: string; title: string }[] = [
  { source: "mistakes", title: "Mistake neurons, each with the class of the mistakes" },
  { source: "user", title: "Listed with visualize=" },
  { source: "class", title: "Class visualisations" },
];

async function loadVisualisations(unit: UnitRef, ctx: ToolContext, options: WidgetOptions, host: WidgetHost): Promise<WidgetContent> {
  const run = unit.runs[0];
  const model = ctx.models.get(run);
  const classNames = model?.classes ?? [];
  const step = typeof options.step === "number" ? options.step : undefined;
  const answer = await ctx.api.featureVisualisations(run, { layer: unit.kind === "neuron" ? unit.layer : undefined, unit: unit.kind === "neuron" ? unit.neuron : undefined, step });
  const classes = ctx.classes === null ? null : ctx.classes.map((c) => classNames.indexOf(c)).filter((c) => c >= 0);
  const items = shownItems(answer, unit, classes);
  const body = document.createElement("div");
  body.className = "inn-fv";
  if (answer.steps.length > 1) {
    const choice = selectControl("step", answer.steps.map((s) => ({ value: String(s), label: String(s) })), String(answer.step), (v) => host.reload({ step: Number(v) }));
    if (choice) body.append(choice);
  }
  for (const section of SECTIONS) {
    const mine = items.filter((i) => i.source === section.source);
    if (!mine.length) continue;
    const title = document.createElement("div");
    title.className = "inn-small inn-fv-section";
    title.textContent = section.title;
    body.append(title);
    for (const item of mine) body.append(visualisationFigure(item, answer, classNames));
  }
  if (!items.length) {
    const none = document.createElement("div");
    none.className = "inn-small inn-error-text";
    none.textContent = unit.kind === "neuron" ? `No visualisation of ${unit.layer} #${unit.neuron}${classes === null ? "" : " for the selected classes"} at step ${answer.step}.` : `No visualisation for the selected classes at step ${answer.step}.`;
    body.append(none);
  }
  const results = answer.items[0]?.results.length ?? 0;
  return {
    spec: null,
    rows: visualisationRows(items),
    html: body,
    caption: `step ${answer.step}: ${items.length} of ${answer.items.length} targets, ${results} images each, ${answer.options.steps ?? "?"} optimisation steps; hover an image for the percentile the neuron reaches among the probe's and the class's rank`,
    notes: answer.notes.length ? answer.notes.map((n) => `time budget: ${n}`) : undefined,
  };
}

export const featureVisualisationTool: Tool = {
  id: "feature-visualisation",
  name: "Feature Visualisation",
  category: "Explain",
  description:
    "Inputs optimised at logging time to raise a neuron together with a class (and a class alone), from noise, with jitter, scale and rotation robustness, a Fourier parameterisation and a total-variation penalty: for the neurons the mistake finder names and those listed with visualize=. Each image says the percentile the neuron reaches among the probe's values and the class's rank.",
  // An eye over a square of pixels.
  icon: "M4 14h6v6H4zM7 14v6M4 17h6M2 7c3-4 9-4 12 0c-3 4-9 4-12 0M8 7a1 1 0 1 0 0.01 0",
  classDependent: true,
  appliesTo: (unit, ctx) => (unit.kind === "model" || unit.kind === "neuron") && unit.runs.length === 1 && hasVisualisations(ctx.models.get(unit.runs[0])),
  whyNot: (unit, ctx) =>
    (unit.kind === "model" || unit.kind === "neuron") && !hasVisualisations(ctx.models.get(unit.runs[0]))
      ? "no feature visualisations logged (InnspectorCallback(visualize=...) logs them at the last step of a classifier's training)"
      : undefined,
  load: loadVisualisations,
};
