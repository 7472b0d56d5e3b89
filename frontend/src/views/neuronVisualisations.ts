// The feature visualisations of a neuron in its L1 tooltip, when the model logged some for it
// (InnspectorCallback(visualize=...)): the images of its first target (class conditioned), filled in when
// the answer arrives. Answers are memoised by the api client.

import { api } from "../api";
import { html } from "../svg";
import type { FeatureVisualisationsAnswer } from "../types";
import { imageUrl, itemsOf, resultLabel } from "../widgets/tools/shared/visualisationImages";

/** The run's visualisations, or null when its models entry says it has none (no request then). */
async function visualisationsOf(run: string): Promise<FeatureVisualisationsAnswer | null> {
  try {
    const models = await api.models();
    if (!models.models.find((m) => m.run === run)?.feature_visualisations) return null;
    return await api.featureVisualisations(run);
  } catch {
    return null; // the tooltip stands without pictures
  }
}

/** Appends a box to the tooltip that shows the neuron's visualisation images once they are known. */
export function appendVisualisations(tip: HTMLElement, run: string | null, layer: string, neuron: number): void {
  if (!run) return;
  const box = html("div", { class: "inn-l1-fv" }, tip);
  void visualisationsOf(run).then((answer) => {
    const item = answer ? itemsOf(answer, layer, neuron)[0] : undefined;
    if (!answer || !item) return;
    const range = (answer.value_range?.length === 2 ? answer.value_range : [0, 1]) as [number, number];
    html("div", {}, box, `feature visualisation with class ${item.class} (step ${answer.step}):`);
    item.images.forEach((image, r) => {
      const url = imageUrl(image, range);
      if (!url) return;
      const img = html("img", { class: "inn-fv-image", src: url, width: 40, height: 40 }, box);
      img.alt = item.results[r] ? resultLabel(item.results[r]) : "";
      img.title = img.alt;
    });
  });
}
