// Unit tests of the L1 layout (views/neuronLayout.ts) on fixtures shaped like the `neurons` route's answers.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { divergingColor } from "../src/colors";
import type { NeuronEntry, NeuronsAnswer } from "../src/types";
import {
  connectionsOf,
  edgeWidth,
  formatShare,
  layoutNeurons,
  mapToRgba,
  meanClassMap,
  neuronKey,
  nextSort,
  sortMatrix,
  strongestEdges,
} from "../src/views/neuronLayout";

const BLUE_END = divergingColor(0);
const RED_END = divergingColor(1);

// A dense layer: 6 units of which 4 kept, fed by a flatten of 10 units of which 3 kept (given out of order).
function denseAnswer(): NeuronsAnswer {
  return {
    run: "cnn_skip",
    step: 3,
    layer: {
      units: 6,
      neurons: [
        { index: 4, mean: 3.7, share: 0.4 },
        { index: 0, mean: 2.0, share: 0.2 },
        { index: 1, mean: 3.1, share: 0.3 },
        { index: 3, mean: 0.0, share: 0.1 },
      ],
    },
    previous_layer: "flatten",
    previous: {
      units: 10,
      neurons: [
        { index: 8, mean: 0.18, share: 0.5 },
        { index: 2, mean: 0.05, share: 0.15 },
        { index: 5, mean: 0.13, share: 0.35 },
      ],
    },
    classes: ["0", "1", "2"],
    selected_classes: ["0", "2"],
    k: 5,
    weights: [
      { from: 8, to: 4, value: 0.9, magnitude: 0.9 },
      { from: 2, to: 0, value: -0.6, magnitude: 0.6 },
      { from: 8, to: 1, value: 0.3, magnitude: 0.3 },
      { from: 5, to: 4, value: -0.2, magnitude: 0.2 },
      { from: 2, to: 3, value: 0.1, magnitude: 0.1 },
    ],
    neurons_by_classes: {
      classes: ["0", "1", "2"],
      matrix: [
        [1.6, 3.2, 1.8, 0.0, 3.7, null],
        [0.5, null, 2.5, 2.5, 1.0, 0.2],
        [2.0, 2.0, 2.0, 2.0, 2.0, 2.0],
      ],
    },
    class_maps: null,
  };
}

function manyNeurons(n: number): NeuronEntry[] {
  return Array.from({ length: n }, (_, i) => ({ index: n - 1 - i, mean: (n - i) % 17, share: 1 / n }));
}

