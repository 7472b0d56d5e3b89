// The class selection: class names of a run's probe, the probe samples a selection keeps, captions.

import type { ToolContext } from "../../types";

/** Class names of a run's probe (label i is class names[i]). */
export function classNamesOf(ctx: Pick<ToolContext, "models" | "allClasses">, run: string): string[] {
  return ctx.models.get(run)?.classes ?? ctx.allClasses;
}

/**
 * The probe indices of the samples kept by a class selection: the filtered labels are a subsequence of
 * all labels, in order; matched greedily, so a selection (any set of classes) maps back exactly.
 */
export function keptSamples(allLabels: number[], filteredLabels: number[]): number[] {
  const kept: number[] = [];
  let j = 0;
  for (let i = 0; i < allLabels.length && j < filteredLabels.length; i++) {
    if (allLabels[i] === filteredLabels[j]) {
      kept.push(i);
      j++;
    }
  }
  if (j < filteredLabels.length) throw new Error("the labels of the class selection do not match the probe's labels");
  return kept;
}

/** "classes 1, 2" or "all classes". */
export function classesCaption(classes: string[] | null | undefined): string {
  return classes ? `class${classes.length === 1 ? "" : "es"} ${classes.join(", ")}` : "all classes";
}
