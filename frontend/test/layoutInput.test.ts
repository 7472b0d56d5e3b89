// Unit tests of the ELK inputs (graph/layoutInput.ts) and of the layout helpers (layout.ts), the
// latter on real ELK output: elk.bundled.js runs in node.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import ELK from "elkjs/lib/elk.bundled.js";
import type { ElkExtendedEdge, ElkNode } from "elkjs/lib/elk-api";

import {
  CHAR_WIDTH,
  CLOSED_GROUP,
  GROUP_HEADER,
  LAYER_FOOTER,
  LAYER_HEADER,
  LAYER_PADDING,
  innerLayoutInput,
  innerNodeSize,
  innerSignature,
  layerBoxSize,
  layerFooter,
  lineageEdgeWidth,
  modelLayoutInput,
} from "../src/graph/layoutInput";
import { buildModelGraph } from "../src/graph/modelGraph";
import { absolutePositions, edgePaths, layout, pathData, setLayoutEngine, type Placed } from "../src/layout";
import { architecture, chain, convInner, denseInner, edge, layer, namespace } from "./archFixtures";

const elk = new ELK();

/** Every node id of an ELK graph (not the root). */
function nodeIds(node: ElkNode): string[] {
  return (node.children ?? []).flatMap((c) => [c.id, ...nodeIds(c)]);
}

function allEdges(node: ElkNode): ElkExtendedEdge[] {
  return [...(node.edges ?? []), ...(node.children ?? []).flatMap(allEdges)];
}

function overlaps(a: Placed, b: Placed): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

function inside(p: { x: number; y: number }, box: Placed, slack = 0.5): boolean {
  return p.x >= box.x - slack && p.x <= box.x + box.width + slack && p.y >= box.y - slack && p.y <= box.y + box.height + slack;
}

describe("inner graphs", () => {
  const dense = layer("dense_hidden", { output_shapes: [[null, 32]], inner: denseInner("relu", [256, 32], [32]) });
  const classifierLike = layer("other_dense", { output_shapes: [[null, 10]], inner: denseInner("relu", [32, 10], [10]) });
  const conv = layer("conv_1", { type: "Conv2D", inner: convInner() });

  it("gives layers with the same inner structure the same signature, whatever their shapes and names", () => {
    assert.equal(innerSignature(dense), innerSignature(classifierLike));
    assert.equal(
      innerSignature(dense),
      "input|input|input;matmul|op|matmul;var:kernel|variable|kernel;bias_add|op|bias_add;var:bias|variable|bias;" +
        "activation|op|relu;output|output|output#input>matmul;var:kernel>matmul;matmul>bias_add;var:bias>bias_add;" +
        "bias_add>activation;activation>output",
    );
  });

  it("tells Dense from Conv, and a different label or edge apart", () => {
    assert.notEqual(innerSignature(dense), innerSignature(conv));
    const softmax = layer("classifier", { inner: denseInner("softmax") });
    assert.notEqual(innerSignature(dense), innerSignature(softmax));
    const rewired = layer("x", { inner: { nodes: dense.inner.nodes, edges: dense.inner.edges.slice(0, -1) } });
    assert.notEqual(innerSignature(dense), innerSignature(rewired));
  });

  it("sizes inner nodes by kind, variables by their label", () => {
    assert.deepEqual(innerNodeSize({ id: "m", kind: "op", label: "matmul" }), { width: 24, height: 24 });
    assert.deepEqual(innerNodeSize({ id: "i", kind: "input", label: "input" }), { width: 8, height: 8 });
    assert.deepEqual(innerNodeSize({ id: "o", kind: "output", label: "output" }), { width: 8, height: 8 });
    assert.deepEqual(innerNodeSize({ id: "v", kind: "variable", label: "kernel" }), { width: 46, height: 14 });
    assert.deepEqual(innerNodeSize({ id: "v", kind: "variable", label: "moving_variance" }), { width: 100, height: 14 });
    assert.deepEqual(innerNodeSize({ id: "v", kind: "variable", label: "b" }), { width: 30, height: 14 });
  });

  it("builds the inner ELK graph and drops edges to unknown nodes", () => {
    const broken = layer("d", {
      inner: { nodes: dense.inner.nodes, edges: [["input", "matmul"], ["bias_add", "ghost"], ["ghost", "output"], ["activation", "output"]] },
    });
    const input = innerLayoutInput(broken);
    assert.equal(input.id, "inner");
    assert.equal(input.layoutOptions?.["elk.direction"], "RIGHT");
    assert.deepEqual(
      input.children?.map((c) => [c.id, c.width, c.height]),
      [
        ["input", 8, 8],
        ["matmul", 24, 24],
        ["var:kernel", 46, 14],
        ["bias_add", 24, 24],
        ["var:bias", 34, 14],
        ["activation", 24, 24],
        ["output", 8, 8],
      ],
    );
    assert.deepEqual(input.edges, [
      { id: "e0", sources: ["input"], targets: ["matmul"] },
      { id: "e1", sources: ["activation"], targets: ["output"] },
    ]);
  });

  it("lays out a Dense inner graph left to right with ELK", async () => {
    const laid = await elk.layout(innerLayoutInput(dense));
    const placed = absolutePositions(laid);
    assert.equal(placed.size, 7);
    const x = (id: string) => placed.get(id)!.x;
    assert.ok(x("input") < x("matmul") && x("matmul") < x("bias_add") && x("bias_add") < x("activation") && x("activation") < x("output"));
    assert.ok(x("var:kernel") < x("matmul"));
  });
});

