// Classes: names of a run's probe classes and of labels, the labels and probe samples a class
// selection keeps, captions.

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

/** The name of a class label: the model's class names are indexed by label. */
export function className(classes: string[], label: number): string {
  return classes[label] ?? String(label);
}

/** The label of a selected class name (class names are indexed by label); names unknown are dropped. */
export function labelsOfClasses(classes: string[], selected: string[]): number[] {
  const labels: number[] = [];
  for (const name of selected) {
    let label = classes.indexOf(name);
    if (label < 0 && /^\d+$/.test(name)) label = Number(name);
    if (label >= 0 && !labels.includes(label)) labels.push(label);
  }
  return labels.sort((a, b) => a - b);
}
