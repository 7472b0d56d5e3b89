// Reading the answers of the `data` route: array columns and their values, an op's own result object,
// and the steps.

import type { DataAnswer, DataArray } from "../../../types";

/** An array column of a `data` answer (throws a readable error when it is missing). */
export function column(answer: DataAnswer, name = "value"): DataArray {
  const col = answer.result?.[name] as DataArray | undefined;
  if (!col || !("data" in col) || !Array.isArray(col.shape)) throw new Error(`the answer has no array column '${name}'`);
  return col;
}

/** An op's own object in a `data` answer (histogram, kde, topk, pca). */
export function opResult<T>(answer: DataAnswer, name = "value"): T {
  const col = answer.result?.[name];
  if (!col || typeof col !== "object") throw new Error(`the answer has no column '${name}'`);
  return col as T;
}

/** The resolved steps of an answer, always as a list. */
export function answerSteps(answer: DataAnswer): number[] {
  const steps = answer.steps;
  if (Array.isArray(steps)) return steps;
  return typeof steps === "number" ? [steps] : [];
}

/** The values of a `data` array in row-major order. */
export function flatValues(array: DataArray | Record<string, unknown> | undefined): unknown[] {
  const data = (array as DataArray | undefined)?.data;
  if (!Array.isArray(data)) return data === undefined ? [] : [data];
  return (data as unknown[]).flat(Infinity);
}
