// Token sequences (a text model's probe of token ids) drawn as words: the vocabulary logged with the
// probe names each id (InnspectorCallback(vocabulary=...), the /vocabulary route), an id without a
// name shows as "#id". A strip of tokens, wrapped in lines, coloured by a value per token (a token
// attribution) or plain.

import type { Model } from "../../../types";
import type { ToolContext } from "../../types";
import { divergingScale } from "./spec";

/** Tokens per line of a strip: long sequences wrap instead of running off a widget (about 300 px). */
export const TOKENS_PER_LINE = 8;

/** Whether one probe sample is a token sequence (a flat list of ids) rather than an image. Pure. */
export function isTokenSequence(sample: unknown): sample is number[] {
  return Array.isArray(sample) && sample.length > 0 && sample.every((v) => typeof v === "number" || v === null);
}

/** The string of each token id; ids the vocabulary lacks (or without one) as "#id". Pure. */
export function tokenStrings(ids: readonly (number | null)[], vocabulary: readonly string[] | null): string[] {
  return ids.map((id) => {
    if (id === null || !Number.isFinite(id)) return "?";
    const index = Math.round(id);
    return vocabulary?.[index] ?? `#${index}`;
  });
}

/** The run's vocabulary, or null when it logged none (or it cannot be read: ids are shown instead). */
export async function loadVocabulary(ctx: ToolContext, model: Model | undefined): Promise<string[] | null> {
  if (!model?.vocabulary_size) return null;
  try {
    return (await ctx.api.vocabulary(model.run)).tokens;
  } catch {
    return null;
  }
}

export interface TokenRow {
  position: number;
  line: number;
  column: number;
  token: string;
  id: number | null;
  value: number | null;
  sample: number;
  [key: string]: unknown;
}

/** One row per token: its place in the wrapped strip, its string and its value (null: plain). Pure. */
export function tokenRows(
  ids: readonly (number | null)[],
  values: readonly (number | null)[] | null,
  vocabulary: readonly string[] | null,
  sample: number,
): TokenRow[] {
  const strings = tokenStrings(ids, vocabulary);
  return ids.map((id, position) => ({
    position,
    line: Math.floor(position / TOKENS_PER_LINE),
    column: position % TOKENS_PER_LINE,
    token: strings[position],
    id,
    value: values ? (values[position] ?? null) : null,
    sample,
  }));
}

/** The text of a sequence, for captions and previews. Pure. */
export function sequenceText(ids: readonly (number | null)[], vocabulary: readonly string[] | null): string {
  return tokenStrings(ids, vocabulary).join(" ");
}

/**
 * A Vega-Lite layer of the strip: a cell per token coloured by its value (blue negative, red positive,
 * symmetric around 0 with `max`), the token written in it; `filter` keeps the strip's rows of a table.
 */
export function tokenStripLayer(title: string, max: number, filter?: string): Record<string, unknown> {
  const position = {
    x: { field: "column", type: "ordinal", axis: null, scale: { paddingInner: 0.08 } },
    y: { field: "line", type: "ordinal", axis: null, scale: { paddingInner: 0.2 } },
  };
  return {
    ...(filter ? { transform: [{ filter }] } : {}),
    title,
    width: { step: 30 },
    height: { step: 22 },
    layer: [
      {
        mark: { type: "rect", tooltip: true, stroke: "#ccc", strokeWidth: 0.5 },
        encoding: {
          ...position,
          color: { field: "value", type: "quantitative", scale: divergingScale(max || 1), title: "attribution", legend: { orient: "bottom", direction: "horizontal", gradientLength: 160 } },
          tooltip: [
            { field: "position", type: "quantitative", title: "position" },
            { field: "token", type: "nominal" },
            { field: "value", type: "quantitative", format: ".4f", title: "attribution" },
          ],
        },
      },
      { mark: { type: "text", fontSize: 9, limit: 28 }, encoding: { ...position, text: { field: "token", type: "nominal" } } },
    ],
  };
}
