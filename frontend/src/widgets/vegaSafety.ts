// What a chart spec may make Vega do. Specs are data (ours, or a JSON-declared tool's from a shared
// logdir), so a chart loads no URL (data, images, fonts: every row comes from our own routes) and builds
// no huge sequence (a `sequence` data generator or expression of a billion items would hang the tab).

import * as vega from "vega";
import { expressionInterpreter } from "vega-interpreter";

export const MAX_SEQUENCE = 100_000;
const MAX_SPEC_DEPTH = 64;

function refused(what: string): Promise<never> {
  return Promise.reject(new Error(`iNNspector charts load nothing from URLs (${what} refused)`));
}

/** A Vega loader that refuses every URL, file and sanitised link. */
export function refusingLoader(): vega.Loader {
  return {
    options: {},
    load: (uri: string) => refused(String(uri).slice(0, 80)),
    sanitize: (uri: string) => refused(String(uri).slice(0, 80)),
    http: (uri: string) => refused(String(uri).slice(0, 80)),
    file: (name: string) => refused(String(name).slice(0, 80)),
  } as unknown as vega.Loader;
}

/** The number of items sequence(start, stop, step) makes, as Vega counts them. */
export function sequenceLength(start: number, stop?: number, step?: number): number {
  let [from, to, by] = stop === undefined ? [0, start, 1] : [start, stop, step ?? 1];
  if (![from, to, by].every(Number.isFinite) || by === 0) return Number.isFinite(to - from) ? 0 : Infinity;
  return Math.max(0, Math.ceil((to - from) / by));
}

/** Throws when the spec holds a `sequence` data generator over MAX_SEQUENCE items, or nests too deep. */
export function checkSequences(spec: unknown, depth = 0): void {
  if (depth > MAX_SPEC_DEPTH) throw new Error(`chart spec nested deeper than ${MAX_SPEC_DEPTH} levels`);
  if (Array.isArray(spec)) {
    for (const item of spec) checkSequences(item, depth + 1);
    return;
  }
  if (spec === null || typeof spec !== "object") return;
  const record = spec as Record<string, unknown>;
  const generator = record.sequence;
  if (generator !== null && typeof generator === "object" && !Array.isArray(generator)) {
    const { start, stop, step } = generator as { start?: unknown; stop?: unknown; step?: unknown };
    const count = sequenceLength(Number(start ?? 0), Number(stop), step === undefined ? 1 : Number(step));
    if (count > MAX_SEQUENCE) throw new Error(`a sequence of ${count} items is over the limit of ${MAX_SEQUENCE}`);
  }
  for (const value of Object.values(record)) checkSequences(value, depth + 1);
}

let installed = false;

/** Replaces Vega's `sequence` expression function by one that refuses more than MAX_SEQUENCE items. */
export function installExpressionLimits(): void {
  if (installed) return;
  installed = true;
  vega.expressionFunction("sequence", (start: number, stop?: number, step?: number) => {
    const count = sequenceLength(start, stop, step);
    if (count > MAX_SEQUENCE) throw new Error(`sequence() of ${count} items is over the limit of ${MAX_SEQUENCE}`);
    const [from, by] = stop === undefined ? [0, 1] : [start, step ?? 1];
    return Array.from({ length: count }, (_, i) => from + i * by);
  });
}

/** The options every chart's View gets: expressions interpreted (never compiled to code), no URL loaded,
 * sequence() capped; and the spec checked first. Returns the compiled-and-parsed runtime spec's options. */
export function safeViewOptions(): { expr: typeof expressionInterpreter; loader: vega.Loader } {
  installExpressionLimits();
  return { expr: expressionInterpreter, loader: refusingLoader() };
}