describe("layoutNeurons", () => {
  it("puts the predecessor left and the layer right, each ordered by index", () => {
    const layout = layoutNeurons(denseAnswer(), { layer: "dense_hidden" });
    const left = layout.nodes.filter((n) => n.side === "previous");
    const right = layout.nodes.filter((n) => n.side === "layer");
    assert.deepEqual(left.map((n) => n.index), [2, 5, 8]);
    assert.deepEqual(right.map((n) => n.index), [0, 1, 3, 4]);
    assert.deepEqual(left.map((n) => n.key), ["neuron:flatten:2", "neuron:flatten:5", "neuron:flatten:8"]);
    assert.equal(right[0].key, "neuron:dense_hidden:0");
    for (const column of [left, right]) {
      for (let i = 1; i < column.length; i++) assert.ok(column[i].y > column[i - 1].y, "top to bottom by index");
    }
    assert.ok(Math.max(...left.map((n) => n.x)) < Math.min(...right.map((n) => n.x)));
  });

  it("keeps every node, label and the legend inside width × height", () => {
    for (const answer of [denseAnswer(), { ...denseAnswer(), layer: { units: 300, neurons: manyNeurons(300) } }]) {
      const layout = layoutNeurons(answer, { layer: "dense" });
      for (const n of layout.nodes) {
        assert.ok(n.x - n.size / 2 >= 0 && n.x + n.size / 2 <= layout.width, `x of ${n.key}`);
        assert.ok(n.y - n.size / 2 >= 0 && n.y + n.size / 2 <= layout.height, `y of ${n.key}`);
        assert.ok(n.labelX >= 0 && n.labelX <= layout.width);
      }
      assert.ok(layout.legend.y + layout.legend.height <= layout.height);
      assert.ok(layout.legend.x + layout.legend.width <= layout.width);
    }
  });

  it("wraps a column of 300 neurons into sub-columns that do not overlap", () => {
    const answer = { ...denseAnswer(), layer: { units: 512, neurons: manyNeurons(300) } };
    const layout = layoutNeurons(answer, { layer: "dense", maxColumnHeight: 700 });
    const right = layout.nodes.filter((n) => n.side === "layer");
    const column = layout.columns[1];
    assert.equal(column.shown, 300);
    assert.equal(column.units, 512);
    assert.ok(column.subColumns > 1);
    assert.ok(column.height <= 700 + 44, "the column keeps to the height limit (plus its header)");
    assert.deepEqual(right.map((n) => n.index), Array.from({ length: 300 }, (_, i) => i));
    const seen = new Set(right.map((n) => `${Math.round(n.x)},${Math.round(n.y)}`));
    assert.equal(seen.size, 300, "no two neurons share a place");
    // Enough room between rows for the label's font.
    const firstColumn = right.filter((n) => n.x === right[0].x);
    assert.ok(firstColumn[1].y - firstColumn[0].y >= right[0].fontSize);
  });

  it("colours the highest mean red and the lowest blue, per column", () => {
    const layout = layoutNeurons(denseAnswer(), { layer: "dense" });
    const byIndex = (side: string, index: number) => layout.nodes.find((n) => n.side === side && n.index === index)!;
    assert.equal(byIndex("layer", 4).color, RED_END);
    assert.equal(byIndex("layer", 3).color, BLUE_END);
    assert.equal(byIndex("previous", 8).color, RED_END);
    assert.equal(byIndex("previous", 2).color, BLUE_END);
    assert.notEqual(byIndex("layer", 0).color, RED_END);
    assert.equal(layout.columns[1].min, 0);
    assert.equal(layout.columns[1].max, 3.7);
  });

  it("on a shared scale, the weaker column is bluer", () => {
    const layout = layoutNeurons(denseAnswer(), { layer: "dense", scale: "shared" });
    const top = layout.nodes.find((n) => n.side === "previous" && n.index === 8)!;
    assert.notEqual(top.color, RED_END);
    assert.ok(top.t! < 0.1);
  });

  it("greys neurons without a mean", () => {
    const answer = denseAnswer();
    answer.previous!.neurons[0].mean = null;
    const node = layoutNeurons(answer).nodes.find((n) => n.side === "previous" && n.index === 8)!;
    assert.equal(node.t, null);
    assert.notEqual(node.color, RED_END);
  });

  it("labels each neuron with its index and share", () => {
    const node = layoutNeurons(denseAnswer()).nodes.find((n) => n.side === "layer" && n.index === 4)!;
    assert.equal(node.label, "#4");
    assert.equal(node.shareLabel, "40.0%");
    assert.equal(formatShare(0.123), "12.3%");
    assert.equal(formatShare(0.0001), "<0.1%");
    assert.equal(formatShare(null), "–");
  });

  it("draws edges between the right neurons, wider for stronger weights, coloured by sign", () => {
    const layout = layoutNeurons(denseAnswer(), { layer: "dense" });
    assert.equal(layout.edges.length, 5);
    const strongest = layout.edges[0];
    assert.equal(strongest.fromKey, "neuron:flatten:8");
    assert.equal(strongest.toKey, "neuron:dense:4");
    const from = layout.nodes.find((n) => n.key === strongest.fromKey)!;
    assert.equal(strongest.y1, from.y);
    assert.ok(strongest.x1 < strongest.x2);
    const sorted = [...layout.edges].sort((a, b) => Math.abs(a.value) - Math.abs(b.value));
    for (let i = 1; i < sorted.length; i++) assert.ok(sorted[i].width > sorted[i - 1].width, "monotone in |value|");
    assert.equal(sorted[0].width, 0.5);
    assert.equal(sorted[sorted.length - 1].width, 6);
    const positive = layout.edges.find((e) => e.value > 0)!;
    const negative = layout.edges.find((e) => e.value < 0)!;
    assert.equal(positive.color, divergingColor(0.9));
    assert.equal(negative.color, divergingColor(0.1));
    assert.equal(edgeWidth(1, 1, 1), 3.25, "all equal: the middle width");
  });

  it("makes room for class-map thumbnails and leaves out edges without a predecessor", () => {
    const answer: NeuronsAnswer = {
      ...denseAnswer(),
      previous_layer: null,
      previous: { units: 0, neurons: [] },
      class_maps: { "0": { "0": [[1, 2], [3, 4]], "4": [[0, 0], [0, 1]] } },
    };
    const layout = layoutNeurons(answer, { layer: "conv" });
    assert.equal(layout.edges.length, 0);
    assert.equal(layout.columns[0].shown, 0);
    const right = layout.nodes.filter((n) => n.side === "layer");
    assert.deepEqual(right.filter((n) => n.shape === "square").map((n) => n.index), [0, 4]);
    assert.equal(right.find((n) => n.index === 1)!.shape, "circle");
    assert.ok(right[0].size >= 28, "room for an image");
  });
});

