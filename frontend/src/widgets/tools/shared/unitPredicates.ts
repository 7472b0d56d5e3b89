// Predicates of `Tool.appliesTo`: whether a unit of analysis has the data a tool reads.

import type { ToolContext, UnitRef } from "../../types";
import { findLayer, hasVariable, isInputLayer, knownArchitecture } from "./architecture";

/**
 * Whether a unit has data of the kinds the tool reads, judged from the architecture when known
 * (without it, from the unit's kind only).
 */
export function unitHasData(unit: UnitRef, ctx: ToolContext, kinds: UnitRef["kind"][]): boolean {
  if (!kinds.includes(unit.kind) || unit.runs.length === 0 || !unit.layer) return false;
  if (unit.kind === "variable" && !unit.variable) return false;
  if (unit.kind === "neuron" && typeof unit.neuron !== "number") return false;
  const arch = knownArchitecture(ctx, unit.runs[0]);
  if (!arch) return true;
  const layer = findLayer(arch, unit.layer);
  if (!layer) return false;
  if (unit.kind === "variable") return hasVariable(layer, unit.variable);
  return !isInputLayer(layer);
}
