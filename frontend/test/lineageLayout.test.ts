// The layout of the tree of models (L3): columns by depth, tidy rows, experiments stacked.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { MISSING_PREFIX, MODEL_BOX } from "../src/graph/layoutInput";
import { GHOST_BOX, layoutLineage, type Box } from "../src/graph/lineageLayout";
import type { TreeAnswer, TreeEdge, TreeNode } from "../src/types";

function treeNode(id: string, experiment: string, depth: number, parents: string[]): TreeNode {
  return { id, model_id: id, run: `run_${id}`, name: id, label: `model ${id}`, depth, experiment, parents, in_cycle: false, duplicate_of: null };
}

function treeEdge(from: string, to: string, param_change: number | null = 0.5): TreeEdge {
  return { from, to, param_change, diff: { added: [], removed: [], changed: [] }, broken: false };
}

/** Experiment A: R -> C1, R -> C2, C1 -> G. Experiment B: X (its parent GONE is not in the logdir) -> Y. */
function treeAnswer(): TreeAnswer {
  return {
    experiments: [
      { id: "A", name: "R", models: ["R", "C1", "C2", "G"], runs: [], roots: ["R"], missing_parents: [] },
      { id: "B", name: "X", models: ["X", "Y"], runs: [], roots: ["X"], missing_parents: ["GONE"] },
    ],
    nodes: [
      treeNode("R", "A", 0, []),
      treeNode("C1", "A", 1, ["R"]),
      treeNode("C2", "A", 1, ["R"]),
      treeNode("G", "A", 2, ["C1"]),
      // The backend lists only present parents; a missing one is in missing_parents.
      treeNode("X", "B", 0, []),
      treeNode("Y", "B", 1, ["X"]),
    ],
    edges: [treeEdge("R", "C1", 0.1), treeEdge("R", "C2", -0.4), treeEdge("C1", "G", null), treeEdge("X", "Y", 2)],
    missing_parents: [{ child: "X", parent: "GONE" }],
    cycles: [],
    broken_edges: [],
    duplicate_ids: [],
    notes: [],
    models: [],
  };
}

function overlaps(a: Box, b: Box): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

function within(inner: Box, outer: Box): boolean {
  return inner.x >= outer.x && inner.y >= outer.y && inner.x + inner.width <= outer.x + outer.width && inner.y + inner.height <= outer.y + outer.height;
}