describe("layer boxes", () => {
  const dense = layer("d", { output_shapes: [[null, 32]] });

  it("writes the footer from the type and the first output shape", () => {
    assert.equal(layerFooter(dense), "Dense (None, 32)");
    assert.equal(layerFooter(layer("i", { type: "InputLayer", output_shapes: [[null, 8, 8, 1]] })), "InputLayer (None, 8, 8, 1)");
    assert.equal(layerFooter(layer("x", { output_shapes: [] })), "Dense (?)");
  });

  it("sizes the box around the inner graph", () => {
    // Footer "Dense (None, 32)": 16 chars * 6.6 * 0.9 + 16 = 111.04; inner 100 + 16 = 116 wins.
    assert.deepEqual(layerBoxSize(dense, { width: 100, height: 50 }), { width: 116, height: LAYER_HEADER + 50 + LAYER_FOOTER + 4 });
    // A small inner graph: the footer is widest.
    assert.deepEqual(layerBoxSize(dense, { width: 10, height: 10 }), { width: 112, height: 48 });
    // No footer or title wider than 90: the minimum.
    assert.equal(layerBoxSize(layer("d", { type: "Add", output_shapes: [[4]] }), { width: 10, height: 10 }).width, 90);
  });

  it("grows with the name length", () => {
    const inner = { width: 60, height: 30 };
    const widths = [1, 10, 20, 40, 80].map((n) => layerBoxSize(layer("x".repeat(n), { output_shapes: [[null, 32]] }), inner).width);
    for (let i = 1; i < widths.length; i++) assert.ok(widths[i] >= widths[i - 1], `${widths}`);
    assert.ok(widths[4] > widths[3] && widths[3] > widths[2]);
    assert.equal(widths[4], Math.ceil(80 * CHAR_WIDTH + 2 * LAYER_PADDING));
  });

  it("grows with the inner size", () => {
    const small = layerBoxSize(dense, { width: 100, height: 40 });
    const wide = layerBoxSize(dense, { width: 300, height: 40 });
    const tall = layerBoxSize(dense, { width: 100, height: 140 });
    assert.equal(wide.width - small.width, 200);
    assert.equal(wide.height, small.height);
    assert.equal(tall.height - small.height, 100);
    assert.equal(tall.width, small.width);
  });
});

// -- the model graph (L2)

function nestedGraph() {
  const arch = architecture(
    [
      layer("image", { type: "InputLayer" }),
      layer("encoder/dense_1", { namespace: "encoder" }),
      layer("encoder/inner/dense_2", { namespace: "encoder/inner" }),
      layer("encoder/dense_3", { namespace: "encoder" }),
      layer("decoder/dense_4", { namespace: "decoder" }),
      layer("head"),
    ],
    [
      edge("image", "encoder/dense_1"),
      edge("encoder/dense_1", "encoder/inner/dense_2"),
      edge("encoder/inner/dense_2", "encoder/dense_3"),
      edge("encoder/dense_3", "decoder/dense_4"),
      edge("encoder/inner/dense_2", "decoder/dense_4"),
      edge("decoder/dense_4", "head"),
    ],
    [namespace("encoder", null), namespace("encoder/inner", "encoder", "inner"), namespace("decoder", null)],
  );
  return buildModelGraph(arch);
}

