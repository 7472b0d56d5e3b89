// The contract between the inspection panel and the views drawn in it (L3, L2, L1).

import type { AppState, Store } from "../state";

/** A unit of analysis drawn in a view: overlays (badges, interestingness colours) attach to it. */
export interface UnitBox {
  /** "model:<run>", "experiment:<id>", "layer:<layer id>", "group:<id>", "op:<layer>/<op id>", "neuron:<layer>:<index>". */
  key: string;
  x: number;
  y: number;
  width: number;
  height: number;
  /** The unit's group element, with data-unit set to the key. */
  element: SVGGElement;
  /** The shape whose fill the interestingness overlay replaces. */
  shape: SVGElement;
  /** Its fill when no overlay applies. */
  baseFill: string;
}

export interface ViewContext {
  /** Content group in layout coordinates; the viewport pans and zooms it. */
  root: SVGGElement;
  /** A panel beside the graph (e.g. the Neurons × Classes matrix), emptied between views. */
  side: HTMLElement;
  state: AppState;
  store: Store;
  /** Colour of each model (run), the same in every view. */
  modelColors: Map<string, string>;
  tooltip: {
    show(content: string | Node, event: MouseEvent): void;
    hide(): void;
  };
}

export interface RenderedView {
  width: number;
  height: number;
  units: Map<string, UnitBox>;
  /** Rectangles for the minimap, in layout coordinates. */
  minimap: { x: number; y: number; width: number; height: number; color: string }[];
  dispose?(): void;
}
