// Renders a widget's Vega-Lite spec with its rows. Expressions run through Vega's interpreter, not
// `new Function`: a spec (ours or a JSON-declared tool's) is data, never code.
// This module pulls in Vega and Vega-Lite: the app loads it lazily, when the first widget opens.

import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

import { checkSequences, safeViewOptions } from "./vegaSafety";

export interface RenderedChart {
  view: vega.View;
  /** Sets the highlighted probe sample (null: none) if the spec declares the `highlight` param. */
  highlight(sample: number | null): void;
  toImageURL(type: "png" | "svg"): Promise<string>;
  finalize(): void;
}

function hasHighlightParam(spec: TopLevelSpec): boolean {
  const params = (spec as { params?: { name?: string }[] }).params;
  return Array.isArray(params) && params.some((p) => p?.name === "highlight");
}

export async function renderChart(
  container: HTMLElement,
  spec: TopLevelSpec,
  rows: Record<string, unknown>[],
  onHoverSample?: (sample: number | null) => void,
  sampleField?: string,
  onClick?: (datum: Record<string, unknown>) => void,
  onHover?: (datum: Record<string, unknown> | null) => void,
): Promise<RenderedChart> {
  checkSequences(spec);
  const compiled = compile(spec).spec;
  const view = new vega.View(vega.parse(compiled, undefined, { ast: true }), {
    ...safeViewOptions(),
    renderer: "svg",
    container,
    hover: true,
  });
  if (compiled.data?.some((d) => d.name === "table")) view.data("table", rows);
  const highlightable = hasHighlightParam(spec);
  if (onHoverSample && sampleField) {
    view.addEventListener("mouseover", (_event, item) => {
      const datum = (item as { datum?: Record<string, unknown> } | null)?.datum;
      const value = datum?.[sampleField];
      if (typeof value === "number") onHoverSample(value);
    });
    view.addEventListener("mouseout", () => onHoverSample(null));
  }
  if (onHover) {
    view.addEventListener("mouseover", (_event, item) => onHover((item as { datum?: Record<string, unknown> } | null)?.datum ?? null));
    view.addEventListener("mouseout", () => onHover(null));
  }
  if (onClick) {
    view.addEventListener("click", (_event, item) => {
      const datum = (item as { datum?: Record<string, unknown> } | null)?.datum;
      if (datum) onClick(datum);
    });
  }
  await view.runAsync();
  return {
    view,
    highlight(sample) {
      if (!highlightable) return;
      view.signal("highlight", sample);
      void view.runAsync();
    },
    toImageURL: (type) => view.toImageURL(type, 2),
    finalize: () => view.finalize(),
  };
}