describe("layoutLineage", () => {
  it("puts children right of their parents, the ghost of a missing parent before its child", () => {
    const { boxes } = layoutLineage(treeAnswer());
    for (const [parent, child] of [["R", "C1"], ["R", "C2"], ["C1", "G"], ["X", "Y"], [`${MISSING_PREFIX}GONE`, "X"]]) {
      const p = boxes.get(parent)!;
      const c = boxes.get(child)!;
      assert.ok(c.x >= p.x + p.width, `${child} (${c.x}) starts after ${parent} ends (${p.x + p.width})`);
    }
    // Same depth, same column.
    assert.equal(boxes.get("C1")!.x, boxes.get("C2")!.x);
    assert.deepEqual([boxes.get("R")!.width, boxes.get("R")!.height], [MODEL_BOX.width, MODEL_BOX.height]);
    assert.deepEqual([boxes.get("missing:GONE")!.width, boxes.get("missing:GONE")!.height], [GHOST_BOX.width, GHOST_BOX.height]);
  });

  it("centres a parent on its children", () => {
    const { boxes } = layoutLineage(treeAnswer());
    const centre = (id: string) => boxes.get(id)!.y + boxes.get(id)!.height / 2;
    assert.equal(centre("R"), (centre("C1") + centre("C2")) / 2);
    assert.equal(centre("C1"), centre("G"));
  });

  it("keeps each experiment's models inside its box, apart from each other, boxes apart", () => {
    const { boxes, width, height } = layoutLineage(treeAnswer());
    const a = boxes.get("experiment:A")!;
    const b = boxes.get("experiment:B")!;
    assert.ok(!overlaps(a, b));
    for (const id of ["R", "C1", "C2", "G"]) assert.ok(within(boxes.get(id)!, a), id);
    for (const id of ["X", "Y", "missing:GONE"]) assert.ok(within(boxes.get(id)!, b), id);
    const models = ["R", "C1", "C2", "G", "X", "Y"].map((id) => boxes.get(id)!);
    for (let i = 0; i < models.length; i++) for (let j = i + 1; j < models.length; j++) assert.ok(!overlaps(models[i], models[j]));
    for (const box of boxes.values()) assert.ok(box.x + box.width <= width && box.y + box.height <= height);
  });

  it("draws every lineage edge from the parent's right side to the child's left side", () => {
    const { boxes, edges } = layoutLineage(treeAnswer());
    assert.deepEqual(
      edges.map((e) => [e.from, e.to, e.index]),
      [["R", "C1", 0], ["R", "C2", 1], ["C1", "G", 2], ["X", "Y", 3], ["missing:GONE", "X", null]],
    );
    for (const edge of edges) {
      const from = boxes.get(edge.from)!;
      const to = boxes.get(edge.to)!;
      const numbers = edge.path.match(/-?\d+(\.\d+)?/g)!.map(Number);
      assert.deepEqual(numbers.slice(0, 2), [from.x + from.width, from.y + from.height / 2]);
      assert.deepEqual(numbers.slice(-2), [to.x, to.y + to.height / 2]);
    }
  });

  it("ignores edges and nodes that are not in an experiment, and survives cycles", () => {
    const answer = treeAnswer();
    answer.edges.push(treeEdge("NOPE", "R"), treeEdge("R", "NOBODY"));
    answer.nodes.push(treeNode("STRAY", "Z", 0, []));
    // A cycle: no root reaches P and Q, they are still placed.
    answer.experiments.push({ id: "C", name: "P", models: ["P", "Q"], runs: [], roots: [], missing_parents: [] });
    answer.nodes.push(treeNode("P", "C", 0, ["Q"]), treeNode("Q", "C", 1, ["P"]));
    answer.edges.push(treeEdge("P", "Q"), treeEdge("Q", "P"));
    const { boxes, edges } = layoutLineage(answer);
    assert.ok(!boxes.has("STRAY") && !boxes.has("NOPE") && !boxes.has("NOBODY"));
    assert.ok(boxes.has("P") && boxes.has("Q"));
    for (const edge of edges) assert.ok(boxes.has(edge.from) && boxes.has(edge.to));
    assert.equal(edges.filter((e) => e.from === "P" || e.from === "Q").length, 2);
  });

  it("lays out 200 models in 8 trees without overlaps", () => {
    const answer: TreeAnswer = { experiments: [], nodes: [], edges: [], missing_parents: [], cycles: [], broken_edges: [], duplicate_ids: [], notes: [], models: [] };
    let seed = 7;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    for (let e = 0; e < 8; e++) {
      const ids: string[] = [];
      for (let i = 0; i < 25; i++) {
        const id = `e${e}m${i}`;
        const parent = i ? ids[Math.floor(random() * i)] : null;
        const depth = parent ? answer.nodes.find((n) => n.id === parent)!.depth + 1 : 0;
        answer.nodes.push(treeNode(id, `E${e}`, depth, parent ? [parent] : []));
        if (parent) answer.edges.push(treeEdge(parent, id));
        ids.push(id);
      }
      answer.experiments.push({ id: `E${e}`, name: ids[0], models: ids, runs: [], roots: [ids[0]], missing_parents: [] });
    }
    const { boxes, edges } = layoutLineage(answer);
    assert.equal(edges.length, 192);
    const models = answer.nodes.map((n) => boxes.get(n.id)!);
    for (let i = 0; i < models.length; i++) for (let j = i + 1; j < models.length; j++) assert.ok(!overlaps(models[i], models[j]), `${i} ${j}`);
    for (const edge of answer.edges) assert.ok(boxes.get(edge.to)!.x > boxes.get(edge.from)!.x);
  });

  it("handles an empty tree", () => {
    const laid = layoutLineage({ experiments: [], nodes: [], edges: [], missing_parents: [], cycles: [], broken_edges: [], duplicate_ids: [], notes: [], models: [] });
    assert.equal(laid.boxes.size, 0);
    assert.deepEqual(laid.edges, []);
  });
});