const sizeOf = (id: string) => ({ width: 100 + id.length, height: 40 });

describe("modelLayoutInput", () => {
  const graph = nestedGraph();

  it("nests open groups with their children, closed groups get CLOSED_GROUP size", () => {
    const input = modelLayoutInput(graph, new Set(["encoder"]), sizeOf);
    assert.equal(input.id, "root");
    assert.equal(input.layoutOptions?.["elk.direction"], "DOWN");
    assert.equal(input.layoutOptions?.["elk.hierarchyHandling"], "INCLUDE_CHILDREN");
    const top = new Map(input.children!.map((c) => [c.id, c]));
    assert.deepEqual([...top.keys()].sort(), ["decoder", "encoder", "head", "image"]);
    assert.deepEqual(top.get("image"), { id: "image", width: 105, height: 40 });
    assert.deepEqual(top.get("decoder"), { id: "decoder", ...CLOSED_GROUP });
    const encoder = top.get("encoder")!;
    assert.equal(encoder.width, undefined, "an open group is sized by ELK");
    assert.equal(encoder.layoutOptions?.["elk.padding"], `[top=${GROUP_HEADER + 6},left=10,bottom=10,right=10]`);
    const children = new Map(encoder.children!.map((c) => [c.id, c]));
    assert.deepEqual([...children.keys()].sort(), ["encoder/dense_1", "encoder/dense_3", "encoder/inner"]);
    assert.deepEqual(children.get("encoder/inner"), { id: "encoder/inner", ...CLOSED_GROUP });
    assert.deepEqual(children.get("encoder/dense_1"), { id: "encoder/dense_1", ...sizeOf("encoder/dense_1") });
  });

  it("gives edges between visible node ids only, with unique ids", () => {
    for (const open of [new Set<string>(), new Set(["encoder"]), new Set(["encoder", "encoder/inner", "decoder"])]) {
      const input = modelLayoutInput(graph, open, sizeOf);
      const ids = new Set(nodeIds(input));
      const edges = input.edges!;
      assert.equal(new Set(edges.map((e) => e.id)).size, edges.length);
      for (const e of edges) assert.ok(ids.has(e.sources[0]) && ids.has(e.targets[0]), `${e.id} with ${[...open]}`);
    }
    const closed = modelLayoutInput(graph, new Set(), sizeOf);
    assert.deepEqual(
      closed.edges!.map((e) => [e.sources[0], e.targets[0]]),
      [
        ["image", "encoder"],
        ["encoder", "decoder"],
        ["decoder", "head"],
      ],
    );
    assert.equal(closed.edges![1].id, "edge1:encoder>decoder");
  });
});

