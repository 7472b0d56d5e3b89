// Which steps a request reads: one step ("last" or a number), an even sample of many, and fewer
// steps when the route refuses a request for its size.

import type { WidgetOptions } from "../../types";

/** The step of a single-step request: a number or "last" ("all" falls back to "last"). */
export function singleStep(options: WidgetOptions): number | "last" {
  return typeof options.step === "number" ? options.step : "last";
}

/** At most `n` items picked evenly, always keeping the first and the last. */
export function evenSample<T>(items: T[], n: number): T[] {
  if (items.length <= n) return [...items];
  if (n <= 1) return items.slice(-1);
  const picked: T[] = [];
  for (let i = 0; i < n; i++) picked.push(items[Math.round((i * (items.length - 1)) / (n - 1))]);
  return [...new Set(picked)];
}

/** An even half of some steps (two at least). */
export function halfOf(steps: number[]): number[] {
  return evenSample(steps, Math.max(2, Math.floor(steps.length / 2)));
}

/** Whether the route refused a request for reading or computing too many elements (a 400 naming a limit). */
export function overElementLimit(error: unknown): boolean {
  const e = error as { status?: number; message?: string };
  return e?.status === 400 && /element|limit/i.test(e.message ?? "");
}

/**
 * Sends a request over some steps; when the route refuses it for reading or computing too many elements
 * (a 400 naming a limit), retries with an even half of the steps, down to two.
 */
export async function withStepBudget<T>(steps: number[], send: (steps: number[]) => Promise<T>): Promise<{ answer: T; steps: number[] }> {
  let current = steps;
  for (;;) {
    try {
      return { answer: await send(current), steps: current };
    } catch (error) {
      if (!overElementLimit(error) || current.length <= 2) throw error;
      current = halfOf(current);
    }
  }
}
