// The models a unit of analysis stands for (an experiment: all of its models), and whether a model is
// a classifier.

import type { Model } from "../../../types";
import type { ToolContext, UnitRef } from "../../types";

/** The known models of a unit's runs, in the order of the runs. */
export function modelsOf(unit: UnitRef, ctx: Pick<ToolContext, "models">): Model[] {
  return unit.runs.map((run) => ctx.models.get(run)).filter((m): m is Model => m !== undefined);
}

/** Runs whose metrics answer was seen, and whether it had a classification (set by the loads). */
const classificationSeen = new Map<string, boolean>();

/** Records whether a run's metrics answer has a classification (what `isClassifier` prefers to guess). */
export function noteClassification(run: string, present: boolean): void {
  classificationSeen.set(run, present);
}

/**
 * Whether a model is a classifier, for `appliesTo` (synchronous): it has class names, and either a
 * loaded metrics answer had a classification, or its metrics, output activations or loss say so.
 */
export function isClassifier(model: Model | undefined): boolean {
  if (!model || !model.classes?.length) return false;
  const seen = classificationSeen.get(model.run);
  if (seen !== undefined) return seen;
  if (Object.keys(model.latest_metrics ?? {}).some((name) => /acc|precision|recall|auc/i.test(name))) return true;
  const activations = model.hparams?.output_activations;
  if (Array.isArray(activations) && activations.some((a) => a === "softmax" || a === "sigmoid")) return true;
  const loss = model.hparams?.loss;
  const lossName = typeof loss === "string" ? loss : (loss as { name?: unknown } | undefined)?.name;
  return typeof lossName === "string" && /categorical|crossentropy|hinge/i.test(lossName);
}
