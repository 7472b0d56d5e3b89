// A run's architecture as far as it is known synchronously (appliesTo is synchronous), and lookups of
// its layers, their shapes and variables.

import type { Architecture, Layer, Shape } from "../../../types";
import type { ToolContext, UnitRef } from "../../types";

// Architectures known synchronously (appliesTo is synchronous; ctx.graph caches its promise).
const knownGraphs = new WeakMap<object, Architecture>();

/** The architecture of a run if it has already arrived; asks for it otherwise (then undefined). */
export function knownArchitecture(ctx: ToolContext, run: string): Architecture | undefined {
  let promise: Promise<Architecture>;
  try {
    promise = ctx.graph(run);
  } catch {
    return undefined;
  }
  if (!promise || typeof promise.then !== "function") return undefined;
  const arch = knownGraphs.get(promise);
  if (!arch) promise.then((a) => knownGraphs.set(promise, a)).catch(() => undefined);
  return arch;
}

export function findLayer(arch: Architecture | undefined, id: string | undefined): Layer | undefined {
  return id === undefined ? undefined : arch?.layers.find((l) => l.id === id);
}

export function isInputLayer(layer: Layer): boolean {
  return Boolean(layer.is_input) || layer.type === "InputLayer";
}

/** The first output shape of a layer (with its batch dimension). */
export function outputShape(layer: Layer | undefined): Shape | null {
  return layer?.output_shapes?.[0] ?? null;
}

/** The shape of a layer's variable. */
export function variableShape(layer: Layer | undefined, name: string | undefined): Shape | null {
  const v = (layer?.variables as { name?: string; shape?: Shape }[] | undefined)?.find((x) => x?.name === name);
  return v?.shape ?? null;
}

export function hasVariable(layer: Layer | undefined, name: string | undefined): boolean {
  return (layer?.variables as { name?: string }[] | undefined)?.some((x) => x?.name === name) ?? false;
}

/** The layer of a layer or activation unit and its first output shape (null when unknown), read from the architecture. */
export async function layerOutput(unit: UnitRef, ctx: Pick<ToolContext, "graph">): Promise<{ layer: string; shape: Shape | null }> {
  if (!unit.layer) throw new Error(`${unit.label} is not a layer`);
  const arch = await ctx.graph(unit.runs[0]);
  return { layer: unit.layer, shape: outputShape(findLayer(arch, unit.layer)) };
}
