// Mistake neurons (NeuroInspect): the feature neurons a classifier's mistakes depend on, found on the
// server by sparse counterfactual edits of the decision layer's input. The widget lists them with their
// vote share and importance ratio (and the feature visualisations logged for them: the analysed class's
// first); a click shows the neuron at L1 with its row of the Neurons × Classes matrix.

import type { TopLevelSpec } from "vega-lite";
import type { FeatureVisualisationsAnswer, MistakesAnswer } from "../../types";
import type { Tool, ToolContext, UnitRef, WidgetContent, WidgetHost, WidgetOptions } from "../types";
import { isClassifier } from "./shared/models";
import { CHART_CONFIG } from "./shared/spec";
import { imageUrl, itemsOf, resultLabel } from "./shared/visualisationImages";

export interface MistakeRow {
  neuron: number;
  name: string;
  share: number;
  votes: number;
  direction: string;
  importance_ratio: number | null;
  [key: string]: unknown;
}

/** Rows, most voted first. Pure. */
export function mistakeRows(answer: MistakesAnswer): MistakeRow[] {
  return [...answer.neurons]
    .sort((a, b) => b.share - a.share || a.index - b.index)
    .map((n) => ({
      neuron: n.index,
      name: `#${n.index} (${n.direction})`,
      share: n.share,
      votes: n.votes,
      direction: n.direction,
      importance_ratio: n.importance_ratio,
    }));
}

export function mistakeSpec(rows: MistakeRow[]): TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    data: { name: "table" },
    width: 260,
    height: Math.max(60, 16 * rows.length),
    mark: { type: "bar", cursor: "pointer", tooltip: true },
    encoding: {
      y: { field: "name", type: "nominal", sort: null, title: "feature neuron" },
      x: { field: "share", type: "quantitative", title: "share of mistakes voting", axis: { format: "%" } },
      color: {
        field: "direction",
        type: "nominal",
        scale: { domain: ["increase", "decrease"], range: ["#d6604d", "#4393c3"] },
        title: "edit",
      },
      tooltip: [
        { field: "neuron", type: "ordinal" },
        { field: "direction", type: "nominal" },
        { field: "votes", type: "quantitative" },
        { field: "share", type: "quantitative", format: ".1%" },
        { field: "importance_ratio", type: "quantitative", format: ".3g", title: "p_c(f̄) / p_c(f̄ without it)" },
      ],
    },
    config: CHART_CONFIG,
  } as unknown as TopLevelSpec;
}

/** The class analysed: the one selected class, else every class. */
export function analysedClass(ctx: Pick<ToolContext, "classes">, classNames: string[]): number | null {
  if (!ctx.classes || ctx.classes.length !== 1) return null;
  const index = classNames.indexOf(ctx.classes[0]);
  return index >= 0 ? index : null;
}

/** A feature neuron as a unit of analysis at L1 (where a click jumps to). */
function neuronUnit(run: string, layer: string, neuron: number): UnitRef {
  return { kind: "neuron", level: "L1", runs: [run], layer, neuron, key: `neuron:${layer}:${neuron}`, label: `${run} / ${layer} / neuron ${neuron}` };
}

/** The logged feature visualisations of the feature layer, or null (none logged, or unreadable). */
async function visualisationsOf(ctx: ToolContext, run: string, layer: string): Promise<FeatureVisualisationsAnswer | null> {
  if (!ctx.models.get(run)?.feature_visualisations) return null;
  try {
    return await ctx.api.featureVisualisations(run, { layer });
  } catch {
    return null; // the list stands without pictures
  }
}

/** A neuron's visualisation images (the analysed class's first), after its button. */
function neuronImages(visuals: FeatureVisualisationsAnswer, layer: string, neuron: number, cls: number | null): HTMLElement[] {
  const item = itemsOf(visuals, layer, neuron, cls)[0];
  if (!item) return [];
  const range = (visuals.value_range?.length === 2 ? visuals.value_range : [0, 1]) as [number, number];
  return item.images.flatMap((image, r) => {
    const url = imageUrl(image, range);
    if (!url) return [];
    const img = document.createElement("img");
    img.className = "inn-fv-image";
    img.src = url;
    img.width = 28;
    img.height = 28;
    img.dataset.class = String(item.class);
    img.title = `feature visualisation of ${layer} #${neuron} with class ${item.class} (step ${visuals.step}): ${item.results[r] ? resultLabel(item.results[r]) : ""}`;
    img.alt = img.title;
    return [img];
  });
}

function neuronList(
  rows: MistakeRow[],
  answer: MistakesAnswer,
  host: WidgetHost,
  run: string,
  visuals: FeatureVisualisationsAnswer | null = null,
): HTMLElement {
  const box = document.createElement("div");
  box.className = "inn-mistake-list inn-small";
  for (const row of rows) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "inn-link";
    button.dataset.neuron = String(row.neuron);
    button.textContent = `${answer.feature_layer} #${row.neuron}: ${(row.share * 100).toFixed(0)}% (${row.direction}), ratio ${row.importance_ratio?.toPrecision(3) ?? "n/a"}`;
    const unit = neuronUnit(run, answer.feature_layer, row.neuron);
    button.addEventListener("click", () => host.jump(unit));
    const line = document.createElement("div");
    line.append(button);
    if (visuals) line.append(...neuronImages(visuals, answer.feature_layer, row.neuron, answer.class));
    box.append(line);
  }
  return box;
}

export async function loadMistakes(unit: UnitRef, ctx: ToolContext, options: WidgetOptions, host: WidgetHost): Promise<WidgetContent> {
  const run = unit.runs[0];
  const classNames = ctx.models.get(run)?.classes ?? [];
  const cls = analysedClass(ctx, classNames);
  const answer = await ctx.api.mistakes(run, { cls, step: typeof options.step === "number" ? options.step : undefined });
  const rows = mistakeRows(answer);
  const visuals = await visualisationsOf(ctx, run, answer.feature_layer);
  const scope = cls === null ? "every class" : `class ${classNames[cls] ?? cls}`;
  const caption =
    `step ${answer.step}, ${scope}: ${answer.mistakes} mistakes of ${answer.samples} samples, ${answer.solved} flipped by the edits of ` +
    `${answer.feature_layer} (the input of ${answer.decision_layer})` + (answer.note ? `. ${answer.note}` : "") +
    (visuals ? `; images: the neurons' feature visualisations of step ${visuals.step}` : "");
  return {
    spec: rows.length ? mistakeSpec(rows) : null,
    rows,
    html: neuronList(rows, answer, host, run, visuals),
    caption,
    onClick(datum) {
      const neuron = Number(datum.neuron);
      if (!Number.isInteger(neuron)) return;
      host.jump(neuronUnit(run, answer.feature_layer, neuron));
    },
  };
}

export const mistakeNeuronsTool: Tool = {
  id: "mistake-neurons",
  name: "Mistake Neurons",
  category: "Explain",
  description:
    "The feature neurons a classifier's mistakes depend on (NeuroInspect): sparse edits of the decision layer's input that would fix each misclassified probe sample, voted. Select one class to analyse only its mistakes; click a neuron to see it at L1.",
  icon: "M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18M8 8l8 8M16 8l-8 8",
  classDependent: true,
  appliesTo: (unit, ctx) => unit.kind === "model" && isClassifier(ctx.models.get(unit.runs[0])),
  load: loadMistakes,
};