describe("ELK on the model graph", () => {
  it("puts a 5-layer chain top to bottom", async () => {
    const graph = buildModelGraph(chain(["in", "d1", "d2", "d3", "out"]));
    const laid = await elk.layout(modelLayoutInput(graph, new Set(), () => ({ width: 120, height: 40 })));
    const placed = absolutePositions(laid);
    const ys = ["in", "d1", "d2", "d3", "out"].map((id) => placed.get(id)!.y);
    for (let i = 1; i < ys.length; i++) assert.ok(ys[i] >= ys[i - 1] + 40, `${ys}`);
    for (const p of placed.values()) assert.deepEqual([p.width, p.height, p.parent], [120, 40, null]);
    const paths = edgePaths(laid, placed);
    assert.equal(paths.size, 4);
    // Each edge leaves its source's bottom and enters its target's top.
    for (const e of laid.edges!) {
      const points = paths.get(e.id)!;
      const from = placed.get(e.sources[0])!;
      const to = placed.get(e.targets[0])!;
      assert.ok(Math.abs(points[0].y - (from.y + from.height)) < 1, `${e.id} starts at ${JSON.stringify(points[0])}`);
      assert.ok(Math.abs(points[points.length - 1].y - to.y) < 1, `${e.id} ends at ${JSON.stringify(points.at(-1))}`);
    }
  });

  it("places an open group's members inside it and its inner edges in absolute coordinates", async () => {
    const graph = buildModelGraph(
      architecture(
        [layer("in"), layer("mid/a", { namespace: "mid" }), layer("mid/b", { namespace: "mid" }), layer("mid/c", { namespace: "mid" }), layer("out")],
        [edge("in", "mid/a"), edge("mid/a", "mid/b"), edge("mid/b", "mid/c"), edge("mid/c", "out")],
        [namespace("mid", null)],
      ),
    );
    const laid = await elk.layout(modelLayoutInput(graph, new Set(["mid"]), () => ({ width: 120, height: 40 })));
    const placed = absolutePositions(laid);
    const group = placed.get("mid")!;
    assert.equal(group.parent, null);
    for (const id of ["mid/a", "mid/b", "mid/c"]) {
      const p = placed.get(id)!;
      assert.equal(p.parent, "mid");
      assert.ok(inside(p, group) && inside({ x: p.x + p.width, y: p.y + p.height }, group), id);
      // The group's header stays free.
      assert.ok(p.y >= group.y + GROUP_HEADER, id);
    }
    const ys = ["in", "mid/a", "mid/b", "mid/c", "out"].map((id) => placed.get(id)!.y);
    for (let i = 1; i < ys.length; i++) assert.ok(ys[i] > ys[i - 1], `${ys}`);

    const paths = edgePaths(laid, placed);
    const innerEdge = allEdges(laid).find((e) => e.sources[0] === "mid/a" && e.targets[0] === "mid/b")!;
    assert.equal(innerEdge.container, "mid", "ELK reports the edge relative to the group");
    const points = paths.get(innerEdge.id)!;
    assert.ok(points.length >= 2);
    for (const p of points) assert.ok(inside(p, group), `${JSON.stringify(p)} outside ${JSON.stringify(group)}`);
    const a = placed.get("mid/a")!;
    const b = placed.get("mid/b")!;
    assert.ok(Math.abs(points[0].y - (a.y + a.height)) < 1 && points[0].x >= a.x && points[0].x <= a.x + a.width);
    assert.ok(Math.abs(points[points.length - 1].y - b.y) < 1 && points.at(-1)!.x >= b.x && points.at(-1)!.x <= b.x + b.width);
  });
});

// -- the tree of models (L3)

describe("lineageEdgeWidth", () => {
  it("is monotone non-decreasing in |param_change| and bounded", () => {
    const changes = [0, 0.001, 0.01, 0.05, 0.1, 0.3, 0.5, 1, 1.5, 2, 3, 5, 10, 1e6];
    const widths = changes.map(lineageEdgeWidth);
    for (let i = 1; i < widths.length; i++) assert.ok(widths[i] >= widths[i - 1], `${changes[i]}: ${widths}`);
    assert.ok(widths[6] > widths[3], "a bigger change is visibly thicker");
    for (const c of changes) assert.equal(lineageEdgeWidth(-c), lineageEdgeWidth(c));
    assert.equal(lineageEdgeWidth(0), 1.5);
    assert.ok(Math.abs(lineageEdgeWidth(3) - 7.5) < 1e-12);
    assert.equal(lineageEdgeWidth(100), lineageEdgeWidth(3));
    for (const w of widths) assert.ok(w >= 1.5 && w <= 10);
  });

  it("is finite for missing values", () => {
    assert.equal(lineageEdgeWidth(null), 1.5);
    assert.equal(lineageEdgeWidth(undefined), 1.5);
    assert.equal(lineageEdgeWidth(NaN), 1.5);
    assert.ok(Number.isFinite(lineageEdgeWidth(Infinity)));
  });
});

