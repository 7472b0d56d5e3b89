// Class Probabilities: for each true class, the mean predicted probability of every class (the
// classifier's output averaged per true class on the server: `group_by_class` with `reduce: "mean"`).
// Class-dependent: only the selected true classes.

import type { DataAnswer, DataArray, Model } from "../../types";
import type { Tool, WidgetContent, WidgetOptions } from "../types";
import { flatValues } from "./shared/answers";
import { classHeatmapSpec } from "./shared/classHeatmap";
import { className, labelsOfClasses } from "./shared/classes";
import { appliesToClassifier } from "./shared/unitPredicates";

export interface ClassProbabilityRow extends Record<string, unknown> {
  true: string;
  predicted: string;
  true_label: number;
  predicted_label: number;
  /** Mean predicted probability of `predicted` over the probe samples of `true`. */
  probability: number | null;
  /** Probe samples of the true class. */
  samples: number;
}

/** The data request of the widget: mean predictions per true class, at one step, for the selected classes. */
export function classProbabilitiesRequest(run: string, model: Model, selected: string[] | null, step: WidgetOptions["step"]) {
  return {
    run,
    unit: { kind: "predictions" as const },
    steps: typeof step === "number" ? step : ("last" as const),
    ...(selected === null ? {} : { classes: labelsOfClasses(model.classes, selected) }),
    transform: [{ op: "group_by_class", reduce: "mean" }],
  };
}

/** The pure mapping of a `group_by_class` answer to a true × predicted heatmap. */
export function classProbabilitiesContent(answer: DataAnswer, classNames: string[]): WidgetContent {
  const groups = answer.result.value as Record<string, DataArray> | undefined;
  if (!groups || typeof groups !== "object" || "shape" in groups) {
    throw new Error("the answer has no per-class means (group_by_class)");
  }
  const labels = flatValues(answer.result.label as DataArray | undefined).map(Number);
  const counts = new Map<number, number>();
  for (const label of labels) counts.set(label, (counts.get(label) ?? 0) + 1);
  const trueLabels = Object.keys(groups)
    .map(Number)
    .sort((a, b) => a - b);
  const rows: ClassProbabilityRow[] = [];
  let width = 0;
  for (const trueLabel of trueLabels) {
    const means = flatValues(groups[String(trueLabel)]);
    width = Math.max(width, means.length);
    means.forEach((mean, predictedLabel) => {
      rows.push({
        true: className(classNames, trueLabel),
        predicted: className(classNames, predictedLabel),
        true_label: trueLabel,
        predicted_label: predictedLabel,
        probability: typeof mean === "number" && Number.isFinite(mean) ? mean : null,
        samples: counts.get(trueLabel) ?? 0,
      });
    });
  }
  const predictedNames = Array.from({ length: width }, (_, i) => className(classNames, i));
  const trueNames = trueLabels.map((label) => className(classNames, label));
  const values = rows.map((r) => r.probability).filter((v): v is number => v !== null);
  const inUnit = values.every((v) => v >= 0 && v <= 1);
  const domain: [number, number] = inUnit ? [0, 1] : [Math.min(...values), Math.max(...values)];
  const spec = classHeatmapSpec({
    predicted: predictedNames,
    true: trueNames,
    width: Math.min(270, 26 * predictedNames.length),
    titles: { predicted: "predicted class", true: "true class" },
    value: {
      field: "probability",
      domain,
      legend: { title: inUnit ? "mean p" : "mean output", gradientLength: 80, orient: "right", titleFontSize: 10 },
    },
    tooltip: [
      { field: "true", type: "nominal", title: "true class" },
      { field: "predicted", type: "nominal", title: "predicted class" },
      { field: "probability", type: "quantitative", format: ".3f", title: "mean probability" },
      { field: "samples", type: "quantitative", title: "samples of the true class" },
    ],
    // Values below 5 % of the range stay unwritten.
    labels: { filter: `isValid(datum.probability) && datum.probability >= ${domain[0] + 0.05 * (domain[1] - domain[0])}`, fontSize: 9, format: ".2f" },
  });
  const step = Array.isArray(answer.steps) ? answer.steps[0] : answer.steps;
  const total = labels.length;
  return {
    spec,
    rows,
    extents: values.length ? { y: [Math.min(...values), Math.max(...values)] } : {},
    caption:
      `step ${step}; ${total} probe samples of ${trueNames.length === predictedNames.length ? "all classes" : `classes ${trueNames.join(", ")}`}` +
      (inUnit ? "" : "; the outputs are not probabilities"),
  };
}

export const classProbabilitiesTool: Tool = {
  id: "class-probabilities",
  name: "Class Probabilities",
  category: "Performance",
  description:
    "For each true class, the mean predicted probability of every class on the probe samples (computed on the server). Follows the class selection.",
  // Stacked bars of a distribution.
  icon: "M4 20V10h3v10H4zm6.5 0V4h3v16h-3zM17 20v-7h3v7h-3zM2 21h20v1H2z",
  appliesTo: appliesToClassifier,
  classDependent: true,
  async load(unit, ctx, options) {
    const run = unit.runs[0];
    const model = ctx.models.get(run);
    if (!model) throw new Error(`no model ${run}`);
    const answer = await ctx.api.data(classProbabilitiesRequest(run, model, ctx.classes, options.step));
    return classProbabilitiesContent(answer, model.classes);
  },
};
