// Runs ELK off the main thread (a worker beside the bundle) and caches layouts by their input, so
// revisiting a view or re-opening a group costs nothing.

import ELK, { type ElkNode } from "elkjs/lib/elk-api";

export interface LayoutEngine {
  layout(graph: ElkNode): Promise<ElkNode>;
}

let engine: LayoutEngine | null = null;

/** Rejects when the worker cannot load (a 404, a CSP refusal): layouts then fail instead of hanging. */
let workerFailure: Promise<never> = new Promise<never>(() => {});

function defaultEngine(): LayoutEngine {
  if (!engine) {
    let fail: (error: Error) => void = () => {};
    workerFailure = new Promise<never>((_, reject) => (fail = reject));
    workerFailure.catch(() => {}); // observed by every layout() below
    const workerUrl = new URL("elk-worker.js", import.meta.url).href;
    engine = new ELK({
      workerUrl,
      workerFactory: (url?: string) => {
        const worker = new Worker(url ?? workerUrl);
        worker.addEventListener("error", (event) => {
          event.preventDefault();
          fail(new Error(`the layout worker ${workerUrl} could not run (${event.message || "failed to load"})`));
        });
        return worker;
      },
    });
  }
  return engine;
}

/**
 * Starts the worker and lets it parse ELK (1.6 MB) while the page still waits for its data, so
 * the first real layout does not pay for it.
 */
export function warmUpLayout(): void {
  void layout({ id: "warm-up", children: [{ id: "a", width: 1, height: 1 }], edges: [] }).catch(() => {});
}

/** For tests and benchmarks: lay out with another engine (e.g. elk.bundled.js in node). */
export function setLayoutEngine(next: LayoutEngine): void {
  engine = next;
}

const cache = new Map<string, Promise<ElkNode>>();
const MAX_CACHED = 200;

export function layout(graph: ElkNode): Promise<ElkNode> {
  const key = JSON.stringify(graph);
  let result = cache.get(key);
  if (!result) {
    // ELK writes positions into its input: give it a copy so the cache key stays the input.
    result = Promise.race([defaultEngine().layout(JSON.parse(key) as ElkNode), workerFailure]);
    cache.set(key, result);
    result.catch(() => cache.delete(key));
    if (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value as string);
  }
  return result;
}

export interface Placed {
  x: number;
  y: number;
  width: number;
  height: number;
  node: ElkNode;
  parent: string | null;
}

/** Absolute positions of every node of a laid-out graph (ELK gives them relative to the parent). */
export function absolutePositions(root: ElkNode): Map<string, Placed> {
  const placed = new Map<string, Placed>();
  const visit = (node: ElkNode, ox: number, oy: number, parent: string | null) => {
    for (const child of node.children ?? []) {
      const x = ox + (child.x ?? 0);
      const y = oy + (child.y ?? 0);
      placed.set(child.id, { x, y, width: child.width ?? 0, height: child.height ?? 0, node: child, parent });
      visit(child, x, y, child.id);
    }
  };
  visit(root, 0, 0, null);
  return placed;
}

/** Every edge's polyline in absolute coordinates (ELK gives them relative to the edge's container). */
export function edgePaths(root: ElkNode, placed: Map<string, Placed>): Map<string, { x: number; y: number }[]> {
  const paths = new Map<string, { x: number; y: number }[]>();
  const collect = (node: ElkNode) => {
    for (const edge of node.edges ?? []) {
      const container = (edge as { container?: string }).container;
      const offset = container && container !== root.id ? placed.get(container) : undefined;
      const ox = offset?.x ?? 0;
      const oy = offset?.y ?? 0;
      const points: { x: number; y: number }[] = [];
      for (const section of edge.sections ?? []) {
        points.push(section.startPoint, ...(section.bendPoints ?? []), section.endPoint);
      }
      paths.set(edge.id, points.map((p) => ({ x: p.x + ox, y: p.y + oy })));
    }
    for (const child of node.children ?? []) collect(child);
  };
  collect(root);
  return paths;
}

export function pathData(points: { x: number; y: number }[]): string {
  return points.map((p, i) => `${i ? "L" : "M"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join("");
}
