// The models a unit of analysis stands for (an experiment: all of its models).

import type { Model } from "../../../types";
import type { ToolContext, UnitRef } from "../../types";

/** Whether a unit stands for models: an experiment or a model, with at least one run. */
export function appliesToModels(unit: UnitRef): boolean {
  return (unit.kind === "experiment" || unit.kind === "model") && unit.runs.length > 0;
}

/** The known models of a unit's runs, in the order of the runs. */
export function modelsOf(unit: UnitRef, ctx: Pick<ToolContext, "models">): Model[] {
  return unit.runs.map((run) => ctx.models.get(run)).filter((m): m is Model => m !== undefined);
}
