// Reduced data (docs/format.md, "Reduced data"): for big models the logging plan keeps some layers'
// activations pooled per unit (one vector per probe sample), the full maps of a subset of samples, or only
// their statistics, and each layer's full weights every few steps. What the logs keep of a layer is in the
// model's `plan` (the `models` answer); what an answer rests on is in its `reduced` / `note` (data) or
// `notes` (neurons), shown in the widget as a caption of its own.

import type { DataAnswer, Model, NeuronsAnswer, ReducedLayer, Shape } from "../../../types";
import type { ToolContext, WidgetContent } from "../../types";

/** What the logs keep of a layer that the plan reduced; null when the layer is kept in full (logs without a plan too). */
export function layerReduction(model: Model | undefined, layer: string | undefined): ReducedLayer | null {
  if (!model?.plan || !layer) return null;
  return model.plan.reduced_layers[layer] ?? null;
}

export function reductionOf(ctx: Pick<ToolContext, "models">, run: string, layer: string | undefined): ReducedLayer | null {
  return layerReduction(ctx?.models?.get(run), layer);
}

/**
 * The shape of the per-sample activations the `data` route answers by default: the layer's output, or
 * [batch, units] when the layer is kept pooled (the mean over positions of each unit, per sample).
 */
export function storedShape(shape: Shape | null, reduction: ReducedLayer | null): Shape | null {
  if (!shape || shape.length < 2 || reduction?.activations !== "pooled") return shape;
  return [shape[0], shape[shape.length - 1]];
}

/** Whether the logs keep one vector (full or pooled) per probe sample of the layer. */
export function hasSampleVectors(reduction: ReducedLayer | null): boolean {
  return !reduction || reduction.activations !== "none";
}

/** Whether the logs keep full maps of some probe samples (every one when full, else the sample subset). */
export function hasSampleMaps(reduction: ReducedLayer | null): boolean {
  return !reduction || reduction.sample_maps;
}

/** Whether the logs keep per-class mean maps of the layer (else only per-unit class means). */
export function hasClassMaps(reduction: ReducedLayer | null): boolean {
  return !reduction || reduction.class_maps;
}

type Noted = DataAnswer | NeuronsAnswer | null | undefined;

/** What the answers say they rest on ("pooled over 8x8 positions (mean per channel)", "kernel from step 40"), each once. */
export function reducedNotes(...answers: Noted[]): string[] {
  const notes: string[] = [];
  for (const answer of answers) {
    if (!answer) continue;
    const found: (string | undefined)[] = [];
    if ("result" in answer) found.push(answer.reduced?.note, answer.note);
    else found.push(...(answer.notes ?? []));
    for (const note of found) if (note && !notes.includes(note)) notes.push(note);
  }
  return notes;
}

/** The content with the notes of the answers added (nothing changes for answers of full data). */
export function withNotes(content: WidgetContent, ...answers: Noted[]): WidgetContent {
  const notes = [...(content.notes ?? [])];
  for (const note of reducedNotes(...answers)) if (!notes.includes(note)) notes.push(note);
  return notes.length ? { ...content, notes } : content;
}

/** The notes of merged widgets, each once. */
export function mergedNotes(parts: { content: WidgetContent }[]): string[] | undefined {
  const notes: string[] = [];
  for (const part of parts) for (const note of part.content.notes ?? []) if (!notes.includes(note)) notes.push(note);
  return notes.length ? notes : undefined;
}

/** The probe rows of an answer's samples: `reduced.rows` for the sample subset, else null (every probe sample, or the class selection of them). */
export function subsetRows(answer: DataAnswer): number[] | null {
  return answer.reduced?.form === "samples" && Array.isArray(answer.reduced.rows) ? answer.reduced.rows : null;
}
