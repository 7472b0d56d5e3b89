// Unit tests of the L2 graph model (graph/modelGraph.ts): name tokens, blocks of big models,
// namespaces as groups, and what is visible when groups are open or closed.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  MAX_MEMBERS,
  ancestors,
  buildModelGraph,
  findBlocks,
  nameTokens,
  representative,
  visibleEdges,
  visibleTree,
  type BlockTree,
  type ModelGraph,
  type VisibleNode,
} from "../src/graph/modelGraph";
import { architecture, chain, edge, layer, namespace } from "./archFixtures";

const pad = (n: number) => String(n).padStart(3, "0");

/** 250 residual-style blocks of 4 layers: block_000_dense, block_000_norm, block_000_relu, block_000_add, ... */
function blockNames(blocks = 250): string[] {
  const names: string[] = [];
  for (let b = 0; b < blocks; b++) for (const part of ["dense", "norm", "relu", "add"]) names.push(`block_${pad(b)}_${part}`);
  return names;
}

/** Walks the group tree from the top: every layer reached, with how often. Fails on a group reached twice. */
function layersInTree(graph: ModelGraph): Map<string, number> {
  const seen = new Map<string, number>();
  const groupsSeen = new Set<string>();
  const visit = (id: string) => {
    const group = graph.groups.get(id);
    if (group) {
      assert.ok(!groupsSeen.has(id), `group ${id} reached twice`);
      groupsSeen.add(id);
      group.members.forEach(visit);
    } else {
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
  };
  graph.top.forEach(visit);
  assert.equal(groupsSeen.size, graph.groups.size, "every group hangs in the tree");
  return seen;
}

function visibleIds(nodes: VisibleNode[]): string[] {
  return nodes.flatMap((n) => [n.id, ...visibleIds(n.children)]);
}

type Edge = { from: string; to: string; count: number };
/** Compares edge lists ignoring order. */
function sameEdges(actual: Edge[], expected: Edge[]) {
  const key = (e: Edge) => `${e.from}\u0000${e.to}\u0000${e.count}`;
  assert.deepEqual(actual.map(key).sort(), expected.map(key).sort());
  assert.equal(actual.length, expected.length);
}

describe("nameTokens", () => {
  it("splits on _ / . : - and drops empty tokens", () => {
    assert.deepEqual(nameTokens("conv2_block1_1_conv"), ["conv2", "block1", "1", "conv"]);
    assert.deepEqual(nameTokens("encoder/dense_1"), ["encoder", "dense", "1"]);
    assert.deepEqual(nameTokens("a.b:c-d"), ["a", "b", "c", "d"]);
    assert.deepEqual(nameTokens("__x--y//"), ["x", "y"]);
    assert.deepEqual(nameTokens("layer0"), ["layer0"]);
    assert.deepEqual(nameTokens(""), []);
  });
});

describe("findBlocks", () => {
  const id = (s: string) => s;

  it("leaves up to max members untouched", () => {
    const members = Array.from({ length: MAX_MEMBERS }, (_, i) => `stage_${i % 3}_layer_${i}`);
    assert.deepEqual(findBlocks(members, id), members);
    assert.deepEqual(findBlocks(["a_1", "a_2", "a_3"], id, 3), ["a_1", "a_2", "a_3"]);
    assert.deepEqual(findBlocks([], id), []);
  });

  it("groups one member more than max", () => {
    const members = Array.from({ length: MAX_MEMBERS + 1 }, (_, i) => `layer${i}`);
    const blocks = findBlocks(members, id);
    assert.ok(blocks.length <= MAX_MEMBERS);
    assert.ok(blocks.some((b) => typeof b !== "string"));
  });

  it("makes prefix blocks of consecutive members, a lone member stays itself", () => {
    const members = ["a_1", "a_2", "a_3", "b_1", "b_2", "b_3", "c"];
    assert.deepEqual(findBlocks(members, id, 3), [
      { members: ["a_1", "a_2", "a_3"], chunk: false },
      { members: ["b_1", "b_2", "b_3"], chunk: false },
      "c",
    ]);
  });

  it("splits a prefix block that is still too big one token deeper", () => {
    const members = ["s1_b1_x", "s1_b1_y", "s1_b2_x", "s1_b2_y", "s1_b3_x", "s1_b3_y", "s2_a", "s2_b"];
    const expected: BlockTree[] = [
      {
        members: [
          { members: ["s1_b1_x", "s1_b1_y"], chunk: false },
          { members: ["s1_b2_x", "s1_b2_y"], chunk: false },
          { members: ["s1_b3_x", "s1_b3_y"], chunk: false },
        ],
        chunk: false,
      },
      { members: ["s2_a", "s2_b"], chunk: false },
    ];
    assert.deepEqual(findBlocks(members, id, 3), expected);
  });

  it("skips a prefix shared by everything and uses the next token", () => {
    // "net" is shared by all: one run, useless; "net_a"/"net_b" makes two blocks.
    const members = ["net_a_1", "net_a_2", "net_a_3", "net_b_1", "net_b_2", "net_b_3"];
    assert.deepEqual(findBlocks(members, id, 4), [
      { members: ["net_a_1", "net_a_2", "net_a_3"], chunk: false },
      { members: ["net_b_1", "net_b_2", "net_b_3"], chunk: false },
    ]);
  });

  it("chunks evenly when no prefix helps", () => {
    const members = ["p", "q", "r", "s", "t"];
    assert.deepEqual(findBlocks(members, id, 3), [
      { members: ["p", "q"], chunk: true },
      { members: ["r", "s"], chunk: true },
      "t",
    ]);
  });

  it("groups by names, not ids", () => {
    const names: Record<string, string> = { l1: "enc_a", l2: "enc_b", l3: "enc_c", l4: "dec_a", l5: "dec_b" };
    assert.deepEqual(findBlocks(["l1", "l2", "l3", "l4", "l5"], (m) => names[m], 3), [
      { members: ["l1", "l2", "l3"], chunk: false },
      { members: ["l4", "l5"], chunk: false },
    ]);
  });
});

describe("buildModelGraph of a 1,000-layer chain with block prefixes", () => {
  const names = blockNames();
  const graph = buildModelGraph(chain(names));

  it("keeps the top level small", () => {
    assert.equal(names.length, 1000);
    assert.ok(graph.top.length <= MAX_MEMBERS, `top has ${graph.top.length} members`);
    // 250 prefix blocks, chunked by ceil(250 / 40) = 7: 36 chunks.
    assert.equal(graph.top.length, 36);
  });

  it("puts every layer exactly once in the tree, and no container over the limit", () => {
    const seen = layersInTree(graph);
    assert.equal(seen.size, 1000);
    for (const name of names) assert.equal(seen.get(name), 1, name);
    for (const group of graph.groups.values()) assert.ok(group.members.length <= MAX_MEMBERS, `${group.id}: ${group.members.length}`);
  });

  it("names a prefix block by its shared prefix", () => {
    const blocks = [...graph.groups.values()].filter((g) => g.label === "block_017");
    assert.equal(blocks.length, 1);
    const [block] = blocks;
    assert.equal(block.kind, "block");
    assert.deepEqual(block.members, ["block_017_dense", "block_017_norm", "block_017_relu", "block_017_add"]);
    assert.equal(block.layerCount, 4);
    for (const m of block.members) assert.equal(graph.groupOf.get(m), block.id);
    const prefixBlocks = [...graph.groups.values()].filter((g) => /^block_\d{3}$/.test(g.label));
    assert.equal(prefixBlocks.length, 250);
  });

  it("names an even chunk by its first and last layers", () => {
    const first = graph.groups.get(graph.top[0])!;
    assert.equal(first.kind, "block");
    assert.equal(first.label, "block_000_dense … block_006_add");
    assert.equal(first.members.length, 7);
    assert.equal(first.layerCount, 28);
    const last = graph.groups.get(graph.top[graph.top.length - 1])!;
    assert.equal(last.label, "block_245_dense … block_249_add");
    assert.equal(last.layerCount, 20);
    // block_017 is the 18th prefix block: in the third chunk (blocks 14..20).
    const block017 = [...graph.groups.values()].find((g) => g.label === "block_017")!;
    assert.equal(block017.parent, graph.top[2]);
    assert.equal(graph.groups.get(graph.top[2])!.label, "block_014_dense … block_020_add");
    assert.deepEqual(ancestors(graph, "block_017_norm"), [graph.top[2], block017.id]);
  });

  it("keeps the 999 data-flow edges", () => {
    assert.equal(graph.edges.length, 999);
    assert.deepEqual(graph.edges[17], { from: names[17], to: names[18] });
  });

  it("shows 36 closed chunks with 35 edges between them when nothing is open", () => {
    const tree = visibleTree(graph, new Set());
    assert.equal(tree.length, 36);
    assert.ok(tree.every((n) => n.kind === "group" && !n.open && n.children.length === 0));
    const edges = visibleEdges(graph, new Set());
    assert.equal(edges.length, 35);
    assert.ok(edges.every((e) => e.count === 1));
    assert.deepEqual(edges[0], { from: graph.top[0], to: graph.top[1], count: 1 });
  });
});

describe("buildModelGraph of a chain without useful prefixes", () => {
  it("chunks layer0..layer999 evenly", () => {
    const names = Array.from({ length: 1000 }, (_, i) => `layer${i}`);
    const graph = buildModelGraph(chain(names));
    assert.equal(graph.top.length, 40);
    const seen = layersInTree(graph);
    assert.equal(seen.size, 1000);
    assert.ok([...seen.values()].every((n) => n === 1));
    graph.top.forEach((id, i) => {
      const group = graph.groups.get(id)!;
      assert.equal(group.kind, "block");
      assert.equal(group.parent, null);
      assert.equal(group.members.length, 25);
      assert.equal(group.layerCount, 25);
      assert.equal(group.label, `layer${25 * i} … layer${25 * i + 24}`);
    });
  });

  it("chunks layer_0..layer_999 evenly too (the shared token 'layer' is no useful prefix)", () => {
    const names = Array.from({ length: 1000 }, (_, i) => `layer_${i}`);
    const graph = buildModelGraph(chain(names));
    assert.equal(graph.top.length, 40);
    assert.equal(graph.groups.size, 40);
    assert.equal(graph.groups.get(graph.top[0])!.label, "layer_0 … layer_24");
    assert.equal(graph.groups.get(graph.top[39])!.label, "layer_975 … layer_999");
    assert.equal(layersInTree(graph).size, 1000);
  });

  it(
    "never shows more than MAX_MEMBERS members in a block, even for 2,000 unprefixed layers",
    () => {
      const names = Array.from({ length: 2000 }, (_, i) => `layer${i}`);
      const graph = buildModelGraph(chain(names));
      assert.ok(graph.top.length <= MAX_MEMBERS);
      for (const group of graph.groups.values()) {
        assert.ok(group.members.length <= MAX_MEMBERS, `${group.label} has ${group.members.length} members`);
      }
    },
  );
});

// A VAE-like model with nested models: encoder (holding encoder/inner) and decoder.
function nestedArchitecture() {
  const layers = [
    layer("image", { type: "InputLayer", is_input: true }),
    layer("encoder/dense_1", { namespace: "encoder" }),
    layer("encoder/inner/dense_2", { namespace: "encoder/inner" }),
    layer("encoder/dense_3", { namespace: "encoder" }),
    layer("sampling", { type: "Sampling" }),
    layer("decoder/dense_4", { namespace: "decoder" }),
    layer("decoder/out", { namespace: "decoder" }),
    layer("head"),
  ];
  const edges = [
    edge("image", "encoder/dense_1"),
    edge("encoder/dense_1", "encoder/inner/dense_2"),
    edge("encoder/inner/dense_2", "encoder/dense_3"),
    edge("encoder/dense_1", "encoder/dense_3"),
    edge("encoder/dense_3", "sampling"),
    edge("encoder/inner/dense_2", "sampling"),
    edge("sampling", "decoder/dense_4"),
    edge("sampling", "decoder/dense_4", 1), // the same connection in a second call
    edge("decoder/dense_4", "decoder/out"),
    edge("decoder/out", "head"),
    edge("head", "head"), // a recurrent self-connection
    edge("encoder/dense_3", "ghost"), // unknown layers are ignored
    edge("ghost", "head"),
  ];
  const namespaces = [namespace("encoder", null), namespace("encoder/inner", "encoder", "inner"), namespace("decoder", null)];
  return architecture(layers, edges, namespaces);
}

describe("buildModelGraph with namespaces", () => {
  const graph = buildModelGraph(nestedArchitecture());

  it("makes a group per namespace, nested by parent", () => {
    assert.deepEqual([...graph.groups.keys()].sort(), ["decoder", "encoder", "encoder/inner"]);
    const encoder = graph.groups.get("encoder")!;
    assert.equal(encoder.kind, "namespace");
    assert.equal(encoder.label, "encoder");
    assert.equal(encoder.parent, null);
    assert.deepEqual([...encoder.members].sort(), ["encoder/dense_1", "encoder/dense_3", "encoder/inner"]);
    assert.equal(encoder.layerCount, 3);
    const inner = graph.groups.get("encoder/inner")!;
    assert.equal(inner.label, "inner");
    assert.equal(inner.parent, "encoder");
    assert.deepEqual(inner.members, ["encoder/inner/dense_2"]);
    assert.equal(inner.layerCount, 1);
    assert.deepEqual(graph.groups.get("decoder")!.members, ["decoder/dense_4", "decoder/out"]);
    assert.equal(graph.groups.get("decoder")!.layerCount, 2);
    assert.deepEqual([...graph.top].sort(), ["decoder", "encoder", "head", "image", "sampling"]);
  });

  it("says what a traced namespace is; a nested model and an older log's namespace say nothing", () => {
    const arch = nestedArchitecture();
    arch.namespaces[1] = { ...arch.namespaces[1], type: "TransformerBlock", traced: true } as unknown as (typeof arch.namespaces)[number];
    const traced = buildModelGraph(arch);
    assert.equal(traced.groups.get("encoder/inner")!.detail, "TransformerBlock (traced)");
    assert.equal(traced.groups.get("encoder")!.detail, undefined);
    assert.equal(graph.groups.get("encoder/inner")!.detail, undefined);
  });

  it("records each layer's innermost group", () => {
    assert.equal(graph.groupOf.get("image"), null);
    assert.equal(graph.groupOf.get("encoder/dense_1"), "encoder");
    assert.equal(graph.groupOf.get("encoder/inner/dense_2"), "encoder/inner");
    assert.equal(graph.groupOf.get("decoder/out"), "decoder");
    assert.equal(graph.layers.size, 8);
  });

  it("deduplicates edges over calls and ignores edges to unknown layers", () => {
    assert.equal(graph.edges.length, 10);
    assert.equal(graph.edges.filter((e) => e.from === "sampling" && e.to === "decoder/dense_4").length, 1);
    assert.ok(graph.edges.every((e) => graph.layers.has(e.from) && graph.layers.has(e.to)));
  });

  it("lists ancestors outermost first", () => {
    assert.deepEqual(ancestors(graph, "encoder/inner/dense_2"), ["encoder", "encoder/inner"]);
    assert.deepEqual(ancestors(graph, "encoder/inner"), ["encoder"]);
    assert.deepEqual(ancestors(graph, "encoder/dense_1"), ["encoder"]);
    assert.deepEqual(ancestors(graph, "encoder"), []);
    assert.deepEqual(ancestors(graph, "image"), []);
    assert.deepEqual(ancestors(graph, "nowhere"), []);
  });

  it("represents a layer by its outermost closed group", () => {
    const deep = "encoder/inner/dense_2";
    assert.equal(representative(graph, deep, new Set()), "encoder");
    assert.equal(representative(graph, deep, new Set(["encoder"])), "encoder/inner");
    assert.equal(representative(graph, deep, new Set(["encoder", "encoder/inner"])), deep);
    // The inner group open inside a closed one: the closed outer group still stands for it.
    assert.equal(representative(graph, deep, new Set(["encoder/inner"])), "encoder");
    assert.equal(representative(graph, "image", new Set()), "image");
  });

  it("shows closed groups as empty boxes and open ones with their members", () => {
    const closed = visibleTree(graph, new Set());
    assert.deepEqual(
      closed.map((n) => [n.id, n.kind, n.open, n.children.length]).sort(),
      [
        ["decoder", "group", false, 0],
        ["encoder", "group", false, 0],
        ["head", "layer", false, 0],
        ["image", "layer", false, 0],
        ["sampling", "layer", false, 0],
      ],
    );
    const open = visibleTree(graph, new Set(["encoder"]));
    const encoder = open.find((n) => n.id === "encoder")!;
    assert.equal(encoder.open, true);
    assert.deepEqual(
      encoder.children.map((n) => [n.id, n.kind, n.open]).sort(),
      [
        ["encoder/dense_1", "layer", false],
        ["encoder/dense_3", "layer", false],
        ["encoder/inner", "group", false],
      ],
    );
    assert.deepEqual(encoder.children.find((n) => n.id === "encoder/inner")!.children, []);
    const all = visibleTree(graph, new Set(["encoder", "encoder/inner", "decoder"]));
    assert.deepEqual(visibleIds(all).filter((id) => graph.layers.has(id)).sort(), [...graph.layers.keys()].sort());
  });

  it("moves edges to representatives, merges parallel ones, drops those inside a closed group and self-loops", () => {
    sameEdges(visibleEdges(graph, new Set()), [
      { from: "decoder", to: "head", count: 1 },
      { from: "encoder", to: "sampling", count: 2 },
      { from: "image", to: "encoder", count: 1 },
      { from: "sampling", to: "decoder", count: 1 },
    ]);
    sameEdges(visibleEdges(graph, new Set(["encoder"])), [
      { from: "decoder", to: "head", count: 1 },
      { from: "encoder/dense_1", to: "encoder/dense_3", count: 1 },
      { from: "encoder/dense_1", to: "encoder/inner", count: 1 },
      { from: "encoder/dense_3", to: "sampling", count: 1 },
      { from: "encoder/inner", to: "encoder/dense_3", count: 1 },
      { from: "encoder/inner", to: "sampling", count: 1 },
      { from: "image", to: "encoder/dense_1", count: 1 },
      { from: "sampling", to: "decoder", count: 1 },
    ]);
  });

  it("only gives edges between visible nodes", () => {
    for (const open of [new Set<string>(), new Set(["encoder"]), new Set(["encoder/inner"]), new Set(["encoder", "encoder/inner", "decoder"])]) {
      const visible = new Set(visibleIds(visibleTree(graph, open)));
      for (const e of visibleEdges(graph, open)) {
        assert.ok(visible.has(e.from) && visible.has(e.to), `${e.from} -> ${e.to} with ${[...open]}`);
        assert.notEqual(e.from, e.to);
      }
    }
    // Fully open: the layer-level edges minus the self-loop.
    assert.equal(visibleEdges(graph, new Set(["encoder", "encoder/inner", "decoder"])).length, 9);
  });

  it("puts a namespace with an unknown parent, and a layer of an unknown namespace, at the top", () => {
    const arch = architecture(
      [layer("a", { namespace: "orphan" }), layer("orphan/b", { namespace: "orphan" }), layer("c", { namespace: "nowhere" })],
      [edge("a", "orphan/b"), edge("orphan/b", "c")],
      [namespace("orphan", "missing")],
    );
    const g = buildModelGraph(arch);
    assert.equal(g.groups.get("orphan")!.parent, null);
    assert.deepEqual([...g.top].sort(), ["c", "orphan"]);
    assert.equal(g.groupOf.get("c"), null);
    assert.deepEqual(visibleEdges(g, new Set()), [{ from: "orphan", to: "c", count: 1 }]);
  });

  it("gives a namespace gathered into a block that block as parent", () => {
    // 45 unprefixed layers and the namespace "enc" at the top: 46 members, chunked in pairs.
    const layers = [
      ...Array.from({ length: 45 }, (_, i) => layer(`l${i}`)),
      layer("enc/x", { namespace: "enc" }),
      layer("enc/y", { namespace: "enc" }),
    ];
    const g = buildModelGraph(architecture(layers, [edge("enc/y", "l0"), edge("l0", "l1")], [namespace("enc", null)]));
    assert.equal(g.top.length, 23);
    const block = g.groups.get("enc")!.parent;
    assert.ok(block && g.groups.get(block)!.kind === "block");
    assert.deepEqual(g.groups.get(block)!.members, ["enc", "l0"]);
    assert.equal(g.groups.get(block)!.label, "enc … l0");
    assert.equal(g.groups.get(block)!.layerCount, 3);
    assert.deepEqual(ancestors(g, "enc/x"), [block, "enc"]);
    assert.equal(representative(g, "enc/y", new Set()), block);
    assert.equal(representative(g, "enc/y", new Set([block])), "enc");
    // enc/y -> l0 both inside the closed block: gone; l0 -> l1 crosses into the next block.
    assert.deepEqual(visibleEdges(g, new Set()), [{ from: block, to: g.groupOf.get("l1")!, count: 1 }]);
    assert.deepEqual(visibleEdges(g, new Set([block])), [
      { from: "enc", to: "l0", count: 1 },
      { from: "l0", to: g.groupOf.get("l1")!, count: 1 },
    ]);
  });

  it("uses a custom max", () => {
    const g = buildModelGraph(chain(["a_1", "a_2", "b_1", "b_2", "b_3"]), 3);
    assert.deepEqual(g.top.map((id) => g.groups.get(id)!.label), ["a", "b"]);
    assert.deepEqual(g.top.map((id) => g.groups.get(id)!.layerCount), [2, 3]);
    assert.deepEqual(visibleEdges(g, new Set()), [{ from: g.top[0], to: g.top[1], count: 1 }]);
  });
});