describe("layout() with an injected engine", () => {
  it("caches by input and hands the engine a copy", async () => {
    let calls = 0;
    let received: ElkNode | null = null;
    setLayoutEngine({
      layout: async (graph) => {
        calls++;
        received = graph;
        graph.width = 42; // ELK writes into its input
        return graph;
      },
    });
    const graph: ElkNode = { id: "root", children: [{ id: "cache-test-a", width: 10, height: 10 }] };
    const first = await layout(graph);
    const again = await layout({ id: "root", children: [{ id: "cache-test-a", width: 10, height: 10 }] });
    assert.equal(calls, 1);
    assert.equal(again, first);
    assert.notEqual(received, graph);
    assert.equal(graph.width, undefined, "the caller's graph is untouched");
    assert.equal(first.width, 42);
    await layout({ id: "root", children: [{ id: "cache-test-b", width: 10, height: 10 }] });
    assert.equal(calls, 2);
  });

  it("forgets a failed layout so it can be retried", async () => {
    let calls = 0;
    setLayoutEngine({
      layout: async (graph) => {
        calls++;
        if (calls === 1) throw new Error("worker died");
        return graph;
      },
    });
    const graph: ElkNode = { id: "root", children: [{ id: "retry-test", width: 1, height: 1 }] };
    await assert.rejects(layout(graph), /worker died/);
    await new Promise((resolve) => setTimeout(resolve, 0));
    const laid = await layout(graph);
    assert.equal(calls, 2);
    assert.equal(laid.id, "root");
  });

  it("keeps at most 200 layouts", async () => {
    let calls = 0;
    setLayoutEngine({ layout: async (graph) => (calls++, graph) });
    const graphOf = (i: number): ElkNode => ({ id: "root", children: [{ id: `evict-${i}`, width: 1, height: 1 }] });
    for (let i = 0; i <= 200; i++) await layout(graphOf(i));
    assert.equal(calls, 201);
    await layout(graphOf(200));
    assert.equal(calls, 201, "the newest is cached");
    await layout(graphOf(0));
    assert.equal(calls, 202, "the oldest was evicted");
  });

  it("runs the real ELK through layout()", async () => {
    setLayoutEngine(new ELK());
    const graph = buildModelGraph(chain(["p", "q", "r"]));
    const laid = await layout(modelLayoutInput(graph, new Set(), () => ({ width: 80, height: 30 })));
    const placed = absolutePositions(laid);
    assert.ok(placed.get("p")!.y < placed.get("q")!.y && placed.get("q")!.y < placed.get("r")!.y);
    assert.ok((laid.width ?? 0) >= 80 && (laid.height ?? 0) >= 90);
  });
});

describe("absolutePositions and edgePaths on hand-made output", () => {
  it("adds up parent offsets and container offsets", () => {
    const root: ElkNode = {
      id: "root",
      x: 0,
      y: 0,
      children: [
        { id: "g", x: 100, y: 50, width: 300, height: 200, children: [{ id: "n", x: 10, y: 20, width: 30, height: 40, children: [{ id: "m", x: 1, y: 2 }] }] },
        { id: "k", width: 5, height: 5 },
      ],
      edges: [
        { id: "e-inside", container: "g", sources: ["n"], targets: ["n"], sections: [{ id: "s", startPoint: { x: 0, y: 0 }, bendPoints: [{ x: 5, y: 6 }], endPoint: { x: 10, y: 10 } }] },
        { id: "e-root", container: "root", sources: ["g"], targets: ["k"], sections: [{ id: "s", startPoint: { x: 1, y: 1 }, endPoint: { x: 2, y: 2 } }] },
        { id: "e-none", sources: ["g"], targets: ["k"] },
      ],
    };
    const placed = absolutePositions(root);
    assert.deepEqual([...placed.keys()], ["g", "n", "m", "k"]);
    assert.deepEqual(
      [...placed.values()].map((p) => [p.x, p.y, p.width, p.height, p.parent]),
      [
        [100, 50, 300, 200, null],
        [110, 70, 30, 40, "g"],
        [111, 72, 0, 0, "n"],
        [0, 0, 5, 5, null],
      ],
    );
    const paths = edgePaths(root, placed);
    assert.deepEqual(paths.get("e-inside"), [
      { x: 100, y: 50 },
      { x: 105, y: 56 },
      { x: 110, y: 60 },
    ]);
    assert.deepEqual(paths.get("e-root"), [
      { x: 1, y: 1 },
      { x: 2, y: 2 },
    ]);
    assert.deepEqual(paths.get("e-none"), []);
    assert.equal(pathData(paths.get("e-inside")!), "M100.0,50.0L105.0,56.0L110.0,60.0");
  });
});
