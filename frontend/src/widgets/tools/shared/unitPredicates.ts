// Predicates of `Tool.appliesTo`: whether a unit of analysis has the data a tool reads.

import type { ReducedLayer, Shape } from "../../../types";
import type { ToolContext, UnitRef } from "../../types";
import { findLayer, hasVariable, isInputLayer, knownArchitecture, outputShape } from "./architecture";
import { isClassifier } from "./models";
import { hasSampleVectors, reductionOf } from "./reduced";

/**
 * Whether a unit has data of the kinds the tool reads, judged from the architecture when known
 * (without it, from the unit's kind only). With `arrays` (the default) the tool reads the step files'
 * arrays, so a layer whose logging plan keeps only statistics (reduced data) has none.
 */
export function unitHasData(unit: UnitRef, ctx: ToolContext, kinds: UnitRef["kind"][], arrays = true): boolean {
  if (!kinds.includes(unit.kind) || unit.runs.length === 0 || !unit.layer) return false;
  if (unit.kind === "variable" && !unit.variable) return false;
  if (unit.kind === "neuron" && typeof unit.neuron !== "number") return false;
  if (arrays && unit.kind !== "variable" && !hasSampleVectors(reductionOf(ctx, unit.runs[0], unit.layer))) return false;
  const arch = knownArchitecture(ctx, unit.runs[0]);
  if (!arch) return true;
  const layer = findLayer(arch, unit.layer);
  if (!layer) return false;
  if (unit.kind === "variable") return hasVariable(layer, unit.variable);
  return !isInputLayer(layer);
}

/** A layer output with at least one axis besides the batch. */
export function hasFeatures(shape: Shape): boolean {
  return shape.length >= 2;
}

/**
 * Whether an activation or layer unit has activations of a shape the tool can show (`accepts` sees the
 * layer's first output shape, batch axis included), judged from the architecture when known (without
 * it, from the unit's kind only). Input layers have no activations, nor have layers whose logging plan
 * keeps only statistics (reduced data; `kept` decides for the others, by what the plan keeps).
 */
export function appliesToActivations(
  unit: UnitRef,
  ctx: ToolContext,
  accepts: (shape: Shape) => boolean = hasFeatures,
  kept: (reduction: ReducedLayer) => boolean = (r) => r.activations !== "none",
): boolean {
  if (unit.kind !== "activation" && unit.kind !== "layer") return false;
  if (!unit.layer || !unit.runs.length) return false;
  const reduction = reductionOf(ctx, unit.runs[0], unit.layer);
  if (reduction && !kept(reduction)) return false;
  const arch = knownArchitecture(ctx, unit.runs[0]);
  if (!arch) return true;
  const layer = findLayer(arch, unit.layer);
  const shape = outputShape(layer);
  return Boolean(layer && !isInputLayer(layer) && shape && accepts(shape));
}

/** Whether a unit stands for models: an experiment or a model, with at least one run. */
export function appliesToModels(unit: UnitRef): boolean {
  return (unit.kind === "experiment" || unit.kind === "model") && unit.runs.length > 0;
}

/** Whether a unit is one model, a classifier. */
export function appliesToClassifier(unit: UnitRef, ctx: Pick<ToolContext, "models">): boolean {
  return unit.kind === "model" && unit.runs.length === 1 && isClassifier(ctx.models.get(unit.runs[0]));
}

/** Whether a unit stands for a plain run (no iNNspector data, store/plain_runs.py): only its metrics. */
export function onPlainRuns(unit: UnitRef, ctx: ToolContext): boolean {
  return unit.runs.some((run) => ctx.models.get(run)?.plain === true);
}