describe("connectionsOf", () => {
  const layout = layoutNeurons(denseAnswer(), { layer: "dense" });

  it("finds exactly the edges touching a neuron of the predecessor", () => {
    const linked = connectionsOf("neuron:flatten:8", layout.edges);
    assert.deepEqual([...linked.edges].sort(), ["weight:neuron:flatten:8->neuron:dense:1", "weight:neuron:flatten:8->neuron:dense:4"]);
    assert.deepEqual([...linked.neurons].sort(), ["neuron:dense:1", "neuron:dense:4", "neuron:flatten:8"]);
  });

  it("finds exactly the edges touching a neuron of the layer", () => {
    const linked = connectionsOf(neuronKey("dense", 4), layout.edges);
    assert.equal(linked.edges.size, 2);
    assert.deepEqual([...linked.neurons].sort(), ["neuron:dense:4", "neuron:flatten:5", "neuron:flatten:8"]);
  });

  it("gives a lone neuron only itself", () => {
    const linked = connectionsOf("neuron:dense:99", layout.edges);
    assert.equal(linked.edges.size, 0);
    assert.deepEqual([...linked.neurons], ["neuron:dense:99"]);
  });

  it("lists a neuron's strongest edges first", () => {
    const edges = strongestEdges("neuron:dense:4", layout.edges, 5);
    assert.deepEqual(edges.map((e) => e.from), [8, 5]);
    assert.equal(strongestEdges("neuron:flatten:2", layout.edges, 1)[0].to, 0);
  });
});

describe("sortMatrix", () => {
  const { neurons_by_classes: matrix } = denseAnswer();

  it("keeps index order without a class", () => {
    assert.deepEqual(sortMatrix(matrix, null, true), [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(sortMatrix(matrix, "missing", true), [0, 1, 2, 3, 4, 5]);
  });

  it("sorts by the chosen class with missing values last, in either direction", () => {
    assert.deepEqual(sortMatrix(matrix, "0", true), [4, 1, 2, 0, 3, 5]);
    assert.deepEqual(sortMatrix(matrix, "0", false), [3, 0, 2, 1, 4, 5]);
    // Class "1": neuron 1 has no value; ties (2 and 3 at 2.5) keep index order.
    assert.deepEqual(sortMatrix(matrix, "1", true), [2, 3, 4, 0, 5, 1]);
    assert.deepEqual(sortMatrix(matrix, "1", false), [5, 0, 4, 2, 3, 1]);
  });

  it("treats NaN like a missing value", () => {
    const withNaN = { classes: ["a"], matrix: [[1, Number.NaN, 3, null, 2]] };
    assert.deepEqual(sortMatrix(withNaN, "a", true), [2, 4, 0, 1, 3]);
    assert.deepEqual(sortMatrix(withNaN, "a", false), [0, 4, 2, 1, 3]);
  });

  it("toggles the direction when the same header is clicked again", () => {
    let sort = nextSort({ byClass: null, descending: false }, "3");
    assert.deepEqual(sort, { byClass: "3", descending: true });
    sort = nextSort(sort, "3");
    assert.deepEqual(sort, { byClass: "3", descending: false });
    sort = nextSort(sort, "3");
    assert.equal(sort.descending, true);
    assert.deepEqual(nextSort({ byClass: "3", descending: false }, "5"), { byClass: "5", descending: true });
    assert.deepEqual(nextSort(sort, null), { byClass: null, descending: false });
  });
});

describe("class-map thumbnails", () => {
  const maps = {
    "0": { "7": [[0, 2], [4, null]] },
    "1": { "7": [[2, 2], [null, null]] },
    "2": { "7": [[100, 100], [100, 100]] },
  };

  it("averages a neuron's maps over the selected classes, pixel by pixel", () => {
    assert.deepEqual(meanClassMap(maps, ["0", "1"], 7), [[1, 2], [4, null]]);
    assert.equal(meanClassMap(maps, ["0"], 3), null);
    assert.equal(meanClassMap(null, ["0"], 7), null);
  });

  it("paints the lowest pixel blue, the highest red and missing ones grey", () => {
    const { width, height, data } = mapToRgba([[0, 1], [2, null]]);
    assert.equal(width, 2);
    assert.equal(height, 2);
    const pixel = (i: number) => "#" + [...data.slice(i * 4, i * 4 + 3)].map((v) => v.toString(16).padStart(2, "0")).join("");
    assert.equal(pixel(0), BLUE_END);
    assert.equal(pixel(2), RED_END);
    assert.equal(pixel(3), divergingColor(null));
    assert.equal(data[3], 255);
  });
});
