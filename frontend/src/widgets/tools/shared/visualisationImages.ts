// Feature visualisations as pictures: the optimised inputs the callback logged (the feature_visualisations
// route), drawn pixel by pixel into data: URLs (TensorBoard's CSP allows data: images only), with what each
// reaches. Shared by the Feature Visualisation tool, the Mistake Neurons widget and the L1 tooltip.

import type { FeatureVisualisationsAnswer, VisualisationItem } from "../../../types";
import { rgbaDataUrl } from "../../../pixels";

/**
 * RGBA pixels of one image from the probe's value range: [H, W, 3] colour (low 0, high 255); [H, W, 1], [H, W]
 * and other channel counts (their first channel) grey as the Attribution widget draws inputs, high values
 * dark (digits' ink); a vector [F] a strip of one row. Pure.
 */
export function imageToRgba(image: unknown, range: [number, number]): { width: number; height: number; data: Uint8ClampedArray } {
  const rows: unknown[] = Array.isArray(image) && image.length && !Array.isArray(image[0]) ? [image] : (image as unknown[]) ?? [];
  const height = rows.length;
  const width = height && Array.isArray(rows[0]) ? (rows[0] as unknown[]).length : 0;
  const [low, high] = range;
  const span = high > low ? high - low : 1;
  const level = (v: unknown) => Math.round(255 * Math.min(1, Math.max(0, (Number(v) - low) / span)));
  const data = new Uint8ClampedArray(width * height * 4);
  rows.forEach((line, y) =>
    (line as unknown[]).slice(0, width).forEach((cell, x) => {
      const channels = Array.isArray(cell) ? cell : [cell];
      const grey = 255 - level(channels[0]);
      const rgb = channels.length === 3 ? channels.map(level) : [grey, grey, grey];
      data.set([rgb[0], rgb[1], rgb[2], 255], (y * width + x) * 4);
    }),
  );
  return { width, height, data };
}

/** A data: URL of one image, or null where there is no canvas. */
export function imageUrl(image: unknown, range: [number, number]): string | null {
  if (typeof document === "undefined") return null;
  return rgbaDataUrl(imageToRgba(image, range));
}

/** What a target is, for people: "dense_hidden #7 · class 3" or "class 3 (class visualisation)". Pure. */
export function targetLabel(item: Pick<VisualisationItem, "layer" | "unit" | "class">, classNames: string[] = []): string {
  const cls = `class ${classNames[item.class] ?? item.class}`;
  return item.layer === null || item.unit === null ? `${cls} (class visualisation)` : `${item.layer} #${item.unit} · ${cls}`;
}

/** One image's facts: "p99.7, class rank 1 (0.93)". Pure. */
export function resultLabel(result: VisualisationItem["results"][number]): string {
  return `p${result.percentile.toFixed(1)}, class rank ${result.class_rank} (${result.class_probability.toFixed(2)})`;
}

/** The items of a unit: a layer's neuron (any class, the given class first), or every item. Pure. */
export function itemsOf(answer: FeatureVisualisationsAnswer, layer?: string, unit?: number, cls?: number | null): VisualisationItem[] {
  const items = answer.items.filter((i) => (layer === undefined || i.layer === layer) && (unit === undefined || i.unit === unit));
  return cls === null || cls === undefined ? items : [...items.filter((i) => i.class === cls), ...items.filter((i) => i.class !== cls)];
}

/** A figure of one target: its label and its images, each titled with what it reaches. */
export function visualisationFigure(item: VisualisationItem, answer: FeatureVisualisationsAnswer, classNames: string[] = [], size = 56): HTMLElement {
  const figure = document.createElement("figure");
  figure.className = "inn-fv-figure";
  figure.dataset.layer = item.layer ?? "";
  figure.dataset.unit = String(item.unit ?? -1);
  figure.dataset.class = String(item.class);
  const caption = document.createElement("figcaption");
  caption.className = "inn-small";
  caption.textContent = targetLabel(item, classNames) + (item.source === "mistakes" ? " (mistake neuron)" : "");
  figure.append(caption);
  const range = (answer.value_range?.length === 2 ? answer.value_range : [0, 1]) as [number, number];
  item.images.forEach((image, r) => {
    const url = imageUrl(image, range);
    if (!url) return;
    const img = document.createElement("img");
    img.className = "inn-fv-image";
    img.src = url;
    img.width = size;
    img.height = size;
    const facts = item.results[r] ? resultLabel(item.results[r]) : "";
    img.alt = `${targetLabel(item, classNames)}, result ${r + 1}: ${facts}`;
    img.title = img.alt;
    figure.append(img);
  });
  return figure;
}
